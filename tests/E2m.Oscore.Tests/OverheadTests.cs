using E2m.Coap;
using E2m.Crypto;
using Xunit;
using Xunit.Abstractions;

namespace E2m.Oscore.Tests
{
    /// <summary>
    /// Bytes OSCORE adds on the wire in the e2m profile (DESIGN.md §4), against the count from the RFC 8613 layout:
    /// request = 1 (OSCORE option header, delta 9 &lt; 13) + 1 (flags) + n (Partial IV) + 7 (kid) + 1 (inner code)
    /// + 1 (inner payload marker: the plaintext carries its own, RFC 8613 §5.3) + 8 (tag); response in the simple form = 1 (empty OSCORE option) + 1 (inner code) + 8 (tag) [+ 1 payload
    /// marker when the plain response had no payload]. Reported in the README next to DTLS record overhead.
    /// </summary>
    public class OverheadTests
    {
        private readonly ITestOutputHelper _output;

        public OverheadTests(ITestOutputHelper output) => _output = output;

        [Theory]
        [InlineData(0L, 1)]
        [InlineData(255L, 1)]
        [InlineData(256L, 2)]
        [InlineData(65536L, 3)]
        public void RequestAndResponseOverheadMatchTheRfcLayout(long ssn, int pivLength)
        {
            byte[] e2mKey = new byte[32];
            byte[] kid = { 0x73, 0xff, 0xcb, 0xb1, 0x5a, 0x4f, 0x80, 0x29 };
            var crypto = new PortableCryptoProvider();
            using var device = OscoreSecurityContext.ForDevice(crypto, e2mKey, kid, new MemorySsnStore(ssn), 1);
            using var emse = OscoreSecurityContext.ForEmse(crypto, e2mKey, kid, null);

            byte[] payload = new byte[40];
            var request = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Post, MessageId = 7 };
            request.SetToken(new byte[] { 1, 2, 3, 4 }, 0, 4);
            request.AddUriPath("r");
            request.SetContentFormat(CoapContentFormat.SenmlCbor);
            request.SetPayload(payload, 0, payload.Length);
            int plainRequest = CoapCodec.GetEncodedLength(request);

            byte[] wire = new byte[256];
            var exchange = new OscoreExchange();
            int protectedRequest = device.ProtectRequest(request, wire, 0, exchange);
            int requestOverhead = protectedRequest - plainRequest;
            Assert.Equal(1 + 1 + pivLength + 7 + 1 + 1 + 8, requestOverhead);

            byte[] inner = new byte[256];
            var serverExchange = new OscoreExchange();
            emse.UnprotectRequest(wire, 0, protectedRequest, inner, 0, serverExchange);
            var response = new CoapMessage { Type = CoapType.Acknowledgement, Code = CoapCode.Changed, MessageId = 7 };
            response.SetToken(new byte[] { 1, 2, 3, 4 }, 0, 4);
            int plainResponse = CoapCodec.GetEncodedLength(response);
            byte[] responseWire = new byte[64];
            int protectedResponse = emse.ProtectResponse(response, serverExchange, false, responseWire, 0);
            int responseOverhead = protectedResponse - plainResponse;
            Assert.Equal(1 + 1 + 8 + 1, responseOverhead);

            _output.WriteLine($"SSN {ssn}: request {plainRequest} -> {protectedRequest} B (+{requestOverhead}); " +
                $"empty 2.04 {plainResponse} -> {protectedResponse} B (+{responseOverhead})");
        }
    }
}

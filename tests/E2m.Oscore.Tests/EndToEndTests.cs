using System;
using E2m.Coap;
using E2m.TestSupport;
using Xunit;

namespace E2m.Oscore.Tests
{
    /// <summary>The e2m profile (DESIGN.md §4): device (ForDevice) ↔ EMSE (ForEmse), POST /r SenML-CBOR, 2.04.</summary>
    public class EndToEndTests
    {
        [Theory]
        [MemberData(nameof(Providers.Names), MemberType = typeof(Providers))]
        public void DeviceRequestAndEmseResponseRoundTrip(string provider)
        {
            var crypto = Providers.Get(provider);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto);

            // Profile parameters: device Sender ID = first 7 octets of KID, EMSE Sender ID = empty, no ID Context.
            Assert.Equal(Hex.Encode(ProfileKeys.Kid, 0, 7), Hex.Encode(device.GetSenderId()));
            Assert.Equal("", Hex.Encode(device.GetRecipientId()));
            Assert.Null(device.GetIdContext());
            Assert.Equal(Hex.Encode(device.GetSenderKey()), Hex.Encode(emse.GetRecipientKey()));
            Assert.Equal(Hex.Encode(device.GetRecipientKey()), Hex.Encode(emse.GetSenderKey()));
            Assert.Equal(Hex.Encode(device.GetCommonIv()), Hex.Encode(emse.GetCommonIv()));

            byte[] payload = Coap.Payload40();
            byte[] request = Coap.ReadingsRequest(payload);
            byte[] wire = new byte[512];
            var clientExchange = new OscoreExchange();
            int n = device.ProtectRequest(request, 0, request.Length, wire, 0, clientExchange);
            byte[] protectedRequest = wire.AsSpan(0, n).ToArray();

            // Outer message: POST, same type/MID/token, only the OSCORE option, payload = ciphertext (RFC 8613 §4).
            CoapMessage outer = Coap.Decode(protectedRequest);
            CoapMessage original = Coap.Decode(request);
            Assert.Equal(CoapCode.Post, outer.Code);
            Assert.Equal(original.Type, outer.Type);
            Assert.Equal(original.MessageId, outer.MessageId);
            Assert.True(outer.TokenEquals(original.Token, 0, original.TokenLength));
            Assert.Equal(1, outer.OptionCount);
            Assert.Equal(9, outer.GetOptionNumber(0));
            Assert.Equal(-1, outer.FindOption(CoapOption.UriPath));
            Assert.Equal(-1, outer.FindOption(CoapOption.ContentFormat));
            Assert.Equal(payload.Length + 1 + 2 + 1 + 1 + 1 + 8, outer.PayloadLength); // code, Uri-Path "r", CF 112, marker, tag
            Assert.Equal(0L, clientExchange.RequestPivValue);

            // Overhead per request: OSCORE option (1 option header + 1 flags + 1 PIV + 7 kid) + inner Code (1)
            // + inner payload marker (1) + tag (8) = 20 octets at SSN < 256.
            Assert.Equal(request.Length + 20, n);

            // EMSE: find the context by kid, then verify.
            var peek = new OscoreOptionValue();
            Assert.True(peek.ReadFrom(protectedRequest, 0, n, new CoapMessage()));
            Assert.True(emse.RecipientIdEquals(peek.Kid, 0, peek.KidLength));

            byte[] inner = new byte[512];
            var serverExchange = new OscoreExchange();
            var decoded = new CoapMessage();
            int m = emse.UnprotectRequest(protectedRequest, 0, n, inner, 0, serverExchange, decoded);
            Assert.Equal(Hex.Encode(request), Hex.Encode(inner, 0, m));
            Assert.Equal(CoapCode.Post, decoded.Code);
            Assert.Equal(CoapContentFormat.SenmlCbor, decoded.GetContentFormat());
            int uri = decoded.FindOption(CoapOption.UriPath);
            Assert.Equal("72", Hex.Encode(decoded.GetOptionBuffer(uri), decoded.GetOptionOffset(uri), decoded.GetOptionLength(uri)));
            Assert.Equal(Hex.Encode(payload), Hex.Encode(decoded.PayloadBuffer, decoded.PayloadOffset, decoded.PayloadLength));

            // Response 2.04 (simple form: request nonce, empty OSCORE option).
            byte[] response = Coap.ChangedResponse(request);
            n = emse.ProtectResponse(response, 0, response.Length, serverExchange, false, wire, 0);
            CoapMessage outerResponse = Coap.Decode(wire.AsSpan(0, n).ToArray());
            Assert.Equal(CoapCode.Changed, outerResponse.Code);
            Assert.Equal(0, outerResponse.GetOptionLength(outerResponse.FindOption(9)));
            Assert.Equal(response.Length + 1 + 1 + 1 + 8, n); // empty OSCORE option (1), marker (1), inner code (1), tag (8)

            m = device.UnprotectResponse(wire, 0, n, clientExchange, inner, 0);
            Assert.Equal(Hex.Encode(response), Hex.Encode(inner, 0, m));
            Assert.True(clientExchange.ResponseVerified);
        }

        [Theory]
        [MemberData(nameof(Providers.Names), MemberType = typeof(Providers))]
        public void ResponseWithOwnPartialIvRoundTrip(string provider)
        {
            var crypto = Providers.Get(provider);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto, new MemorySsnStore());
            var cx = new OscoreExchange();
            var sx = new OscoreExchange();
            byte[] wire = new byte[512];
            byte[] inner = new byte[512];
            for (int i = 0; i < 3; i++)
            {
                byte[] request = Coap.ReadingsRequest(Coap.Payload40(), 100 + i);
                int n = device.ProtectRequest(request, 0, request.Length, wire, 0, cx);
                emse.UnprotectRequest(wire, 0, n, inner, 0, sx);
                byte[] response = Coap.ChangedResponse(request, new byte[] { 1, 2, 3 });
                n = emse.ProtectResponse(response, 0, response.Length, sx, true, wire, 0);
                var value = new OscoreOptionValue();
                Assert.True(value.ReadFrom(wire, 0, n, new CoapMessage()));
                Assert.Equal(i, value.PivValue);   // the EMSE's own Sender Sequence Number
                Assert.False(value.HasKid);
                int m = device.UnprotectResponse(wire, 0, n, cx, inner, 0);
                Assert.Equal(Hex.Encode(response), Hex.Encode(inner, 0, m));
            }
        }

        [Fact]
        public void ClassUOptionsStayOuterAndClassEGoInner()
        {
            var crypto = Providers.Get(Providers.Portable);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto);
            var m = new CoapMessage();
            m.Type = CoapType.NonConfirmable;
            m.Code = CoapCode.Put;
            m.MessageId = 7;
            m.AddOptionString(CoapOption.UriHost, "emse.example.org");
            m.AddOptionUInt(CoapOption.UriPort, 5683);
            m.AddUriPath("a");
            m.AddUriPath("b");
            m.AddOptionString(CoapOption.UriQuery, "x=1");
            m.AddOptionUInt(CoapOption.Accept, 112);
            m.AddOptionUInt(CoapOption.MaxAge, 60);
            m.AddOptionString(CoapOption.ProxyScheme, "coap");
            m.AddOptionUInt(2000, 5);           // unknown option: Class E (RFC 8613 §4.1)
            byte[] request = Coap.Encode(m);
            byte[] wire = new byte[512];
            int n = device.ProtectRequest(m, wire, 0, new OscoreExchange());
            CoapMessage outer = Coap.Decode(wire.AsSpan(0, n).ToArray());
            int[] expectedOuter = { CoapOption.UriHost, CoapOption.UriPort, 9, CoapOption.ProxyScheme };
            Assert.Equal(expectedOuter.Length, outer.OptionCount);
            for (int i = 0; i < expectedOuter.Length; i++)
            {
                Assert.Equal(expectedOuter[i], outer.GetOptionNumber(i));
            }

            byte[] inner = new byte[512];
            int k = emse.UnprotectRequest(wire, 0, n, inner, 0, new OscoreExchange());
            Assert.Equal(Hex.Encode(request), Hex.Encode(inner, 0, k));
        }

        [Fact]
        public void OuterClassEOptionsAreDiscardedOnReceive()
        {
            // RFC 8613 §8.2 step 1: an Outer Class E option (e.g. If-Match, Max-Age) is discarded; Uri-Host kept.
            var crypto = Providers.Get(Providers.Portable);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto);
            byte[] request = Coap.ReadingsRequest(Coap.Payload40());
            byte[] wire = new byte[512];
            int n = device.ProtectRequest(request, 0, request.Length, wire, 0, new OscoreExchange());
            CoapMessage outer = Coap.Decode(wire.AsSpan(0, n).ToArray());
            outer.AddOptionUInt(CoapOption.IfMatch, 1);
            outer.AddOptionUInt(CoapOption.MaxAge, 0);
            outer.AddOptionString(CoapOption.UriHost, "h");
            byte[] modified = Coap.Encode(outer);
            byte[] inner = new byte[512];
            int k = emse.UnprotectRequest(modified, 0, modified.Length, inner, 0, new OscoreExchange());
            CoapMessage result = Coap.Decode(inner.AsSpan(0, k).ToArray());
            Assert.Equal(-1, result.FindOption(CoapOption.IfMatch));
            Assert.Equal(-1, result.FindOption(CoapOption.MaxAge));
            Assert.True(result.FindOption(CoapOption.UriHost) >= 0);
            Assert.Equal(Coap.ProtectedPart(request), Coap.ProtectedPart(inner.AsSpan(0, k).ToArray()));
        }

        [Fact]
        public void ProtectRefusesNestedOscoreAndProxyUri()
        {
            using OscoreSecurityContext device = ProfileKeys.Device(Providers.Get(Providers.Portable));
            var m = new CoapMessage();
            m.Code = CoapCode.Get;
            m.AddOptionCopy(9, new byte[] { 0x09, 0x00 }, 0, 2);
            Assert.Equal(OscoreError.UnsupportedOption,
                Assert.Throws<OscoreException>(() => device.ProtectRequest(m, new byte[256], 0, new OscoreExchange())).OscoreError);
            m.Reset();
            m.Code = CoapCode.Get;
            m.AddOptionString(CoapOption.ProxyUri, "coap://example.com/x");
            Assert.Equal(OscoreError.UnsupportedOption,
                Assert.Throws<OscoreException>(() => device.ProtectRequest(m, new byte[256], 0, new OscoreExchange())).OscoreError);
            // Observe needs an Outer Observe and the Outer Code FETCH (RFC 8613 §4.1.3.5, §4.2), neither implemented:
            // refused, not protected as a POST with an Inner-only Observe.
            m.Reset();
            m.Code = CoapCode.Get;
            m.AddOptionUInt(CoapOption.Observe, 0);
            Assert.Equal(OscoreError.UnsupportedOption,
                Assert.Throws<OscoreException>(() => device.ProtectRequest(m, new byte[256], 0, new OscoreExchange())).OscoreError);
            Assert.Equal(0L, device.SenderSequenceNumber); // nothing consumed

            // An ID Context that cannot fit the 255-octet OSCORE option with the longest PIV and the kid is refused at once.
            Assert.Throws<ArgumentException>(() => new OscoreSecurityContext(Providers.Get(Providers.Portable), new byte[16], null,
                new byte[] { 1 }, new byte[0], new byte[250]));
            Assert.Throws<ArgumentException>(() => new OscoreSecurityContext(Providers.Get(Providers.Portable), new byte[16], null,
                new byte[] { 1 }, new byte[0], new byte[248]));
            // 1 + 5 + 1 + 247 + 1 = 255: the longest ID Context with a 1-octet kid, protected with a 5-octet PIV
            using var fits = new OscoreSecurityContext(Providers.Get(Providers.Portable), new byte[16], null, new byte[] { 1 }, new byte[0], new byte[247],
                new MemorySsnStore(0xFFFFFFFFF0));
            m.Reset();
            m.Code = CoapCode.Get;
            Assert.True(fits.ProtectRequest(m, new byte[512], 0, new OscoreExchange()) > 0);
        }

        [Fact]
        public void SimpleResponseCannotReuseTheRequestNonceTwice()
        {
            var crypto = Providers.Get(Providers.Portable);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto);
            byte[] request = Coap.ReadingsRequest(Coap.Payload40());
            byte[] wire = new byte[512];
            int n = device.ProtectRequest(request, 0, request.Length, wire, 0, new OscoreExchange());
            var sx = new OscoreExchange();
            emse.UnprotectRequest(wire, 0, n, new byte[512], 0, sx);
            byte[] response = Coap.ChangedResponse(request);
            emse.ProtectResponse(response, 0, response.Length, sx, false, wire, 0);
            Assert.Throws<InvalidOperationException>(() => emse.ProtectResponse(response, 0, response.Length, sx, false, wire, 0));
            // Without an SSN store the EMSE cannot use its own Partial IV.
            Assert.Throws<InvalidOperationException>(() => emse.ProtectResponse(response, 0, response.Length, sx, true, wire, 0));
        }

        [Fact]
        public void ProfileConstructionChecksInputs()
        {
            var crypto = Providers.Get(Providers.Portable);
            Assert.Throws<ArgumentException>(() => OscoreSecurityContext.ForDevice(crypto, new byte[16], ProfileKeys.Kid, new MemorySsnStore()));
            Assert.Throws<ArgumentNullException>(() => OscoreSecurityContext.ForDevice(crypto, ProfileKeys.E2mKey, ProfileKeys.Kid, null!));
            Assert.Throws<ArgumentException>(() => OscoreSecurityContext.ForEmse(crypto, ProfileKeys.E2mKey, new byte[9], null));
            // RFC 8613 §3.3: IDs at most 7 octets; equal Sender/Recipient IDs refused.
            Assert.Throws<ArgumentException>(() => new OscoreSecurityContext(crypto, new byte[16], null, new byte[8], new byte[0], null));
            Assert.Throws<ArgumentException>(() => new OscoreSecurityContext(crypto, new byte[16], null, new byte[] { 1 }, new byte[] { 1 }, null));
        }

        [Fact]
        public void WrongKindAndMissingOptionAreTyped()
        {
            var crypto = Providers.Get(Providers.Portable);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto);
            byte[] request = Coap.ReadingsRequest(Coap.Payload40());
            byte[] buf = new byte[512];
            OscoreException e = Assert.Throws<OscoreException>(() => emse.UnprotectRequest(request, 0, request.Length, buf, 0, new OscoreExchange()));
            Assert.Equal(OscoreError.NoOscoreOption, e.OscoreError);
            Assert.Equal(0x81, e.CoapCode);

            var cx = new OscoreExchange();
            int n = device.ProtectRequest(request, 0, request.Length, buf, 0, cx);
            byte[] wire = buf.AsSpan(0, n).ToArray();
            // A request offered as a response.
            e = Assert.Throws<OscoreException>(() => device.UnprotectResponse(wire, 0, wire.Length, cx, new byte[512], 0));
            Assert.Equal(OscoreError.WrongMessageKind, e.OscoreError);

            // Unknown kid: another device's context.
            byte[] otherKid = (byte[])ProfileKeys.Kid.Clone();
            otherKid[0] ^= 1;
            using OscoreSecurityContext other = OscoreSecurityContext.ForEmse(crypto, ProfileKeys.E2mKey, otherKid, null);
            e = Assert.Throws<OscoreException>(() => other.UnprotectRequest(wire, 0, wire.Length, new byte[512], 0, new OscoreExchange()));
            Assert.Equal(OscoreError.UnknownKid, e.OscoreError);
            Assert.Equal(0x81, e.CoapCode);
            Assert.Equal("Security context not found", e.Diagnostic);

            // Same kid, wrong key (e.g. e2m_key for another EMSE_Id): decryption fails, 4.00 (RFC 8613 §8.2 step 6).
            byte[] wrongKey = (byte[])ProfileKeys.E2mKey.Clone();
            wrongKey[31] ^= 1;
            using OscoreSecurityContext wrong = OscoreSecurityContext.ForEmse(crypto, wrongKey, ProfileKeys.Kid, null);
            e = Assert.Throws<OscoreException>(() => wrong.UnprotectRequest(wire, 0, wire.Length, new byte[512], 0, new OscoreExchange()));
            Assert.Equal(OscoreError.DecryptionFailed, e.OscoreError);
            Assert.Equal(0x80, e.CoapCode);
            Assert.Equal("Decryption failed", e.Diagnostic);
            Assert.IsAssignableFrom<E2m.Hal.MalformedInputException>(e);
        }
    }
}

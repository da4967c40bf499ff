using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Oscore;
using E2m.Server.Common;
using E2m.Server.Emse;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Integration.Tests
{
    /// <summary>
    /// The EMSE part of the real-socket round trip (issue 6 point 5): HSS AIR → EMKS push → the device derives e2m_key and
    /// KID from the vector's CK/IK with the portable E2mKeys (DESIGN.md §2) → OSCORE POST /r over UDP to the EMSE → the EMSE
    /// pulls e2m_key from the EMKS over mTLS (its dev-PKI certificate carries the EMSE_Id) → protected 2.04 → the reading is
    /// served over the EMSE's HTTP API under the subscription's external id.
    /// </summary>
    public sealed class EmseRoundTripTests : IClassFixture<InProcessStack>
    {
        private static readonly byte[] K = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc"), Opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf");
        private readonly InProcessStack _stack;

        public EmseRoundTripTests(InProcessStack stack) => _stack = stack;

        private async Task<(byte[] Ck, byte[] Ik)> AddSubscriberAndAir(string imsi, string externalId, string[] emseIds)
        {
            HttpResponseMessage add = await _stack.Client("admin").PostAsJsonAsync(_stack.HssUrl + "/v1/admin/subscribers", new
            {
                imsi, k = Hex.Encode(K), opc = Hex.Encode(Opc), e2m = true, emseIds, externalId,
            });
            Assert.True(add.StatusCode == HttpStatusCode.Created || add.StatusCode == HttpStatusCode.Conflict, await add.Content.ReadAsStringAsync());
            HttpResponseMessage air = await _stack.Client("serving-node").PostAsJsonAsync(_stack.HssUrl + "/v1/air", new { imsi, numVectors = 1, rat = "utran" });
            Assert.Equal(HttpStatusCode.OK, air.StatusCode);
            JsonElement v = JsonDocument.Parse(await air.Content.ReadAsStringAsync()).RootElement.GetProperty("vectors")[0];
            return (Hex.Decode(v.GetProperty("ck").GetString()), Hex.Decode(v.GetProperty("ik").GetString()));
        }

        private static (byte[] Kid, byte[] Key) DeviceKeys(byte[] ck, byte[] ik, string emseId) => DeviceSide.Keys(ck, ik, emseId);

        private (byte[] Response, OscoreExchange Exchange) Post(OscoreSecurityContext device, long value, long unixTime) =>
            DeviceSide.Post(device, _stack.EmseCoap, value, unixTime);

        [Fact]
        public async Task AirThenOscoreRequest_IsStoredAndServed_UnderTheExternalId()
        {
            var (ck, ik) = await AddSubscriberAndAir("001010000000088", "meter-88", new[] { InProcessStack.EmseId });
            var (kid, key) = DeviceKeys(ck, ik, InProcessStack.EmseId);
            using OscoreSecurityContext device = OscoreSecurityContext.ForDevice(new PlatformCryptoProvider(), key, kid, new MemorySsnStore());
            long t = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 30;
            var (response, exchange) = Post(device, 4242, t);

            var inner = new CoapMessage();
            device.UnprotectResponse(response, 0, response.Length, exchange, new byte[response.Length], 0, inner);
            Assert.Equal(CoapCode.Changed, inner.Code);                 // the EMSE pulled the key over mTLS and stored the batch

            string http = EmseApp.GetHttpAddresses(_stack.Emse).First();
            using var noCertificate = new HttpClient(Mtls.CreateClientHandler(null, new E2mTrustAnchor(DevPki.LoadCaCertificate(_stack.DataDir))));
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await noCertificate.GetAsync(http + "/v1/devices/meter-88/readings")).StatusCode);
            using var client = new HttpClient(Mtls.CreateClientHandler(DevPki.LoadCertificate(_stack.DataDir, DevPki.Reader),
                new E2mTrustAnchor(DevPki.LoadCaCertificate(_stack.DataDir))));
            JsonElement body = await client.GetFromJsonAsync<JsonElement>(http + "/v1/devices/meter-88/readings");
            JsonElement reading = Assert.Single(body.GetProperty("readings").EnumerateArray());
            Assert.Equal("urn:dev:e2m:energy", reading.GetProperty("name").GetString());
            Assert.Equal(4242, reading.GetProperty("value").GetInt64());
            Assert.Equal(t * 1000, reading.GetProperty("timeUnixMs").GetInt64());
            Assert.Equal("device", reading.GetProperty("timeSource").GetString());
            Assert.Equal(Convert.ToHexStringLower(kid, 0, 7), reading.GetProperty("kid").GetString());
            string devices = await client.GetStringAsync(http + "/v1/devices");
            Assert.Contains("meter-88", devices);
            Assert.DoesNotContain("001010000000088", devices);           // never the IMSI
        }

        [Fact]
        public async Task SubscriptionNotAllowingThisEmse_Is401()
        {
            var (ck, ik) = await AddSubscriberAndAir("001010000000089", "meter-89", new[] { "other-emse.example.org" });
            var (kid, key) = DeviceKeys(ck, ik, InProcessStack.EmseId);
            using OscoreSecurityContext device = OscoreSecurityContext.ForDevice(new PlatformCryptoProvider(), key, kid, new MemorySsnStore());
            var (response, _) = Post(device, 1, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            var outer = new CoapMessage();
            CoapCodec.Decode(response, 0, response.Length, outer);
            Assert.Equal(CoapCode.Unauthorized, outer.Code);             // EMKS 404 for a non-allowed EMSE → 4.01, the device re-keys
            Assert.Equal(-1, outer.FindOption(CoapOption.Oscore));       // unprotected error (RFC 8613 §8.2)
        }
    }
}

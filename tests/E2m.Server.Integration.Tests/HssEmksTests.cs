using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Server.Common.Contracts;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Integration.Tests
{
    /// <summary>
    /// HSS → EMKS push → EMSE-side pull over real sockets and mutual TLS. The OSCORE round trip through the EMSE is added
    /// by the EMSE engineer on the same <see cref="InProcessStack"/>.
    /// </summary>
    public sealed class HssEmksTests : IClassFixture<InProcessStack>
    {
        private const string Imsi = "001010000000077";
        private static readonly byte[] K = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc"), Opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf");
        private readonly InProcessStack _stack;

        public HssEmksTests(InProcessStack stack) => _stack = stack;

        /// <summary>
        /// A serving node's AIR makes the HSS push e2m_int_key; the allowed EMSE then pulls e2m_key by the 7-octet OSCORE kid
        /// and gets KDF(e2m_int_key, 0xE1, EMSE_Id, "e2m_CIoT") with e2m_int_key = KDF(CK||IK, 0xE0, "e2m_CIoT") recomputed here
        /// with System HMACSHA256 from the vector's CK/IK (DESIGN.md §2); device id = the external id, never the IMSI.
        /// </summary>
        [Fact]
        public async Task AirPushesTheKeyThatTheAllowedEmseThenPulls()
        {
            HttpResponseMessage add = await _stack.Client("admin").PostAsJsonAsync(_stack.HssUrl + "/v1/admin/subscribers", new
            {
                imsi = Imsi, k = Hex.Encode(K), opc = Hex.Encode(Opc), e2m = true, emseIds = new[] { InProcessStack.EmseId }, externalId = "meter-77",
            });
            Assert.True(add.StatusCode == HttpStatusCode.Created || add.StatusCode == HttpStatusCode.Conflict, await add.Content.ReadAsStringAsync());

            HttpResponseMessage air = await _stack.Client("serving-node").PostAsJsonAsync(_stack.HssUrl + "/v1/air", new { imsi = Imsi, numVectors = 1, rat = "utran" });
            Assert.Equal(HttpStatusCode.OK, air.StatusCode);
            JsonElement v = JsonDocument.Parse(await air.Content.ReadAsStringAsync()).RootElement.GetProperty("vectors")[0];
            byte[] ckIk = Hex.Decode(v.GetProperty("ck").GetString() + v.GetProperty("ik").GetString());
            byte[] intKey = HMACSHA256.HashData(ckIk, Kdf(0xE0, Encoding.ASCII.GetBytes("e2m_CIoT")));
            byte[] kid = HMACSHA256.HashData(intKey, Kdf(0xE2, Encoding.ASCII.GetBytes("e2m-kid"))).Take(8).ToArray();
            byte[] e2mKey = HMACSHA256.HashData(intKey, Kdf(0xE1, Encoding.ASCII.GetBytes(InProcessStack.EmseId), Encoding.ASCII.GetBytes("e2m_CIoT")));

            HttpResponseMessage pull = await _stack.Client("emse-" + InProcessStack.EmseId).GetAsync(_stack.EmksUrl + EmksEmseContract.PullPath(Hex.Encode(kid.Take(7).ToArray())));
            string body = await pull.Content.ReadAsStringAsync();
            Assert.True(pull.StatusCode == HttpStatusCode.OK, body);
            E2mKeyPullResponse key = JsonSerializer.Deserialize<E2mKeyPullResponse>(body)!;
            Assert.Equal(Hex.Encode(kid), key.Kid);
            Assert.Equal(Hex.Encode(e2mKey), key.E2mKey);
            Assert.Equal("meter-77", key.DeviceId);
            Assert.DoesNotContain(Imsi, body);
        }

        [Fact]
        public async Task StackHealthEndpointsAnswer()
        {
            Assert.Equal(HttpStatusCode.OK, (await _stack.Client(null).GetAsync(_stack.HssUrl + "/health")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await _stack.Client(null).GetAsync(_stack.EmksUrl + "/health")).StatusCode);
        }

        // TS 33.220 Annex B: S = FC || P0 || L0 || P1 || L1 ...
        private static byte[] Kdf(byte fc, params byte[][] ps)
        {
            var s = new System.Collections.Generic.List<byte> { fc };
            foreach (byte[] p in ps)
            {
                s.AddRange(p);
                s.Add((byte)(p.Length >> 8));
                s.Add((byte)p.Length);
            }

            return s.ToArray();
        }
    }
}

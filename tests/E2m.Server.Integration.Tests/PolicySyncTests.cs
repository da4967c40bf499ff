using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Hal.Host;
using E2m.Oscore;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks.Storage;
using E2m.Server.Emse;
using E2m.Server.Emse.Coap;
using E2m.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace E2m.Server.Integration.Tests
{
    /// <summary>
    /// Policy changes at the HSS reach the EMKS and the EMSE over real sockets (DESIGN.md §5, issue 6 point 2: e2m_key only
    /// while the subscription allows the EMSE): admin PATCH removing the EMSE → HSS policy sync → the EMKS stops giving the
    /// key at once → the EMSE's revalidation drops its context → the device gets 4.01; admin DELETE → the EMKS revokes
    /// the subscription. The EMSE here revalidates after 1 ms, so every request after the change asks the EMKS again.
    /// </summary>
    public sealed class PolicySyncTests : IClassFixture<InProcessStack>, IAsyncLifetime
    {
        private static readonly byte[] K = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc"), Opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf");
        private readonly InProcessStack _stack;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "e2m-integration", "emse-revalidate-" + Guid.NewGuid().ToString("N"));
        private WebApplication _emse = null!;

        public PolicySyncTests(InProcessStack stack) => _stack = stack;

        public async Task InitializeAsync()
        {
            // a second EMSE of the same EMSE_Id (its certificate from the stack's dev PKI) with its own database
            Directory.CreateDirectory(_dir);
            CopyDirectory(Path.Combine(_stack.DataDir, "pki"), Path.Combine(_dir, "pki"));
            _emse = EmseApp.Build(new EmseOptions
            {
                EmseId = InProcessStack.EmseId, DataDir = _dir, UdpPort = 0, UdpBindAddress = "127.0.0.1", EmksBaseUrl = _stack.EmksUrl,
                KeyRevalidateInterval = TimeSpan.FromMilliseconds(1),
            }, s => s.Configure<LoggerFilterOptions>(o => o.MinLevel = LogLevel.Warning));
            await _emse.StartAsync();
        }

        public async Task DisposeAsync()
        {
            await _emse.DisposeAsync();
            try
            {
                Directory.Delete(_dir, true);
            }
            catch (IOException)
            {
            }
        }

        private static void CopyDirectory(string from, string to)
        {
            Directory.CreateDirectory(to);
            foreach (string f in Directory.GetFiles(from))
            {
                File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
            }
        }

        private EmseCoapStats Stats => _emse.Services.GetRequiredService<EmseCoapServer>().Stats;

        private byte Post(OscoreSecurityContext device, long value)
        {
            var (response, exchange) = DeviceSide.Post(device, EmseApp.GetCoapEndPoint(_emse), value, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            var outer = new CoapMessage();
            CoapCodec.Decode(response, 0, response.Length, outer);
            if (outer.Code != CoapCode.Changed)
            {
                return outer.Code;
            }

            var inner = new CoapMessage();
            device.UnprotectResponse(response, 0, response.Length, exchange, new byte[response.Length], 0, inner);
            return inner.Code;
        }

        [Fact]
        public async Task Removing_the_emse_at_the_hss_reaches_the_emks_at_once_and_the_emse_at_its_next_revalidation()
        {
            const string imsi = "001010000000077";
            using HttpClient admin = _stack.Client("admin");
            HttpResponseMessage add = await admin.PostAsJsonAsync(_stack.HssUrl + "/v1/admin/subscribers", new
            {
                imsi, k = Hex.Encode(K), opc = Hex.Encode(Opc), e2m = true, emseIds = new[] { InProcessStack.EmseId }, externalId = "meter-77",
            });
            Assert.Equal(HttpStatusCode.Created, add.StatusCode);
            HttpResponseMessage air = await _stack.Client("serving-node").PostAsJsonAsync(_stack.HssUrl + "/v1/air", new { imsi, numVectors = 1, rat = "utran" });
            Assert.Equal(HttpStatusCode.OK, air.StatusCode);
            JsonElement v = JsonDocument.Parse(await air.Content.ReadAsStringAsync()).RootElement.GetProperty("vectors")[0];
            var (kid, key) = DeviceSide.Keys(Hex.Decode(v.GetProperty("ck").GetString()), Hex.Decode(v.GetProperty("ik").GetString()), InProcessStack.EmseId);
            using OscoreSecurityContext device = OscoreSecurityContext.ForDevice(new PlatformCryptoProvider(), key, kid, new MemorySsnStore());
            Assert.Equal(CoapCode.Changed, Post(device, 1));

            // the admin removes this EMSE from the subscription: the HSS tells the EMKS before it answers
            HttpResponseMessage patch = await admin.PatchAsJsonAsync(_stack.HssUrl + "/v1/admin/subscribers/" + imsi,
                new { emseIds = new[] { "other-emse.example.org" } });
            Assert.Equal(HttpStatusCode.OK, patch.StatusCode);
            JsonElement patched = JsonDocument.Parse(await patch.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("done", patched.GetProperty("emksPolicySync").GetString());
            using (HttpClient emse = _stack.Client("emse-" + InProcessStack.EmseId))
            {
                Assert.Equal(HttpStatusCode.NotFound, (await emse.GetAsync(_stack.EmksUrl + EmksEmseContract.PullPath(Convert.ToHexStringLower(kid)))).StatusCode);
            }

            // the EMSE still holds the context; a request after the interval has the EMKS asked again (in the
            // background: that request is still served), and the next one is refused: the device must re-key
            byte code = CoapCode.Changed;
            for (int i = 0; i < 5 && code == CoapCode.Changed; i++)
            {
                long before = Interlocked.Read(ref Stats.Revalidations);
                code = Post(device, 2 + i);
                if (code == CoapCode.Changed)
                {
                    Assert.True(SpinWait.SpinUntil(() => Interlocked.Read(ref Stats.Revalidations) > before, 30_000), Stats.ToString());
                }
            }

            Assert.Equal(CoapCode.Unauthorized, code);
            Assert.Equal(1, Interlocked.Read(ref Stats.Revoked));

            // deleting the subscriber revokes the subscription at the EMKS (tombstone: an AIR racing it is refused)
            string subscriptionId = patched.GetProperty("subscriptionId").GetString()!;
            HttpResponseMessage delete = await admin.DeleteAsync(_stack.HssUrl + "/v1/admin/subscribers/" + imsi);
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
            Assert.Equal("done", delete.Headers.GetValues("E2m-Emks-Policy-Sync").Single());
            SubscriptionPolicy? known = await _stack.Emks.Services.GetRequiredService<IEmksStore>().FindSubscriptionPolicyAsync(subscriptionId);
            Assert.NotNull(known);
            Assert.False(known!.E2m);
            Assert.Null(await _stack.Emks.Services.GetRequiredService<IEmksStore>().FindKeyAsync(kid));
        }
    }
}

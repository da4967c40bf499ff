using System;
using System.Linq;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Oscore;
using E2m.Server.Common;
using E2m.Server.Emks;
using E2m.Server.Emse;
using E2m.Server.Emse.Keys;
using E2m.Server.Hss;
using E2m.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace E2m.Server.Integration.Tests
{
    /// <summary>
    /// Push variant end to end on real sockets: HSS, EMKS and an EMSE with Emse:PushEnabled (HTTPS with the dev PKI, CoAP/UDP).
    /// The EMSE registers with the EMKS (its client certificate) for the subscription's external id; the next AIR makes the
    /// HSS push a new e2m_int_key to the EMKS, whose PushDispatcher POSTs the EMSE's e2m_key to the EMSE callback (the EMKS
    /// certificate); the device's first OSCORE request under that KID is answered 2.04 from the pushed key, without a pull.
    /// </summary>
    public sealed class EmseKeyPushTests : IAsyncLifetime
    {
        private const string EmseId = "emse-push.example.org";
        private static readonly byte[] K = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc"), Opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf");
        private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "e2m-integration", Guid.NewGuid().ToString("N"));
        private WebApplication? _hss, _emks, _emse;
        private string _hssUrl = "";
        private E2mTrustAnchor _trust = null!;

        public async Task InitializeAsync()
        {
            DevPki.Init(_dataDir, new[] { EmseId });
            _trust = new E2mTrustAnchor(DevPki.LoadCaCertificate(_dataDir));
            int hssPort = FreeTcpPort(), emksPort = FreeTcpPort();
            _hssUrl = $"https://127.0.0.1:{hssPort}";
            string emksUrl = $"https://127.0.0.1:{emksPort}";
            static void Quiet(IServiceCollection s) => s.Configure<LoggerFilterOptions>(o => o.MinLevel = LogLevel.Warning);

            _hss = HssApp.Build(new[] { "--Hss:DataDirectory=" + _dataDir, "--Hss:Listen:Port=" + hssPort, "--Hss:Emks:BaseUrl=" + emksUrl }, b => Quiet(b.Services));
            var emks = new EmksOptions { DataDirectory = _dataDir, HttpsPort = emksPort, DevMode = true };
            emks.Hss.BaseUrl = _hssUrl;
            _emks = EmksApp.Build(emks, Quiet);
            _emse = EmseApp.Build(new EmseOptions
            {
                EmseId = EmseId, DataDir = _dataDir, UdpPort = 0, UdpBindAddress = "127.0.0.1", EmksBaseUrl = emksUrl, HttpUrls = "https://127.0.0.1:0",
                PushEnabled = true, PushDeviceIds = new[] { "meter-push-1", "meter-push-unknown" },
                PushRegistrationRetry = TimeSpan.FromMilliseconds(200), // refused ids are tried again (10 min by default)
            }, Quiet);
            await _hss.StartAsync();
            await _emks.StartAsync();
            await _emse.StartAsync();
        }

        public async Task DisposeAsync()
        {
            foreach (WebApplication? app in new[] { _emse, _emks, _hss })
            {
                if (app != null)
                {
                    await app.DisposeAsync();
                }
            }
        }

        private HttpClient Client(string name) => new(Mtls.CreateClientHandler(DevPki.LoadCertificate(_dataDir, name), _trust));

        private async Task<(byte[] Ck, byte[] Ik)> Air(string imsi)
        {
            using HttpClient sn = Client("serving-node");
            HttpResponseMessage air = await sn.PostAsJsonAsync(_hssUrl + "/v1/air", new { imsi, numVectors = 1, rat = "utran" });
            Assert.Equal(HttpStatusCode.OK, air.StatusCode);
            JsonElement v = JsonDocument.Parse(await air.Content.ReadAsStringAsync()).RootElement.GetProperty("vectors")[0];
            return (Hex.Decode(v.GetProperty("ck").GetString()), Hex.Decode(v.GetProperty("ik").GetString()));
        }

        [Fact]
        public async Task PushRegistration_ThenNewKey_IsPushedToTheEmse_AndUsedWithoutPull()
        {
            const string imsi = "001010000000091";
            EmksPushRegistration registration = _emse!.Services.GetRequiredService<EmksPushRegistration>();
            PushedKeyStore pushed = _emse.Services.GetRequiredService<PushedKeyStore>();

            // The registration at start is refused (403: the EMKS knows neither device id yet) and the EMSE keeps running.
            await WaitFor(() => registration.LastStatus == 403 && registration.PendingDeviceIds.Count == 2, "start-up registration refused");

            using (HttpClient admin = Client("admin"))
            {
                HttpResponseMessage add = await admin.PostAsJsonAsync(_hssUrl + "/v1/admin/subscribers", new
                {
                    imsi, k = Hex.Encode(K), opc = Hex.Encode(Opc), e2m = true, emseIds = new[] { EmseId }, externalId = "meter-push-1",
                });
                Assert.Equal(HttpStatusCode.Created, add.StatusCode);
            }

            await Air(imsi);                                                        // first key: the EMKS learns the device id
            // the EMSE tries the refused ids again: the batch is refused (one id is still unknown), one by one the known
            // id is registered and the unknown one stays pending
            await WaitFor(() => registration.PendingDeviceIds.SequenceEqual(new[] { "meter-push-unknown" }), "meter-push-1 registered on a retry");

            var (ck, ik) = await Air(imsi);                                         // new key → EMKS outbox → POST to the EMSE
            await WaitFor(() => pushed.Count >= 1, "key pushed to the EMSE callback");

            var (kid, key) = DeviceKeys(ck, ik, EmseId);
            using OscoreSecurityContext device = OscoreSecurityContext.ForDevice(new PlatformCryptoProvider(), key, kid, new MemorySsnStore());
            var (response, exchange) = Post(device, EmseApp.GetCoapEndPoint(_emse), 77, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            var inner = new CoapMessage();
            device.UnprotectResponse(response, 0, response.Length, exchange, new byte[response.Length], 0, inner);
            Assert.Equal(CoapCode.Changed, inner.Code);
            Assert.Equal(1, pushed.Served);                                         // the context came from the pushed key, not a pull

            // the operator removes this EMSE from the subscription: HSS policy sync → the EMKS revokes the keys at the
            // registered EMSE (DELETE {callback}/{kid}) → the next request is refused at once (no hour-long revalidation)
            using (HttpClient admin = Client("admin"))
            {
                HttpResponseMessage patch = await admin.PatchAsJsonAsync(_hssUrl + "/v1/admin/subscribers/" + imsi, new { emseIds = new[] { "other.example.org" } });
                Assert.Equal(HttpStatusCode.OK, patch.StatusCode);
            }

            Emks.Callbacks.PushDispatcher dispatcher = _emks!.Services.GetRequiredService<Emks.Callbacks.PushDispatcher>();
            await WaitFor(() => dispatcher.Revocations >= 2, "both keys revoked at the EMSE");
            (response, _) = Post(device, EmseApp.GetCoapEndPoint(_emse), 78, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            var outer = new CoapMessage();
            CoapCodec.Decode(response, 0, response.Length, outer);
            Assert.Equal(CoapCode.Unauthorized, outer.Code);
            Assert.Equal(1, Interlocked.Read(ref _emse.Services.GetRequiredService<E2m.Server.Emse.Coap.EmseCoapServer>().Stats.Revoked));
        }

        private static async Task WaitFor(Func<bool> condition, string what)
        {
            DateTime deadline = DateTime.UtcNow.AddSeconds(30); // guard only
            while (!condition())
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("timed out waiting for: " + what);
                }

                await Task.Delay(20);
            }
        }

        private static (byte[] Kid, byte[] Key) DeviceKeys(byte[] ck, byte[] ik, string emseId) => DeviceSide.Keys(ck, ik, emseId);

        private static (byte[] Response, OscoreExchange Exchange) Post(OscoreSecurityContext device, IPEndPoint emse, long value, long unixTime) =>
            DeviceSide.Post(device, emse, value, unixTime);

        private static int FreeTcpPort()
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)s.LocalEndPoint!).Port;
        }
    }
}

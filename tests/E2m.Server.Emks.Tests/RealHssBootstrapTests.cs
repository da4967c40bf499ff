extern alias hss;

using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks.Bootstrap;
using hss::E2m.Server.Hss;
using E2m.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// The bootstrap against the real HSS (tools/E2m.Server.Hss) on real sockets: the HSS pushes e2m_int_key to the EMKS
    /// over mTLS before answering the EMKS's AIR (client certificate emks); the device side is the test USIM. Checks the
    /// contract between the two services end to end, with and without access-key separation (DESIGN.md §5).
    /// </summary>
    public sealed class RealHssBootstrapTests : IAsyncLifetime
    {
        private static readonly byte[] K = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc");
        private static readonly byte[] Opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf");

        private readonly string _dir = Path.Combine(Path.GetTempPath(), "e2m-emks-hss-" + Guid.NewGuid().ToString("N"));
        private WebApplication _hss = null!;
        private WebApplication _emks = null!;
        private IPEndPoint _coap = null!;
        private E2mTrustAnchor _trust = null!;

        public async Task InitializeAsync()
        {
            DevPki.Init(_dir, EmksTestHost.EmseIds);
            _trust = new E2mTrustAnchor(DevPki.LoadCaCertificate(_dir));
            int emksPort = FreeTcpPort();
            _hss = HssApp.Build(new[]
            {
                "--Hss:DataDirectory=" + _dir, "--Hss:Listen:Port=0", $"--Hss:Emks:BaseUrl=https://127.0.0.1:{emksPort}",
            });
            await _hss.StartAsync();
            string hssUrl = _hss.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            _emks = EmksApp.Build(new EmksOptions
            {
                DataDirectory = _dir,
                HttpsPort = emksPort,
                Hss = new HssClientOptions { BaseUrl = hssUrl },
                Bootstrap = new BootstrapOptions { Enabled = true, UdpPort = 0 },
            });
            await _emks.StartAsync();
            _coap = _emks.Services.GetRequiredService<BootstrapUdpServer>().LocalEndPoint!;
        }

        public async Task DisposeAsync()
        {
            await _emks.DisposeAsync();
            await _hss.DisposeAsync();
            try
            {
                Directory.Delete(_dir, true);
            }
            catch (IOException)
            {
            }
        }

        private static int FreeTcpPort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }

        private async Task AddSubscriberAsync(string imsi, bool accessKeySeparation)
        {
            string hssUrl = _hss.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var admin = new HttpClient(Mtls.CreateClientHandler(DevPki.LoadCertificate(_dir, DevPki.Admin), _trust)) { BaseAddress = new Uri(hssUrl) };
            using HttpResponseMessage r = await admin.PostAsJsonAsync("/v1/admin/subscribers", new
            {
                imsi,
                k = Hex.Encode(K),
                opc = Hex.Encode(Opc),
                e2m = true,
                emseIds = new[] { "emse.example.org" },
                accessKeySeparation,
            });
            Assert.True(r.IsSuccessStatusCode, $"HSS admin add: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        }

        private async Task<(byte Code, byte[] Payload)> PostAsync(UdpClient udp, byte[] cbor)
        {
            await udp.SendAsync(EmksTestHost.BootstrapDatagram(cbor), _coap);
            using var cts = new System.Threading.CancellationTokenSource(15000);
            UdpReceiveResult r = await udp.ReceiveAsync(cts.Token);
            var d = EmksTestHost.Decode(r.Buffer);
            return (d.Code, d.Payload);
        }

        [Theory]
        [InlineData(false)]
        [InlineData(true)]
        public async Task Challenge_resync_confirm_and_pull_with_the_real_hss(bool accessKeySeparation)
        {
            const string imsi = "001010000000077";
            await AddSubscriberAsync(imsi, accessKeySeparation);
            using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));

            // 1. challenge; the USIM is far ahead → sync failure → AUTS resync at the real HSS → fresh challenge
            var usim = new TestUsim(K, Opc, 0x0000_0100_0000UL);
            var (code, payload) = await PostAsync(udp, BootstrapRequest.EncodeChallenge(imsi));
            Assert.Equal(CoapCode.Created, code);
            BootstrapTests.Challenge c = BootstrapTests.ParseChallenge(payload);
            var (res, _, _, auts) = usim.Authenticate(c.Rand, c.Autn);
            Assert.Null(res);
            (code, payload) = await PostAsync(udp, BootstrapRequest.EncodeResync(imsi, c.Rand, auts!));
            Assert.Equal(CoapCode.Created, code);
            c = BootstrapTests.ParseChallenge(payload);

            // 2. the USIM accepts; its CK/IK give the offered KID (the device never sees CK'/IK')
            var (res2, ck, ik, auts2) = usim.Authenticate(c.Rand, c.Autn);
            Assert.Null(auts2);
            (byte[] intKey, byte[] kid) = BootstrapTests.IndependentKeys(ck!, ik!);
            Assert.Equal(kid, c.Kid);

            // 3. confirmation MAC and EMSE pull
            (code, payload) = await PostAsync(udp, BootstrapRequest.EncodeConfirm(c.Kid, res2!));
            Assert.Equal(CoapCode.Changed, code);
            byte[] macInput = [.. "e2m-bs-ok"u8.ToArray(), .. kid];
            byte[] mac = System.Security.Cryptography.HMACSHA256.HashData(intKey, macInput).AsSpan(0, 8).ToArray();
            Assert.Equal(mac, payload.AsSpan(payload.Length - 8).ToArray());

            string emksUrl = _emks.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var emse = new HttpClient(Mtls.CreateClientHandler(DevPki.LoadCertificate(_dir, DevPki.EmseName("emse.example.org")), _trust)) { BaseAddress = new Uri(emksUrl) };
            E2mKeyPullResponse? pulled = await emse.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(Hex.Encode(kid, 0, 7)));
            byte[] kdfInput = [0xE1, .. "emse.example.org"u8.ToArray(), 0x00, 0x10, .. "e2m_CIoT"u8.ToArray(), 0x00, 0x08];
            Assert.Equal(Hex.Encode(System.Security.Cryptography.HMACSHA256.HashData(intKey, kdfInput)), pulled!.E2mKey);
            Assert.DoesNotContain(imsi, pulled.DeviceId);
        }
    }
}

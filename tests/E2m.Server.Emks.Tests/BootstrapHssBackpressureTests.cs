using System;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Server.Emks.Bootstrap;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// A slow HSS must not stall the bootstrap (issue 6 point 2, robustness): at most Bootstrap:MaxConcurrentHssRequests
    /// challenges wait for it, the next one is answered 5.03 with Max-Age at once, and a confirmation (no HSS needed) is
    /// still processed meanwhile. Over the real UDP socket, whose loop takes at most Bootstrap:MaxConcurrentRequests.
    /// </summary>
    public sealed class BootstrapHssBackpressureTests : IAsyncLifetime
    {
        private static readonly byte[] K = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc");
        private static readonly byte[] Opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf");
        private const string Imsi = "001010000000001";
        private const string Other = "001010000000002";

        private readonly EmksTestHost _host = new(o =>
        {
            o.Bootstrap.MaxConcurrentRequests = 4;
            o.Bootstrap.MaxConcurrentHssRequests = 2;
            o.Bootstrap.ImsiBurst = 3;
            o.Bootstrap.AddressBurst = 1000;
        });

        public async Task InitializeAsync()
        {
            await _host.InitializeAsync();
            _host.Hss.Add(Imsi, new FakeHss.Subscriber { K = K, Opc = Opc, Sqn = 0x20 });
            _host.Hss.Add(Other, new FakeHss.Subscriber { K = K, Opc = Opc, Sqn = 0x20, SubscriptionId = "other-sub" });
        }

        public Task DisposeAsync() => _host.DisposeAsync();

        [Fact]
        public async Task ChallengesBeyondTheHssSlotsGet503AtOnceAndAConfirmationStillGoesThrough()
        {
            using var device = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            var c = BootstrapTests.ParseChallenge(EmksTestHost.Decode((await _host.CoapExchangeAsync(device, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi))))!).Payload);
            Assert.Equal(1, _host.Hss.AirStarted);

            TaskCompletionSource hold = _host.Hss.HoldAirs();
            using var slow1 = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            using var slow2 = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            Task<byte[]?> held1 = _host.CoapExchangeAsync(slow1, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi)), 30_000);
            Task<byte[]?> held2 = _host.CoapExchangeAsync(slow2, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi)), 30_000);
            Assert.Equal(3, await _host.Hss.WaitForAirsAsync(3));

            // Both HSS slots are taken: the next challenge is shed, not queued (and the HSS is not asked).
            using var third = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            byte[]? shed = await _host.CoapExchangeAsync(third, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi)), 30_000);
            Assert.NotNull(shed);
            var r = EmksTestHost.Decode(shed!);
            Assert.Equal(CoapCode.ServiceUnavailable, r.Code);
            Assert.Equal(30, r.MaxAge);
            Assert.Equal(3, _host.Hss.AirStarted);

            // The confirmation of the first challenge needs no HSS: answered while the two challenges still wait.
            var usim = new TestUsim(K, Opc, 0x20);
            var (res, _, _, _) = usim.Authenticate(c.Rand, c.Autn);
            byte[]? confirm = await _host.CoapExchangeAsync(device, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeConfirm(c.Kid, res!)), 30_000);
            Assert.NotNull(confirm);
            Assert.Equal(CoapCode.Changed, EmksTestHost.Decode(confirm!).Code);
            Assert.False(held1.IsCompleted || held2.IsCompleted);

            // The HSS answers: both waiting challenges complete, and the slots are free again.
            hold.SetResult();
            Assert.Equal(CoapCode.Created, EmksTestHost.Decode((await held1)!).Code);
            Assert.Equal(CoapCode.Created, EmksTestHost.Decode((await held2)!).Code);
            byte[]? after = await _host.CoapExchangeAsync(third, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Other)), 30_000); // Imsi spent its 3 tokens
            Assert.Equal(CoapCode.Created, EmksTestHost.Decode(after!).Code);
        }

        [Theory]
        [InlineData(64, null, true)]
        [InlineData(64, 63, true)]
        [InlineData(64, 64, false)]
        [InlineData(4, 0, false)]
        [InlineData(1, null, false)]
        public void TheHssSlotsMustLeaveRoomForConfirmations(int requests, int? hss, bool valid)
        {
            var o = new EmksOptions { DataDirectory = "/tmp/x", Hss = { BaseUrl = "https://127.0.0.1:1" } };
            o.Bootstrap.Enabled = true;
            o.Bootstrap.MaxConcurrentRequests = requests;
            o.Bootstrap.MaxConcurrentHssRequests = hss;
            Assert.Equal(valid, !string.Join("\n", o.Validate()).Contains("MaxConcurrent", StringComparison.Ordinal));
        }

        /// <summary>A challenge shed while the HSS is busy spends none of its IMSI's rate-limit tokens (the device retries after Max-Age).</summary>
        [Fact]
        public async Task ShedChallengesSpendNoImsiTokens()
        {
            TaskCompletionSource hold = _host.Hss.HoldAirs();
            using var slow1 = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            using var slow2 = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            Task<byte[]?> held1 = _host.CoapExchangeAsync(slow1, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi)), 30_000);
            Task<byte[]?> held2 = _host.CoapExchangeAsync(slow2, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi)), 30_000);
            Assert.Equal(2, await _host.Hss.WaitForAirsAsync(2)); // two of the IMSI's three tokens spent

            using var device = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            for (int i = 0; i < 5; i++)
            {
                byte[]? shed = await _host.CoapExchangeAsync(device, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi)), 30_000);
                Assert.Equal(CoapCode.ServiceUnavailable, EmksTestHost.Decode(shed!).Code); // 5.03 HSS busy, never 4.29
            }

            hold.SetResult();
            Assert.Equal(CoapCode.Created, EmksTestHost.Decode((await held1)!).Code);
            Assert.Equal(CoapCode.Created, EmksTestHost.Decode((await held2)!).Code);

            // The third token is still there: the retry after the busy spell gets its challenge; the one after is limited.
            Assert.Equal(CoapCode.Created, EmksTestHost.Decode((await _host.CoapExchangeAsync(device, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi)), 30_000))!).Code);
            Assert.Equal(BootstrapCodes.TooManyRequests, EmksTestHost.Decode((await _host.CoapExchangeAsync(device, EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi)), 30_000))!).Code);
        }
    }
}

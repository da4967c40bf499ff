using System;
using System.Collections.Generic;
using E2m.Coap;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// Both ways the EMSE receives (EmseOptions.UdpSocketPerWorker): a socket per shard with SO_REUSEPORT (64-bit Linux), where
    /// a kid stays with the shard that first received it and datagrams from the device's new address are handed over,
    /// and one socket read by a receive thread that routes by kid. In both, a device that changes its port (NAT
    /// rebinding) keeps its exchanges: every request stored once, a retransmission from the new port answered with
    /// the same response, a replay from it refused.
    /// </summary>
    public sealed class ReceiveModeTests
    {
        private static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);

        [Fact]
        public void ASecondEmse_OnTheSamePort_FailsToStart_InsteadOfTakingAShareOfTheDevices()
        {
            using var dirA = new TempDir();
            using var dirB = new TempDir();
            var emks = new FakeEmks();
            var time = new ManualTimeProvider(T0);
            using var first = new EmseHost(dirA.Path, emks, time, workers: 2);
            string port = first.CoapEndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            foreach (bool socketPerWorker in new[] { true, false })
            {
                Exception e = Assert.ThrowsAny<Exception>(() => new EmseHost(dirB.Path, emks, time, workers: 2, settings: s =>
                {
                    s["Emse:UdpPort"] = port;
                    s["Emse:UdpSocketPerWorker"] = socketPerWorker ? "true" : "false";
                }).Dispose());
                Exception? inner = e;
                while (inner != null && inner is not System.Net.Sockets.SocketException)
                {
                    inner = inner.InnerException;
                }

                Assert.True(inner is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse },
                    e.ToString());
            }

            // The first EMSE still answers.
            var (kid, key) = TestDevice.NewKey(new Random(7));
            emks.Add(kid, key, T0.AddDays(30), "meter-p");
            using var dev = new TestDevice(first.CoapEndPoint, kid, key);
            Protected p = dev.Build(new[] { 1L });
            Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));
        }

        public static IEnumerable<object[]> Modes() => new[]
        {
            new object[] { true, 2 },  // two SO_REUSEPORT sockets (Linux): hand-overs between the shards
            new object[] { false, 2 }, // one socket, the receive thread routes by kid
            new object[] { true, 1 },  // one shard reading the socket itself
        };

        [Theory]
        [MemberData(nameof(Modes))]
        public void DeviceChangingItsPort_KeepsItsExchanges(bool socketPerWorker, int workers)
        {
            using var dir = new TempDir();
            var emks = new FakeEmks();
            var time = new ManualTimeProvider(T0);
            using var host = new EmseHost(dir.Path, emks, time, workers: workers,
                settings: s => s["Emse:UdpSocketPerWorker"] = socketPerWorker ? "true" : "false");
            var devices = new List<TestDevice>();
            try
            {
                for (int i = 0; i < 4; i++)
                {
                    var (kid, key) = TestDevice.NewKey(new Random(100 + i));
                    emks.Add(kid, key, T0.AddDays(30), "meter-r" + i);
                    devices.Add(new TestDevice(host.CoapEndPoint, kid, key, i));
                }

                // 32 ports per device: with two sockets the kernel's choice of socket (a hash of the addresses and ports)
                // differs for some of them, whatever the hash key of this boot (all the same: 2^-31 per device).
                long value = 0;
                for (int port = 0; port < 32; port++)
                {
                    foreach (TestDevice dev in devices)
                    {
                        Protected p = dev.Build(new[] { value++ });
                        byte[] response = dev.Exchange(p);
                        Assert.Equal(CoapCode.Changed, dev.Verify(p, response));
                        if (port % 8 == 7)
                        {
                            // The response was lost; the device retransmits from its next port: the same response.
                            dev.Rebind();
                            Assert.Equal(response, dev.Exchange(p));
                        }
                        else
                        {
                            dev.Rebind();
                        }
                    }
                }

                Assert.Equal(4 * 32, host.Store.CountReadings());
                Assert.Equal(4 * 4, host.Server.Stats.Retransmissions);
                Assert.Equal(0, host.Server.Stats.Dropped);
                if (socketPerWorker && workers > 1 && OperatingSystem.IsLinux() && IntPtr.Size == 8)
                {
                    Assert.True(host.Server.Stats.HandedOver > 0, "no datagram reached the other shard's socket");
                }
                else
                {
                    Assert.Equal(0, host.Server.Stats.HandedOver);
                }

                // A replay from yet another port, beyond EXCHANGE_LIFETIME (600 s), is refused (RFC 8613 §7.4).
                TestDevice d0 = devices[0];
                Protected old = d0.Build(new[] { 999L });
                Assert.Equal(CoapCode.Changed, d0.Verify(old, d0.Exchange(old)));
                time.Advance(TimeSpan.FromSeconds(601));
                d0.Rebind();
                CoapMessage refused = Coap.Decode(d0.Exchange(old));
                Assert.Equal(CoapCode.Unauthorized, refused.Code);
                Assert.Equal(4 * 32 + 1, host.Store.CountReadings());
            }
            finally
            {
                foreach (TestDevice d in devices)
                {
                    d.Dispose();
                }
            }
        }
    }
}

using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace E2m.Oscore.Tests
{
    /// <summary>RFC 8613 §7.2 (read-and-increment the SSN) and §7.4 (check-and-update the window) are atomic.</summary>
    public class ConcurrencyTests
    {
        [Fact]
        public void ConcurrentProtectNeverReusesAnSsn()
        {
            var crypto = Providers.Get(Providers.Platform);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto, new MemorySsnStore(), 4);
            byte[] request = Coap.ReadingsRequest(Coap.Payload40());
            var seen = new ConcurrentDictionary<long, bool>();
            Parallel.For(0, 4, _ =>
            {
                byte[] buf = new byte[512];
                var x = new OscoreExchange();
                for (int i = 0; i < 500; i++)
                {
                    device.ProtectRequest(request, 0, request.Length, buf, 0, x);
                    Assert.True(seen.TryAdd(x.RequestPivValue, true), "SSN " + x.RequestPivValue + " used twice");
                }
            });
            Assert.Equal(2000, seen.Count);
            Assert.Equal(2000, device.SenderSequenceNumber);
        }

        [Fact]
        public void ConcurrentDeliveryOfOneRequestIsAcceptedOnce()
        {
            var crypto = Providers.Get(Providers.Platform);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto);
            byte[] buf = new byte[512];
            for (int round = 0; round < 50; round++)
            {
                byte[] request = Coap.ReadingsRequest(Coap.Payload40(), round);
                int n = device.ProtectRequest(request, 0, request.Length, buf, 0, new OscoreExchange());
                byte[] wire = buf[..n];
                int accepted = 0;
                Parallel.For(0, 8, _ =>
                {
                    try
                    {
                        emse.UnprotectRequest(wire, 0, wire.Length, new byte[512], 0, new OscoreExchange());
                        Interlocked.Increment(ref accepted);
                    }
                    catch (OscoreException e) when (e.OscoreError == OscoreError.ReplayDetected)
                    {
                    }
                });
                Assert.Equal(1, accepted);
            }
        }
    }
}

using System;
using Xunit;
using Xunit.Abstractions;

namespace E2m.Oscore.Tests
{
    /// <summary>Zero allocations per protect/unprotect after warm-up on the portable path (DESIGN.md §9, issue 3 §7).</summary>
    public class AllocationTests
    {
        private readonly ITestOutputHelper _log;

        public AllocationTests(ITestOutputHelper log)
        {
            _log = log;
        }

        [Theory]
        [MemberData(nameof(Providers.Names), MemberType = typeof(Providers))]
        public void ProtectAndUnprotectAllocateNothingAfterWarmUp(string provider)
        {
            var crypto = Providers.Get(provider);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto, new MemorySsnStore());
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto, new MemorySsnStore());
            byte[] request = Coap.ReadingsRequest(Coap.Payload40());
            byte[] response = Coap.ChangedResponse(request);
            byte[] wire = new byte[512];
            byte[] inner = new byte[512];
            var cx = new OscoreExchange();
            var sx = new OscoreExchange();
            var coapRequest = Coap.Decode(request);

            void Round(bool ownPiv, out long protectBytes, out long unprotectBytes, out long responseBytes)
            {
                long a0 = GC.GetAllocatedBytesForCurrentThread();
                int n = device.ProtectRequest(request, 0, request.Length, wire, 0, cx);
                long a1 = GC.GetAllocatedBytesForCurrentThread();
                emse.UnprotectRequest(wire, 0, n, inner, 0, sx);
                long a2 = GC.GetAllocatedBytesForCurrentThread();
                n = emse.ProtectResponse(response, 0, response.Length, sx, ownPiv, wire, 0);
                device.UnprotectResponse(wire, 0, n, cx, inner, 0);
                device.ProtectRequest(coapRequest, wire, 0, cx); // message-object overload
                long a3 = GC.GetAllocatedBytesForCurrentThread();
                protectBytes = a1 - a0;
                unprotectBytes = a2 - a1;
                responseBytes = a3 - a2;
            }

            for (int i = 0; i < 50; i++)
            {
                Round(i % 2 == 0, out _, out _, out _);
            }

            long p = 0, u = 0, r = 0;
            for (int i = 0; i < 200; i++)
            {
                Round(i % 2 == 0, out long dp, out long du, out long dr);
                p += dp;
                u += du;
                r += dr;
            }

            _log.WriteLine($"{provider}: bytes allocated over 200 rounds: protect request {p}, unprotect request {u}, response protect+unprotect+protect(message) {r}");
            if (provider == Providers.Portable)
            {
                Assert.Equal(0, p);
                Assert.Equal(0, u);
                Assert.Equal(0, r);
            }
        }
    }
}

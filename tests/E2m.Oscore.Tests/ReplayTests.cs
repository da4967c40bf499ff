using System;
using System.Collections.Generic;
using E2m.TestSupport;
using Xunit;

namespace E2m.Oscore.Tests
{
    /// <summary>Replay protection (RFC 8613 §7.4, window of 32 per §3.2.2).</summary>
    public class ReplayTests
    {
        private static List<byte[]> ProtectedRequests(OscoreSecurityContext device, int count)
        {
            var list = new List<byte[]>();
            byte[] buf = new byte[512];
            for (int i = 0; i < count; i++)
            {
                byte[] request = Coap.ReadingsRequest(Coap.Payload40(), i);
                int n = device.ProtectRequest(request, 0, request.Length, buf, 0, new OscoreExchange());
                list.Add(buf.AsSpan(0, n).ToArray());
            }

            return list;
        }

        private static OscoreError? Deliver(OscoreSecurityContext emse, byte[] datagram)
        {
            try
            {
                emse.UnprotectRequest(datagram, 0, datagram.Length, new byte[512], 0, new OscoreExchange());
                return null;
            }
            catch (OscoreException e)
            {
                return e.OscoreError;
            }
        }

        [Theory]
        [MemberData(nameof(Providers.Names), MemberType = typeof(Providers))]
        public void DuplicatesOldAndOutOfOrder(string provider)
        {
            var crypto = Providers.Get(provider);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto);
            List<byte[]> r = ProtectedRequests(device, 120);

            Assert.Null(Deliver(emse, r[0]));
            Assert.Equal(OscoreError.ReplayDetected, Deliver(emse, r[0]));       // same message twice
            Assert.Null(Deliver(emse, r[39]));
            Assert.Null(Deliver(emse, r[10]));                                  // out of order within the window: once
            Assert.Equal(OscoreError.ReplayDetected, Deliver(emse, r[10]));
            Assert.Equal(OscoreError.ReplayDetected, Deliver(emse, r[7]));      // 39 - 7 = 32: left of the window
            Assert.Null(Deliver(emse, r[8]));                                   // 39 - 8 = 31: last slot
            Assert.Equal(OscoreError.ReplayDetected, Deliver(emse, r[39]));
            emse.GetReplayWindow(out long highest, out uint mask);
            Assert.Equal(39, highest);
            Assert.Equal(1u | (1u << 29) | (1u << 31), mask);

            // A forged message with a fresh Partial IV (100, tag broken) must not move the window ...
            byte[] forged = (byte[])r[100].Clone();
            forged[^1] ^= 0x01;
            Assert.Equal(OscoreError.DecryptionFailed, Deliver(emse, forged));
            emse.GetReplayWindow(out long h2, out uint m2);
            Assert.Equal(highest, h2);
            Assert.Equal(mask, m2);
            Assert.Null(Deliver(emse, r[9]));    // ... so 9 is still inside the window
            Assert.Null(Deliver(emse, r[100]));  // ... and the genuine 100 was not marked as received
            Assert.Null(Deliver(emse, r[69]));                                  // 100 - 69 = 31: inside the window, new
            Assert.Equal(OscoreError.ReplayDetected, Deliver(emse, r[68]));     // 100 - 68 = 32: too old
        }

        [Fact]
        public void WindowSlidesAcrossLargeJumps()
        {
            var w = new ReplayWindow();
            Assert.True(w.Check(0));
            w.Accept(0);
            Assert.False(w.Check(0));
            w.Accept(1000);
            Assert.False(w.Check(968));
            Assert.True(w.Check(969));
            Assert.True(w.Check(999));
            w.Accept(999);
            Assert.False(w.Check(999));
            Assert.False(w.Check(1000));
            Assert.True(w.Check(OscoreConstants.MaxSenderSequenceNumber));
            Assert.False(w.Check(OscoreConstants.MaxSenderSequenceNumber + 1));
            Assert.False(w.Check(-1));
            w.Accept(OscoreConstants.MaxSenderSequenceNumber);
            Assert.Equal(1u, w.Mask);
        }

        [Fact]
        public void RandomOrderAgainstAReferenceSet()
        {
            // Model check: the window accepts p iff p was never accepted and p > highest - 32.
            int seed = TestSeed.Get(7);
            var rng = new Random(seed);
            var w = new ReplayWindow();
            var seen = new HashSet<long>();
            long highest = -1;
            for (int i = 0; i < 100_000; i++)
            {
                long p = highest < 0 ? rng.Next(50) : Math.Max(0, highest + rng.Next(-40, 10));
                bool expected = !seen.Contains(p) && (highest < 0 || p > highest - 32);
                Assert.True(expected == w.Check(p), $"seed {seed} step {i} piv {p} highest {highest}");
                if (expected && rng.Next(10) > 0)
                {
                    w.Accept(p);
                    seen.Add(p);
                    highest = Math.Max(highest, p);
                }
            }
        }

        [Fact]
        public void PersistedWindowSurvivesARestart()
        {
            // DESIGN.md §4: the EMSE persists the window with the readings; a restarted EMSE still rejects replays.
            var crypto = Providers.Get(Providers.Portable);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            List<byte[]> r = ProtectedRequests(device, 5);
            long highest;
            uint mask;
            using (OscoreSecurityContext emse = ProfileKeys.Emse(crypto))
            {
                Assert.Null(Deliver(emse, r[0]));
                Assert.Null(Deliver(emse, r[2]));
                emse.GetReplayWindow(out highest, out mask);
            }

            using OscoreSecurityContext restarted = ProfileKeys.Emse(crypto);
            restarted.RestoreReplayWindow(highest, mask);
            Assert.Equal(OscoreError.ReplayDetected, Deliver(restarted, r[0]));
            Assert.Equal(OscoreError.ReplayDetected, Deliver(restarted, r[2]));
            Assert.Null(Deliver(restarted, r[1]));
            Assert.Null(Deliver(restarted, r[4]));
        }

        [Fact]
        public void OnlyOneResponsePerRequest()
        {
            var crypto = Providers.Get(Providers.Portable);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto);
            byte[] request = Coap.ReadingsRequest(Coap.Payload40());
            byte[] buf = new byte[512];
            var cx = new OscoreExchange();
            int n = device.ProtectRequest(request, 0, request.Length, buf, 0, cx);
            var sx = new OscoreExchange();
            emse.UnprotectRequest(buf, 0, n, new byte[512], 0, sx);
            byte[] response = Coap.ChangedResponse(request);
            n = emse.ProtectResponse(response, 0, response.Length, sx, false, buf, 0);
            device.UnprotectResponse(buf, 0, n, cx, new byte[512], 0);
            OscoreException e = Assert.Throws<OscoreException>(() => device.UnprotectResponse(buf, 0, n, cx, new byte[512], 0));
            Assert.Equal(OscoreError.ReplayDetected, e.OscoreError);
            Assert.Equal(0x81, e.CoapCode);
            Assert.Equal("Replay detected", e.Diagnostic);
        }
    }
}

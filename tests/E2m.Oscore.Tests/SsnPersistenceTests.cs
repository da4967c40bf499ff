using System;
using System.Collections.Generic;
using E2m.Crypto;
using E2m.Hal.Host;
using Xunit;

namespace E2m.Oscore.Tests
{
    /// <summary>
    /// Sender Sequence Number persistence (RFC 8613 App. B.1.1, DESIGN.md §4): a power cut at every point of
    /// the reservation write, at every SSN 0..200, K in {1, 4, 32}: no SSN is ever used twice across restarts,
    /// and a restart resumes exactly at the stored reservation.
    /// </summary>
    public class SsnPersistenceTests
    {
        private sealed class PowerCut : Exception
        {
        }

        public enum CutPhase
        {
            /// <summary>Power lost during the write, before it became durable (the old value stays).</summary>
            BeforeDurableWrite,

            /// <summary>Power lost after the write became durable, before Write returned.</summary>
            AfterDurableWrite,

            /// <summary>Power lost right after the SSN was used (message protected), no write in progress.</summary>
            AfterUse,
        }

        /// <summary>Flash-like store: atomic record; can lose power before or after the durable write.</summary>
        private sealed class FlakyStore : ISsnStore
        {
            public long Durable = -1;
            public int Writes;
            public bool ArmedCut;
            public bool CutAfterDurable;

            public long Read() => Durable;

            public void Write(long reservation)
            {
                Writes++;
                if (ArmedCut)
                {
                    ArmedCut = false;
                    if (CutAfterDurable)
                    {
                        Durable = reservation;
                    }

                    throw new PowerCut();
                }

                Durable = reservation;
            }
        }

        private static readonly ICryptoProvider Crypto = new PlatformCryptoProvider();
        private static readonly byte[] Request = Coap.ReadingsRequest(new byte[] { 1, 2, 3 });

        /// <summary>Protects one request and returns the Partial IV used (the SSN), reading it off the wire.</summary>
        private static long ProtectOne(OscoreSecurityContext device, byte[] buf)
        {
            var exchange = new OscoreExchange();
            int n = device.ProtectRequest(Request, 0, Request.Length, buf, 0, exchange);
            var value = new OscoreOptionValue();
            Assert.True(value.ReadFrom(buf, 0, n, new E2m.Coap.CoapMessage()));
            Assert.Equal(value.PivValue, exchange.RequestPivValue);
            return value.PivValue;
        }

        public static IEnumerable<object[]> Steps()
        {
            foreach (int k in new[] { 1, 4, 32 })
            {
                foreach (CutPhase phase in Enum.GetValues<CutPhase>())
                {
                    yield return new object[] { k, phase };
                }
            }
        }

        [Theory]
        [MemberData(nameof(Steps))]
        public void PowerCutAtEverySsnNeverReusesOne(int k, CutPhase phase)
        {
            byte[] buf = new byte[256];
            for (long cutAt = 0; cutAt <= 200; cutAt++)
            {
                var store = new FlakyStore();
                var used = new HashSet<long>();
                long maxUsedBeforeCut = -1;

                // Run 1: until the power cut at SSN cutAt.
                using (OscoreSecurityContext device = ProfileKeys.Device(Crypto, store, k))
                {
                    while (true)
                    {
                        long next = device.SenderSequenceNumber;
                        bool cutNow = next == cutAt;
                        int writesBefore = store.Writes;
                        if (cutNow && phase != CutPhase.AfterUse)
                        {
                            store.ArmedCut = true;
                            store.CutAfterDurable = phase == CutPhase.AfterDurableWrite;
                        }

                        long ssn;
                        try
                        {
                            ssn = ProtectOne(device, buf);
                        }
                        catch (PowerCut)
                        {
                            break; // the write was interrupted: SSN cutAt was not used
                        }

                        Assert.True(used.Add(ssn), $"K={k} cut={cutAt} {phase}: SSN {ssn} used twice");
                        maxUsedBeforeCut = ssn;
                        if (cutNow)
                        {
                            // AfterUse, or no write was needed for this SSN: the power goes now.
                            store.ArmedCut = false;
                            if (phase == CutPhase.AfterUse || store.Writes == writesBefore)
                            {
                                break;
                            }
                        }
                    }
                }

                // Restart: resumes at the stored reservation (or 0 if none), never at or below an SSN already used.
                long stored = store.Durable;
                using (OscoreSecurityContext device = ProfileKeys.Device(Crypto, store, k))
                {
                    long resume = device.SenderSequenceNumber;
                    Assert.Equal(stored < 0 ? 0 : stored, resume);
                    Assert.True(resume > maxUsedBeforeCut, $"K={k} cut={cutAt} {phase}: resume {resume} ≤ last used {maxUsedBeforeCut}");
                    for (int i = 0; i < 2 * k + 3; i++)
                    {
                        long ssn = ProtectOne(device, buf);
                        if (i == 0)
                        {
                            Assert.Equal(resume, ssn);
                        }

                        Assert.True(used.Add(ssn), $"K={k} cut={cutAt} {phase}: SSN {ssn} reused after restart");
                    }
                }
            }
        }

        [Fact]
        public void ManyRandomPowerCutsInOneLifetime()
        {
            int seed = TestSeed.Get(1101);
            var rng = new Random(seed);
            var store = new FlakyStore();
            var used = new HashSet<long>();
            byte[] buf = new byte[256];
            int restarts = 0;
            while (restarts < 300)
            {
                using OscoreSecurityContext device = ProfileKeys.Device(Crypto, store, 1 + rng.Next(40));
                long stored = store.Durable;
                Assert.Equal(stored < 0 ? 0 : stored, device.SenderSequenceNumber);
                int run = rng.Next(0, 60);
                for (int i = 0; ; i++)
                {
                    if (i == run)
                    {
                        store.ArmedCut = true;
                        store.CutAfterDurable = rng.Next(2) == 0;
                    }

                    try
                    {
                        long ssn = ProtectOne(device, buf);
                        Assert.True(used.Add(ssn), $"seed {seed}: SSN {ssn} used twice");
                    }
                    catch (PowerCut)
                    {
                        break;
                    }

                    if (i > run && rng.Next(8) == 0)
                    {
                        store.ArmedCut = false;
                        break; // power lost between messages
                    }
                }

                store.ArmedCut = false;
                restarts++;
            }

            Assert.True(used.Count > 1000, $"seed {seed}: only {used.Count} messages");
        }

        [Fact]
        public void ReservationIsWrittenOncePerStep()
        {
            var store = new FlakyStore();
            using OscoreSecurityContext device = ProfileKeys.Device(Crypto, store, 32);
            byte[] buf = new byte[256];
            for (int i = 0; i < 100; i++)
            {
                ProtectOne(device, buf);
            }

            Assert.Equal(4, store.Writes);      // before SSN 0, 32, 64, 96
            Assert.Equal(128, store.Durable);
        }

        [Fact]
        public void SequenceNumberExhaustion()
        {
            // RFC 8613 §7.2.1: SSN < 2^40; beyond that the context must not be used (re-key).
            var store = new MemorySsnStore(OscoreConstants.MaxSenderSequenceNumber - 1);
            using OscoreSecurityContext device = ProfileKeys.Device(Crypto, store, 32);
            byte[] buf = new byte[256];
            Assert.Equal(OscoreConstants.MaxSenderSequenceNumber - 1, ProtectOne(device, buf));
            Assert.Equal(OscoreConstants.MaxSenderSequenceNumber, ProtectOne(device, buf));
            Assert.Equal(OscoreConstants.MaxSenderSequenceNumber + 1, store.Read());   // reservation capped at 2^40
            OscoreException e = Assert.Throws<OscoreException>(() => ProtectOne(device, buf));
            Assert.Equal(OscoreError.SsnExhausted, e.OscoreError);
            Assert.Equal("OSCORE: sender sequence number exhausted (re-key the context)", e.Message);
            Assert.Throws<OscoreException>(() => ProtectOne(device, buf));

            // A restart on an exhausted store stays exhausted.
            using OscoreSecurityContext again = ProfileKeys.Device(Crypto, store, 32);
            Assert.Equal(OscoreError.SsnExhausted, Assert.Throws<OscoreException>(() => ProtectOne(again, buf)).OscoreError);
        }

        [Fact]
        public void AFailedWriteDoesNotConsumeTheSsn()
        {
            var store = new FlakyStore { ArmedCut = true };
            using OscoreSecurityContext device = ProfileKeys.Device(Crypto, store, 4);
            byte[] buf = new byte[256];
            Assert.Throws<PowerCut>(() => ProtectOne(device, buf));
            Assert.Equal(0, device.SenderSequenceNumber);
            Assert.Equal(0, ProtectOne(device, buf));
            Assert.Equal(4, store.Durable);
        }
    }
}

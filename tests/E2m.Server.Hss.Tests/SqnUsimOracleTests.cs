using System;
using System.Collections.Generic;
using E2m.ModemSim.Usim;
using E2m.Server.Hss.Subscribers;
using Xunit;

namespace E2m.Server.Hss.Tests
{
    /// <summary>
    /// The HSS's SQN management (TS 33.102 Annex C, HE side) against the simulator's USIM-side implementation
    /// (<see cref="SqnFreshness"/>: Annex C.2.1 Δ and C.2.2 array, written independently for the modem simulator): seeded
    /// random AIRs where serving nodes lose whole batches or use only their first vectors. Every vector the USIM is shown
    /// (in issue order) is fresh — never "too far ahead" — every SQN is distinct, and when the HSS refuses for Δ, the resync
    /// with the USIM's SQN_MS (as its AUTS would carry it) reopens the window.
    /// </summary>
    public class SqnUsimOracleTests
    {
        private const string Imsi = "001010000000042";

        [Theory]
        [InlineData(5, 64L, 1)]
        [InlineData(5, 64L, 2)]
        [InlineData(3, 16L, 3)]
        [InlineData(5, 1L << 28, 4)]
        public void EveryIssuedVectorIsFreshForTheUsimAndDeltaRefusalsResyncCleanly(int indBits, long delta, int seed)
        {
            var rng = new Random(seed);
            using TestDb db = TestDb.Sqlite();
            SubscriberStore store = db.NewStore(sqn: new SqnPolicy(indBits, delta));
            store.Add(Set1.Subscriber(Imsi));
            var usim = new SqnFreshness(indBits) { Delta = delta };
            var issued = new HashSet<ulong>();
            int refusals = 0, shown = 0;
            for (int step = 0; step < 300; step++)
            {
                int n = rng.Next(1, 6);
                SqnReservation res;
                try
                {
                    res = store.ReserveSqns(Imsi, n);
                }
                catch (SqnOutOfWindowException)
                {
                    refusals++;
                    long seqHe = store.Get(Imsi)!.Seq;
                    Assert.True(seqHe + n - store.Get(Imsi)!.SeqMs > delta, $"seed {seed}: refused inside the window");
                    try
                    {
                        res = store.ResyncAndReserve(Imsi, usim.SeqMsMax, n); // TS 33.102 §6.3.5 with the USIM's SQN_MS
                    }
                    catch (SqnOutOfWindowException)
                    {
                        // Only when the USIM really is more than Δ behind (it was shown nothing for Δ SEQ values).
                        Assert.True(seqHe + n - usim.SeqMsMax > delta, $"seed {seed}: resync refused inside the window");
                        break;
                    }
                }

                using (res)
                {
                    for (int i = 0; i < n; i++)
                    {
                        Assert.True(issued.Add(res.Sqn(i)), $"seed {seed}: SQN {res.Sqn(i):x12} issued twice");
                    }

                    // 30 %: the batch is lost; otherwise the serving node uses its first k vectors in order.
                    int used = rng.NextDouble() < 0.3 ? 0 : rng.Next(1, n + 1);
                    for (int i = 0; i < used; i++)
                    {
                        SqnVerdict v = usim.Check(res.Sqn(i));
                        Assert.True(v == SqnVerdict.Fresh, $"seed {seed} step {step}: USIM says {v} for SEQ {res.FirstSeq + i} IND {res.Ind} (SEQ_MS {usim.SeqMsMax})");
                        usim.Accept(res.Sqn(i));
                        shown++;
                    }
                }
            }

            Assert.True(shown > 100, $"seed {seed}: only {shown} vectors shown");
            if (delta < 100)
            {
                Assert.True(refusals > 0, $"seed {seed}: the Δ window was never reached");
            }
        }
    }
}

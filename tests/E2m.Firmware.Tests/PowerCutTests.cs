using E2m.Hal.Host;
using E2m.Oscore;
using Xunit.Abstractions;

namespace E2m.Firmware.Tests
{
    /// <summary>
    /// Power cut at EVERY write of a multi-cycle scenario (queue appends, cursors, SSN reservations, key slots, device
    /// state), before and after the durable commit (InMemoryRecordStore power-cut hook). After the cut the device boots
    /// again (new application over the same flash) and keeps running. Checked: every reading taken (durable queue
    /// record, observed by a spy store) reaches each EMSE it is routed to, no reading is taken twice, re-sent batches
    /// carry identical (name, time, value), and no OSCORE nonce (kid, PIV) is ever used for two different requests.
    /// </summary>
    public sealed class PowerCutTests
    {
        private readonly ITestOutputHelper _out;
        public PowerCutTests(ITestOutputHelper output) { _out = output; }

        private const int Seed = 21;

        private static Rig NewRig()
        {
            var rig = new Rig(seed: Seed, emses: 2);
            rig.Config.SsnStep = 2;              // an SSN reservation write every other request
            rig.Config.UploadEveryCycles = 2;
            rig.Config.QueueCapacity = 16;
            return rig;
        }

        /// <summary>Offset learnt at the first network time: readings taken before it (no Unix time in their record) are
        /// sent with it.</summary>
        private static long? _firstOffset;

        private static void Note(Rig rig)
        {
            var s = new DeviceState();
            if (_firstOffset == null && s.Load(rig.Store, rig.Config.StateRecordId) && s.HasUnixOffset) _firstOffset = s.UnixOffset;
        }

        private static (Rig Rig, int Cuts) Scenario(int cutAfter, PowerCutPoint point)
        {
            _firstOffset = null;
            Rig rig = NewRig();
            if (cutAfter >= 0) rig.Store.ArmPowerCut(point, cutAfter);
            int cuts = 0;
            for (int i = 0; i < 7; i++)
            {
                if (i == 3) rig.EmseA.DropResponsesNext = 6;  // one upload times out: the batch stays queued
                try { rig.Cycle(); }
                catch (PowerCutException) { cuts++; }
                Note(rig);
            }
            // drain: upload at every wake-up until nothing is pending
            rig.Config.UploadEveryCycles = 1;
            bool again = true;
            for (int i = 0; i < 6 && again; i++)
            {
                try
                {
                    E2mApplication app = rig.Cycle();
                    again = app.Queue.PendingCount > 0 || app.FailedThisCycle;
                }
                catch (PowerCutException) { cuts++; }
                Note(rig);
            }
            return (rig, cuts);
        }

        [Theory]
        [InlineData(PowerCutPoint.BeforeDurable)]
        [InlineData(PowerCutPoint.AfterDurable)]
        public void Power_cut_at_every_write_loses_and_duplicates_nothing_and_reuses_no_nonce(PowerCutPoint point)
        {
            (Rig reference, _) = Scenario(-1, PowerCutPoint.None);
            int writes = reference.Store.MutationCount;
            Check(reference, "reference");
            _out.WriteLine("scenario: " + writes + " writes/deletes; cutting at each one " + point + " (seed " + Seed + ")");
            Assert.True(writes > 40, "scenario too small: " + writes);
            for (int k = 0; k < writes; k++)
            {
                (Rig rig, int cuts) = Scenario(k, point);
                Assert.True(cuts == 1, "cut " + k + " did not fire");
                Check(rig, "cut at write " + k + " " + point + " (seed " + Seed + ")");
            }
        }

        private static void Check(Rig rig, string label)
        {
            E2mApplication app = rig.Last!;
            Assert.True(app.Queue.PendingCount == 0, label + ": still pending " + app.Queue.PendingCount);
            // no seq issued twice, every issued seq durable exactly once
            var seqs = rig.Spy.Taken.Select(t => t.Seq).ToList();
            Assert.True(seqs.Count == seqs.Distinct().Count(), label + ": a sequence number was issued twice");
            Assert.True(app.Queue.NextSequence == seqs.Count, label + ": seq gap or reuse: next " + app.Queue.NextSequence + " taken " + string.Join(",", seqs));
            long offset = _firstOffset!.Value;
            for (int e = 0; e < 2; e++)
            {
                FakeEmse emse = e == 0 ? rig.EmseA : rig.EmseB;
                var expected = rig.Spy.Taken
                    .Where(t => (rig.Config.Readings[t.Reading].EmseMask & (1 << e)) != 0)
                    .Select(t => ("urn:dev:meter1:" + rig.Config.Readings[t.Reading].Name, t.Unix > 0 ? t.Unix : t.DeviceSeconds + offset))
                    .ToHashSet();
                Assert.True(expected.Count == rig.Spy.Taken.Count(t => (rig.Config.Readings[t.Reading].EmseMask & (1 << e)) != 0),
                    label + ": two readings of one name share a time");
                Assert.True(expected.SetEquals(emse.Unique), label + ": EMSE " + e + " lost or invented readings: missing "
                    + string.Join(";", expected.Except(emse.Unique)) + " extra " + string.Join(";", emse.Unique.Except(expected)));
                // a re-sent reading carries the same value
                Assert.All(emse.Received.GroupBy(r => (r.Name, r.Time)), g => Assert.Single(g.Select(r => r.Value).Distinct()));
                Assert.True(emse.NonceReuse == 0, label + ": OSCORE nonce reused");
                Assert.True(emse.DecryptFailures == 0, label + ": replay/decrypt failure at the EMSE");
            }
        }
    }
}

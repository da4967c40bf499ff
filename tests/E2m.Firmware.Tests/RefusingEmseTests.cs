using E2m.TestSupport;

namespace E2m.Firmware.Tests
{
    /// <summary>
    /// One EMSE refuses the device's KID (the subscription does not allow it: the EMKS gives it no key, it answers 4.01)
    /// while another accepts the same KID (DESIGN.md §4, §5; firmware README "Keys" 4 and "Queue rules").
    /// Rig(emses: 2): A = index 0 (temp, battery), B = index 1 (energy, battery); readings are sampled every wake-up.
    /// </summary>
    public sealed class RefusingEmseTests
    {
        private static Rig RigWithRefusingB(int seed)
        {
            var rig = new Rig(seed: seed, emses: 2);
            rig.EmseB.Answer401Next = int.MaxValue; // B gets no key for any KID
            return rig;
        }

        [Fact]
        public void One_EMSE_refusing_while_another_accepts_costs_one_key_establishment()
        {
            var rig = RigWithRefusingB(41);
            for (int wake = 1; wake <= 6; wake++)
            {
                E2mApplication app = rig.Cycle();
                Assert.False(app.FailedThisCycle, "wake " + wake + " failed, seed " + rig.Seed);
                Assert.False(app.Queue.HasPending(0), "A not drained at wake " + wake);
                Assert.True(app.Keys.IsRefusing(1));
                Assert.False(app.Keys.IsRefusing(0));
            }
            Assert.Equal(1, rig.Net.Emks.Challenges);   // no re-key storm: one key for six wake-ups
            Assert.Equal(1, rig.EmseB.Unauthorized);     // B asked once with this KID, then skipped
            Assert.Equal(2 * 6, rig.EmseA.Unique.Count); // temp + battery of six samples
            Assert.Equal(0, rig.EmseA.NonceReuse);
        }

        [Fact]
        public void Refusal_survives_a_reboot()
        {
            var rig = RigWithRefusingB(42);
            rig.Cycle();
            byte[] kid = (byte[])rig.Last!.Keys.GetKid(1).Clone();
            // reboot: a new application over the same flash, RAM lost; only the record store survives
            E2mApplication app = rig.NewApp();
            Assert.Equal(AppState.Sample, app.Step()); // Boot
            Assert.True(app.Keys.IsRefusing(1), "refusal not restored from the record store (seed " + rig.Seed + ")");
            Assert.False(app.Keys.IsRefusing(0));
            Assert.Equal(kid, app.Keys.GetKid(1));
            Assert.Equal(2, app.Keys.RefusingMask());
            app.RunCycle();
            Assert.Equal(1, rig.EmseB.Unauthorized);
            Assert.Equal(1, rig.Net.Emks.Challenges);

            // a torn/foreign refusal record reads as absent: B is simply asked again (and refused again)
            rig.Store.Write(rig.Config.RefusalRecordId, new byte[] { 0x52, 1, 2, 3 }, 0, 4);
            E2mApplication again = rig.Cycle();
            Assert.False(again.FailedThisCycle);
            Assert.Equal(2, rig.EmseB.Unauthorized);
            Assert.True(again.Keys.IsRefusing(1));
            Assert.Equal(1, rig.Net.Emks.Challenges);
        }

        [Fact]
        public void A_new_KID_retries_the_refusing_EMSE_once()
        {
            var rig = RigWithRefusingB(43);
            rig.Cycle();
            byte[] first = (byte[])rig.Last!.Keys.GetKid(0).Clone();
            rig.Net.ExpiredKids.Add(rig.Net.PushedKeys.Keys.Single(k => k.StartsWith(Hex.Encode(first), StringComparison.Ordinal)));
            // A answers 4.01 to the reused key and nobody confirms it → one re-key; B is asked once with the new KID
            E2mApplication app = rig.Cycle();
            Assert.False(app.FailedThisCycle);
            Assert.Equal(2, rig.Net.Emks.Challenges);
            Assert.NotEqual(first, app.Keys.GetKid(1));
            Assert.Equal(2, rig.EmseB.Unauthorized);
            Assert.True(app.Keys.IsRefusing(1));
            for (int i = 0; i < 3; i++) rig.Cycle();
            Assert.Equal(2, rig.EmseB.Unauthorized);     // not asked again while the KID stays
            Assert.Equal(2, rig.Net.Emks.Challenges);
            Assert.Equal(2 * 5, rig.EmseA.Unique.Count);

            // B is allowed again: the next KID retries it and it receives what the ring still holds for it
            rig.EmseB.Answer401Next = 0;
            string second = Hex.Encode(rig.Last!.Keys.GetKid(0));
            rig.Net.ExpiredKids.Add(rig.Net.PushedKeys.Keys.Single(k => k.StartsWith(second, StringComparison.Ordinal)));
            E2mApplication healed = rig.Cycle();
            Assert.False(healed.Keys.IsRefusing(1));
            Assert.False(healed.Queue.HasPending(1));
            Assert.True(rig.EmseB.Unique.Count > 0);
        }

        [Fact]
        public void Full_queue_of_readings_only_for_the_refusing_EMSE_does_not_block_the_accepting_one()
        {
            var rig = RigWithRefusingB(44);
            int wakes = 2 * rig.Config.QueueCapacity; // far more samples than the ring can hold for B
            E2mApplication app = null!;
            for (int wake = 1; wake <= wakes; wake++)
            {
                app = rig.Cycle();
                Assert.False(app.FailedThisCycle, "wake " + wake + " failed, seed " + rig.Seed);
                Assert.NotEqual(DropReason.QueueFull, app.LastDropReason);
            }
            Assert.Equal(2 * wakes, rig.EmseA.Unique.Count);   // every reading routed to A was taken and delivered
            Assert.Equal(3 * wakes, rig.Spy.Taken.Count);      // no sample refused
            Assert.Equal(DropReason.EmseRefusesKey, app.LastDropReason);
            Assert.True(app.DeviceState.DroppedReadings > 0);
            // what was evicted: the oldest readings pending only for B; B's backlog stays bounded by the ring
            Assert.True(app.Queue.HasPending(1));
            Assert.True(app.Queue.PendingCount <= app.Queue.Capacity);
            Assert.Equal(0, app.Queue.PendingCountExcept(app.Keys.RefusingMask()));
            Assert.Equal(1, rig.Net.Emks.Challenges);
            Assert.Equal(1, rig.EmseB.Unauthorized);
        }

        [Fact]
        public void Eviction_never_takes_a_reading_an_accepting_EMSE_still_needs()
        {
            var rig = new Rig(seed: 45, emses: 2);
            E2mApplication app = rig.NewApp();
            app.Step(); // Boot: mount
            ReadingQueue q = app.Queue;
            for (int i = 0; i < q.Capacity; i++) Assert.True(q.Append(2, 100 + i, 0, i, out _)); // battery → A and B
            Assert.True(q.IsFull);
            Assert.False(q.TryEvictOldest(0));      // nobody refuses
            Assert.False(q.TryEvictOldest(2));      // B refuses, but A still needs the oldest reading
            q.Acknowledge(0, 3);                    // A has the first three
            Assert.True(q.TryEvictOldest(2));       // oldest now pending only for B → evicted for B
            Assert.Equal(1, q.GetCursor(1));
            Assert.False(q.IsFull);
            Assert.True(q.Append(0, 500, 0, 1, out _));
            Assert.True(q.IsFull);
        }
    }
}

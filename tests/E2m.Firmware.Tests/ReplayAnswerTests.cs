using E2m.TestSupport;

namespace E2m.Firmware.Tests
{
    /// <summary>
    /// The EMSE answers an unprotected 4.01 "Replay detected" (RFC 8613 §7.4; DESIGN.md §4) when the request's PIV is
    /// already in its replay window with other content (e.g. a retransmission after the EMSE's exchange lifetime, or an
    /// SSN record older than the EMSE's state). The EMSE found a context for the KID, so the key is alive: the device
    /// sends the batch again under a fresh SSN, re-keys only if that is answered the same way (once per wake-up), and
    /// never records the EMSE as refusing its KID (firmware README "Keys" 4).
    /// </summary>
    public sealed class ReplayAnswerTests
    {
        [Fact]
        public void One_replay_answer_is_healed_by_sending_the_batch_again_under_a_fresh_SSN()
        {
            var rig = new Rig(seed: 61);
            rig.Cycle();
            rig.EmseA.AnswerReplayNext = 1;
            E2mApplication app = rig.Cycle();
            Assert.False(app.FailedThisCycle, "seed " + rig.Seed);
            Assert.Equal(FirmwareError.None, app.LastError);
            Assert.Equal(1, rig.EmseA.ReplaysAnswered);
            Assert.Equal(1, rig.Net.Emks.Challenges);       // no re-key
            Assert.False(app.Keys.IsRefusing(0));
            Assert.False(app.Queue.HasPending(0));           // delivered in the same wake-up
            Assert.Equal(4, rig.EmseA.Unique.Count);
            Assert.Equal(0, rig.EmseA.Duplicates);
            Assert.Equal(0, rig.EmseA.NonceReuse);           // the retry is a new PIV, not the same one again
        }

        [Fact]
        public void A_replay_answer_while_another_EMSE_accepts_the_KID_is_not_a_refusal()
        {
            // Against the rule for "Security context not found" (another EMSE accepted the KID → this one refuses it,
            // persisted for the key's lifetime), a replay answer says nothing about the key: B stays in service.
            var rig = new Rig(seed: 62, emses: 2);
            rig.Cycle();
            rig.EmseB.AnswerReplayNext = 1;
            E2mApplication app = rig.Cycle();
            Assert.False(app.FailedThisCycle, "seed " + rig.Seed);
            Assert.False(app.Keys.IsRefusing(1));
            Assert.Equal(0, app.Keys.RefusingMask());
            Assert.False(app.Queue.HasPending(1));
            Assert.Equal(1, rig.Net.Emks.Challenges);
            Assert.Equal(1, rig.EmseB.ReplaysAnswered);

            E2mApplication next = rig.Cycle();
            Assert.False(next.FailedThisCycle);
            Assert.False(next.Queue.HasPending(1));          // still served at the next wake-up
            Assert.Equal(0, rig.EmseB.Unauthorized);
        }

        [Fact]
        public void Replay_answers_to_two_fresh_SSNs_start_a_new_key_once_and_deliver_the_batch()
        {
            var rig = new Rig(seed: 63);
            rig.Cycle();
            byte[] oldKid = (byte[])rig.Last!.Keys.GetKid(0).Clone();
            rig.EmseA.AnswerReplayNext = 2;
            E2mApplication app = rig.Cycle();
            Assert.False(app.FailedThisCycle, "seed " + rig.Seed);
            Assert.Equal(2, rig.EmseA.ReplaysAnswered);
            Assert.Equal(2, rig.Net.Emks.Challenges);       // one re-key
            Assert.NotEqual(oldKid, app.Keys.GetKid(0));
            Assert.False(app.Keys.IsRefusing(0));
            Assert.False(app.Queue.HasPending(0));
            Assert.Equal(4, rig.EmseA.Unique.Count);
            Assert.Equal(0, rig.EmseA.NonceReuse);
        }

        [Fact]
        public void Endless_replay_answers_cost_one_re_key_per_wake_up_then_back_off_with_the_readings_kept()
        {
            var rig = new Rig(seed: 64);
            rig.Cycle();
            rig.EmseA.AnswerReplayNext = int.MaxValue;
            E2mApplication app = rig.Cycle();
            Assert.True(app.FailedThisCycle);
            Assert.Equal(FirmwareError.EmseReplay, app.LastError);
            Assert.Equal(2, rig.Net.Emks.Challenges);       // one re-key in this wake-up, not a storm
            Assert.Equal(4, rig.EmseA.ReplaysAnswered);      // old key: batch + one retry; new key: batch + one retry
            Assert.True(app.Queue.HasPending(0));            // nothing acknowledged, nothing dropped
            Assert.Equal(0u, app.DeviceState.DroppedReadings);
            Assert.False(app.Keys.IsRefusing(0));

            rig.EmseA.AnswerReplayNext = 0;                  // the EMSE recovers: the next wake-up delivers everything
            E2mApplication healed = rig.Cycle();
            Assert.False(healed.FailedThisCycle);
            Assert.False(healed.Queue.HasPending(0));
            // the readings of the failed wake-up, delivered by the back-off retry (which samples nothing: it comes before
            // the next sample is due), under the key established in the failed wake-up
            Assert.Equal(4, rig.EmseA.Unique.Count);
            Assert.Equal(2, rig.EmseA.Received.Count(r => r.Kid.StartsWith(Hex.Encode(healed.Keys.GetKid(0)), StringComparison.Ordinal)));
            Assert.Equal(0, rig.EmseA.NonceReuse);
        }
    }
}

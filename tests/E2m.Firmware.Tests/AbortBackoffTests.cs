using E2m.Hal;
using E2m.Hal.Host;

namespace E2m.Firmware.Tests
{
    /// <summary>
    /// <see cref="E2mApplication.Run"/>: a cycle that an unexpected exception ends (a driver bug, a sensor that throws)
    /// is followed by a deep sleep that backs off like a failure, so a fault that repeats at every wake-up does not wake
    /// the device every BackoffBaseSeconds (session 11 noticed the fixed wait).
    /// </summary>
    public sealed class AbortBackoffTests
    {
        private sealed class ThrowingSensor : ISensor
        {
            public bool Sample(long persistedTotal, out long mantissa) => throw new InvalidOperationException("sensor driver bug");
            public void Commit() { }
        }

        private sealed class StopRun : Exception { }

        /// <summary>Records the sleeps; after <paramref name="limit"/> of them it throws out of Run (which loops forever).</summary>
        private sealed class CountingSleep : ISleep
        {
            private readonly FakeClock _clock;
            private readonly int _limit;
            public List<int> Requests { get; } = new();
            public CountingSleep(FakeClock clock, int limit) { _clock = clock; _limit = limit; }

            public void DeepSleep(int seconds)
            {
                Requests.Add(seconds);
                _clock.Advance(seconds * 1000L);
                if (Requests.Count >= _limit) throw new StopRun();
            }
        }

        [Fact]
        public void A_cycle_that_throws_every_time_sleeps_longer_each_time_up_to_the_maximum_and_the_count_is_saved()
        {
            var rig = new Rig(seed: 3);
            rig.Sensors = rig.Sensors.Select(_ => (ISensor)new ThrowingSensor()).ToArray();
            rig.Config.BackoffBaseSeconds = 60;
            rig.Config.BackoffMaxSeconds = 600;
            var sleep = new CountingSleep(rig.Clock, 7);
            FirmwarePlatform platform = rig.Platform();
            platform.Sleep = sleep;
            var app = new E2mApplication(rig.Config, platform);

            Assert.Throws<StopRun>(() => app.Run());

            // 60 × 2^(n−1), capped at 600, each plus at most 25 % jitter
            long[] expected = { 60, 120, 240, 480, 600, 600, 600 };
            Assert.Equal(expected.Length, sleep.Requests.Count);
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.InRange(sleep.Requests[i], expected[i], expected[i] + expected[i] / 4 + 1);
            }

            // the count went to the store with the state: a fresh instance (a wake-up is a reset) goes on from it
            var state = new DeviceState();
            state.Load(rig.Spy, rig.Config.StateRecordId);
            Assert.Equal(7, state.ConsecutiveFailures);
        }

        [Fact]
        public void A_cycle_that_completes_after_aborted_ones_sleeps_until_its_next_sample_again()
        {
            var rig = new Rig(seed: 4);
            ISensor[] good = rig.Sensors;
            rig.Sensors = rig.Sensors.Select(_ => (ISensor)new ThrowingSensor()).ToArray();
            var sleep = new CountingSleep(rig.Clock, 2);
            FirmwarePlatform platform = rig.Platform();
            platform.Sleep = sleep;
            Assert.Throws<StopRun>(() => new E2mApplication(rig.Config, platform).Run());
            Assert.True(sleep.Requests[1] >= 2 * rig.Config.BackoffBaseSeconds);

            // the fault is gone: the next wake-up samples, uploads what it has and is back to its normal cadence
            rig.Sensors = good;
            rig.Clock.Advance(3600_000L);
            E2mApplication ok = rig.Cycle();
            Assert.Equal(0, ok.DeviceState.ConsecutiveFailures);
        }
    }
}

using System;
using System.Threading;
using E2m.Hal;

namespace E2m.Hal.Host
{
    /// <summary>
    /// Manually advanced monotonic clock for deterministic tests. <see cref="Sleep"/> advances it at once
    /// (no wall-clock wait), so firmware code that waits a datasheet pulse width runs instantly. Thread-safe.
    /// </summary>
    public sealed class FakeClock : IMonotonicClock, IDelay
    {
        private long _now;

        public FakeClock(long startMilliseconds = 0)
        {
            _now = startMilliseconds;
        }

        public long NowMilliseconds => Interlocked.Read(ref _now);

        /// <summary>Moves the clock forward by <paramref name="ms"/> (≥ 0).</summary>
        public void Advance(long ms)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(ms);
            Interlocked.Add(ref _now, ms);
        }

        /// <summary>Moves the clock forward to <paramref name="t"/> when it is in the future.</summary>
        public void AdvanceTo(long t)
        {
            long current;
            do
            {
                current = Interlocked.Read(ref _now);
                if (t <= current)
                {
                    return;
                }
            }
            while (Interlocked.CompareExchange(ref _now, t, current) != current);
        }

        /// <summary>IDelay: advances the clock by <paramref name="ms"/> and returns at once.</summary>
        public void Sleep(int ms) => Advance(Math.Max(0, ms));
    }
}

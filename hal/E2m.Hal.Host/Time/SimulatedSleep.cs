using System;
using System.Collections.Generic;
using E2m.Hal;

namespace E2m.Hal.Host
{
    /// <summary>
    /// Host stand-in for deep sleep: records the request and advances the fake clock by the sleep
    /// time, then returns (on the device the call never returns: wake-up is a reset).
    /// </summary>
    public sealed class SimulatedSleep : ISleep
    {
        private readonly FakeClock _clock;
        private readonly List<int> _requests = new();

        public SimulatedSleep(FakeClock clock)
        {
            _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        }

        /// <summary>Every DeepSleep request, in seconds, in order.</summary>
        public IReadOnlyList<int> Requests => _requests;

        public void DeepSleep(int seconds)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(seconds);
            _requests.Add(seconds);
            _clock.Advance(seconds * 1000L);
        }
    }
}

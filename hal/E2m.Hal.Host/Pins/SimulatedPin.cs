using System;
using System.Collections.Generic;
using E2m.Hal;

namespace E2m.Hal.Host
{
    /// <summary>One level change of a <see cref="SimulatedPin"/>, stamped with the clock.</summary>
    public readonly record struct PinTransition(long TimeMs, bool Level);

    /// <summary>
    /// A simulated GPIO line usable as output (the firmware drives PWRKEY/RESET: every change is
    /// recorded with the clock's time so tests can check datasheet pulse widths) and as input (a test
    /// or a modem simulator drives STATUS or a meter pulse with <see cref="Drive"/>; edges are raised).
    /// Thread-safe; Edge handlers run on the thread that changed the level.
    /// </summary>
    public sealed class SimulatedPin : IDigitalOutput, IDigitalInput
    {
        private readonly IMonotonicClock _clock;
        private readonly object _gate = new();
        private readonly List<PinTransition> _transitions = new();
        private bool _level;

        public SimulatedPin(string name, IMonotonicClock clock, bool initialLevel = false)
        {
            Name = name ?? throw new ArgumentNullException(nameof(name));
            _clock = clock ?? throw new ArgumentNullException(nameof(clock));
            _level = initialLevel;
        }

        public string Name { get; }

        public event PinEdgeHandler? Edge;

        /// <summary>Level changes so far (writes of the same level are not recorded).</summary>
        public IReadOnlyList<PinTransition> Transitions
        {
            get
            {
                lock (_gate)
                {
                    return _transitions.ToArray();
                }
            }
        }

        public bool Read()
        {
            lock (_gate)
            {
                return _level;
            }
        }

        /// <summary>IDigitalOutput: the firmware drives the pin.</summary>
        public void Write(bool level) => SetLevel(level);

        /// <summary>The outside world drives the pin (input side).</summary>
        public void Drive(bool level) => SetLevel(level);

        /// <summary>Drives a full pulse: <paramref name="level"/> for <paramref name="widthMs"/>, then back, advancing <paramref name="clock"/>.</summary>
        public void Pulse(bool level, int widthMs, FakeClock clock)
        {
            SetLevel(level);
            clock.Advance(widthMs);
            SetLevel(!level);
        }

        /// <summary>Durations (ms) of every completed period at <paramref name="level"/>.</summary>
        public IReadOnlyList<long> PulseWidths(bool level)
        {
            var widths = new List<long>();
            PinTransition[] t = (PinTransition[])Transitions;
            for (int i = 0; i + 1 < t.Length; i++)
            {
                if (t[i].Level == level)
                {
                    widths.Add(t[i + 1].TimeMs - t[i].TimeMs);
                }
            }

            return widths;
        }

        private void SetLevel(bool level)
        {
            lock (_gate)
            {
                if (_level == level)
                {
                    return;
                }

                _level = level;
                _transitions.Add(new PinTransition(_clock.NowMilliseconds, level));
            }

            Edge?.Invoke(this, level ? PinEdge.Rising : PinEdge.Falling);
        }
    }
}

#nullable disable // portable code: nullable off (DESIGN.md §9)
using System;
using E2m.Hal;

namespace E2m.Firmware
{
    /// <summary>A source of one reading (scaled integer: value = mantissa × 10^exponent of its ReadingConfig).</summary>
    public interface ISensor
    {
        /// <summary>
        /// Reads the current value. For counters, <paramref name="persistedTotal"/> is the total already stored
        /// (the last queued reading); the sensor adds what it counted since. False = no value this time.
        /// </summary>
        bool Sample(long persistedTotal, out long mantissa);

        /// <summary>The sampled value is durable in the queue: a counter forgets the pulses included in it.</summary>
        void Commit();
    }

    /// <summary>
    /// A meter's pulse output counted on an <see cref="IDigitalInput"/> edge interrupt (DESIGN.md §7). The edge handler
    /// only increments a counter under a lock (short, interrupt-thread safe). At sample time the reading is
    /// persisted total + pulses counted so far; after the reading is durable in the queue, <see cref="Commit"/>
    /// subtracts exactly the pulses it contained, so pulses that arrive between sample and commit are kept for
    /// the next reading (no pulse lost or counted twice).
    /// Limit: pulses during MCU deep sleep need the ESP32 ULP / STM32 LPTIM counter (not done): the count here
    /// covers the awake time only, unless the board keeps the MCU in light sleep.
    /// </summary>
    public sealed class PulseCounter : ISensor
    {
        private readonly object _sync = new object();
        private readonly PinEdge _edge;
        private long _count;
        private long _sampled;

        /// <summary>Counts <paramref name="edge"/> edges of <paramref name="input"/>.</summary>
        public PulseCounter(IDigitalInput input, PinEdge edge)
        {
            if (input == null) throw new ArgumentNullException("input");
            _edge = edge;
            input.Edge += OnEdge;
        }

        /// <summary>Pulses counted and not yet committed.</summary>
        public long Pending
        {
            get { lock (_sync) { return _count; } }
        }

        private void OnEdge(object sender, PinEdge edge)
        {
            if (edge != _edge) return;
            lock (_sync) { _count++; }
        }

        public bool Sample(long persistedTotal, out long mantissa)
        {
            lock (_sync)
            {
                _sampled = _count;
            }
            mantissa = persistedTotal + _sampled;
            return true;
        }

        public void Commit()
        {
            lock (_sync)
            {
                _count -= _sampled;
                _sampled = 0;
            }
        }
    }

    /// <summary>
    /// Deterministic simulated sensor for the host (and boards without a sensor): a bounded random walk from a
    /// seed (xorshift32), e.g. a temperature in tenths of a degree. No floating point, no allocation.
    /// </summary>
    public sealed class SimulatedSensor : ISensor
    {
        private uint _state;
        private long _value;
        private readonly long _min;
        private readonly long _max;
        private readonly int _step;

        public SimulatedSensor(uint seed, long start, long min, long max, int step)
        {
            _state = seed == 0 ? 0x9E3779B9 : seed;
            _value = start;
            _min = min;
            _max = max;
            _step = step < 1 ? 1 : step;
        }

        public bool Sample(long persistedTotal, out long mantissa)
        {
            // xorshift32 (Marsaglia 2003)
            _state ^= _state << 13;
            _state ^= _state >> 17;
            _state ^= _state << 5;
            long delta = (long)(_state % (uint)(2 * _step + 1)) - _step;
            long v = _value + delta;
            if (v < _min) v = _min;
            if (v > _max) v = _max;
            _value = v;
            mantissa = v;
            return true;
        }

        public void Commit() { }
    }
}

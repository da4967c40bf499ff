using System;
using E2m.Hal;

namespace E2m.Coap.Tests
{
    /// <summary>Test clock: time moves only when the test says so.</summary>
    internal sealed class FakeClock : IMonotonicClock
    {
        public long NowMilliseconds { get; set; }
        public void Advance(long ms) => NowMilliseconds += ms;
    }

    /// <summary>Deterministic entropy: seeded System.Random, or a fixed repeating pattern.</summary>
    internal sealed class SeededEntropy : IEntropySource
    {
        private readonly Random? _random;
        private readonly byte[]? _pattern;
        private int _at;

        public SeededEntropy(int seed) { _random = new Random(seed); }
        public SeededEntropy(byte[] pattern) { _pattern = pattern; }

        public void Fill(byte[] buffer, int offset, int count)
        {
            if (_random != null)
            {
                _random.NextBytes(buffer.AsSpan(offset, count));
                return;
            }
            for (int i = 0; i < count; i++) buffer[offset + i] = _pattern![_at++ % _pattern.Length];
        }
    }
}

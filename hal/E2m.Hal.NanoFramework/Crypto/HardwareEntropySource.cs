using System;
using E2m.Hal;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// <see cref="IEntropySource"/> from System.Random, which on nanoFramework is the hardware RNG: ESP32 esp_random()
    /// (seed ignored, nf-interpreter targets/ESP32/_nanoCLR/targetRandom.cpp); STM32 parts built with NF_FEATURE_USE_RNG
    /// use the TRNG, others fall back to C rand() seeded from time (src/CLR/Core/Random.cpp) - NOT cryptographic there.
    /// Used for CoAP tokens and message ids only: keys never come from here (they come from AKA, DESIGN.md §2-§3).
    /// </summary>
    public sealed class HardwareEntropySource : IEntropySource
    {
        private readonly Random _random = new Random();
        private readonly byte[] _chunk = new byte[16];

        public void Fill(byte[] buffer, int offset, int count)
        {
            while (count > 0)
            {
                _random.NextBytes(_chunk);
                int n = count < _chunk.Length ? count : _chunk.Length;
                Array.Copy(_chunk, 0, buffer, offset, n);
                offset += n;
                count -= n;
            }

            Array.Clear(_chunk, 0, _chunk.Length);
        }
    }
}

using System.Security.Cryptography;
using System.Text;

namespace E2m.Firmware.Tests
{
    /// <summary>
    /// Independent oracle of DESIGN.md §2 (TS 33.220 Annex B KDF) on System.Security.Cryptography.HMACSHA256,
    /// not on E2m.Crypto: what the HSS/EMKS/EMSE of the fake network compute.
    /// </summary>
    public static class TestKdf
    {
        public static byte[] Kdf(byte[] key, byte fc, params byte[][] p)
        {
            var s = new List<byte> { fc };
            foreach (byte[] pi in p)
            {
                s.AddRange(pi);
                s.Add((byte)(pi.Length >> 8));
                s.Add((byte)pi.Length);
            }
            return HMACSHA256.HashData(key, s.ToArray());
        }

        public static byte[] IntKey(byte[] ck, byte[] ik) => Kdf(ck.Concat(ik).ToArray(), 0xE0, Encoding.UTF8.GetBytes("e2m_CIoT"));

        public static byte[] Kid(byte[] intKey) => Kdf(intKey, 0xE2, Encoding.UTF8.GetBytes("e2m-kid")).Take(8).ToArray();

        public static byte[] E2mKey(byte[] intKey, string emseId) =>
            Kdf(intKey, 0xE1, Encoding.UTF8.GetBytes(emseId), Encoding.UTF8.GetBytes("e2m_CIoT"));
    }

    /// <summary>Seeded IEntropySource (deterministic tests; the seed is printed by the tests that use randomness).</summary>
    public sealed class SeededEntropy : E2m.Hal.IEntropySource
    {
        private readonly Random _random;
        public SeededEntropy(int seed) { _random = new Random(seed); }
        public void Fill(byte[] buffer, int offset, int count)
        {
            for (int i = 0; i < count; i++) buffer[offset + i] = (byte)_random.Next(256);
        }
    }
}

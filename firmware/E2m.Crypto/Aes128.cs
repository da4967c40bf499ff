#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>
    /// AES-128 forward cipher (FIPS 197 §5.1, §5.2), one 1 KiB T-table derived from the S-box at type
    /// initialisation; the 44-word key schedule is allocated once. Encryption only (CCM and Milenage
    /// need no inverse cipher). Note: table lookups are not cache-timing constant; on the device the
    /// native (hardware) AES of the platform provider is preferred.
    /// </summary>
    public sealed class Aes128 : IAes128
    {
        public const int BlockLength = 16;
        public const int KeyLength = 16;
        private const int Rounds = 10; // FIPS 197 §5, Nr = 10 for Nk = 4

        // FIPS 197 §5.1.1 Figure 7: S-box.
        private static readonly byte[] SBox =
        {
            0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
            0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
            0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
            0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
            0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
            0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
            0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
            0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
            0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
            0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
            0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
            0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
            0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
            0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
            0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
            0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
        };

        // FIPS 197 §5.2: Rcon[i] = [x^(i-1), 00, 00, 00].
        private static readonly byte[] Rcon = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36 };

        // T0[x] = [2·S(x), S(x), S(x), 3·S(x)]: SubBytes + MixColumns column (FIPS 197 §5.1.1, §5.1.3).
        private static readonly uint[] T0 = BuildTable();

        private readonly uint[] _rk = new uint[4 * (Rounds + 1)];
        private bool _keyed;

        private static uint[] BuildTable()
        {
            uint[] t = new uint[256];
            for (int x = 0; x < 256; x++)
            {
                uint s = SBox[x];
                uint s2 = (s << 1) ^ (((s >> 7) & 1) * 0x11b); // xtime, FIPS 197 §4.2.1
                uint s3 = s2 ^ s;
                t[x] = (s2 << 24) | (s << 16) | (s << 8) | s3;
            }

            return t;
        }

        /// <summary>Key expansion, FIPS 197 §5.2 (Nk = 4).</summary>
        public void SetKey(byte[] key, int offset)
        {
            CryptoUtil.CheckRange(key, offset, KeyLength, "key");
            for (int i = 0; i < 4; i++)
            {
                int p = offset + 4 * i;
                _rk[i] = ((uint)key[p] << 24) | ((uint)key[p + 1] << 16) | ((uint)key[p + 2] << 8) | key[p + 3];
            }

            for (int i = 4; i < _rk.Length; i++)
            {
                uint temp = _rk[i - 1];
                if ((i & 3) == 0)
                {
                    // SubWord(RotWord(temp)) xor Rcon[i/Nk]
                    temp = ((uint)SBox[(temp >> 16) & 0xff] << 24) | ((uint)SBox[(temp >> 8) & 0xff] << 16)
                         | ((uint)SBox[temp & 0xff] << 8) | SBox[temp >> 24];
                    temp ^= (uint)Rcon[(i >> 2) - 1] << 24;
                }

                _rk[i] = _rk[i - 4] ^ temp;
            }

            _keyed = true;
        }

        /// <summary>Cipher(), FIPS 197 §5.1; input and output may overlap.</summary>
        public void EncryptBlock(byte[] input, int inputOffset, byte[] output, int outputOffset)
        {
            if (!_keyed) throw new InvalidOperationException("SetKey first");
            CryptoUtil.CheckRange(input, inputOffset, BlockLength, "input");
            CryptoUtil.CheckRange(output, outputOffset, BlockLength, "output");
            uint[] rk = _rk;
            uint[] t = T0;

            // AddRoundKey(state, w[0, Nb-1])
            uint s0 = Load(input, inputOffset) ^ rk[0];
            uint s1 = Load(input, inputOffset + 4) ^ rk[1];
            uint s2 = Load(input, inputOffset + 8) ^ rk[2];
            uint s3 = Load(input, inputOffset + 12) ^ rk[3];

            // Rounds 1..Nr-1: SubBytes, ShiftRows, MixColumns, AddRoundKey as T-table lookups.
            int k = 4;
            for (int round = 1; round < Rounds; round++)
            {
                uint t0 = t[s0 >> 24] ^ Ror8(t[(s1 >> 16) & 0xff]) ^ Ror16(t[(s2 >> 8) & 0xff]) ^ Ror24(t[s3 & 0xff]) ^ rk[k];
                uint t1 = t[s1 >> 24] ^ Ror8(t[(s2 >> 16) & 0xff]) ^ Ror16(t[(s3 >> 8) & 0xff]) ^ Ror24(t[s0 & 0xff]) ^ rk[k + 1];
                uint t2 = t[s2 >> 24] ^ Ror8(t[(s3 >> 16) & 0xff]) ^ Ror16(t[(s0 >> 8) & 0xff]) ^ Ror24(t[s1 & 0xff]) ^ rk[k + 2];
                uint t3 = t[s3 >> 24] ^ Ror8(t[(s0 >> 16) & 0xff]) ^ Ror16(t[(s1 >> 8) & 0xff]) ^ Ror24(t[s2 & 0xff]) ^ rk[k + 3];
                s0 = t0;
                s1 = t1;
                s2 = t2;
                s3 = t3;
                k += 4;
            }

            // Final round: SubBytes, ShiftRows, AddRoundKey (no MixColumns).
            uint o0 = Sub4(s0, s1, s2, s3) ^ rk[k];
            uint o1 = Sub4(s1, s2, s3, s0) ^ rk[k + 1];
            uint o2 = Sub4(s2, s3, s0, s1) ^ rk[k + 2];
            uint o3 = Sub4(s3, s0, s1, s2) ^ rk[k + 3];
            Store(o0, output, outputOffset);
            Store(o1, output, outputOffset + 4);
            Store(o2, output, outputOffset + 8);
            Store(o3, output, outputOffset + 12);
        }

        public void Clear()
        {
            Array.Clear(_rk, 0, _rk.Length);
            _keyed = false;
        }

        private static uint Sub4(uint a, uint b, uint c, uint d)
        {
            return ((uint)SBox[a >> 24] << 24) | ((uint)SBox[(b >> 16) & 0xff] << 16)
                 | ((uint)SBox[(c >> 8) & 0xff] << 8) | SBox[d & 0xff];
        }

        private static uint Ror8(uint x)
        {
            return (x >> 8) | (x << 24);
        }

        private static uint Ror16(uint x)
        {
            return (x >> 16) | (x << 16);
        }

        private static uint Ror24(uint x)
        {
            return (x >> 24) | (x << 8);
        }

        private static uint Load(byte[] b, int p)
        {
            return ((uint)b[p] << 24) | ((uint)b[p + 1] << 16) | ((uint)b[p + 2] << 8) | b[p + 3];
        }

        private static void Store(uint v, byte[] b, int p)
        {
            b[p] = (byte)(v >> 24);
            b[p + 1] = (byte)(v >> 16);
            b[p + 2] = (byte)(v >> 8);
            b[p + 3] = (byte)v;
        }
    }
}

#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>
    /// SHA-256 (FIPS 180-4 §6.2), incremental, on caller-owned buffers. All state is allocated in the
    /// constructor; Reset/Update/Final allocate nothing.
    /// </summary>
    public sealed class Sha256
    {
        /// <summary>Digest length in octets (FIPS 180-4 §1).</summary>
        public const int HashLength = 32;

        /// <summary>Message block length in octets (FIPS 180-4 §1).</summary>
        public const int BlockLength = 64;

        // FIPS 180-4 §4.2.2: the 64 round constants K0..K63.
        private static readonly uint[] K =
        {
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
            0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
            0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
            0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
            0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
            0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
            0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
        };

        private readonly uint[] _h = new uint[8];
        private readonly uint[] _w = new uint[64];
        private readonly byte[] _block = new byte[BlockLength];
        private int _blockFill;
        private ulong _totalBytes;

        public Sha256()
        {
            Reset();
        }

        /// <summary>Starts a new message: H(0) of FIPS 180-4 §5.3.3.</summary>
        public void Reset()
        {
            _h[0] = 0x6a09e667;
            _h[1] = 0xbb67ae85;
            _h[2] = 0x3c6ef372;
            _h[3] = 0xa54ff53a;
            _h[4] = 0x510e527f;
            _h[5] = 0x9b05688c;
            _h[6] = 0x1f83d9ab;
            _h[7] = 0x5be0cd19;
            _blockFill = 0;
            _totalBytes = 0;
            Array.Clear(_block, 0, BlockLength);
        }

        public void Update(byte[] data, int offset, int length)
        {
            CryptoUtil.CheckRange(data, offset, length, "data");
            _totalBytes += (ulong)length;
            if (_blockFill > 0)
            {
                int take = BlockLength - _blockFill;
                if (take > length) take = length;
                Array.Copy(data, offset, _block, _blockFill, take);
                _blockFill += take;
                offset += take;
                length -= take;
                if (_blockFill < BlockLength)
                {
                    return;
                }

                Compress(_block, 0);
                _blockFill = 0;
            }

            while (length >= BlockLength)
            {
                Compress(data, offset);
                offset += BlockLength;
                length -= BlockLength;
            }

            if (length > 0)
            {
                Array.Copy(data, offset, _block, 0, length);
                _blockFill = length;
            }
        }

        /// <summary>Pads (FIPS 180-4 §5.1.1), writes the 32-octet digest and resets.</summary>
        public void Final(byte[] output, int offset)
        {
            CryptoUtil.CheckRange(output, offset, HashLength, "output");
            ulong bitLength = _totalBytes << 3;

            // FIPS 180-4 §5.1.1: append '1' bit, k zero bits, then the 64-bit big-endian length.
            _block[_blockFill++] = 0x80;
            if (_blockFill > BlockLength - 8)
            {
                Array.Clear(_block, _blockFill, BlockLength - _blockFill);
                Compress(_block, 0);
                _blockFill = 0;
            }

            Array.Clear(_block, _blockFill, BlockLength - 8 - _blockFill);
            for (int i = 0; i < 8; i++)
            {
                _block[BlockLength - 1 - i] = (byte)(bitLength >> (8 * i));
            }

            Compress(_block, 0);

            // FIPS 180-4 §6.2.2 step 4 result H(N), big-endian.
            for (int i = 0; i < 8; i++)
            {
                uint v = _h[i];
                output[offset + 4 * i] = (byte)(v >> 24);
                output[offset + 4 * i + 1] = (byte)(v >> 16);
                output[offset + 4 * i + 2] = (byte)(v >> 8);
                output[offset + 4 * i + 3] = (byte)v;
            }

            Array.Clear(_w, 0, 64);
            Reset();
        }

        /// <summary>Copies the chaining value (8 words) out; used by HMAC to store keyed states.</summary>
        internal void SaveState(uint[] state)
        {
            Array.Copy(_h, 0, state, 0, 8);
        }

        /// <summary>Resumes from a chaining value taken after exactly <paramref name="bytesProcessed"/> whole blocks.</summary>
        internal void LoadState(uint[] state, ulong bytesProcessed)
        {
            Array.Copy(state, 0, _h, 0, 8);
            _totalBytes = bytesProcessed;
            _blockFill = 0;
        }

        /// <summary>Zeroises all state (for keyed use such as HMAC).</summary>
        internal void Wipe()
        {
            Array.Clear(_h, 0, 8);
            Array.Clear(_w, 0, 64);
            Array.Clear(_block, 0, BlockLength);
            _blockFill = 0;
            _totalBytes = 0;
        }

        // FIPS 180-4 §6.2.2: the SHA-256 hash computation for one 512-bit block.
        private void Compress(byte[] m, int off)
        {
            uint[] w = _w;

            // Step 1: message schedule W0..W63.
            for (int t = 0; t < 16; t++)
            {
                int p = off + 4 * t;
                w[t] = ((uint)m[p] << 24) | ((uint)m[p + 1] << 16) | ((uint)m[p + 2] << 8) | m[p + 3];
            }

            for (int t = 16; t < 64; t++)
            {
                uint x = w[t - 2];
                uint y = w[t - 15];
                uint s1 = ((x >> 17) | (x << 15)) ^ ((x >> 19) | (x << 13)) ^ (x >> 10); // σ1 §4.1.2 (4.7)
                uint s0 = ((y >> 7) | (y << 25)) ^ ((y >> 18) | (y << 14)) ^ (y >> 3); // σ0 §4.1.2 (4.6)
                w[t] = s1 + w[t - 7] + s0 + w[t - 16];
            }

            // Step 2: working variables.
            uint a = _h[0], b = _h[1], c = _h[2], d = _h[3], e = _h[4], f = _h[5], g = _h[6], h = _h[7];

            // Step 3: 64 rounds.
            for (int t = 0; t < 64; t++)
            {
                uint bs1 = ((e >> 6) | (e << 26)) ^ ((e >> 11) | (e << 21)) ^ ((e >> 25) | (e << 7)); // Σ1 (4.5)
                uint ch = (e & f) ^ (~e & g); // Ch (4.2)
                uint t1 = h + bs1 + ch + K[t] + w[t];
                uint bs0 = ((a >> 2) | (a << 30)) ^ ((a >> 13) | (a << 19)) ^ ((a >> 22) | (a << 10)); // Σ0 (4.4)
                uint maj = (a & b) ^ (a & c) ^ (b & c); // Maj (4.3)
                uint t2 = bs0 + maj;
                h = g;
                g = f;
                f = e;
                e = d + t1;
                d = c;
                c = b;
                b = a;
                a = t1 + t2;
            }

            // Step 4: intermediate hash value H(i).
            _h[0] += a;
            _h[1] += b;
            _h[2] += c;
            _h[3] += d;
            _h[4] += e;
            _h[5] += f;
            _h[6] += g;
            _h[7] += h;
        }
    }
}

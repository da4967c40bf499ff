#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>
    /// HMAC-SHA-256 (RFC 2104 §2, FIPS 198-1) on the portable <see cref="Sha256"/>. Init hashes the
    /// ipad and opad blocks once and keeps the two chaining values, so each message costs only the
    /// message blocks plus two compressions in Final. Zero allocations after construction.
    /// </summary>
    public sealed class HmacSha256 : IHmacSha256
    {
        /// <summary>MAC length in octets (RFC 2104 §2, L = 32 for SHA-256).</summary>
        public const int MacLength = Sha256.HashLength;

        private const byte Ipad = 0x36; // RFC 2104 §2
        private const byte Opad = 0x5c; // RFC 2104 §2

        private readonly Sha256 _inner = new Sha256();
        private readonly Sha256 _outer = new Sha256();
        private readonly byte[] _k0 = new byte[Sha256.BlockLength];
        private readonly byte[] _innerHash = new byte[Sha256.HashLength];
        private readonly uint[] _ipadState = new uint[8];
        private readonly uint[] _opadState = new uint[8];
        private bool _keyed;

        public void Init(byte[] key, int offset, int length)
        {
            if (length != 0 || key != null)
            {
                CryptoUtil.CheckRange(key, offset, length, "key");
            }

            // RFC 2104 §2 / FIPS 198-1 §4 step 1-3: K0 = H(K) if K is longer than B, then zero-pad to B.
            Array.Clear(_k0, 0, Sha256.BlockLength);
            if (length > Sha256.BlockLength)
            {
                _inner.Reset();
                _inner.Update(key, offset, length);
                _inner.Final(_k0, 0);
            }
            else if (length > 0)
            {
                Array.Copy(key, offset, _k0, 0, length);
            }

            // K0 xor ipad: one compression, keep the chaining value.
            for (int i = 0; i < Sha256.BlockLength; i++) _k0[i] ^= Ipad;
            _inner.Reset();
            _inner.Update(_k0, 0, Sha256.BlockLength);
            _inner.SaveState(_ipadState);

            // K0 xor opad (= (K0 xor ipad) xor (ipad xor opad)).
            for (int i = 0; i < Sha256.BlockLength; i++) _k0[i] ^= Ipad ^ Opad;
            _outer.Reset();
            _outer.Update(_k0, 0, Sha256.BlockLength);
            _outer.SaveState(_opadState);

            Array.Clear(_k0, 0, Sha256.BlockLength);
            _keyed = true;
        }

        public void Update(byte[] data, int offset, int length)
        {
            if (!_keyed) throw new InvalidOperationException("Init first");
            _inner.Update(data, offset, length);
        }

        /// <summary>HMAC = H((K0 ^ opad) || H((K0 ^ ipad) || text)) (RFC 2104 §2); resets to the keyed state.</summary>
        public void Final(byte[] output, int offset)
        {
            if (!_keyed) throw new InvalidOperationException("Init first");
            CryptoUtil.CheckRange(output, offset, MacLength, "output");
            _inner.Final(_innerHash, 0);
            _outer.LoadState(_opadState, Sha256.BlockLength);
            _outer.Update(_innerHash, 0, Sha256.HashLength);
            _outer.Final(output, offset);
            Array.Clear(_innerHash, 0, Sha256.HashLength);
            _inner.LoadState(_ipadState, Sha256.BlockLength);
        }

        public void Clear()
        {
            _inner.Wipe();
            _outer.Wipe();
            Array.Clear(_k0, 0, Sha256.BlockLength);
            Array.Clear(_innerHash, 0, Sha256.HashLength);
            Array.Clear(_ipadState, 0, 8);
            Array.Clear(_opadState, 0, 8);
            _keyed = false;
        }
    }
}

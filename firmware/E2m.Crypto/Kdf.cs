#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>
    /// Generic key derivation function of TS 33.220 Annex B: derived key = HMAC-SHA-256(Key, S),
    /// S = FC || P0 || L0 || P1 || L1 || ... || Pn || Ln, Li = length of Pi in octets as 2 octets
    /// big-endian. One-octet FC only (the 0xFF || FC2 form is not needed by e2m).
    /// S is built in a buffer preallocated by the constructor: zero allocations per derivation.
    /// Usage: <c>Begin(fc)</c>, <c>AddParameter</c> for P0..Pn, <c>Derive(key)</c>.
    /// </summary>
    public sealed class Kdf
    {
        public const int OutputLength = 32;
        public const int MaxParameterLength = 0xFFFF; // TS 33.220 Annex B: Li is a 16-bit length

        private readonly IHmacSha256 _hmac;
        private readonly byte[] _s;
        private int _length;
        private bool _begun;

        public Kdf(IHmacSha256 hmac, int maxInputLength)
        {
            if (hmac == null) throw new ArgumentNullException("hmac");
            if (maxInputLength < 1) throw new ArgumentOutOfRangeException("maxInputLength");
            _hmac = hmac;
            _s = new byte[maxInputLength];
        }

        /// <summary>Current length of S in octets.</summary>
        public int InputLength
        {
            get { return _length; }
        }

        /// <summary>Starts S with the function code FC (TS 33.220 Annex B).</summary>
        public void Begin(byte fc)
        {
            Array.Clear(_s, 0, _length);
            _s[0] = fc;
            _length = 1;
            _begun = true;
        }

        /// <summary>Appends Pi || Li (Li = 2-octet big-endian length, TS 33.220 Annex B).</summary>
        public void AddParameter(byte[] p, int offset, int length)
        {
            if (!_begun) throw new InvalidOperationException("Begin first");
            if (length != 0) CryptoUtil.CheckRange(p, offset, length, "p");
            if (length < 0 || length > MaxParameterLength) throw new ArgumentOutOfRangeException("length");
            if (length + 2 > _s.Length - _length) throw new ArgumentException("S would exceed maxInputLength", "p");
            if (length > 0) Array.Copy(p, offset, _s, _length, length);
            _length += length;
            _s[_length++] = (byte)(length >> 8);
            _s[_length++] = (byte)length;
        }

        /// <summary>Copies the current S (for tests and logs of public parameters).</summary>
        public void CopyInput(byte[] destination, int offset)
        {
            CryptoUtil.CheckRange(destination, offset, _length, "destination");
            Array.Copy(_s, 0, destination, offset, _length);
        }

        /// <summary>
        /// Writes HMAC-SHA-256(Key, S) (32 octets) to output, then clears S and the HMAC key state.
        /// </summary>
        public void Derive(byte[] key, int keyOffset, int keyLength, byte[] output, int outputOffset)
        {
            if (!_begun) throw new InvalidOperationException("Begin first");
            CryptoUtil.CheckRange(key, keyOffset, keyLength, "key");
            CryptoUtil.CheckRange(output, outputOffset, OutputLength, "output");
            _hmac.Init(key, keyOffset, keyLength);
            _hmac.Update(_s, 0, _length);
            _hmac.Final(output, outputOffset);
            _hmac.Clear();
            Array.Clear(_s, 0, _length);
            _length = 0;
            _begun = false;
        }
    }
}

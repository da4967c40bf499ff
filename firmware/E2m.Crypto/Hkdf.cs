#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>
    /// HKDF with HMAC-SHA-256 (RFC 5869 §2.2 Extract, §2.3 Expand), as used by OSCORE key derivation
    /// (RFC 8613 §3.2.1). Zero allocations per call; the HMAC key state is cleared after each call.
    /// </summary>
    public sealed class Hkdf
    {
        public const int HashLength = 32;                 // HashLen for SHA-256
        public const int MaxOutputLength = 255 * HashLength; // RFC 5869 §2.3: L <= 255*HashLen

        private readonly IHmacSha256 _hmac;
        private readonly byte[] _zeroSalt = new byte[HashLength]; // RFC 5869 §2.2: default salt = HashLen zeros
        private readonly byte[] _t = new byte[HashLength];
        private readonly byte[] _counter = new byte[1];

        public Hkdf(IHmacSha256 hmac)
        {
            if (hmac == null) throw new ArgumentNullException("hmac");
            _hmac = hmac;
        }

        /// <summary>PRK = HMAC-Hash(salt, IKM) (RFC 5869 §2.2); null or empty salt = 32 zero octets.</summary>
        public void Extract(byte[] salt, int saltOffset, int saltLength, byte[] ikm, int ikmOffset, int ikmLength,
            byte[] prk, int prkOffset)
        {
            CryptoUtil.CheckRange(prk, prkOffset, HashLength, "prk");
            if (ikmLength != 0) CryptoUtil.CheckRange(ikm, ikmOffset, ikmLength, "ikm");
            if (salt == null || saltLength == 0)
            {
                _hmac.Init(_zeroSalt, 0, HashLength);
            }
            else
            {
                _hmac.Init(salt, saltOffset, saltLength);
            }

            if (ikmLength > 0) _hmac.Update(ikm, ikmOffset, ikmLength);
            _hmac.Final(prk, prkOffset);
            _hmac.Clear();
        }

        /// <summary>
        /// OKM = first L octets of T(1) || T(2) || ..., T(i) = HMAC-Hash(PRK, T(i-1) || info || i)
        /// (RFC 5869 §2.3). okm must not overlap prk or info.
        /// </summary>
        public void Expand(byte[] prk, int prkOffset, int prkLength, byte[] info, int infoOffset, int infoLength,
            byte[] okm, int okmOffset, int okmLength)
        {
            CryptoUtil.CheckRange(prk, prkOffset, prkLength, "prk");
            if (prkLength < HashLength) throw new ArgumentException("PRK shorter than HashLen (RFC 5869 2.3)", "prk");
            if (infoLength != 0) CryptoUtil.CheckRange(info, infoOffset, infoLength, "info");
            if (okmLength > MaxOutputLength) throw new ArgumentException("L > 255*HashLen", "okmLength");
            CryptoUtil.CheckRange(okm, okmOffset, okmLength, "okm");

            _hmac.Init(prk, prkOffset, prkLength);
            int done = 0;
            int i = 1;
            while (done < okmLength)
            {
                if (i > 1) _hmac.Update(_t, 0, HashLength);
                if (infoLength > 0) _hmac.Update(info, infoOffset, infoLength);
                _counter[0] = (byte)i;
                _hmac.Update(_counter, 0, 1);
                _hmac.Final(_t, 0);
                int n = okmLength - done;
                if (n > HashLength) n = HashLength;
                Array.Copy(_t, 0, okm, okmOffset + done, n);
                done += n;
                i++;
            }

            Array.Clear(_t, 0, HashLength);
            _counter[0] = 0;
            _hmac.Clear();
        }
    }
}

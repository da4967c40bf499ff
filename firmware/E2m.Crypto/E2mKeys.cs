#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>
    /// The e2m key hierarchy of DESIGN.md §2 / §5 on the TS 33.220 Annex B KDF. The FC values are not
    /// 3GPP allocations (none exists for e2m); they are chosen outside every published 3GPP KDF range
    /// and live here only. Zero allocations per call; internal key copies are zeroised after each call.
    /// </summary>
    public sealed class E2mKeys
    {
        // DESIGN.md §2, §5: function codes (TS 33.220 Annex B "FC"), not allocated by 3GPP.
        public const byte FcE2mInt = 0xE0;
        public const byte FcE2mKey = 0xE1;
        public const byte FcE2mKid = 0xE2;
        public const byte FcE2mAccess = 0xE3;

        public const int IntKeyLength = 32;
        public const int KeyLength = 32;
        public const int KidLength = 8;          // DESIGN.md §2: first 8 octets
        public const int MaxEmseIdLength = 255;  // an FQDN is at most 253 octets (RFC 1035 §2.3.4)

        // DESIGN.md §2: P0 strings, UTF-8 (ASCII).
        /// <summary>"e2m_CIoT"</summary>
        public static readonly byte[] P0E2mCiot = { 0x65, 0x32, 0x6d, 0x5f, 0x43, 0x49, 0x6f, 0x54 };

        /// <summary>"e2m-kid"</summary>
        public static readonly byte[] P0E2mKid = { 0x65, 0x32, 0x6d, 0x2d, 0x6b, 0x69, 0x64 };

        /// <summary>"e2m_access"</summary>
        public static readonly byte[] P0E2mAccess = { 0x65, 0x32, 0x6d, 0x5f, 0x61, 0x63, 0x63, 0x65, 0x73, 0x73 };

        private const int CkLength = 16, IkLength = 16;

        private readonly Kdf _kdf;
        private readonly byte[] _ckIk = new byte[CkLength + IkLength];
        private readonly byte[] _full = new byte[Kdf.OutputLength];

        public E2mKeys(IHmacSha256 hmac)
        {
            if (hmac == null) throw new ArgumentNullException("hmac");
            // Longest S: FC || EMSE_Id || L0 || "e2m_CIoT" || L1.
            _kdf = new Kdf(hmac, 1 + MaxEmseIdLength + 2 + 8 + 2);
        }

        /// <summary>e2m_int_key = KDF(CK || IK, FC_E2M_INT, P0 = "e2m_CIoT") (DESIGN.md §2).</summary>
        public void DeriveIntKey(byte[] ck, byte[] ik, byte[] intKey)
        {
            CryptoUtil.CheckExact(intKey, IntKeyLength, "intKey");
            LoadCkIk(ck, ik);
            _kdf.Begin(FcE2mInt);
            _kdf.AddParameter(P0E2mCiot, 0, P0E2mCiot.Length);
            _kdf.Derive(_ckIk, 0, _ckIk.Length, intKey, 0);
            Array.Clear(_ckIk, 0, _ckIk.Length);
        }

        /// <summary>e2m_key = KDF(e2m_int_key, FC_E2M_KEY, P0 = EMSE_Id, P1 = "e2m_CIoT") (DESIGN.md §2).</summary>
        public void DeriveKey(byte[] intKey, byte[] emseIdUtf8, int offset, int length, byte[] key)
        {
            CryptoUtil.CheckExact(intKey, IntKeyLength, "intKey");
            CryptoUtil.CheckExact(key, KeyLength, "key");
            CryptoUtil.CheckRange(emseIdUtf8, offset, length, "emseIdUtf8");
            if (length == 0 || length > MaxEmseIdLength) throw new ArgumentException("EMSE_Id length 1..255", "emseIdUtf8");
            _kdf.Begin(FcE2mKey);
            _kdf.AddParameter(emseIdUtf8, offset, length);
            _kdf.AddParameter(P0E2mCiot, 0, P0E2mCiot.Length);
            _kdf.Derive(intKey, 0, IntKeyLength, key, 0);
        }

        /// <summary>KID = first 8 octets of KDF(e2m_int_key, FC_E2M_KID, P0 = "e2m-kid") (DESIGN.md §2).</summary>
        public void DeriveKid(byte[] intKey, byte[] kid)
        {
            CryptoUtil.CheckExact(intKey, IntKeyLength, "intKey");
            CryptoUtil.CheckExact(kid, KidLength, "kid");
            _kdf.Begin(FcE2mKid);
            _kdf.AddParameter(P0E2mKid, 0, P0E2mKid.Length);
            _kdf.Derive(intKey, 0, IntKeyLength, _full, 0);
            Array.Copy(_full, 0, kid, 0, KidLength);
            Array.Clear(_full, 0, _full.Length);
        }

        /// <summary>
        /// CK' || IK' = KDF(CK || IK, FC_E2M_ACCESS, P0 = "e2m_access"); CK' = first 16, IK' = last 16
        /// (DESIGN.md §5, access key separation).
        /// </summary>
        public void DeriveAccessKeys(byte[] ck, byte[] ik, byte[] ckPrime, byte[] ikPrime)
        {
            CryptoUtil.CheckExact(ckPrime, CkLength, "ckPrime");
            CryptoUtil.CheckExact(ikPrime, IkLength, "ikPrime");
            LoadCkIk(ck, ik);
            _kdf.Begin(FcE2mAccess);
            _kdf.AddParameter(P0E2mAccess, 0, P0E2mAccess.Length);
            _kdf.Derive(_ckIk, 0, _ckIk.Length, _full, 0);
            Array.Clear(_ckIk, 0, _ckIk.Length);
            Array.Copy(_full, 0, ckPrime, 0, CkLength);
            Array.Copy(_full, CkLength, ikPrime, 0, IkLength);
            Array.Clear(_full, 0, _full.Length);
        }

        // Key = CK || IK, CK first, as returned by the USIM (DESIGN.md §2).
        private void LoadCkIk(byte[] ck, byte[] ik)
        {
            CryptoUtil.CheckExact(ck, CkLength, "ck");
            CryptoUtil.CheckExact(ik, IkLength, "ik");
            Array.Copy(ck, 0, _ckIk, 0, CkLength);
            Array.Copy(ik, 0, _ckIk, CkLength, IkLength);
        }
    }
}

using System;
using System.Security.Cryptography;
using System.Text;
using E2m.Crypto;
using E2m.Hal.Host;

namespace E2m.Server.Emks.Keys
{
    /// <summary>
    /// The EMKS side of the key hierarchy (DESIGN.md §2, §3) on the shared portable <see cref="E2mKeys"/> with
    /// platform HMAC. One <see cref="E2mKeys"/> per thread ([ThreadStatic]): the portable class is not thread-safe
    /// and allocation-free per call.
    /// </summary>
    public static class E2mKeyDerivation
    {
        /// <summary>"e2m-bs-ok" (DESIGN.md §3, confirmation MAC label), ASCII.</summary>
        public static ReadOnlySpan<byte> ConfirmationLabel => "e2m-bs-ok"u8;

        public const int ConfirmationMacLength = 8;

        [ThreadStatic]
        private static E2mKeys? t_keys;

        private static E2mKeys Keys => t_keys ??= new E2mKeys(new PlatformCryptoProvider().CreateHmacSha256());

        /// <summary>e2m_key = KDF(e2m_int_key, FC_E2M_KEY, P0 = EMSE_Id, P1 = "e2m_CIoT") (DESIGN.md §2).</summary>
        public static byte[] DeriveKey(byte[] intKey, string emseId)
        {
            byte[] id = Encoding.UTF8.GetBytes(emseId);
            if (id.Length == 0 || id.Length > E2mKeys.MaxEmseIdLength) throw new ArgumentException("EMSE_Id must be 1..255 octets of UTF-8", nameof(emseId));
            var key = new byte[E2mKeys.KeyLength];
            Keys.DeriveKey(intKey, id, 0, id.Length, key);
            return key;
        }

        /// <summary>KID = first 8 octets of KDF(e2m_int_key, FC_E2M_KID, P0 = "e2m-kid") (DESIGN.md §2).</summary>
        public static byte[] DeriveKid(byte[] intKey)
        {
            var kid = new byte[E2mKeys.KidLength];
            Keys.DeriveKid(intKey, kid);
            return kid;
        }

        /// <summary>e2m_int_key = KDF(CK || IK, FC_E2M_INT, P0 = "e2m_CIoT") (DESIGN.md §2).</summary>
        public static byte[] DeriveIntKey(byte[] ck, byte[] ik)
        {
            var intKey = new byte[E2mKeys.IntKeyLength];
            Keys.DeriveIntKey(ck, ik, intKey);
            return intKey;
        }

        /// <summary>mac = first 8 octets of HMAC-SHA-256(e2m_int_key, "e2m-bs-ok" || kid) (DESIGN.md §3).</summary>
        public static byte[] ConfirmationMac(byte[] intKey, byte[] kid)
        {
            Span<byte> msg = stackalloc byte[ConfirmationLabel.Length + E2mKeys.KidLength];
            if (kid.Length != E2mKeys.KidLength) throw new ArgumentException("KID is 8 octets", nameof(kid));
            ConfirmationLabel.CopyTo(msg);
            kid.CopyTo(msg[ConfirmationLabel.Length..]);
            Span<byte> full = stackalloc byte[32];
            HMACSHA256.HashData(intKey, msg, full);
            byte[] mac = full[..ConfirmationMacLength].ToArray();
            CryptographicOperations.ZeroMemory(full);
            return mac;
        }
    }
}

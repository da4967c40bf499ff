using System;
using System.Security.Cryptography;
using System.Text;

namespace E2m.Server.Emks.Keys
{
    /// <summary>
    /// The device identifier given to an EMSE (DESIGN.md §6, issue 6 point 2): the subscription's external id
    /// when one is set, otherwise a per-EMSE pseudonym that never reveals the IMSI and cannot be linked across EMSEs:
    /// <c>"p-" || lowercase base32 (RFC 4648 §6, no padding) of the first 16 octets of
    /// HMAC-SHA-256(pseudonym secret, len(EMSE_Id) (2 octets BE) || EMSE_Id || subscription id)</c>
    /// (UTF-8; the length prefix keeps (EMSE_Id, subscription id) pairs unambiguous).
    /// Stable for one subscription and one EMSE as long as the pseudonym secret is kept.
    /// </summary>
    public sealed class DevicePseudonym
    {
        public const int SecretLength = 32;
        public const int PseudonymOctets = 16;
        public const string Prefix = "p-";

        private readonly byte[] _secret;

        public DevicePseudonym(byte[] secret)
        {
            if (secret is null || secret.Length != SecretLength) throw new ArgumentException("pseudonym secret must be 32 octets", nameof(secret));
            _secret = (byte[])secret.Clone();
        }

        /// <summary>The identifier to hand to <paramref name="emseId"/> for this subscription.</summary>
        public string DeviceIdFor(string emseId, string subscriptionId, string? externalId)
        {
            if (!string.IsNullOrEmpty(externalId)) return externalId;
            return Pseudonym(emseId, subscriptionId);
        }

        public string Pseudonym(string emseId, string subscriptionId)
        {
            byte[] e = Encoding.UTF8.GetBytes(emseId);
            byte[] s = Encoding.UTF8.GetBytes(subscriptionId);
            var msg = new byte[2 + e.Length + s.Length];
            msg[0] = (byte)(e.Length >> 8);
            msg[1] = (byte)e.Length;
            e.CopyTo(msg, 2);
            s.CopyTo(msg, 2 + e.Length);
            byte[] mac = HMACSHA256.HashData(_secret, msg);
            return Prefix + Base32Lower(mac.AsSpan(0, PseudonymOctets));
        }

        // RFC 4648 §6 alphabet, lowercase, no padding.
        internal static string Base32Lower(ReadOnlySpan<byte> data)
        {
            const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";
            var sb = new StringBuilder((data.Length * 8 + 4) / 5);
            int buffer = 0, bits = 0;
            foreach (byte b in data)
            {
                buffer = (buffer << 8) | b;
                bits += 8;
                while (bits >= 5)
                {
                    sb.Append(Alphabet[(buffer >> (bits - 5)) & 31]);
                    bits -= 5;
                }
            }

            if (bits > 0) sb.Append(Alphabet[(buffer << (5 - bits)) & 31]);
            return sb.ToString();
        }
    }
}

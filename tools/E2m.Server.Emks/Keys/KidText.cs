using System;

namespace E2m.Server.Emks.Keys
{
    /// <summary>KID text form in URLs and JSON: lowercase hex of the 8-octet KID (DESIGN.md §2) or of its 7-octet
    /// OSCORE 'kid' prefix (RFC 8613 §3.3 limit; servers.md "profile fact").</summary>
    public static class KidText
    {
        public const int KidLength = 8;
        public const int OscoreKidLength = 7;

        /// <summary>Parses 14 or 16 hex digits (either case); false for anything else.</summary>
        public static bool TryParse(string? text, out byte[] kid)
        {
            kid = Array.Empty<byte>();
            if (text is null || (text.Length != 2 * KidLength && text.Length != 2 * OscoreKidLength)) return false;
            foreach (char c in text)
            {
                if (!Uri.IsHexDigit(c)) return false;
            }

            kid = Convert.FromHexString(text);
            return true;
        }

        public static string Format(byte[] kid) => Convert.ToHexStringLower(kid);
    }
}

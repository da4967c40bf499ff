#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>
    /// UTF-8 encoder (RFC 3629 §3) for string to octets, with surrogate pairs; an unpaired surrogate is
    /// encoded as U+FFFD like .NET's Encoding.UTF8. Needed because nanoFramework code here must not use
    /// System.Text. NFKC normalisation (TS 33.220 B.2.1.2) is not applied: callers pass ASCII/NFKC ids.
    /// </summary>
    public static class Utf8
    {
        public static int GetByteCount(string s)
        {
            if (s == null) throw new ArgumentNullException("s");
            int n = 0;
            int len = s.Length;
            for (int i = 0; i < len; i++)
            {
                int c = s[i];
                if (c < 0x80) n += 1;
                else if (c < 0x800) n += 2;
                else if (c >= 0xD800 && c <= 0xDBFF && i + 1 < len && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF)
                {
                    n += 4;
                    i++;
                }
                else n += 3; // BMP char, or lone surrogate -> U+FFFD (3 octets)
            }

            return n;
        }

        public static byte[] GetBytes(string s)
        {
            byte[] b = new byte[GetByteCount(s)];
            int p = 0;
            int len = s.Length;
            for (int i = 0; i < len; i++)
            {
                int c = s[i];
                if (c < 0x80)
                {
                    b[p++] = (byte)c;
                }
                else if (c < 0x800)
                {
                    b[p++] = (byte)(0xC0 | (c >> 6));
                    b[p++] = (byte)(0x80 | (c & 0x3F));
                }
                else if (c >= 0xD800 && c <= 0xDBFF && i + 1 < len && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF)
                {
                    int cp = 0x10000 + ((c - 0xD800) << 10) + (s[i + 1] - 0xDC00);
                    i++;
                    b[p++] = (byte)(0xF0 | (cp >> 18));
                    b[p++] = (byte)(0x80 | ((cp >> 12) & 0x3F));
                    b[p++] = (byte)(0x80 | ((cp >> 6) & 0x3F));
                    b[p++] = (byte)(0x80 | (cp & 0x3F));
                }
                else
                {
                    if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD; // unpaired surrogate
                    b[p++] = (byte)(0xE0 | (c >> 12));
                    b[p++] = (byte)(0x80 | ((c >> 6) & 0x3F));
                    b[p++] = (byte)(0x80 | (c & 0x3F));
                }
            }

            return b;
        }
    }
}

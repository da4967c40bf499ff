using System;

namespace E2m.Coap
{
    /// <summary>
    /// Tiny UTF-8 encoder (RFC 3629 §3) for strings, with no allocation and no System.Text
    /// (absent on nanoFramework). Unpaired surrogates are a programming error (ArgumentException).
    /// Also a validator for untrusted UTF-8 (RFC 3629 §4, shortest form, no surrogates).
    /// </summary>
    public static class Utf8
    {
        /// <summary>Number of UTF-8 octets for s.</summary>
        public static int GetByteCount(string s)
        {
            if (s == null) throw new ArgumentNullException("s");
            int n = 0;
            int len = s.Length;
            for (int i = 0; i < len; i++)
            {
                char c = s[i];
                if (c < 0x80) n += 1;
                else if (c < 0x800) n += 2;
                else if (c >= 0xD800 && c <= 0xDBFF)
                {
                    if (i + 1 >= len || s[i + 1] < 0xDC00 || s[i + 1] > 0xDFFF) throw new ArgumentException("unpaired surrogate");
                    n += 4;
                    i++;
                }
                else if (c >= 0xDC00 && c <= 0xDFFF) throw new ArgumentException("unpaired surrogate");
                else n += 3;
            }
            return n;
        }

        /// <summary>Writes s as UTF-8 at buffer[offset..]; returns octets written. Caller checks room with GetByteCount.</summary>
        public static int GetBytes(string s, byte[] buffer, int offset)
        {
            int o = offset;
            int len = s.Length;
            for (int i = 0; i < len; i++)
            {
                int c = s[i];
                if (c < 0x80)
                {
                    buffer[o++] = (byte)c;
                }
                else if (c < 0x800)
                {
                    buffer[o++] = (byte)(0xC0 | (c >> 6));
                    buffer[o++] = (byte)(0x80 | (c & 0x3F));
                }
                else if (c >= 0xD800 && c <= 0xDBFF)
                {
                    if (i + 1 >= len) throw new ArgumentException("unpaired surrogate");
                    int lo = s[i + 1];
                    if (lo < 0xDC00 || lo > 0xDFFF) throw new ArgumentException("unpaired surrogate");
                    int cp = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    buffer[o++] = (byte)(0xF0 | (cp >> 18));
                    buffer[o++] = (byte)(0x80 | ((cp >> 12) & 0x3F));
                    buffer[o++] = (byte)(0x80 | ((cp >> 6) & 0x3F));
                    buffer[o++] = (byte)(0x80 | (cp & 0x3F));
                    i++;
                }
                else if (c >= 0xDC00 && c <= 0xDFFF)
                {
                    throw new ArgumentException("unpaired surrogate");
                }
                else
                {
                    buffer[o++] = (byte)(0xE0 | (c >> 12));
                    buffer[o++] = (byte)(0x80 | ((c >> 6) & 0x3F));
                    buffer[o++] = (byte)(0x80 | (c & 0x3F));
                }
            }
            return o - offset;
        }

        /// <summary>True when buffer[offset..offset+length) is well-formed UTF-8 (RFC 3629 §4).</summary>
        public static bool IsValid(byte[] buffer, int offset, int length)
        {
            int i = offset;
            int end = offset + length;
            while (i < end)
            {
                int b = buffer[i];
                if (b < 0x80) { i++; continue; }
                int need;
                int min;
                int cp;
                if ((b & 0xE0) == 0xC0) { need = 1; min = 0x80; cp = b & 0x1F; }
                else if ((b & 0xF0) == 0xE0) { need = 2; min = 0x800; cp = b & 0x0F; }
                else if ((b & 0xF8) == 0xF0) { need = 3; min = 0x10000; cp = b & 0x07; }
                else return false;
                if (i + need >= end) return false;
                for (int k = 1; k <= need; k++)
                {
                    int cb = buffer[i + k];
                    if ((cb & 0xC0) != 0x80) return false;
                    cp = (cp << 6) | (cb & 0x3F);
                }
                if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
                i += need + 1;
            }
            return true;
        }
    }
}

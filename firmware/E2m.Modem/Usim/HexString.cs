namespace E2m.Modem.Usim
{
    /// <summary>
    /// Hex text as used by +CSIM / +CGLA / +CRSM (TS 27.007 §8.17, §8.18, §8.43: "hexadecimal character format",
    /// two characters per octet). Portable: nanoFramework mscorlib has no Convert.FromHexString / ToHexString,
    /// so this is done by hand. Encoding emits upper case (as the TS 27.007 examples and modems do); decoding
    /// accepts both cases and rejects anything else with <see cref="UsimException"/> (untrusted modem input).
    /// </summary>
    public static class HexString
    {
        private const string Digits = "0123456789ABCDEF";

        /// <summary>Upper-case hex text of <paramref name="count"/> octets of <paramref name="data"/>.</summary>
        public static string Encode(byte[] data, int offset, int count)
        {
            if (data == null) throw new System.ArgumentNullException("data");
            if (offset < 0 || count < 0 || offset + count > data.Length) throw new System.ArgumentOutOfRangeException("count");
            char[] chars = new char[count * 2];
            for (int i = 0; i < count; i++)
            {
                int b = data[offset + i];
                chars[2 * i] = Digits[b >> 4];
                chars[2 * i + 1] = Digits[b & 0x0F];
            }
            return new string(chars);
        }

        /// <summary>Upper-case hex text of the whole array.</summary>
        public static string Encode(byte[] data)
        {
            if (data == null) throw new System.ArgumentNullException("data");
            return Encode(data, 0, data.Length);
        }

        /// <summary>Writes the hex text of <paramref name="count"/> octets into <paramref name="dest"/> (2 chars per octet); returns the chars written.</summary>
        public static int Encode(byte[] data, int offset, int count, char[] dest, int destOffset)
        {
            if (data == null || dest == null) throw new System.ArgumentNullException("data");
            if (offset < 0 || count < 0 || offset + count > data.Length) throw new System.ArgumentOutOfRangeException("count");
            if (destOffset < 0 || destOffset + 2 * count > dest.Length) throw new System.ArgumentOutOfRangeException("destOffset");
            for (int i = 0; i < count; i++)
            {
                int b = data[offset + i];
                dest[destOffset + 2 * i] = Digits[b >> 4];
                dest[destOffset + 2 * i + 1] = Digits[b & 0x0F];
            }
            return 2 * count;
        }

        /// <summary>
        /// Decodes <paramref name="charCount"/> hex characters of <paramref name="text"/> starting at
        /// <paramref name="start"/> into <paramref name="dest"/>; returns the number of octets written.
        /// Throws <see cref="UsimException"/> (<see cref="UsimError.BadHex"/>) on odd length or a non-hex character,
        /// <see cref="UsimException"/> (<see cref="UsimError.Truncated"/>) if <paramref name="dest"/> is too small
        /// (the untrusted side chose the length).
        /// </summary>
        public static int Decode(string text, int start, int charCount, byte[] dest, int destOffset)
        {
            if (text == null || dest == null) throw new System.ArgumentNullException("text");
            if (start < 0 || charCount < 0 || start + charCount > text.Length) throw new System.ArgumentOutOfRangeException("charCount");
            if ((charCount & 1) != 0) throw new UsimException(UsimError.BadHex, start + charCount - 1);
            int octets = charCount / 2;
            if (destOffset < 0 || destOffset + octets > dest.Length) throw new UsimException(UsimError.Truncated, start, "response longer than the buffer");
            for (int i = 0; i < octets; i++)
            {
                int hi = Nibble(text[start + 2 * i]);
                int lo = Nibble(text[start + 2 * i + 1]);
                if (hi < 0) throw new UsimException(UsimError.BadHex, start + 2 * i);
                if (lo < 0) throw new UsimException(UsimError.BadHex, start + 2 * i + 1);
                dest[destOffset + i] = (byte)((hi << 4) | lo);
            }
            return octets;
        }

        /// <summary>Decodes a whole hex string into a new array (allocating; for tests and cold paths).</summary>
        public static byte[] Decode(string text)
        {
            if (text == null) throw new System.ArgumentNullException("text");
            byte[] result = new byte[text.Length / 2];
            Decode(text, 0, text.Length, result, 0);
            return result;
        }

        /// <summary>Value of one hex character, or -1.</summary>
        public static int Nibble(char c)
        {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        }
    }
}

using System;

namespace E2m.Device.Tests
{
    /// <summary>Hex for the inlined vectors (no System.Text on the device): lowercase, no separators.</summary>
    internal static class Hex
    {
        public static byte[] Decode(string hex)
        {
            if ((hex.Length & 1) != 0)
            {
                throw new ArgumentException("odd hex length");
            }

            byte[] result = new byte[hex.Length / 2];
            for (int i = 0; i < result.Length; i++)
            {
                result[i] = (byte)((Nibble(hex[2 * i]) << 4) | Nibble(hex[(2 * i) + 1]));
            }

            return result;
        }

        public static string Encode(byte[] data, int offset, int length)
        {
            const string digits = "0123456789abcdef";
            char[] chars = new char[length * 2];
            for (int i = 0; i < length; i++)
            {
                chars[2 * i] = digits[data[offset + i] >> 4];
                chars[(2 * i) + 1] = digits[data[offset + i] & 0x0F];
            }

            return new string(chars);
        }

        public static string Encode(byte[] data)
        {
            return Encode(data, 0, data.Length);
        }

        private static int Nibble(char c)
        {
            if (c >= '0' && c <= '9')
            {
                return c - '0';
            }

            if (c >= 'a' && c <= 'f')
            {
                return c - 'a' + 10;
            }

            if (c >= 'A' && c <= 'F')
            {
                return c - 'A' + 10;
            }

            throw new ArgumentException("not a hex digit");
        }
    }
}

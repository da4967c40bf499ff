using System;

namespace E2m.TestSupport
{
    public static class Hex
    {
        public static byte[] Decode(string? hex) => string.IsNullOrEmpty(hex) ? Array.Empty<byte>() : Convert.FromHexString(hex);

        public static string Encode(byte[] data) => Convert.ToHexStringLower(data);

        public static string Encode(byte[] data, int offset, int length) => Convert.ToHexStringLower(data, offset, length);
    }
}

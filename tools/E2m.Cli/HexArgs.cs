using System;
using System.CommandLine;

namespace E2m.Cli
{
    /// <summary>Hex option parsing with the exact-length checks of the specs; failures are usage errors (exit 2).</summary>
    public static class HexArgs
    {
        public static Option<string> Required(string name, string description) =>
            new(name) { Description = description, Required = true };

        public static Option<string> Optional(string name, string description) =>
            new(name) { Description = description };

        /// <summary>Parses <paramref name="value"/> as hex of exactly <paramref name="octets"/> octets (any length when negative).</summary>
        public static byte[] Parse(string optionName, string? value, int octets)
        {
            if (value == null)
            {
                throw new UsageException(optionName + " is required");
            }

            string hex = value.Trim();
            if (hex.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            {
                hex = hex.Substring(2);
            }

            if (hex.Length % 2 != 0)
            {
                throw new UsageException($"{optionName}: odd number of hex digits ({hex.Length})");
            }

            foreach (char c in hex)
            {
                if (!Uri.IsHexDigit(c))
                {
                    throw new UsageException($"{optionName}: '{c}' is not a hex digit");
                }
            }

            byte[] bytes = Convert.FromHexString(hex);
            if (octets >= 0 && bytes.Length != octets)
            {
                throw new UsageException($"{optionName}: expected {octets} octets ({octets * 2} hex digits), got {bytes.Length}");
            }

            return bytes;
        }

        public static byte[] Parse(ParseResult parsed, Option<string> option, int octets) =>
            Parse(option.Name, parsed.GetValue(option), octets);
    }
}

#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>Small helpers shared by the primitives: constant-time comparison and zeroisation.</summary>
    public static class CryptoUtil
    {
        /// <summary>
        /// Compares <paramref name="len"/> octets in time that depends only on <paramref name="len"/>
        /// (no early exit), as required for MAC/tag verification (RFC 3610 §2.5, TS 33.102 §6.3.3).
        /// </summary>
        public static bool FixedTimeEquals(byte[] a, int aOff, byte[] b, int bOff, int len)
        {
            if (a == null) throw new ArgumentNullException("a");
            if (b == null) throw new ArgumentNullException("b");
            CheckRange(a, aOff, len, "a");
            CheckRange(b, bOff, len, "b");
            int diff = 0;
            for (int i = 0; i < len; i++)
            {
                diff |= a[aOff + i] ^ b[bOff + i];
            }

            return diff == 0;
        }

        /// <summary>Overwrites the whole array with zeros (null is ignored).</summary>
        public static void Zeroize(byte[] b)
        {
            if (b != null)
            {
                Array.Clear(b, 0, b.Length);
            }
        }

        /// <summary>Throws ArgumentException unless [offset, offset+length) lies inside buffer (also for the host's AES-CCM).</summary>
        public static void CheckRange(byte[] buffer, int offset, int length, string name)
        {
            if (buffer == null) throw new ArgumentNullException(name);
            if (offset < 0 || length < 0 || offset > buffer.Length - length)
            {
                throw new ArgumentOutOfRangeException(name);
            }
        }

        /// <summary>
        /// Block ciphers that process front to back may write at or before the read position of the same buffer, not
        /// ahead of it: throws ArgumentException when <paramref name="output"/> starts inside the
        /// <paramref name="length"/> input octets after <paramref name="inputOffset"/> (AES-CCM, RFC 3610).
        /// </summary>
        public static void CheckNotAhead(byte[] input, int inputOffset, int length, byte[] output, int outputOffset)
        {
            if (ReferenceEquals(input, output) && outputOffset > inputOffset && outputOffset < inputOffset + length)
            {
                throw new ArgumentException("output overlaps input ahead of it", "output");
            }
        }

        /// <summary>Throws ArgumentException unless the buffer has exactly the expected length.</summary>
        internal static void CheckExact(byte[] buffer, int length, string name)
        {
            if (buffer == null) throw new ArgumentNullException(name);
            if (buffer.Length != length) throw new ArgumentException("length must be " + length.ToString(), name);
        }

        /// <summary>As <see cref="CheckExact"/> but null is accepted (optional output).</summary>
        internal static void CheckExactOrNull(byte[] buffer, int length, string name)
        {
            if (buffer != null && buffer.Length != length)
            {
                throw new ArgumentException("length must be " + length.ToString(), name);
            }
        }
    }
}

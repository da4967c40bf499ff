using System;

namespace E2m.Coap
{
    /// <summary>
    /// IEEE 754 binary16/32/64 handled as bit patterns with integer arithmetic only (E2m.Coap has
    /// no floating point: nanoFramework targets without an FPU, and exact reproducibility).
    /// </summary>
    public static class FloatBits
    {
        private const ulong MantissaMask = 0x000FFFFFFFFFFFFFUL;

        /// <summary>Largest |exponent| accepted by DecimalToDouble.</summary>
        public const int MaxDecimalExponent = 18;

        private static int RawExponent(ulong d) { return (int)((d >> 52) & 0x7FF); }

        private static bool IsZero(ulong d) { return (d & 0x7FFFFFFFFFFFFFFFUL) == 0; }

        /// <summary>
        /// True when binary16 holds the binary64 value exactly (RFC 8949 §4.1 preferred serialization): ±0, a normal or a
        /// subnormal binary16 number, ±infinity, or a NaN whose payload survives the shorter mantissa (low 42 bits zero).
        /// </summary>
        public static bool FitsHalf(ulong d) { return Fits(d, 10, 15); }

        /// <summary>True when binary32 holds the binary64 value exactly (as <see cref="FitsHalf"/>, for binary32).</summary>
        public static bool FitsSingle(ulong d) { return Fits(d, 23, 127); }

        /// <summary>binary64 → binary16 for values where FitsHalf is true.</summary>
        public static ushort DoubleToHalfExact(ulong d)
        {
            if (!FitsHalf(d)) throw new ArgumentException("not exactly representable as binary16");
            return (ushort)Narrow(d, 10, 15);
        }

        /// <summary>binary64 → binary32 for values where FitsSingle is true.</summary>
        public static uint DoubleToSingleExact(ulong d)
        {
            if (!FitsSingle(d)) throw new ArgumentException("not exactly representable as binary32");
            return (uint)Narrow(d, 23, 127);
        }

        // A format with m mantissa bits and exponent bias b (binary16: 10, 15; binary32: 23, 127). Its normal numbers have
        // unbiased exponents 1-b..b, its subnormals are k × 2^(1-b-m), k = 1 .. 2^m - 1.
        private static bool Fits(ulong d, int m, int bias)
        {
            if (IsZero(d)) return true;
            int e = RawExponent(d);
            ulong mantissa = d & MantissaMask;
            if (e == 0x7FF) return (mantissa & ((1UL << (52 - m)) - 1)) == 0; // ±infinity, or a NaN whose payload fits
            if (e == 0) return false;                                        // a binary64 subnormal is far below both
            int unbiased = e - 1023;
            if (unbiased >= 1 - bias && unbiased <= bias) return (mantissa & ((1UL << (52 - m)) - 1)) == 0;
            int shift = SubnormalShift(unbiased, m, bias);
            if (shift < 52 - m || shift > 52) return false;                    // above the normals or below the smallest subnormal
            return ((mantissa | (1UL << 52)) & ((1UL << shift) - 1)) == 0;
        }

        // For a value 1.f × 2^unbiased below the normal range: the significand 1.f (53 bits) shifted right by this many bits is
        // the subnormal's integer k (value = k × 2^(1-bias-m)).
        private static int SubnormalShift(int unbiased, int m, int bias) { return 52 - (unbiased - (1 - bias - m)); }

        private static ulong Narrow(ulong d, int m, int bias)
        {
            int width = 1 + (m == 10 ? 5 : 8) + m;
            ulong sign = (d >> 63) << (width - 1);
            if (IsZero(d)) return sign;
            int e = RawExponent(d);
            ulong mantissa = d & MantissaMask;
            ulong expAll = (1UL << (width - 1 - m)) - 1;
            if (e == 0x7FF) return sign | (expAll << m) | (mantissa >> (52 - m));
            int unbiased = e - 1023;
            if (unbiased >= 1 - bias) return sign | ((ulong)(unbiased + bias) << m) | (mantissa >> (52 - m));
            return sign | ((mantissa | (1UL << 52)) >> SubnormalShift(unbiased, m, bias)); // subnormal: exponent field 0
        }

        /// <summary>binary16 → binary64 (exact; subnormals, infinities and NaN included).</summary>
        public static ulong HalfToDouble(ushort h)
        {
            ulong sign = (ulong)(h >> 15) << 63;
            int e = (h >> 10) & 0x1F;
            ulong m = (ulong)(h & 0x3FF);
            if (e == 0x1F) return sign | (0x7FFUL << 52) | (m << 42);
            if (e == 0)
            {
                if (m == 0) return sign;
                int unbiased = -14;
                while ((m & 0x400) == 0) { m <<= 1; unbiased--; }   // normalise the subnormal
                m &= 0x3FF;
                return sign | ((ulong)(unbiased + 1023) << 52) | (m << 42);
            }
            return sign | ((ulong)(e - 15 + 1023) << 52) | (m << 42);
        }

        /// <summary>binary32 → binary64 (exact; subnormals, infinities and NaN included).</summary>
        public static ulong SingleToDouble(uint f)
        {
            ulong sign = (ulong)(f >> 31) << 63;
            int e = (int)((f >> 23) & 0xFF);
            ulong m = f & 0x7FFFFF;
            if (e == 0xFF) return sign | (0x7FFUL << 52) | (m << 29);
            if (e == 0)
            {
                if (m == 0) return sign;
                int unbiased = -126;
                while ((m & 0x800000) == 0) { m <<= 1; unbiased--; }
                m &= 0x7FFFFF;
                return sign | ((ulong)(unbiased + 1023) << 52) | (m << 29);
            }
            return sign | ((ulong)(e - 127 + 1023) << 52) | (m << 29);
        }

        private static ulong Pow10(int k)
        {
            ulong p = 1;
            for (int i = 0; i < k; i++) p *= 10;
            return p;
        }

        /// <summary>
        /// mantissa × 10^exponent as the correctly rounded (round half to even) binary64 bit
        /// pattern, by integer long division only. |exponent| ≤ 18.
        /// </summary>
        public static ulong DecimalToDouble(long mantissa, int exponent)
        {
            if (exponent < -MaxDecimalExponent || exponent > MaxDecimalExponent) throw new ArgumentOutOfRangeException("exponent");
            if (mantissa == 0) return 0;
            ulong sign = mantissa < 0 ? 1UL << 63 : 0;
            ulong a = mantissa < 0 ? (ulong)(-(mantissa + 1)) + 1 : (ulong)mantissa;

            if (exponent >= 0)
            {
                // a × 10^e exactly as a 128-bit value (hi:lo), then round to 53 bits.
                ulong hi = 0;
                ulong lo = a;
                for (int i = 0; i < exponent; i++)
                {
                    // (hi:lo) *= 10 with 32-bit limbs
                    ulong l0 = (lo & 0xFFFFFFFFUL) * 10;
                    ulong l1 = (lo >> 32) * 10 + (l0 >> 32);
                    lo = (l1 << 32) | (l0 & 0xFFFFFFFFUL);
                    hi = hi * 10 + (l1 >> 32);
                }
                return sign | Round128(hi, lo, 0, false);
            }

            // a / 10^k by restoring binary long division: quotient bits until ≥ 55 significant
            // bits, remainder kept as the sticky bit. d < 2^60, so rem < d and 2·rem+1 < 2^64.
            ulong d = Pow10(-exponent);
            int nbits = 64;
            while ((a >> (nbits - 1)) == 0) nbits--;
            ulong q = 0;
            ulong rem = 0;
            int fractionBits = 0;
            int consumed = 0;
            while (consumed < nbits || q < (1UL << 54))
            {
                ulong bit = consumed < nbits ? (a >> (nbits - 1 - consumed)) & 1 : 0;
                if (consumed >= nbits) fractionBits++;
                consumed++;
                rem = (rem << 1) | bit;
                q <<= 1;
                if (rem >= d)
                {
                    rem -= d;
                    q |= 1;
                }
            }
            // value = (q + rem/d) × 2^-fractionBits, q < 2^64
            return sign | Round128(0, q, fractionBits, rem != 0);
        }

        // Rounds the integer (hi:lo) × 2^-scale (plus a sticky fraction) to binary64 (positive).
        private static ulong Round128(ulong hi, ulong lo, int scale, bool sticky)
        {
            int len = hi != 0 ? 64 + BitLength(hi) : BitLength(lo);
            int shift = len - 53;
            ulong mant;
            if (shift <= 0)
            {
                mant = lo << -shift;   // exact (hi == 0 here, len ≤ 53)
                // sticky cannot matter here only if there is none; long division always yields ≥ 55 bits
            }
            else
            {
                // extract bits [shift .. shift+52], round bit at shift-1, the rest sticky
                mant = ShiftRight128(hi, lo, shift);
                bool roundBit = Bit128(hi, lo, shift - 1);
                bool rest = sticky || LowBitsNonZero(hi, lo, shift - 1);
                if (roundBit && (rest || (mant & 1) != 0))
                {
                    mant++;
                    if (mant == (1UL << 53))
                    {
                        mant >>= 1;
                        len++;
                    }
                }
            }
            int unbiased = len - 1 - scale;
            if (unbiased > 1023) throw new ArgumentOutOfRangeException("exponent"); // cannot happen for |e| ≤ 18
            return ((ulong)(unbiased + 1023) << 52) | (mant & MantissaMask);
        }

        private static int BitLength(ulong v)
        {
            int n = 0;
            while (v != 0) { v >>= 1; n++; }
            return n;
        }

        private static ulong ShiftRight128(ulong hi, ulong lo, int s)
        {
            if (s >= 64) return hi >> (s - 64);
            return (lo >> s) | (s == 0 ? 0 : hi << (64 - s));
        }

        private static bool Bit128(ulong hi, ulong lo, int i)
        {
            return i >= 64 ? ((hi >> (i - 64)) & 1) != 0 : ((lo >> i) & 1) != 0;
        }

        // any bit below position i (exclusive) set
        private static bool LowBitsNonZero(ulong hi, ulong lo, int i)
        {
            if (i <= 0) return false;
            if (i >= 64)
            {
                if (lo != 0) return true;
                int j = i - 64;
                return j > 0 && (hi & ((1UL << j) - 1)) != 0;
            }
            return (lo & ((1UL << i) - 1)) != 0;
        }
    }
}

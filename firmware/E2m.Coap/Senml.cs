using System;

namespace E2m.Coap
{
    /// <summary>SenML CBOR labels, RFC 8428 §6 Table 6.</summary>
    public static class SenmlLabel
    {
        public const int BaseVersion = -1;  // bver
        public const int BaseName = -2;     // bn
        public const int BaseTime = -3;     // bt
        public const int BaseUnit = -4;     // bu
        public const int BaseValue = -5;    // bv
        public const int BaseSum = -6;      // bs
        public const int Name = 0;          // n
        public const int Unit = 1;          // u
        public const int Value = 2;         // v
        public const int StringValue = 3;   // vs
        public const int BoolValue = 4;     // vb
        public const int Sum = 5;           // s
        public const int Time = 6;          // t
        public const int UpdateTime = 7;    // ut
        public const int DataValue = 8;     // vd

        /// <summary>Default (and highest understood) SenML version, RFC 8428 §4.4.</summary>
        public const int Version = 10;

        /// <summary>Times below 2^28 are relative to "now", RFC 8428 §4.5.3.</summary>
        public const long RelativeTimeLimit = 268435456;
    }

    /// <summary>
    /// One device reading (mutable, reuse one instance: no allocation). Value = Mantissa ×
    /// 10^Exponent (a scaled integer, no floating point on the device). Time is the SenML t field
    /// in seconds: an offset from the batch's base time when the batch has one, else relative to
    /// the moment the EMSE receives the batch (negative = in the past, RFC 8428 §4.5.3; DESIGN §7).
    /// </summary>
    public sealed class SenmlRecord
    {
        /// <summary>n: appended to the base name (RFC 8428 §4.5.1); null = omit.</summary>
        public string Name;

        /// <summary>u: SenML unit symbol (RFC 8428 §12.1, e.g. "Cel", "Wh"); null = omit.</summary>
        public string Unit;

        public long Mantissa;

        /// <summary>Decimal exponent, -18..18.</summary>
        public int Exponent;

        /// <summary>Whether t is written.</summary>
        public bool HasTime;

        public long Time;

        public void Set(string name, string unit, long mantissa, int exponent, bool hasTime, long time)
        {
            Name = name;
            Unit = unit;
            Mantissa = mantissa;
            Exponent = exponent;
            HasTime = hasTime;
            Time = time;
        }
    }
}

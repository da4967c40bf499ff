using E2m.Modem.Usim;

namespace E2m.Modem.Commands
{
    /// <summary>
    /// PSM timer codings used as 8-character bit strings by +CPSMS and +CEREG (TS 27.007 §7.38, §10.1.22):
    /// Active-Time T3324 is a "GPRS Timer 2" octet (TS 24.008 §10.5.7.4), Periodic-TAU T3412 extended is a
    /// "GPRS Timer 3" octet (TS 24.008 §10.5.7.4a). Bits 8..6 select the unit, bits 5..1 the value.
    /// Seconds are returned as long; -1 = timer deactivated.
    /// </summary>
    public static class PsmTimers
    {
        /// <summary>Bits 8..6 = '111': timer deactivated (both codings).</summary>
        public const int UnitDeactivated = 7;

        // TS 24.008 §10.5.7.4 Table 10.5.163: GPRS Timer 2 units in seconds for bits 8..6 = 000, 001, 010 (others: 1 min).
        private static readonly long[] Timer2Units = new long[] { 2, 60, 360, 60, 60, 60, 60, 0 };

        // TS 24.008 §10.5.7.4a Table 10.5.163a: GPRS Timer 3 units for 000 10 min, 001 1 h, 010 10 h, 011 2 s,
        // 100 30 s, 101 1 min, 110 320 h, 111 deactivated.
        private static readonly long[] Timer3Units = new long[] { 600, 3600, 36000, 2, 30, 60, 1152000, 0 };

        /// <summary>Parses exactly 8 '0'/'1' characters into the octet value.</summary>
        public static int ParseBits(string text, int start, int count, int positionForErrors)
        {
            if (count != 8) throw new UsimException(UsimError.BadAtSyntax, positionForErrors, "timer must be 8 bits");
            int v = 0;
            for (int i = 0; i < 8; i++)
            {
                char c = text[start + i];
                if (c != '0' && c != '1') throw new UsimException(UsimError.BadAtSyntax, positionForErrors + i, "timer bit");
                v = (v << 1) | (c - '0');
            }
            return v;
        }

        /// <summary>Eight-character bit string of an octet ("01000011").</summary>
        public static string ToBits(int octet)
        {
            if (octet < 0 || octet > 255) throw new System.ArgumentOutOfRangeException("octet");
            char[] c = new char[8];
            for (int i = 0; i < 8; i++) c[i] = (octet & (0x80 >> i)) != 0 ? '1' : '0';
            return new string(c);
        }

        /// <summary>T3324 (GPRS Timer 2) octet → seconds; -1 when deactivated.</summary>
        public static long ActiveTimeSeconds(int octet)
        {
            int unit = (octet >> 5) & 7;
            if (unit == UnitDeactivated) return -1;
            return Timer2Units[unit] * (octet & 0x1F);
        }

        /// <summary>T3412 extended (GPRS Timer 3) octet → seconds; -1 when deactivated.</summary>
        public static long PeriodicTauSeconds(int octet)
        {
            int unit = (octet >> 5) & 7;
            if (unit == UnitDeactivated) return -1;
            return Timer3Units[unit] * (octet & 0x1F);
        }

        /// <summary>
        /// Smallest GPRS Timer 2 octet (TS 24.008 §10.5.7.4) whose duration is ≥ <paramref name="seconds"/>
        /// (units tried from fine to coarse: 2 s, 1 min, 6 min); <paramref name="seconds"/> &lt; 0 → deactivated.
        /// </summary>
        public static int EncodeActiveTime(long seconds)
        {
            if (seconds < 0) return UnitDeactivated << 5;
            int[] order = new int[] { 0, 1, 2 };
            return Encode(seconds, Timer2Units, order);
        }

        /// <summary>
        /// Smallest GPRS Timer 3 octet (TS 24.008 §10.5.7.4a) whose duration is ≥ <paramref name="seconds"/>
        /// (units 2 s, 30 s, 1 min, 10 min, 1 h, 10 h, 320 h); <paramref name="seconds"/> &lt; 0 → deactivated.
        /// </summary>
        public static int EncodePeriodicTau(long seconds)
        {
            if (seconds < 0) return UnitDeactivated << 5;
            int[] order = new int[] { 3, 4, 5, 0, 1, 2, 6 };
            return Encode(seconds, Timer3Units, order);
        }

        private static int Encode(long seconds, long[] units, int[] order)
        {
            for (int i = 0; i < order.Length; i++)
            {
                long unit = units[order[i]];
                long value = (seconds + unit - 1) / unit;
                if (value <= 31) return (order[i] << 5) | (int)value;
            }
            throw new System.ArgumentOutOfRangeException("seconds");
        }
    }
}

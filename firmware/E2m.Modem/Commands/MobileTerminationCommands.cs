using E2m.Modem.At;
using E2m.Modem.Usim;

namespace E2m.Modem.Commands
{
    /// <summary>+CPIN &lt;code&gt; values (TS 27.007 §8.3). Int-backed, stable.</summary>
    public enum PinState
    {
        /// <summary>READY: no password pending.</summary>
        Ready = 0,
        /// <summary>SIM PIN.</summary>
        SimPin = 1,
        /// <summary>SIM PUK.</summary>
        SimPuk = 2,
        /// <summary>SIM PIN2.</summary>
        SimPin2 = 3,
        /// <summary>SIM PUK2.</summary>
        SimPuk2 = 4,
        /// <summary>Any PH-... (phone / network personalisation) PIN or PUK.</summary>
        PhoneLock = 5,
        /// <summary>Vendor text "NOT INSERTED" / "NOT READY" (outside 27.007; some modems print it instead of +CME ERROR 10/14).</summary>
        NotReady = 6,
    }

    /// <summary>
    /// Network time from +CCLK? (TS 27.007 §8.15): "yy/MM/dd,hh:mm:ss±zz", zz = time zone in quarters of an hour.
    /// The fields are local time; <see cref="ToUtc"/> subtracts the zone.
    /// </summary>
    public struct NetworkTime
    {
        public int Year;            // four digits (2000 + yy)
        public int Month;
        public int Day;
        public int Hour;
        public int Minute;
        public int Second;
        public int ZoneQuarterHours; // signed; 0 when the modem printed no zone

        /// <summary>UTC instant (local time minus the zone).</summary>
        public System.DateTime ToUtc()
        {
            System.DateTime local = new System.DateTime(Year, Month, Day, Hour, Minute, Second);
            return local.AddMinutes(-15 * ZoneQuarterHours);
        }

        /// <summary>
        /// False for the modems' power-on defaults ("80/01/06" on Quectel = GPS epoch, "70/01/01", or anything
        /// before 2020): the modem has no network time yet (DESIGN.md §7: records then carry relative offsets).
        /// The two-digit year is read as 20yy, so the 1970/1980 defaults appear as 2070/2080: years from 2070 on
        /// are treated as such defaults (a limit this firmware accepts until 2069).
        /// </summary>
        public bool IsPlausible { get { return Year >= 2020 && Year < 2070; } }
    }

    /// <summary>TS 27.007 §8 mobile termination control: +CFUN, +CPIN, +CCLK.</summary>
    public static class MobileTerminationCommands
    {
        /// <summary>
        /// +CFUN maximum response time: not established in the retrieved BG9x/SARA manual pages (modems.md §1.3, §5);
        /// Particle's Quectel client uses 180 s (PT-Q). We use the same.
        /// </summary>
        public const int CfunTimeoutMs = 180000;

        /// <summary>AT+CPIN? maximum response time 5 s (modems.md §1.3, Q-CN §5.3).</summary>
        public const int CpinTimeoutMs = 5000;

        /// <summary>+CCLK? answers from the MT clock: engineering value (not in modems.md).</summary>
        public const int CclkTimeoutMs = 1000;

        /// <summary>TS 27.007 §8.2 +CFUN=&lt;fun&gt;[,&lt;rst&gt;]. Arguments <see cref="FunMinimum"/>, <see cref="FunFull"/>, <see cref="FunRfOff"/>.</summary>
        public static readonly AtCommand Cfun = new AtCommand("AT+CFUN=", CfunTimeoutMs) { Idempotent = true };

        /// <summary>TS 27.007 §8.2 +CFUN? → "+CFUN: &lt;fun&gt;".</summary>
        public static readonly AtCommand CfunRead = new AtCommand("AT+CFUN?", CfunTimeoutMs)
        { ResponsePrefix = "+CFUN:", ResponseLeadingNumbers = 1, MaxResponseLines = 1, Idempotent = true };

        /// <summary>TS 27.007 §8.3 +CPIN? → "+CPIN: &lt;code&gt;". The same text also arrives as a URC after boot (modems.md §1.2).</summary>
        public static readonly AtCommand CpinRead = new AtCommand("AT+CPIN?", CpinTimeoutMs)
        { ResponsePrefix = "+CPIN:", MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>TS 27.007 §8.15 +CCLK? → "+CCLK: "yy/MM/dd,hh:mm:ss±zz"".</summary>
        public static readonly AtCommand CclkRead = new AtCommand("AT+CCLK?", CclkTimeoutMs)
        { ResponsePrefix = "+CCLK:", MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>&lt;fun&gt; 0: minimum functionality (TS 27.007 §8.2).</summary>
        public const string FunMinimum = "0";
        /// <summary>&lt;fun&gt; 1: full functionality.</summary>
        public const string FunFull = "1";
        /// <summary>&lt;fun&gt; 4: transmit and receive RF circuits disabled (flight mode).</summary>
        public const string FunRfOff = "4";

        /// <summary>Parses "+CFUN: &lt;fun&gt;[,...]".</summary>
        public static int ParseCfun(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+CFUN");
            return r.ReadInt(0, 255);
        }

        /// <summary>Parses "+CPIN: &lt;code&gt;" (quoted or not) into <see cref="PinState"/>; unknown codes throw.</summary>
        public static PinState ParseCpin(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+CPIN");
            int pos = r.Position;
            string code = r.ReadString();
            r.ExpectEnd();
            switch (code)
            {
                case "READY": return PinState.Ready;
                case "SIM PIN": return PinState.SimPin;
                case "SIM PUK": return PinState.SimPuk;
                case "SIM PIN2": return PinState.SimPin2;
                case "SIM PUK2": return PinState.SimPuk2;
                case "NOT INSERTED":
                case "NOT READY": return PinState.NotReady;
            }
            if (code.Length > 3 && code[0] == 'P' && code[1] == 'H' && code[2] == '-') return PinState.PhoneLock;
            throw new UsimException(UsimError.UnknownAtValue, pos, "+CPIN code");
        }

        /// <summary>Parses "+CCLK: "yy/MM/dd,hh:mm:ss±zz"" (the zone is optional on some modems).</summary>
        public static NetworkTime ParseCclk(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+CCLK");
            int pos = r.Position;
            // quoted per 27.007 (the comma inside belongs to the value); a few modems print it bare
            string s = r.NextIsQuoted ? r.ReadString() : r.ReadRest();
            r.ExpectEnd();
            if (s.Length != 17 && s.Length != 20) throw new UsimException(UsimError.BadAtSyntax, pos, "+CCLK format");
            NetworkTime t = new NetworkTime();
            t.Year = 2000 + Two(s, 0, pos);
            Sep(s, 2, '/', pos);
            t.Month = Two(s, 3, pos);
            Sep(s, 5, '/', pos);
            t.Day = Two(s, 6, pos);
            Sep(s, 8, ',', pos);
            t.Hour = Two(s, 9, pos);
            Sep(s, 11, ':', pos);
            t.Minute = Two(s, 12, pos);
            Sep(s, 14, ':', pos);
            t.Second = Two(s, 15, pos);
            if (s.Length == 20)
            {
                char sign = s[17];
                if (sign != '+' && sign != '-') throw new UsimException(UsimError.BadAtSyntax, pos + 17, "zone sign");
                int q = Two(s, 18, pos);
                if (q > 56) throw new UsimException(UsimError.BadAtNumber, pos + 18); // ±14 h
                t.ZoneQuarterHours = sign == '-' ? -q : q;
            }
            if (t.Month < 1 || t.Month > 12 || t.Day < 1 || t.Day > 31 || t.Hour > 23 || t.Minute > 59 || t.Second > 59)
            {
                throw new UsimException(UsimError.BadAtNumber, pos);
            }
            return t;
        }

        private static int Two(string s, int i, int pos)
        {
            char a = s[i];
            char b = s[i + 1];
            if (a < '0' || a > '9' || b < '0' || b > '9') throw new UsimException(UsimError.BadAtNumber, pos + i);
            return (a - '0') * 10 + (b - '0');
        }

        private static void Sep(string s, int i, char c, int pos)
        {
            if (s[i] != c) throw new UsimException(UsimError.BadAtSyntax, pos + i, "+CCLK separator");
        }
    }
}

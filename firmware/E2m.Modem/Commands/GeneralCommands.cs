using E2m.Modem.At;
using E2m.Modem.Usim;

namespace E2m.Modem.Commands
{
    /// <summary>
    /// ITU-T V.250 and TS 27.007 §5 / §9 general commands: echo, error reporting, identities.
    /// Timeouts: the BG9x/SARA manuals' maximum response times where modems.md gives one, otherwise a
    /// stated engineering value (modems.md §5 lists the manual values that were not established).
    /// </summary>
    public static class GeneralCommands
    {
        /// <summary>Local-command timeout (V.250 commands answer at once; no manual figure in modems.md, engineering value).</summary>
        public const int LocalTimeoutMs = 1000;

        /// <summary>Quectel (U)SIM chapter: AT+CIMI, AT+QCCID, AT+CSIM, AT+CRSM, AT+CCHO/CGLA/CCHC max response 300 ms (modems.md §1.3, §3, Q-CN).</summary>
        public const int QuectelSimTimeoutMs = 300;

        /// <summary>
        /// V.250 §6.2.4 E: command echo off. Echo is on after every boot (modems.md §1.3 TinyGSM #157, §2.3 U09 §10.20),
        /// so this is the first command of every init script.
        /// </summary>
        public static readonly AtCommand Ate0 = new AtCommand("ATE0", LocalTimeoutMs) { Idempotent = true, Attempts = 3 };

        /// <summary>
        /// TS 27.007 §9.1 +CMEE=&lt;n&gt;: 1 numeric, 2 verbose "+CME ERROR". Argument "1" or "2".
        /// BG9x factory default is 1 (modems.md §1.3, particle PR #2555); SARA default not established (modems.md §2.3).
        /// </summary>
        public static readonly AtCommand Cmee = new AtCommand("AT+CMEE=", LocalTimeoutMs) { Idempotent = true, Attempts = 2 };

        /// <summary>"AT" sync probe (V.250 §5.2.1).</summary>
        public static readonly AtCommand At = new AtCommand("AT", LocalTimeoutMs) { Idempotent = true };

        /// <summary>
        /// TS 27.007 §5.4 +CGSN: product serial number (IMEI). Bare line on BG9x and SARA (modems.md §1.3, §2.3);
        /// newer releases print "+CGSN: &lt;sn&gt;" — <see cref="ParseImei"/> accepts both.
        /// </summary>
        public static readonly AtCommand Cgsn = new AtCommand("AT+CGSN", LocalTimeoutMs)
        { RawResponse = true, ResponsePrefix = "+CGSN:", MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>
        /// TS 27.007 §5.6 +CIMI: IMSI as a bare digit line (modems.md §1.3: "460023210226023", 300 ms on Quectel).
        /// The SIM may still be initialising right after boot: "+CME ERROR: 14" (SIM busy) is retried by the driver.
        /// </summary>
        public static readonly AtCommand Cimi = new AtCommand("AT+CIMI", QuectelSimTimeoutMs * 10)
        { RawResponse = true, ResponsePrefix = "+CIMI:", MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>Argument of +CMEE: numeric codes (TS 27.007 §9.1).</summary>
        public const string CmeeNumeric = "1";

        /// <summary>Argument of +CMEE: verbose codes (TS 27.007 §9.1).</summary>
        public const string CmeeVerbose = "2";

        /// <summary>Parses the IMEI line: 14..17 digits (TS 23.003 §6.2: IMEI 15 digits, IMEISV 16), bare or "+CGSN: " prefixed, optionally quoted.</summary>
        public static string ParseImei(string line)
        {
            return ParseDigits(line, "+CGSN", 14, 17);
        }

        /// <summary>Parses the IMSI line: 6..15 digits (TS 23.003 §2.2), bare or "+CIMI: " prefixed.</summary>
        public static string ParseImsi(string line)
        {
            return ParseDigits(line, "+CIMI", 6, 15);
        }

        private static string ParseDigits(string line, string prefix, int min, int max)
        {
            AtLineReader r = new AtLineReader(line);
            r.TryPrefix(prefix);
            int start;
            int end;
            r.ReadStringSpan(out start, out end);
            r.ExpectEnd();
            int n = end - start;
            if (n < min || n > max) throw new UsimException(UsimError.BadAtSyntax, start, "digit count");
            for (int i = start; i < end; i++)
            {
                char c = line[i];
                if (c < '0' || c > '9') throw new UsimException(UsimError.BadAtNumber, i);
            }
            return line.Substring(start, n);
        }
    }
}

using E2m.Modem.Usim;

namespace E2m.Modem.Commands
{
    /// <summary>
    /// &lt;stat&gt; of +CREG/+CGREG/+CEREG (TS 27.007 §7.2, §10.1.20, §10.1.22). Int-backed with the 27.007 values.
    /// </summary>
    public enum RegistrationState
    {
        /// <summary>0: not registered, not searching.</summary>
        NotRegistered = 0,
        /// <summary>1: registered, home network.</summary>
        Home = 1,
        /// <summary>2: not registered, searching.</summary>
        Searching = 2,
        /// <summary>3: registration denied.</summary>
        Denied = 3,
        /// <summary>4: unknown (e.g. out of coverage).</summary>
        Unknown = 4,
        /// <summary>5: registered, roaming.</summary>
        Roaming = 5,
        /// <summary>6: registered for "SMS only", home (not applicable to PS on most CIoT modems).</summary>
        HomeSmsOnly = 6,
        /// <summary>7: registered for "SMS only", roaming.</summary>
        RoamingSmsOnly = 7,
        /// <summary>8: attached for emergency bearer services only.</summary>
        EmergencyOnly = 8,
        /// <summary>9: registered for "CSFB not preferred", home.</summary>
        HomeCsfbNotPreferred = 9,
        /// <summary>10: registered for "CSFB not preferred", roaming.</summary>
        RoamingCsfbNotPreferred = 10,
        /// <summary>90: UICC failure (Nordic nRF91 extension; reported by the 3gpp.md survey).</summary>
        UiccFailure = 90,
    }

    /// <summary>Which registration command a line belongs to; decides the field layout.</summary>
    public enum RegistrationDomain
    {
        /// <summary>+CREG (TS 27.007 §7.2): lac, ci, AcT, cause_type, reject_cause.</summary>
        Cs = 0,
        /// <summary>+CGREG (TS 27.007 §10.1.20): lac, ci, AcT, rac, cause_type, reject_cause, Active-Time, Periodic-RAU, GPRS-READY.</summary>
        Gprs = 1,
        /// <summary>+CEREG (TS 27.007 §10.1.22): tac, ci, AcT, cause_type, reject_cause, Active-Time, Periodic-TAU.</summary>
        Eps = 2,
    }

    /// <summary>
    /// One +CREG/+CGREG/+CEREG report, from the read command (&lt;n&gt; first) or a URC (&lt;stat&gt; first).
    /// Absent optional fields are -1. Timers stay in their TS 24.008 bit-string coding (one octet, -1 absent);
    /// <see cref="PsmTimers"/> converts them to seconds.
    /// </summary>
    public struct RegistrationInfo
    {
        public int N;                  // <n> of the read response; -1 in a URC
        public RegistrationState Stat;
        public long AreaCode;          // <tac> (EPS, 2 octets) or <lac> (2 octets); -1 absent
        public long CellId;            // <ci>, up to 4 octets (28-bit E-UTRAN cell identity); -1 absent
        public int AcT;                // TS 27.007 <AcT>: 7 E-UTRAN, 8 EC-GSM-IoT, 9 E-UTRAN NB-S1; -1 absent
        public int RoutingArea;        // <rac> (+CGREG only); -1 absent
        public int CauseType;          // <cause_type> 0 = EMM/GMM cause (TS 24.301 Annex A / 24.008 Annex G), 1 = manufacturer; -1 absent
        public int RejectCause;        // <reject_cause>; -1 absent
        public int ActiveTime;         // T3324 as GPRS Timer 2 octet (TS 24.008 §10.5.7.4); -1 absent
        public int PeriodicUpdate;     // T3412 extended (GPRS Timer 3, TS 24.008 §10.5.7.4a) for EPS; T3312 ext for GPRS; -1 absent

        /// <summary>True for stat 1 (home) or 5 (roaming): attached and usable.</summary>
        public bool IsRegistered
        {
            get { return Stat == RegistrationState.Home || Stat == RegistrationState.Roaming; }
        }
    }

    /// <summary>
    /// Parser for +CREG / +CGREG / +CEREG lines (TS 27.007 §7.2, §10.1.20, §10.1.22). Read responses and URCs
    /// share the prefix (modems.md §4 quirk 7): <see cref="ParseRead"/> and <see cref="ParseUrc"/> are exact;
    /// <see cref="Parse"/> decides by shape: a second field that is an unquoted integer means the read form
    /// ("+CEREG: 2,1,...", &lt;n&gt; then &lt;stat&gt;); otherwise a URC ("+CEREG: 1,"3a9b",..." or "+CEREG: 5").
    /// Examples (modems.md §2.3, U11 p138): read <c>+CEREG: 2,1,"3a9b","0000c33d",7</c>, URC
    /// <c>+CEREG: 1,"3a9b","0000c33d",7</c>; with n = 4: <c>+CEREG: 4,1,"3a9b","0000c33d",7,,,"00100001","00000110"</c>.
    /// </summary>
    public static class RegistrationParser
    {
        public const string PrefixCreg = "+CREG";
        public const string PrefixCgreg = "+CGREG";
        public const string PrefixCereg = "+CEREG";

        public static string PrefixOf(RegistrationDomain domain)
        {
            if (domain == RegistrationDomain.Eps) return PrefixCereg;
            if (domain == RegistrationDomain.Gprs) return PrefixCgreg;
            return PrefixCreg;
        }

        /// <summary>Read-command response: &lt;n&gt;,&lt;stat&gt;[,...].</summary>
        public static RegistrationInfo ParseRead(string line, RegistrationDomain domain)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix(PrefixOf(domain));
            RegistrationInfo info = Empty();
            info.N = r.ReadInt(0, 5);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<stat>");
            ReadBody(r, domain, ref info);
            return info;
        }

        /// <summary>URC: &lt;stat&gt;[,...].</summary>
        public static RegistrationInfo ParseUrc(string line, RegistrationDomain domain)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix(PrefixOf(domain));
            RegistrationInfo info = Empty();
            ReadBody(r, domain, ref info);
            return info;
        }

        /// <summary>Either form, decided by shape (see the class remarks).</summary>
        public static RegistrationInfo Parse(string line, RegistrationDomain domain)
        {
            if (LooksLikeRead(line)) return ParseRead(line, domain);
            return ParseUrc(line, domain);
        }

        private static bool LooksLikeRead(string line)
        {
            int colon = line.IndexOf(':');
            if (colon < 0) return false;
            int comma = line.IndexOf(',', colon + 1);
            if (comma < 0) return false;
            int p = comma + 1;
            while (p < line.Length && line[p] == ' ') p++;
            if (p >= line.Length || line[p] < '0' || line[p] > '9') return false;
            // the second field is an unquoted number; a URC's second field is a quoted tac/lac or empty
            while (p < line.Length && line[p] >= '0' && line[p] <= '9') p++;
            while (p < line.Length && line[p] == ' ') p++;
            return p >= line.Length || line[p] == ',';
        }

        private static RegistrationInfo Empty()
        {
            RegistrationInfo info = new RegistrationInfo();
            info.N = -1;
            info.AreaCode = -1;
            info.CellId = -1;
            info.AcT = -1;
            info.RoutingArea = -1;
            info.CauseType = -1;
            info.RejectCause = -1;
            info.ActiveTime = -1;
            info.PeriodicUpdate = -1;
            return info;
        }

        private static void ReadBody(AtLineReader r, RegistrationDomain domain, ref RegistrationInfo info)
        {
            int statPos = r.Position;
            int stat = r.ReadInt(0, 255);
            if (!(stat <= 10 || stat == 90)) throw new UsimException(UsimError.UnknownAtValue, statPos, "<stat>");
            info.Stat = (RegistrationState)stat;

            if (!r.NextField()) return;
            info.AreaCode = r.ReadOptionalHexNumber(4);          // <tac>/<lac>: two octets in hex
            if (!r.NextField()) return;
            info.CellId = r.ReadOptionalHexNumber(8);            // <ci>: four octets in hex
            if (!r.NextField()) return;
            info.AcT = r.ReadOptionalInt(-1);
            if (domain == RegistrationDomain.Gprs)
            {
                if (!r.NextField()) return;
                info.RoutingArea = (int)r.ReadOptionalHexNumber(2);  // <rac>: one octet in hex
            }
            if (!r.NextField()) return;
            info.CauseType = r.ReadOptionalInt(-1);
            if (!r.NextField()) return;
            info.RejectCause = r.ReadOptionalInt(-1);
            if (domain == RegistrationDomain.Cs)
            {
                r.ExpectEnd();
                return;
            }
            if (!r.NextField()) return;
            info.ActiveTime = ReadOptionalBits(r);
            if (!r.NextField()) return;
            info.PeriodicUpdate = ReadOptionalBits(r);
            if (domain == RegistrationDomain.Gprs && r.NextField())
            {
                ReadOptionalBits(r); // <GPRS-READY-timer>, not used
            }
            r.ExpectEnd();
        }

        /// <summary>An optional one-octet bit string field ("01000011"); -1 when empty.</summary>
        public static int ReadOptionalBits(AtLineReader r)
        {
            if (r.NextIsEmpty) return -1;
            int start;
            int end;
            int pos = r.Position;
            r.ReadStringSpan(out start, out end);
            if (end == start) return -1;
            return PsmTimers.ParseBits(r.Line, start, end - start, pos);
        }
    }
}

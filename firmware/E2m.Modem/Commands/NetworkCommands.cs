using E2m.Modem.At;
using E2m.Modem.Usim;

namespace E2m.Modem.Commands
{
    /// <summary>Radio access technology normalised across dialects. Int-backed, stable.</summary>
    public enum RadioAccess
    {
        Unknown = 0,
        Gsm = 1,
        Utran = 2,
        /// <summary>E-UTRAN, for the CIoT modules LTE Cat-M1.</summary>
        LteM = 3,
        /// <summary>E-UTRAN NB-S1 (NB-IoT).</summary>
        NbIot = 4,
        EcGsmIot = 5,
    }

    /// <summary>+COPS? read response (TS 27.007 §7.3): &lt;mode&gt;[,&lt;format&gt;,&lt;oper&gt;[,&lt;AcT&gt;]].</summary>
    public struct OperatorInfo
    {
        public int Mode;         // 0 automatic, 1 manual, 2 deregister, 3 set format, 4 manual/automatic
        public int Format;       // 0 long alphanumeric, 1 short, 2 numeric; -1 absent
        public string Operator;  // null when absent (not registered)
        public int AcT;          // as printed; -1 absent. Map with NetworkCommands.AccessFromTs27007 / AccessFromQuectelCops
    }

    /// <summary>+CPSMS read response (TS 27.007 §7.38). Timers as one-octet codings, -1 when omitted.</summary>
    public struct PsmSettings
    {
        public int Mode;                       // 0 disable, 1 enable
        public int RequestedPeriodicRau;       // GPRS Timer 3 (T3312 ext)
        public int RequestedGprsReadyTimer;    // GPRS Timer (T3314)
        public int RequestedPeriodicTau;       // GPRS Timer 3 (T3412 ext), TS 24.008 §10.5.7.4a
        public int RequestedActiveTime;        // GPRS Timer 2 (T3324), TS 24.008 §10.5.7.4
    }

    /// <summary>TS 27.007 §7 network service and §10.1 registration commands.</summary>
    public static class NetworkCommands
    {
        /// <summary>+CEREG/+CGREG/+COPS? read/set are answered from MT state: manual figure not established (modems.md §5), engineering value.</summary>
        public const int ReadTimeoutMs = 5000;

        /// <summary>+CPSMS set: not established in modems.md (§2.3 has no time); engineering value.</summary>
        public const int CpsmsTimeoutMs = 5000;

        /// <summary>+COPS set (network selection): up to 3 minutes (modems.md §5 quirk 13: SARA-R410 `AT+COPS` limit; Particle
        /// waits 5 min); 180 s, the longest figure the vendor notes give.</summary>
        public const int CopsSetTimeoutMs = 180000;

        /// <summary>TS 27.007 §7.3 +COPS=&lt;mode&gt;,&lt;format&gt;,&lt;oper&gt;: mode 1 manual, format 2 numeric (MCC+MNC).</summary>
        public static readonly AtCommand CopsSet = new AtCommand("AT+COPS=", CopsSetTimeoutMs) { Attempts = 1 };

        /// <summary>TS 27.007 §10.1.22 +CEREG=&lt;n&gt;: 2 = URC with location and AcT; 4 = plus PSM timers (modems.md §2.3: 4 not on R410M-02B).</summary>
        public static readonly AtCommand CeregSet = new AtCommand("AT+CEREG=", ReadTimeoutMs) { Idempotent = true, Attempts = 2 };

        /// <summary>TS 27.007 §10.1.22 +CEREG? → "+CEREG: &lt;n&gt;,&lt;stat&gt;[,...]" (two leading numbers separate it from the URC, modems.md §4 quirk 7).</summary>
        public static readonly AtCommand CeregRead = new AtCommand("AT+CEREG?", ReadTimeoutMs)
        { ResponsePrefix = "+CEREG:", ResponseLeadingNumbers = 2, MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>TS 27.007 §10.1.20 +CGREG=&lt;n&gt;.</summary>
        public static readonly AtCommand CgregSet = new AtCommand("AT+CGREG=", ReadTimeoutMs) { Idempotent = true, Attempts = 2 };

        /// <summary>TS 27.007 §10.1.20 +CGREG? → "+CGREG: &lt;n&gt;,&lt;stat&gt;[,...]".</summary>
        public static readonly AtCommand CgregRead = new AtCommand("AT+CGREG?", ReadTimeoutMs)
        { ResponsePrefix = "+CGREG:", ResponseLeadingNumbers = 2, MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>TS 27.007 §7.3 +COPS? → "+COPS: &lt;mode&gt;[,&lt;format&gt;,&lt;oper&gt;[,&lt;AcT&gt;]]" (modems.md §1.3: BG95 "+COPS: 0,0,"Telekom.de",9").</summary>
        public static readonly AtCommand CopsRead = new AtCommand("AT+COPS?", ReadTimeoutMs)
        { ResponsePrefix = "+COPS:", MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>
        /// TS 27.007 §7.38 +CPSMS=&lt;mode&gt;[,&lt;RAU&gt;,&lt;GPRS-READY&gt;,&lt;TAU&gt;,&lt;Active-Time&gt;]; e.g.
        /// AT+CPSMS=1,,,"01000011","01000011" (modems.md §2.3, U11 p156).
        /// </summary>
        public static readonly AtCommand CpsmsSet = new AtCommand("AT+CPSMS=", CpsmsTimeoutMs) { Idempotent = true, Attempts = 2 };

        /// <summary>TS 27.007 §7.38 +CPSMS? → "+CPSMS: &lt;mode&gt;,[&lt;RAU&gt;],[&lt;READY&gt;],[&lt;TAU&gt;],[&lt;Active-Time&gt;]".</summary>
        public static readonly AtCommand CpsmsRead = new AtCommand("AT+CPSMS?", ReadTimeoutMs)
        { ResponsePrefix = "+CPSMS:", MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>+CEREG/+CGREG &lt;n&gt; 2: registration and location URC (TS 27.007 §10.1.22).</summary>
        public const string RegUrcLocation = "2";

        /// <summary>+CEREG &lt;n&gt; 4: also PSM timers, without cause (TS 27.007 §10.1.22).</summary>
        public const string RegUrcLocationPsm = "4";

        /// <summary>Arguments of +CPSMS set: 1,,,"&lt;T3412ext bits&gt;","&lt;T3324 bits&gt;" (TS 27.007 §7.38).</summary>
        public static string CpsmsArguments(int periodicTauOctet, int activeTimeOctet)
        {
            return "1,,,\"" + PsmTimers.ToBits(periodicTauOctet) + "\",\"" + PsmTimers.ToBits(activeTimeOctet) + "\"";
        }

        /// <summary>Argument that disables PSM (TS 27.007 §7.38 &lt;mode&gt; 0).</summary>
        public const string CpsmsDisable = "0";

        /// <summary>Parses "+COPS: ..." (operator quoted or not, optional fields).</summary>
        public static OperatorInfo ParseCops(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+COPS");
            OperatorInfo info = new OperatorInfo();
            info.Format = -1;
            info.AcT = -1;
            info.Mode = r.ReadInt(0, 4);
            if (!r.NextField()) return info;
            info.Format = r.ReadOptionalInt(-1);
            if (info.Format > 2) throw new UsimException(UsimError.UnknownAtValue, r.Position, "<format>");
            if (!r.NextField()) return info;
            string oper = r.ReadString();
            info.Operator = oper.Length == 0 ? null : oper;
            if (!r.NextField()) return info;
            info.AcT = r.ReadOptionalInt(-1);
            r.ExpectEnd();
            return info;
        }

        /// <summary>Parses "+CPSMS: &lt;mode&gt;[,[RAU],[READY],[TAU],[Active]]".</summary>
        public static PsmSettings ParseCpsms(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+CPSMS");
            PsmSettings s = new PsmSettings();
            s.RequestedPeriodicRau = -1;
            s.RequestedGprsReadyTimer = -1;
            s.RequestedPeriodicTau = -1;
            s.RequestedActiveTime = -1;
            s.Mode = r.ReadInt(0, 2);
            if (!r.NextField()) return s;
            s.RequestedPeriodicRau = RegistrationParser.ReadOptionalBits(r);
            if (!r.NextField()) return s;
            s.RequestedGprsReadyTimer = RegistrationParser.ReadOptionalBits(r);
            if (!r.NextField()) return s;
            s.RequestedPeriodicTau = RegistrationParser.ReadOptionalBits(r);
            if (!r.NextField()) return s;
            s.RequestedActiveTime = RegistrationParser.ReadOptionalBits(r);
            r.ExpectEnd();
            return s;
        }

        /// <summary>
        /// TS 27.007 &lt;AcT&gt; (§7.3, §10.1.22): 0 GSM, 2..6 UTRAN variants, 7 E-UTRAN (LTE-M on CIoT modules),
        /// 8 EC-GSM-IoT, 9 E-UTRAN NB-S1. SARA-R4 follows this (modems.md §2.3, U16 p151).
        /// </summary>
        public static RadioAccess AccessFromTs27007(int act)
        {
            switch (act)
            {
                case 0:
                case 1:
                case 3: return RadioAccess.Gsm;
                case 2:
                case 4:
                case 5:
                case 6: return RadioAccess.Utran;
                case 7: return RadioAccess.LteM;
                case 8: return RadioAccess.EcGsmIot;
                case 9: return RadioAccess.NbIot;
            }
            return RadioAccess.Unknown;
        }

        /// <summary>
        /// Quectel BG9x +COPS &lt;AcT&gt;: 0 GSM, 8 LTE Cat-M1, 9 NB-IoT (modems.md §1.3: FreeRTOS CELLULAR_RAT_CATM1 = 8,
        /// real BG95 "+COPS: 0,0,"Telekom.de",9") — 8 differs from 27.007's EC-GSM-IoT.
        /// </summary>
        public static RadioAccess AccessFromQuectelCops(int act)
        {
            if (act == 8) return RadioAccess.LteM;
            return AccessFromTs27007(act);
        }
    }

    /// <summary>TS 27.007 §10.1 packet domain: +CGDCONT, +CGATT, +CGACT, +CGPADDR.</summary>
    public static class PacketDomainCommands
    {
        /// <summary>+CGDCONT: not established (modems.md §5); BG9x may fail on cold boot and is retried 5×200 ms (modems.md §4 quirk 9).</summary>
        public const int CgdcontTimeoutMs = 5000;

        /// <summary>+CGATT=1: TinyGSM waits 360 s on SARA-R4 (modems.md §2.4, TG-R4).</summary>
        public const int CgattTimeoutMs = 360000;

        /// <summary>+CGACT: 150 s (modems.md §2.4, TG-R4; BG9x +QIACT uses the same 150 s, §1.4).</summary>
        public const int CgactTimeoutMs = 150000;

        /// <summary>TS 27.007 §10.1.1 +CGDCONT=&lt;cid&gt;,"IP","&lt;APN&gt;".</summary>
        public static readonly AtCommand Cgdcont = new AtCommand("AT+CGDCONT=", CgdcontTimeoutMs) { Idempotent = true, Attempts = 2 };

        /// <summary>TS 27.007 §10.1.9 +CGATT=&lt;state&gt;.</summary>
        public static readonly AtCommand Cgatt = new AtCommand("AT+CGATT=", CgattTimeoutMs) { Idempotent = true };

        /// <summary>TS 27.007 §10.1.9 +CGATT? → "+CGATT: &lt;state&gt;".</summary>
        public static readonly AtCommand CgattRead = new AtCommand("AT+CGATT?", NetworkCommands.ReadTimeoutMs)
        { ResponsePrefix = "+CGATT:", ResponseLeadingNumbers = 1, MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>TS 27.007 §10.1.10 +CGACT=&lt;state&gt;,&lt;cid&gt;.</summary>
        public static readonly AtCommand Cgact = new AtCommand("AT+CGACT=", CgactTimeoutMs) { Idempotent = true };

        /// <summary>TS 27.007 §10.1.14 +CGPADDR=&lt;cid&gt; → "+CGPADDR: &lt;cid&gt;,&lt;addr&gt;" (modems.md §2.4).</summary>
        public static readonly AtCommand Cgpaddr = new AtCommand("AT+CGPADDR=", NetworkCommands.ReadTimeoutMs)
        { ResponsePrefix = "+CGPADDR:", MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>
        /// Arguments of +CGDCONT: &lt;cid&gt;,"IP","&lt;apn&gt;". The APN may not contain '"', ',' or control
        /// characters (u-blox string rule, modems.md §2.3; TS 23.003 §9.1 labels are letters, digits, '-' and '.').
        /// </summary>
        public static string CgdcontArguments(int cid, string apn)
        {
            if (cid < 1 || cid > 15) throw new System.ArgumentOutOfRangeException("cid");
            CheckApn(apn);
            return cid.ToString() + ",\"IP\",\"" + apn + "\"";
        }

        /// <summary>Throws ArgumentException for an APN that cannot be put in an AT string (configuration error).</summary>
        public static void CheckApn(string apn)
        {
            if (apn == null) throw new System.ArgumentNullException("apn");
            if (apn.Length > 100) throw new System.ArgumentException("APN longer than 100 characters (TS 23.003 §9.1)");
            for (int i = 0; i < apn.Length; i++)
            {
                char c = apn[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
                if (!ok) throw new System.ArgumentException("APN character not allowed (TS 23.003 §9.1)");
            }
        }

        /// <summary>Parses "+CGATT: &lt;state&gt;" → true when attached.</summary>
        public static bool ParseCgatt(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+CGATT");
            int v = r.ReadInt(0, 1);
            r.ExpectEnd();
            return v == 1;
        }

        /// <summary>Parses "+CGPADDR: &lt;cid&gt;[,&lt;addr&gt;]" → the address text, or null when none was assigned.</summary>
        public static string ParseCgpaddr(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+CGPADDR");
            r.ReadInt(0, 255);
            if (!r.NextField()) return null;
            string a = r.ReadString();
            return a.Length == 0 ? null : a;
        }
    }
}

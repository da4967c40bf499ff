using E2m.Modem.At;
using E2m.Modem.Usim;

namespace E2m.Modem.Commands
{
    /// <summary>
    /// u-blox internal packet-switched data profile (SARA-R5; SARA-R4 uses only +CGDCONT, modems.md §2.4). Sources:
    /// SARA-R5 AT commands manual UBX-19047455 "Packet switched data services" (§18.8 +UPSDA, §18.9 +UPSND as
    /// quoted in the ublox-cellular-rs docs); the sequence is u-blox's own ubxlib
    /// (<c>cell/src/u_cell_private.c</c> privateActivateProfile: <c>AT+UPSD=&lt;p&gt;,0,0</c> "the IP type used here must be
    /// the same as that used by AT+CGDCONT ... some versions of SARA-R5 software have the default as IPV4V6",
    /// <c>AT+UPSD=&lt;p&gt;,100,&lt;cid&gt;</c> "map the context to an internal modem profile", <c>AT+UPSDA=&lt;p&gt;,3</c>, then wait
    /// for <c>+UUPSDA:</c> with result 0). Parameter tags 0 (protocol type) / 1 (APN) as in the SARA-R4 manual U11
    /// p123 §13.4.3. The R5 manual pages themselves were not retrieved: response times are NOT ESTABLISHED.
    /// </summary>
    public static class UbloxPsdCommands
    {
        /// <summary>PSD profile used by the driver (profile ids 0–6, U11 p123; ubxlib and Mbed use 0).</summary>
        public const int ProfileId = 0;

        /// <summary>+UPSD &lt;param_tag&gt; 0: protocol type; value 0 = IPv4 (U11 p123 §13.4.3).</summary>
        public const int TagProtocol = 0;

        /// <summary>+UPSD &lt;param_tag&gt; 100: map the profile to a +CGDCONT context id (ubxlib "e.g. AT+UPSD=0,100,1").</summary>
        public const int TagContextMapping = 100;

        /// <summary>+UPSDA &lt;action&gt; 3: activate the profile (ubxlib, Mbed ublox-at-cellular-interface).</summary>
        public const int ActionActivate = 3;

        /// <summary>+UPSDA &lt;action&gt; 4: deactivate (u-blox convention; not used by the driver).</summary>
        public const int ActionDeactivate = 4;

        /// <summary>+UPSND &lt;param&gt; 8: activation status of the profile, 0/1 (Mbed ublox-at-cellular-interface "AT+UPSND=0,8").</summary>
        public const int ParamActivationStatus = 8;

        /// <summary>+UPSD set: a local setting; manual time NOT ESTABLISHED, engineering value.</summary>
        public const int UpsdTimeoutMs = 5000;

        /// <summary>+UPSDA=…,3: Mbed waits 3 min for the OK ("at_set_timeout(3*60*1000)"); manual value NOT ESTABLISHED.</summary>
        public const int UpsdaTimeoutMs = 180000;

        /// <summary>+UUPSDA after the OK: ubxlib waits 3 s in-line ("Should be pretty quick"); then the driver asks +UPSND.</summary>
        public const int UupsdaWaitMs = 3000;

        /// <summary>AT+UPSD=&lt;profile&gt;,&lt;tag&gt;,&lt;value&gt;.</summary>
        public static readonly AtCommand Upsd = new AtCommand("AT+UPSD=", UpsdTimeoutMs) { Idempotent = true, Attempts = 2 };

        /// <summary>AT+UPSDA=&lt;profile&gt;,&lt;action&gt; → OK, then URC +UUPSDA.</summary>
        public static readonly AtCommand Upsda = new AtCommand("AT+UPSDA=", UpsdaTimeoutMs);

        /// <summary>AT+UPSND=&lt;profile&gt;,&lt;param&gt; → "+UPSND: &lt;profile&gt;,&lt;param&gt;,&lt;value&gt;".</summary>
        public static readonly AtCommand Upsnd = new AtCommand("AT+UPSND=", NetworkCommands.ReadTimeoutMs)
        { ResponsePrefix = "+UPSND:", MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>URC of +UPSDA: "+UUPSDA: &lt;result&gt;[,&lt;ip_addr&gt;]" (ublox-cellular-rs DataConnectionActivated {result, ip_addr}).</summary>
        public const string UrcUupsda = "+UUPSDA";

        /// <summary>URC "+UUPSDD: &lt;profile&gt;": the network deactivated the profile (u-blox convention; NOT ESTABLISHED for R5).</summary>
        public const string UrcUupsdd = "+UUPSDD";

        /// <summary>Arguments "&lt;profile&gt;,&lt;tag&gt;,&lt;int value&gt;".</summary>
        public static string UpsdArguments(int profile, int tag, int value)
        {
            if (profile < 0 || profile > 6) throw new System.ArgumentOutOfRangeException("profile");
            return profile.ToString() + "," + tag.ToString() + "," + value.ToString();
        }

        /// <summary>Parses "+UUPSDA: &lt;result&gt;[,"&lt;ip&gt;"]" → result (0 = activated, ubxlib).</summary>
        public static int ParseUupsda(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix(UrcUupsda);
            int result = r.ReadInt(0, 65535);
            if (r.NextField()) r.SkipField();
            r.ExpectEnd();
            return result;
        }

        /// <summary>Parses "+UPSND: &lt;profile&gt;,&lt;param&gt;,&lt;value&gt;" for an integer parameter → value.</summary>
        public static int ParseUpsndInt(string line, int expectedParam)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+UPSND");
            r.ReadInt(0, 6);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<param_tag>");
            int p = r.ReadInt(0, 255);
            if (p != expectedParam) throw new UsimException(UsimError.UnknownAtValue, r.Position, "<param_tag>");
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<dynamic_param_val>");
            int v = r.ReadInt(0, 65535);
            r.ExpectEnd();
            return v;
        }
    }

    /// <summary>
    /// u-blox power-saving and restart commands used by the SARA PSM sequence (SARA-R4 AT manual UBX-17003787 R16 = U16,
    /// p182–186 as cited in modems.md §2.3; +UPSMR U16 §15.4 p186).
    /// </summary>
    public static class UbloxPowerCommands
    {
        /// <summary>
        /// AT+CFUN=15: silent reset of the MT, settings saved (U16 p182 "reboot the module (by means of the AT+CFUN=15
        /// command)"; SARA-R4 SIM R13 §1.6.3 "AT+CFUN command ... internal or software reset"). OK, then the module
        /// restarts; timeout as +CFUN (NOT ESTABLISHED, 180 s as Particle).
        /// </summary>
        public static readonly AtCommand CfunReset = new AtCommand("AT+CFUN=15", MobileTerminationCommands.CfunTimeoutMs);

        /// <summary>AT+UPSMR=1: enable the "+UUPSMR: &lt;state&gt;[,&lt;client_id&gt;]" URC (U16 §15.4; not on SARA-R410M-02B, modems.md §2.3).</summary>
        public static readonly AtCommand UpsmrOn = new AtCommand("AT+UPSMR=1", GeneralCommands.LocalTimeoutMs) { Idempotent = true, Attempts = 2 };

        /// <summary>AT+UCPSMS? → "+UCPSMS: &lt;mode&gt;,,,"&lt;T3412&gt;","&lt;T3324&gt;"": the network-assigned PSM timers (modems.md §2.3, U16 p182–186).</summary>
        public static readonly AtCommand UcpsmsRead = new AtCommand("AT+UCPSMS?", NetworkCommands.ReadTimeoutMs)
        { ResponsePrefix = "+UCPSMS:", MaxResponseLines = 1, Idempotent = true, Attempts = 2 };

        /// <summary>URC prefix "+UUPSMR".</summary>
        public const string UrcUupsmr = "+UUPSMR";

        /// <summary>+UUPSMR &lt;state&gt; 0: the module is out of PSM (U16 §15.4.3).</summary>
        public const int PsmStateOut = 0;

        /// <summary>+UUPSMR &lt;state&gt; 1: the module is entering PSM (U16 §15.4.3).</summary>
        public const int PsmStateEntering = 1;

        /// <summary>Parses "+UUPSMR: &lt;state&gt;[,&lt;client_id&gt;]" → state (0 out, 1 entering, 2/3 a client prevents PSM).</summary>
        public static int ParseUupsmr(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix(UrcUupsmr);
            int state = r.ReadInt(0, 3);
            if (r.NextField()) r.ReadInt(0, 65535);
            r.ExpectEnd();
            return state;
        }

        /// <summary>Parses "+UCPSMS: &lt;mode&gt;,[RAU],[READY],["TAU"],["Active"]" (same layout as +CPSMS, TS 27.007 §7.38).</summary>
        public static PsmSettings ParseUcpsms(string line)
        {
            if (line == null || !AtLineReader.HasPrefix(line, "+UCPSMS")) throw new UsimException(UsimError.BadAtSyntax, 0, "+UCPSMS expected");
            // same fields as +CPSMS: reuse its parser on the renamed line
            return NetworkCommands.ParseCpsms("+CPSMS" + line.Substring(7));
        }
    }

    /// <summary>PSM timers the network assigned (TS 24.008 octets; -1 absent) and their durations (-1 = absent/deactivated).</summary>
    public struct PsmAssignment
    {
        /// <summary>True when the module reported PSM in use (a +CEREG with timers, or +UCPSMS mode 1).</summary>
        public bool Active;
        /// <summary>T3412 extended, GPRS Timer 3 octet (TS 24.008 §10.5.7.4a); -1 absent.</summary>
        public int PeriodicTau;
        /// <summary>T3324, GPRS Timer 2 octet (TS 24.008 §10.5.7.4); -1 absent.</summary>
        public int ActiveTime;

        public long PeriodicTauSeconds { get { return PeriodicTau < 0 ? -1 : PsmTimers.PeriodicTauSeconds(PeriodicTau); } }

        public long ActiveTimeSeconds { get { return ActiveTime < 0 ? -1 : PsmTimers.ActiveTimeSeconds(ActiveTime); } }
    }
}

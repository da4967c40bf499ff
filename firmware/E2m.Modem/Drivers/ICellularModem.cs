using E2m.Modem.Commands;
using E2m.Modem.Usim;

namespace E2m.Modem.Drivers
{
    /// <summary>
    /// Typed outcome of a modem operation (int-backed, stable; <see cref="ModemErrors.Describe"/> for text).
    /// Details of the last AT exchange (status, +CME code) are in <see cref="ICellularModem.LastCmeError"/>.
    /// </summary>
    public enum ModemError
    {
        Ok = 0,
        /// <summary>No answer within the command's or the operation's timeout.</summary>
        Timeout = 1,
        /// <summary>ERROR / +CME ERROR / +CMS ERROR not covered by a more specific value.</summary>
        CommandError = 2,
        /// <summary>The modem rebooted (RDY / APP RDY) during the operation: run <see cref="ICellularModem.Initialize"/> again.</summary>
        Rebooted = 3,
        /// <summary>Power-on did not bring the modem up (no STATUS / boot line / AT answer).</summary>
        PowerOnFailed = 4,
        /// <summary>+CME ERROR 10 or "+CPIN: NOT INSERTED".</summary>
        SimNotInserted = 5,
        /// <summary>+CPIN: SIM PIN (the firmware does not hold PINs).</summary>
        SimPinRequired = 6,
        /// <summary>+CPIN: SIM PUK or another lock.</summary>
        SimLocked = 7,
        /// <summary>+CME ERROR 14 (SIM busy) persisted through all retries.</summary>
        SimBusy = 8,
        /// <summary>+CME ERROR 13 / 15 SIM failure / wrong.</summary>
        SimFailure = 9,
        /// <summary>Registration denied (stat 3) and still denied after the grace time.</summary>
        RegistrationDenied = 10,
        /// <summary>The PDP context / bearer could not be activated.</summary>
        PdpActivationFailed = 11,
        /// <summary>Socket open failed (e.g. +QIOPEN error 5xx, +USOCR error).</summary>
        SocketOpenFailed = 12,
        /// <summary>SEND FAIL or a send error.</summary>
        SendFailed = 13,
        /// <summary>Unknown socket id or socket not open.</summary>
        BadSocket = 14,
        /// <summary>The modem's answer did not parse (MalformedInputException family caught at the driver boundary).</summary>
        MalformedResponse = 15,
        /// <summary>The SIM answered READ BINARY with an error status word (file not found, PIN, ...).</summary>
        SimRefused = 16,
        /// <summary>No SIM access path supports the operation (see <see cref="ICellularModem.SimPaths"/>).</summary>
        NoSimAccessPath = 17,
        /// <summary>The modem refused the SIM command (e.g. +CME ERROR 3 on AUTHENTICATE): the path exists, the command is blocked.</summary>
        ModemRefused = 18,
        /// <summary>The datagram does not fit the vendor limit (1460 BG9x, 512 SARA HEX mode).</summary>
        TooLarge = 19,
        /// <summary>No datagram arrived before the timeout.</summary>
        NoData = 20,
    }

    /// <summary>SIM access paths found by <see cref="ICellularModem.ProbeCapabilities"/> (bit set).</summary>
    public static class SimAccessPaths
    {
        public const int None = 0;
        /// <summary>+CCHO / +CGLA / +CCHC on a logical channel to the USIM AID (TS 27.007 §8.43–8.46).</summary>
        public const int LogicalChannel = 1;
        /// <summary>+CSIM generic access (TS 27.007 §8.17) incl. MANAGE CHANNEL.</summary>
        public const int Csim = 2;
        /// <summary>+CRSM restricted access (TS 27.007 §8.18): READ BINARY only, cannot AUTHENTICATE.</summary>
        public const int Crsm = 4;
        /// <summary>+CSIM on the basic channel only (MANAGE CHANNEL refused with 6881/6D00/6E00/6A81 or +CME ERROR):
        /// SELECT ADF USIM + AUTHENTICATE with CLA 00 (Usim/UsimAccess, risks in E2m.Modem/README.md).</summary>
        public const int CsimBasicChannel = 8;
        /// <summary>Not a path: the USIM AID used by the paths is the full AID read from EF_DIR (TS 102 221 §13.1);
        /// absent = the 7-octet prefix A0000000871002 (partial AID selection).</summary>
        public const int UsimAidFromEfDir = 16;

        /// <summary>Fixed text for logs, e.g. "ccho+csim+crsm+efdir" ("none" when empty).</summary>
        public static string Describe(int paths)
        {
            string s = "";
            if ((paths & LogicalChannel) != 0) s += "+ccho";
            if ((paths & Csim) != 0) s += "+csim";
            if ((paths & CsimBasicChannel) != 0) s += "+csim-basic";
            if ((paths & Crsm) != 0) s += "+crsm";
            if ((paths & UsimAidFromEfDir) != 0) s += "+efdir-aid";
            return s.Length == 0 ? "none" : s.Substring(1);
        }
    }

    /// <summary>
    /// The one modem interface the firmware sees (DESIGN.md §7: modem driver state machine layer). Synchronous;
    /// every wait runs on the injected clock/delay. Vendor differences live in the implementations
    /// (<see cref="Bg9xModem"/>, <see cref="SaraR4Modem"/>) over the shared <see cref="AtModemBase"/>.
    /// </summary>
    public interface ICellularModem
    {
        /// <summary>Power the module on with the vendor's pin sequence and wait until it accepts AT commands.</summary>
        ModemError PowerOn();

        /// <summary>Graceful power-off (AT command, pin fallback).</summary>
        ModemError PowerOff();

        /// <summary>Init script: ATE0, +CMEE=1, registration URCs, vendor settings. Restarts once after a reboot.</summary>
        ModemError Initialize();

        /// <summary>Polls +CPIN? until READY, retrying "SIM busy", or until <paramref name="timeoutMs"/>.</summary>
        ModemError WaitSimReady(int timeoutMs);

        /// <summary>IMSI from +CIMI (TS 27.007 §5.6).</summary>
        ModemError ReadImsi(out string imsi);

        /// <summary>Waits for +CEREG/+CGREG stat 1 or 5 (URCs and periodic reads); denied → RegistrationDenied.</summary>
        ModemError WaitRegistered(int timeoutMs, out RegistrationInfo info);

        /// <summary>Manual network selection of <paramref name="plmn"/> (MCC+MNC, 5 or 6 digits): TS 27.007 §7.3
        /// `AT+COPS=1,2,"&lt;plmn&gt;"`. +CME ERROR (e.g. 30 no network service) → CommandError.</summary>
        ModemError SelectOperator(string plmn);

        /// <summary>Defines and activates the PDP context for <paramref name="apn"/>.</summary>
        ModemError ActivatePdp(string apn);

        ModemError OpenUdpSocket(string remoteIp, int remotePort, out int socket);

        ModemError SendDatagram(int socket, byte[] data, int offset, int count);

        /// <summary>Waits for the vendor receive URC (or already pending data) and reads one datagram.</summary>
        ModemError ReceiveDatagram(int socket, byte[] buffer, int offset, int timeoutMs, out int length);

        ModemError CloseSocket(int socket);

        /// <summary>Requests PSM with the given T3412-extended and T3324 (TS 27.007 §7.38, TS 24.008 §10.5.7.4/4a).</summary>
        ModemError RequestPsm(long periodicTauSeconds, long activeTimeSeconds);

        /// <summary>Network time via +CCLK? (DESIGN.md §7 Time).</summary>
        ModemError ReadNetworkTime(out NetworkTime time);

        /// <summary>Finds which SIM access paths work and remembers them (<see cref="SimPaths"/>).</summary>
        ModemError ProbeCapabilities();

        /// <summary>Bit set of <see cref="SimAccessPaths"/> found by the last probe.</summary>
        int SimPaths { get; }

        /// <summary>
        /// USIM AUTHENTICATE 3G context (TS 31.102 §7.1.2) through the probed path: logical channel first,
        /// then +CSIM with MANAGE CHANNEL + SELECT, then +CSIM on the basic channel when MANAGE CHANNEL is unsupported. The typed outcome is in <paramref name="result"/>
        /// (Success, SyncFailure, MacFailure, Refused, ModemRefused, NoAccessPath); the return value reports
        /// transport problems (timeout, reboot, malformed answer).
        /// </summary>
        ModemError Authenticate(byte[] rand, byte[] autn, AuthenticateResult result);

        /// <summary>EF_KeysPS via +CRSM READ BINARY (AT+CRSM=176,28425,0,0,33; DESIGN.md §3 network mode).</summary>
        ModemError ReadKeysPs(UsimKeys keys);

        /// <summary>EF_IMSI via +CRSM READ BINARY (TS 31.102 §4.2.2).</summary>
        ModemError ReadEfImsi(out string imsi);

        /// <summary>EF_AD via +CRSM READ BINARY (TS 31.102 §4.2.18).</summary>
        ModemError ReadAd(out AdministrativeData ad);

        /// <summary>+CME/+CMS code of the last failed AT command (-1 for none / plain ERROR).</summary>
        int LastCmeError { get; }

        /// <summary>Status word of the last SIM command that failed at the USIM.</summary>
        StatusWord LastStatusWord { get; }
    }

    /// <summary>Fixed text for <see cref="ModemError"/> (no Enum.ToString on nanoFramework).</summary>
    public static class ModemErrors
    {
        public static string Describe(ModemError e)
        {
            switch (e)
            {
                case ModemError.Ok: return "ok";
                case ModemError.Timeout: return "timeout";
                case ModemError.CommandError: return "command error";
                case ModemError.Rebooted: return "modem rebooted";
                case ModemError.PowerOnFailed: return "power-on failed";
                case ModemError.SimNotInserted: return "SIM not inserted";
                case ModemError.SimPinRequired: return "SIM PIN required";
                case ModemError.SimLocked: return "SIM locked";
                case ModemError.SimBusy: return "SIM busy";
                case ModemError.SimFailure: return "SIM failure";
                case ModemError.RegistrationDenied: return "registration denied";
                case ModemError.PdpActivationFailed: return "PDP activation failed";
                case ModemError.SocketOpenFailed: return "socket open failed";
                case ModemError.SendFailed: return "send failed";
                case ModemError.BadSocket: return "bad socket";
                case ModemError.MalformedResponse: return "malformed modem response";
                case ModemError.SimRefused: return "SIM refused the command";
                case ModemError.NoSimAccessPath: return "no SIM access path";
                case ModemError.ModemRefused: return "modem refused the SIM command";
                case ModemError.TooLarge: return "datagram too large";
                case ModemError.NoData: return "no data";
            }
            return "modem error";
        }
    }
}

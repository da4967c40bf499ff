using E2m.Modem.At;
using E2m.Modem.Usim;

namespace E2m.Modem.Commands
{
    /// <summary>
    /// Quectel BG95/BG96 vendor commands: TCP/IP stack (BG96 TCP/IP Application Note V1.2 = Q96-TCP,
    /// BG95 TCP/IP Application Note V1.1 = Q95-TCP, as cited in modems.md §1.4–1.5) and power-down.
    /// </summary>
    public static class QuectelCommands
    {
        /// <summary>AT+QIACT max response 150 s (modems.md §1.4: TG-BG96 150000; manual page not retrieved).</summary>
        public const int QiactTimeoutMs = 150000;

        /// <summary>AT+QIDEACT 40 s "determined by the network" (modems.md §1.4, Q95-TCP p18).</summary>
        public const int QideactTimeoutMs = 40000;

        /// <summary>AT+QIOPEN: OK at once, then URC +QIOPEN within 150 s (modems.md §1.5, Q96-TCP p15 §2.2.4, Q95-TCP p18).</summary>
        public const int QiopenUrcTimeoutMs = 150000;

        /// <summary>AT+QISEND / AT+QIRD max 120 s (modems.md §1.5, Q96-TCP p20/p22, Q95-TCP p24/p25).</summary>
        public const int QisendTimeoutMs = 120000;

        public const int QirdTimeoutMs = 120000;

        /// <summary>AT+QICLOSE ≈10 s default (modems.md §1.5, Q95-TCP p43/p4).</summary>
        public const int QicloseTimeoutMs = 10000;

        /// <summary>AT+QPOWD: OK then "POWERED DOWN"; forced after 40 s of network log-off (modems.md §1.2, UG96 HW design).</summary>
        public const int QpowdTimeoutMs = 40000;

        /// <summary>Largest AT+QISEND payload (modems.md §1.5: &lt;send_length&gt; 0–1460).</summary>
        public const int MaxSendLength = 1460;

        /// <summary>Largest AT+QIRD read (modems.md §1.5: read_length 0–1500, default 1500).</summary>
        public const int MaxReadLength = 1500;

        /// <summary>AT+QICSGP=&lt;ctx&gt;,1,"&lt;apn&gt;","","",0 (modems.md §1.4, 1NCE).</summary>
        public static readonly AtCommand Qicsgp = new AtCommand("AT+QICSGP=", PacketDomainCommands.CgdcontTimeoutMs) { Idempotent = true, Attempts = 2 };

        /// <summary>AT+QIACT=&lt;ctx&gt; (modems.md §1.4).</summary>
        public static readonly AtCommand Qiact = new AtCommand("AT+QIACT=", QiactTimeoutMs);

        /// <summary>AT+QIACT? → "+QIACT: &lt;ctx&gt;,&lt;state&gt;,&lt;type&gt;,"&lt;ip&gt;"" per active context, or a bare OK (modems.md §1.4).</summary>
        public static readonly AtCommand QiactRead = new AtCommand("AT+QIACT?", QiactTimeoutMs)
        { ResponsePrefix = "+QIACT:", Idempotent = true, Attempts = 2 };

        /// <summary>AT+QIOPEN=&lt;ctx&gt;,&lt;id&gt;,"UDP","&lt;ip&gt;",&lt;port&gt;,0,0 (buffer access mode); the result is the URC "+QIOPEN: &lt;id&gt;,&lt;err&gt;".</summary>
        public static readonly AtCommand Qiopen = new AtCommand("AT+QIOPEN=", GeneralCommands.LocalTimeoutMs * 5);

        /// <summary>AT+QISEND=&lt;id&gt;,&lt;len&gt; → '&gt;' → exactly len octets → "SEND OK" | "SEND FAIL" | ERROR (modems.md §1.5, Q96-TCP p20).</summary>
        public static readonly AtCommand Qisend = new AtCommand("AT+QISEND=", QisendTimeoutMs)
        { Prompt = '>', SuccessLine = "SEND OK", FailureLine = "SEND FAIL" };

        /// <summary>AT+QIRD=&lt;id&gt;[,&lt;len&gt;] → "+QIRD: &lt;n&gt;" CR LF &lt;n octets&gt; OK (modems.md §1.5, Q96-TCP p22).</summary>
        public static readonly AtCommand Qird = new AtCommand("AT+QIRD=", QirdTimeoutMs)
        { BinaryPrefix = "+QIRD:", Idempotent = false };

        /// <summary>AT+QICLOSE=&lt;id&gt; → OK (modems.md §1.5).</summary>
        public static readonly AtCommand Qiclose = new AtCommand("AT+QICLOSE=", QicloseTimeoutMs) { Idempotent = true };

        /// <summary>AT+QPOWD=1: normal power down → OK, later "POWERED DOWN" (modems.md §1.2, Z-CELL, TG-BG96).</summary>
        public static readonly AtCommand Qpowd = new AtCommand("AT+QPOWD=1", QpowdTimeoutMs);

        /// <summary>AT+QCFG="iotopmode",&lt;0 M1|1 NB1|2 both&gt;,1 (modems.md §1.3, Mbed/particle).</summary>
        public static readonly AtCommand QcfgIotOpMode = new AtCommand("AT+QCFG=\"iotopmode\",", GeneralCommands.LocalTimeoutMs * 5) { Idempotent = true };

        /// <summary>URC prefix of the QIOPEN result (modems.md §1.5).</summary>
        public const string UrcQiopen = "+QIOPEN";

        /// <summary>URC prefix of socket events: "recv", "closed", "pdpdeact" (modems.md §1.5, Q96-TCP p34).</summary>
        public const string UrcQiurc = "+QIURC";

        /// <summary>Boot line after AT+QPOWD (modems.md §1.2).</summary>
        public const string PoweredDown = "POWERED DOWN";

        /// <summary>&lt;access_mode&gt; 0: buffer access mode, data read with AT+QIRD (modems.md §1.5, Q96-TCP p19).</summary>
        public const int AccessModeBuffer = 0;

        /// <summary>
        /// &lt;access_mode&gt; 1: direct push, data pushed in the URC <c>+QIURC: "recv",&lt;id&gt;,&lt;len&gt;&lt;CR&gt;&lt;LF&gt;&lt;data&gt;</c>
        /// (modems.md §1.5, Q96-TCP p19 and p34–35; 1NCE BG95-M3 example <c>AT+QIOPEN=1,0,"UDP",...,4445,0,1</c>).
        /// </summary>
        public const int AccessModeDirectPush = 1;

        /// <summary>Arguments of AT+QIOPEN for a UDP client in buffer mode: ctx,id,"UDP","ip",port,0,0.</summary>
        public static string QiopenUdpArguments(int contextId, int connectId, string remoteIp, int remotePort)
        {
            return QiopenUdpArguments(contextId, connectId, remoteIp, remotePort, AccessModeBuffer);
        }

        /// <summary>Arguments of AT+QIOPEN for a UDP client: ctx,id,"UDP","ip",port,0,&lt;access_mode&gt; (local port 0 = any).</summary>
        public static string QiopenUdpArguments(int contextId, int connectId, string remoteIp, int remotePort, int accessMode)
        {
            if (connectId < 0 || connectId > 11) throw new System.ArgumentOutOfRangeException("connectId");
            if (remotePort < 1 || remotePort > 65535) throw new System.ArgumentOutOfRangeException("remotePort");
            if (accessMode != AccessModeBuffer && accessMode != AccessModeDirectPush) throw new System.ArgumentOutOfRangeException("accessMode");
            CheckHost(remoteIp);
            return contextId.ToString() + "," + connectId.ToString() + ",\"UDP\",\"" + remoteIp + "\"," + remotePort.ToString() + ",0," + accessMode.ToString();
        }

        /// <summary>
        /// Direct-push header <c>+QIURC: "recv",&lt;id&gt;,&lt;len&gt;</c> (UDP/TCP client, Q96-TCP p34–35): returns &lt;len&gt; and
        /// the connect id, or -1 when the line is not a "recv" with a length (buffer-mode "recv", "closed", ...).
        /// The UDP SERVICE form (…,&lt;len&gt;,"&lt;ip&gt;",&lt;port&gt;) is accepted too; ip/port are not returned.
        /// </summary>
        public static int ParseQiurcRecvLength(string line, out int connectId)
        {
            connectId = -1;
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix(UrcQiurc);
            if (r.ReadString() != "recv") return -1;
            if (!r.NextField()) return -1;
            connectId = r.ReadInt(0, 11);
            if (!r.NextField()) return -1;
            return r.ReadInt(0, MaxReadLength);
        }

        /// <summary>Throws ArgumentException for a host string that cannot be put in an AT string.</summary>
        public static void CheckHost(string host)
        {
            if (host == null || host.Length == 0 || host.Length > 255) throw new System.ArgumentException("host");
            for (int i = 0; i < host.Length; i++)
            {
                char c = host[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':';
                if (!ok) throw new System.ArgumentException("host character not allowed");
            }
        }

        /// <summary>Parses the URC "+QIOPEN: &lt;connectID&gt;,&lt;err&gt;" into connect id and error (0 = success; 5xx codes, modems.md §1.5).</summary>
        public static void ParseQiopenUrc(string line, out int connectId, out int error)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix(UrcQiopen);
            connectId = r.ReadInt(0, 11);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<err>");
            error = r.ReadInt(0, 65535);
            r.ExpectEnd();
        }

        /// <summary>Kinds of +QIURC (modems.md §1.5).</summary>
        public const int QiurcOther = 0;
        public const int QiurcRecv = 1;
        public const int QiurcClosed = 2;
        public const int QiurcPdpDeact = 3;

        /// <summary>
        /// Parses "+QIURC: "recv",&lt;id&gt;[,&lt;len&gt;]" (BG95 may append the length, modems.md §4 quirk 3),
        /// "+QIURC: "closed",&lt;id&gt;", "+QIURC: "pdpdeact",&lt;ctx&gt;". Returns the kind; <paramref name="id"/> is the
        /// connect id or context id, -1 when absent.
        /// </summary>
        public static int ParseQiurc(string line, out int id)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix(UrcQiurc);
            string kind = r.ReadString();
            id = -1;
            if (r.NextField()) id = r.ReadInt(0, 255);
            if (kind == "recv") return QiurcRecv;
            if (kind == "closed") return QiurcClosed;
            if (kind == "pdpdeact") return QiurcPdpDeact;
            return QiurcOther;
        }

        /// <summary>Parses "+QIACT: &lt;ctx&gt;,&lt;state&gt;,..." → true when this line reports &lt;contextId&gt; active.</summary>
        public static bool ParseQiactActive(string line, int contextId)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+QIACT");
            int ctx = r.ReadInt(0, 16);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<context_state>");
            int state = r.ReadInt(0, 1);
            return ctx == contextId && state == 1;
        }
    }

    /// <summary>
    /// u-blox SARA-R4/R5 vendor commands (SARA-R4 AT manual UBX-17003787 R09/R11/R16 = U09/U11/U16 as cited in
    /// modems.md §2). Sockets run in HEX mode (AT+UDCONF=1,1): +USOST carries 2·len hex digits (len ≤ 512) and
    /// +USORF returns hex, so no raw byte stream with quotes/CR LF ever crosses the line framer, and the
    /// binary-syntax/HEX-mode interaction the Zephyr driver works around (modems.md §4 quirk 11) never arises.
    /// </summary>
    public static class UbloxCommands
    {
        /// <summary>+USOST "&lt; 10 s" (modems.md §2.5, U16 p216–217).</summary>
        public const int UsostTimeoutMs = 10000;

        /// <summary>+USORF "&lt; 1 s" (modems.md §2.5, U09 p193).</summary>
        public const int UsorfTimeoutMs = 1000;

        /// <summary>+USOCL blocking "&lt; 120 s" (modems.md §2.5, U09 p186).</summary>
        public const int UsoclTimeoutMs = 120000;

        /// <summary>+USOCR: no figure in modems.md (§5: USOCR manual page not read); engineering value.</summary>
        public const int UsocrTimeoutMs = 5000;

        /// <summary>+CPWROFF response time "&lt; 40 s" (modems.md §2.1, U16 p30 §5.2).</summary>
        public const int CpwroffTimeoutMs = 40000;

        /// <summary>
        /// Largest datagram in HEX syntax. The manual allows len ≤ 512 (modems.md §2.5, U09 p190), but the whole command line
        /// is at most 1024 characters (modems.md §2.3, U09 p13 §1.1.4): `AT+USOST=s,"IPv4",port,len,"` + 2·len hex + `"` is
        /// 41 + 2·len characters with a 15-character address and a 5-digit port, so len ≤ 491; 480 keeps a margin.
        /// </summary>
        public const int MaxHexSendLength = 480;

        /// <summary>Longest AT command line the SARA-R4/R5 accepts (modems.md §2.3, U09 p13 §1.1.4).</summary>
        public const int MaxCommandLine = 1024;

        /// <summary>Largest +USORF read (0–1024, modems.md §2.5).</summary>
        public const int MaxReadLength = 1024;

        /// <summary>AT+UDCONF=1,1: HEX mode for socket data (modems.md §2.5; Zephyr "HEX receive data mode").</summary>
        public static readonly AtCommand UdconfHex = new AtCommand("AT+UDCONF=1,1", GeneralCommands.LocalTimeoutMs) { Idempotent = true, Attempts = 2 };

        /// <summary>AT+USOCR=17[,&lt;local_port&gt;] → "+USOCR: &lt;socket&gt;" (modems.md §2.5).</summary>
        public static readonly AtCommand Usocr = new AtCommand("AT+USOCR=", UsocrTimeoutMs)
        { ResponsePrefix = "+USOCR:", MaxResponseLines = 1 };

        /// <summary>AT+USOST=&lt;s&gt;,"&lt;ip&gt;",&lt;port&gt;,&lt;len&gt;,"&lt;hex&gt;" → "+USOST: &lt;s&gt;,&lt;len&gt;" (modems.md §2.5).</summary>
        public static readonly AtCommand Usost = new AtCommand("AT+USOST=", UsostTimeoutMs)
        { ResponsePrefix = "+USOST:", MaxResponseLines = 1 };

        /// <summary>AT+USORF=&lt;s&gt;,&lt;len&gt; → "+USORF: &lt;s&gt;,"&lt;ip&gt;",&lt;port&gt;,&lt;n&gt;,"&lt;hex&gt;"" (modems.md §2.5).</summary>
        public static readonly AtCommand Usorf = new AtCommand("AT+USORF=", UsorfTimeoutMs)
        { ResponsePrefix = "+USORF:", MaxResponseLines = 1 };

        /// <summary>AT+USOCL=&lt;s&gt; → OK (modems.md §2.5).</summary>
        public static readonly AtCommand Usocl = new AtCommand("AT+USOCL=", UsoclTimeoutMs) { Idempotent = true };

        /// <summary>AT+CPWROFF → OK, then V_INT low (modems.md §2.1, U16 p30).</summary>
        public static readonly AtCommand Cpwroff = new AtCommand("AT+CPWROFF", CpwroffTimeoutMs);

        /// <summary>URC "+UUSORF: &lt;socket&gt;,&lt;length&gt;" (modems.md §2.5, U11 p194).</summary>
        public const string UrcUusorf = "+UUSORF";

        /// <summary>URC "+UUSOCL: &lt;socket&gt;" (modems.md §2.5).</summary>
        public const string UrcUusocl = "+UUSOCL";

        /// <summary>Parses "+USOCR: &lt;socket&gt;" (socket 0–6, modems.md §2.5).</summary>
        public static int ParseUsocr(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+USOCR");
            int s = r.ReadInt(0, 6);
            r.ExpectEnd();
            return s;
        }

        /// <summary>Parses "+UUSORF: &lt;socket&gt;,&lt;length&gt;".</summary>
        public static void ParseUusorf(string line, out int socket, out int length)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix(UrcUusorf);
            socket = r.ReadInt(0, 6);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<length>");
            length = r.ReadInt(0, 65535);
            r.ExpectEnd();
        }

        /// <summary>Parses "+USOST: &lt;socket&gt;,&lt;length&gt;" → the length sent.</summary>
        public static int ParseUsost(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+USOST");
            r.ReadInt(0, 6);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<length>");
            int n = r.ReadInt(0, MaxReadLength);
            r.ExpectEnd();
            return n;
        }

        /// <summary>
        /// Parses the HEX-mode "+USORF: &lt;s&gt;,"&lt;ip&gt;",&lt;port&gt;,&lt;n&gt;,"&lt;hex&gt;"" into <paramref name="dest"/>;
        /// returns n (the hex must be exactly 2·n digits). "+USORF: &lt;s&gt;,0" (nothing pending) returns 0.
        /// </summary>
        public static int ParseUsorfHex(string line, byte[] dest, int destOffset)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+USORF");
            r.ReadInt(0, 6);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<remote_ip>");
            if (!r.NextIsQuoted)
            {
                int pending = r.ReadInt(0, 65535); // "+USORF: <s>,<length>" form of AT+USORF=<s>,0
                r.ExpectEnd();
                if (pending != 0) throw new UsimException(UsimError.BadAtSyntax, r.Position, "unexpected +USORF length form");
                return 0;
            }
            r.SkipField(); // remote ip
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<remote_port>");
            r.ReadInt(0, 65535);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<length>");
            int lengthPos = r.Position;
            int n = r.ReadInt(0, MaxReadLength);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<data>");
            int start;
            int end;
            r.ReadStringSpan(out start, out end);
            r.ExpectEnd();
            if (end - start != 2 * n) throw new UsimException(UsimError.AtLengthMismatch, lengthPos);
            return HexString.Decode(line, start, end - start, dest, destOffset);
        }
    }
}

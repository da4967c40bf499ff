using E2m.Modem.At;
using E2m.Modem.Usim;

namespace E2m.Modem.Commands
{
    /// <summary>
    /// TS 27.007 SIM access: +CSIM §8.17 (generic APDU), +CRSM §8.18 (restricted access), +CCHO §8.45,
    /// +CGLA §8.43, +CCHC §8.46 (logical channels). All are <see cref="AtCommand.Sensitive"/>: they carry
    /// RAND/AUTN/RES/CK/IK or EF_KeysPS and are logged redacted.
    /// </summary>
    public static class SimAccessCommands
    {
        /// <summary>
        /// SIM access timeout. The Quectel manual gives 300 ms for CSIM/CRSM/CCHO/CGLA/CCHC (modems.md §3, Q-CN);
        /// AUTHENTICATE runs MILENAGE on the card and a T=0 exchange with GET RESPONSE, so we allow 5 s
        /// (engineering margin over the manual figure; a real late answer is worse than a slow one).
        /// </summary>
        public const int SimTimeoutMs = 5000;

        /// <summary>TS 27.007 §8.17 +CSIM=&lt;length&gt;,&lt;command&gt; → "+CSIM: &lt;length&gt;,&lt;response&gt;" (length = hex characters).</summary>
        public static readonly AtCommand Csim = new AtCommand("AT+CSIM=", SimTimeoutMs)
        { ResponsePrefix = "+CSIM:", MaxResponseLines = 1, Sensitive = true };

        /// <summary>
        /// TS 27.007 §8.18 +CRSM=&lt;command&gt;[,&lt;fileid&gt;[,&lt;P1&gt;,&lt;P2&gt;,&lt;P3&gt;]] → "+CRSM: &lt;sw1&gt;,&lt;sw2&gt;[,&lt;response&gt;]".
        /// Example (modems.md §3, U16 p120): AT+CRSM=176,28471,0,0,3 → +CRSM: 144,0,"989301770020594178F2".
        /// </summary>
        public static readonly AtCommand Crsm = new AtCommand("AT+CRSM=", SimTimeoutMs)
        { ResponsePrefix = "+CRSM:", MaxResponseLines = 1, Idempotent = true, Attempts = 2, Sensitive = true };

        /// <summary>
        /// TS 27.007 §8.45 +CCHO=&lt;dfname&gt; → &lt;sessionid&gt;. The spec prints a bare integer; Quectel prints
        /// "+CCHO: &lt;id&gt;" (modems.md §3); Sierra a large hex id (3gpp.md §4). Both line forms are taken.
        /// Not idempotent: a retry would open a second channel.
        /// </summary>
        public static readonly AtCommand Ccho = new AtCommand("AT+CCHO=", SimTimeoutMs)
        { ResponsePrefix = "+CCHO:", RawResponse = true, MaxResponseLines = 1 };

        /// <summary>TS 27.007 §8.43 +CGLA=&lt;sessionid&gt;,&lt;length&gt;,&lt;command&gt; → "+CGLA: &lt;length&gt;,&lt;response&gt;". The MT sets the channel bits of CLA.</summary>
        public static readonly AtCommand Cgla = new AtCommand("AT+CGLA=", SimTimeoutMs)
        { ResponsePrefix = "+CGLA:", MaxResponseLines = 1, Sensitive = true };

        /// <summary>TS 27.007 §8.46 +CCHC=&lt;sessionid&gt; → OK (some modems print "+CCHC" first).</summary>
        public static readonly AtCommand Cchc = new AtCommand("AT+CCHC=", SimTimeoutMs)
        { ResponsePrefix = "+CCHC", MaxResponseLines = 1, Idempotent = true };

        /// <summary>Test forms used by the capability probe (lpac probes AT+CCHO=? / AT+CGLA=?, modems.md §3).</summary>
        public static readonly AtCommand CchoTest = new AtCommand("AT+CCHO=?", GeneralCommands.LocalTimeoutMs) { Idempotent = true };

        public static readonly AtCommand CglaTest = new AtCommand("AT+CGLA=?", GeneralCommands.LocalTimeoutMs) { Idempotent = true };

        public static readonly AtCommand CsimTest = new AtCommand("AT+CSIM=?", GeneralCommands.LocalTimeoutMs) { Idempotent = true };

        /// <summary>+CRSM &lt;command&gt; READ BINARY (TS 27.007 §8.18; INS 'B0').</summary>
        public const int CrsmReadBinary = 176;

        /// <summary>+CRSM &lt;command&gt; READ RECORD (TS 27.007 §8.18; INS 'B2').</summary>
        public const int CrsmReadRecord = 178;

        /// <summary>+CRSM &lt;command&gt; GET RESPONSE (TS 27.007 §8.18).</summary>
        public const int CrsmGetResponse = 192;

        /// <summary>READ RECORD P2 '04': absolute mode, record number in P1 (TS 102 221 §11.1.5).</summary>
        public const int ReadRecordAbsolute = 4;

        /// <summary>
        /// Arguments of +CRSM READ RECORD: 178,&lt;fileid&gt;,&lt;record&gt;,4,&lt;record length&gt; (TS 27.007 §8.18,
        /// TS 102 221 §11.1.5 absolute mode); e.g. "178,12032,1,4,32" reads record 1 of EF_DIR.
        /// </summary>
        public static string CrsmReadRecordArguments(int fileId, int record, int length)
        {
            if (fileId < 0 || fileId > 0xFFFF) throw new System.ArgumentOutOfRangeException("fileId");
            if (record < 1 || record > 254) throw new System.ArgumentOutOfRangeException("record");
            if (length < 1 || length > 255) throw new System.ArgumentOutOfRangeException("length");
            return CrsmReadRecord.ToString() + "," + fileId.ToString() + "," + record.ToString() + ","
                + ReadRecordAbsolute.ToString() + "," + length.ToString();
        }

        /// <summary>
        /// Arguments of +CRSM GET RESPONSE: 192,&lt;fileid&gt; — the MT selects the file and returns its FCP
        /// (TS 102 221 §11.1.1.3). P1..P3 are left out: TS 27.007 §8.18 makes them mandatory for every command
        /// except GET RESPONSE and STATUS. (Whether every BG9x/SARA firmware accepts the short form is NOT ESTABLISHED.)
        /// </summary>
        public static string CrsmGetResponseArguments(int fileId)
        {
            if (fileId < 0 || fileId > 0xFFFF) throw new System.ArgumentOutOfRangeException("fileId");
            return CrsmGetResponse.ToString() + "," + fileId.ToString();
        }

        /// <summary>Arguments of +CSIM: &lt;length&gt;,"&lt;hex&gt;" with length = 2 × octets (TS 27.007 §8.17).</summary>
        public static string CsimArguments(byte[] apdu, int offset, int count)
        {
            return (2 * count).ToString() + ",\"" + HexString.Encode(apdu, offset, count) + "\"";
        }

        /// <summary>Arguments of +CGLA: &lt;sessionid&gt;,&lt;length&gt;,"&lt;hex&gt;" (TS 27.007 §8.43).</summary>
        public static string CglaArguments(string sessionId, byte[] apdu, int offset, int count)
        {
            return sessionId + "," + (2 * count).ToString() + ",\"" + HexString.Encode(apdu, offset, count) + "\"";
        }

        /// <summary>Arguments of +CCHO: "&lt;dfname&gt;" = the AID in hex (TS 27.007 §8.45).</summary>
        public static string CchoArguments(byte[] aid, int offset, int count)
        {
            return "\"" + HexString.Encode(aid, offset, count) + "\"";
        }

        /// <summary>
        /// Arguments of +CRSM READ BINARY: 176,&lt;fileid decimal&gt;,&lt;P1 offset high&gt;,&lt;P2 offset low&gt;,&lt;P3 length&gt;
        /// (TS 27.007 §8.18; e.g. "176,28425,0,0,33" reads EF_KeysPS, DESIGN.md §3).
        /// </summary>
        public static string CrsmReadBinaryArguments(int fileId, int offset, int length)
        {
            if (fileId < 0 || fileId > 0xFFFF) throw new System.ArgumentOutOfRangeException("fileId");
            if (offset < 0 || offset > 0x7FFF) throw new System.ArgumentOutOfRangeException("offset");
            if (length < 0 || length > 255) throw new System.ArgumentOutOfRangeException("length");
            return CrsmReadBinary.ToString() + "," + fileId.ToString() + "," + (offset >> 8).ToString() + ","
                + (offset & 0xFF).ToString() + "," + length.ToString();
        }

        /// <summary>
        /// Parses "+CSIM: &lt;length&gt;,&lt;response&gt;" (response quoted or not) into <paramref name="dest"/>;
        /// returns the octet count including SW1 SW2. The length must equal the hex character count.
        /// </summary>
        public static int ParseCsim(string line, byte[] dest, int destOffset)
        {
            return ParseLengthHex(line, "+CSIM", dest, destOffset);
        }

        /// <summary>Parses "+CGLA: &lt;length&gt;,&lt;response&gt;" like <see cref="ParseCsim"/>.</summary>
        public static int ParseCgla(string line, byte[] dest, int destOffset)
        {
            return ParseLengthHex(line, "+CGLA", dest, destOffset);
        }

        private static int ParseLengthHex(string line, string prefix, byte[] dest, int destOffset)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix(prefix);
            int lengthPos = r.Position;
            int length = r.ReadInt(0, 2 * 258);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<response>");
            int start;
            int end;
            r.ReadStringSpan(out start, out end);
            r.ExpectEnd();
            if (end - start != length) throw new UsimException(UsimError.AtLengthMismatch, lengthPos);
            int n = HexString.Decode(line, start, end - start, dest, destOffset);
            if (n < 2) throw new UsimException(UsimError.MissingStatusWord, start);
            return n;
        }

        /// <summary>
        /// Parses "+CRSM: &lt;sw1&gt;,&lt;sw2&gt;[,&lt;response&gt;]" (sw decimal; response hex, quoted or not, possibly
        /// empty); writes the response octets to <paramref name="dest"/> and returns their count.
        /// </summary>
        public static int ParseCrsm(string line, byte[] dest, int destOffset, out StatusWord sw)
        {
            AtLineReader r = new AtLineReader(line);
            r.ExpectPrefix("+CRSM");
            int sw1 = r.ReadInt(0, 255);
            if (!r.NextField()) throw new UsimException(UsimError.MissingAtField, r.Position, "<sw2>");
            int sw2 = r.ReadInt(0, 255);
            sw = new StatusWord(sw1, sw2);
            if (!r.NextField()) return 0;
            int start;
            int end;
            r.ReadStringSpan(out start, out end);
            r.ExpectEnd();
            return HexString.Decode(line, start, end - start, dest, destOffset);
        }

        /// <summary>
        /// Parses the +CCHO session id from "+CCHO: &lt;id&gt;", a bare "&lt;id&gt;" line, or either with the id in
        /// quotes; the id is a decimal number or, on some modems, a hex token (e.g. "0x1A2B" or "3F00A1").
        /// Returned verbatim (without quotes) because +CGLA/+CCHC must echo it exactly as the modem printed it.
        /// </summary>
        public static string ParseCchoSession(string line)
        {
            AtLineReader r = new AtLineReader(line);
            r.TryPrefix("+CCHO");
            int start;
            int end;
            r.ReadStringSpan(out start, out end);
            r.ExpectEnd();
            int p = start;
            if (end - p > 2 && line[p] == '0' && (line[p + 1] == 'x' || line[p + 1] == 'X')) p += 2;
            if (end - p < 1 || end - p > 16) throw new UsimException(UsimError.BadAtSyntax, start, "session id");
            for (int i = p; i < end; i++)
            {
                if (HexString.Nibble(line[i]) < 0) throw new UsimException(UsimError.BadAtSyntax, i, "session id");
            }
            return line.Substring(start, end - start);
        }
    }
}

using System;

namespace E2m.Modem.At
{
    /// <summary>
    /// Description of one AT command: data, not code (atat's <c>AtatCmd</c> / Zephyr's
    /// <c>MODEM_CHAT_SCRIPT_CMD_RESP</c>). The catalogue keeps static instances named after the
    /// 27.007 / vendor-manual section; the channel never needs to know which command it runs.
    /// Instances are shared: configure them once (object initialiser), treat them as read-only after.
    /// <example><code>
    /// // 27.007 §10.1.22 EPS network registration status, read form
    /// public static readonly AtCommand CeregRead = new AtCommand("AT+CEREG?", 300)
    /// { ResponsePrefix = "+CEREG:", ResponseLeadingNumbers = 2, MaxResponseLines = 1, Idempotent = true, Attempts = 2 };
    /// // BG96 TCP/IP AN §2.3.9: AT+QISEND=&lt;id&gt;,&lt;len&gt; -> "&gt;" -> data -> SEND OK | SEND FAIL | ERROR
    /// public static readonly AtCommand QiSend = new AtCommand("AT+QISEND=", 120000)
    /// { Prompt = '&gt;', SuccessLine = "SEND OK", FailureLine = "SEND FAIL" };
    /// </code></example>
    /// </summary>
    public sealed class AtCommand
    {
        /// <summary>Creates a command with the given command-line text (without the terminating CR) and timeout.</summary>
        public AtCommand(string text, int timeoutMs)
        {
            if (text == null || text.Length == 0)
            {
                throw new ArgumentNullException("text");
            }

            if (timeoutMs <= 0)
            {
                throw new ArgumentOutOfRangeException("timeoutMs");
            }

            Text = text;
            TimeoutMs = timeoutMs;
            Attempts = 1;
            PayloadTerminator = -1;
        }

        /// <summary>
        /// Command line without the CR (V.250 §5.2.1 S3), e.g. "AT+CEREG?". Arguments given to
        /// <see cref="AtChannel.Execute(AtCommand, string, AtResult)"/> are appended to it ("AT+QIRD=" + "0,1500").
        /// </summary>
        public string Text { get; private set; }

        /// <summary>Maximum time from writing the command to the final result code, per attempt (the manual's "maximum response time").</summary>
        public int TimeoutMs { get; set; }

        /// <summary>
        /// Prefix of the information response lines this command expects (27.007 §4.1: "+CMD:"), or null.
        /// A line with this prefix that arrives while the command is in flight is taken as the response
        /// when it also has the declared shape (<see cref="ResponseLeadingNumbers"/>) and fewer than
        /// <see cref="MaxResponseLines"/> lines were taken; otherwise it is routed as a URC.
        /// </summary>
        public string ResponsePrefix { get; set; }

        /// <summary>
        /// The response lines have no prefix (e.g. AT+CIMI, AT+CGSN: a bare IMSI / IMEI). While in flight,
        /// any line that is not a final result, not the echo, does not start with '+' and does not match
        /// a registered URC prefix is taken as a response line.
        /// </summary>
        public bool RawResponse { get; set; }

        /// <summary>
        /// Shape rule separating a read response from a URC with the same prefix: when &gt; 0, the first
        /// N comma-separated parameters after the prefix must be unquoted decimal numbers. E.g. 2 for
        /// AT+CEREG? ("+CEREG: 2,5,..." = &lt;n&gt;,&lt;stat&gt;) which then rejects the URC forms "+CEREG: 5" and
        /// "+CEREG: 5,\"1A2B\",..." (27.007 §10.1.22). 0 = any line with the prefix matches.
        /// </summary>
        public int ResponseLeadingNumbers { get; set; }

        /// <summary>How many response lines the command takes at most (0 = up to the AtResult capacity). Later matching lines go to URC routing.</summary>
        public int MaxResponseLines { get; set; }

        /// <summary>Number of attempts (≥ 1). More than one attempt is used only on timeout and only when <see cref="Idempotent"/>.</summary>
        public int Attempts { get; set; }

        /// <summary>Sending the command twice has the same effect as once (reads, most settings): it may be retried after a timeout.</summary>
        public bool Idempotent { get; set; }

        /// <summary>
        /// Data prompt character the modem sends, without CR LF, before it accepts the payload: '&gt;'
        /// (AT+QISEND, AT+CMGS) or '@' (SARA-R4 binary AT+USOST, U16 p216); '\0' = no prompt.
        /// </summary>
        public char Prompt { get; set; }

        /// <summary>Wait after the prompt before writing the payload (SARA-R4: at least 50 ms after '@', U16 p216).</summary>
        public int PromptDelayMs { get; set; }

        /// <summary>Byte written after the payload (0x1A Ctrl-Z for variable-length AT+QISEND / AT+CMGS), or -1 for none.</summary>
        public int PayloadTerminator { get; set; }

        /// <summary>
        /// Prefix of a response line that is followed by raw payload bytes whose count is the first
        /// parameter of that line, e.g. "+QIRD:" (BG96 TCP/IP AN §2.3.11: "+QIRD: &lt;n&gt;[,...]" CR LF
        /// &lt;n bytes&gt;). The bytes may contain CR, LF or NUL; they go to <see cref="AtResult.Payload"/>.
        /// </summary>
        public string BinaryPrefix { get; set; }

        /// <summary>An extra line that ends the command successfully (e.g. "SEND OK"); null = only the V.250 codes.</summary>
        public string SuccessLine { get; set; }

        /// <summary>An extra line that ends the command with <see cref="AtStatus.CommandFailed"/> (e.g. "SEND FAIL").</summary>
        public string FailureLine { get; set; }

        /// <summary>
        /// The command, its arguments, its payload or its responses carry key material or authentication
        /// data (AT+CSIM, AT+CGLA, AT+CRSM of EF_KeysPS): the channel logs them as "[redacted]".
        /// </summary>
        public bool Sensitive { get; set; }
    }
}

using System;

namespace E2m.Modem.At
{
    /// <summary>
    /// Outcome of one <see cref="AtChannel.Execute(AtCommand, AtResult)"/>: the typed status, the error
    /// number of +CME/+CMS ERROR, the information response lines and, for binary reads, the payload.
    /// Preallocated by the caller and reused (the channel resets it at the start of every Execute),
    /// so a steady-state command allocates only the strings of its response lines.
    /// Not thread-safe: one result per caller thread.
    /// </summary>
    public sealed class AtResult
    {
        /// <summary>Default capacity: 16 response lines and a 1500-byte payload (BG96 AT+QIRD maximum, TCP/IP AN §2.3.11).</summary>
        public AtResult()
            : this(16, 1500)
        {
        }

        public AtResult(int maxLines, int maxPayloadLength)
        {
            if (maxLines < 1)
            {
                throw new ArgumentOutOfRangeException("maxLines");
            }

            if (maxPayloadLength < 0)
            {
                throw new ArgumentOutOfRangeException("maxPayloadLength");
            }

            Lines = new string[maxLines];
            Payload = new byte[maxPayloadLength];
            Reset();
        }

        /// <summary>The typed outcome.</summary>
        public AtStatus Status { get; internal set; }

        /// <summary>
        /// For <see cref="AtStatus.CmeError"/> / <see cref="AtStatus.CmsError"/>: the numeric error
        /// (27.007 §9.2 / 27.005 §3.2.5), also when the modem answered in verbose form (+CMEE=2) and the
        /// text is a known one; -1 when the verbose text is unknown. -1 for every other status.
        /// </summary>
        public int ErrorCode { get; internal set; }

        /// <summary>Verbose error text as received (+CMEE=2 form), or the failure line for CommandFailed / CallFailed; otherwise null.</summary>
        public string ErrorText { get; internal set; }

        /// <summary>Number of response lines collected (≤ Lines.Length).</summary>
        public int LineCount { get; internal set; }

        /// <summary>Response lines in arrival order (index &lt; LineCount), complete with their prefix. Entries at and past LineCount are stale.</summary>
        public string[] Lines { get; private set; }

        /// <summary>More response lines arrived than <see cref="Lines"/> holds; the extra ones were dropped.</summary>
        public bool LinesTruncated { get; internal set; }

        /// <summary>Raw payload of a binary read (<see cref="AtCommand.BinaryPrefix"/>), valid up to PayloadLength.</summary>
        public byte[] Payload { get; private set; }

        /// <summary>Bytes stored in <see cref="Payload"/>.</summary>
        public int PayloadLength { get; internal set; }

        /// <summary>The modem announced more payload bytes than <see cref="Payload"/> holds; the excess was read and dropped.</summary>
        public bool PayloadTruncated { get; internal set; }

        /// <summary>How many times the command was written (1 unless an idempotent command was retried after a timeout).</summary>
        public int Attempts { get; internal set; }

        /// <summary>True for <see cref="AtStatus.Ok"/>.</summary>
        public bool IsOk
        {
            get { return Status == AtStatus.Ok; }
        }

        /// <summary>The first response line, or null when there is none.</summary>
        public string FirstLine
        {
            get { return LineCount > 0 ? Lines[0] : null; }
        }

        /// <summary>Clears the result (status Timeout, no lines, no payload). Called by the channel.</summary>
        public void Reset()
        {
            Status = AtStatus.Timeout;
            ErrorCode = -1;
            ErrorText = null;
            for (int i = 0; i < LineCount; i++)
            {
                Lines[i] = null;
            }

            LineCount = 0;
            LinesTruncated = false;
            PayloadLength = 0;
            PayloadTruncated = false;
            Attempts = 0;
        }

        /// <summary>Fixed English text for a status (no Enum.ToString on nanoFramework).</summary>
        public static string Describe(AtStatus status)
        {
            switch (status)
            {
                case AtStatus.Ok: return "OK";
                case AtStatus.Error: return "ERROR";
                case AtStatus.CmeError: return "+CME ERROR";
                case AtStatus.CmsError: return "+CMS ERROR";
                case AtStatus.Timeout: return "timeout";
                case AtStatus.Rebooted: return "modem rebooted";
                case AtStatus.Busy: return "channel busy";
                case AtStatus.NoCarrier: return "NO CARRIER";
                case AtStatus.Connect: return "CONNECT";
                case AtStatus.CommandFailed: return "command failed";
                case AtStatus.CallFailed: return "call failed";
                default: return "unknown status";
            }
        }

        /// <summary>Status plus error number/text, for logs ("+CME ERROR 10 (SIM not inserted)").</summary>
        public override string ToString()
        {
            string s = Describe(Status);
            if (ErrorCode >= 0)
            {
                s = s + " " + ErrorCode.ToString();
            }

            if (ErrorText != null)
            {
                s = s + " (" + ErrorText + ")";
            }

            return s;
        }
    }
}

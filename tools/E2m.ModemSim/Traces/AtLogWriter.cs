using System;
using System.Globalization;
using System.IO;
using System.Net;
using System.Text;

namespace E2m.ModemSim.Traces
{
    /// <summary>
    /// Annotated AT log: <c>&gt;&gt;</c> DTE → modem, <c>&lt;&lt;</c> modem → DTE (one entry per line; the prompt and raw
    /// payload bytes escaped), <c>!!</c> notes (injected faults, power, attach), <c>~~</c> UDP datagrams; every entry
    /// stamped with the modem clock (seconds.milliseconds). SIM access (+CSIM/+CGLA/+CRSM) carries RAND/AUTN/RES/CK/IK:
    /// their hex is replaced by its length unless <see cref="ShowSimData"/> is set (test rig with test keys only).
    /// </summary>
    public sealed class AtLogWriter : IModemTrace, IDisposable
    {
        private readonly TextWriter _writer;
        private readonly bool _owns;
        private readonly object _gate = new();
        private readonly StringBuilder _pending = new();
        private long _pendingTime;

        public AtLogWriter(TextWriter writer, bool ownsWriter = false)
        {
            _writer = writer;
            _owns = ownsWriter;
        }

        public static AtLogWriter Create(string path) => new(new StreamWriter(path, append: false, new UTF8Encoding(false)) { AutoFlush = true }, true);

        public bool ShowSimData { get; set; }

        public void DteToModem(long timeMs, string text)
        {
            lock (_gate)
            {
                FlushPending();
                Entry(timeMs, ">>", Redact(text));
            }
        }

        public void ModemToDte(long timeMs, byte[] data, int offset, int count)
        {
            lock (_gate)
            {
                if (_pending.Length == 0)
                {
                    _pendingTime = timeMs;
                }

                for (int i = offset; i < offset + count; i++)
                {
                    byte b = data[i];
                    if (b == (byte)'\n')
                    {
                        FlushPending();
                        continue;
                    }

                    if (b == (byte)'\r')
                    {
                        continue;
                    }

                    if (_pending.Length == 0)
                    {
                        _pendingTime = timeMs;
                    }

                    _pending.Append(b >= 0x20 && b < 0x7F && b != (byte)'\\' ? ((char)b).ToString() : "\\x" + b.ToString("X2", CultureInfo.InvariantCulture));
                }

                string p = _pending.ToString();
                if (p == ">" || p == "> " || p == "@")
                {
                    FlushPending(); // data prompt: no line end follows
                }
            }
        }

        public void Note(long timeMs, string text)
        {
            lock (_gate)
            {
                Entry(timeMs, "!!", text);
            }
        }

        public void Udp(long timeMs, IPEndPoint source, IPEndPoint destination, byte[] payload)
        {
            lock (_gate)
            {
                Entry(timeMs, "~~", "UDP " + source + " -> " + destination + " " + payload.Length + " bytes");
            }
        }

        private void FlushPending()
        {
            if (_pending.Length == 0)
            {
                return;
            }

            Entry(_pendingTime, "<<", Redact(_pending.ToString()));
            _pending.Clear();
        }

        private void Entry(long timeMs, string tag, string text)
        {
            _writer.WriteLine((timeMs / 1000).ToString(CultureInfo.InvariantCulture) + "." + (timeMs % 1000).ToString("000", CultureInfo.InvariantCulture) + " " + tag + " " + text);
            _writer.Flush();
        }

        private string Redact(string line)
        {
            if (ShowSimData)
            {
                return line;
            }

            string[] prefixes = { "AT+CSIM=", "AT+CGLA=", "+CSIM:", "+CGLA:", "AT+CRSM=176,28425", "AT+CRSM=176,28424", "AT+CRSM=214" };
            foreach (string p in prefixes)
            {
                if (line.StartsWith(p, StringComparison.OrdinalIgnoreCase))
                {
                    int q = line.IndexOf('"');
                    return q < 0 ? line : line.Substring(0, q) + "\"[" + (line.Length - q - 2) + " hex digits redacted]\"";
                }
            }

            return line;
        }

        public void Dispose()
        {
            lock (_gate)
            {
                FlushPending();
                if (_owns)
                {
                    _writer.Dispose();
                }
            }
        }
    }
}

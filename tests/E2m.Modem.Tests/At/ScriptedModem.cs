using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using E2m.Hal;
using E2m.Hal.Host;

namespace E2m.Modem.Tests.At
{
    /// <summary>
    /// A behavioural fake of the modem's AT port, driven by the modem-side items of a transcript
    /// (the Zephyr modem_backend_mock idea: expected writes → scripted output, with a fragment limit).
    /// Single-threaded and deterministic: output is scheduled on the fake clock, delivered in seeded
    /// random fragments of 1..MaxFragment bytes; a read that would block advances the fake clock to
    /// the next scheduled output (or by its timeout) instead of waiting.
    /// </summary>
    internal sealed class ScriptedModem : ISerialTransport
    {
        private readonly List<TranscriptItem> _script = new();
        private readonly FakeClock _clock;
        private readonly Random _random;
        private readonly int _maxFragment;
        private readonly List<byte> _host = new();
        private readonly LinkedList<(long At, byte[] Bytes)> _out = new();
        private int _cursor;
        private long _schedule;
        private bool _echo;
        private long _lastDelivery;
        private int _minGap = -1;

        public ScriptedModem(Transcript transcript, FakeClock clock, int seed, int maxFragment = 7)
        {
            foreach (TranscriptItem item in transcript.Items)
            {
                if (item.Kind is not ("==" or "~~" or "??") && !(item.Kind == ">>" && item.Options.ContainsKey("deferred")))
                {
                    _script.Add(item);
                }
            }

            _clock = clock;
            _random = new Random(seed);
            _maxFragment = maxFragment;
        }

#pragma warning disable CS0067 // the channel under test does not use it; a pumped transport needs no signal
        public event EventHandler? DataAvailable;
#pragma warning restore CS0067

        public bool Finished => _cursor >= _script.Count && _host.Count == 0;

        public string Position => _cursor < _script.Count ? _script[_cursor].ToString() : "end of script";

        public void Write(byte[] data, int offset, int count)
        {
            for (int i = 0; i < count; i++)
            {
                _host.Add(data[offset + i]);
            }

            Advance();
        }

        public int Read(byte[] buffer, int offset, int count, int timeoutMs)
        {
            Advance();
            long now = _clock.NowMilliseconds;
            if (_out.Count > 0)
            {
                var head = _out.First!.Value;
                if (head.At > now)
                {
                    if (head.At > now + timeoutMs)
                    {
                        _clock.Advance(Math.Max(0, timeoutMs));
                        return 0;
                    }

                    _clock.AdvanceTo(head.At);
                }

                _out.RemoveFirst();
                int n = Math.Min(count, head.Bytes.Length);
                Array.Copy(head.Bytes, 0, buffer, offset, n);
                if (n < head.Bytes.Length)
                {
                    _out.AddFirst((head.At, head.Bytes[n..]));
                }

                _lastDelivery = _clock.NowMilliseconds;
                return n;
            }

            if (timeoutMs > 0)
            {
                _clock.Advance(timeoutMs);
            }

            return 0;
        }

        /// <summary>Drops output that has "arrived" (scheduled at or before now); later output is still on the wire.</summary>
        public void DiscardInput()
        {
            long now = _clock.NowMilliseconds;
            while (_out.Count > 0 && _out.First!.Value.At <= now)
            {
                _out.RemoveFirst();
            }
        }

        private void Advance()
        {
            while (_cursor < _script.Count)
            {
                TranscriptItem item = _script[_cursor];
                switch (item.Kind)
                {
                    case ">>":
                    case ">>&":
                    case ">>>":
                        {
                            bool isLine = item.Kind != ">>>";
                            int need = item.Bytes.Length + (isLine ? 1 : 0);
                            if (_host.Count < need)
                            {
                                if (!Prefix(item.Bytes, isLine))
                                {
                                    throw Mismatch(item);
                                }

                                return;
                            }

                            if (!Prefix(item.Bytes, isLine))
                            {
                                throw Mismatch(item);
                            }

                            if (_minGap >= 0)
                            {
                                long gap = _clock.NowMilliseconds - _lastDelivery;
                                if (gap < _minGap)
                                {
                                    throw new InvalidOperationException(item + ": host wrote after " + gap + " ms, expected at least " + _minGap + " ms");
                                }

                                _minGap = -1;
                            }

                            _host.RemoveRange(0, need);
                            _schedule = Math.Max(_schedule, _clock.NowMilliseconds);
                            if (_echo && isLine)
                            {
                                byte[] echo = new byte[need];
                                Array.Copy(item.Bytes, echo, item.Bytes.Length);
                                echo[need - 1] = 13;
                                Schedule(echo);
                            }

                            break;
                        }

                    case "<<":
                    case "<<u":
                    case "<<b":
                        Schedule(Concat(new byte[] { 13, 10 }, item.Bytes, new byte[] { 13, 10 }));
                        break;
                    case "<<~":
                        Schedule(item.Bytes);
                        break;
                    case "!!":
                        Directive(item);
                        break;
                    default:
                        throw new InvalidOperationException("unexpected " + item);
                }

                _cursor++;
            }

            if (_host.Count > 0)
            {
                throw new InvalidOperationException("host wrote after the end of the script: " + Show(_host.ToArray()));
            }
        }

        private void Directive(TranscriptItem item)
        {
            string[] p = item.Text.Split(' ');
            switch (p[0])
            {
                case "delay":
                    _schedule += int.Parse(p[1], CultureInfo.InvariantCulture);
                    break;
                case "echo":
                    _echo = p[1] == "on";
                    break;
                case "expect-gap":
                    _minGap = int.Parse(p[1], CultureInfo.InvariantCulture);
                    break;
                case "garbage":
                    {
                        int n = int.Parse(p[1], CultureInfo.InvariantCulture);
                        byte[] g = new byte[n + 2];
                        for (int i = 0; i < n; i++)
                        {
                            byte b;
                            do
                            {
                                b = (byte)_random.Next(1, 256);
                            }
                            while (b == 13 || b == 10 || b == (byte)'>' || b == (byte)'@' || b == (byte)'+');
                            g[i] = b;
                        }

                        g[n] = 13;
                        g[n + 1] = 10;
                        Schedule(g);
                        break;
                    }

                default:
                    throw new InvalidOperationException("unknown directive " + item);
            }
        }

        private void Schedule(byte[] bytes)
        {
            int i = 0;
            while (i < bytes.Length)
            {
                int n = Math.Min(bytes.Length - i, _random.Next(1, _maxFragment + 1));
                _out.AddLast((_schedule, bytes[i..(i + n)]));
                i += n;
            }
        }

        private bool Prefix(byte[] expected, bool withCr)
        {
            int n = Math.Min(_host.Count, expected.Length + (withCr ? 1 : 0));
            for (int i = 0; i < n; i++)
            {
                byte e = i < expected.Length ? expected[i] : (byte)13;
                if (_host[i] != e)
                {
                    return false;
                }
            }

            return true;
        }

        private InvalidOperationException Mismatch(TranscriptItem item) =>
            new(item + ": host wrote " + Show(_host.ToArray()));

        private static string Show(byte[] b)
        {
            var sb = new StringBuilder("\"");
            foreach (byte x in b)
            {
                sb.Append(x >= 32 && x < 127 ? ((char)x).ToString() : "\\x" + x.ToString("x2", CultureInfo.InvariantCulture));
            }

            return sb.Append('"').ToString();
        }

        private static byte[] Concat(byte[] a, byte[] b, byte[] c)
        {
            byte[] r = new byte[a.Length + b.Length + c.Length];
            a.CopyTo(r, 0);
            b.CopyTo(r, a.Length);
            c.CopyTo(r, a.Length + b.Length);
            return r;
        }
    }
}

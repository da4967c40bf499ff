using System;
using System.Collections.Generic;
using System.Globalization;
using E2m.ModemSim.Modem;

namespace E2m.ModemSim.Faults
{
    public enum CommandFaultKind
    {
        None,
        /// <summary>The command runs but its whole response is lost.</summary>
        Drop,
        /// <summary>The response comes <see cref="CommandFault.DelayMs"/> later than usual.</summary>
        Delay,
        /// <summary>The command is refused with +CME ERROR &lt;code&gt; (e.g. 14 SIM busy).</summary>
        Cme,
        /// <summary>The modem reboots instead of answering ("RDY" mid-command).</summary>
        Reboot,
        /// <summary>The command line is lost (never executed, no answer).</summary>
        Ignore,
    }

    public readonly record struct CommandFault(CommandFaultKind Kind, int DelayMs = 0, int Code = 0, string? Note = null)
    {
        public static readonly CommandFault None = new(CommandFaultKind.None);
    }

    [Flags]
    public enum UdpDirection
    {
        Uplink = 1,
        Downlink = 2,
        Both = 3,
    }

    /// <summary>One datagram leaving a UDP fault stage: <see cref="Data"/> null = lost; delayed by <see cref="DelayMs"/>.</summary>
    public readonly record struct UdpDelivery(byte[]? Data, int DelayMs, string? Note);

    /// <summary>
    /// Scriptable, seeded fault injection (issue 5 §4): command faults (dropped / delayed responses, +CME ERROR 14 SIM
    /// busy, spontaneous reboot), garbled output bytes, timed events (URC storms, reboot, SIM removed, network loss
    /// and recovery) and UDP faults on the bridge (loss, duplication, reordering, delay). Every random choice comes
    /// from one <see cref="Random"/> seeded with <see cref="Seed"/>: the same sequence of events gets the same faults.
    /// Against real-time servers (`e2m demo`) the sequence itself depends on their timing (how output is chunked, which
    /// datagram comes first), so a demo run with faults is not bit-for-bit reproducible from its seed.
    /// Fluent: <c>new FaultPlan(7).SimBusy("AT+CPIN?", 2).UdpLoss(0.3).At(5000, "reboot")</c>.
    /// </summary>
    public sealed class FaultPlan
    {
        private readonly Random _random;
        private readonly List<CommandRule> _rules = new();
        private readonly List<TimedFault> _timed = new();
        private readonly List<UdpRule> _udp = new();
        // A reordered datagram waits for the next one of the same flow (direction, socket and peer): released with another
        // socket's datagram it would go to that socket's peer.
        private readonly Dictionary<(UdpDirection Direction, string Flow), HeldDatagram> _held = new();
        private double _garbleProbability;
        private int _garbleNext;
        private SimulatedModem? _armed;

        public FaultPlan(int seed)
        {
            Seed = seed;
            _random = new Random(seed);
        }

        public int Seed { get; }

        /// <summary>Number of faults injected so far.</summary>
        public int Injected { get; private set; }

        /// <summary>Human-readable record of every injected fault (also written to the AT log as notes).</summary>
        public List<string> Log { get; } = new();

        // ------------------------------------------------------------------ command faults

        public FaultPlan DropResponse(string commandPrefix, int times = 1) => AddRule(commandPrefix, CommandFaultKind.Drop, times, 0, 0);

        public FaultPlan DelayResponse(string commandPrefix, int delayMs, int times = 1) => AddRule(commandPrefix, CommandFaultKind.Delay, times, delayMs, 0);

        /// <summary>"+CME ERROR: 14" SIM busy (TS 27.007 §9.2.1) for the next <paramref name="times"/> matching commands.</summary>
        public FaultPlan SimBusy(string commandPrefix, int times = 1) => AddRule(commandPrefix, CommandFaultKind.Cme, times, 0, 14);

        public FaultPlan CmeError(string commandPrefix, int code, int times = 1) => AddRule(commandPrefix, CommandFaultKind.Cme, times, 0, code);

        /// <summary>The modem reboots when the command arrives: no answer, then the boot lines after <paramref name="bootDelayMs"/>.</summary>
        public FaultPlan RebootOn(string commandPrefix, int bootDelayMs = 300, int times = 1) => AddRule(commandPrefix, CommandFaultKind.Reboot, times, bootDelayMs, 0);

        public FaultPlan IgnoreCommand(string commandPrefix, int times = 1) => AddRule(commandPrefix, CommandFaultKind.Ignore, times, 0, 0);

        /// <summary>Each output chunk is garbled with this probability (1..3 bytes replaced, never CR/LF).</summary>
        public FaultPlan Garble(double probability)
        {
            _garbleProbability = probability;
            return this;
        }

        /// <summary>The next <paramref name="chunks"/> output chunks are garbled.</summary>
        public FaultPlan GarbleNext(int chunks)
        {
            _garbleNext += chunks;
            return this;
        }

        private FaultPlan AddRule(string prefix, CommandFaultKind kind, int times, int delay, int code)
        {
            _rules.Add(new CommandRule(prefix, kind, times, delay, code));
            return this;
        }

        // ------------------------------------------------------------------ timed faults

        /// <summary>A timed event at <paramref name="atMs"/> on the modem clock (absolute), armed when the plan is attached.</summary>
        public FaultPlan At(long atMs, string description, Action<SimulatedModem> action)
        {
            _timed.Add(new TimedFault(atMs, description, action));
            if (_armed != null)
            {
                ArmOne(_armed, _timed[^1]);
            }

            return this;
        }

        public FaultPlan RebootAt(long atMs, int bootDelayMs = 300) =>
            At(atMs, "spontaneous reboot", m => m.CrashReboot(bootDelayMs, "fault: spontaneous reboot"));

        public FaultPlan UrcStormAt(long atMs, string line, int count, int intervalMs = 5) =>
            At(atMs, "URC storm: " + count + " x " + line, m =>
            {
                for (int i = 0; i < count; i++)
                {
                    m.ScheduleInGeneration((long)i * intervalMs, () => m.Urc(line));
                }
            });

        public FaultPlan SimRemovedAt(long atMs, long reinsertAfterMs = -1) =>
            At(atMs, "SIM removed" + (reinsertAfterMs >= 0 ? " for " + reinsertAfterMs + " ms" : string.Empty), m =>
            {
                m.SimRemoved = true;
                m.Detach(0, "SIM removed");
                if (reinsertAfterMs >= 0)
                {
                    m.Schedule(reinsertAfterMs, () =>
                    {
                        m.SimRemoved = false;
                        m.Note("fault: SIM reinserted");
                        m.SimBoot();
                    });
                }
            });

        /// <summary>Coverage lost at <paramref name="atMs"/> (+CEREG: &lt;stat&gt; 2 or 0), back after <paramref name="durationMs"/> (re-attach).</summary>
        public FaultPlan NetworkLossAt(long atMs, long durationMs, int stat = 2, bool dropPdp = false) =>
            At(atMs, "network loss for " + durationMs + " ms (stat " + stat + (dropPdp ? ", PDP dropped" : string.Empty) + ")", m =>
            {
                m.NetworkLost(stat, dropPdp);
                m.Schedule(durationMs, () =>
                {
                    m.Note("fault: network back");
                    m.NetworkRecovered();
                });
            });

        /// <summary>The card has no MANAGE CHANNEL from <paramref name="atMs"/> on: it answers <paramref name="sw"/> ('6881' or '6D00').</summary>
        public FaultPlan ManageChannelUnsupportedAt(long atMs, int sw = 0x6881) =>
            At(atMs, "card: MANAGE CHANNEL unsupported (" + sw.ToString("X4", CultureInfo.InvariantCulture) + ")", m => Card(m).ManageChannelStatus = sw);

        /// <summary>EF_DIR missing / unreadable / corrupt from <paramref name="atMs"/> on (<see cref="Usim.EfDirFault"/>).</summary>
        public FaultPlan EfDirFaultAt(long atMs, Usim.EfDirFault fault) =>
            At(atMs, "card: EF_DIR " + fault.ToString().ToLowerInvariant(), m => Card(m).EfDirFault = fault);

        private static Usim.SimulatedUsim Card(SimulatedModem m) =>
            m.Sim.Card as Usim.SimulatedUsim ?? throw new InvalidOperationException("card faults need a SimulatedUsim");

        // ------------------------------------------------------------------ UDP faults

        public FaultPlan UdpLoss(double probability, UdpDirection direction = UdpDirection.Both) => AddUdp(UdpFaultKind.Loss, probability, 0, 0, direction);

        public FaultPlan UdpDuplicate(double probability, UdpDirection direction = UdpDirection.Both) => AddUdp(UdpFaultKind.Duplicate, probability, 0, 0, direction);

        /// <summary>A datagram is held back and delivered after the next one of the same flow (direction, socket, peer).</summary>
        public FaultPlan UdpReorder(double probability, UdpDirection direction = UdpDirection.Both) => AddUdp(UdpFaultKind.Reorder, probability, 0, 0, direction);

        public FaultPlan UdpDelay(int delayMs, int jitterMs = 0, UdpDirection direction = UdpDirection.Both) => AddUdp(UdpFaultKind.Delay, 1.0, delayMs, jitterMs, direction);

        private FaultPlan AddUdp(UdpFaultKind kind, double p, int delay, int jitter, UdpDirection dir)
        {
            _udp.Add(new UdpRule(kind, p, delay, jitter, dir));
            return this;
        }

        // ------------------------------------------------------------------ hooks used by the modem

        /// <summary>Schedules the timed faults on <paramref name="modem"/>'s clock.</summary>
        public void Arm(SimulatedModem modem)
        {
            _armed = modem;
            foreach (TimedFault t in _timed)
            {
                ArmOne(modem, t);
            }
        }

        private void ArmOne(SimulatedModem modem, TimedFault t)
        {
            modem.Schedule(Math.Max(0, t.AtMs - modem.Now), () =>
            {
                Record(modem, t.Description);
                t.Action(modem);
            });
        }

        public CommandFault OnCommand(SimulatedModem modem, string line)
        {
            foreach (CommandRule r in _rules)
            {
                if (r.Remaining > 0 && line.StartsWith(r.Prefix, StringComparison.OrdinalIgnoreCase))
                {
                    r.Remaining--;
                    string note = r.Kind switch
                    {
                        CommandFaultKind.Drop => "response to " + line + " dropped",
                        CommandFaultKind.Delay => "response to " + line + " delayed " + r.DelayMs + " ms",
                        CommandFaultKind.Cme => line + " refused with +CME ERROR: " + r.Code + (r.Code == 14 ? " (SIM busy)" : string.Empty),
                        CommandFaultKind.Reboot => "modem reboots on " + line + " (boot lines in " + r.DelayMs + " ms)",
                        _ => line + " lost",
                    };
                    Count(note);
                    return new CommandFault(r.Kind, r.DelayMs, r.Code, note);
                }
            }

            return CommandFault.None;
        }

        public byte[] OnOutput(byte[] chunk, out string? note)
        {
            note = null;
            bool garble = false;
            if (_garbleNext > 0)
            {
                _garbleNext--;
                garble = true;
            }
            else if (_garbleProbability > 0 && _random.NextDouble() < _garbleProbability)
            {
                garble = true;
            }

            if (!garble || chunk.Length == 0)
            {
                return chunk;
            }

            var eligible = new List<int>();
            for (int i = 0; i < chunk.Length; i++)
            {
                if (chunk[i] != (byte)'\r' && chunk[i] != (byte)'\n')
                {
                    eligible.Add(i); // keep the framing: garbage inside lines, like line noise on a UART
                }
            }

            if (eligible.Count == 0)
            {
                if (_garbleNext >= 0 && garble && _garbleProbability == 0)
                {
                    _garbleNext++; // nothing to garble in a bare CR LF: try the next chunk
                }

                return chunk;
            }

            int n = 1 + _random.Next(Math.Min(3, eligible.Count));
            var positions = new List<int>();
            for (int i = 0; i < n; i++)
            {
                int pos = eligible[_random.Next(eligible.Count)];
                if (positions.Contains(pos))
                {
                    continue;
                }

                byte b;
                do
                {
                    b = (byte)_random.Next(0x21, 0x7F);
                }
                while (b == (byte)'>' || b == (byte)'@');
                chunk[pos] = b;
                positions.Add(pos);
            }

            if (positions.Count == 0)
            {
                return chunk;
            }

            note = "garbled " + positions.Count + " byte(s) at offset " + string.Join(",", positions);
            Count(note);
            return chunk;
        }

        /// <param name="flow">the socket and peer of the datagram (a held datagram is released by the next one of its flow).</param>
        public IReadOnlyList<UdpDelivery> OnDatagram(SimulatedModem modem, bool uplink, byte[] data, string flow = "")
        {
            UdpDirection dir = uplink ? UdpDirection.Uplink : UdpDirection.Downlink;
            var key = (dir, flow);
            var outList = new List<UdpDelivery>();
            int delay = 0;
            bool duplicate = false;
            foreach (UdpRule r in _udp)
            {
                if ((r.Direction & dir) == 0)
                {
                    continue;
                }

                switch (r.Kind)
                {
                    case UdpFaultKind.Loss:
                        if (_random.NextDouble() < r.Probability)
                        {
                            string n = data.Length + "-byte datagram lost";
                            Count(n);
                            outList.Add(new UdpDelivery(null, 0, n));
                            return outList;
                        }

                        break;
                    case UdpFaultKind.Duplicate:
                        if (_random.NextDouble() < r.Probability)
                        {
                            duplicate = true;
                        }

                        break;
                    case UdpFaultKind.Delay:
                        delay += r.DelayMs + (r.JitterMs > 0 ? _random.Next(r.JitterMs + 1) : 0);
                        break;
                    case UdpFaultKind.Reorder:
                        if (!_held.ContainsKey(key) && _random.NextDouble() < r.Probability)
                        {
                            string n = data.Length + "-byte datagram held back (reordered after the next one of its flow)";
                            Count(n);
                            _held[key] = new HeldDatagram(data, modem.Now);
                            outList.Add(new UdpDelivery(null, 0, n));
                            return outList;
                        }

                        break;
                }
            }

            string? note = delay > 0 ? "delayed " + delay + " ms" : null;
            if (note != null)
            {
                Count(note);
            }

            outList.Add(new UdpDelivery(data, delay, note));
            if (duplicate)
            {
                string n = "duplicated " + data.Length + "-byte datagram";
                Count(n);
                outList.Add(new UdpDelivery((byte[])data.Clone(), delay + 1, n));
            }

            if (_held.Remove(key, out HeldDatagram? held))
            {
                outList.Add(new UdpDelivery(held.Data, delay + 1, "reordered datagram released"));
            }

            return outList;
        }

        private void Count(string note)
        {
            Injected++;
            Log.Add(note);
        }

        private void Record(SimulatedModem modem, string description)
        {
            Count(description);
            modem.Note("fault: " + description);
        }

        // ------------------------------------------------------------------ script

        /// <summary>
        /// Builds a plan from a small script, one fault per line ('#' comments):
        /// <code>
        /// drop AT+CIMI [times N]            delay AT+CGLA 2000 [times N]
        /// sim-busy AT+CPIN? [times N]       cme AT+CSIM 3 [times N]
        /// reboot-on AT+CEREG [after MS] [times N]
        /// garble P                          garble-next N
        /// at MS reboot                      at MS urc-storm "+CEREG: 2" COUNT [every MS]
        /// at MS sim-removed [for MS]        at MS network-loss MS [stat 0|2] [drop-pdp]
        /// udp loss|dup|reorder P [up|down|both]      udp delay MS [jitter MS] [up|down|both]
        /// card manage-channel 6881|6D00 [at MS]     card ef-dir missing|unreadable|corrupt [at MS]
        /// </code>
        /// </summary>
        public static FaultPlan Parse(string script, int seed)
        {
            var plan = new FaultPlan(seed);
            int lineNo = 0;
            foreach (string raw in script.Split('\n'))
            {
                lineNo++;
                string line = raw.Trim();
                int hash = line.IndexOf('#');
                if (hash == 0)
                {
                    continue;
                }

                if (line.Length == 0)
                {
                    continue;
                }

                List<string> t = Tokenize(line);
                try
                {
                    plan.ApplyScriptLine(t);
                }
                catch (Exception e) when (e is FormatException || e is ArgumentOutOfRangeException || e is IndexOutOfRangeException)
                {
                    throw new FormatException("fault script line " + lineNo + ": " + line + " (" + e.Message + ")");
                }
            }

            return plan;
        }

        private void ApplyScriptLine(List<string> t)
        {
            switch (t[0])
            {
                case "drop": DropResponse(t[1], Opt(t, "times", 1)); break;
                case "delay": DelayResponse(t[1], I(t[2]), Opt(t, "times", 1)); break;
                case "sim-busy": SimBusy(t[1], Opt(t, "times", 1)); break;
                case "cme": CmeError(t[1], I(t[2]), Opt(t, "times", 1)); break;
                case "reboot-on": RebootOn(t[1], Opt(t, "after", 300), Opt(t, "times", 1)); break;
                case "ignore": IgnoreCommand(t[1], Opt(t, "times", 1)); break;
                case "garble": Garble(D(t[1])); break;
                case "garble-next": GarbleNext(I(t[1])); break;
                case "at":
                    long at = I(t[1]);
                    switch (t[2])
                    {
                        case "reboot": RebootAt(at, Opt(t, "after", 300)); break;
                        case "urc-storm": UrcStormAt(at, t[3], I(t[4]), Opt(t, "every", 5)); break;
                        case "sim-removed": SimRemovedAt(at, Opt(t, "for", -1)); break;
                        case "network-loss": NetworkLossAt(at, I(t[3]), Opt(t, "stat", 2), t.Contains("drop-pdp")); break;
                        default: throw new FormatException("unknown timed fault " + t[2]);
                    }

                    break;
                case "card":
                    switch (t[1])
                    {
                        case "manage-channel": ManageChannelUnsupportedAt(Opt(t, "at", 0), int.Parse(t[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture)); break;
                        case "ef-dir": EfDirFaultAt(Opt(t, "at", 0), t[2] switch { "missing" => Usim.EfDirFault.Missing, "unreadable" => Usim.EfDirFault.Unreadable, "corrupt" => Usim.EfDirFault.Corrupt, _ => throw new FormatException("ef-dir missing|unreadable|corrupt") }); break;
                        default: throw new FormatException("card manage-channel SW | card ef-dir missing|unreadable|corrupt");
                    }

                    break;
                case "udp":
                    UdpDirection dir = t.Contains("up") ? UdpDirection.Uplink : t.Contains("down") ? UdpDirection.Downlink : UdpDirection.Both;
                    switch (t[1])
                    {
                        case "loss": UdpLoss(D(t[2]), dir); break;
                        case "dup": UdpDuplicate(D(t[2]), dir); break;
                        case "reorder": UdpReorder(D(t[2]), dir); break;
                        case "delay": UdpDelay(I(t[2]), Opt(t, "jitter", 0), dir); break;
                        default: throw new FormatException("unknown udp fault " + t[1]);
                    }

                    break;
                default:
                    throw new FormatException("unknown fault " + t[0]);
            }
        }

        private static int Opt(List<string> t, string key, int def)
        {
            int i = t.IndexOf(key);
            return i >= 0 && i + 1 < t.Count ? I(t[i + 1]) : def;
        }

        private static int I(string s) => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture);

        private static double D(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);

        private static List<string> Tokenize(string line)
        {
            var list = new List<string>();
            int i = 0;
            while (i < line.Length)
            {
                if (char.IsWhiteSpace(line[i]))
                {
                    i++;
                    continue;
                }

                if (line[i] == '"')
                {
                    int end = line.IndexOf('"', i + 1);
                    if (end < 0)
                    {
                        throw new FormatException("unterminated quote");
                    }

                    list.Add(line.Substring(i + 1, end - i - 1));
                    i = end + 1;
                    continue;
                }

                int start = i;
                while (i < line.Length && !char.IsWhiteSpace(line[i]))
                {
                    i++;
                }

                list.Add(line.Substring(start, i - start));
            }

            return list;
        }

        private sealed class CommandRule
        {
            public CommandRule(string prefix, CommandFaultKind kind, int times, int delay, int code)
            {
                Prefix = prefix;
                Kind = kind;
                Remaining = times;
                DelayMs = delay;
                Code = code;
            }

            public string Prefix { get; }

            public CommandFaultKind Kind { get; }

            public int Remaining { get; set; }

            public int DelayMs { get; }

            public int Code { get; }
        }

        private sealed record TimedFault(long AtMs, string Description, Action<SimulatedModem> Action);

        private enum UdpFaultKind
        {
            Loss,
            Duplicate,
            Reorder,
            Delay,
        }

        private sealed record UdpRule(UdpFaultKind Kind, double Probability, int DelayMs, int JitterMs, UdpDirection Direction);

        private sealed record HeldDatagram(byte[] Data, long Since);
    }
}

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using E2m.ModemSim.Faults;

namespace E2m.Demo
{
    /// <summary>Key establishment mode of the demo devices (DESIGN.md §3).</summary>
    public enum DemoKeyMode
    {
        /// <summary>EF_KeysPS after the serving node's UMTS PS AKA (vectors from the real HSS); no fallback.</summary>
        Network,
        /// <summary>EMKS CoAP bootstrap + USIM AUTHENTICATE through the modem (LTE-M cell: no EF_KeysPS).</summary>
        Home,
        /// <summary>The firmware default: network mode, falling back to home mode (LTE-M cell: the fallback is taken).</summary>
        Auto,
    }

    /// <summary>Settings of one <see cref="DemoRunner"/> run (all have working defaults: `e2m demo` needs no set-up).</summary>
    public sealed class DemoOptions
    {
        public const string UtilityEmseId = "emse.utility.example";
        public const string ThirdPartyEmseId = "emse.thirdparty.example";

        public DemoKeyMode Mode { get; set; } = DemoKeyMode.Network;

        public int Devices { get; set; } = 5;

        /// <summary>Wake-up cycles per device (each samples, uploads and deep-sleeps 15 simulated minutes).</summary>
        public int Cycles { get; set; } = 3;

        /// <summary>Real-time bound: when set, devices keep cycling until it has passed (at least one cycle each), ignoring <see cref="Cycles"/>.</summary>
        public double? DurationSeconds { get; set; }

        /// <summary>Data directory (databases, dev PKI); null = a new temporary directory deleted at the end.</summary>
        public string? DataDirectory { get; set; }

        public string? PcapPath { get; set; }

        public string? KeyLogPath { get; set; }

        /// <summary>AT log of every modem (lines prefixed with the device name).</summary>
        public string? AtLogPath { get; set; }

        /// <summary>Fault plan applied to every modem (seeded per device with <see cref="Seed"/> + index).</summary>
        public string? Faults { get; set; }

        public int Seed { get; set; } = 1;

        /// <summary>Modem dialect: bg95, bg96, sara-r4 or sara-r5.</summary>
        public string Dialect { get; set; } = "bg95";

        /// <summary>Server logs at Information (default: warnings only), firmware logs at Info.</summary>
        public bool Verbose { get; set; }

        /// <summary>Seconds between progress tables (0 = only per-cycle lines).</summary>
        public double ProgressSeconds { get; set; } = 2;

        /// <summary>Lines the caller measured in the same process run (e.g. `e2m demo --bench`), repeated in the summary before the `bytes:` line.</summary>
        public List<string> SummaryNotes { get; } = new();

        /// <summary>
        /// Parses the fault list of `--faults`: comma-separated <c>udp-loss=P</c>, <c>dup=P</c>, <c>reorder=P</c>,
        /// <c>udp-delay=MS</c>, <c>garble=P</c> (AT output bytes), <c>reboot=MS</c> (modem reboot at modem time MS), or
        /// <c>@FILE</c> for a FaultPlan script (E2m.ModemSim FaultPlan.Parse).
        /// </summary>
        public static FaultPlan BuildFaultPlan(string? spec, int seed)
        {
            if (string.IsNullOrWhiteSpace(spec))
            {
                return new FaultPlan(seed);
            }

            spec = spec.Trim();
            if (spec.StartsWith('@'))
            {
                return FaultPlan.Parse(File.ReadAllText(spec.Substring(1)), seed);
            }

            var plan = new FaultPlan(seed);
            foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                int eq = part.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    throw new FormatException($"fault '{part}': expected name=value");
                }

                string name = part.Substring(0, eq).ToLowerInvariant();
                string value = part.Substring(eq + 1);
                if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v < 0)
                {
                    throw new FormatException($"fault '{part}': value must be a non-negative number");
                }

                switch (name)
                {
                    case "udp-loss":
                    case "loss":
                        plan.UdpLoss(Probability(part, v));
                        break;
                    case "dup":
                    case "udp-dup":
                        plan.UdpDuplicate(Probability(part, v));
                        break;
                    case "reorder":
                    case "udp-reorder":
                        plan.UdpReorder(Probability(part, v));
                        break;
                    case "udp-delay":
                    case "delay":
                        plan.UdpDelay((int)v);
                        break;
                    case "garble":
                        plan.Garble(Probability(part, v));
                        break;
                    case "reboot":
                        plan.RebootAt((long)v);
                        break;
                    default:
                        throw new FormatException($"fault '{name}': known faults are udp-loss, dup, reorder, udp-delay, garble, reboot (or @FILE)");
                }
            }

            return plan;
        }

        private static double Probability(string part, double v) =>
            v <= 1 ? v : throw new FormatException($"fault '{part}': probability 0..1");

        public IEnumerable<string> Validate()
        {
            if (Devices < 1 || Devices > 200) yield return "--devices: 1..200";
            if (Cycles < 1 || Cycles > 1000) yield return "--cycles: 1..1000";
            if (DurationSeconds is <= 0 or > 86400) yield return "--duration: 0 < seconds <= 86400";
            if (Dialect != "bg95" && Dialect != "bg96" && Dialect != "sara-r4" && Dialect != "sara-r5") yield return "--dialect: bg95, bg96, sara-r4 or sara-r5";
        }
    }
}

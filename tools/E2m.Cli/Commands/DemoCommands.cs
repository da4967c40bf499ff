using System;
using System.CommandLine;
using System.IO;
using E2m.Demo;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m demo` (issue 8, README "Demo"): HSS, EMKS and two EMSEs in-process on loopback, N simulated devices running
    /// the firmware application against simulated modems + USIMs, live progress, a summary table and as last line
    /// <c>readings: sent=N acknowledged=N stored=N lost=N</c>. Exit 0 when every reading was stored intact exactly once,
    /// 1 when one was lost, corrupted or duplicated, 2 on a usage error.
    /// </summary>
    public static class DemoCommands
    {
        private static readonly Option<string> Mode = new("--mode") { Description = "Key establishment: network (UMTS cell, EF_KeysPS; default), home (EMKS bootstrap), auto (network falling back to home)", DefaultValueFactory = _ => "network" };
        private static readonly Option<int> Devices = new("--devices") { Description = "Number of simulated devices", DefaultValueFactory = _ => 5 };
        private static readonly Option<int> Cycles = new("--cycles") { Description = "Wake-up cycles per device (15 simulated minutes each)", DefaultValueFactory = _ => 3 };
        private static readonly Option<double?> Duration = new("--duration") { Description = "Run cycles for SECONDS of real time instead of --cycles" };
        private static readonly Option<string> Faults = new("--faults") { Description = "Faults per modem: udp-loss=P,dup=P,reorder=P,udp-delay=MS,garble=P,reboot=MS or @FILE (FaultPlan script)" };
        private static readonly Option<int> Seed = new("--seed") { Description = "Seed of the fault plans (device i uses SEED+i)", DefaultValueFactory = _ => 1 };
        private static readonly Option<string> DataDir = new("--data-dir") { Description = "Data directory (SQLite databases, dev PKI); default a temporary directory removed at the end" };
        private static readonly Option<string> Pcap = new("--pcap") { Description = "Write every device's UDP traffic to FILE (pcap)" };
        private static readonly Option<string> KeyLog = new("--keylog") { Description = "Write one tshark oscore_contexts line per OSCORE context to FILE (secret keys: demo only)" };
        private static readonly Option<string> AtLog = new("--at-log") { Description = "Write every modem's AT traffic to FILE" };
        private static readonly Option<string> Dialect = new("--dialect") { Description = "Modem dialect: bg95, bg96, sara-r4, sara-r5", DefaultValueFactory = _ => "bg95" };
        private static readonly Option<bool> Verbose = new("--verbose") { Description = "Server logs at Information and firmware logs (stderr)" };
        private static readonly Option<bool> Bench = new("--bench") { Description = "Before the devices start, measure EMSE throughput vs a bare UDP echo in this process (tools/E2m.Bench EmseLoad: same load generator, SQLite synchronous=FULL) and print both rates; repeated in the summary" };
        private static readonly Option<int> BenchDevices = new("--bench-devices") { Description = "Concurrent simulated clients of --bench (CoAP NSTART = 1 each; the EMSE shares each commit among the requests that wait for it)", DefaultValueFactory = _ => 256 };
        private static readonly Option<int> BenchMessages = new("--bench-messages") { Description = "Requests per --bench client", DefaultValueFactory = _ => 200 };
        private static readonly Option<double> Progress = new("--progress") { Description = "Seconds between progress lines (0 = per-cycle lines only)", DefaultValueFactory = _ => 2 };

        public static Command Build()
        {
            var demo = new Command("demo", "End-to-end demo: HSS, EMKS, two EMSEs and N simulated devices running the firmware; ends with 'readings: sent=N acknowledged=N stored=N lost=N'");
            foreach (Option o in new Option[] { Mode, Devices, Cycles, Duration, Faults, Seed, DataDir, Pcap, KeyLog, AtLog, Dialect, Verbose, Progress, Bench, BenchDevices, BenchMessages })
            {
                demo.Options.Add(o);
            }

            demo.SetAction(Run);
            return demo;
        }

        private static int Run(ParseResult parsed)
        {
            var options = new DemoOptions
            {
                Mode = (parsed.GetValue(Mode) ?? "network").ToLowerInvariant() switch
                {
                    "network" => DemoKeyMode.Network,
                    "home" => DemoKeyMode.Home,
                    "auto" => DemoKeyMode.Auto,
                    _ => throw new UsageException("--mode: network, home or auto"),
                },
                Devices = parsed.GetValue(Devices),
                Cycles = parsed.GetValue(Cycles),
                DurationSeconds = parsed.GetValue(Duration),
                Faults = parsed.GetValue(Faults),
                Seed = parsed.GetValue(Seed),
                DataDirectory = parsed.GetValue(DataDir),
                PcapPath = parsed.GetValue(Pcap),
                KeyLogPath = parsed.GetValue(KeyLog),
                AtLogPath = parsed.GetValue(AtLog),
                Dialect = (parsed.GetValue(Dialect) ?? "bg95").ToLowerInvariant(),
                Verbose = parsed.GetValue(Verbose),
                ProgressSeconds = parsed.GetValue(Progress),
            };
            foreach (string problem in options.Validate())
            {
                throw new UsageException(problem);
            }

            try
            {
                DemoOptions.BuildFaultPlan(options.Faults, options.Seed);
            }
            catch (Exception e) when (e is FormatException || e is IOException)
            {
                throw new UsageException("--faults: " + e.Message);
            }

            TextWriter output = parsed.InvocationConfiguration.Output;
            TextWriter error = parsed.InvocationConfiguration.Error;
            if (parsed.GetValue(Bench))
            {
                int clients = parsed.GetValue(BenchDevices), messages = parsed.GetValue(BenchMessages);
                if (clients < 1 || messages < 1)
                {
                    throw new UsageException("--bench-devices and --bench-messages: at least 1");
                }

                options.SummaryNotes.Add(RunBench(clients, messages, output));
            }

            DemoResult result = DemoRunner.RunAsync(options, output, error).GetAwaiter().GetResult();
            return result.ExitCode;
        }

        /// <summary>
        /// EMSE protected messages/s vs a bare UDP echo, both measured now in this process by tools/E2m.Bench's EmseLoad
        /// (the same D clients, each CoAP NSTART = 1 lock-step with pre-protected one-reading requests; the EMSE in-process
        /// over SQLite synchronous=FULL with a fixed in-process key source). Returns the machine-readable line
        /// <c>bench: udp-echo=R emse=R ratio=P% clients=D messages=N load=L</c>.
        /// </summary>
        private static string RunBench(int clients, int messages, TextWriter output)
        {
            output.WriteLine($"bench: {clients} clients x {messages} requests, bare UDP echo then the EMSE (SQLite synchronous=FULL) ...");
            output.Flush();
            (double echo, long echoRetx) = E2m.Bench.EmseLoad.RunEcho(clients, messages);
            (double emse, long emseRetx, long stored, long expected) = E2m.Bench.EmseLoad.RunEmse(clients, messages, 0, "FULL", "");
            string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
            string line = string.Format(System.Globalization.CultureInfo.InvariantCulture,
                "bench: udp-echo={0:F0} msg/s emse={1:F0} msg/s ratio={2:F1}% clients={3} messages={4} retransmissions={5}/{6} stored={7}/{8} load={9}",
                echo, emse, 100 * emse / echo, clients, messages, echoRetx, emseRetx, stored, expected, load);
            output.WriteLine(line);
            output.Flush();
            return line;
        }
    }
}

#nullable enable
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Hal.Host;
using E2m.Oscore;
using E2m.Server.Emse;
using E2m.Server.Emse.Keys;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace E2m.Bench
{
    /// <summary>
    /// <c>dotnet run -c Release --project tools/E2m.Bench -- --emse-load [--devices 64,256,1024,4096] [--messages 409600/D] [--rounds 3] [--warmup-rounds 3]
    /// [--workers 0] [--sync FULL|NORMAL|both] [--postgres CONNSTRING] [--in-process] [--slices K] [--no-durable-echo]</c>
    /// <para>
    /// Issue 6 point 6: EMSE protected messages/s end to end over UDP on loopback, compared in the same run with a bare
    /// UDP echo server (one receive thread that sends every datagram back: the physical limit of this machine's UDP
    /// path). The same load generator drives both: D simulated devices, each a UDP socket doing CoAP NSTART = 1 lock-step
    /// (send, wait for the response, retransmit the same datagram after 1 s), all devices concurrently. The EMSE run sends
    /// requests pre-protected with OscoreSecurityContext.ForDevice (one SenML record, ~60 octets) so the generator costs
    /// the same in both runs; the first quarter of each device's messages is an untimed warm-up; each round runs the
    /// echo, then the EMSE, and the median ratio of the rounds is reported (after --warmup-rounds uncounted rounds);
    /// every EMSE response is checked (ACK, same Message ID, outer 2.04) and, after the timed phase, the readings in the
    /// database are counted (each exactly once).
    /// </para>
    /// <para>
    /// Each round also runs a durable echo (<see cref="EchoServer"/> with <c>durable</c>: the echo plus one write and one fdatasync
    /// per batch before the answers, unless <c>--no-durable-echo</c>): what any server that acknowledges only stored data
    /// can reach on this machine at that concurrency. <c>--devices</c> takes a list; by default the load runs at 64, 256,
    /// 1024 and 4096 devices in flight, 409 600 requests per run, and a summary table closes the output.
    /// </para>
    /// <para>
    /// The echo and the EMSE each run in a process of their own (<see cref="ServerProcess"/>: this program with
    /// <c>--serve</c>, under the EMSE's runtimeconfig, so with the server garbage collector as the deployed EMSE), the
    /// generator alone in this process: generator and server share no heap, garbage collector or thread pool. The EMSE
    /// is built as `e2m stack` builds it (EmseApp.Build, SQLite in a temp directory) with a fixed in-process key source
    /// standing in for the EMKS. <c>--in-process</c> runs both servers in this process instead (as `e2m demo --bench`).
    /// </para>
    /// <para>
    /// <c>--slices K</c> interleaves the two servers within each round (<see cref="RunInterleaved"/>): echo and EMSE
    /// take turns over K slices of the timed messages, and the median is over all slice pairs of all rounds.
    /// </para>
    /// </summary>
    public static class EmseLoad
    {
        public static int Run(string[] args)
        {
            // --devices 64 or a list (64,256,1024,4096, the default): one measurement per count, then one summary
            var deviceCounts = new List<int>();
            foreach (string d in StringArg(args, "--devices", "64,256,1024,4096").Split(','))
            {
                if (!int.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || n > 65536)
                {
                    Console.Error.WriteLine("--devices must be a count or a comma-separated list of counts (1..65536)");
                    return 2;
                }

                deviceCounts.Add(n);
            }

            // messages per device: by default 409 600 requests per run whatever the device count (the first quarter untimed)
            int messagesArg = IntArg(args, "--messages", 0);
            int workers = IntArg(args, "--workers", 0);
            int rounds = Math.Max(1, IntArg(args, "--rounds", 3));
            // 3: the EMSE process's JIT re-compiles methods called a few times per run (per fold, per journal apply) once
            // their call counts pass the tiering threshold, in the second and third run: 260-590 ms of compiler CPU
            // inside a 1024-device window (session 9), none from the fourth run on
            int warmupRounds = Math.Max(0, IntArg(args, "--warmup-rounds", 3));
            // FULL, NORMAL or both, any case: the server maps the value to PRAGMA synchronous, so it must be one of these
            string sync = StringArg(args, "--sync", "FULL").ToUpperInvariant();
            if (sync != "FULL" && sync != "NORMAL" && sync != "BOTH")
            {
                Console.Error.WriteLine("--sync must be FULL, NORMAL or both");
                return 2;
            }

            string postgres = StringArg(args, "--postgres", "");
            bool inProcess = Array.IndexOf(args, "--in-process") >= 0;
            int slices = Math.Max(0, IntArg(args, "--slices", 0));
            if (slices > 0 && inProcess)
            {
                Console.Error.WriteLine("--slices needs the servers in processes of their own (no --in-process)");
                return 2;
            }

            // the durable echo runs in the rounds mode with the servers in processes of their own
            bool durableEcho = !inProcess && slices == 0 && Array.IndexOf(args, "--no-durable-echo") < 0;
            var modes = new List<string>();
            if (postgres.Length > 0)
            {
                modes.Add("postgres");
            }
            else if (sync == "BOTH")
            {
                modes.Add("FULL");
                modes.Add("NORMAL");
            }
            else
            {
                modes.Add(sync);
            }

            var summary = new List<SummaryRow>();
            foreach (int devices in deviceCounts)
            {
                int messages = messagesArg > 0 ? messagesArg : Math.Max(100, 409600 / devices);
                int rc = RunDevices(devices, messages, workers, rounds, warmupRounds, modes, postgres, inProcess, slices, durableEcho, summary);
                if (rc != 0)
                {
                    return rc;
                }
            }

            PrintSummary(summary, slices > 0);
            return 0;
        }

        /// <summary>One device count's result per storage mode, medians over the counted rounds (or slice pairs).</summary>
        private sealed record SummaryRow(int Devices, int Messages, string Label, int Samples, double Echo, double Durable, double Emse, double Ratio, double RatioMin, double RatioMax, int Above, double DurableRatio, double EmseVsDurable);

        private static double Median(List<double> values)
        {
            if (values.Count == 0)
            {
                return double.NaN;
            }

            var v = new List<double>(values);
            v.Sort();
            return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
        }

        private static void PrintSummary(List<SummaryRow> rows, bool sliced)
        {
            Console.WriteLine();
            Console.WriteLine($"summary (medians over the counted {(sliced ? "slice pairs" : "rounds")}; goal, issue 6: emse >= 50% of udp-echo):");
            Console.WriteLine("  devices x messages | storage | udp-echo msg/s | udp-echo+fdatasync msg/s (% of echo) | emse msg/s | emse % of udp-echo (min-max, above 50%) | emse % of udp-echo+fdatasync");
            foreach (SummaryRow r in rows)
            {
                string durable = double.IsNaN(r.Durable) ? "-" : FormattableString.Invariant($"{r.Durable:F0} ({100 * r.DurableRatio:F1}%)");
                string vsDurable = double.IsNaN(r.EmseVsDurable) ? "-" : FormattableString.Invariant($"{100 * r.EmseVsDurable:F1}%");
                string Rate(double x) => double.IsNaN(x) ? "-" : x.ToString("F0", CultureInfo.InvariantCulture);
                Console.WriteLine(FormattableString.Invariant(
                    $"  {r.Devices} x {r.Messages} | {r.Label} | {Rate(r.Echo)} | {durable} | {Rate(r.Emse)} | {100 * r.Ratio:F1}% ({100 * r.RatioMin:F1}-{100 * r.RatioMax:F1}%, {r.Above} of {r.Samples}) | {vsDurable}"));
            }

            // Peak against peak: each server's best median rate over the device counts swept (its capacity on this
            // machine, whatever concurrency it needs to reach it), per storage mode.
            foreach (string label in rows.Select(r => r.Label).Distinct())
            {
                var mode = rows.Where(r => r.Label == label && !double.IsNaN(r.Echo) && !double.IsNaN(r.Emse)).ToList();
                if (mode.Count < 2)
                {
                    continue;
                }

                SummaryRow echoPeak = mode.MaxBy(r => r.Echo)!;
                SummaryRow emsePeak = mode.MaxBy(r => r.Emse)!;
                double peakRatio = emsePeak.Emse / echoPeak.Echo;
                Console.WriteLine(FormattableString.Invariant(
                    $"  peak {label}: udp-echo {echoPeak.Echo:F0} msg/s ({echoPeak.Devices} devices), emse {emsePeak.Emse:F0} msg/s ({emsePeak.Devices} devices) = {100 * peakRatio:F1}% of the echo's peak"));
                // The verdict in both readings of the goal, so that neither is left to the reader's arithmetic: capacity
                // against capacity, and device count by device count (medians).
                string met = string.Join(", ", mode.Where(r => r.Ratio >= 0.5).Select(r => r.Devices.ToString(CultureInfo.InvariantCulture)));
                string missed = string.Join(", ", mode.Where(r => r.Ratio < 0.5).Select(r => r.Devices.ToString(CultureInfo.InvariantCulture)));
                string perCount = missed.Length == 0 ? $"met at every device count swept ({met})"
                    : met.Length == 0 ? $"NOT met at any device count swept ({missed})"
                    : $"met at {met} devices, NOT met at {missed}";
                Console.WriteLine(FormattableString.Invariant(
                    $"  goal {label} (emse >= 50% of udp-echo): peak against peak {(peakRatio >= 0.5 ? "met" : "NOT met")}; per device count (medians) {perCount}"));
            }
        }

        private static int RunDevices(int devices, int messages, int workers, int rounds, int warmupRounds, List<string> modes, string postgres, bool inProcess, int slices, bool durableEcho, List<SummaryRow> summary)
        {
            Console.WriteLine($"emse-load: devices={devices} messages/device={messages} rounds={rounds} workers={(workers == 0 ? Environment.ProcessorCount : workers)} cores={Environment.ProcessorCount} servers={(inProcess ? "in this process" : "own processes (" + ServerProcess.Describe() + ")")}{(durableEcho ? " durable-echo" : "")}");

            // The host is shared and its speed drifts between runs (the echo alone varies by ±20 % here): each round
            // runs the echo and then the EMSE back to back, and the ratio reported is the median of the rounds' ratios.
            var ratios = new Dictionary<string, List<double>>();
            var emseRates = new Dictionary<string, List<double>>();
            var vsDurable = new Dictionary<string, List<double>>();
            foreach (string mode in modes)
            {
                ratios[mode] = new List<double>();
                emseRates[mode] = new List<double>();
                vsDurable[mode] = new List<double>();
            }

            var echoRates = new List<double>();
            var durableRates = new List<double>();
            var durableRatios = new List<double>();

            // Out of process: one echo and one EMSE process for all rounds (a fresh server and database per run inside
            // them), so JIT tiering is done after the first round as it was in-process.
            using ServerProcess? echoProcess = inProcess ? null : ServerProcess.Start("echo");
            using ServerProcess? emseProcess = inProcess ? null : ServerProcess.Start("emse", "--devices", devices.ToString(CultureInfo.InvariantCulture));
            using ServerProcess? durableEchoProcess = durableEcho ? ServerProcess.Start("durable-echo") : null;
            // Warm-up rounds (not counted), as BenchmarkDotNet runs warm-up iterations: the server processes are new, and
            // the JIT of the EMSE process keeps re-compiling hot methods (tiered compilation, dynamic PGO) for a few
            // hundred thousand requests; measured, that took 300-900 ms of CPU inside the first rounds' timed windows.
            // The echo servers' few methods are warm after one run: later warm-up rounds run the EMSE alone.
            for (int round = 1 - warmupRounds; round <= rounds; round++)
            {
                double echoRate = 0, durableRate = double.NaN;
                bool echoWarm = round <= 0 && round > 1 - warmupRounds; // a warm-up round after the first
                foreach (string mode in modes)
                {
                    string name = round <= 0 ? "warm-up " + (round + warmupRounds).ToString(CultureInfo.InvariantCulture) : "round " + round.ToString(CultureInfo.InvariantCulture);
                    if (slices > 0)
                    {
                        if (!RunInterleaved(name, echoProcess!, emseProcess!, devices, messages, workers, mode, postgres, slices, round > 0 ? ratios[mode] : null))
                        {
                            return 1;
                        }

                        continue;
                    }

                    if (!echoWarm) // each mode (--sync both) gets an echo of its own just before it
                    {
                        long echoRetx;
                        (echoRate, echoRetx) = inProcess ? RunEcho(devices, messages) : RunEchoProcess(echoProcess!, devices, messages);
                        Console.WriteLine($"{name}: udp-echo: {echoRate:F0} msg/s (retransmissions {echoRetx})");
                        if (durableEchoProcess != null)
                        {
                            long retxD;
                            (durableRate, retxD) = RunEchoProcess(durableEchoProcess, devices, messages);
                            Console.WriteLine($"{name}: udp-echo+fdatasync: {durableRate:F0} msg/s (retransmissions {retxD}) = {100 * durableRate / echoRate:F1}% of udp-echo");
                        }

                        if (round > 0)
                        {
                            echoRates.Add(echoRate);
                            if (!double.IsNaN(durableRate))
                            {
                                durableRates.Add(durableRate);
                                durableRatios.Add(durableRate / echoRate);
                            }
                        }
                    }

                    var (rate, retx, stored, expected) = inProcess
                        ? RunEmse(devices, messages, workers, mode, postgres)
                        : RunEmseProcess(emseProcess!, devices, messages, workers, mode, postgres);
                    string label = mode == "postgres" ? "postgres" : "sqlite synchronous=" + mode;
                    string versus = echoWarm ? "" : $" = {100 * rate / echoRate:F1}% of udp-echo{(double.IsNaN(durableRate) ? "" : FormattableString.Invariant($", {100 * rate / durableRate:F1}% of udp-echo+fdatasync"))}";
                    Console.WriteLine($"{name}: emse ({label}): {rate:F0} msg/s (retransmissions {retx}, readings stored {stored}/{expected}){versus}");
                    if (stored != expected)
                    {
                        Console.WriteLine("emse: ERROR readings stored != messages sent");
                        return 1;
                    }

                    if (round > 0)
                    {
                        ratios[mode].Add(rate / echoRate);
                        emseRates[mode].Add(rate);
                        if (!double.IsNaN(durableRate))
                        {
                            vsDurable[mode].Add(rate / durableRate);
                        }
                    }
                }
            }

            if (durableRatios.Count > 0)
            {
                durableRatios.Sort();
                Console.WriteLine($"udp-echo+fdatasync vs udp-echo over {durableRatios.Count} rounds: median {100 * Median(durableRatios):F1}% (min {100 * durableRatios[0]:F1}%, max {100 * durableRatios[^1]:F1}%)");
            }

            foreach (string mode in modes)
            {
                List<double> r = ratios[mode];
                r.Sort();
                double median = Median(r);
                string label = mode == "postgres" ? "postgres" : "sqlite synchronous=" + mode;
                int above = r.FindAll(x => x > 0.5).Count;
                Console.WriteLine($"emse ({label}) vs udp-echo over {r.Count} {(slices > 0 ? "slice pairs" : "rounds")}: median {100 * median:F1}% (min {100 * r[0]:F1}%, max {100 * r[^1]:F1}%; {above} of {r.Count} above 50%)");
                summary.Add(new SummaryRow(devices, messages, label, r.Count, Median(echoRates), Median(durableRates), Median(emseRates[mode]), median, r[0], r[^1], above,
                    Median(durableRatios), Median(vsDurable[mode])));
            }

            return 0;
        }

        /// <summary>
        /// <c>--slices K</c>: one round with both servers up at once and the timed part cut into K slices, driven in turn
        /// (echo slice 1, EMSE slice 1, echo slice 2, ...): each EMSE slice is compared with the echo slice just before it,
        /// seconds apart rather than a whole run apart, so the host's drift between minutes cancels in each pair. Every
        /// device keeps one socket per server for the round (its address does not change between slices) and both
        /// servers get the same untimed warm-up quarter first. The EMSE's idle fold is off in this mode: it would
        /// otherwise fold during the echo's slices, out of the EMSE's timed windows. Adds one ratio per slice pair to
        /// <paramref name="ratios"/> (null: warm-up round); false when readings were lost or stored twice.
        /// </summary>
        private static bool RunInterleaved(string name, ServerProcess echo, ServerProcess emse, int devices, int messages, int workers, string mode, string postgres, int slices, List<double>? ratios)
        {
            byte[][][] echoRequests = BuildRequests(devices, messages, out _);
            byte[][][] emseRequests = BuildRequests(devices, messages, out _);
            int warmup = messages / 4;
            int timed = messages - warmup;
            if (timed < slices)
            {
                throw new ArgumentException("--slices larger than the timed messages per device");
            }

            IPEndPoint echoEndPoint = echo.Begin();
            IPEndPoint emseEndPoint = emse.Begin(workers.ToString(CultureInfo.InvariantCulture), mode, "noidlefold", postgres);
            using (var echoSockets = new DeviceSockets(devices, echoEndPoint))
            using (var emseSockets = new DeviceSockets(devices, emseEndPoint))
            {
                DriveRange(echoSockets, echoRequests, 0, warmup, null);
                DriveRange(emseSockets, emseRequests, 0, warmup, IsAcknowledged);
                Thread.Sleep(100); // the last warm-up commits settle
                var pairs = new List<double>();
                long echoTotal = 0, emseTotal = 0;
                double echoSeconds = 0, emseSeconds = 0;
                for (int k = 0; k < slices; k++)
                {
                    int from = warmup + timed * k / slices;
                    int to = warmup + timed * (k + 1) / slices;
                    var (echoRate, echoRetx, _, _) = DriveRange(echoSockets, echoRequests, from, to, null, echo);
                    var (emseRate, emseRetx, failures, _) = DriveRange(emseSockets, emseRequests, from, to, IsAcknowledged, emse);
                    long n = (long)devices * (to - from);
                    echoTotal += n;
                    emseTotal += n;
                    echoSeconds += n / echoRate;
                    emseSeconds += n / emseRate;
                    pairs.Add(emseRate / echoRate);
                    ratios?.Add(emseRate / echoRate);
                    Console.WriteLine(FormattableString.Invariant(
                        $"  {name} slice {k + 1}: udp-echo {echoRate:F0} msg/s, emse {emseRate:F0} msg/s = {100 * emseRate / echoRate:F1}% (retransmissions {echoRetx} / {emseRetx}{(failures > 0 ? ", " + failures + " responses not ACK 2.04" : "")})"));
                }

                pairs.Sort();
                Console.WriteLine(FormattableString.Invariant(
                    $"{name}: udp-echo {echoTotal / echoSeconds:F0} msg/s, emse {emseTotal / emseSeconds:F0} msg/s over {slices} slices each, slice pairs median {100 * Median(pairs):F1}% (min {100 * pairs[0]:F1}%, max {100 * pairs[^1]:F1}%)"));
            }

            echo.End();
            long stored = EndEmse(emse);
            long expected = (long)devices * messages;
            Console.WriteLine($"  readings stored {stored}/{expected}");
            if (stored != expected)
            {
                Console.WriteLine("emse: ERROR readings stored != messages sent");
                return false;
            }

            return true;
        }

        /// <summary>Stops the EMSE in its process, prints its counters and returns the readings in its database.</summary>
        private static long EndEmse(ServerProcess emse)
        {
            long stored = -1;
            foreach (string line in emse.End())
            {
                if (line.StartsWith("readings ", StringComparison.Ordinal))
                {
                    stored = long.Parse(line.Substring(9), CultureInfo.InvariantCulture);
                }
                else
                {
                    Console.WriteLine("  " + line);
                }
            }

            return stored;
        }

        /// <summary>One UDP socket per simulated device, connected to one server, kept across the slices of a round.</summary>
        private sealed class DeviceSockets : IDisposable
        {
            public DeviceSockets(int devices, IPEndPoint target)
            {
                Sockets = new Socket[devices];
                for (int d = 0; d < devices; d++)
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                    s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                    s.Connect(target);
                    Sockets[d] = s;
                }
            }

            public Socket[] Sockets { get; }

            public void Dispose()
            {
                foreach (Socket s in Sockets)
                {
                    s.Dispose();
                }
            }
        }

        /// <summary>
        /// Messages [<paramref name="from"/>, <paramref name="to"/>) of every device, all devices concurrently and each
        /// lock-step (<see cref="ExchangeAsync"/>), timed from the common start to the last response or, with a
        /// <paramref name="server"/>, until its process has gone quiet (<see cref="ServerProcess.WaitQuiet"/>): work the
        /// server deferred (a journal fold, a background GC) is charged to its own slice, not to the next one.
        /// </summary>
        private static (double Rate, long Retransmissions, long Failures, TimeSpan Elapsed) DriveRange(DeviceSockets sockets, byte[][][] requests, int from, int to,
            Func<byte[], bool>? check, ServerProcess? server = null, long[]? finished = null)
        {
            var counters = new ExchangeCounters();
            // An asynchronous gate: a thread-pool thread blocked per device would starve the others' continuations.
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var sw = new Stopwatch();
            var tasks = new Task[requests.Length];
            for (int d = 0; d < requests.Length; d++)
            {
                int device = d;
                Socket s = sockets.Sockets[d];
                byte[][] mine = requests[d];
                tasks[d] = Task.Run(async () =>
                {
                    var buf = new byte[2048];
                    await start.Task.ConfigureAwait(false);
                    for (int m = from; m < to; m++)
                    {
                        await ExchangeAsync(s, mine[m], buf, check, counters).ConfigureAwait(false);
                    }

                    if (finished != null)
                    {
                        finished[device] = sw.Elapsed.Ticks;
                    }
                });
            }

            sw.Start();
            start.SetResult();
            Task.WaitAll(tasks);
            TimeSpan elapsed = server?.WaitQuiet(sw) ?? sw.Elapsed;
            return ((long)requests.Length * (to - from) / elapsed.TotalSeconds, counters.Retransmissions, counters.Failures, elapsed);
        }

        private sealed class ExchangeCounters
        {
            public long Retransmissions;
            public long Failures;
        }

        /// <summary>
        /// One CoAP exchange of a lock-step device (NSTART = 1): sends <paramref name="request"/>, waits for the datagram
        /// with its Message ID (RFC 7252 §4.4) and resends the same datagram after 1 s without one (§4.2).
        /// </summary>
        private static async Task ExchangeAsync(Socket s, byte[] request, byte[] buf, Func<byte[], bool>? check, ExchangeCounters counters)
        {
            while (true)
            {
                await s.SendAsync(request, SocketFlags.None).ConfigureAwait(false);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                try
                {
                    int n;
                    do
                    {
                        n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token).ConfigureAwait(false);
                    }
                    while (n < 4 || buf[2] != request[2] || buf[3] != request[3]);

                    if (check != null && !check(buf.AsSpan(0, n).ToArray()))
                    {
                        Interlocked.Increment(ref counters.Failures);
                    }

                    return;
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref counters.Retransmissions);
                }
            }
        }

        /// <summary>Bare UDP echo rate (msg/s) under the same load generator, the echo in this process; also called by `e2m demo --bench`.</summary>
        public static (double Rate, long Retransmissions) RunEcho(int devices, int messages)
        {
            using var echo = new EchoServer(durable: false);
            // same datagram sizes as the EMSE run: build them the same way
            byte[][][] requests = BuildRequests(devices, messages, out _);
            return Drive(echo.EndPoint, requests, null, null);
        }

        /// <summary>EMSE rate (msg/s), the EMSE in this process, same generator; also called by `e2m demo --bench`.</summary>
        public static (double Rate, long Retransmissions, long Stored, long Expected) RunEmse(int devices, int messages, int workers, string mode, string postgres)
        {
            byte[][][] requests = BuildRequests(devices, messages, out FixedKeys keys);
            using var emse = new EmseServer(keys, workers, mode, postgres);
            var (rate, retx) = Drive(emse.EndPoint, requests, IsAcknowledged, null);
            Console.WriteLine("  " + emse.Stats);
            return (rate, retx, emse.CountReadings(), (long)devices * messages);
        }

        /// <summary>As <see cref="RunEcho"/> with the echo in a process of its own (<see cref="ServerProcess"/>).</summary>
        private static (double Rate, long Retransmissions) RunEchoProcess(ServerProcess echo, int devices, int messages)
        {
            byte[][][] requests = BuildRequests(devices, messages, out _);
            var result = Drive(echo.Begin(), requests, null, echo);
            echo.End();
            return result;
        }

        /// <summary>As <see cref="RunEmse"/> with the EMSE in a process of its own, run with the EMSE's runtime settings.</summary>
        private static (double Rate, long Retransmissions, long Stored, long Expected) RunEmseProcess(ServerProcess emse, int devices, int messages, int workers, string mode, string postgres)
        {
            byte[][][] requests = BuildRequests(devices, messages, out _);
            var (rate, retx) = Drive(emse.Begin(workers.ToString(CultureInfo.InvariantCulture), mode, "idlefold", postgres), requests, IsAcknowledged, emse);
            long stored = EndEmse(emse);

            return (rate, retx, stored, (long)devices * messages);
        }

        private static bool IsAcknowledged(byte[] response) =>
            response.Length > 4 && response[1] == CoapCode.Changed && ((response[0] >> 4) & 3) == CoapType.Acknowledgement;

        /// <summary>
        /// <c>--serve echo|emse [--devices D]</c>: the server side of the runs in a process of its own, driven by commands
        /// on stdin: <c>begin</c> (echo) or <c>begin WORKERS SYNC idlefold|noidlefold [POSTGRES]</c> (EMSE) starts a fresh server (and
        /// database) and prints <c>ready PORT</c>; <c>mark</c> starts the timed window (<c>marked</c>); <c>report</c>
        /// prints this process's CPU per thread since the mark; <c>end</c> stops the server (EMSE: after its counters
        /// and <c>readings N</c>). Each answer but <c>ready</c>/<c>marked</c> ends with a line <c>end</c>. EOF exits.
        /// </summary>
        public static int Serve(string[] args)
        {
            string kind = StringArg(args, "--serve", "");
            if (kind != "echo" && kind != "emse" && kind != "durable-echo")
            {
                Console.Error.WriteLine("--serve echo|durable-echo|emse");
                return 2;
            }

            FixedKeys? keys = null;
            if (kind == "emse")
            {
                BuildKeys(IntArg(args, "--devices", 64), out keys);
            }

            IDisposable? echo = null;
            EmseServer? emse = null;
            Dictionary<string, (string Name, long Ticks, long Switches)> mark = ThreadCpu();
            (long Allocated, int Gen0, int Gen1, int Gen2, TimeSpan Pause) gcMark = GcCounters();
            string? command;
            try
            {
                while ((command = Console.ReadLine()) != null)
                {
                    string[] words = command.Split(' ', 5);
                    switch (words[0])
                    {
                        case "begin":
                            IPEndPoint endPoint;
                            if (kind == "echo" || kind == "durable-echo")
                            {
                                var server = new EchoServer(durable: kind == "durable-echo");
                                echo = server;
                                endPoint = server.EndPoint;
                            }
                            else
                            {
                                // begin WORKERS SYNC IDLEFOLD [POSTGRES]; IDLEFOLD "noidlefold" (--slices) or "idlefold"
                                emse = new EmseServer(keys!, int.Parse(words[1], CultureInfo.InvariantCulture), words[2], words.Length > 4 ? words[4] : "",
                                    idleFold: words.Length <= 3 || words[3] != "noidlefold");
                                endPoint = emse.EndPoint;
                            }

                            Console.WriteLine("ready " + endPoint.Port.ToString(CultureInfo.InvariantCulture));
                            break;
                        case "mark":
                            mark = ThreadCpu();
                            gcMark = GcCounters();
                            Console.WriteLine("marked");
                            break;
                        case "report":
                            ReportThreadCpu(mark, ThreadCpu());
                            var gc = GcCounters();
                            Console.WriteLine(FormattableString.Invariant(
                                $"gc: allocated {(gc.Allocated - gcMark.Allocated) >> 20} MB, collections gen0 {gc.Gen0 - gcMark.Gen0} gen1 {gc.Gen1 - gcMark.Gen1} gen2 {gc.Gen2 - gcMark.Gen2}, paused {(gc.Pause - gcMark.Pause).TotalMilliseconds:F0} ms, server GC {System.Runtime.GCSettings.IsServerGC}"));
                            Console.WriteLine("end");
                            break;
                        case "end":
                            if (echo is EchoServer d && d.Durable)
                            {
                                Console.WriteLine(d.Stats);
                            }

                            if (emse != null)
                            {
                                Console.WriteLine(emse.Stats);
                                Console.WriteLine("readings " + emse.CountReadings().ToString(CultureInfo.InvariantCulture));
                            }

                            emse?.Dispose();
                            emse = null;
                            echo?.Dispose();
                            echo = null;
                            Console.WriteLine("end");
                            break;
                    }
                }
            }
            finally
            {
                emse?.Dispose();
                echo?.Dispose();
            }

            return 0;
        }

        private static (long Allocated, int Gen0, int Gen1, int Gen2, TimeSpan Pause) GcCounters() =>
            (GC.GetTotalAllocatedBytes(false), GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());

        /// <summary>
        /// The echo servers the EMSE is measured against, one thread each, the leanest this machine allows (session 14; until
        /// then one receive and one send call per datagram, and the durable echo had a receive thread handing each
        /// datagram to a sync thread: both slower than this, so the ratios of earlier sessions are against weaker
        /// baselines). The loop takes every datagram waiting (recvmmsg(2), up to 4096, <see cref="E2m.Server.Emse.Coap.DatagramReceiveBatch"/>),
        /// copies them into one buffer and sends them back (sendmmsg(2), <see cref="E2m.Server.Emse.Coap.DatagramBatch"/>);
        /// waits in poll(2) when none is there. <c>durable</c> (<c>--serve durable-echo</c>): before answering, ONE write of
        /// the batch to a preallocated file and ONE fdatasync (the EMSE's <see cref="E2m.Server.Emse.Storage.LinuxFileSync"/>):
        /// the most any server that acknowledges only stored data (DESIGN.md §4) can do here; datagrams that arrive during
        /// the fsync wait in the socket and form the next batch. No CoAP, OSCORE, SenML or database. Linux (64-bit) only,
        /// as the EMSE's batched socket calls.
        /// </summary>
        private sealed class EchoServer : IDisposable
        {
            private const long FileSize = 64L << 20;
            private readonly Socket _server = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            private readonly string _dir = Path.Combine(Path.GetTempPath(), "e2m-durable-echo-" + Guid.NewGuid().ToString("N"));
            private readonly string _path = "";
            private readonly Microsoft.Win32.SafeHandles.SafeFileHandle? _file;

            private readonly bool _durable;

            public EchoServer(bool durable)
            {
                _durable = durable;
                if (durable)
                {
                    Directory.CreateDirectory(_dir);
                    _path = Path.Combine(_dir, "log");
                    _file = File.OpenHandle(_path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, FileOptions.None, FileSize);
                    WriteRealBlocks(_file, FileSize);
                }

                _server.ReceiveBufferSize = 8 << 20;
                _server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                EndPoint = (IPEndPoint)_server.LocalEndPoint!;
                new Thread(Loop) { IsBackground = true, Name = durable ? "durable-echo" : "udp-echo" }.Start();
            }

            public IPEndPoint EndPoint { get; }

            public bool Durable => _durable;

            private long _syncs, _datagrams;

            public string Stats => FormattableString.Invariant($"durable-echo: {_datagrams} datagrams, {_syncs} fdatasyncs");

            private void Loop()
            {
                if (!E2m.Server.Emse.Coap.DatagramReceiveBatch.IsSupported)
                {
                    LoopOneByOne(); // no recvmmsg/sendmmsg here
                    return;
                }

                const int Max = 4096;
                var log = new byte[Max * 2048];
                var offsets = new int[Max];
                var lengths = new int[Max];
                var addresses = new SocketAddress[Max];
                for (int i = 0; i < Max; i++)
                {
                    addresses[i] = new SocketAddress(AddressFamily.InterNetwork);
                }

                long fileOffset = 0;
                try
                {
                    using var rx = new E2m.Server.Emse.Coap.DatagramReceiveBatch(_server, 2048);
                    using var tx = new E2m.Server.Emse.Coap.DatagramBatch(_server);
                    while (true)
                    {
                        int count = 0, length = 0;
                        while (count < Max)
                        {
                            int want = Math.Min(E2m.Server.Emse.Coap.DatagramReceiveBatch.Capacity, Max - count);
                            int got = rx.Receive(want);
                            for (int i = 0; i < got; i++)
                            {
                                int n = Math.Min(rx.Length(i), 2048);
                                rx.Data(i).Slice(0, n).CopyTo(log.AsSpan(length));
                                offsets[count] = length;
                                lengths[count] = n;
                                ReadOnlySpan<byte> a = rx.Address(i);
                                if (addresses[count].Size != a.Length)
                                {
                                    addresses[count] = new SocketAddress(AddressFamily.InterNetwork, a.Length);
                                }

                                a.CopyTo(addresses[count].Buffer.Span);
                                length += n;
                                count++;
                            }

                            if (got < want)
                            {
                                break;
                            }
                        }

                        if (count == 0)
                        {
                            _server.Poll(-1, SelectMode.SelectRead);
                            continue;
                        }

                        if (_durable)
                        {
                            if (fileOffset + length > FileSize)
                            {
                                fileOffset = 0;
                            }

                            RandomAccess.Write(_file!, log.AsSpan(0, length), fileOffset);
                            fileOffset += length;
                            E2m.Server.Emse.Storage.LinuxFileSync.DataSync(_path);
                            _syncs++;
                        }

                        _datagrams += count;
                        for (int i = 0; i < count; i++)
                        {
                            if (!tx.TryAdd(log.AsSpan(offsets[i], lengths[i]), addresses[i]))
                            {
                                tx.Flush(null);
                                tx.TryAdd(log.AsSpan(offsets[i], lengths[i]), addresses[i]);
                            }
                        }

                        tx.Flush(null);
                    }
                }
                catch (Exception)
                {
                }
            }

            /// <summary>Other systems: one datagram at a time (durable: written and flushed before its answer).</summary>
            private void LoopOneByOne()
            {
                var buf = new byte[2048];
                var from = new SocketAddress(AddressFamily.InterNetwork);
                try
                {
                    while (true)
                    {
                        int n = _server.ReceiveFrom(buf, SocketFlags.None, from);
                        if (_durable)
                        {
                            RandomAccess.Write(_file!, buf.AsSpan(0, n), 0);
                            RandomAccess.FlushToDisk(_file!);
                            _syncs++;
                        }

                        _server.SendTo(buf.AsSpan(0, n), SocketFlags.None, from);
                        _datagrams++;
                    }
                }
                catch (Exception)
                {
                }
            }

            public void Dispose()
            {
                _server.Close();
                if (_file == null)
                {
                    return;
                }

                _file.Dispose();
                try
                {
                    Directory.Delete(_dir, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }

        /// <summary>
        /// The EMSE as `e2m stack` runs it (EmseApp.Build), SQLite in a temp directory (or a fresh PostgreSQL schema), the
        /// in-process <see cref="FixedKeys"/> standing in for the EMKS.
        /// </summary>
        private sealed class EmseServer : IDisposable
        {
            private readonly string _dir;
            private readonly string _schema = "";
            private readonly string _postgres;
            private readonly WebApplication _app;

            public EmseServer(FixedKeys keys, int workers, string mode, string postgres, bool idleFold = true)
            {
                _dir = Path.Combine(Path.GetTempPath(), "e2m-emse-load-" + Guid.NewGuid().ToString("N"));
                if (postgres.Length > 0)
                {
                    // a fresh schema per run: the seeded device keys would otherwise meet the replay windows of earlier runs
                    _schema = "e2m_bench_" + Guid.NewGuid().ToString("N").Substring(0, 12);
                    using (var c = new Npgsql.NpgsqlConnection(postgres))
                    {
                        c.Open();
                        using var cmd = c.CreateCommand();
                        cmd.CommandText = "CREATE SCHEMA " + _schema;
                        cmd.ExecuteNonQuery();
                    }

                    postgres = new Npgsql.NpgsqlConnectionStringBuilder(postgres) { SearchPath = _schema }.ConnectionString;
                }

                _postgres = postgres;
                var options = new EmseOptions
                {
                    EmseId = "emse.bench.example",
                    UdpPort = 0,
                    UdpBindAddress = "127.0.0.1",
                    DataDir = _dir,
                    Database = postgres,
                    Workers = workers,
                    SqliteSynchronous = mode == "NORMAL" ? "NORMAL" : "FULL",
                    HttpUrls = "http://127.0.0.1:0",
                };
                if (!idleFold)
                {
                    options.JournalIdleFold = TimeSpan.Zero; // --slices: no fold while the echo's slices run
                }
                // the EMSE requires its readings-API trust anchor (Emse:CaCertificatePath, default DataDir/pki/ca.crt)
                E2m.Server.Common.DevPki.Init(_dir, new[] { options.EmseId });
                _app = EmseApp.Build(options, s =>
                {
                    s.AddSingleton<IEmksKeySource>(keys);
                    s.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
                });
                _app.StartAsync().GetAwaiter().GetResult();
                EndPoint = EmseApp.GetCoapEndPoint(_app);
            }

            public IPEndPoint EndPoint { get; }

            public string Stats => _app.Services.GetRequiredService<E2m.Server.Emse.Coap.EmseCoapServer>().Stats.ToString();

            public long CountReadings() => _app.Services.GetRequiredService<E2m.Server.Emse.Storage.EmseStore>().CountReadings();

            public void Dispose()
            {
                _app.StopAsync().GetAwaiter().GetResult();
                ((IDisposable)_app).Dispose();
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                if (_schema.Length > 0)
                {
                    Npgsql.NpgsqlConnection.ClearAllPools();
                    using var c = new Npgsql.NpgsqlConnection(_postgres);
                    c.Open();
                    using var cmd = c.CreateCommand();
                    cmd.CommandText = "DROP SCHEMA " + _schema + " CASCADE";
                    cmd.ExecuteNonQuery();
                }

                try
                {
                    Directory.Delete(_dir, true);
                }
                catch (IOException)
                {
                }
            }
        }

        /// <summary>
        /// Per device its kid and master secret, from a fixed seed per device (the same in the generator and in a server
        /// process), and the stand-in key source holding them. Benchmark data only: never a way to make real keys.
        /// </summary>
        private static (byte[] Kid, byte[] Key)[] BuildKeys(int devices, out FixedKeys keys)
        {
            keys = new FixedKeys();
            var secrets = new (byte[] Kid, byte[] Key)[devices];
            for (int d = 0; d < devices; d++)
            {
                var kid = new byte[8];
                var key = new byte[32];
                var rng = new Random(d + 1);
                rng.NextBytes(kid);
                rng.NextBytes(key);
                keys.Add(kid, key, "bench-" + d.ToString(CultureInfo.InvariantCulture));
                secrets[d] = (kid, key);
            }

            return secrets;
        }

        /// <summary>Per device: its requests (pre-protected POST /r, one SenML record each).</summary>
        private static byte[][][] BuildRequests(int devices, int messages, out FixedKeys keys)
        {
            (byte[] Kid, byte[] Key)[] secrets = BuildKeys(devices, out keys);
            var crypto = new PlatformCryptoProvider();
            var all = new byte[devices][][];
            var pack = new byte[256];
            var rec = new SenmlRecord();
            for (int d = 0; d < devices; d++)
            {
                (byte[] kid, byte[] key) = secrets[d];
                using var ctx = OscoreSecurityContext.ForDevice(crypto, key, kid, new MemorySsnStore(), 4096);
                all[d] = new byte[messages][];
                for (int m = 0; m < messages; m++)
                {
                    var w = new SenmlBatchWriter(pack, 0, 200);
                    w.Begin("urn:dev:b" + d.ToString(CultureInfo.InvariantCulture) + ":", true, 1_764_316_800 + m);
                    rec.Set("energy", "Wh", 100_000 + m, -1, false, 0);
                    w.TryAdd(rec);
                    int n = w.Finish();
                    var msg = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Post, MessageId = (d * 7919 + m) & 0xFFFF };
                    msg.SetToken(new byte[] { (byte)d, (byte)(m >> 8), (byte)m, 0x42 }, 0, 4);
                    msg.AddUriPath("r");
                    msg.SetContentFormat(CoapContentFormat.SenmlCbor);
                    msg.SetPayload(pack, 0, n);
                    var wire = new byte[512];
                    int len = ctx.ProtectRequest(msg, wire, 0, new OscoreExchange());
                    Array.Resize(ref wire, len);
                    all[d][m] = wire;
                }
            }

            return all;
        }

        /// <summary>
        /// All devices concurrently, each lock-step (NSTART = 1) with a 1 s retransmission timer. The first quarter of every
        /// device's messages is a warm-up that is not timed (JIT tiering, connection set-up, first EMKS pull, SQLite page
        /// cache), as BenchmarkDotNet does; the clock runs from the moment every device has finished its warm-up until the
        /// last response, over the remaining messages. Prints the CPU time of the process's threads in that window.
        /// </summary>
        private static (double Rate, long Retransmissions) Drive(IPEndPoint target, byte[][][] requests, Func<byte[], bool>? check, ServerProcess? server)
        {
            using var sockets = new DeviceSockets(requests.Length, target);
            int messages = requests.Length == 0 ? 0 : requests[0].Length; // BuildRequests: the same number per device
            // A quarter: with a tenth the JIT still spent ~1 s re-compiling hot EMSE methods inside the timed window
            // ("cpu ms by thread": .NET Tiered Compilation), with a quarter about as little as in the echo run.
            int warmup = messages / 4;
            var (_, warmupRetransmissions, warmupFailures, _) = DriveRange(sockets, requests, 0, warmup, check);
            Thread.Sleep(100); // the last warm-up commits settle
            server?.Mark();
            Dictionary<string, (string Name, long Ticks, long Switches)> before = ThreadCpu();
            long[] hostBefore = HostCpu();
            var finished = new long[requests.Length];
            var (rate, retransmissions, failures, elapsed) = DriveRange(sockets, requests, warmup, messages, check, finished: finished);
            Dictionary<string, (string Name, long Ticks, long Switches)> after = ThreadCpu();
            if (server != null)
            {
                foreach (string line in server.Report())
                {
                    Console.WriteLine("  " + server.Kind + " process " + line.TrimStart());
                }
            }

            ReportThreadCpu(before, after, server != null ? "generator process " : "");
            ReportHostCpu(hostBefore, HostCpu());
            Array.Sort(finished);
            if (finished.Length > 0)
            {
                double F(int i) => 100.0 * finished[Math.Min(finished.Length - 1, i)] / elapsed.Ticks;
                Console.WriteLine(FormattableString.Invariant($"  devices finished at % of the window: first {F(0):F0}, 10% {F(finished.Length / 10):F0}, median {F(finished.Length / 2):F0}, 90% {F(finished.Length * 9 / 10):F0}, last 100"));
            }

            if (warmupFailures + failures > 0)
            {
                Console.WriteLine($"  {warmupFailures + failures} responses were not ACK 2.04");
            }

            return (rate, warmupRetransmissions + retransmissions);
        }

        /// <summary>
        /// Per thread (Linux /proc/self/task): name, user+system CPU time in clock ticks, and context switches (voluntary
        /// + involuntary, proc(5) status); empty elsewhere.
        /// </summary>
        private static Dictionary<string, (string Name, long Ticks, long Switches)> ThreadCpu()
        {
            var threads = new Dictionary<string, (string Name, long Ticks, long Switches)>();
            if (!Directory.Exists("/proc/self/task"))
            {
                return threads;
            }

            foreach (string task in Directory.GetDirectories("/proc/self/task"))
            {
                try
                {
                    string stat = File.ReadAllText(Path.Combine(task, "stat"));
                    int open = stat.IndexOf('(', StringComparison.Ordinal);
                    int close = stat.LastIndexOf(')');
                    string[] fields = stat.Substring(close + 2).Split(' ');
                    long switches = 0;
                    foreach (string line in File.ReadAllLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            switches += long.Parse(line.Substring(line.IndexOf(':', StringComparison.Ordinal) + 1).Trim(), CultureInfo.InvariantCulture);
                        }
                    }

                    // proc(5): fields 14 utime and 15 stime, i.e. 12th and 13th after the state field
                    threads[task] = (stat.Substring(open + 1, close - open - 1),
                        long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture), switches);
                }
                catch (IOException)
                {
                    // the thread ended
                }
            }

            return threads;
        }

        /// <summary>The host's aggregate CPU counters (proc(5) /proc/stat "cpu" line: user nice system idle iowait irq softirq steal), empty elsewhere.</summary>
        private static long[] HostCpu()
        {
            try
            {
                foreach (string line in File.ReadLines("/proc/stat"))
                {
                    if (line.StartsWith("cpu ", StringComparison.Ordinal))
                    {
                        string[] f = line.Substring(4).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                        var v = new long[Math.Min(8, f.Length)];
                        for (int i = 0; i < v.Length; i++)
                        {
                            v[i] = long.Parse(f[i], CultureInfo.InvariantCulture);
                        }

                        return v;
                    }
                }
            }
            catch (IOException)
            {
            }

            return Array.Empty<long>();
        }

        /// <summary>Share of the host's CPU time in the timed window: busy (user+system+irq+softirq), idle, iowait, steal.</summary>
        private static void ReportHostCpu(long[] before, long[] after)
        {
            if (before.Length < 8 || after.Length < 8)
            {
                return;
            }

            var d = new long[8];
            long sum = 0;
            for (int i = 0; i < 8; i++)
            {
                d[i] = after[i] - before[i];
                sum += d[i];
            }

            if (sum <= 0)
            {
                return;
            }

            double Pct(long x) => 100.0 * x / sum;
            Console.WriteLine(FormattableString.Invariant($"  host cpu: busy {Pct(d[0] + d[1] + d[2] + d[5] + d[6]):F0}% (softirq {Pct(d[6]):F0}%), idle {Pct(d[3]):F0}%, iowait {Pct(d[4]):F0}%, steal {Pct(d[7]):F0}%"));
        }

        /// <summary>CPU ms and context switches per thread name in the timed window (an unnamed thread carries the process name).</summary>
        private static void ReportThreadCpu(Dictionary<string, (string Name, long Ticks, long Switches)> before, Dictionary<string, (string Name, long Ticks, long Switches)> after, string prefix = "")
        {
            var cpu = new SortedDictionary<string, long>(StringComparer.Ordinal);
            var switches = new SortedDictionary<string, long>(StringComparer.Ordinal);
            foreach (KeyValuePair<string, (string Name, long Ticks, long Switches)> t in after)
            {
                before.TryGetValue(t.Key, out var b);
                string name = t.Value.Name.Trim();
                cpu[name] = (cpu.TryGetValue(name, out long c) ? c : 0) + t.Value.Ticks - b.Ticks;
                switches[name] = (switches.TryGetValue(name, out long w) ? w : 0) + t.Value.Switches - b.Switches;
            }

            var parts = new List<string>();
            foreach (KeyValuePair<string, long> kv in cpu)
            {
                if (kv.Value > 0)
                {
                    parts.Add(kv.Key + "=" + (kv.Value * 10).ToString(CultureInfo.InvariantCulture)); // USER_HZ = 100
                }
            }

            var sw = new List<string>();
            foreach (KeyValuePair<string, long> kv in switches)
            {
                if (kv.Value > 0)
                {
                    sw.Add(kv.Key + "=" + kv.Value.ToString(CultureInfo.InvariantCulture));
                }
            }

            if (parts.Count > 0)
            {
                Console.WriteLine("  " + prefix + "cpu ms by thread: " + string.Join(", ", parts));
                Console.WriteLine("  " + prefix + "context switches by thread: " + string.Join(", ", sw));
            }
        }

        /// <summary>
        /// Writes the first <paramref name="size"/> octets of the file once, 1 MiB at a time, and syncs it: later writes
        /// overwrite allocated blocks (no unwritten extent to convert, no size change to journal): the durable echo's log
        /// and <c>--disk-sync</c>'s file (DiskSync.cs, not compiled into `e2m`, which links this file).
        /// </summary>
        internal static void WriteRealBlocks(Microsoft.Win32.SafeHandles.SafeFileHandle f, long size)
        {
            var chunk = new byte[1 << 20];
            for (long o = 0; o < size; o += chunk.Length)
            {
                RandomAccess.Write(f, chunk.AsSpan(0, (int)Math.Min(chunk.Length, size - o)), o);
            }

            RandomAccess.FlushToDisk(f);
        }

        /// <summary>`--name N` from the bench's command line (also used by the other load switches).</summary>
        internal static int IntArg(string[] args, string name, int fallback)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
        }

        /// <summary>`--name VALUE` from the bench's command line.</summary>
        internal static string StringArg(string[] args, string name, string fallback)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }

        /// <summary>
        /// The server side of a run in a child process: this benchmark's own executable with <c>--serve</c>
        /// (<see cref="Serve"/>), so the generator and the server do not share a garbage-collected heap, thread pool or
        /// runtime settings. Both servers run with the EMSE's runtime settings (garbage collector mode from
        /// E2m.Server.Emse.runtimeconfig.json beside this program, as the deployed EMSE runs), the echo too, so the
        /// two runs differ only by the server.
        /// </summary>
        private sealed class ServerProcess : IDisposable
        {
            private readonly System.Diagnostics.Process _process;

            private ServerProcess(string kind, System.Diagnostics.Process process)
            {
                Kind = kind;
                _process = process;
            }

            public string Kind { get; }

            /// <summary>The EMSE's runtime configuration (written by the build beside this program), null when missing.</summary>
            private static string? EmseRuntimeConfig()
            {
                string path = Path.Combine(AppContext.BaseDirectory, "E2m.Server.Emse.runtimeconfig.json");
                return File.Exists(path) ? path : null;
            }

            /// <summary>The garbage collector settings the server processes run with (System.GC.* of the EMSE's runtimeconfig.json).</summary>
            public static string Describe()
            {
                string? path = EmseRuntimeConfig();
                if (path == null)
                {
                    return "this program's runtime settings: E2m.Server.Emse.runtimeconfig.json not found";
                }

                var parts = new List<string>();
                using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
                if (doc.RootElement.TryGetProperty("runtimeOptions", out var options) && options.TryGetProperty("configProperties", out var config))
                {
                    foreach (System.Text.Json.JsonProperty p in config.EnumerateObject())
                    {
                        if (p.Name.StartsWith("System.GC.", StringComparison.Ordinal))
                        {
                            parts.Add(p.Name + "=" + p.Value.ToString());
                        }
                    }
                }

                return "E2m.Server.Emse.runtimeconfig.json" + (parts.Count == 0 ? "" : ": " + string.Join(" ", parts));
            }

            /// <summary>
            /// Starts <c>dotnet exec --runtimeconfig E2m.Server.Emse.runtimeconfig.json E2m.Bench.dll --serve KIND ...</c>:
            /// this program's code under the EMSE's own runtime configuration (garbage collector mode and the rest, as the
            /// deployed EMSE runs). Without that file, this program's executable as is.
            /// </summary>
            public static ServerProcess Start(string kind, params string[] args)
            {
                string? runtimeConfig = EmseRuntimeConfig();
                string dll = typeof(EmseLoad).Assembly.Location;
                System.Diagnostics.ProcessStartInfo start;
                if (runtimeConfig != null)
                {
                    // The muxer: <dotnet root>/dotnet, three levels above shared/Microsoft.NETCore.App/<version>/.
                    string root = Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
                    string muxer = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
                    start = new System.Diagnostics.ProcessStartInfo(File.Exists(muxer) ? muxer : "dotnet");
                    start.ArgumentList.Add("exec");
                    start.ArgumentList.Add("--runtimeconfig");
                    start.ArgumentList.Add(runtimeConfig);
                    start.ArgumentList.Add("--depsfile");
                    start.ArgumentList.Add(Path.ChangeExtension(dll, ".deps.json"));
                    start.ArgumentList.Add(dll);
                }
                else
                {
                    string host = Environment.ProcessPath ?? "dotnet";
                    start = new System.Diagnostics.ProcessStartInfo(host);
                    if (string.Equals(Path.GetFileNameWithoutExtension(host), "dotnet", StringComparison.OrdinalIgnoreCase))
                    {
                        start.ArgumentList.Add(dll);
                    }
                }

                start.RedirectStandardInput = true;
                start.RedirectStandardOutput = true;
                start.UseShellExecute = false;
                start.ArgumentList.Add("--serve");
                start.ArgumentList.Add(kind);
                foreach (string a in args)
                {
                    start.ArgumentList.Add(a);
                }

                System.Diagnostics.Process process = System.Diagnostics.Process.Start(start)
                    ?? throw new InvalidOperationException("could not start the " + kind + " server process");
                return new ServerProcess(kind, process);
            }

            /// <summary>A fresh server (and database) in the process; its UDP endpoint.</summary>
            public IPEndPoint Begin(params string[] parameters)
            {
                Send(parameters.Length == 0 ? "begin" : "begin " + string.Join(' ', parameters).TrimEnd());
                string? ready = _process.StandardOutput.ReadLine();
                if (ready == null || !ready.StartsWith("ready ", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException("the " + Kind + " server did not start: " + (ready ?? "no output"));
                }

                return new IPEndPoint(IPAddress.Loopback, int.Parse(ready.Substring(6), CultureInfo.InvariantCulture));
            }

            /// <summary>
            /// Linux: waits until the server process uses less than a tenth of a core over 10 ms (CPU time of all its
            /// threads, /proc/PID/task/*/schedstat) and returns <paramref name="clock"/>'s time at the start of that quiet
            /// interval; elsewhere, or after 10 s, the time now.
            /// </summary>
            public TimeSpan WaitQuiet(Stopwatch clock)
            {
                string tasks = "/proc/" + _process.Id.ToString(CultureInfo.InvariantCulture) + "/task";
                if (!Directory.Exists(tasks))
                {
                    return clock.Elapsed;
                }

                TimeSpan at = clock.Elapsed;
                long cpu = RunNanoseconds(tasks);
                while (clock.Elapsed - at < TimeSpan.FromSeconds(10))
                {
                    Thread.Sleep(10);
                    TimeSpan now = clock.Elapsed;
                    long next = RunNanoseconds(tasks);
                    if (next - cpu < (long)((now - at).TotalMilliseconds * 100_000)) // < 0.1 core
                    {
                        return at;
                    }

                    at = now;
                    cpu = next;
                }

                return clock.Elapsed;
            }

            private static long RunNanoseconds(string tasks)
            {
                long sum = 0;
                foreach (string task in Directory.EnumerateDirectories(tasks))
                {
                    try
                    {
                        string line = File.ReadAllText(Path.Combine(task, "schedstat")); // sched-stats.rst: run ns, wait ns, slices
                        sum += long.Parse(line.AsSpan(0, line.IndexOf(' ')), CultureInfo.InvariantCulture);
                    }
                    catch (IOException)
                    {
                        // the thread ended meanwhile
                    }
                }

                return sum;
            }

            public void Mark()
            {
                Send("mark");
                string? line = _process.StandardOutput.ReadLine();
                if (line != "marked")
                {
                    throw new InvalidOperationException("the " + Kind + " server process answered " + (line ?? "nothing"));
                }
            }

            /// <summary>The server process's CPU per thread since <see cref="Mark"/>.</summary>
            public List<string> Report()
            {
                Send("report");
                return ReadUntilEnd();
            }

            /// <summary>Stops the server (EMSE: after its counters and readings count, which are returned); the process stays.</summary>
            public List<string> End()
            {
                Send("end");
                return ReadUntilEnd();
            }

            private void Send(string command)
            {
                _process.StandardInput.WriteLine(command);
                _process.StandardInput.Flush();
            }

            private List<string> ReadUntilEnd()
            {
                var lines = new List<string>();
                string? line;
                while ((line = _process.StandardOutput.ReadLine()) != null && line != "end")
                {
                    lines.Add(line);
                }

                if (line == null)
                {
                    throw new InvalidOperationException("the " + Kind + " server process ended unexpectedly");
                }

                return lines;
            }

            public void Dispose()
            {
                _process.StandardInput.Close(); // EOF: the process stops its server and exits
                if (!_process.WaitForExit(30_000))
                {
                    _process.Kill(true);
                    _process.WaitForExit();
                }

                _process.Dispose();
            }
        }

        /// <summary>In-process stand-in for the EMKS (the pull is not what this benchmark measures).</summary>
        private sealed class FixedKeys : IEmksKeySource
        {
            private readonly Dictionary<string, (byte[] Kid, byte[] Key, string Device)> _keys = new();

            public void Add(byte[] kid, byte[] key, string device) => _keys[Convert.ToHexStringLower(kid, 0, 7)] = (kid, key, device);

            public Task<EmksKeyLookup> GetKeyAsync(byte[] kid, CancellationToken cancellationToken)
            {
                return Task.FromResult(_keys.TryGetValue(Convert.ToHexStringLower(kid), out var k)
                    ? EmksKeyLookup.Found(new EmksKey(k.Kid, (byte[])k.Key.Clone(), DateTimeOffset.UtcNow.AddDays(1), k.Device))
                    : EmksKeyLookup.NotFound());
            }
        }
    }
}

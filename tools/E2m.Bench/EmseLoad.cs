#nullable enable
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
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
    /// <c>dotnet run -c Release --project tools/E2m.Bench -- --emse-load [--devices 64] [--messages 1000] [--rounds 3] [--workers 0]
    /// [--sync FULL|NORMAL|both] [--postgres CONNSTRING]</c>
    /// <para>
    /// Issue 6 point 6: EMSE protected messages/s end to end over UDP on loopback, compared in the same run with a bare
    /// UDP echo server (one receive thread that sends every datagram back: the physical limit of this machine's UDP
    /// path). The same load generator drives both: D simulated devices, each a UDP socket doing CoAP NSTART = 1 lock-step
    /// (send, wait for the response, retransmit the same datagram after 1 s), all devices concurrently. The EMSE run sends
    /// requests pre-protected with OscoreSecurityContext.ForDevice (one SenML record, ~60 octets) so the generator costs
    /// the same in both runs; the first quarter of each device's messages is an untimed warm-up; each round runs the echo, then the EMSE, and the median ratio of the rounds is reported; every EMSE response is checked (ACK, same Message ID, outer 2.04) and, after the timed
    /// phase, the readings in the database are counted (each exactly once). The EMSE runs in-process (EmseApp.Build,
    /// SQLite in a temp directory, fake in-process EMKS) and commits each group of queued requests in one transaction.
    /// </para>
    /// </summary>
    public static class EmseLoad
    {
        public static int Run(string[] args)
        {
            int devices = IntArg(args, "--devices", 64);
            int messages = IntArg(args, "--messages", 1000);
            int workers = IntArg(args, "--workers", 0);
            int rounds = Math.Max(1, IntArg(args, "--rounds", 3));
            string sync = StringArg(args, "--sync", "both");
            string postgres = StringArg(args, "--postgres", "");
            Console.WriteLine($"emse-load: devices={devices} messages/device={messages} rounds={rounds} workers={(workers == 0 ? Environment.ProcessorCount : workers)} cores={Environment.ProcessorCount}");
            var modes = new List<string>();
            if (postgres.Length > 0)
            {
                modes.Add("postgres");
            }
            else if (sync == "both")
            {
                modes.Add("FULL");
                modes.Add("NORMAL");
            }
            else
            {
                modes.Add(sync);
            }

            // The host is shared and its speed drifts between runs (the echo alone varies by ±20 % here): each round
            // runs the echo and then the EMSE back to back, and the ratio reported is the median of the rounds' ratios.
            var ratios = new Dictionary<string, List<double>>();
            foreach (string mode in modes)
            {
                ratios[mode] = new List<double>();
            }

            for (int round = 1; round <= rounds; round++)
            {
                foreach (string mode in modes)
                {
                    var (echoRate, echoRetx) = RunEcho(devices, messages);
                    Console.WriteLine($"round {round}: udp-echo: {echoRate:F0} msg/s (retransmissions {echoRetx})");
                    var (rate, retx, stored, expected) = RunEmse(devices, messages, workers, mode, postgres);
                    string label = mode == "postgres" ? "postgres" : "sqlite synchronous=" + mode;
                    Console.WriteLine($"round {round}: emse ({label}): {rate:F0} msg/s (retransmissions {retx}, readings stored {stored}/{expected}) = {100 * rate / echoRate:F1}% of udp-echo");
                    if (stored != expected)
                    {
                        Console.WriteLine("emse: ERROR readings stored != messages sent");
                        return 1;
                    }

                    ratios[mode].Add(rate / echoRate);
                }
            }

            foreach (string mode in modes)
            {
                List<double> r = ratios[mode];
                r.Sort();
                double median = r.Count % 2 == 1 ? r[r.Count / 2] : (r[r.Count / 2 - 1] + r[r.Count / 2]) / 2;
                string label = mode == "postgres" ? "postgres" : "sqlite synchronous=" + mode;
                Console.WriteLine($"emse ({label}) vs udp-echo over {r.Count} rounds: median {100 * median:F1}% (min {100 * r[0]:F1}%, max {100 * r[^1]:F1}%)");
            }

            return 0;
        }

        /// <summary>Bare UDP echo rate (msg/s) under the same load generator; also called by `e2m demo --bench`.</summary>
        public static (double Rate, long Retransmissions) RunEcho(int devices, int messages)
        {
            using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            server.ReceiveBufferSize = 8 << 20;
            server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var endpoint = (IPEndPoint)server.LocalEndPoint!;
            var echo = new Thread(() =>
            {
                var buf = new byte[2048];
                var from = new SocketAddress(AddressFamily.InterNetwork);
                while (true)
                {
                    try
                    {
                        int n = server.ReceiveFrom(buf, SocketFlags.None, from);
                        server.SendTo(buf.AsSpan(0, n), SocketFlags.None, from);
                    }
                    catch (Exception)
                    {
                        return;
                    }
                }
            }) { IsBackground = true, Name = "udp-echo" };
            echo.Start();

            // same datagram sizes as the EMSE run: build them the same way
            byte[][][] requests = BuildRequests(devices, messages, out _);
            var result = Drive(endpoint, requests, null);
            server.Close();
            return result;
        }

        /// <summary>EMSE rate (msg/s) in-process, same generator; also called by `e2m demo --bench`.</summary>
        public static (double Rate, long Retransmissions, long Stored, long Expected) RunEmse(int devices, int messages, int workers, string mode, string postgres)
        {
            string dir = Path.Combine(Path.GetTempPath(), "e2m-emse-load-" + Guid.NewGuid().ToString("N"));
            E2m.Server.Common.DevPki.Init(dir, Array.Empty<string>()); // the EMSE requires its readings-API trust anchor (CA)
            string schema = "";
            if (postgres.Length > 0)
            {
                // a fresh schema per run: the seeded device keys would otherwise meet the replay windows of earlier runs
                schema = "e2m_bench_" + Guid.NewGuid().ToString("N").Substring(0, 12);
                using (var c = new Npgsql.NpgsqlConnection(postgres))
                {
                    c.Open();
                    using var cmd = c.CreateCommand();
                    cmd.CommandText = "CREATE SCHEMA " + schema;
                    cmd.ExecuteNonQuery();
                }

                postgres = new Npgsql.NpgsqlConnectionStringBuilder(postgres) { SearchPath = schema }.ConnectionString;
            }
            byte[][][] requests = BuildRequests(devices, messages, out FixedKeys keys);
            var options = new EmseOptions
            {
                EmseId = "emse.bench.example",
                UdpPort = 0,
                UdpBindAddress = "127.0.0.1",
                DataDir = dir,
                Database = postgres,
                Workers = workers,
                SqliteSynchronous = mode == "NORMAL" ? "NORMAL" : "FULL",
                HttpUrls = "http://127.0.0.1:0",
            };
            E2m.Server.Common.DevPki.Init(dir, new[] { options.EmseId }); // the EMSE now requires Emse:CaCertificatePath (default DataDir/pki/ca.crt)
            WebApplication app = EmseApp.Build(options, s =>
            {
                s.AddSingleton<IEmksKeySource>(keys);
                s.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
            });
            app.StartAsync().GetAwaiter().GetResult();
            try
            {
                IPEndPoint coap = EmseApp.GetCoapEndPoint(app);
                var (rate, retx) = Drive(coap, requests, response =>
                    response.Length > 4 && response[1] == CoapCode.Changed && ((response[0] >> 4) & 3) == CoapType.Acknowledgement);
                var store = app.Services.GetRequiredService<E2m.Server.Emse.Storage.EmseStore>();
                Console.WriteLine("  " + app.Services.GetRequiredService<E2m.Server.Emse.Coap.EmseCoapServer>().Stats);
                return (rate, retx, store.CountReadings(), (long)devices * messages);
            }
            finally
            {
                app.StopAsync().GetAwaiter().GetResult();
                ((IDisposable)app).Dispose();
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                if (schema.Length > 0)
                {
                    Npgsql.NpgsqlConnection.ClearAllPools();
                    using var c = new Npgsql.NpgsqlConnection(postgres);
                    c.Open();
                    using var cmd = c.CreateCommand();
                    cmd.CommandText = "DROP SCHEMA " + schema + " CASCADE";
                    cmd.ExecuteNonQuery();
                }
                try
                {
                    Directory.Delete(dir, true);
                }
                catch (IOException)
                {
                }
            }
        }

        /// <summary>Per device: its requests (pre-protected POST /r, one SenML record each).</summary>
        private static byte[][][] BuildRequests(int devices, int messages, out FixedKeys keys)
        {
            keys = new FixedKeys();
            var crypto = new PlatformCryptoProvider();
            var all = new byte[devices][][];
            var pack = new byte[256];
            var rec = new SenmlRecord();
            for (int d = 0; d < devices; d++)
            {
                var kid = new byte[8];
                var key = new byte[32];
                var rng = new Random(d + 1);
                rng.NextBytes(kid);
                rng.NextBytes(key);
                keys.Add(kid, key, "bench-" + d.ToString(CultureInfo.InvariantCulture));
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
        private static (double Rate, long Retransmissions) Drive(IPEndPoint target, byte[][][] requests, Func<byte[], bool>? check)
        {
            long retransmissions = 0;
            long failures = 0;
            var tasks = new Task[requests.Length];
            // Asynchronous gates: a thread-pool thread blocked per device would starve the others' continuations.
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var timed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            int warming = requests.Length;
            using var warmedUp = new ManualResetEventSlim(requests.Length == 0);
            var sw = new Stopwatch();
            long total = 0;
            var finished = new long[requests.Length];
            for (int d = 0; d < requests.Length; d++)
            {
                int device = d;
                byte[][] mine = requests[d];
                // A quarter: with a tenth the JIT still spent ~1 s re-compiling hot EMSE methods inside the timed window
                // ("cpu ms by thread": .NET Tiered Compilation), with a quarter about as little as in the echo run.
                int warmup = mine.Length / 4;
                total += mine.Length - warmup;
                tasks[d] = Task.Run(async () =>
                {
                    using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                    s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                    s.Connect(target);
                    var buf = new byte[2048];
                    await start.Task.ConfigureAwait(false);
                    for (int m = 0; m <= mine.Length; m++)
                    {
                        if (m == warmup)
                        {
                            if (Interlocked.Decrement(ref warming) == 0)
                            {
                                warmedUp.Set();
                            }

                            await timed.Task.ConfigureAwait(false);
                        }

                        if (m == mine.Length)
                        {
                            finished[device] = sw.ElapsedTicks;
                            break;
                        }

                        byte[] req = mine[m];
                        while (true)
                        {
                            await s.SendAsync(req, SocketFlags.None).ConfigureAwait(false);
                            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                            try
                            {
                                int n;
                                do
                                {
                                    n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token).ConfigureAwait(false);
                                }
                                while (n < 4 || buf[2] != req[2] || buf[3] != req[3]); // match the Message ID (RFC 7252 §4.4)

                                if (check != null && !check(buf.AsSpan(0, n).ToArray()))
                                {
                                    Interlocked.Increment(ref failures);
                                }

                                break;
                            }
                            catch (OperationCanceledException)
                            {
                                Interlocked.Increment(ref retransmissions); // RFC 7252 §4.2: resend the same CON
                            }
                        }
                    }
                });
            }

            start.SetResult();
            warmedUp.Wait();
            Thread.Sleep(100); // the last warm-up commits settle
            Dictionary<string, (string Name, long Ticks, long Switches)> before = ThreadCpu();
            long[] hostBefore = HostCpu();
            sw.Start();
            timed.SetResult();
            Task.WaitAll(tasks);
            sw.Stop();
            ReportThreadCpu(before, ThreadCpu());
            ReportHostCpu(hostBefore, HostCpu());
            Array.Sort(finished);
            if (finished.Length > 0)
            {
                double F(int i) => 100.0 * finished[Math.Min(finished.Length - 1, i)] / sw.ElapsedTicks;
                Console.WriteLine(FormattableString.Invariant($"  devices finished at % of the window: first {F(0):F0}, 10% {F(finished.Length / 10):F0}, median {F(finished.Length / 2):F0}, 90% {F(finished.Length * 9 / 10):F0}, last 100"));
            }
            if (failures > 0)
            {
                Console.WriteLine($"  {failures} responses were not ACK 2.04");
            }

            return (total / sw.Elapsed.TotalSeconds, retransmissions);
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
        private static void ReportThreadCpu(Dictionary<string, (string Name, long Ticks, long Switches)> before, Dictionary<string, (string Name, long Ticks, long Switches)> after)
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
                Console.WriteLine("  cpu ms by thread: " + string.Join(", ", parts));
                Console.WriteLine("  context switches by thread: " + string.Join(", ", sw));
            }
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

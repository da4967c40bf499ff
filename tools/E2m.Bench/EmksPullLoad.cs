#nullable enable
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace E2m.Bench
{
    /// <summary>How the load clients reach the EMKS.</summary>
    public enum PullLoadMode
    {
        /// <summary>HTTP/1.1, one keep-alive TLS connection per client, one request at a time on it.</summary>
        Http1,

        /// <summary>HTTP/2, one TLS connection per client, one stream at a time on it.</summary>
        Http2,

        /// <summary>HTTP/2, all clients multiplexed as concurrent streams on one TLS connection.</summary>
        Http2Multiplexed,
    }

    /// <summary>Result of one load run: pulls/s and latency percentiles (milliseconds).</summary>
    public sealed class PullLoadResult
    {
        public PullLoadMode Mode { get; init; }

        public int Clients { get; init; }

        public long Pulls { get; init; }

        public long Errors { get; init; }

        public double Seconds { get; init; }

        public double P50Ms { get; init; }

        public double P99Ms { get; init; }

        public double MaxMs { get; init; }

        /// <summary>CPU time of the whole process (server and load clients) per pull, microseconds.</summary>
        public double CpuUsPerPull { get; init; }

        public double PullsPerSecond => Pulls / Seconds;

        public override string ToString() => string.Format(CultureInfo.InvariantCulture,
            "{0,-6} clients {1,3}: {2,8:F0} pulls/s  p50 {3,6:F2} ms  p99 {4,7:F2} ms  max {5,7:F1} ms  cpu {6,5:F0} us/pull  ({7} pulls, {8} errors)",
            Mode switch { PullLoadMode.Http1 => "h1", PullLoadMode.Http2 => "h2", _ => "h2-mux" },
            Clients, PullsPerSecond, P50Ms, P99Ms, MaxMs, CpuUsPerPull, Pulls, Errors);
    }

    /// <summary>
    /// Load generator of the EMKS pull API (issue 6 point 6: key pulls/s and p99 over mTLS with keep-alive). Each client
    /// loops GET /v1/keys/{kid} over its own keep-alive TLS connection (or, in <see cref="PullLoadMode.Http2Multiplexed"/>,
    /// as a stream of one shared connection), cycling through <c>paths</c>; connections are opened and warmed up before
    /// the clock starts, so the figures are steady-state keep-alive pulls. Used by <c>e2m bench --emks-load</c>
    /// (tools/E2m.Bench/EmksLoad.cs) and by tests/E2m.Server.Emks.Tests/PullBenchmark.cs (linked source).
    /// </summary>
    public static class EmksPullLoad
    {
        public static async Task<PullLoadResult> RunAsync(
            Uri baseAddress, Func<SocketsHttpHandler> handlerFactory, IReadOnlyList<string> paths, int clients, TimeSpan duration, PullLoadMode mode)
        {
            Version version = mode == PullLoadMode.Http1 ? HttpVersion.Version11 : HttpVersion.Version20;
            var handlers = new List<SocketsHttpHandler>();
            var http = new HttpClient[clients];
            SocketsHttpHandler? shared = null;
            for (int i = 0; i < clients; i++)
            {
                SocketsHttpHandler h;
                if (mode == PullLoadMode.Http2Multiplexed)
                {
                    if (shared == null)
                    {
                        shared = handlerFactory();
                        shared.EnableMultipleHttp2Connections = false;
                        handlers.Add(shared);
                    }

                    h = shared;
                }
                else
                {
                    h = handlerFactory();
                    h.MaxConnectionsPerServer = 1;
                    h.EnableMultipleHttp2Connections = false;
                    handlers.Add(h);
                }

                http[i] = new HttpClient(h, disposeHandler: false)
                {
                    BaseAddress = baseAddress,
                    DefaultRequestVersion = version,
                    DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
                    Timeout = TimeSpan.FromSeconds(30),
                };
            }

            try
            {
                // open every connection (TLS handshake + client certificate validation) and warm up the JIT
                var warm = new Task[clients];
                for (int i = 0; i < clients; i++)
                {
                    HttpClient c = http[i];
                    int offset = i;
                    warm[i] = Task.Run(async () =>
                    {
                        for (int j = 0; j < 50; j++)
                        {
                            using HttpResponseMessage r = await c.GetAsync(paths[(offset + j) % paths.Count]).ConfigureAwait(false);
                            r.EnsureSuccessStatusCode();
                            await r.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                        }
                    });
                }

                await Task.WhenAll(warm).ConfigureAwait(false);

                var latencies = new List<double>[clients];
                long errors = 0;
                TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                var workers = new Task[clients];
                for (int i = 0; i < clients; i++)
                {
                    HttpClient c = http[i];
                    var mine = latencies[i] = new List<double>(200_000);
                    int next = i * 7;
                    workers[i] = Task.Run(async () =>
                    {
                        while (clock.Elapsed < duration)
                        {
                            long t0 = Stopwatch.GetTimestamp();
                            using HttpResponseMessage r = await c.GetAsync(paths[next++ % paths.Count]).ConfigureAwait(false);
                            await r.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                            if (r.StatusCode != HttpStatusCode.OK)
                            {
                                Interlocked.Increment(ref errors);
                                continue;
                            }

                            mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                        }
                    });
                }

                await Task.WhenAll(workers).ConfigureAwait(false);
                double seconds = clock.Elapsed.TotalSeconds;
                TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
                var all = new List<double>();
                foreach (List<double> l in latencies) all.AddRange(l);
                all.Sort();
                return new PullLoadResult
                {
                    Mode = mode,
                    Clients = clients,
                    Pulls = all.Count,
                    Errors = errors,
                    Seconds = seconds,
                    P50Ms = all.Count == 0 ? 0 : all[all.Count / 2],
                    P99Ms = all.Count == 0 ? 0 : all[Math.Min(all.Count - 1, (int)(all.Count * 0.99))],
                    MaxMs = all.Count == 0 ? 0 : all[all.Count - 1],
                    CpuUsPerPull = all.Count == 0 ? 0 : cpu.TotalMilliseconds * 1000 / all.Count,
                };
            }
            finally
            {
                foreach (HttpClient c in http) c?.Dispose();
                foreach (SocketsHttpHandler h in handlers) h.Dispose();
            }
        }

        /// <summary>The 1-minute load average of the machine (Linux), or "n/a".</summary>
        public static string LoadAverage()
        {
            try
            {
                string[] f = System.IO.File.ReadAllText("/proc/loadavg").Split(' ');
                return f[0] + " " + f[1] + " " + f[2];
            }
            catch (System.IO.IOException)
            {
                return "n/a";
            }
            catch (UnauthorizedAccessException)
            {
                return "n/a";
            }
        }
    }
}

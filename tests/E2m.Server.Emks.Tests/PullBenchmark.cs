using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common.Contracts;
using Xunit;
using Xunit.Abstractions;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// Issue 6 point 6: EMKS key pulls/s and p99 latency over mTLS with keep-alive (reported, not asserted).
    /// Runs only with E2M_BENCH=1: <c>E2M_BENCH=1 dotnet test tests/E2m.Server.Emks.Tests --filter PullBenchmark --logger "console;verbosity=detailed"</c>.
    /// </summary>
    public sealed class PullBenchmark
    {
        private readonly ITestOutputHelper _out;

        public PullBenchmark(ITestOutputHelper output) => _out = output;

        [SkippableFact]
        public async Task Pulls_per_second_and_p99_over_mtls_keep_alive()
        {
            Skip.IfNot(Environment.GetEnvironmentVariable("E2M_BENCH") == "1", "benchmark: set E2M_BENCH=1");
            await using var host = new HostScope();
            await host.Host.InitializeAsync();
            (string intKey, string kid) = PushPullApiTests.Case0();
            await host.Host.PushAsync(EmksTestHost.Push(intKey, kid, host.Host.Now + 3600, "sub", null, "emse.example.org"));
            using HttpClient client = host.Host.EmseClient("emse.example.org");
            string path = EmksEmseContract.PullPath(kid.Substring(0, 14));
            for (int i = 0; i < 200; i++) (await client.GetAsync(path)).EnsureSuccessStatusCode(); // warm-up

            foreach (int concurrency in new[] { 1, 16, 64 })
            {
                var latencies = new List<double>[concurrency];
                var stop = Stopwatch.StartNew();
                TimeSpan duration = TimeSpan.FromSeconds(5);
                Task[] workers = Enumerable.Range(0, concurrency).Select(w => Task.Run(async () =>
                {
                    var mine = latencies[w] = new List<double>(100_000);
                    while (stop.Elapsed < duration)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        using HttpResponseMessage r = await client.GetAsync(path);
                        await r.Content.ReadAsByteArrayAsync();
                        if (!r.IsSuccessStatusCode) throw new InvalidOperationException("pull failed " + r.StatusCode);
                        mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    }
                })).ToArray();
                await Task.WhenAll(workers);
                double seconds = stop.Elapsed.TotalSeconds;
                double[] all = latencies.SelectMany(l => l).OrderBy(x => x).ToArray();
                _out.WriteLine($"concurrency {concurrency}: {all.Length / seconds:F0} pulls/s, p50 {all[all.Length / 2]:F2} ms, p99 {all[(int)(all.Length * 0.99)]:F2} ms ({all.Length} pulls, SQLite, {Environment.ProcessorCount} cores)");
            }
        }

        private sealed class HostScope : IAsyncDisposable
        {
            public EmksTestHost Host { get; } = new(o => o.Bootstrap.Enabled = false);

            public ValueTask DisposeAsync() => new(Host.DisposeAsync());
        }
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Threading.Tasks;
using E2m.Bench;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using Xunit;
using Xunit.Abstractions;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// Issue 6 point 6: EMKS key pulls/s and p50/p99 latency over mTLS with keep-alive, several concurrent clients each on its
    /// own keep-alive connection (HTTP/1.1 and HTTP/2) and HTTP/2 streams multiplexed on one connection (reported, not
    /// asserted). Same load generator as <c>dotnet run -c Release --project tools/E2m.Bench -- --emks-load</c>
    /// (tools/E2m.Bench/EmksPullLoad.cs, linked). Runs only with E2M_BENCH=1:
    /// <c>E2M_BENCH=1 dotnet test -c Release tests/E2m.Server.Emks.Tests --filter PullBenchmark --logger "console;verbosity=detailed"</c>.
    /// </summary>
    public sealed class PullBenchmark
    {
        private readonly ITestOutputHelper _out;

        public PullBenchmark(ITestOutputHelper output) => _out = output;

        [SkippableFact]
        public async Task Pulls_per_second_and_p99_over_mtls_keep_alive()
        {
            Skip.IfNot(Environment.GetEnvironmentVariable("E2M_BENCH") == "1", "benchmark: set E2M_BENCH=1");
            await using var host = new EmksTestHost(o => o.Bootstrap.Enabled = false);
            await host.InitializeAsync();
            (string intKey, string kid) = PushPullApiTests.Case0();
            await host.PushAsync(EmksTestHost.Push(intKey, kid, host.Now + 3600, "sub", null, "emse.example.org"));
            var paths = new List<string> { EmksEmseContract.PullPath(kid.Substring(0, 14)) };
            var cert = host.EmseCertificate("emse.example.org");
            _out.WriteLine($"load average {EmksPullLoad.LoadAverage()}, {Environment.ProcessorCount} cores, SQLite, one hot key");
            foreach (PullLoadMode mode in new[] { PullLoadMode.Http1, PullLoadMode.Http2, PullLoadMode.Http2Multiplexed })
            {
                foreach (int clients in new[] { 1, 16, 64 })
                {
                    PullLoadResult r = await EmksPullLoad.RunAsync(host.BaseAddress, () => Mtls.CreateClientHandler(cert, host.Trust), paths, clients, TimeSpan.FromSeconds(3), mode);
                    _out.WriteLine(r.ToString());
                    Assert.Equal(0, r.Errors);
                }
            }
        }
    }
}

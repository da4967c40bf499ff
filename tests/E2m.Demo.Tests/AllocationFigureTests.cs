using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using E2m.Firmware;
using E2m.Hal.Host;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Network;
using E2m.ModemSim.Transport;
using E2m.ModemSim.Usim;
using Xunit;
using Xunit.Abstractions;

namespace E2m.Demo.Tests
{
    /// <summary>
    /// Issue 8 point 4, heap allocations per upload cycle: GC.GetAllocatedBytesForCurrentThread around one whole wake-up
    /// (a new E2mApplication = reset/boot, sample, modem bring-up through the firmware's BG95 driver over TCP, key from
    /// EF_KeysPS, OSCORE upload to two real EMSEs, 2.04, deep sleep) in the steady state (after two warm-up cycles),
    /// run by DeviceHost (host HAL: real clock, file flash, TCP stream) on this thread. The simulator (its own threads
    /// behind TcpModemServer, vectors from the real HSS) and the servers allocate on other threads and are not counted;
    /// the host HAL's TCP transport and file store are. Reported (ITestOutputHelper and the README), not asserted beyond a
    /// loose bound: the device-code-only figure with zero per-batch allocation is E2m.Firmware.Tests/AllocationTests.
    /// </summary>
    public sealed class AllocationFigureTests
    {
        private readonly ITestOutputHelper _out;

        public AllocationFigureTests(ITestOutputHelper output) => _out = output;

        [Fact]
        public async Task AllocationsPerWakeUpCycleAgainstTheSimulatorAreReported()
        {
            string dir = Directory.CreateTempSubdirectory("e2m-alloc-").FullName;
            string[] emseIds = { DemoOptions.UtilityEmseId, DemoOptions.ThirdPartyEmseId };
            ServerStack? stack = null;
            try
            {
                stack = await ServerStack.StartAsync(dir, emseIds, Microsoft.Extensions.Logging.LogLevel.Warning, TextWriter.Null);
                DemoSubscriber sub = stack.Provision(emseIds);
                using var source = new HssAuthVectorSource(new Uri(stack.HssUrl + "/"), stack.CreateServingNodeHandler());
                var clock = new SystemMonotonicClock();
                var card = new SimulatedUsim(new UsimProfile { K = sub.K, Opc = sub.Opc, Imsi = sub.Imsi });
                using var modem = new SimulatedModem(ModemDialect.ByName("bg95"), card, clock,
                    new ModemOptions { StartPoweredOn = true, Rat = SimRat.Umts, NetworkTimeAtClockZero = DateTimeOffset.UtcNow },
                    new ServingNode(source, new ServingNodeOptions { Plmn = "00101" }));
                using var runtime = new ModemRuntime(modem);
                using var server = new TcpModemServer(modem, 0);

                FirmwareConfig config = DemoRunner.DeviceConfig(DemoKeyMode.Network, stack);
                var log = new TextLog(null, E2m.Hal.LogLevel.Info);
                using var host = new DeviceHost("tcp:127.0.0.1:" + server.Port, 115200, "bg95", config, Path.Combine(dir, "state"), log, null);
                host.Sleep.MaxSeconds = 0;
                E2mApplication? last = null;
                Assert.Equal(0, host.Run(2, (app, _) => last = app, CancellationToken.None)); // warm-up: key, JIT, first mounts
                Assert.Equal(KeyOrigins.Network, last!.Keys.GetOrigin(0));

                long[] perCycle = new long[3];
                for (int c = 0; c < perCycle.Length; c++)
                {
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    int failed = host.Run(1, null, CancellationToken.None);
                    perCycle[c] = GC.GetAllocatedBytesForCurrentThread() - before;
                    Assert.True(failed == 0, "cycle " + c + " failed\n" + string.Join("\n", log.Lines));
                }

                int readings = (await ServerStack.ReadAllAsync(stack.Emses[0])).Count + (await ServerStack.ReadAllAsync(stack.Emses[1])).Count;
                string line = $"allocations per wake-up/upload cycle (steady state, device code + host HAL, simulator excluded): {string.Join(" / ", perCycle)} B; median {perCycle.OrderBy(x => x).ElementAt(1)} B; {config.Readings.Length} readings sampled per cycle, {readings} stored in total";
                _out.WriteLine(line);
                Assert.True(readings > 0);
                Assert.True(perCycle.Max() < 4 * 1024 * 1024, line); // a loose bound: the figure is reported, not a target
            }
            finally
            {
                if (stack != null)
                {
                    await stack.DisposeAsync();
                }

                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                try
                {
                    Directory.Delete(dir, true);
                }
                catch (IOException)
                {
                }
            }
        }
    }
}

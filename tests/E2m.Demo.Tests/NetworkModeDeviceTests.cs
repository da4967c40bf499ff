using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using E2m.Cli;
using E2m.Cli.Commands;
using Xunit;

namespace E2m.Demo.Tests
{
    /// <summary>
    /// Issue 8 point 1, `e2m device` in network mode against the simulator: the trio of the README recipe. A stack (the
    /// same composition as `e2m stack`: HSS, EMKS, EMSEs on loopback, dev PKI in a data directory), `e2m sim --tcp 0 --hss
    /// URL --data-dir DIR` (its serving node asks the HSS AIR API with the serving-node certificate, so the HSS pushes
    /// e2m_int_key to the EMKS) and `e2m device --port tcp:... --config device-config.json` with "keyMode": "network".
    /// The oracle of "stored" is the EMSE's readings HTTP API; the KID the device printed must be the one stored.
    /// </summary>
    public sealed class NetworkModeDeviceTests
    {
        [Fact]
        public async Task StackSimWithHssAndDeviceStoreReadingsInNetworkMode()
        {
            string dir = Directory.CreateTempSubdirectory("e2m-netmode-").FullName;
            string[] emseIds = { DemoOptions.UtilityEmseId, DemoOptions.ThirdPartyEmseId };
            var simOut = new StringWriter();
            var simErr = new StringWriter();
            Thread? sim = null;
            ServerStack? stack = null;
            string? where = null;
            using var listening = new ManualResetEventSlim(false);
            void OnListening(string w)
            {
                where = w;
                listening.Set();
            }

            try
            {
                stack = await ServerStack.StartAsync(dir, emseIds, Microsoft.Extensions.Logging.LogLevel.Warning, TextWriter.Null);
                DemoSubscriber sub = stack.Provision(emseIds);

                // e2m sim --tcp 0 --dialect bg95 --imsi … --k … --opc … --hss https://127.0.0.1:P --data-dir DIR
                SimCommands.Listening += OnListening;
                int simExit = -1;
                sim = new Thread(() => simExit = CliApp.Run(new[]
                {
                    "sim", "--tcp", "0", "--dialect", "bg95", "--imsi", sub.Imsi, "--k", Convert.ToHexStringLower(sub.K),
                    "--opc", Convert.ToHexStringLower(sub.Opc), "--hss", stack.HssUrl, "--data-dir", dir, "--duration", "300",
                }, TextWriter.Synchronized(simOut), TextWriter.Synchronized(simErr))) { IsBackground = true, Name = "e2m sim" };
                sim.Start();
                Assert.True(listening.Wait(TimeSpan.FromSeconds(60)), "e2m sim did not listen (exit " + simExit + ")\n" + simOut + simErr);

                // device-config.json for network mode (no fallback) with the stack's endpoints; GPRS cell (the sim's default with --hss)
                JsonObject config = JsonNode.Parse(File.ReadAllText(FindRepoFile("device-config.json")))!.AsObject();
                config.Remove("$schema");
                config["network"]!["rats"] = new JsonArray("gprs");
                config["keyMode"] = "network";
                config["keyModeFallback"] = "none";
                config["emks"]!["endpoint"] = stack.EmksCoap.ToString();
                config["emses"] = new JsonArray(stack.Emses.Select((e, i) => (JsonNode)new JsonObject
                {
                    ["emseId"] = e.EmseId,
                    ["endpoint"] = e.Coap.ToString(),
                    ["readings"] = i == 0 ? new JsonArray("energy", "power") : new JsonArray("power"),
                }).ToArray());
                config["upload"]!["intervalSeconds"] = config["sampling"]!["intervalSeconds"]!.GetValue<int>(); // upload every wake-up
                config["coap"]!["ackTimeoutMs"] = 4000;
                config["psm"]!["enabled"] = false;
                config["policy"]!["minimumRat"] = "gprs";
                config["policy"]!["minimumGea"] = 0;
                string configPath = Path.Combine(dir, "device-config.json");
                File.WriteAllText(configPath, config.ToJsonString());

                var devOut = new StringWriter();
                var devErr = new StringWriter();
                int exit = CliApp.Run(new[] { "device", "--port", "tcp:" + where, "--config", configPath, "--cycles", "2", "--max-sleep", "0", "--state-dir", Path.Combine(dir, "device-state") }, devOut, devErr);
                string why = devOut + "\n" + devErr + "\n--- sim\n" + simOut + simErr;
                Assert.True(exit == 0, "e2m device exit " + exit + "\n" + why);
                Assert.Contains(" key network kid ", devOut.ToString(), StringComparison.Ordinal);
                Assert.DoesNotContain(" key home ", devOut.ToString(), StringComparison.Ordinal);
                string kid = System.Text.RegularExpressions.Regex.Match(devOut.ToString(), " key network kid ([0-9a-f]{16})").Groups[1].Value;

                List<ApiReading> utility = await ServerStack.ReadAllAsync(stack.Emses[0]);
                List<ApiReading> thirdParty = await ServerStack.ReadAllAsync(stack.Emses[1]);
                Assert.True(utility.Count > 0, "no reading stored at the utility EMSE\n" + why);
                Assert.True(thirdParty.Count > 0, "no reading stored at the third-party EMSE\n" + why);
                Assert.All(utility.Concat(thirdParty), r => Assert.StartsWith(r.Kid, kid, StringComparison.OrdinalIgnoreCase));
                Assert.Contains(utility, r => r.Name.EndsWith("energy", StringComparison.Ordinal));
                Assert.DoesNotContain(thirdParty, r => r.Name.EndsWith("energy", StringComparison.Ordinal)); // routed to the utility only
            }
            finally
            {
                SimCommands.Listening -= OnListening;
                SimCommands.Stop.Set();
                sim?.Join(TimeSpan.FromSeconds(30));
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

        internal static string FindRepoFile(string name)
        {
            for (string? d = AppContext.BaseDirectory; d != null; d = Path.GetDirectoryName(d))
            {
                if (File.Exists(Path.Combine(d, name)) && File.Exists(Path.Combine(d, "nanoFramework.sln")))
                {
                    return Path.Combine(d, name);
                }
            }

            throw new FileNotFoundException(name + " (repository root not found above " + AppContext.BaseDirectory + ")");
        }
    }
}

using System;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks;
using E2m.Cli;
using E2m.Firmware;
using Xunit;

namespace E2m.Demo.Tests
{
    /// <summary>`e2m device` (the host runner of the firmware application) follows the device's own configuration mapping and
    /// survives a transport that fails (review findings, session 11).</summary>
    public sealed class DeviceRunnerTests
    {
        private static string Sample(string name)
        {
            string dir = AppContext.BaseDirectory;
            while (!File.Exists(Path.Combine(dir, "samples", name)))
            {
                dir = Path.GetDirectoryName(dir) ?? throw new FileNotFoundException(name);
            }

            return Path.Combine(dir, "samples", name);
        }

        /// <summary>DESIGN.md §5 / the device's Program.AllowedAcTMask: RATs below policy.minimumRat are not allowed.</summary>
        [Fact]
        public void TheRunnerDropsRatsBelowTheMinimumRatAsTheDeviceDoes()
        {
            string json = File.ReadAllText(Sample("stm32-nucleo-sara-r410m.json"));
            var doc = System.Text.Json.Nodes.JsonNode.Parse(json)!;
            doc["network"]!["rats"] = new System.Text.Json.Nodes.JsonArray("lte-m", "nb-iot");
            doc["policy"]!["minimumRat"] = "lte-m";
            FirmwareConfig c = E2m.Demo.DeviceHost.ConfigFromJson(doc.ToJsonString(), out _, out _);
            Assert.Equal((1 << 7) | (1 << 8), c.Policy.AllowedAcTMask); // E-UTRAN (LTE-M) only, no NB-S1 (9)
            doc["policy"]!["minimumRat"] = "nb-iot";
            c = E2m.Demo.DeviceHost.ConfigFromJson(doc.ToJsonString(), out _, out _);
            Assert.Equal((1 << 7) | (1 << 8) | (1 << 9), c.Policy.AllowedAcTMask);
        }

        /// <summary>A bridge that accepts and closes: exit 1 with one "transport failed" line, never an unhandled exception.</summary>
        [Fact]
        public async Task AFailingTransportEndsTheRunWithExit1NotACrash()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            Task closer = Task.Run(async () =>
            {
                using TcpClient c = await listener.AcceptTcpClientAsync();
            });
            string dir = Directory.CreateTempSubdirectory("e2m-runner-").FullName;
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int exit = CliApp.Run(new[] { "device", "--port", "tcp:127.0.0.1:" + port, "--config", Sample("esp32-devkitc-bg95.json"), "--cycles", "2",
                "--max-sleep", "0", "--state-dir", Path.Combine(dir, "state") }, stdout, stderr);
            await closer;
            Assert.True(exit == 1, "exit " + exit + ": " + stderr);
            Assert.Contains("transport failed", stderr.ToString());
            Assert.Contains("1 failed", stdout.ToString());
        }
    }
}

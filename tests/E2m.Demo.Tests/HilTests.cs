using System;
using System.IO;
using E2m.Firmware;
using E2m.Hal.Host;
using E2m.Modem.Commands;
using E2m.Modem.Drivers;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Transport;
using E2m.ModemSim.Usim;
using Xunit;

namespace E2m.Demo.Tests
{
    /// <summary>
    /// Hardware in the loop: the firmware's driver path of `e2m device` (DeviceHost: host HAL, real clock, the firmware's
    /// own AT driver) against a real modem on the port named by <c>E2M_HIL_PORT</c> (a serial port such as /dev/ttyUSB2 or
    /// COM5, or tcp:HOST:PORT), model <c>E2M_HIL_MODEM</c> (bg95 default, bg96, sara-r4). The modem must be powered and
    /// hold a SIM without PIN. Without <c>E2M_HIL_PORT</c> the test is skipped with that reason (CI has no modem).
    /// The same steps run against the simulator over TCP in <see cref="SimulatorOverTcpBringsUpLikeHil"/>, so the
    /// path is exercised without hardware.
    /// </summary>
    public sealed class HilTests
    {
        public const string SkipReason = "E2M_HIL_PORT is not set: no modem attached. This skip is expected in CI (no modem exists there); " +
            "set E2M_HIL_PORT=/dev/ttyUSB2 (or COM5, or tcp:HOST:PORT) and optionally E2M_HIL_MODEM=bg95|bg96|sara-r4 to run against a real modem.";

        [SkippableFact]
        public void RealModemBringUpSimImsiRegistration()
        {
            string? port = Environment.GetEnvironmentVariable("E2M_HIL_PORT");
            Skip.If(string.IsNullOrEmpty(port), SkipReason);
            string model = Environment.GetEnvironmentVariable("E2M_HIL_MODEM") ?? "bg95";
            BringUp(port!, model, 180_000);
        }

        [Fact]
        public void SimulatorOverTcpBringsUpLikeHil()
        {
            var clock = new SystemMonotonicClock();
            var card = new SimulatedUsim(new UsimProfile { Imsi = "001010123456789" });
            using var modem = new SimulatedModem(ModemDialect.ByName("bg95"), card, clock, new ModemOptions { StartPoweredOn = true, AttachDelayMs = 200 });
            using var runtime = new ModemRuntime(modem);
            using var server = new TcpModemServer(modem, 0);
            (string imsi, RegistrationInfo info) = BringUp("tcp:127.0.0.1:" + server.Port, "bg95", 30_000);
            Assert.Equal("001010123456789", imsi);
            Assert.True(info.IsRegistered);
        }

        private static (string Imsi, RegistrationInfo Info) BringUp(string port, string model, int registrationTimeoutMs)
        {
            var config = new FirmwareConfig
            {
                KeyMode = KeyModes.NetworkOnly,
                Emses = new[] { new EmseConfig("emse.example.org", "127.0.0.1", 5683) },
                Readings = new[] { new ReadingConfig("energy", "Wh", 0, 1, SensorKinds.Simulated) },
            };
            string state = Directory.CreateTempSubdirectory("e2m-hil-").FullName;
            var log = new TextLog(null, E2m.Hal.LogLevel.Info);
            var atLog = new TextLog(null, E2m.Hal.LogLevel.Trace);
            try
            {
                using var host = new DeviceHost(port, 115200, model, config, state, log, atLog);
                ICellularModem m = host.Modem;
                string Transcript() => string.Join("\n", atLog.Lines);
                Assert.True(m.PowerOn() == ModemError.Ok, "PowerOn\n" + Transcript());
                Assert.True(m.Initialize() == ModemError.Ok, "Initialize\n" + Transcript());
                Assert.True(m.WaitSimReady(20_000) == ModemError.Ok, "SIM not ready\n" + Transcript());
                Assert.True(m.ReadImsi(out string imsi) == ModemError.Ok, "IMSI\n" + Transcript());
                Assert.Matches("^[0-9]{6,15}$", imsi);
                Assert.True(m.WaitRegistered(registrationTimeoutMs, out RegistrationInfo info) == ModemError.Ok, "registration\n" + Transcript());
                return (imsi, info);
            }
            finally
            {
                Directory.Delete(state, true);
            }
        }
    }
}

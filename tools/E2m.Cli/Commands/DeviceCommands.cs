using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using System.Threading;
using E2m.Cli.Config;
using E2m.Demo;
using E2m.Firmware;
using E2m.Hal;
using E2m.Hal.Host;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m device --port PORT [--config device-config.json]` (issue 8 point 1): the firmware application on the PC
    /// against a real modem (serial port: hardware in the loop), `e2m sim --pty` (its /dev/pts path) or `e2m sim --tcp`
    /// (tcp:HOST:PORT). The config is checked with the validator of `e2m config check` (exit 2 on a problem). Live log:
    /// state changes, key mode and KID, readings queued/acknowledged; `--at-log` adds the AT traffic (SIM data redacted
    /// by the AT channel). Exit 0 when no cycle failed, 1 otherwise.
    /// </summary>
    public static class DeviceCommands
    {
        private static readonly Option<string> Port = new("--port") { Description = "Serial port (/dev/ttyUSB2, COM5), a pty path of `e2m sim --pty`, or tcp:HOST:PORT of `e2m sim --tcp`", Required = true };
        private static readonly Option<string> ConfigFile = new("--config") { Description = "device-config.json", DefaultValueFactory = _ => "device-config.json" };
        private static readonly Option<int> Cycles = new("--cycles") { Description = "Wake-up cycles to run", DefaultValueFactory = _ => 1 };
        private static readonly Option<string> StateDir = new("--state-dir") { Description = "The device's flash (keys, SSN reservations, queue) as files", DefaultValueFactory = _ => "e2m-device-state" };
        private static readonly Option<int> MaxSleep = new("--max-sleep") { Description = "Cap of the deep sleep between cycles, seconds", DefaultValueFactory = _ => 5 };
        private static readonly Option<bool> AtLog = new("--at-log") { Description = "Show the AT traffic" };
        private static readonly Option<int?> Baud = new("--baud") { Description = "Serial baud rate (default: the config's modem.uart.baud)" };

        public static Command Build()
        {
            var cmd = new Command("device", "Run the firmware application on this PC against a real modem (HIL) or the simulator's pty/TCP port");
            foreach (Option o in new Option[] { Port, ConfigFile, Cycles, StateDir, MaxSleep, AtLog, Baud })
            {
                cmd.Options.Add(o);
            }

            cmd.SetAction(Run);
            return cmd;
        }

        private static int Run(ParseResult parsed)
        {
            TextWriter o = parsed.InvocationConfiguration.Output;
            string path = parsed.GetValue(ConfigFile)!;
            string json;
            try
            {
                json = File.ReadAllText(path);
            }
            catch (IOException e)
            {
                throw new UsageException("--config: " + e.Message);
            }

            var problems = DeviceConfigValidator.Validate(json);
            if (problems.Count > 0)
            {
                throw new UsageException(path + ": " + string.Join("; ", problems.Select(p => p.ToString())));
            }

            FirmwareConfig config = DeviceHost.ConfigFromJson(json, out string model, out int baud);
            var log = new TextLog(TextWriter.Synchronized(o), LogLevel.Info);
            ILog? atLog = parsed.GetValue(AtLog) ? new TextLog(TextWriter.Synchronized(o), LogLevel.Trace) : null;
            using var host = new DeviceHost(parsed.GetValue(Port)!, parsed.GetValue(Baud) ?? baud, model, config, parsed.GetValue(StateDir)!, log, atLog);
            host.Sleep.MaxSeconds = Math.Max(0, parsed.GetValue(MaxSleep));
            o.WriteLine($"device: {model} on {parsed.GetValue(Port)}, config {path}, {config.Emses.Length} EMSE(s), key mode {(config.KeyMode == KeyModes.HomeOnly ? "home" : config.KeyMode == KeyModes.Auto ? "network, fallback home" : "network")}, state {Path.GetFullPath(parsed.GetValue(StateDir)!)}");
            AppState last = AppState.Boot;
            int failed = host.Run(parsed.GetValue(Cycles), (app, s) =>
            {
                if (s == last)
                {
                    return;
                }

                last = s;
                string key = app.Keys.IsValid(0) ? $" key {(app.Keys.GetOrigin(0) == KeyOrigins.Home ? "home" : "network")} kid {Convert.ToHexStringLower(app.Keys.GetKid(0))}" : "";
                string err = app.FailedThisCycle ? $" error: {FirmwareErrors.Describe(app.LastError)} (modem {app.LastModemError})" : "";
                o.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} state {s}{key} queued {app.Queue.PendingCount} batches acked {app.BatchesSent}{err}");
            }, CancellationToken.None);
            if (host.TransportError != null)
            {
                parsed.InvocationConfiguration.Error.WriteLine("e2m: device: transport failed: " + host.TransportError);
            }

            o.WriteLine($"device: {parsed.GetValue(Cycles)} cycle(s), {failed} failed");
            return failed == 0 ? CliApp.ExitOk : CliApp.ExitVerificationFailed;
        }
    }
}

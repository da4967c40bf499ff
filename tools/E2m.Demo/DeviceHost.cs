using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading;
using E2m.Firmware;
using E2m.Hal;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Drivers;

namespace E2m.Demo
{
    /// <summary>
    /// `e2m device` (issue 8 point 1): the firmware application on the PC through the host HAL, against a real modem on a
    /// serial port (hardware in the loop), the simulator's pseudo-terminal (`e2m sim --pty`) or its TCP port
    /// (`tcp:HOST:PORT`, `e2m sim --tcp`). Real clock; flash = files in a state directory (keys, SSN reservations and the
    /// queue survive restarts, as on the device); sensors are simulated (a PC has no meter input). The modem's power
    /// pins are not wired on a PC: PWRKEY is a no-op and STATUS reads "on" (power the modem yourself).
    /// </summary>
    public sealed class DeviceHost : IDisposable
    {
        private readonly ISerialTransport _transport;
        private readonly FirmwarePlatform _platform;

        public DeviceHost(string port, int baud, string modemModel, FirmwareConfig config, string stateDirectory, ILog log, ILog? atLog)
        {
            Config = config;
            _transport = OpenTransport(port, baud);
            var clock = new SystemMonotonicClock();
            var channel = new AtChannel(_transport, clock, clock, atLog, 1024);
            var pwrkey = new SimulatedPin("PWRKEY", clock);
            var status = new SimulatedPin("STATUS", clock, initialLevel: true);
            Modem = ModemModels.Create(modemModel, channel, clock, clock, pwrkey, status); // bg95/bg96, sara-r4/sara-r410m, sara-r5
            var sensors = new ISensor[config.Readings.Length];
            for (int i = 0; i < sensors.Length; i++)
            {
                sensors[i] = new SimulatedSensor((uint)(i + 1), 200, 0, 100000, 5);
            }

            Directory.CreateDirectory(stateDirectory);
            Sleep = new CappedSleep(clock);
            _platform = new FirmwarePlatform
            {
                Modem = Modem,
                Store = new FileRecordStore(stateDirectory, 256, 1023),
                Crypto = new PlatformCryptoProvider(),
                Clock = clock,
                Delay = clock,
                Entropy = new SystemEntropySource(),
                Sleep = Sleep,
                Sensors = sensors,
                Log = log,
            };
        }

        public FirmwareConfig Config { get; }

        public ICellularModem Modem { get; }

        public CappedSleep Sleep { get; }

        /// <summary>`tcp:HOST:PORT` → TCP stream; an existing /dev/pts/* path → the pty as a file; else a serial port.</summary>
        public static ISerialTransport OpenTransport(string port, int baud)
        {
            if (port.StartsWith("tcp:", StringComparison.OrdinalIgnoreCase))
            {
                string hostPort = port.Substring(4);
                int colon = hostPort.LastIndexOf(':');
                if (colon <= 0 || !int.TryParse(hostPort.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int p))
                {
                    throw new ArgumentException("--port tcp:HOST:PORT");
                }

                var tcp = new TcpClient();
                tcp.Connect(hostPort.Substring(0, colon), p);
                tcp.NoDelay = true;
                return new StreamTransport(tcp.GetStream());
            }

            if (port.StartsWith("/dev/pts/", StringComparison.Ordinal))
            {
                return new StreamTransport(new FileStream(port, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None));
            }

            return new SerialPortTransport(port, baud);
        }

        /// <summary>Why the run stopped early: the serial port or TCP bridge failed (null when it did not).</summary>
        public string? TransportError { get; private set; }

        /// <summary>
        /// Runs <paramref name="cycles"/> wake-up cycles (a new application instance each: wake-up = reset); returns the failed
        /// ones. A transport that fails (port unplugged, bridge closed: IOException, TimeoutException) fails this cycle and
        /// ends the run with <see cref="TransportError"/> set — what the device's supervisor (`E2mApplication.Run`) turns into
        /// a back-off sleep, the runner reports instead of crashing.
        /// </summary>
        public int Run(int cycles, Action<E2mApplication, AppState>? onStep, CancellationToken ct)
        {
            int failed = 0;
            for (int c = 0; c < cycles && !ct.IsCancellationRequested; c++)
            {
                var app = new E2mApplication(Config, _platform);
                for (int guard = 0; guard < 64 && app.State != AppState.Stopped && !ct.IsCancellationRequested; guard++)
                {
                    AppState s;
                    try
                    {
                        s = app.Step();
                    }
                    catch (Exception e) when (e is IOException || e is TimeoutException || e is ObjectDisposedException || e is UnauthorizedAccessException)
                    {
                        TransportError = e.GetType().Name + ": " + e.Message;
                        return failed + 1;
                    }

                    onStep?.Invoke(app, s);
                }

                if (app.FailedThisCycle)
                {
                    failed++;
                }
            }

            return failed;
        }

        /// <summary>
        /// Maps a device-config.json (already checked by `e2m config check`'s validator) onto the firmware configuration,
        /// as the device's Program.BuildConfig maps the generated constants. Every reading uses a simulated sensor.
        /// </summary>
        public static FirmwareConfig ConfigFromJson(string json, out string modemModel, out int baud)
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            JsonElement r = doc.RootElement;
            JsonElement modem = r.GetProperty("modem");
            modemModel = modem.GetProperty("model").GetString() ?? "bg95";
            baud = modem.TryGetProperty("uart", out JsonElement uart) && uart.TryGetProperty("baud", out JsonElement b) ? b.GetInt32() : 115200;
            var c = new FirmwareConfig();
            if (r.TryGetProperty("network", out JsonElement net) && net.TryGetProperty("apn", out JsonElement apn))
            {
                c.Apn = apn.GetString() ?? c.Apn;
            }

            if (net.ValueKind == JsonValueKind.Object && net.TryGetProperty("plmn", out JsonElement plmn) && plmn.GetString() is { Length: > 0 } p)
            {
                c.Plmn = p; // manual selection, as the device does
            }

            string keyMode = r.TryGetProperty("keyMode", out JsonElement km) ? km.GetString() ?? "network" : "network";
            string fallback = r.TryGetProperty("keyModeFallback", out JsonElement kf) ? kf.GetString() ?? "none" : "none";
            c.KeyMode = keyMode == "home" ? KeyModes.HomeOnly : fallback == "home" ? KeyModes.Auto : KeyModes.NetworkOnly;
            if (r.TryGetProperty("emks", out JsonElement emks) && emks.TryGetProperty("endpoint", out JsonElement ep))
            {
                (c.EmksHost, c.EmksPort) = Endpoint(ep.GetString()!);
            }

            var emses = new List<EmseConfig>();
            var masks = new Dictionary<string, int>(StringComparer.Ordinal);
            int index = 0;
            foreach (JsonElement e in r.GetProperty("emses").EnumerateArray())
            {
                (string host, int port) = Endpoint(e.GetProperty("endpoint").GetString()!);
                emses.Add(new EmseConfig(e.GetProperty("emseId").GetString()!, host, port));
                foreach (JsonElement name in e.GetProperty("readings").EnumerateArray())
                {
                    string n = name.GetString()!;
                    masks[n] = (masks.TryGetValue(n, out int m) ? m : 0) | (1 << index);
                }

                index++;
            }

            c.Emses = emses.ToArray();
            var readings = new List<ReadingConfig>();
            foreach (string n in new[] { "energy", "power", "pulses", "rsrp" })
            {
                if (masks.TryGetValue(n, out int mask))
                {
                    string? unit = n switch { "energy" => "Wh", "power" => "W", "rsrp" => "dBm", _ => null };
                    readings.Add(new ReadingConfig(n, unit, 0, mask, SensorKinds.Simulated));
                }
            }

            c.Readings = readings.ToArray();
            if (r.TryGetProperty("sampling", out JsonElement sampling) && sampling.TryGetProperty("intervalSeconds", out JsonElement si))
            {
                c.SampleIntervalSeconds = si.GetInt32();
            }

            if (r.TryGetProperty("upload", out JsonElement upload))
            {
                if (upload.TryGetProperty("intervalSeconds", out JsonElement ui))
                {
                    c.UploadEveryCycles = Math.Max(1, (ui.GetInt32() + c.SampleIntervalSeconds - 1) / c.SampleIntervalSeconds);
                }

                if (upload.TryGetProperty("maxDatagram", out JsonElement md))
                {
                    c.DatagramSize = md.GetInt32();
                }

                if (upload.TryGetProperty("maxBatchRecords", out JsonElement mb))
                {
                    c.MaxBatchRecords = mb.GetInt32();
                }
            }

            if (r.TryGetProperty("coap", out JsonElement coap))
            {
                if (coap.TryGetProperty("ackTimeoutMs", out JsonElement at)) c.AckTimeoutMs = at.GetInt32();
                if (coap.TryGetProperty("maxRetransmit", out JsonElement mr)) c.MaxRetransmit = mr.GetInt32();
                if (coap.TryGetProperty("ackRandomFactorPercent", out JsonElement rf))
                {
                    c.AckRandomFactorNumerator = rf.GetInt32(); // percent: n / 100 (RFC 7252 §4.8 ACK_RANDOM_FACTOR)
                    c.AckRandomFactorDenominator = 100;
                }
            }

            if (r.TryGetProperty("psm", out JsonElement psm))
            {
                bool on = !psm.TryGetProperty("enabled", out JsonElement en) || en.GetBoolean();
                c.PsmPeriodicTauSeconds = on && psm.TryGetProperty("periodicTauSeconds", out JsonElement tau) ? tau.GetInt64() : 0;
                c.PsmActiveTimeSeconds = on && psm.TryGetProperty("activeTimeSeconds", out JsonElement act) ? act.GetInt64() : 0;
            }

            // As the device's Program.AllowedAcTMask (the same AccessPolicy mapping): the configured RATs not below
            // policy.minimumRat (gprs < nb-iot < lte-m, DESIGN.md §5) — the runner must refuse what the device would refuse.
            int minimum = r.TryGetProperty("policy", out JsonElement pol) && pol.TryGetProperty("minimumRat", out JsonElement minRat)
                ? AccessPolicy.RatFromName(minRat.GetString() ?? string.Empty) : AccessPolicy.RatGprs;
            int acts = 0;
            if (net.ValueKind == JsonValueKind.Object && net.TryGetProperty("rats", out JsonElement rats))
            {
                var configured = new List<int>();
                foreach (JsonElement rat in rats.EnumerateArray())
                {
                    configured.Add(AccessPolicy.RatFromName(rat.GetString() ?? string.Empty));
                }

                acts = AccessPolicy.AllowedAcTMaskFor(configured.ToArray(), minimum);
            }

            if (acts != 0)
            {
                c.Policy.AllowedAcTMask = acts;
            }

            if (r.TryGetProperty("policy", out JsonElement policy))
            {
                if (policy.TryGetProperty("minimumGea", out JsonElement gea)) c.Policy.MinimumGea = gea.GetInt32();
                if (policy.TryGetProperty("rekeyBeforeExpirySeconds", out JsonElement rk)) c.RekeyMarginSeconds = rk.GetInt64();
            }

            c.Validate();
            return c;
        }

        private static (string Host, int Port) Endpoint(string s)
        {
            int colon = s.LastIndexOf(':');
            return (s.Substring(0, colon), int.Parse(s.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture));
        }

        public void Dispose() => (_transport as IDisposable)?.Dispose();
    }

    /// <summary>Deep sleep on a PC: a real sleep, capped (a HIL session should not wait 15 minutes between cycles).</summary>
    public sealed class CappedSleep : ISleep
    {
        private readonly IDelay _delay;

        public CappedSleep(IDelay delay) => _delay = delay;

        public int MaxSeconds { get; set; } = 5;

        public int LastRequestSeconds { get; private set; }

        public void DeepSleep(int seconds)
        {
            LastRequestSeconds = seconds;
            _delay.Sleep(1000 * Math.Min(seconds, MaxSeconds));
        }
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using E2m.Firmware;
using E2m.Hal;
using E2m.Hal.Host;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Network;
using E2m.Oscore;
using MsLogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace E2m.Demo
{
    /// <summary>Per device and EMSE: readings taken (routed there), acknowledged by the device, found in the EMSE's store.</summary>
    public sealed record DeliveryCount(string Device, string EmseId, int Sent, int Acknowledged, int Stored, int Lost, int Corrupted, int Duplicates);

    /// <summary>Outcome of a demo run.</summary>
    public sealed class DemoResult
    {
        public List<DeliveryCount> Deliveries { get; } = new();

        public int Sent => Deliveries.Sum(d => d.Sent);

        public int Acknowledged => Deliveries.Sum(d => d.Acknowledged);

        public int Stored => Deliveries.Sum(d => d.Stored);

        public int Lost => Deliveries.Sum(d => d.Lost);

        public int Corrupted => Deliveries.Sum(d => d.Corrupted);

        public int Duplicates => Deliveries.Sum(d => d.Duplicates);

        /// <summary>Key-separation check: per device, the two EMSEs' e2m_keys for the same KID differ.</summary>
        public bool KeysSeparated { get; set; } = true;

        public int KeyLogLines { get; set; }

        public int PcapDatagrams { get; set; }

        /// <summary>Octets on the air per reading and per key establishment (set with the summary).</summary>
        public AirFigures? Air { get; set; }

        public string LastLine => $"readings: sent={Sent} acknowledged={Acknowledged} stored={Stored} lost={Lost}";

        /// <summary>0 = every reading stored exactly once and intact; 1 = something lost, corrupted or duplicated.</summary>
        public int ExitCode => Lost > 0 || Corrupted > 0 || Duplicates > 0 || !KeysSeparated ? 1 : 0;
    }

    /// <summary>
    /// Octets over the air measured by the demo's per-device traces (UDP payload as the modem's socket carries it; "ip" =
    /// plus 28 octets of IPv4 + UDP header per datagram, RFC 791 + RFC 768, no IP options). Readings = acknowledged reading
    /// deliveries (a reading routed to two EMSEs counts twice); reading traffic = every datagram to or from an EMSE
    /// (CoAP + OSCORE + SenML requests, their 2.04 responses, retransmissions, 4.01s). Key establishments = distinct KIDs
    /// the devices used; bootstrap traffic = every datagram to or from the EMKS's CoAP bootstrap port (home mode). In
    /// network mode there is none: the key comes from the AKA the serving network runs anyway (NAS, not counted here).
    /// </summary>
    public sealed record AirFigures(int Readings, long ReadingOctets, long ReadingDatagrams, int KeyEstablishments,
        long BootstrapUplinkOctets, long BootstrapDownlinkOctets, long BootstrapDatagrams)
    {
        /// <summary>IPv4 header without options (RFC 791 §3.1) + UDP header (RFC 768).</summary>
        public const int IpUdpHeaderOctets = 20 + 8;

        public double PerReading => Readings > 0 ? ReadingOctets / (double)Readings : 0;

        public double PerReadingIp => Readings > 0 ? (ReadingOctets + IpUdpHeaderOctets * ReadingDatagrams) / (double)Readings : 0;

        public double PerKeyEstablishment => KeyEstablishments > 0 ? (BootstrapUplinkOctets + BootstrapDownlinkOctets) / (double)KeyEstablishments : 0;

        public double PerKeyEstablishmentIp => KeyEstablishments > 0 ? (BootstrapUplinkOctets + BootstrapDownlinkOctets + IpUdpHeaderOctets * BootstrapDatagrams) / (double)KeyEstablishments : 0;

        private static string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

        /// <summary>The machine-readable summary line (printed before the last `readings:` line).</summary>
        public string Line =>
            $"bytes: per-reading={F(PerReading)} per-reading-ip={F(PerReadingIp)} per-key-establishment={F(PerKeyEstablishment)} per-key-establishment-ip={F(PerKeyEstablishmentIp)} "
            + $"per-key-establishment-request={F(KeyEstablishments > 0 ? BootstrapUplinkOctets / (double)KeyEstablishments : 0)} per-key-establishment-response={F(KeyEstablishments > 0 ? BootstrapDownlinkOctets / (double)KeyEstablishments : 0)} "
            + $"readings={Readings} reading-octets={ReadingOctets} reading-datagrams={ReadingDatagrams} key-establishments={KeyEstablishments} "
            + $"bootstrap-octets-up={BootstrapUplinkOctets} bootstrap-octets-down={BootstrapDownlinkOctets} bootstrap-datagrams={BootstrapDatagrams}";
    }

    /// <summary>
    /// `e2m demo` (issue 8 point 2): the whole system in one process. HSS, EMKS and two EMSEs on loopback; N devices
    /// provisioned as e2m subscribers with fresh K/OPc; each device runs the firmware application against its simulated
    /// modem (network mode: UMTS cell, the serving node's AKA with vectors from the real HSS writes EF_KeysPS; home mode:
    /// LTE-M cell, the EMKS bootstrap over CoAP/UDP); readings are checked against the EMSEs' readings API at the end.
    /// </summary>
    public static class DemoRunner
    {
        /// <summary>The demo's readings: energy to the utility, temperature to the third party, battery to both.</summary>
        public static ReadingConfig[] DemoReadings() => new[]
        {
            new ReadingConfig("energy", "Wh", 0, 1, SensorKinds.Simulated),
            new ReadingConfig("temp", "Cel", -1, 2, SensorKinds.Simulated),
            new ReadingConfig("battery", "%EL", 0, 3, SensorKinds.Simulated),
        };

        public static async Task<DemoResult> RunAsync(DemoOptions options, TextWriter output, TextWriter log, CancellationToken cancellationToken = default)
        {
            List<string> problems = options.Validate().ToList();
            if (problems.Count > 0)
            {
                throw new ArgumentException(string.Join("; ", problems));
            }

            var watch = Stopwatch.StartNew();
            var gate = new object();
            void Say(string line)
            {
                lock (gate)
                {
                    output.WriteLine(line);
                    output.Flush();
                }
            }

            bool tempDir = options.DataDirectory == null;
            string dir = tempDir ? Directory.CreateTempSubdirectory("e2m-demo-").FullName : Path.GetFullPath(options.DataDirectory!);
            Directory.CreateDirectory(dir);
            string[] emseIds = { DemoOptions.UtilityEmseId, DemoOptions.ThirdPartyEmseId };
            SharedPcap? pcap = options.PcapPath != null ? new SharedPcap(options.PcapPath) : null;
            KeyLog? keyLog = options.KeyLogPath != null ? new KeyLog(options.KeyLogPath) : null;
            TextWriter? atLog = options.AtLogPath != null ? TextWriter.Synchronized(new StreamWriter(options.AtLogPath) { AutoFlush = false }) : null;
            var devices = new List<DemoDevice>();
            var result = new DemoResult();
            ServerStack? stack = null;
            try
            {
                Say($"e2m demo: {options.Devices} device(s), {Describe(options.Mode)}, {(options.DurationSeconds.HasValue ? options.DurationSeconds.Value.ToString(CultureInfo.InvariantCulture) + " s" : options.Cycles + " cycle(s)")}, faults {(string.IsNullOrWhiteSpace(options.Faults) ? "none" : options.Faults)}, seed {options.Seed}");
                stack = await ServerStack.StartAsync(dir, emseIds, options.Verbose ? MsLogLevel.Information : MsLogLevel.Warning, output).ConfigureAwait(false);
                using var servingNodeSource = new HssAuthVectorSource(new Uri(stack.HssUrl + "/"), stack.CreateServingNodeHandler());
                var servingNode = new ServingNode(servingNodeSource, new ServingNodeOptions { Plmn = "00101" });
                ModemDialect dialect = ModemDialect.ByName(options.Dialect);
                SimRat rat = options.Mode == DemoKeyMode.Network ? SimRat.Umts : SimRat.LteM;

                for (int i = 0; i < options.Devices; i++)
                {
                    DemoSubscriber sub = stack.Provision(emseIds);
                    FirmwareConfig config = DeviceConfig(options.Mode, stack);
                    ILog? fwLog = options.Verbose ? new TextLog(log, E2m.Hal.LogLevel.Info) : null;
                    var device = new DemoDevice(i, sub, config, dialect, rat, servingNode,
                        DemoOptions.BuildFaultPlan(options.Faults, options.Seed + i), pcap, atLog, fwLog);
                    if (keyLog != null)
                    {
                        DemoDevice d = device;
                        device.Recorder.KeyStored += k =>
                        {
                            EmseEndpoint e = stack.Emses[k.Emse];
                            keyLog.Add($"{d.Name} {e.EmseId} {e.Coap} kid {Convert.ToHexStringLower(k.Kid)}", OscoreSecurityContext.SenderIdFromKid(k.Kid), k.Key);
                        };
                    }

                    device.Trace.BootstrapPort = stack.EmksCoap.Port; // home-mode bootstrap octets are counted apart (AirFigures)
                    devices.Add(device);
                    Say($"{device.Name}: imsi {Redact(sub.Imsi)} provisioned (K/OPc fresh from the CSPRNG; e2m on; allowed {string.Join(", ", emseIds)}), modem {dialect.Name} on {rat}, address {device.DeviceAddress}");
                }

                // ---- run every device on its own thread
                DateTime? deadline = options.DurationSeconds.HasValue ? DateTime.UtcNow.AddSeconds(options.DurationSeconds.Value) : null;
                var threads = new List<Thread>();
                foreach (DemoDevice device in devices)
                {
                    var t = new Thread(() => RunDevice(device, options, deadline, Say, watch, cancellationToken)) { IsBackground = true, Name = "demo " + device.Name };
                    threads.Add(t);
                    t.Start();
                }

                // Poll often, print every ProgressSeconds: the run ends as soon as the devices do (a long --progress used to
                // hold the demo for a whole period after the last device finished).
                TimeSpan lastProgress = watch.Elapsed;
                while (threads.Any(t => t.IsAlive))
                {
                    await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
                    if (options.ProgressSeconds > 0 && threads.Any(t => t.IsAlive)
                        && (watch.Elapsed - lastProgress).TotalSeconds >= options.ProgressSeconds)
                    {
                        lastProgress = watch.Elapsed;
                        Say($"[{watch.Elapsed.TotalSeconds,5:F1}s] " + string.Join("  ", devices.Select(d => $"{d.Name} {d.StateText} q{d.Pending}")));
                    }
                }

                // ---- the check: every reading taken must be in the store of each EMSE it was routed to, intact, once
                Say("");
                Say("checking the EMSEs' readings APIs ...");
                var rows = new List<ApiReading>[stack.Emses.Count];
                for (int j = 0; j < stack.Emses.Count; j++)
                {
                    rows[j] = await ServerStack.ReadAllAsync(stack.Emses[j], cancellationToken).ConfigureAwait(false);
                }

                foreach (DemoDevice d in devices)
                {
                    for (int j = 0; j < stack.Emses.Count; j++)
                    {
                        result.Deliveries.Add(Check(d, j, stack.Emses[j].EmseId, rows[j]));
                    }

                    IReadOnlyList<DeviceKey> keys = d.Recorder.Keys;
                    foreach (DeviceKey k in keys.Where(k => k.Emse == 0))
                    {
                        DeviceKey? other = keys.FirstOrDefault(x => x.Emse == 1 && x.Kid.AsSpan().SequenceEqual(k.Kid));
                        if (other != null && other.Key.AsSpan().SequenceEqual(k.Key))
                        {
                            result.KeysSeparated = false;
                        }
                    }
                }

                result.KeyLogLines = keyLog?.Lines ?? 0;
                result.PcapDatagrams = pcap?.Datagrams ?? 0;
                PrintSummary(Say, devices, stack, result, rows, watch.Elapsed, options);
                return result;
            }
            finally
            {
                foreach (DemoDevice d in devices)
                {
                    d.Dispose();
                }

                if (stack != null)
                {
                    await stack.DisposeAsync().ConfigureAwait(false);
                }

                pcap?.Dispose();
                keyLog?.Dispose();
                atLog?.Dispose();
                if (tempDir)
                {
                    try
                    {
                        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                        Directory.Delete(dir, true);
                    }
                    catch (IOException)
                    {
                    }
                    catch (UnauthorizedAccessException)
                    {
                    }
                }
            }
        }

        /// <summary>The firmware configuration of a demo device (the same class the device build fills from device-config.json).</summary>
        public static FirmwareConfig DeviceConfig(DemoKeyMode mode, ServerStack stack)
        {
            var config = new FirmwareConfig
            {
                DeviceName = null, // base name "urn:dev:kid:<KID>:" — no IMSI on the wire
                Apn = "iot",
                KeyMode = mode switch
                {
                    DemoKeyMode.Network => KeyModes.NetworkOnly,
                    DemoKeyMode.Home => KeyModes.HomeOnly,
                    _ => KeyModes.Auto,
                },
                EmksHost = stack.EmksCoap.Address.ToString(),
                EmksPort = stack.EmksCoap.Port,
                Emses = stack.Emses.Select(e => new EmseConfig(e.EmseId, e.Coap.Address.ToString(), e.Coap.Port)).ToArray(),
                Readings = DemoReadings(),
                SampleIntervalSeconds = 900,
                UploadEveryCycles = 1,
                QueueCapacity = 64,
                BackoffBaseSeconds = 60,
                AckTimeoutMs = 4000, // RFC 7252 §4.8 ACK_TIMEOUT in device time (LTE-M-like; the NB-IoT default 15 s would only slow the demo)
                MaxRetransmit = 4,
            };
            // UTRAN (AcT 2) for network mode, E-UTRAN/LTE-M/NB-IoT otherwise (DESIGN.md §5 policy: no GERAN)
            config.Policy.AllowedAcTMask = (1 << 2) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9);
            return config;
        }

        private static void RunDevice(DemoDevice device, DemoOptions options, DateTime? deadline, Action<string> say, Stopwatch watch, CancellationToken ct)
        {
            try
            {
                int cycle = 0;
                while (!ct.IsCancellationRequested)
                {
                    if (deadline.HasValue ? cycle > 0 && DateTime.UtcNow >= deadline.Value : cycle >= options.Cycles)
                    {
                        break;
                    }

                    cycle++;
                    device.RunCycle();
                    say(CycleLine(device, watch, "cycle " + cycle));
                }

                // drain: no new samples; upload what is still queued (failed cycles retry after their back-off)
                device.StopSampling();
                for (int extra = 0; extra < 8 && device.PendingReadings > 0 && !ct.IsCancellationRequested; extra++)
                {
                    device.RunCycle();
                    say(CycleLine(device, watch, "drain " + (extra + 1)));
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                say($"{device.Name}: stopped by {e.GetType().Name}: {e.Message}");
            }
        }

        private static string CycleLine(DemoDevice d, Stopwatch watch, string what)
        {
            DeviceRecorder r = d.Recorder;
            int emses = d.Config.Emses.Length;
            int routed = 0, acked = 0;
            for (int j = 0; j < emses; j++)
            {
                routed += r.RoutedCount(j);
                acked += r.AcknowledgedCount(j);
            }

            return $"[{watch.Elapsed.TotalSeconds,5:F1}s] {d.Name} {what,-8} t+{FormatDuration(d.DeviceSeconds),-7} {d.StateText,-7} key {d.KeyModeText,-7} kid {d.KidText} "
                + $"readings queued {d.PendingReadings,2} acked {acked,3}/{routed,-3} air {d.Trace.UplinkOctets}↑ {d.Trace.DownlinkOctets}↓ B"
                + (d.LastErrorText.Length > 0 ? "  ! " + d.LastErrorText : "");
        }

        private static DeliveryCount Check(DemoDevice d, int emse, string emseId, List<ApiReading> rows)
        {
            FirmwareConfig config = d.Config;
            var senderIds = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (DeviceKey k in d.Recorder.Keys.Where(k => k.Emse == emse))
            {
                senderIds.Add(Convert.ToHexStringLower(OscoreSecurityContext.SenderIdFromKid(k.Kid)));
                senderIds.Add(Convert.ToHexStringLower(k.Kid));
            }

            List<ApiReading> mine = rows.Where(r => senderIds.Contains(r.Kid)).ToList();
            int sent = 0, stored = 0, corrupted = 0, duplicates = 0;
            for (int ri = 0; ri < config.Readings.Length; ri++)
            {
                ReadingConfig rc = config.Readings[ri];
                if ((rc.EmseMask & (1 << emse)) == 0)
                {
                    // key separation: an EMSE must never hold a reading routed elsewhere
                    corrupted += mine.Count(r => NameOf(r.Name) == rc.Name);
                    continue;
                }

                // A stored reading matches a taken one by value and unit, and by time when both know it: a reading the
                // device stamped with network time (Unix > 0) must come back with exactly that time as "device" time.
                var expected = new List<TakenReading>(d.Recorder.Taken.Where(t => t.Reading == ri));
                sent += expected.Count;
                var seen = new HashSet<(long, long)>();
                foreach (ApiReading r in mine.Where(r => NameOf(r.Name) == rc.Name).OrderBy(r => r.TimeUnixMs))
                {
                    long mantissa = r.Value.HasValue ? (long)Math.Round(r.Value.Value / Math.Pow(10, rc.Exponent)) : long.MinValue;
                    if (!seen.Add((r.TimeUnixMs, mantissa)))
                    {
                        duplicates++;
                        continue;
                    }

                    int at = r.Unit != rc.Unit ? -1 : expected.FindIndex(t => t.Mantissa == mantissa
                        && (t.Unix <= 0 || r.TimeSource != "device" || r.TimeUnixMs == t.Unix * 1000));
                    if (at >= 0)
                    {
                        expected.RemoveAt(at);
                        stored++;
                    }
                    else
                    {
                        corrupted++;
                    }
                }
            }

            return new DeliveryCount(d.Name, emseId, sent, d.Recorder.AcknowledgedCount(emse), stored, Math.Max(0, sent - stored), corrupted, duplicates);
        }

        private static string NameOf(string resolved)
        {
            int i = resolved.LastIndexOf(':');
            return i >= 0 ? resolved.Substring(i + 1) : resolved;
        }

        private static void PrintSummary(Action<string> say, List<DemoDevice> devices, ServerStack stack, DemoResult result, List<ApiReading>[] rows, TimeSpan elapsed, DemoOptions options)
        {
            say("");
            say($"{"device",-6} {"imsi",-16} {"key",-7} {"kid",-16} {"cycles",6} {"fail",4} {"emse",-24} {"sent",5} {"acked",5} {"stored",6} {"lost",4} {"bad",3} {"air up/down B",14}");
            foreach (DemoDevice d in devices)
            {
                foreach (DeliveryCount c in result.Deliveries.Where(c => c.Device == d.Name))
                {
                    bool first = c.EmseId == stack.Emses[0].EmseId;
                    say($"{(first ? d.Name : ""),-6} {(first ? Redact(d.Subscriber.Imsi) : ""),-16} {(first ? d.KeyModeText : ""),-7} {(first ? d.KidText : ""),-16} "
                        + $"{(first ? d.CyclesRun.ToString(CultureInfo.InvariantCulture) : ""),6} {(first ? d.FailedCycles.ToString(CultureInfo.InvariantCulture) : ""),4} "
                        + $"{c.EmseId,-24} {c.Sent,5} {c.Acknowledged,5} {c.Stored,6} {c.Lost,4} {c.Corrupted + c.Duplicates,3} "
                        + $"{(first ? d.Trace.UplinkOctets + "/" + d.Trace.DownlinkOctets : ""),14}");
                }
            }

            say("");
            for (int j = 0; j < stack.Emses.Count; j++)
            {
                var names = rows[j].GroupBy(r => NameOf(r.Name)).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.Key + " " + g.Count());
                say($"{stack.Emses[j].EmseId}: {rows[j].Select(r => r.DeviceId).Distinct().Count()} device id(s) (EMKS pseudonyms), stored {string.Join(", ", names)}");
            }

            long up = devices.Sum(d => d.Trace.UplinkOctets), down = devices.Sum(d => d.Trace.DownlinkOctets);
            long bsUp = devices.Sum(d => d.Trace.BootstrapUplinkOctets), bsDown = devices.Sum(d => d.Trace.BootstrapDownlinkOctets);
            long bsDatagrams = devices.Sum(d => d.Trace.BootstrapDatagrams);
            int keys = devices.Sum(d => d.Recorder.Keys.Select(k => Convert.ToHexStringLower(k.Kid)).Distinct().Count());
            var air = new AirFigures(result.Acknowledged, up + down - bsUp - bsDown, devices.Sum(d => d.Trace.Datagrams) - bsDatagrams, keys, bsUp, bsDown, bsDatagrams);
            result.Air = air;
            say($"key separation: one e2m_int_key per device, one e2m_key per EMSE_Id; every device's two e2m_keys differ: {(result.KeysSeparated ? "yes" : "NO")}");
            say($"air: {up} octets up, {down} down (UDP payload, CoAP+OSCORE{(options.Mode == DemoKeyMode.Network ? "" : " + EMKS bootstrap")}); {air.PerReading.ToString("F1", CultureInfo.InvariantCulture)} octets per acknowledged reading "
                + $"({air.PerReadingIp.ToString("F1", CultureInfo.InvariantCulture)} with IPv4+UDP headers); {keys} key establishment(s), "
                + (bsDatagrams == 0 ? "0 e2m octets each (network mode: the serving network's own AKA, not counted)" : $"{air.PerKeyEstablishment.ToString("F1", CultureInfo.InvariantCulture)} octets each over the EMKS bootstrap ({air.PerKeyEstablishmentIp.ToString("F1", CultureInfo.InvariantCulture)} with headers)"));
            if (options.PcapPath != null)
            {
                string ports = string.Join(" ", stack.Emses.Select(e => "-d udp.port==" + e.Coap.Port + ",coap").Append("-d udp.port==" + stack.EmksCoap.Port + ",coap"));
                say($"pcap: {options.PcapPath} ({result.PcapDatagrams} datagrams); tshark -r {options.PcapPath} {ports}");
            }

            if (options.KeyLogPath != null)
            {
                say($"keylog: {options.KeyLogPath} ({result.KeyLogLines} OSCORE contexts; one EMSE's lines at a time as -o uat:oscore_contexts:LINE)");
            }

            if (!string.IsNullOrWhiteSpace(options.Faults))
            {
                say("faults injected: " + string.Join(", ", devices.Select(d => d.Name + " " + d.Faults.Injected)));
            }

            say($"elapsed {elapsed.TotalSeconds:F1} s; check: corrupted={result.Corrupted} duplicates={result.Duplicates}");
            foreach (string note in options.SummaryNotes)
            {
                say(note);
            }

            say(air.Line);
            say(result.LastLine);
        }

        private static string Describe(DemoKeyMode m) => m switch
        {
            DemoKeyMode.Network => "network mode (UMTS cell, EF_KeysPS)",
            DemoKeyMode.Home => "home mode (LTE-M cell, EMKS bootstrap)",
            _ => "auto mode (LTE-M cell: network, falling back to home)",
        };

        /// <summary>IMSI for display: MCC+MNC and the last 2 digits (logging rule of E2m.Server.Common).</summary>
        public static string Redact(string imsi) => imsi.Length > 7 ? imsi.Substring(0, 5) + new string('*', imsi.Length - 7) + imsi.Substring(imsi.Length - 2) : imsi;

        private static string FormatDuration(long seconds) =>
            seconds >= 3600 ? $"{seconds / 3600}h{seconds % 3600 / 60:D2}m" : $"{seconds / 60}m{seconds % 60:D2}s";
    }
}

using System;
using System.CommandLine;
using System.IO;
using System.Threading;
using E2m.Hal.Host;
using E2m.Hal.Host.Traces;
using E2m.ModemSim.Faults;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Traces;
using E2m.ModemSim.Transport;
using E2m.ModemSim.Usim;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m sim`: serves one simulated modem + USIM (issue 5 §7) on 127.0.0.1:PORT (`--tcp`, one AT session per
    /// connection) or on a pseudo-terminal (`--pty`, prints the slave path), modem already powered on, SIM ready when no
    /// PIN is set; runs until Ctrl-C (or `--duration`). Traces: `--pcap` (device UDP), `--at-log` (annotated AT log),
    /// `--apdu-trace` (GSMTAP SIM pcap); faults: `--faults FILE` (script, see FaultPlan.Parse) seeded by `--seed`.
    /// </summary>
    public static class SimCommands
    {
        private static readonly Option<int?> Tcp = new("--tcp") { Description = "Serve the AT port on 127.0.0.1:PORT (0 = any free port)" };
        private static readonly Option<bool> Pty = new("--pty") { Description = "Serve the AT port on a new pseudo-terminal (Linux) and print its path" };
        private static readonly Option<string> Dialect = new("--dialect") { Description = "bg95, bg96, sara-r4 or sara-r5", Required = true };
        private static readonly Option<string> Imsi = new("--imsi") { Description = "IMSI of the simulated USIM (6..15 digits)", Required = true };
        private static readonly Option<string> K = HexArgs.Required("--k", "Subscriber key K (16 octets hex)");
        private static readonly Option<string> Opc = HexArgs.Required("--opc", "OPc (16 octets hex)");
        private static readonly Option<string> Sqn = HexArgs.Optional("--sqn", "Highest SQN already accepted by the card (6 octets hex)");
        private static readonly Option<string> Pin = new("--pin") { Description = "PIN1 (4..8 digits): the SIM then waits for AT+CPIN" };
        private static readonly Option<string> Rat = new("--rat") { Description = "lte-m (default), nb-iot, gprs, umts" };
        private static readonly Option<string> Pcap = new("--pcap") { Description = "Write the device's UDP traffic as pcap to FILE" };
        private static readonly Option<string> AtLog = new("--at-log") { Description = "Write the annotated AT log (>> / << / !!) to FILE" };
        private static readonly Option<bool> AtLogSim = new("--at-log-sim-data") { Description = "Do not redact +CSIM/+CGLA/+CRSM hex in the AT log (test keys only)" };
        private static readonly Option<string> ApduTrace = new("--apdu-trace") { Description = "Write USIM APDUs as GSMTAP (type SIM) pcap to FILE" };
        private static readonly Option<int> Seed = new("--seed") { Description = "Seed of the fault plan's random choices", DefaultValueFactory = _ => 1 };
        private static readonly Option<string> Faults = new("--faults") { Description = "Fault script FILE (drop/delay/sim-busy/cme/reboot-on/garble/at .../udp ...)" };
        private static readonly Option<bool> NoLogicalChannels = new("--no-logical-channels") { Description = "Answer ERROR to +CCHO/+CGLA/+CCHC (the TE must use +CSIM)" };
        private static readonly Option<string> PlmnOpt = new("--plmn") { Description = "PLMN (MCC+MNC, 5 or 6 digits) of the simulated network, what a manual AT+COPS must name (default: the IMSI's first 5 digits)" };
        private static readonly Option<string> NetworkOpt = new("--network") { Description = "local (default: serving node with a local AuC for this K/OPc, AKA on attach) or none (attach without AKA)" };
        private static readonly Option<string> Hss = new("--hss") { Description = "HSS base URL (https://127.0.0.1:PORT of `e2m stack`): the serving node asks its AIR API for vectors (mTLS with the dev PKI's serving-node certificate from --data-dir), so the HSS pushes e2m_int_key to the EMKS (network mode). Default --rat gprs (device-config.json has no umts; GPRS PS AKA with a USIM refreshes EF_KeysPS too)" };
        private static readonly Option<string> DataDir = new("--data-dir") { Description = "Data directory of `e2m stack` (its dev PKI: serving-node certificate and CA), with --hss" };
        private static readonly Option<double?> Duration = new("--duration") { Description = "Stop after SECONDS instead of waiting for Ctrl-C" };

        /// <summary>Set by tests to stop a running `e2m sim` (Ctrl-C does the same interactively).</summary>
        internal static readonly ManualResetEventSlim Stop = new(false);

        /// <summary>Raised with the AT port description once the simulator listens (tests connect then).</summary>
        internal static event Action<string>? Listening;

        public static Command Build()
        {
            var sim = new Command("sim", "Simulated modem (BG95/BG96, SARA-R4) + USIM reachable over TCP or a pseudo-terminal (issue 5)");
            foreach (Option o in new Option[] { Tcp, Pty, Dialect, Imsi, K, Opc, Sqn, Pin, Rat, Pcap, AtLog, AtLogSim, ApduTrace, Seed, Faults, NoLogicalChannels, NetworkOpt, PlmnOpt, Hss, DataDir, Duration })
            {
                sim.Options.Add(o);
            }

            sim.SetAction(Run);
            return sim;
        }

        private static int Run(ParseResult parsed)
        {
            TextWriter output = parsed.InvocationConfiguration.Output;
            int? tcp = parsed.GetValue(Tcp);
            bool pty = parsed.GetValue(Pty);
            if (tcp.HasValue == pty)
            {
                throw new UsageException("give exactly one of --tcp PORT and --pty");
            }

            if (tcp is < 0 or > 65535)
            {
                throw new UsageException("--tcp: port 0..65535");
            }

            ModemDialect dialect;
            try
            {
                dialect = ModemDialect.ByName(parsed.GetValue(Dialect)!);
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }

            string imsi = parsed.GetValue(Imsi)!;
            if (imsi.Length < 6 || imsi.Length > 15 || !IsDigits(imsi))
            {
                throw new UsageException("--imsi: 6..15 digits");
            }

            string plmn = parsed.GetValue(PlmnOpt) ?? imsi.Substring(0, 5);
            if (plmn.Length < 5 || plmn.Length > 6 || !IsDigits(plmn))
            {
                throw new UsageException("--plmn: MCC+MNC, 5 or 6 digits");
            }

            string? pin = parsed.GetValue(Pin);
            if (pin != null && (pin.Length < 4 || pin.Length > 8 || !IsDigits(pin)))
            {
                throw new UsageException("--pin: 4..8 digits");
            }

            var profile = new UsimProfile
            {
                K = HexArgs.Parse("--k", parsed.GetValue(K), 16),
                Opc = HexArgs.Parse("--opc", parsed.GetValue(Opc), 16),
                Imsi = imsi,
                Pin1 = pin,
                MncLength = 2,
            };
            string? sqnHex = parsed.GetValue(Sqn);
            if (sqnHex != null)
            {
                byte[] sqn = HexArgs.Parse("--sqn", sqnHex, 6);
                ulong v = 0;
                foreach (byte b in sqn)
                {
                    v = (v << 8) | b;
                }

                profile.AcceptedSqns = new[] { v };
            }

            var options = new ModemOptions
            {
                StartPoweredOn = true,
                LogicalChannelCommands = !parsed.GetValue(NoLogicalChannels),
                Rat = (parsed.GetValue(Rat) ?? (parsed.GetValue(Hss) != null ? "gprs" : "lte-m")) switch
                {
                    "lte-m" => SimRat.LteM,
                    "nb-iot" => SimRat.NbIot,
                    "gprs" => SimRat.Gprs,
                    "umts" => SimRat.Umts,
                    _ => throw new UsageException("--rat: lte-m, nb-iot, gprs or umts"),
                },
                NetworkTimeAtClockZero = DateTimeOffset.UtcNow,
            };

            int seed = parsed.GetValue(Seed);
            FaultPlan plan = new(seed);
            string? faultFile = parsed.GetValue(Faults);
            if (faultFile != null)
            {
                try
                {
                    plan = FaultPlan.Parse(File.ReadAllText(faultFile), seed);
                }
                catch (Exception e) when (e is IOException || e is FormatException)
                {
                    throw new UsageException("--faults: " + e.Message);
                }
            }

            var clock = new SystemMonotonicClock();
            DateTimeOffset epoch = DateTimeOffset.UtcNow;
            var disposables = new System.Collections.Generic.List<IDisposable>();
            ISimCard card = new SimulatedUsim(profile);
            string? apduPath = parsed.GetValue(ApduTrace);
            if (apduPath != null)
            {
                var gsmtap = new GsmtapSimTrace(PcapWriter.Create(apduPath), clock, epoch, ownsWriter: true);
                disposables.Add(gsmtap);
                card = new TracedSimCard(card, gsmtap);
            }

            IServingNetwork network;
            string? hss = parsed.GetValue(Hss);
            string? dataDir = parsed.GetValue(DataDir);
            if (hss != null)
            {
                // DESIGN.md §3 network mode: vectors from our HSS (issue 6 AIR API) exactly as the demo's serving node gets them
                if (parsed.GetValue(NetworkOpt) != null)
                {
                    throw new UsageException("give either --hss or --network");
                }

                if (dataDir == null)
                {
                    throw new UsageException("--hss needs --data-dir (the stack's dev PKI: serving-node certificate)");
                }

                if (!Uri.TryCreate(hss.TrimEnd('/') + "/", UriKind.Absolute, out Uri? hssUri) || hssUri.Scheme != Uri.UriSchemeHttps)
                {
                    throw new UsageException("--hss: an https:// URL");
                }

                System.Security.Cryptography.X509Certificates.X509Certificate2 cert;
                E2m.Server.Common.E2mTrustAnchor trust;
                try
                {
                    cert = E2m.Server.Common.DevPki.LoadCertificate(dataDir, E2m.Server.Common.DevPki.ServingNode);
                    trust = E2m.Server.Common.DevPki.LoadTrustAnchor(dataDir); // CA + its revocation list
                }
                catch (Exception e) when (e is IOException || e is System.Security.Cryptography.CryptographicException || e is InvalidOperationException
                    || e is FormatException)
                {
                    throw new UsageException("--data-dir: no dev PKI (run `e2m stack --data-dir DIR` or `e2m pki init` first): " + e.Message);
                }

                var source = new E2m.ModemSim.Network.HssAuthVectorSource(hssUri, E2m.Server.Common.Mtls.CreateClientHandler(cert, trust));
                disposables.Add(source);
                network = new E2m.ModemSim.Network.ServingNode(source, new E2m.ModemSim.Network.ServingNodeOptions { Plmn = plmn });
            }
            else if (dataDir != null)
            {
                throw new UsageException("--data-dir is used with --hss");
            }
            else
            {
                switch (parsed.GetValue(NetworkOpt) ?? "local")
                {
                    case "local":
                        var auc = new E2m.ModemSim.Network.LocalAuc();
                        auc.AddSubscriber(new E2m.ModemSim.Network.AucSubscriber { Imsi = imsi, K = profile.K, Opc = profile.Opc });
                        network = new E2m.ModemSim.Network.ServingNode(auc, new E2m.ModemSim.Network.ServingNodeOptions { Plmn = plmn });
                        break;
                    case "none":
                        network = new AlwaysAttachNetwork(plmn);
                        break;
                    default:
                        throw new UsageException("--network: local or none");
                }
            }

            var modem = new SimulatedModem(dialect, card, clock, options, network);
            string? pcapPath = parsed.GetValue(Pcap);
            if (pcapPath != null)
            {
                UdpPcapTrace t = UdpPcapTrace.Create(pcapPath, epoch);
                modem.AddTrace(t);
                disposables.Add(t);
            }

            string? logPath = parsed.GetValue(AtLog);
            if (logPath != null)
            {
                AtLogWriter w = AtLogWriter.Create(logPath);
                w.ShowSimData = parsed.GetValue(AtLogSim);
                modem.AddTrace(w);
                disposables.Add(w);
            }

            modem.Faults = plan;
            Stop.Reset();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;
                Stop.Set();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                using var runtime = new ModemRuntime(modem);
                string where;
                IDisposable endpoint;
                if (pty)
                {
                    if (!PseudoTerminal.IsSupported)
                    {
                        throw new UsageException("--pty needs Linux");
                    }

                    PseudoTerminal terminal = PseudoTerminal.Open();
                    StreamSession session = terminal.Serve(modem);
                    endpoint = new Both(session, terminal);
                    where = terminal.SlavePath;
                    output.WriteLine("pty: " + where);
                }
                else
                {
                    var server = new TcpModemServer(modem, tcp!.Value);
                    endpoint = server;
                    where = "127.0.0.1:" + server.Port;
                    output.WriteLine("tcp: " + where);
                }

                output.WriteLine("dialect: " + dialect.Name);
                output.WriteLine("imsi: " + imsi);
                output.WriteLine("imei: " + options.Imei);
                output.WriteLine("sim: " + (pin == null ? "ready" : "SIM PIN (AT+CPIN=\"" + new string('*', pin.Length) + "\")"));
                output.WriteLine("seed: " + seed);
                output.WriteLine("network: " + (hss != null ? "serving node with vectors from the HSS " + hss + " (rat " + options.Rat + ")" : (parsed.GetValue(NetworkOpt) ?? "local") + " (rat " + options.Rat + ")"));
                output.WriteLine("plmn: " + plmn);
                output.Flush();
                Listening?.Invoke(where);
                using (endpoint)
                {
                    double? seconds = parsed.GetValue(Duration);
                    if (seconds.HasValue)
                    {
                        Stop.Wait(TimeSpan.FromSeconds(seconds.Value));
                    }
                    else
                    {
                        Stop.Wait();
                    }
                }
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
                modem.Dispose();
                foreach (IDisposable d in disposables)
                {
                    d.Dispose();
                }
            }

            output.WriteLine("faults: " + plan.Injected);
            return CliApp.ExitOk;
        }

        private static bool IsDigits(string s)
        {
            foreach (char c in s)
            {
                if (c < '0' || c > '9')
                {
                    return false;
                }
            }

            return true;
        }

        private sealed class Both : IDisposable
        {
            private readonly IDisposable _a;
            private readonly IDisposable _b;

            public Both(IDisposable a, IDisposable b)
            {
                _a = a;
                _b = b;
            }

            public void Dispose()
            {
                _a.Dispose();
                _b.Dispose();
            }
        }
    }
}

using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using E2m.Firmware;
using E2m.Hal.Host;
using E2m.Modem.Commands;
using E2m.Modem.Drivers;
using E2m.Modem.Usim;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Network;
using E2m.ModemSim.Transport;
using E2m.ModemSim.Usim;
using Xunit;
using Xunit.Abstractions;

namespace E2m.Demo.Tests
{
    /// <summary>Where the HIL suite runs: a port for DeviceHost and what the operator supplied.</summary>
    public sealed class HilTarget
    {
        /// <summary>Serial port, /dev/pts/N or tcp:HOST:PORT; null = no modem (every step is skipped with <see cref="SkipReason"/>).</summary>
        public string? Port { get; init; }

        public string Model { get; init; } = "bg95";

        /// <summary>K and OPc of a test SIM (hex); null = the AUTHENTICATE step is skipped.</summary>
        public string? K { get; init; }

        public string? Opc { get; init; }

        /// <summary>HOST:PORT of a UDP echo server reachable from the modem's PDN; null = the echo step is skipped.</summary>
        public string? Echo { get; init; }

        public string Apn { get; init; } = "";

        public int RegistrationTimeoutMs { get; init; } = 180_000;

        public string SkipReason { get; init; } = "";
    }

    /// <summary>
    /// The hardware-in-the-loop suite (README "Hardware in the loop"): the firmware's own driver path of `e2m device`
    /// (DeviceHost: host HAL, real clock, Bg9xModem/SaraR4Modem over the AtChannel) step by step. Each step opens the
    /// port afresh and brings the modem up to its prerequisite, so each can run (and fail) alone. The same steps run
    /// against a real modem (<see cref="HilTests"/>, from environment variables) and, in CI, against the simulator over
    /// TCP (<see cref="HilSuiteOnSimulatorTests"/>), which proves the suite itself.
    /// </summary>
    public abstract class HilSuite
    {
        private readonly ITestOutputHelper _out;

        protected HilSuite(ITestOutputHelper output) => _out = output;

        protected abstract HilTarget Target { get; }

        /// <summary>1. AT sync (the driver's paced AT probes) and the init sequence (echo off, verbose errors, URCs).</summary>
        [SkippableFact]
        public void Step1_AtSyncAndInit()
        {
            Run(Stage.Init, (m, t) => { });
        }

        /// <summary>2. SIM ready, IMSI, and the SIM access probe (which of CCHO/CGLA, CSIM, CRSM works on this modem).</summary>
        [SkippableFact]
        public void Step2_SimReadyImsiAndCapabilityProbe()
        {
            Run(Stage.Sim, (m, t) =>
            {
                Check(m.ReadImsi(out string imsi), "IMSI", t);
                Assert.Matches("^[0-9]{6,15}$", imsi);
                Check(m.ProbeCapabilities(), "capability probe", t);
                _out.WriteLine($"imsi {imsi.Substring(0, 5)}…; SIM access paths: {DescribePaths(m.SimPaths)}");
                Assert.True((m.SimPaths & (SimAccessPaths.Crsm | SimAccessPaths.Csim | SimAccessPaths.LogicalChannel)) != 0,
                    "no SIM access path works (home mode impossible, EF_KeysPS unreadable)\n" + t());
            });
        }

        /// <summary>
        /// 3. USIM AUTHENTICATE round trip (TS 31.102 §7.1.2) through the probed path, with a vector from the simulator's AuC
        /// for E2M_HIL_K/E2M_HIL_OPC: Success must give RES = XRES, CK, IK of the AuC; a sync failure (a used test SIM) is
        /// resolved once with the AUTS (TS 33.102 §6.3.5) and must then succeed. Skipped without K/OPc (only a test SIM has them).
        /// </summary>
        [SkippableFact]
        public void Step3_UsimAuthenticateRoundTrip()
        {
            HilTarget target = Target;
            Skip.If(target.Port != null && (target.K == null || target.Opc == null),
                "E2M_HIL_K / E2M_HIL_OPC are not set: AUTHENTICATE needs the SIM's K and OPc (a programmable test SIM such as sysmoUSIM); skipped.");
            Run(Stage.Sim, (m, t) =>
            {
                Check(m.ProbeCapabilities(), "capability probe", t);
                var auc = new LocalAuc(seed: 8);
                const string imsi = "001010000000001";
                auc.AddSubscriber(new AucSubscriber { Imsi = imsi, K = Convert.FromHexString(target.K!), Opc = Convert.FromHexString(target.Opc!) });
                AuthVector v = auc.GetAuthInfoAsync(new AuthInfoRequest { Imsi = imsi, Domain = VectorDomain.Utran }).GetAwaiter().GetResult().Vectors[0];
                var result = new AuthenticateResult();
                Check(m.Authenticate(v.Rand, v.Autn, result), "AUTHENTICATE", t);
                if (result.Kind == AuthenticateKind.SyncFailure)
                {
                    _out.WriteLine("sync failure (SQN of the card ahead of the AuC): resynchronising with the AUTS");
                    byte[] auts = result.Auts.Take(AuthenticateResult.AutsLength).ToArray();
                    v = auc.GetAuthInfoAsync(new AuthInfoRequest { Imsi = imsi, Domain = VectorDomain.Utran, ResyncRand = v.Rand, ResyncAuts = auts }).GetAwaiter().GetResult().Vectors[0];
                    result.Clear();
                    Check(m.Authenticate(v.Rand, v.Autn, result), "AUTHENTICATE after resync", t);
                }

                Assert.True(result.Kind == AuthenticateKind.Success, "AUTHENTICATE outcome " + (int)result.Kind + " SW " + result.Status + "\n" + t());
                Assert.Equal(Convert.ToHexString(v.Xres), Convert.ToHexString(result.Res, 0, result.ResLength));
                Assert.Equal(Convert.ToHexString(v.Ck), Convert.ToHexString(result.Ck));
                Assert.Equal(Convert.ToHexString(v.Ik), Convert.ToHexString(result.Ik));
                _out.WriteLine($"AUTHENTICATE ok via {DescribePaths(m.SimPaths)}: RES = XRES, CK and IK match the AuC");
            });
        }

        /// <summary>4. Network registration (+CEREG/+CGREG) and PDP context activation (E2M_HIL_APN, default: the network's).</summary>
        [SkippableFact]
        public void Step4_RegistrationAndPdp()
        {
            Run(Stage.Pdp, (m, t) => { });
        }

        /// <summary>5. UDP round trip through the modem's socket to the echo server E2M_HIL_ECHO (HOST:PORT); skipped when unset.</summary>
        [SkippableFact]
        public void Step5_UdpEchoRoundTrip()
        {
            HilTarget target = Target;
            Skip.If(target.Port != null && target.Echo == null, "E2M_HIL_ECHO is not set (HOST:PORT of a UDP echo server reachable from the modem's PDN); skipped.");
            Run(Stage.Pdp, (m, t) =>
            {
                int colon = target.Echo!.LastIndexOf(':');
                string host = target.Echo.Substring(0, colon);
                int port = int.Parse(target.Echo.Substring(colon + 1), System.Globalization.CultureInfo.InvariantCulture);
                IPAddress ip = IPAddress.TryParse(host, out IPAddress? literal) ? literal : Dns.GetHostAddresses(host).First(a => a.AddressFamily == AddressFamily.InterNetwork);
                Check(m.OpenUdpSocket(ip.ToString(), port, out int socket), "socket open", t);
                try
                {
                    byte[] probe = new byte[48];
                    new Random(8).NextBytes(probe);
                    Check(m.SendDatagram(socket, probe, 0, probe.Length), "send", t);
                    byte[] buffer = new byte[512];
                    Check(m.ReceiveDatagram(socket, buffer, 0, 30_000, out int length), "receive (echo)", t);
                    Assert.Equal(Convert.ToHexString(probe), Convert.ToHexString(buffer, 0, length));
                    _out.WriteLine($"UDP echo {target.Echo}: {length} octets back intact");
                }
                finally
                {
                    m.CloseSocket(socket);
                }
            });
        }

        /// <summary>6. PSM request (+CPSMS, TS 27.007 §7.38: T3412 ext 1 h, T3324 10 s); the network may grant other values.</summary>
        [SkippableFact]
        public void Step6_PsmRequest()
        {
            Run(Stage.Registered, (m, t) => Check(m.RequestPsm(3600, 10), "PSM request", t));
        }

        private enum Stage
        {
            Init,
            Sim,
            Registered,
            Pdp,
        }

        private void Run(Stage stage, Action<ICellularModem, Func<string>> step)
        {
            HilTarget target = Target;
            Skip.If(target.Port == null, target.SkipReason);
            var config = new FirmwareConfig
            {
                KeyMode = KeyModes.NetworkOnly,
                Emses = new[] { new EmseConfig("emse.example.org", "127.0.0.1", 5683) },
                Readings = new[] { new ReadingConfig("energy", "Wh", 0, 1, SensorKinds.Simulated) },
            };
            string state = Directory.CreateTempSubdirectory("e2m-hil-").FullName;
            var log = new TextLog(null, E2m.Hal.LogLevel.Info);
            var atLog = new TextLog(null, E2m.Hal.LogLevel.Trace);
            string Transcript() => string.Join("\n", atLog.Lines);
            try
            {
                using var host = new DeviceHost(target.Port!, 115200, target.Model, config, state, log, atLog);
                ICellularModem m = host.Modem;
                Check(m.PowerOn(), "power on / AT sync", Transcript);
                Check(m.Initialize(), "init", Transcript);
                if (stage >= Stage.Sim)
                {
                    Check(m.WaitSimReady(20_000), "SIM ready", Transcript);
                }

                if (stage >= Stage.Registered)
                {
                    Check(m.WaitRegistered(target.RegistrationTimeoutMs, out RegistrationInfo info), "registration", Transcript);
                    Assert.True(info.IsRegistered, "not registered\n" + Transcript());
                }

                if (stage >= Stage.Pdp)
                {
                    Check(m.ActivatePdp(target.Apn), "PDP activation (APN '" + target.Apn + "')", Transcript);
                }

                step(m, Transcript);
            }
            finally
            {
                Directory.Delete(state, true);
            }
        }

        /// <summary>The probed paths for the log (names of the SimAccessPaths bits; other bits in hex).</summary>
        private static string DescribePaths(int paths)
        {
            string s = ((paths & SimAccessPaths.LogicalChannel) != 0 ? "+ccho/cgla" : "") + ((paths & SimAccessPaths.Csim) != 0 ? "+csim" : "")
                + ((paths & SimAccessPaths.Crsm) != 0 ? "+crsm" : "");
            int other = paths & ~(SimAccessPaths.LogicalChannel | SimAccessPaths.Csim | SimAccessPaths.Crsm);
            s += other != 0 ? "+0x" + other.ToString("x", System.Globalization.CultureInfo.InvariantCulture) : "";
            return s.Length == 0 ? "none" : s.Substring(1);
        }

        private static void Check(ModemError e, string what, Func<string> transcript) =>
            Assert.True(e == ModemError.Ok, what + ": " + ModemErrors.Describe(e) + "\n" + transcript());
    }

    /// <summary>
    /// The suite against a real modem: <c>E2M_HIL_PORT</c> (/dev/ttyUSB2, COM5, tcp:HOST:PORT), <c>E2M_HIL_MODEM</c>
    /// (bg95 default, bg96, sara-r4, sara-r5), optional <c>E2M_HIL_APN</c>, <c>E2M_HIL_K</c> + <c>E2M_HIL_OPC</c> (test SIM),
    /// <c>E2M_HIL_ECHO</c> (HOST:PORT). The modem must be powered with a SIM without PIN. Without E2M_HIL_PORT every step
    /// is skipped with that reason (CI has no modem).
    /// </summary>
    public sealed class HilTests : HilSuite
    {
        public const string SkipReason = "E2M_HIL_PORT is not set: no modem attached. This skip is expected in CI (no modem exists there); " +
            "set E2M_HIL_PORT=/dev/ttyUSB2 (or COM5, or tcp:HOST:PORT) and optionally E2M_HIL_MODEM=bg95|bg96|sara-r4|sara-r5 to run against a real modem.";

        public HilTests(ITestOutputHelper output)
            : base(output)
        {
        }

        protected override HilTarget Target => new()
        {
            Port = Env("E2M_HIL_PORT"),
            Model = Env("E2M_HIL_MODEM") ?? "bg95",
            K = Env("E2M_HIL_K"),
            Opc = Env("E2M_HIL_OPC"),
            Echo = Env("E2M_HIL_ECHO"),
            Apn = Env("E2M_HIL_APN") ?? "",
            SkipReason = SkipReason,
        };

        private static string? Env(string name)
        {
            string? v = Environment.GetEnvironmentVariable(name);
            return string.IsNullOrWhiteSpace(v) ? null : v.Trim();
        }
    }

    /// <summary>A simulated BG95 + test USIM (TS 35.208 set 1 K/OPc) over TCP, an LTE-M network with AKA, and a loopback UDP echo.</summary>
    public sealed class SimulatedHilTarget : IDisposable
    {
        public const string K = "465b5ce8b199b49faa5f0a2ee238a6bc";
        public const string Opc = "cd63cb71954a9f4e48a5994e37a02baf";
        private readonly SimulatedModem _modem;
        private readonly ModemRuntime _runtime;
        private readonly TcpModemServer _server;
        private readonly UdpClient _echo;
        private readonly Thread _echoThread;

        public SimulatedHilTarget()
        {
            const string imsi = "001010123456789";
            var clock = new SystemMonotonicClock();
            var card = new SimulatedUsim(new UsimProfile { Imsi = imsi, K = Convert.FromHexString(K), Opc = Convert.FromHexString(Opc) });
            var auc = new LocalAuc(seed: 3);
            auc.AddSubscriber(new AucSubscriber { Imsi = imsi, K = Convert.FromHexString(K), Opc = Convert.FromHexString(Opc) });
            _modem = new SimulatedModem(ModemDialect.ByName("bg95"), card, clock,
                new ModemOptions { StartPoweredOn = true, AttachDelayMs = 200, Rat = SimRat.LteM, NetworkTimeAtClockZero = DateTimeOffset.UtcNow },
                new ServingNode(auc, new ServingNodeOptions { Plmn = "00101" }));
            _runtime = new ModemRuntime(_modem);
            _server = new TcpModemServer(_modem, 0);
            _echo = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            _echoThread = new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        var from = new IPEndPoint(IPAddress.Any, 0);
                        byte[] d = _echo.Receive(ref from);
                        _echo.Send(d, d.Length, from);
                    }
                }
                catch (Exception e) when (e is SocketException || e is ObjectDisposedException)
                {
                }
            }) { IsBackground = true, Name = "hil udp echo" };
            _echoThread.Start();
            Target = new HilTarget
            {
                Port = "tcp:127.0.0.1:" + _server.Port,
                K = K,
                Opc = Opc,
                Echo = "127.0.0.1:" + ((IPEndPoint)_echo.Client.LocalEndPoint!).Port,
                Apn = "iot",
                RegistrationTimeoutMs = 30_000,
            };
        }

        public HilTarget Target { get; }

        public void Dispose()
        {
            _echo.Dispose();
            _server.Dispose();
            _runtime.Dispose();
            _modem.Dispose();
        }
    }

    /// <summary>The same suite in CI against the simulator over TCP (proves the suite; no step is skipped here).</summary>
    public sealed class HilSuiteOnSimulatorTests : HilSuite, IClassFixture<SimulatedHilTarget>
    {
        private readonly SimulatedHilTarget _sim;

        public HilSuiteOnSimulatorTests(SimulatedHilTarget sim, ITestOutputHelper output)
            : base(output) => _sim = sim;

        protected override HilTarget Target => _sim.Target;
    }
}

using System.Net;
using System.Net.Sockets;
using System.Threading;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Drivers;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Network;
using E2m.ModemSim.Usim;
using Xunit.Abstractions;

namespace E2m.Firmware.Tests
{
    /// <summary>
    /// One happy path through the REAL drivers (Bg9xModem over AtChannel) against tools/E2m.ModemSim: BG95 dialect, a
    /// TS 35.208 set 1 USIM, a simulated serving node running UMTS PS AKA (so EF_KeysPS is refreshed: network mode),
    /// and the simulator's UDP bridge to a real loopback UDP socket where an OSCORE EMSE answers.
    /// </summary>
    public sealed class SimulatorTests
    {
        private readonly ITestOutputHelper _out;
        public SimulatorTests(ITestOutputHelper output) { _out = output; }

        private static readonly byte[] K = Convert.FromHexString("465B5CE8B199B49FAA5F0A2EE238A6BC");   // TS 35.208 set 1
        private static readonly byte[] Opc = Convert.FromHexString("CD63CB71954A9F4E48A5994E37A02BAF");
        private const string Imsi = "001010123456789";

        [Fact]
        public void Network_mode_upload_through_the_real_BG95_driver_and_the_modem_simulator()
        {
            var clock = new FakeClock(0);
            var card = new SimulatedUsim(new UsimProfile { K = K, Opc = Opc, Imsi = Imsi, Delta = SqnFreshness.NoLimit });
            var auc = new LocalAuc(seed: 5);
            auc.AddSubscriber(new AucSubscriber { Imsi = Imsi, K = K, Opc = Opc });
            using var sim = new SimulatedModem(ModemDialect.ByName("bg95"), card, clock, new ModemOptions { Rat = SimRat.Umts });
            sim.Network = new ServingNode(auc);
            var powerKey = new SimulatedPin("PWRKEY", clock);
            var status = new ModemStatusPin(sim);
            sim.AttachPins(powerKey);
            var link = new E2m.ModemSim.Transport.InProcessModemLink(sim, clock);
            var channel = new AtChannel(link, clock, clock);
            var driver = new Bg9xModem(channel, clock, clock, powerKey, status);

            var net = new FakeNetwork(clock, 41);
            FakeEmse emse = net.AddEmse("emse.example.org", "127.0.0.1");
            using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            int port = ((IPEndPoint)udp.Client.LocalEndPoint!).Port;
            var server = new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        IPEndPoint from = new(IPAddress.Any, 0);
                        byte[] d = udp.Receive(ref from);
                        lock (net)
                        {
                            // the HSS push for the key the serving node's AKA put into EF_KeysPS (TS 31.102 §4.2.4)
                            byte[] keys = card.ReadFileAdmin(0x6F09);
                            if (keys.Length == 33 && keys[0] != 7) net.Push(keys.Skip(1).Take(16).ToArray(), keys.Skip(17).Take(16).ToArray());
                            foreach (byte[] answer in emse.Handle(d)) udp.Send(answer, answer.Length, from);
                        }
                    }
                }
                catch (Exception) { }
            }) { IsBackground = true };
            server.Start();

            var config = new FirmwareConfig
            {
                DeviceName = "urn:dev:sim1:",
                KeyMode = KeyModes.NetworkOnly,
                Emses = new[] { new EmseConfig("emse.example.org", "127.0.0.1", port) },
                Readings = new[] { new ReadingConfig("temp", "Cel", -1, 1, SensorKinds.Simulated) },
                UploadEveryCycles = 1,
                AckTimeoutMs = 2000,
            };
            config.Policy.AllowedAcTMask |= 1 << 2;   // UTRAN: the simulated network runs UMTS PS AKA (EF_KeysPS)
            var platform = new FirmwarePlatform
            {
                Modem = driver,
                Store = new InMemoryRecordStore(256, 255),
                Crypto = net.Crypto,
                Clock = clock,
                Delay = clock,
                Entropy = new SeededEntropy(41),
                Sleep = new SimulatedSleep(clock),
                Sensors = new ISensor[] { new SimulatedSensor(7, 215, 0, 1000, 3) },
            };
            var app = new E2mApplication(config, platform);
            AppState end = app.RunCycle();
            if (app.LastError == FirmwareError.PolicyForbidsRat) Assert.Fail("policy refused the simulator's RAT");
            udp.Dispose();
            _out.WriteLine("error " + FirmwareErrors.Describe(app.LastError) + ", modem " + ModemErrors.Describe(app.LastModemError)
                + ", EMSE requests " + emse.Requests + ", retransmissions " + (emse.Requests - emse.Batches));
            Assert.Equal(AppState.Stopped, end);
            Assert.True(FirmwareError.None == app.LastError, "cycle failed: " + FirmwareErrors.Describe(app.LastError) + " / " + ModemErrors.Describe(app.LastModemError));
            Assert.Equal(KeyOrigins.Network, app.Keys.GetOrigin(0));
            Assert.Single(emse.Unique);
            Assert.Equal(0, app.Queue.PendingCount);
        }
    }
}

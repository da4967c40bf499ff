using System;
using System.IO;
using System.Linq;
using System.Text;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Traces;
using E2m.ModemSim.Transport;
using E2m.ModemSim.Usim;
using E2m.TestSupport;
using Xunit;

namespace E2m.ModemSim.Tests.Modem
{
    /// <summary>
    /// The simulator is reachable like a modem: over TCP (one AT session per connection) and a Linux pseudo-terminal
    /// (opened as a file, as picocom or the firmware host runner would), in real time; the UDP pcap is read by tshark.
    /// </summary>
    public class ReachabilityTests
    {
        private static SimulatedModem RealTimeModem(string dialect)
        {
            var card = new SimulatedUsim(new UsimProfile { K = SimRig.K, Opc = SimRig.Opc, Imsi = SimRig.Imsi });
            return new SimulatedModem(ModemDialect.ByName(dialect), card, new SystemMonotonicClock(), new ModemOptions { StartPoweredOn = true });
        }

        private static void Talk(AtChannel channel, string expectedModel)
        {
            var r = new AtResult(8, 256);
            Assert.Equal(AtStatus.Ok, channel.Execute(E2m.Modem.Commands.GeneralCommands.Ate0, r)); // echo is on: the channel skips it
            Assert.Equal(AtStatus.Ok, channel.Execute(E2m.Modem.Commands.GeneralCommands.Cgsn, r));
            Assert.Equal(15, r.Lines[0].Length);
            Assert.Equal(AtStatus.Ok, channel.Execute(E2m.Modem.Commands.GeneralCommands.Cimi, r));
            Assert.Equal(SimRig.Imsi, r.Lines[0]);
            Assert.Equal(AtStatus.Ok, channel.Execute(new AtCommand("AT+CGMM", 1000) { RawResponse = true }, r));
            Assert.Equal(expectedModel, r.Lines[0]);
            // MANAGE CHANNEL open over +CSIM (TS 102 221 §11.1.17) → "01 90 00"
            Assert.Equal(AtStatus.Ok, channel.Execute(SimAccessCommands.Csim, "10,\"0070000001\"", r));
            Assert.Equal("+CSIM: 6,\"019000\"", r.Lines[0]);
        }

        [Theory]
        [InlineData("bg95", "BG95-M3")]
        [InlineData("sara-r4", "SARA-R410M-02B")]
        public void Tcp_session_per_connection(string dialect, string model)
        {
            using SimulatedModem modem = RealTimeModem(dialect);
            using var runtime = new ModemRuntime(modem);
            using var server = new TcpModemServer(modem, 0);
            var clock = new SystemMonotonicClock();
            using (StreamTransport t = StreamTransport.ConnectTcp("127.0.0.1", server.Port))
            {
                Talk(new AtChannel(t, clock, clock), model);
            }

            using (StreamTransport t2 = StreamTransport.ConnectTcp("127.0.0.1", server.Port))
            {
                var channel = new AtChannel(t2, clock, clock);
                var r = new AtResult(4, 64);
                Assert.Equal(AtStatus.Ok, channel.Execute(MobileTerminationCommands.CpinRead, r));
                Assert.Equal("+CPIN: READY", r.Lines[0]);
            }

            Assert.Equal(2, server.Sessions);
        }

        [Fact]
        public void In_memory_transport_pair_in_real_time()
        {
            using SimulatedModem modem = RealTimeModem("sara-r4");
            using var runtime = new ModemRuntime(modem);
            var pair = new InMemoryTransportPair();
            using var session = new TransportSession(modem, pair.Modem);
            var clock = new SystemMonotonicClock();
            Talk(new AtChannel(pair.Device, clock, clock), "SARA-R410M-02B");
        }

        [SkippableFact]
        public void Pty_path_opened_as_a_file_talks_at()
        {
            Skip.IfNot(PseudoTerminal.IsSupported, "pseudo-terminals: Linux only");
            using SimulatedModem modem = RealTimeModem("bg95");
            using var runtime = new ModemRuntime(modem);
            using PseudoTerminal pty = PseudoTerminal.Open();
            Assert.StartsWith("/dev/pts/", pty.SlavePath);
            using StreamSession session = pty.Serve(modem);
            var clock = new SystemMonotonicClock();
            using StreamTransport t = StreamTransport.OpenPseudoTerminal(pty.SlavePath);
            Talk(new AtChannel(t, clock, clock), "BG95-M3");
        }

        [SkippableFact]
        public void Udp_pcap_is_read_by_tshark_as_coap()
        {
            string tshark = ExternalTool.Require("tshark", "tshark");
            string pcap = Path.Combine(Path.GetTempPath(), "e2m-modemsim-" + Guid.NewGuid().ToString("N") + ".pcap");
            try
            {
                using var echo = new UdpEcho();
                using (var rig = new SimRig("bg95"))
                using (UdpPcapTrace trace = UdpPcapTrace.Create(pcap))
                {
                    rig.Modem.AddTrace(trace);
                    rig.BringUp();
                    rig.Check(rig.Driver.ActivatePdp("iot.e2m"), "ActivatePdp");
                    rig.Check(rig.Driver.OpenUdpSocket("127.0.0.1", echo.Port, out int s), "Open");
                    byte[] coap = { 0x40, 0x01, 0x12, 0x34, 0xB1, (byte)'t' }; // RFC 7252 §3: CON GET MID 0x1234, Uri-Path "t"
                    rig.Check(rig.Driver.SendDatagram(s, coap, 0, coap.Length), "Send");
                    rig.Check(rig.Driver.ReceiveDatagram(s, new byte[64], 0, 10000, out _), "Receive");
                    Assert.Equal(2, trace.Datagrams);
                }

                ToolResult r = ExternalTool.Run(tshark, new[]
                {
                    "-n", "-r", pcap, "-d", "udp.port==" + echo.Port + ",coap",
                    "-T", "fields", "-E", "separator=|", "-e", "ip.src", "-e", "ip.dst", "-e", "coap.type", "-e", "coap.code", "-e", "coap.mid", "-e", "coap.opt.uri_path",
                });
                Assert.True(r.ExitCode == 0, r.StdErr);
                string[] rows = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal(2, rows.Length);
                Assert.Equal("10.45.0.2|127.0.0.1|0|1|4660|t", rows[0].Trim());
                Assert.Equal("127.0.0.1|10.45.0.2|0|1|4660|t", rows[1].Trim());
            }
            finally
            {
                File.Delete(pcap);
            }
        }
    }
}

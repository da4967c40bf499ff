using System;
using System.Linq;
using System.Text;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Drivers;
using E2m.ModemSim.Faults;
using E2m.ModemSim.Modem;
using Xunit;

namespace E2m.ModemSim.Tests.Modem
{
    /// <summary>
    /// Every fault type is observable in the AT log / counters, and the firmware driver recovers where it should.
    /// Seeded: the seed is in every failure message (the transcript starts with it).
    /// </summary>
    public class FaultTests
    {
        private const int Seed = 20261128;

        private static string Why(SimRig rig) => "seed " + Seed + "\n" + rig.Log;

        [Fact]
        public void Sim_busy_is_retried_by_the_driver()
        {
            using var rig = new SimRig("bg95", faults: new FaultPlan(Seed).SimBusy("AT+CIMI", 3));
            rig.BringUp();
            rig.Check(rig.Driver.ReadImsi(out string imsi), "ReadImsi");
            Assert.Equal(SimRig.Imsi, imsi);
            Assert.Equal(3, rig.Modem.Faults.Injected);
            Assert.Equal(4, rig.Transcript.Split('\n').Count(l => l.EndsWith(">> AT+CIMI", StringComparison.Ordinal)));
        }

        /// <summary>
        /// BG96 (commands accepted right after RDY): the driver restarts its init script. On BG95 the same fault exposes
        /// a firmware issue: AtChannel.Resync gives up within milliseconds when the modem answers ERROR between RDY and
        /// APP RDY (modems.md §1.2 quirk 1), so Initialize returns Timeout (see <see cref="Bg95_reboot_mid_init_needs_app_rdy_wait"/>).
        /// </summary>
        [Fact]
        public void Reboot_mid_init_restarts_the_script()
        {
            using var rig = new SimRig("bg96", faults: new FaultPlan(Seed).RebootOn("AT+CEREG=", 300));
            ((Bg9xDialect)rig.Modem.Dialect).AppRdyDelayMs = ((Bg9xDialect)rig.Modem.Dialect).RdyDelayMs; // RDY and APP RDY together (the firmware transcript's timing)
            rig.BringUp();
            string log = rig.Transcript;
            Assert.Equal(2, log.Split('\n').Count(l => l.EndsWith("<< APP RDY", StringComparison.Ordinal)));
            Assert.Contains("!! fault: modem reboots on AT+CEREG=4", log);
            Assert.True(rig.Channel.Reboots >= 1, Why(rig));
        }

        [Fact] // was a firmware finding: the AT sync probes now wait SyncTimeoutMs apart, so APP RDY is reached
        public void Bg95_reboot_mid_init_needs_app_rdy_wait()
        {
            using var rig = new SimRig("bg95", faults: new FaultPlan(Seed).RebootOn("AT+CEREG=", 300));
            rig.BringUp();
        }

        [Fact]
        public void Dropped_response_times_out_resyncs_and_retries()
        {
            using var rig = new SimRig("bg95", faults: new FaultPlan(Seed).DropResponse("AT+CMEE"));
            rig.BringUp();
            Assert.Equal(1, rig.Channel.Timeouts);
            Assert.Contains("!! response dropped", rig.Transcript);
        }

        [Fact]
        public void Delayed_response_arrives_later_on_the_clock()
        {
            using var rig = new SimRig("sara-r4", faults: new FaultPlan(Seed).DelayResponse("AT+CIMI", 2500));
            rig.BringUp();
            long t0 = rig.Clock.NowMilliseconds;
            rig.Check(rig.Driver.ReadImsi(out string imsi), "ReadImsi");
            Assert.Equal(SimRig.Imsi, imsi);
            Assert.True(rig.Clock.NowMilliseconds - t0 >= 2500, Why(rig));
        }

        [Fact]
        public void Garbled_response_is_detected_and_a_second_read_is_clean()
        {
            using var rig = new SimRig("bg95");
            rig.BringUp();
            rig.Modem.Faults = new FaultPlan(Seed).GarbleNext(1);
            ModemError first = rig.Driver.ReadImsi(out string? imsi1);
            rig.Check(rig.Driver.ReadImsi(out string imsi2), "ReadImsi after garbage");
            Assert.Equal(SimRig.Imsi, imsi2);
            Assert.Equal(1, rig.Modem.Faults.Injected);
            Assert.Contains("!! fault: garbled", rig.Transcript);
            Assert.True(first != ModemError.Ok || imsi1 != SimRig.Imsi || rig.Channel.StrayLines > 0 || rig.Channel.Timeouts > 0, Why(rig));
        }

        [Fact]
        public void Urc_storm_is_routed_and_commands_still_work()
        {
            using var rig = new SimRig("bg95");
            rig.BringUp();
            long start = rig.Clock.NowMilliseconds + 10;
            rig.Modem.Faults = new FaultPlan(Seed).UrcStormAt(start, "+CEREG: 1,\"2B67\",\"0102A3C4\",7", 200, 1);
            rig.Clock.Advance(20);
            rig.Check(rig.Driver.ReadImsi(out string imsi), "ReadImsi during storm");
            Assert.Equal(SimRig.Imsi, imsi);
            while (rig.Clock.NowMilliseconds < start + 400)
            {
                rig.Channel.Poll(100);
            }

            Assert.Equal(200, rig.Transcript.Split('\n').Count(l => l.EndsWith("<< +CEREG: 1,\"2B67\",\"0102A3C4\",7", StringComparison.Ordinal)) - 1);
            Assert.Equal(RegistrationState.Home, rig.Driver.LastEpsRegistration.Stat);
        }

        [Fact]
        public void Sim_removed_reports_not_inserted_and_deregisters()
        {
            using var rig = new SimRig("bg95");
            rig.BringUp();
            rig.Modem.Faults = new FaultPlan(Seed).SimRemovedAt(rig.Clock.NowMilliseconds + 100);
            rig.Channel.Poll(500);
            Assert.Equal(ModemError.SimNotInserted, rig.Driver.ReadImsi(out _));
            Assert.Equal(RegistrationState.NotRegistered, rig.Driver.LastEpsRegistration.Stat);
            Assert.Contains("<< +CME ERROR: 10", rig.Transcript);
        }

        [Theory]
        [InlineData("bg95")]
        [InlineData("sara-r4")]
        public void Network_loss_and_recovery_with_cereg_urcs(string dialect)
        {
            using var rig = new SimRig(dialect);
            rig.BringUp();
            rig.Modem.Faults = new FaultPlan(Seed).NetworkLossAt(rig.Clock.NowMilliseconds + 100, 20000, stat: 2);
            rig.Channel.Poll(1000);
            Assert.Equal(RegistrationState.Searching, rig.Driver.LastEpsRegistration.Stat);
            rig.Check(rig.Driver.WaitRegistered(60000, out RegistrationInfo info), "WaitRegistered after loss");
            Assert.Equal(RegistrationState.Home, info.Stat);
            string log = rig.Transcript;
            int lost = log.IndexOf("+CEREG: 2", log.IndexOf("network loss", StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.True(lost > 0 && log.IndexOf("+CEREG: 1", lost, StringComparison.Ordinal) > lost, Why(rig));
        }

        [Fact]
        public void Network_loss_with_pdp_drop_sends_pdpdeact_on_bg9x()
        {
            using var rig = new SimRig("bg95");
            rig.BringUp();
            rig.Check(rig.Driver.ActivatePdp("iot.e2m"), "ActivatePdp");
            rig.Modem.Faults = new FaultPlan(Seed).NetworkLossAt(rig.Clock.NowMilliseconds + 100, 5000, stat: 0, dropPdp: true);
            rig.Channel.Poll(1000);
            Assert.Contains("<< +QIURC: \"pdpdeact\",1", rig.Transcript);
            Assert.Contains("<< +CEREG: 0", rig.Transcript);
        }

        [Fact]
        public void Spontaneous_reboot_is_seen_by_a_waiting_receive()
        {
            using var echo = new UdpEcho();
            using var rig = new SimRig("bg95");
            rig.BringUp();
            rig.Check(rig.Driver.ActivatePdp("iot.e2m"), "ActivatePdp");
            rig.Check(rig.Driver.OpenUdpSocket("127.0.0.1", echo.Port, out int s), "Open");
            rig.Modem.Faults = new FaultPlan(Seed).RebootAt(rig.Clock.NowMilliseconds + 500);
            Assert.Equal(ModemError.Rebooted, rig.Driver.ReceiveDatagram(s, new byte[100], 0, 10000, out _));
            Assert.Empty(rig.Modem.Sockets);
        }

        [Fact]
        public void Udp_uplink_loss_means_no_echo()
        {
            using var echo = new UdpEcho();
            using var rig = new SimRig("bg95", faults: new FaultPlan(Seed).UdpLoss(1.0, UdpDirection.Uplink));
            int s = OpenSocket(rig, echo);
            rig.Check(rig.Driver.SendDatagram(s, new byte[] { 1, 2, 3 }, 0, 3), "Send (SEND OK: not delivered)");
            Assert.Equal(ModemError.NoData, rig.Driver.ReceiveDatagram(s, new byte[100], 0, 3000, out _));
            Assert.Empty(echo.Received);
            Assert.Contains("datagram lost", rig.Transcript);
        }

        [Theory]
        [InlineData("bg95")]
        [InlineData("sara-r4")]
        public void Udp_downlink_duplication_delivers_twice(string dialect)
        {
            using var echo = new UdpEcho();
            using var rig = new SimRig(dialect, faults: new FaultPlan(Seed).UdpDuplicate(1.0, UdpDirection.Downlink));
            int s = OpenSocket(rig, echo);
            rig.Check(rig.Driver.SendDatagram(s, new byte[] { 7, 7 }, 0, 2), "Send");
            byte[] b = new byte[100];
            int got = 0;
            for (int i = 0; i < 4 && got < 2; i++)
            {
                // Bg9xModem returns NoData at once on "+QIRD: 0" (buffer drained before the copy arrived), not after the timeout
                ModemError e = rig.Driver.ReceiveDatagram(s, b, 0, 5000, out int n);
                if (e == ModemError.Ok)
                {
                    Assert.Equal(2, n);
                    got++;
                }
            }

            Assert.True(got == 2, Why(rig));
            Assert.Single(echo.Received);
        }

        [Fact]
        public void Udp_reordering_swaps_two_uplink_datagrams()
        {
            using var echo = new UdpEcho();
            using var rig = new SimRig("sara-r4", faults: new FaultPlan(Seed).UdpReorder(1.0, UdpDirection.Uplink));
            int s = OpenSocket(rig, echo);
            rig.Check(rig.Driver.SendDatagram(s, new byte[] { 0xA }, 0, 1), "Send A");
            rig.Check(rig.Driver.SendDatagram(s, new byte[] { 0xB }, 0, 1), "Send B");
            byte[] b = new byte[10];
            rig.Check(rig.Driver.ReceiveDatagram(s, b, 0, 5000, out _), "Receive first");
            Assert.Equal(0xB, b[0]);
            rig.Check(rig.Driver.ReceiveDatagram(s, b, 0, 5000, out _), "Receive second");
            Assert.Equal(0xA, b[0]);
        }

        /// <summary>A held datagram goes out with the next one of its own flow, to its own peer: released with another socket's
        /// datagram it used to go to that socket's peer (review finding, session 11).</summary>
        [Fact]
        public void Udp_reordering_keeps_each_datagram_on_its_own_socket_and_peer()
        {
            using var echo1 = new UdpEcho();
            using var echo2 = new UdpEcho();
            using var rig = new SimRig("bg95", faults: new FaultPlan(Seed).UdpReorder(1.0, UdpDirection.Uplink));
            int s1 = OpenSocket(rig, echo1);
            rig.Check(rig.Driver.OpenUdpSocket("127.0.0.1", echo2.Port, out int s2), "open 2");
            rig.Check(rig.Driver.SendDatagram(s1, new byte[] { 0xA }, 0, 1), "Send A to echo 1"); // held
            rig.Check(rig.Driver.SendDatagram(s2, new byte[] { 0xB }, 0, 1), "Send B to echo 2"); // held (its own flow)
            rig.Check(rig.Driver.SendDatagram(s1, new byte[] { 0xC }, 0, 1), "Send C to echo 1"); // releases A after it
            byte[] b = new byte[10];
            rig.Check(rig.Driver.ReceiveDatagram(s1, b, 0, 5000, out _), "Receive first on socket 1");
            Assert.Equal(0xC, b[0]);
            rig.Check(rig.Driver.ReceiveDatagram(s1, b, 0, 5000, out _), "Receive second on socket 1");
            Assert.Equal(0xA, b[0]);
            lock (echo2.Received)
            {
                Assert.DoesNotContain(echo2.Received, d => d[0] == 0xA || d[0] == 0xC);
            }
        }

        /// <summary>A spontaneous reboot fault while the modem is off leaves it off (no boot without PWRKEY).</summary>
        [Fact]
        public void A_reboot_fault_while_off_does_not_power_the_modem_on()
        {
            var clock = new E2m.Hal.Host.FakeClock(0);
            var card = new E2m.ModemSim.Usim.SimulatedUsim(new E2m.ModemSim.Usim.UsimProfile { K = SimRig.K, Opc = SimRig.Opc, Imsi = SimRig.Imsi });
            var m = new SimulatedModem(ModemDialect.ByName("bg95"), card, clock, new ModemOptions());
            m.Faults = new FaultPlan(Seed).RebootAt(1000);
            clock.Advance(10000);
            m.RunDue();
            Assert.Equal(PowerState.Off, m.Power);
        }

        /// <summary>A parameter the host cannot use (a port above 65535 or negative) is +CME ERROR: 50, not a crash of the session.</summary>
        [Theory]
        [InlineData("sara-r4", "AT+USOCR=17,70000")]
        [InlineData("sara-r4", "AT+USOCR=17,-1")]
        public void Out_of_range_ports_are_cme_50_not_an_exception(string dialect, string line)
        {
            var clock = new E2m.Hal.Host.FakeClock(0);
            var card = new E2m.ModemSim.Usim.SimulatedUsim(new E2m.ModemSim.Usim.UsimProfile { K = SimRig.K, Opc = SimRig.Opc, Imsi = SimRig.Imsi });
            var m = new SimulatedModem(ModemDialect.ByName(dialect), card, clock, new ModemOptions { StartPoweredOn = true });
            var output = new System.Text.StringBuilder();
            m.AttachOutput((b, o, c) => { lock (output) output.Append(System.Text.Encoding.Latin1.GetString(b, o, c)); });
            clock.Advance(10000);
            m.RunDue();
            byte[] bytes = System.Text.Encoding.ASCII.GetBytes("AT+CMEE=1\r" + line + "\r");
            Assert.Null(Record.Exception(() => m.Receive(bytes, 0, bytes.Length)));
            clock.Advance(1000);
            m.RunDue();
            lock (output)
            {
                Assert.Contains("+CME ERROR: 50", output.ToString());
            }
        }

        [Fact]
        public void Udp_delay_is_applied_on_the_modem_clock()
        {
            using var echo = new UdpEcho();
            using var rig = new SimRig("bg95", faults: new FaultPlan(Seed).UdpDelay(4000, 0, UdpDirection.Downlink));
            int s = OpenSocket(rig, echo);
            rig.Check(rig.Driver.SendDatagram(s, new byte[] { 1 }, 0, 1), "Send");
            long t0 = rig.Clock.NowMilliseconds;
            rig.Check(rig.Driver.ReceiveDatagram(s, new byte[10], 0, 10000, out _), "Receive");
            Assert.True(rig.Clock.NowMilliseconds - t0 >= 4000, Why(rig));
        }

        [Fact]
        public void Script_builds_the_same_plan_as_the_fluent_api()
        {
            FaultPlan p = FaultPlan.Parse("# demo\nsim-busy AT+CPIN? times 2\nat 9000 network-loss 3000 stat 0 drop-pdp\nudp loss 0.25 up\nudp delay 100 jitter 20\ngarble 0.01\nreboot-on AT+QIACT after 500", Seed);
            using var rig = new SimRig("bg95", faults: p);
            rig.BringUp();
            Assert.Equal(2, rig.Transcript.Split('\n').Count(l => l.Contains("<< +CME ERROR: 14") && !l.Contains("AT+CIMI")) - CountBootBusy(rig));
            Assert.Throws<FormatException>(() => FaultPlan.Parse("explode now", 1));
        }

        private static int CountBootBusy(SimRig rig) => 0;

        private static int OpenSocket(SimRig rig, UdpEcho echo)
        {
            rig.BringUp();
            rig.Check(rig.Driver.ActivatePdp("iot.e2m"), "ActivatePdp");
            rig.Check(rig.Driver.OpenUdpSocket("127.0.0.1", echo.Port, out int s), "OpenUdpSocket");
            return s;
        }
    }
}

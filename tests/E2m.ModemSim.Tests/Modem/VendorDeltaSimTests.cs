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
    /// Issue 4 vendor deltas, firmware driver against the simulator (FakeClock, in-process link, real UDP echo on 127.0.0.1):
    /// SARA-R5 (+UPSD/+UPSDA PDP, +UUPSMR), the SARA-R4 PSM sequence with the +CFUN=15 reboot, BG95 direct push, and a
    /// reboot that outlasts the in-flight command's timeout (BG96 with a late RDY, SARA-R4 silent: detected by the echo).
    /// </summary>
    public class VendorDeltaSimTests
    {
        private const int Seed = 20261128;

        private static readonly byte[] Nasty = Encoding.Latin1.GetBytes("\r\nOK\r\n+QIURC: \"recv\",0,3\r\nRDY\0\"e2m");

        private static int Count(string log, string suffix) => log.Split('\n').Count(l => l.TrimEnd('\r').EndsWith(suffix, StringComparison.Ordinal));

        private static void Echo(SimRig rig, UdpEcho echo)
        {
            rig.Check(rig.Driver.OpenUdpSocket("127.0.0.1", echo.Port, out int s), "OpenUdpSocket");
            rig.Check(rig.Driver.SendDatagram(s, Nasty, 0, Nasty.Length), "SendDatagram");
            byte[] buffer = new byte[1500];
            rig.Check(rig.Driver.ReceiveDatagram(s, buffer, 0, 10000, out int n), "ReceiveDatagram");
            Assert.Equal(Nasty, buffer.AsSpan(0, n).ToArray());
            rig.Check(rig.Driver.CloseSocket(s), "CloseSocket");
        }

        [Fact]
        public void SaraR5_session_psd_profile_pdp_udp_echo_psm_urc_and_power_off()
        {
            using var echo = new UdpEcho();
            using var rig = new SimRig("sara-r5");
            Assert.IsType<SaraR5Modem>(rig.Driver);
            rig.BringUp();
            Assert.Equal(SaraR5Modem.PowerOnPulseMs, rig.PowerKey.PulseWidths(true).Last());
            rig.Check(rig.Driver.ActivatePdp("iot.e2m"), "ActivatePdp");
            Echo(rig, echo);

            var r5 = (SaraR5Modem)rig.Driver;
            rig.Check(r5.RequestPsm(3600, 60), "RequestPsm");
            long until = rig.Clock.NowMilliseconds + 5000;
            while (r5.PsmState < 0 && rig.Clock.NowMilliseconds < until)
            {
                rig.Channel.Poll(500);
            }

            Assert.Equal(UbloxPowerCommands.PsmStateEntering, r5.PsmState);
            rig.Check(r5.ReadAssignedPsm(out PsmAssignment psm), "ReadAssignedPsm");
            Assert.Equal(3600, psm.PeriodicTauSeconds);
            Assert.Equal(60, psm.ActiveTimeSeconds);
            rig.Check(rig.Driver.PowerOff(), "PowerOff");

            string log = rig.Transcript;
            Assert.Contains(">> AT+CEREG=4", log);
            Assert.Contains(">> AT+UPSD=0,100,1", log);
            Assert.Contains("<< +UUPSDA: 0,\"10.45.0.2\"", log);
            Assert.DoesNotContain("AT+CFUN=15", log); // R5: no reboot for PSM
        }

        [Fact]
        public void SaraR4_psm_sequence_reboots_with_cfun15_once_and_the_link_works_again()
        {
            using var echo = new UdpEcho();
            using var rig = new SimRig("sara-r4");
            rig.BringUp();
            rig.Check(rig.Driver.ActivatePdp("iot.e2m"), "ActivatePdp");
            rig.Check(rig.Driver.RequestPsm(3600, 60), "RequestPsm");

            rig.Check(rig.Driver.ReadAssignedPsm(out PsmAssignment psm), "ReadAssignedPsm");
            Assert.True(psm.Active, rig.Log.ToString());
            Assert.Equal(3600, psm.PeriodicTauSeconds);
            Assert.Equal(60, psm.ActiveTimeSeconds);

            rig.Check(rig.Driver.RequestPsm(3600, 60), "RequestPsm again (stored: no reboot)");

            // after the reboot: registration and PDP again, then the socket works
            rig.Check(rig.Driver.WaitSimReady(10000), "WaitSimReady");
            rig.Check(rig.Driver.WaitRegistered(30000, out _), "WaitRegistered");
            rig.Check(rig.Driver.ActivatePdp("iot.e2m"), "ActivatePdp");
            Echo(rig, echo);

            string log = rig.Transcript;
            Assert.Equal(1, Count(log, ">> AT+CFUN=15"));
            Assert.Equal(1, Count(log, ">> AT+CFUN=0"));
            Assert.Equal(2, Count(log, ">> ATE0"));
            Assert.Contains("PSM request applied by the reboot", log);
        }

        [Fact]
        public void Bg95_direct_push_delivers_datagrams_with_crlf_ok_and_urc_text_intact()
        {
            using var echo = new UdpEcho();
            using var rig = new SimRig("bg95", bg9xAccessMode: QuectelCommands.AccessModeDirectPush);
            rig.BringUp();
            rig.Check(rig.Driver.ActivatePdp("iot.e2m"), "ActivatePdp");
            Echo(rig, echo);
            Echo(rig, echo);
            Assert.Equal(0, ((Bg9xModem)rig.Driver).DroppedDatagrams);
            string log = rig.Transcript;
            Assert.Contains(",0,1", log.Split('\n').First(l => l.Contains(">> AT+QIOPEN=", StringComparison.Ordinal)));
            Assert.DoesNotContain(">> AT+QIRD", log);
            Assert.Equal(0, rig.Channel.StaleFinals);
        }

        [Fact]
        public void Bg96_reboot_longer_than_the_command_timeout_reruns_init_and_registration_continues()
        {
            var faults = new FaultPlan(Seed).RebootOn("AT+CEREG=", 6500); // RDY 6.5 s after the command: > its 5 s timeout
            using var rig = new SimRig("bg96", faults: faults);
            var d = (Bg9xDialect)rig.Modem.Dialect;
            d.RdyDelayMs = 6500;   // the simulator's crash boot is at most as long as a normal boot
            d.AppRdyDelayMs = 6800;
            rig.BringUp();          // WaitRegistered no longer meets APP RDY as "Rebooted"
            string log = rig.Transcript;
            Assert.Contains("!! fault: modem reboots on AT+CEREG=4", log);
            Assert.True(rig.Channel.Timeouts >= 1, "seed " + Seed + "\n" + log);
            Assert.Equal(2, Count(log, ">> ATE0")); // the script ran again after the reboot
            Assert.False(rig.Driver.RebootedSinceInit);
        }

        [Fact]
        public void SaraR4_silent_reboot_longer_than_the_timeout_is_detected_by_the_returned_echo()
        {
            var faults = new FaultPlan(Seed).RebootOn("AT+CGREG=", 6000);
            using var rig = new SimRig("sara-r4", faults: faults);
            ((SaraR4Dialect)rig.Modem.Dialect).ReadyDelayMs = 6000; // > +CGREG's 5 s timeout
            rig.BringUp();
            string log = rig.Transcript;
            Assert.Contains("!! fault: modem reboots on AT+CGREG=2", log);
            Assert.True(rig.Channel.BootIndications >= 1, log);
            Assert.True(Count(log, ">> ATE0") >= 2, log);
            Assert.True(rig.Channel.EchoOff);
        }

        [Fact]
        public void SaraR4_csgt_greeting_makes_the_cfun15_reboot_visible_as_a_boot_line()
        {
            using var rig = new SimRig("sara-r4");
            rig.BringUp();
            rig.Channel.AddRebootLine("RDY");
            var r = new AtResult(4, 0);
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(new AtCommand("AT+CSGT=1,\"RDY\"", 1000), r));
            int before = rig.Channel.Reboots;
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(new AtCommand("AT+CFUN=15", 5000), r));
            long until = rig.Clock.NowMilliseconds + 10000;
            while (rig.Channel.Reboots == before && rig.Clock.NowMilliseconds < until)
            {
                rig.Channel.Poll(500);
            }

            Assert.Equal(before + 1, rig.Channel.Reboots);
        }
    }
}

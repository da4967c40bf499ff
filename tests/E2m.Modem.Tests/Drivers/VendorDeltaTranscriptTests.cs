using System;
using System.IO;
using System.Text;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Drivers;
using E2m.Modem.Tests.At;
using E2m.TestSupport;
using Xunit;

namespace E2m.Modem.Tests.Drivers
{
    /// <summary>
    /// The vendor deltas of issue 4 against scripted modems (tests/transcripts/drivers/*.txt, seeded random fragments
    /// on a fake clock): SARA-R5 bring-up with +UPSD/+UPSDA PDP and the +UPSND fallback, the SARA-R4 PSM sequence with
    /// its +CFUN=15 reboot, BG95 direct-push receive (payloads containing CR LF "OK", "RDY", a URC prefix), and a
    /// modem reboot that outlasts the in-flight command's timeout (the init script must run again).
    /// </summary>
    public class VendorDeltaTranscriptTests
    {
        public static TheoryData<int, int> Seeds() => TranscriptRig.Seeds();

        private static TranscriptRig Open(string file, int seed, int maxFragment) => TranscriptRig.Open(file, seed, maxFragment);

        private static void Done(TranscriptRig r, int seed) => r.Done(seed);

        [Theory]
        [MemberData(nameof(Seeds))]
        public void Reboot_longer_than_the_command_timeout_reruns_the_init_script(int seed, int maxFragment)
        {
            // Before the fix Initialize returned Ok after the retried +CEREG=4 / +CGREG=2 (echo on, +CMEE lost) and the
            // script failed at "AT+CPIN?" where the modem expects the second pass's resync "AT".
            TranscriptRig r = Open("bg96-reboot-longer-than-timeout.txt", seed, maxFragment);
            var m = new Bg9xModem(r.Channel, r.Clock, r.Clock, r.Key, null);
            string at = " (seed " + seed + ")";
            Assert.True(ModemError.Ok == m.Initialize(), "Initialize" + at);
            Assert.Equal(1, r.Channel.Timeouts);
            Assert.True(r.Channel.BootIndications >= 2, "RDY and APP RDY counted" + at);
            Assert.False(m.RebootedSinceInit);
            Assert.True(r.Channel.EchoOff);
            Assert.True(ModemError.Ok == m.WaitSimReady(10000), "WaitSimReady" + at);
            Done(r, seed);
        }

        [Theory]
        [MemberData(nameof(Seeds))]
        public void SaraR5_session_with_psd_profile_pdp_hex_socket_and_psm_urc(int seed, int maxFragment)
        {
            TranscriptRig r = Open("sara-r5-session.txt", seed, maxFragment);
            var m = new SaraR5Modem(r.Channel, r.Clock, r.Clock, r.Key, null);
            string at = " (seed " + seed + ")";

            Assert.True(ModemError.Ok == m.PowerOn(), "PowerOn" + at);
            Assert.Equal(new long[] { SaraR5Modem.PowerOnPulseMs }, r.Key.PulseWidths(true));
            Assert.Equal(ModemError.Ok, m.Initialize());
            Assert.Equal(ModemError.Ok, m.WaitSimReady(30000));
            Assert.Equal(ModemError.Ok, m.WaitRegistered(60000, out RegistrationInfo reg));
            Assert.Equal(RegistrationState.Home, reg.Stat);
            Assert.Equal(RadioAccess.LteM, m.MapAccess(reg.AcT));
            Assert.Equal(60, PsmTimers.ActiveTimeSeconds(reg.ActiveTime));

            Assert.Equal(ModemError.Ok, m.ActivatePdp("iot.1nce.net"));
            Assert.Equal(0xc33eL, m.LastEpsRegistration.CellId); // the URC before +UUPSDA was routed

            Assert.Equal(ModemError.Ok, m.OpenUdpSocket("151.9.34.66", 449, out int s));
            Assert.Equal(0, s);
            Assert.Equal(ModemError.Ok, m.SendDatagram(s, Encoding.ASCII.GetBytes("ABCD"), 0, 4));
            byte[] rx = new byte[16];
            Assert.Equal(ModemError.Ok, m.ReceiveDatagram(s, rx, 0, 5000, out int n));
            Assert.Equal("\r\nOK\r\n", Encoding.ASCII.GetString(rx, 0, n));
            Assert.Equal(ModemError.Ok, m.CloseSocket(s));

            Assert.Equal(ModemError.Ok, m.RequestPsm(3600, 60));
            Assert.Equal(-1, m.PsmState);
            long until = r.Clock.NowMilliseconds + 1500;
            while (m.PsmState < 0 && r.Clock.NowMilliseconds < until)
            {
                r.Channel.Poll(500); // idle: the application pumps URCs
            }

            Assert.Equal(UbloxPowerCommands.PsmStateEntering, m.PsmState);
            Assert.Equal(ModemError.Ok, m.ReadAssignedPsm(out PsmAssignment psm));
            Assert.True(psm.Active);
            Assert.Equal(3600, psm.PeriodicTauSeconds);
            Assert.Equal(60, psm.ActiveTimeSeconds);
            Done(r, seed);
        }

        [Theory]
        [MemberData(nameof(Seeds))]
        public void SaraR5_pdp_falls_back_to_upsnd_and_types_a_refused_activation(int seed, int maxFragment)
        {
            TranscriptRig r = Open("sara-r5-upsnd-fallback.txt", seed, maxFragment);
            var m = new SaraR5Modem(r.Channel, r.Clock, r.Clock, r.Key, null);
            long t0 = r.Clock.NowMilliseconds;
            Assert.Equal(ModemError.Ok, m.ActivatePdp("iot.1nce.net"));
            Assert.True(r.Clock.NowMilliseconds - t0 >= UbloxPsdCommands.UupsdaWaitMs, "waited for +UUPSDA first");
            Assert.Equal(ModemError.PdpActivationFailed, m.ActivatePdp("iot.1nce.net"));
            Done(r, seed);
        }

        [Theory]
        [MemberData(nameof(Seeds))]
        public void SaraR4_psm_deregisters_sets_cpsms_reboots_with_cfun15_and_reinitialises(int seed, int maxFragment)
        {
            TranscriptRig r = Open("sara-r410m-psm.txt", seed, maxFragment);
            var m = new SaraR4Modem(r.Channel, r.Clock, r.Clock, r.Key, null);
            r.Channel.EchoOff = true; // as after an earlier Initialize: the returned echo after the reboot is a boot sign
            long t0 = r.Clock.NowMilliseconds;
            Assert.Equal(ModemError.Ok, m.RequestPsm(3600, 60));
            Assert.True(r.Clock.NowMilliseconds - t0 >= UbloxModemBase.RestartSettleMs + 3 * 1000, "waited for the restart");
            Assert.True(r.Channel.EchoOff, "ATE0 sent again after the reboot");
            Assert.False(m.RebootedSinceInit);

            Assert.Equal(ModemError.Ok, m.ReadAssignedPsm(out PsmAssignment psm));
            Assert.True(psm.Active);
            Assert.Equal(3600, psm.PeriodicTauSeconds);
            Assert.Equal(60, psm.ActiveTimeSeconds);

            Assert.Equal(ModemError.Ok, m.RequestPsm(3600, 60)); // already stored: no reboot
            Done(r, seed);
        }

        [Theory]
        [MemberData(nameof(Seeds))]
        public void Bg95_direct_push_reads_exactly_len_raw_bytes_after_the_urc(int seed, int maxFragment)
        {
            TranscriptRig r = Open("bg95-direct-push.txt", seed, maxFragment);
            var m = new Bg9xModem(r.Channel, r.Clock, r.Clock, r.Key, null, QuectelCommands.AccessModeDirectPush);
            Assert.Equal(QuectelCommands.AccessModeDirectPush, m.AccessMode);

            Assert.Equal(ModemError.Ok, m.OpenUdpSocket("10.7.89.10", 6969, out int s));
            Assert.Equal(ModemError.Ok, m.SendDatagram(s, Encoding.ASCII.GetBytes("hello"), 0, 5));
            byte[] rx = new byte[64];
            Assert.Equal(ModemError.Ok, m.ReceiveDatagram(s, rx, 0, 5000, out int n));
            Assert.Equal("\r\nOK\r\n", Encoding.ASCII.GetString(rx, 0, n));

            Assert.Equal(ModemError.Ok, m.SendDatagram(s, Encoding.ASCII.GetBytes("hi"), 0, 2)); // a push arrives in flight
            Assert.Equal(0xc33dL, m.LastEpsRegistration.CellId);
            Assert.Equal(ModemError.Ok, m.ReceiveDatagram(s, rx, 0, 5000, out n));
            Assert.Equal("\r\nRDY\r\n", Encoding.ASCII.GetString(rx, 0, n));
            Assert.Equal(ModemError.Ok, m.ReceiveDatagram(s, rx, 0, 5000, out n));
            Assert.Equal("+QIURC: ERROR", Encoding.ASCII.GetString(rx, 0, n));

            Assert.Equal(0, r.Channel.Reboots); // "RDY" inside a payload is data
            Assert.Equal(0, r.Channel.StaleFinals);
            Assert.Equal(0, m.DroppedDatagrams);
            Assert.Equal(ModemError.Ok, m.CloseSocket(s));
            Done(r, seed);
        }

        [Theory]
        [MemberData(nameof(Seeds))]
        public void Cpin_ready_on_resync_and_a_returned_echo_count_as_boot_indications(int seed, int maxFragment)
        {
            TranscriptRig r = Open("channel-boot-indications.txt", seed, maxFragment);
            var result = new AtResult(4, 0);
            Assert.Equal(AtStatus.Timeout, r.Channel.Execute(new AtCommand("AT+CGSN", 1000), result)); // not idempotent: not retried
            Assert.True(r.Channel.InSync);
            Assert.Equal(1, r.Channel.BootIndications);
            Assert.Equal(0, r.Channel.Reboots);

            r.Channel.EchoOff = true;
            Assert.Equal(AtStatus.Ok, r.Channel.Execute(new AtCommand("AT", 1000), result));
            Assert.Equal(2, r.Channel.BootIndications);
            Assert.False(r.Channel.EchoOff); // counted once; the driver sets it again after its next ATE0
            Done(r, seed);
        }

        [Fact]
        public void Buffer_mode_stays_the_default_and_opens_with_access_mode_0()
        {
            Assert.EndsWith(",0,0", QuectelCommands.QiopenUdpArguments(1, 0, "10.0.0.1", 5683));
            Assert.EndsWith(",0,1", QuectelCommands.QiopenUdpArguments(1, 0, "10.0.0.1", 5683, QuectelCommands.AccessModeDirectPush));
            var clock = new FakeClock();
            var m = new Bg9xModem(new AtChannel(new InMemoryTransportPair(clock).Device, clock, clock), clock, clock, null!, null!);
            Assert.Equal(QuectelCommands.AccessModeBuffer, m.AccessMode);
        }

        [Fact]
        public void Psd_and_power_parsers_accept_the_documented_forms()
        {
            Assert.Equal(0, UbloxPsdCommands.ParseUupsda("+UUPSDA: 0,\"10.45.0.2\""));
            Assert.Equal(1, UbloxPsdCommands.ParseUupsda("+UUPSDA: 1"));
            Assert.Equal(1, UbloxPsdCommands.ParseUpsndInt("+UPSND: 0,8,1", 8));
            Assert.Equal(1, UbloxPowerCommands.ParseUupsmr("+UUPSMR: 1"));
            Assert.Equal(2, UbloxPowerCommands.ParseUupsmr("+UUPSMR: 2,5"));
            PsmSettings p = UbloxPowerCommands.ParseUcpsms("+UCPSMS: 1,,,\"01000011\",\"01000011\""); // modems.md §2.3 example
            Assert.Equal(1, p.Mode);
            Assert.Equal(0x43, p.RequestedPeriodicTau);
            Assert.Equal(0x43, p.RequestedActiveTime);
            Assert.Equal(6, QuectelCommands.ParseQiurcRecvLength("+QIURC: \"recv\",0,6", out int id));
            Assert.Equal(0, id);
            Assert.Equal(-1, QuectelCommands.ParseQiurcRecvLength("+QIURC: \"recv\",3", out id));
            Assert.Equal(-1, QuectelCommands.ParseQiurcRecvLength("+QIURC: \"closed\",3", out _));
        }
    }
}

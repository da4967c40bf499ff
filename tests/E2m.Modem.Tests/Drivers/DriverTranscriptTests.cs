using System;
using System.IO;
using System.Text;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Drivers;
using E2m.Modem.Tests.At;
using E2m.Modem.Usim;
using E2m.TestSupport;
using Xunit;

namespace E2m.Modem.Tests.Drivers
{
    /// <summary>
    /// The BG95 and SARA-R410M drivers against scripted modems (tests/transcripts/drivers/*.txt, fed in
    /// seeded random fragments on a fake clock): power-on, init with a reboot in the middle, SIM busy
    /// retries, registration URCs, PDP, UDP, SIM path probing and AUTHENTICATE over CGLA / CSIM.
    /// </summary>
    public class DriverTranscriptTests
    {
        public static TheoryData<int, int> Seeds() => TranscriptRig.Seeds();

        private static TranscriptRig Open(string file, int seed, int maxFragment) => TranscriptRig.Open(file, seed, maxFragment);

        private static void Done(TranscriptRig r, int seed) => r.Done(seed);

        private static byte[] Set1Rand() => Hex.Decode("23553cbe9637a89d218ae64dae47bf35");

        private static byte[] Set1Autn() => Hex.Decode("55f328b43577b9b94a9ffac354dfafb3"); // 3gpp.md §5 (osmo-auc-gen)

        [Theory]
        [MemberData(nameof(Seeds))]
        public void Bg95_session_from_power_on_to_one_datagram(int seed, int maxFragment)
        {
            TranscriptRig r = Open("bg95-session.txt", seed, maxFragment);
            var m = new Bg9xModem(r.Channel, r.Clock, r.Clock, r.Key, null);
            string at = " (seed " + seed + ")";

            Assert.True(ModemError.Ok == m.PowerOn(), "PowerOn" + at);
            Assert.Equal(new long[] { Bg9xModem.PowerOnPulseMs }, r.Key.PulseWidths(true));
            Assert.InRange(Bg9xModem.PowerOnPulseMs, 500, 1000); // modems.md §1.1

            Assert.Equal(ModemError.Ok, m.Initialize()); // includes the reboot at +CEREG=4 and the second pass
            Assert.Equal(ModemError.Ok, m.WaitSimReady(30000));
            Assert.Equal(ModemError.Ok, m.ReadImsi(out string imsi));
            Assert.Equal("001010123456789", imsi);

            Assert.Equal(ModemError.Ok, m.WaitRegistered(60000, out RegistrationInfo reg));
            Assert.Equal(RegistrationState.Roaming, reg.Stat);
            Assert.Equal(0x3a9b, reg.AreaCode);
            Assert.Equal(RadioAccess.LteM, m.MapAccess(reg.AcT));
            Assert.Equal(60, PsmTimers.ActiveTimeSeconds(reg.ActiveTime));

            Assert.Equal(ModemError.Ok, m.ActivatePdp("iot.1nce.net"));
            Assert.Equal(0xc33eL, m.LastEpsRegistration.CellId); // the URC between +QIACT? and its OK was routed

            Assert.Equal(ModemError.Ok, m.OpenUdpSocket("10.7.89.10", 6969, out int s));
            Assert.Equal(0, s);
            byte[] data = Encoding.ASCII.GetBytes("1234567890");
            Assert.Equal(ModemError.Ok, m.SendDatagram(s, data, 0, data.Length));

            byte[] rx = new byte[64];
            Assert.Equal(ModemError.Ok, m.ReceiveDatagram(s, rx, 0, 10000, out int n));
            Assert.Equal("000d0a4122", Hex.Encode(rx, 0, n));
            Assert.Equal(ModemError.Ok, m.CloseSocket(s));
            Done(r, seed);
        }

        [Theory]
        [MemberData(nameof(Seeds))]
        public void Bg95_authenticate_falls_back_from_refused_cgla_to_csim_with_get_response(int seed, int maxFragment)
        {
            TranscriptRig r = Open("bg95-usim-csim-fallback.txt", seed, maxFragment);
            var m = new Bg9xModem(r.Channel, r.Clock, r.Clock, r.Key, null);

            Assert.Equal(ModemError.Ok, m.ProbeCapabilities());
            Assert.Equal(SimAccessPaths.LogicalChannel | SimAccessPaths.Csim | SimAccessPaths.Crsm, m.SimPaths);

            var result = new AuthenticateResult();
            Assert.Equal(ModemError.Ok, m.Authenticate(Set1Rand(), Set1Autn(), result));
            Assert.Equal(AuthenticateKind.Success, result.Kind);
            Assert.Equal("a54211d5e3ba50bf", Hex.Encode(result.Res, 0, result.ResLength));  // TS 35.208 set 1 f2
            Assert.Equal("b40ba9a3c58b2a05bbf0d987b21bf8cb", Hex.Encode(result.Ck));        // f3
            Assert.Equal("f769bcd751044604127672711c6d3441", Hex.Encode(result.Ik));        // f4
            Assert.True(result.HasKc);
            Done(r, seed);
        }

        [Theory]
        [MemberData(nameof(Seeds))]
        public void Sara_session_with_silent_boot_verbose_sim_busy_and_hex_sockets(int seed, int maxFragment)
        {
            TranscriptRig r = Open("sara-r410m-session.txt", seed, maxFragment);
            var m = new SaraR4Modem(r.Channel, r.Clock, r.Clock, r.Key, null);

            Assert.Equal(ModemError.Ok, m.PowerOn());
            Assert.Equal(new long[] { SaraR4Modem.PowerOnPulseMs }, r.Key.PulseWidths(true));
            Assert.InRange(SaraR4Modem.PowerOnPulseMs, 150, 3200); // modems.md §2.1
            Assert.Equal(ModemError.Ok, m.Initialize());
            Assert.Equal(ModemError.Ok, m.WaitSimReady(30000));
            Assert.Equal(ModemError.Ok, m.WaitRegistered(60000, out RegistrationInfo reg));
            Assert.Equal(RegistrationState.Home, reg.Stat);
            Assert.Equal(RadioAccess.LteM, m.MapAccess(reg.AcT));
            Assert.Equal(ModemError.Ok, m.ActivatePdp("iot.1nce.net"));
            Assert.Equal(ModemError.Ok, m.OpenUdpSocket("151.9.34.66", 449, out int s));
            Assert.Equal(3, s);
            Assert.Equal(ModemError.Ok, m.SendDatagram(s, Encoding.ASCII.GetBytes("ABCD"), 0, 4));
            byte[] rx = new byte[16];
            Assert.Equal(ModemError.Ok, m.ReceiveDatagram(s, rx, 0, 5000, out int n));
            Assert.Equal("0d0a2200", Hex.Encode(rx, 0, n));
            Assert.Equal(ModemError.Ok, m.CloseSocket(s));
            Done(r, seed);
        }

        // A driver on an in-memory UART (no transcript): the test answers each command itself and reads what was written.
        private static InMemoryTransportPair Wire<TModem>(Func<AtChannel, FakeClock, TModem> create, out TModem modem)
        {
            var clock = new FakeClock();
            var pair = new InMemoryTransportPair(clock);
            modem = create(new AtChannel(pair.Device, clock, clock), clock);
            return pair;
        }

        private static void Answer(InMemoryTransportPair pair, string text)
        {
            byte[] b = Encoding.ASCII.GetBytes(text);
            pair.Device.Inject(b, 0, b.Length);
        }

        /// <summary>TS 27.007 §7.3 manual selection: `AT+COPS=1,2,"MCC+MNC"`; +CME ERROR → CommandError; bad PLMN not sent.</summary>
        [Fact]
        public void SelectOperator_sends_manual_numeric_cops()
        {
            InMemoryTransportPair pair = Wire((ch, clock) => new Bg9xModem(ch, clock, clock, null!, null!), out Bg9xModem modem);
            Answer(pair, "\r\nOK\r\n");
            Assert.Equal(ModemError.Ok, modem.SelectOperator("00101"));
            byte[] w = new byte[256];
            int n = pair.Modem.Read(w, 0, w.Length, 0);
            Assert.Equal("AT+COPS=1,2,\"00101\"", Encoding.ASCII.GetString(w, 0, n).TrimEnd('\r'));

            Answer(pair, "\r\n+CME ERROR: 30\r\n");
            Assert.Equal(ModemError.CommandError, modem.SelectOperator("310410"));
            pair.Modem.Read(w, 0, w.Length, 0);
            Assert.Equal(ModemError.CommandError, modem.SelectOperator("0010x"));
            Assert.Equal(0, pair.Modem.Read(w, 0, w.Length, 0)); // nothing sent
        }

        /// <summary>
        /// modems.md §2.3: a SARA command line is at most 1024 characters, and a HEX +USOST carries 2 characters per octet.
        /// The largest datagram the driver takes (480) fits with the longest IPv4 address and port; a larger one is refused
        /// before anything is written (TooLarge), never sent as a line the modem would cut.
        /// </summary>
        [Fact]
        public void Sara_usost_lines_stay_within_1024_characters()
        {
            InMemoryTransportPair pair = Wire((ch, clock) => new SaraR4Modem(ch, clock, clock, null!, null!), out SaraR4Modem modem);
            Answer(pair, "\r\n+USOCR: 0\r\n\r\nOK\r\n");
            Assert.Equal(ModemError.Ok, modem.OpenUdpSocket("203.113.200.200", 65535, out int s));
            byte[] drain = new byte[4096];
            pair.Modem.Read(drain, 0, drain.Length, 0);

            Assert.Equal(ModemError.TooLarge, modem.SendDatagram(s, new byte[512], 0, 512));
            Assert.Equal(0, pair.Modem.Read(drain, 0, drain.Length, 0)); // nothing written

            Answer(pair, "\r\n+USOST: 0,480\r\n\r\nOK\r\n");
            Assert.Equal(ModemError.Ok, modem.SendDatagram(s, new byte[UbloxCommands.MaxHexSendLength], 0, UbloxCommands.MaxHexSendLength));
            int n = 0, k;
            while ((k = pair.Modem.Read(drain, n, drain.Length - n, 0)) > 0)
            {
                n += k;
            }

            string line = Encoding.ASCII.GetString(drain, 0, n).TrimEnd('\r');
            Assert.StartsWith("AT+USOST=0,\"203.113.200.200\",65535,480,\"", line);
            Assert.InRange(line.Length, 1000, UbloxCommands.MaxCommandLine);
        }

        [Theory]
        [MemberData(nameof(Seeds))]
        public void Sara_authenticate_over_cgla_with_bare_and_hex_session_ids(int seed, int maxFragment)
        {
            TranscriptRig r = Open("sara-r410m-usim-cgla.txt", seed, maxFragment);
            var m = new SaraR4Modem(r.Channel, r.Clock, r.Clock, r.Key, null);

            Assert.Equal(ModemError.Ok, m.ProbeCapabilities());
            Assert.Equal(SimAccessPaths.LogicalChannel | SimAccessPaths.Crsm, m.SimPaths);

            var result = new AuthenticateResult();
            Assert.Equal(ModemError.Ok, m.Authenticate(Set1Rand(), Set1Autn(), result));
            Assert.Equal(AuthenticateKind.Success, result.Kind);
            Assert.False(result.HasKc);
            Assert.Equal("b40ba9a3c58b2a05bbf0d987b21bf8cb", Hex.Encode(result.Ck));

            byte[] tampered = Set1Autn();
            tampered[15] ^= 0x07;
            Assert.Equal(ModemError.Ok, m.Authenticate(Set1Rand(), tampered, result));
            Assert.Equal(AuthenticateKind.MacFailure, result.Kind);
            Assert.Equal(0x9862, result.Status.Value);

            var keys = new UsimKeys();
            Assert.Equal(ModemError.Ok, m.ReadKeysPs(keys));
            Assert.False(keys.HasKey); // KSI 07
            Assert.Equal(ModemError.Ok, m.ReadEfImsi(out string imsi));
            Assert.Equal("001010123456789", imsi);
            Done(r, seed);
        }

        /// <summary>Inline script: only +CSIM exists and the modem blocks INS 88 with +CME ERROR: 3 → typed ModemRefused.</summary>
        [Fact]
        public void Cme_error_3_on_authenticate_is_a_typed_refusal()
        {
            string path = Path.Combine(Path.GetTempPath(), "e2m-cme3-" + Environment.ProcessId + ".txt");
            File.WriteAllText(path, string.Join("\n", new[]
            {
                ">> AT+CRSM=192,12032", "<< +CRSM: 106,130", "<< OK",
                ">> AT+CCHO=\"A0000000871002\"", "<< +CME ERROR: 4",
                ">> AT+CSIM=10,\"0070000001\"", "<< +CSIM: 6,\"019000\"", "<< OK",
                ">> AT+CSIM=10,\"0070800100\"", "<< +CSIM: 4,\"9000\"", "<< OK",
                ">> AT+CRSM=176,28589,0,0,4", "<< +CRSM: 106,130", "<< OK",
                ">> AT+CSIM=10,\"0070000001\"", "<< +CSIM: 6,\"019000\"", "<< OK",
                ">> AT+CSIM=24,\"01A4040407A0000000871002\"", "<< +CSIM: 4,\"9000\"", "<< OK",
                ">> AT+CSIM=80,\"01880081221023553CBE9637A89D218AE64DAE47BF351055F328B43577B9B94A9FFAC354DFAFB300\"", "<< +CME ERROR: 3",
                ">> AT+CSIM=10,\"0070800100\"", "<< +CSIM: 4,\"9000\"", "<< OK",
            }) + "\n");
            try
            {
                Transcript t = Transcript.Load(path);
                var clock = new FakeClock();
                var modem = new ScriptedModem(t, clock, 7, 5);
                var m = new Bg9xModem(new AtChannel(modem, clock, clock), clock, clock, null!, null!);
                Assert.Equal(ModemError.Ok, m.ProbeCapabilities());
                Assert.Equal(SimAccessPaths.Csim, m.SimPaths); // EF_AD 6A82: +CRSM path not usable here
                var result = new AuthenticateResult();
                Assert.Equal(ModemError.Ok, m.Authenticate(Set1Rand(), Set1Autn(), result));
                Assert.Equal(AuthenticateKind.ModemRefused, result.Kind);
                Assert.Equal(3, result.ModemErrorCode);
                Assert.True(modem.Finished, modem.Position);
            }
            finally
            {
                File.Delete(path);
            }
        }
    }
}

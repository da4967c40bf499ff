using System;
using E2m.Hal;
using E2m.Modem.Commands;
using E2m.Modem.Usim;
using E2m.TestSupport;
using Xunit;

namespace E2m.Modem.Tests.Commands
{
    /// <summary>Catalogue parsers with the field variants seen in modems.md (BG9x, SARA-R4, 27.007 examples).</summary>
    public class CatalogueParserTests
    {
        [Theory]
        [InlineData("+CEREG: 2,1,\"3a9b\",\"0000c33d\",7", 2, 1, 0x3a9b, 0xc33dL, 7)]       // U11 p138 read
        [InlineData("+CEREG:2,5,\"3A9B\",\"0000C33D\",9", 2, 5, 0x3a9b, 0xc33dL, 9)]          // no space, upper case, NB-IoT
        [InlineData("+CEREG: 2, 1, 3a9b, 0000c33d, 7", 2, 1, 0x3a9b, 0xc33dL, 7)]             // unquoted, spaces
        [InlineData("+CEREG: 0,1", 0, 1, -1, -1L, -1)]                                        // n=0
        [InlineData("+CEREG: 2,2", 2, 2, -1, -1L, -1)]                                        // searching, no location
        [InlineData("+CEREG: 2,3,\"\",\"\",7", 2, 3, -1, -1L, 7)]                             // denied, empty quoted fields
        public void Cereg_read_variants(string line, int n, int stat, int tac, long ci, int act)
        {
            RegistrationInfo i = RegistrationParser.Parse(line, RegistrationDomain.Eps);
            Assert.Equal(n, i.N);
            Assert.Equal((RegistrationState)stat, i.Stat);
            Assert.Equal(tac, i.AreaCode);
            Assert.Equal(ci, i.CellId);
            Assert.Equal(act, i.AcT);
        }

        [Theory]
        [InlineData("+CEREG: 1,\"3a9b\",\"0000c33d\",7", 1, 0x3a9b, 7)]                       // U11 p138 URC
        [InlineData("+CEREG: 5", 5, -1, -1)]
        [InlineData("+CEREG: 2", 2, -1, -1)]
        [InlineData("+CEREG: 5,\"0140\",\"0A0B0C0D\",9", 5, 0x140, 9)]
        public void Cereg_urc_variants(string line, int stat, int tac, int act)
        {
            RegistrationInfo i = RegistrationParser.Parse(line, RegistrationDomain.Eps);
            Assert.Equal(-1, i.N);
            Assert.Equal((RegistrationState)stat, i.Stat);
            Assert.Equal(tac, i.AreaCode);
            Assert.Equal(act, i.AcT);
        }

        [Fact]
        public void Cereg_n4_carries_psm_timers_as_bit_strings()
        {
            RegistrationInfo i = RegistrationParser.ParseRead("+CEREG: 4,1,\"3a9b\",\"0000c33d\",7,,,\"00100001\",\"00000110\"", RegistrationDomain.Eps);
            Assert.Equal(0x21, i.ActiveTime);
            Assert.Equal(60, PsmTimers.ActiveTimeSeconds(i.ActiveTime));        // 001 = 1 min × 1
            Assert.Equal(0x06, i.PeriodicUpdate);
            Assert.Equal(3600, PsmTimers.PeriodicTauSeconds(i.PeriodicUpdate)); // 000 = 10 min × 6
            Assert.True(i.IsRegistered);

            RegistrationInfo u = RegistrationParser.ParseUrc("+CEREG: 1,\"3a9b\",\"0000c33d\",7,0,15,\"11100000\",\"01000011\"", RegistrationDomain.Eps);
            Assert.Equal(0, u.CauseType);
            Assert.Equal(15, u.RejectCause);
            Assert.Equal(-1, PsmTimers.ActiveTimeSeconds(u.ActiveTime));        // 111 = deactivated
            Assert.Equal(3 * 36000, PsmTimers.PeriodicTauSeconds(u.PeriodicUpdate)); // 010 = 10 h × 3
        }

        [Fact]
        public void Cgreg_has_rac_before_the_cause()
        {
            RegistrationInfo i = RegistrationParser.ParseRead("+CGREG: 2,1,\"00C3\",\"0000A13F\",0,\"01\"", RegistrationDomain.Gprs);
            Assert.Equal(0xc3, i.AreaCode);
            Assert.Equal(0, i.AcT);
            Assert.Equal(1, i.RoutingArea);
        }

        [Theory]
        [InlineData("+CEREG: ")]
        [InlineData("+CEREG: 2,11")]
        [InlineData("+CEREG: x")]
        [InlineData("+CEREG: 2,1,\"3a9b")]
        [InlineData("+CEREG: 2,1,\"123456\"")]
        [InlineData("+CEREG: 4,1,\"3a9b\",\"0000c33d\",7,,,\"0010001\",\"00000110\"")]
        [InlineData("+CREG: 2,1")]
        public void Cereg_garbage_is_rejected(string line)
        {
            Assert.ThrowsAny<MalformedInputException>(() => RegistrationParser.Parse(line, RegistrationDomain.Eps));
        }

        [Theory]
        [InlineData(10, 0x05)]         // 2 s × 5
        [InlineData(60, 0x1E)]         // 2 s × 30
        [InlineData(90, 0x22)]         // 1 min × 2 (rounded up)
        [InlineData(3600, 0x4A)]       // 6 min × 10
        [InlineData(-1, 0xE0)]
        public void Active_time_encoding(long seconds, int octet)
        {
            Assert.Equal(octet, PsmTimers.EncodeActiveTime(seconds));
            if (seconds > 0) Assert.True(PsmTimers.ActiveTimeSeconds(octet) >= seconds);
        }

        [Fact]
        public void Periodic_tau_encoding_is_the_smallest_fitting_unit()
        {
            int octet = PsmTimers.EncodePeriodicTau(3600);
            Assert.Equal(0x06, octet);                 // 10 min × 6: 2 s/30 s/1 min units cannot hold 3600 s in 5 bits
            Assert.Equal("00000110", PsmTimers.ToBits(octet));
            Assert.Equal(86400, PsmTimers.PeriodicTauSeconds(PsmTimers.EncodePeriodicTau(86400)));
            Assert.Equal("1,,,\"00000110\",\"00100001\"", NetworkCommands.CpsmsArguments(0x06, 0x21));
        }

        [Theory]
        [InlineData("+CPIN: READY", PinState.Ready)]
        [InlineData("+CPIN:READY", PinState.Ready)]
        [InlineData("+CPIN: \"READY\"", PinState.Ready)]
        [InlineData("+CPIN: SIM PIN", PinState.SimPin)]
        [InlineData("+CPIN: SIM PUK", PinState.SimPuk)]
        [InlineData("+CPIN: PH-NET PIN", PinState.PhoneLock)]
        [InlineData("+CPIN: NOT INSERTED", PinState.NotReady)]
        public void Cpin_variants(string line, PinState state) => Assert.Equal(state, MobileTerminationCommands.ParseCpin(line));

        [Fact]
        public void Cpin_unknown_code_is_rejected() => Assert.Throws<UsimException>(() => MobileTerminationCommands.ParseCpin("+CPIN: MAYBE"));

        [Theory]
        [InlineData("460023210226023", "460023210226023")]     // Q-CN §5.1
        [InlineData("+CIMI: 001010123456789", "001010123456789")]
        [InlineData(" 262019876543210 ", "262019876543210")]
        public void Cimi_variants(string line, string imsi) => Assert.Equal(imsi, GeneralCommands.ParseImsi(line));

        [Theory]
        [InlineData("4600232102260231234")]
        [InlineData("46002A210226023")]
        [InlineData("12345")]
        public void Cimi_garbage_is_rejected(string line) => Assert.ThrowsAny<MalformedInputException>(() => GeneralCommands.ParseImsi(line));

        [Theory]
        [InlineData("866425031234567")]
        [InlineData("+CGSN: \"866425031234567\"")]
        public void Cgsn_variants(string line) => Assert.Equal("866425031234567", GeneralCommands.ParseImei(line));

        [Theory]
        [InlineData("+COPS: 0,0,\"Telekom.de\",9", 0, 0, "Telekom.de", 9)]   // modems.md §1.3 real BG95
        [InlineData("+COPS: 0,2,\"26201\",7", 0, 2, "26201", 7)]
        [InlineData("+COPS: 0", 0, -1, null, -1)]
        [InlineData("+COPS: 1,2,26201", 1, 2, "26201", -1)]
        public void Cops_variants(string line, int mode, int format, string? oper, int act)
        {
            OperatorInfo o = NetworkCommands.ParseCops(line);
            Assert.Equal(mode, o.Mode);
            Assert.Equal(format, o.Format);
            Assert.Equal(oper, o.Operator);
            Assert.Equal(act, o.AcT);
        }

        [Fact]
        public void AcT_numbering_differs_between_Quectel_cops_and_27007()
        {
            Assert.Equal(RadioAccess.LteM, NetworkCommands.AccessFromQuectelCops(8));
            Assert.Equal(RadioAccess.EcGsmIot, NetworkCommands.AccessFromTs27007(8));
            Assert.Equal(RadioAccess.LteM, NetworkCommands.AccessFromTs27007(7));
            Assert.Equal(RadioAccess.NbIot, NetworkCommands.AccessFromQuectelCops(9));
        }

        [Theory]
        [InlineData("+CPSMS: 1,,,\"01000011\",\"01000011\"", 1, 0x43, 0x43)]   // U11 p156
        [InlineData("+CPSMS: 0", 0, -1, -1)]
        [InlineData("+CPSMS: 1,,,01000011,00000101", 1, 0x43, 0x05)]
        public void Cpsms_variants(string line, int mode, int tau, int active)
        {
            PsmSettings p = NetworkCommands.ParseCpsms(line);
            Assert.Equal(mode, p.Mode);
            Assert.Equal(tau, p.RequestedPeriodicTau);
            Assert.Equal(active, p.RequestedActiveTime);
        }

        [Theory]
        [InlineData("+CSIM: 4,\"9000\"", "9000")]
        [InlineData("+CSIM: 4,9000", "9000")]
        [InlineData("+CSIM:6,\"019000\"", "019000")]              // EG95 MANAGE CHANNEL (modems.md §3)
        [InlineData("+CSIM: 4, \"6110\"", "6110")]
        public void Csim_variants(string line, string hex)
        {
            byte[] b = new byte[300];
            int n = SimAccessCommands.ParseCsim(line, b, 0);
            Assert.Equal(hex, Hex.Encode(b, 0, n));
        }

        [Theory]
        [InlineData("+CSIM: 6,\"9000\"", UsimError.AtLengthMismatch)]
        [InlineData("+CSIM: 3,\"900\"", UsimError.BadHex)]
        [InlineData("+CSIM: 2,\"90\"", UsimError.MissingStatusWord)]
        [InlineData("+CSIM: 4,\"90G0\"", UsimError.BadHex)]
        [InlineData("+CSIM: 4", UsimError.MissingAtField)]
        public void Csim_garbage_is_rejected(string line, UsimError error)
        {
            Assert.Equal(error, Assert.Throws<UsimException>(() => SimAccessCommands.ParseCsim(line, new byte[300], 0)).UsimError);
        }

        [Fact]
        public void Cgla_quectel_example()
        {
            byte[] b = new byte[8];
            Assert.Equal(2, SimAccessCommands.ParseCgla("+CGLA: 4,\"6121\"", b, 0)); // modems.md §3 (Q-CN)
            Assert.Equal("1,14,\"00A40804022F00\"", SimAccessCommands.CglaArguments("1", Hex.Decode("00a40804022f00"), 0, 7));
        }

        [Theory]
        [InlineData("+CRSM: 144,0,\"989301770020594178F2\"", 0x9000, "989301770020594178f2")]   // U16 p120
        [InlineData("+CRSM: 144,0,989301770020594178F2", 0x9000, "989301770020594178f2")]
        [InlineData("+CRSM: 148,4", 0x9404, "")]
        [InlineData("+CRSM: 106,130,\"\"", 0x6a82, "")]
        public void Crsm_variants(string line, int sw, string hex)
        {
            byte[] b = new byte[64];
            int n = SimAccessCommands.ParseCrsm(line, b, 0, out StatusWord s);
            Assert.Equal(sw, s.Value);
            Assert.Equal(hex, Hex.Encode(b, 0, n));
        }

        [Fact]
        public void Crsm_arguments_for_EF_KeysPS() =>
            Assert.Equal("176,28425,0,0,33", SimAccessCommands.CrsmReadBinaryArguments(UsimFiles.EfKeysPs, 0, 33)); // DESIGN.md §3

        [Theory]
        [InlineData("+CCHO: 1", "1")]          // Quectel (modems.md §3)
        [InlineData("1", "1")]                 // 27.007 bare
        [InlineData(" 2 ", "2")]
        [InlineData("+CCHO: \"3\"", "3")]
        [InlineData("+CCHO: 0x1A2B3C4D", "0x1A2B3C4D")]
        [InlineData("3F00A1B2", "3F00A1B2")]   // hex-looking id (Sierra-style, 3gpp.md §4)
        public void Ccho_variants(string line, string id) => Assert.Equal(id, SimAccessCommands.ParseCchoSession(line));

        [Theory]
        [InlineData("+CCHO: ")]
        [InlineData("+CCHO: 1,2")]
        [InlineData("OKAY")]
        [InlineData("12345678901234567")]
        public void Ccho_garbage_is_rejected(string line) => Assert.ThrowsAny<MalformedInputException>(() => SimAccessCommands.ParseCchoSession(line));

        [Fact]
        public void Cclk_network_time()
        {
            NetworkTime t = MobileTerminationCommands.ParseCclk("+CCLK: \"24/03/15,10:20:30+04\"");
            Assert.Equal(new DateTime(2024, 3, 15, 9, 20, 30), t.ToUtc());
            Assert.True(t.IsPlausible);
            NetworkTime d = MobileTerminationCommands.ParseCclk("+CCLK: \"80/01/06,00:00:12\"");
            Assert.False(d.IsPlausible);
            Assert.False(MobileTerminationCommands.ParseCclk("+CCLK: \"70/01/01,00:00:05+00\"").IsPlausible); // Unix-epoch default, read as 2070
            Assert.False(MobileTerminationCommands.ParseCclk("+CCLK: \"04/01/01,00:00:05+00\"").IsPlausible); // SARA default (ModemSim)
            Assert.Equal(new DateTime(2024, 3, 15, 12, 20, 30), MobileTerminationCommands.ParseCclk("+CCLK: \"24/03/15,10:20:30-08\"").ToUtc());
            Assert.ThrowsAny<MalformedInputException>(() => MobileTerminationCommands.ParseCclk("+CCLK: \"24/13/15,10:20:30+04\""));
            Assert.ThrowsAny<MalformedInputException>(() => MobileTerminationCommands.ParseCclk("+CCLK: \"24-03-15,10:20:30+04\""));
        }

        [Fact]
        public void Vendor_socket_lines()
        {
            QuectelCommands.ParseQiopenUrc("+QIOPEN: 2,0", out int id, out int err);
            Assert.Equal((2, 0), (id, err));
            QuectelCommands.ParseQiopenUrc("+QIOPEN: 0,566", out id, out err);
            Assert.Equal(566, err);
            Assert.Equal(QuectelCommands.QiurcRecv, QuectelCommands.ParseQiurc("+QIURC: \"recv\",2", out id));
            Assert.Equal(2, id);
            Assert.Equal(QuectelCommands.QiurcRecv, QuectelCommands.ParseQiurc("+QIURC: \"recv\",1,16", out id)); // BG95 with length
            Assert.Equal(QuectelCommands.QiurcPdpDeact, QuectelCommands.ParseQiurc("+QIURC: \"pdpdeact\",1", out id));
            Assert.True(QuectelCommands.ParseQiactActive("+QIACT: 1,1,1,\"10.209.106.8\"", 1));

            Assert.Equal(3, UbloxCommands.ParseUsocr("+USOCR: 3"));
            UbloxCommands.ParseUusorf("+UUSORF: 3,16", out int s, out int len);
            Assert.Equal((3, 16), (s, len));
            Assert.Equal(16, UbloxCommands.ParseUsost("+USOST: 3,16"));
            byte[] b = new byte[32];
            Assert.Equal(4, UbloxCommands.ParseUsorfHex("+USORF: 3,\"151.9.34.66\",2222,4,\"41424344\"", b, 0));
            Assert.Equal("41424344", Hex.Encode(b, 0, 4));
            Assert.Equal(0, UbloxCommands.ParseUsorfHex("+USORF: 3,0", b, 0));
            Assert.Equal(UsimError.AtLengthMismatch, Assert.Throws<UsimException>(() => UbloxCommands.ParseUsorfHex("+USORF: 3,\"1.2.3.4\",1,4,\"414243\"", b, 0)).UsimError);
        }

        [Fact]
        public void Apn_and_host_are_checked()
        {
            Assert.Equal("1,\"IP\",\"iot.1nce.net\"", PacketDomainCommands.CgdcontArguments(1, "iot.1nce.net"));
            Assert.Throws<ArgumentException>(() => PacketDomainCommands.CgdcontArguments(1, "a\",\"b"));
            Assert.Throws<ArgumentException>(() => QuectelCommands.QiopenUdpArguments(1, 0, "1.2.3.4\"", 5683));
            Assert.Equal("1,0,\"UDP\",\"10.0.0.1\",5683,0,0", QuectelCommands.QiopenUdpArguments(1, 0, "10.0.0.1", 5683));
        }
    }
}

using System;
using System.Text.Json;
using E2m.Crypto;
using E2m.Hal;
using E2m.Modem.Usim;
using E2m.TestSupport;
using Xunit;

namespace E2m.Modem.Tests.Usim
{
    /// <summary>USIM APDUs and responses (TS 31.102 §7.1.2, TS 102 221) against TS 35.208 set 1 and osmo-auc-gen.</summary>
    public class UsimTests
    {
        private static JsonElement Set(int n)
        {
            foreach (JsonElement s in Vectors.Load("milenage-ts35208-sets1-6.json").RootElement.GetProperty("test_sets").EnumerateArray())
            {
                if (s.GetProperty("set").GetInt32() == n) return s;
            }
            throw new InvalidOperationException("no set " + n);
        }

        private static byte[] V(JsonElement s, string name) => Hex.Decode(s.GetProperty(name).GetString());

        private static byte[] AutnOf(JsonElement s)
        {
            // TS 33.102 §6.3.2: AUTN = SQN xor AK || AMF || MAC-A
            byte[] sqn = V(s, "SQN"), ak = V(s, "f5"), autn = new byte[16];
            for (int i = 0; i < 6; i++) autn[i] = (byte)(sqn[i] ^ ak[i]);
            Array.Copy(V(s, "AMF"), 0, autn, 6, 2);
            Array.Copy(V(s, "f1"), 0, autn, 8, 8);
            return autn;
        }

        [Fact]
        public void Authenticate_apdu_matches_the_TS35208_set1_worked_example()
        {
            JsonElement s = Set(1);
            byte[] apdu = new byte[UsimApdu.AuthenticateApduLength];
            int n = UsimApdu.BuildAuthenticate3g(0, V(s, "RAND"), 0, AutnOf(s), 0, apdu, 0);
            // 3gpp.md §3 worked example (AUTN from osmo-auc-gen)
            Assert.Equal("00880081221023553cbe9637a89d218ae64dae47bf351055f328b43577b9b94a9ffac354dfafb300", Hex.Encode(apdu, 0, n));
            Assert.Equal(80, HexString.Encode(apdu, 0, n).Length);
        }

        [Theory]
        [InlineData(0, 0x00)]
        [InlineData(1, 0x01)]
        [InlineData(3, 0x03)]
        [InlineData(4, 0x40)]
        [InlineData(5, 0x41)]
        [InlineData(19, 0x4F)]
        public void Cla_carries_the_logical_channel_per_TS102221_10_1_1(int channel, int cla)
        {
            Assert.Equal(cla, UsimApdu.ClaForChannel(channel));
            byte[] apdu = new byte[40];
            UsimApdu.BuildAuthenticate3g(channel, new byte[16], 0, new byte[16], 0, apdu, 0);
            Assert.Equal(cla, apdu[0]);
        }

        [Fact]
        public void Cla_rejects_channel_20() => Assert.Throws<ArgumentOutOfRangeException>(() => UsimApdu.ClaForChannel(20));

        [Fact]
        public void Manage_channel_select_get_response_and_reissue()
        {
            byte[] b = new byte[32];
            Assert.Equal("0070000001", Hex.Encode(b, 0, UsimApdu.BuildManageChannelOpen(b, 0)));
            Assert.Equal("0070800200", Hex.Encode(b, 0, UsimApdu.BuildManageChannelClose(2, b, 0)));
            byte[] aid = UsimApdu.UsimAidPrefix();
            Assert.Equal("01a4040407a0000000871002", Hex.Encode(b, 0, UsimApdu.BuildSelectByAid(1, aid, 0, aid.Length, b, 0)));
            Assert.Equal("42c0000035", Hex.Encode(b, 0, UsimApdu.BuildGetResponse(6, 0x35, b, 0)));
            int n = UsimApdu.BuildGetResponse(1, 0, b, 0);
            Assert.Equal("01c0000010", Hex.Encode(b, 0, UsimApdu.ReissueWithLe(b, 0, n, 0x10, b, 0)));
        }

        /// <summary>The USIM's 'DB' answer for set 1 built from the vector values, with and without Kc.</summary>
        [Theory]
        [InlineData(true)]
        [InlineData(false)]
        public void Success_response_of_set1_gives_RES_CK_IK_exactly(bool withKc)
        {
            JsonElement s = Set(1);
            byte[] res = V(s, "f2"), ck = V(s, "f3"), ik = V(s, "f4");
            byte[] kc = new byte[8];
            for (int i = 0; i < 8; i++) kc[i] = (byte)(ck[i] ^ ck[i + 8] ^ ik[i] ^ ik[i + 8]); // c3 (TS 33.102 §6.8.1.2)
            string hex = "db08" + Hex.Encode(res) + "10" + Hex.Encode(ck) + "10" + Hex.Encode(ik) + (withKc ? "08" + Hex.Encode(kc) : "") + "9000";
            if (withKc)
            {
                // exactly the +CSIM answer of the 3gpp.md §3 worked example
                Assert.Equal("DB08A54211D5E3BA50BF10B40BA9A3C58B2A05BBF0D987B21BF8CB10F769BCD751044604127672711C6D344108EAE4BE823AF9A08B9000", hex.ToUpperInvariant());
            }

            byte[] response = Hex.Decode(hex);
            var r = new AuthenticateResult();
            AuthenticateResponse.Parse(response, 0, response.Length, r);
            Assert.Equal(AuthenticateKind.Success, r.Kind);
            Assert.Equal(8, r.ResLength);
            Assert.Equal(Hex.Encode(res), Hex.Encode(r.Res, 0, r.ResLength));
            Assert.Equal(Hex.Encode(ck), Hex.Encode(r.Ck));
            Assert.Equal(Hex.Encode(ik), Hex.Encode(r.Ik));
            Assert.Equal(withKc, r.HasKc);
            if (withKc) Assert.Equal("eae4be823af9a08b", Hex.Encode(r.Kc));
            Assert.Equal(0x9000, r.Status.Value);
            r.Clear();
            Assert.Equal(new byte[16], r.Ck);
            Assert.Equal(new byte[16], r.Ik);
        }

        [Theory]
        [InlineData(4)]
        [InlineData(16)]
        public void Res_lengths_4_to_16_are_accepted(int resLength)
        {
            byte[] response = Hex.Decode("db" + resLength.ToString("x2") + new string('1', 2 * resLength) + "10" + new string('2', 32) + "10" + new string('3', 32) + "9000");
            var r = new AuthenticateResult();
            AuthenticateResponse.Parse(response, 0, response.Length, r);
            Assert.Equal(resLength, r.ResLength);
        }

        /// <summary>TS 102 221 §10.2.1.1: '91 xx' is a normal ending (a SIM toolkit card flags a pending proactive command) and
        /// carries the same response data as '90 00'; the card has used the challenge, so refusing it would lose the key.</summary>
        [Theory]
        [InlineData("9110", AuthenticateKind.Success)]
        [InlineData("9101", AuthenticateKind.Success)]
        public void Success_with_a_proactive_command_pending_is_success(string sw, AuthenticateKind kind)
        {
            byte[] response = Hex.Decode("db08" + new string('1', 16) + "10" + new string('2', 32) + "10" + new string('3', 32) + sw);
            var r = new AuthenticateResult();
            AuthenticateResponse.Parse(response, 0, response.Length, r);
            Assert.Equal(kind, r.Kind);
            Assert.Equal(new string('2', 32), Hex.Encode(r.Ck));
            byte[] sync = Hex.Decode("DC0E8711A0EC9E1637DF17F80B384EE4" + sw);
            AuthenticateResponse.Parse(sync, 0, sync.Length, r);
            Assert.Equal(AuthenticateKind.SyncFailure, r.Kind);
        }

        [Fact]
        public void Sync_failure_from_libosmocore_example_gives_AUTS()
        {
            // 3gpp.md §3: libosmocore milenage_test.c, K = OPc = 000102..0f, RAND = 0, SQN_MS = 00000000001f
            byte[] response = Hex.Decode("DC0E8711A0EC9E1637DF17F80B384EE49000");
            var r = new AuthenticateResult();
            AuthenticateResponse.Parse(response, 0, response.Length, r);
            Assert.Equal(AuthenticateKind.SyncFailure, r.Kind);
            Assert.Equal("8711a0ec9e1637df17f80b384ee4", Hex.Encode(r.Auts));
        }

        /// <summary>AUTS built by E2m.Crypto for set 1, wrapped in a 'DC' response, parsed, then handed to osmo-auc-gen -A.</summary>
        [SkippableTheory]
        [InlineData("000000001234", 4660)]
        [InlineData("00000000001f", 31)]
        [InlineData("ff9bb4d0b5e0", 281044218590688)]
        public void Auts_from_a_DC_response_is_accepted_by_osmo_auc_gen(string sqnMsHex, long sqnMs)
        {
            string tool = ExternalTool.Require("osmo-auc-gen", "libosmocore-utils");
            JsonElement s = Set(1);
            var m = new Milenage(new PortableCryptoProvider().CreateAes128());
            m.SetKey(V(s, "K"), V(s, "OPc"));
            byte[] auts = new byte[14];
            Aka.BuildAuts(m, V(s, "RAND"), Hex.Decode(sqnMsHex), auts);

            byte[] response = Hex.Decode("dc0e" + Hex.Encode(auts) + "9000");
            var r = new AuthenticateResult();
            AuthenticateResponse.Parse(response, 0, response.Length, r);
            Assert.Equal(AuthenticateKind.SyncFailure, r.Kind);

            var run = ExternalTool.Run(tool, new[]
            {
                "-3", "-a", "milenage", "-k", s.GetProperty("K").GetString()!, "-o", s.GetProperty("OPc").GetString()!,
                "-r", s.GetProperty("RAND").GetString()!, "-A", Hex.Encode(r.Auts),
            });
            string sqnLine = "";
            foreach (string line in run.StdOut.Split('\n'))
            {
                if (line.StartsWith("SQN.MS:", StringComparison.Ordinal)) sqnLine = line.Substring(7).Trim();
            }
            Assert.True(run.ExitCode == 0, "osmo-auc-gen: " + run.StdErr + run.StdOut);
            Assert.Equal(sqnMs.ToString(System.Globalization.CultureInfo.InvariantCulture), sqnLine);
        }

        [Theory]
        [InlineData("9862", AuthenticateKind.MacFailure, StatusCategory.AuthenticationMacFailure)]
        [InlineData("6982", AuthenticateKind.Refused, StatusCategory.SecurityStatusNotSatisfied)]
        [InlineData("6d00", AuthenticateKind.Refused, StatusCategory.InsNotSupported)]
        [InlineData("6e00", AuthenticateKind.Refused, StatusCategory.ClaNotSupported)]
        [InlineData("6985", AuthenticateKind.Refused, StatusCategory.ConditionsOfUseNotSatisfied)]
        [InlineData("9864", AuthenticateKind.Refused, StatusCategory.SecurityContextNotSupported)]
        [InlineData("9804", AuthenticateKind.Refused, StatusCategory.SecurityStatusNotSatisfied)]
        [InlineData("6f00", AuthenticateKind.Refused, StatusCategory.TechnicalProblem)]
        public void Status_words_are_typed(string sw, AuthenticateKind kind, StatusCategory category)
        {
            byte[] response = Hex.Decode(sw);
            var r = new AuthenticateResult();
            AuthenticateResponse.Parse(response, 0, response.Length, r);
            Assert.Equal(kind, r.Kind);
            Assert.Equal(category, r.Status.Category);
            Assert.Equal(sw.ToUpperInvariant(), r.Status.ToString());
        }

        [Theory]
        [InlineData("6110", StatusCategory.MoreData)]
        [InlineData("6c08", StatusCategory.WrongLe)]
        [InlineData("6a82", StatusCategory.FileNotFound)]
        [InlineData("6a86", StatusCategory.IncorrectP1P2)]
        [InlineData("9000", StatusCategory.Ok)]
        [InlineData("9112", StatusCategory.OkProactivePending)]
        [InlineData("6881", StatusCategory.LogicalChannelNotSupported)]
        [InlineData("1234", StatusCategory.Other)]
        public void Status_word_categories(string sw, StatusCategory category)
        {
            byte[] b = Hex.Decode(sw);
            Assert.Equal(category, new StatusWord(b[0], b[1]).Category);
        }

        [Theory]
        [InlineData("", UsimError.MissingStatusWord)]
        [InlineData("90", UsimError.MissingStatusWord)]
        [InlineData("9000", UsimError.MissingData)]
        [InlineData("aa9000", UsimError.UnknownAuthenticateTag)]
        [InlineData("db9000", UsimError.Truncated)]
        [InlineData("db03aabbcc9000", UsimError.BadResLength)]
        [InlineData("db1100000000000000000000000000000000009000", UsimError.BadResLength)]
        [InlineData("db04112233449000", UsimError.Truncated)]
        [InlineData("db0411223344", UsimError.UnexpectedData)]
        [InlineData("db04112233440f000000000000000000000000000000009000", UsimError.BadKeyLength)]
        [InlineData("db041122334410000000000000000000000000000000001100000000000000000000000000000000009000", UsimError.BadKeyLength)]
        [InlineData("db0411223344" + "10" + "00000000000000000000000000000000" + "10" + "00000000000000000000000000000000" + "07" + "00000000000000" + "9000", UsimError.BadKcLength)]
        [InlineData("db0411223344" + "10" + "00000000000000000000000000000000" + "10" + "00000000000000000000000000000000" + "08" + "0000000000000000" + "ff9000", UsimError.TrailingOctets)]
        [InlineData("dc0d00000000000000000000000000009000", UsimError.BadAutsLength)]
        [InlineData("dc0e000000000000000000000000000000009000", UsimError.TrailingOctets)]
        [InlineData("dc0e00000000000000000000009000", UsimError.Truncated)]
        [InlineData("dc0e00000000000000000000000000009862", UsimError.UnexpectedData)]
        public void Malformed_responses_throw_the_MalformedInputException_family(string hex, UsimError error)
        {
            byte[] response = Hex.Decode(hex);
            var r = new AuthenticateResult();
            MalformedInputException e = Assert.ThrowsAny<MalformedInputException>(() => AuthenticateResponse.Parse(response, 0, response.Length, r));
            Assert.Equal(error, Assert.IsType<UsimException>(e).UsimError);
            Assert.Equal((int)error, e.Code);
            Assert.Equal(AuthenticateKind.None, r.Kind);
            Assert.Equal(new byte[16], r.Ck); // nothing half-parsed survives
        }

        [Theory]
        [InlineData("080910101032547698", "001010123456789")]  // brief example
        [InlineData("082982608200002080", "228062800000208")]  // pySim ts_51_011 example (3gpp.md §3)
        [InlineData("0821600200010132f4", "20620001010234")]  // even digit count: parity '1', filler 'F'
        [InlineData("08296002000101320400", "206200010102340")]  // trailing octets after L are ignored (file is 9 octets)
        public void EF_IMSI_decodes_BCD_with_parity(string ef, string imsi)
        {
            byte[] b = Hex.Decode(ef);
            Assert.Equal(imsi, EfImsi.Decode(b, 0, b.Length));
        }

        [Theory]
        [InlineData("0099101010325476", UsimError.BadImsiLength)]
        [InlineData("09091010103254769800", UsimError.BadImsiLength)]
        [InlineData("080510101032547698", UsimError.BadImsiParity)]
        [InlineData("0809101010325476a8", UsimError.BadImsiDigit)]
        [InlineData("08011010103254769f", UsimError.BadImsiDigit)]
        [InlineData("ffffffffffffffffff", UsimError.BadImsiLength)]
        public void EF_IMSI_rejects_bad_content(string ef, UsimError error)
        {
            byte[] b = Hex.Decode(ef);
            Assert.Equal(error, Assert.Throws<UsimException>(() => EfImsi.Decode(b, 0, b.Length)).UsimError);
        }

        [Theory]
        [InlineData("00000002", 2)]
        [InlineData("00000003", 3)]
        [InlineData("800000f3", 3)]
        [InlineData("000000", 0)]
        [InlineData("0000000f", 0)]
        public void EF_AD_gives_the_MNC_length(string ef, int mnc)
        {
            byte[] b = Hex.Decode(ef);
            Assert.Equal(mnc, EfAd.Decode(b, 0, b.Length).MncLength);
        }

        [Fact]
        public void EF_KeysPS_with_a_key_and_with_KSI_07()
        {
            JsonElement s = Set(1);
            byte[] ef = Hex.Decode("03" + Hex.Encode(V(s, "f3")) + Hex.Encode(V(s, "f4")));
            var k = new UsimKeys();
            k.Decode(ef, 0, ef.Length);
            Assert.True(k.HasKey);
            Assert.Equal(3, k.Ksi);
            Assert.Equal(s.GetProperty("f3").GetString(), Hex.Encode(k.Ck));
            Assert.Equal(s.GetProperty("f4").GetString(), Hex.Encode(k.Ik));

            ef[0] = 0x07; // TS 31.102 §4.2.4: KSI '07' = no key available
            k.Decode(ef, 0, ef.Length);
            Assert.False(k.HasKey);
            Assert.Equal(new byte[16], k.Ck);

            byte[] erased = Hex.Decode(new string('f', 66));
            k.Decode(erased, 0, erased.Length);
            Assert.False(k.HasKey);

            ef[0] = 0x13;
            Assert.Equal(UsimError.BadKsi, Assert.Throws<UsimException>(() => k.Decode(ef, 0, ef.Length)).UsimError);
            Assert.Equal(UsimError.BadKeysLength, Assert.Throws<UsimException>(() => k.Decode(ef, 0, 32)).UsimError);
        }

        [Fact]
        public void Hex_round_trip_and_rejection()
        {
            byte[] all = new byte[256];
            for (int i = 0; i < 256; i++) all[i] = (byte)i;
            string h = HexString.Encode(all);
            Assert.Equal(Convert.ToHexString(all), h);
            Assert.Equal(all, HexString.Decode(h));
            Assert.Equal(all, HexString.Decode(h.ToLowerInvariant()));
            Assert.Equal(UsimError.BadHex, Assert.Throws<UsimException>(() => HexString.Decode("abc")).UsimError);
            Assert.Equal(UsimError.BadHex, Assert.Throws<UsimException>(() => HexString.Decode("0g")).UsimError);
            Assert.Equal(UsimError.Truncated, Assert.Throws<UsimException>(() => HexString.Decode("0011", 0, 4, new byte[1], 0)).UsimError);
        }

        [Fact]
        public void Parsing_allocates_nothing_after_warm_up()
        {
            byte[] response = Hex.Decode("DB08A54211D5E3BA50BF10B40BA9A3C58B2A05BBF0D987B21BF8CB10F769BCD751044604127672711C6D344108EAE4BE823AF9A08B9000");
            var r = new AuthenticateResult();
            byte[] apdu = new byte[40];
            byte[] rand = new byte[16];
            AuthenticateResponse.Parse(response, 0, response.Length, r);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                UsimApdu.BuildAuthenticate3g(1, rand, 0, rand, 0, apdu, 0);
                AuthenticateResponse.Parse(response, 0, response.Length, r);
            }
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }
}

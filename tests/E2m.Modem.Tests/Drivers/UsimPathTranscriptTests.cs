using System;
using System.IO;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Drivers;
using E2m.Modem.Tests.At;
using E2m.Modem.Usim;
using E2m.TestSupport;
using Xunit;

namespace E2m.Modem.Tests.Drivers
{
    /// <summary>
    /// USIM access paths through the real drivers against scripted modems (tests/transcripts/drivers/*usim*.txt), fed
    /// in seeded random fragments with URCs and garbage: the full AID from EF_DIR (TS 102 221 §13.1) for +CCHO, and
    /// AUTHENTICATE on the basic channel when MANAGE CHANNEL is unsupported. Oracles: TS 35.208 set 1 (RES/CK/IK/Kc),
    /// osmo-auc-gen -A for the AUTS of the sync failure (skipped when the tool is absent outside CI).
    /// </summary>
    public class UsimPathTranscriptTests
    {
        private const string SyncAuts = "451e8becb60ffb2881324b1e6fa3"; // set 1 K/OPc/RAND, SQN_MS 000000001234 (osmo-auc-gen -A: 4660)

        public static TheoryData<int, int> Seeds() => TranscriptRig.Seeds();

        private static TranscriptRig Open(string file, int seed, int maxFragment) => TranscriptRig.Open(file, seed, maxFragment);

        private static TranscriptRig OpenInline(string[] lines, int seed) => TranscriptRig.OpenInline(lines, seed, 5);

        private static byte[] Set1Rand() => Hex.Decode("23553cbe9637a89d218ae64dae47bf35");

        private static byte[] Set1Autn() => Hex.Decode("55f328b43577b9b94a9ffac354dfafb3"); // 3gpp.md §5 (osmo-auc-gen)

        private static void AssertSet1(AuthenticateResult result, string at)
        {
            Assert.True(AuthenticateKind.Success == result.Kind, "kind " + (int)result.Kind + at);
            Assert.Equal("a54211d5e3ba50bf", Hex.Encode(result.Res, 0, result.ResLength)); // TS 35.208 set 1 f2
            Assert.Equal("b40ba9a3c58b2a05bbf0d987b21bf8cb", Hex.Encode(result.Ck));       // f3
            Assert.Equal("f769bcd751044604127672711c6d3441", Hex.Encode(result.Ik));       // f4
            Assert.True(result.HasKc);
            Assert.Equal("eae4be823af9a08b", Hex.Encode(result.Kc));                       // c3(CK, IK), 3gpp.md §3
        }

        [Theory]
        [MemberData(nameof(Seeds))]
        public void Ef_dir_gives_the_full_aid_for_ccho_and_authenticate(int seed, int maxFragment)
        {
            var r = Open("bg95-usim-efdir-full-aid.txt", seed, maxFragment);
            var m = new Bg9xModem(r.Channel, r.Clock, r.Clock, null!, null!);
            string at = " (seed " + seed + ", at " + r.Modem.Position + ")";

            Assert.True(ModemError.Ok == m.ProbeCapabilities(), "probe" + at);
            Assert.Equal(UsimAidSource.EfDir, m.Usim.AidSource);
            Assert.Equal("A0000000871002FFFFFFFF8907090000", m.Usim.AidHex);
            Assert.Equal(SimAccessPaths.LogicalChannel | SimAccessPaths.Csim | SimAccessPaths.Crsm | SimAccessPaths.UsimAidFromEfDir, m.SimPaths);
            Assert.Equal("ccho+csim+crsm+efdir-aid", SimAccessPaths.Describe(m.SimPaths));

            var result = new AuthenticateResult();
            Assert.True(ModemError.Ok == m.Authenticate(Set1Rand(), Set1Autn(), result), "authenticate" + at);
            AssertSet1(result, at);
            Assert.Equal(SimAccessPaths.LogicalChannel, m.Usim.LastAuthenticatePath);

            Assert.True(ModemError.Ok == m.Authenticate(Set1Rand(), Set1Autn(), result), "authenticate 2" + at);
            Assert.Equal(AuthenticateKind.SyncFailure, result.Kind);
            Assert.Equal(SyncAuts, Hex.Encode(result.Auts));
            Assert.True(r.Modem.Finished, "script not finished" + at);
        }

        [Theory]
        [MemberData(nameof(Seeds))]
        public void Without_manage_channel_authenticate_runs_on_the_basic_channel(int seed, int maxFragment)
        {
            var r = Open("sara-r410m-usim-basic-channel.txt", seed, maxFragment);
            var m = new SaraR4Modem(r.Channel, r.Clock, r.Clock, null!, null!);
            string at = " (seed " + seed + ", at " + r.Modem.Position + ")";

            Assert.True(ModemError.Ok == m.ProbeCapabilities(), "probe" + at);
            Assert.Equal(UsimAidSource.EfDir, m.Usim.AidSource);
            Assert.Equal(SimAccessPaths.CsimBasicChannel | SimAccessPaths.Crsm | SimAccessPaths.UsimAidFromEfDir, m.SimPaths);
            Assert.Equal(0x6881, m.Usim.ManageChannelStatusWord.Value);
            Assert.Equal(StatusCategory.LogicalChannelNotSupported, m.Usim.ManageChannelStatusWord.Category);

            var result = new AuthenticateResult();
            Assert.True(ModemError.Ok == m.Authenticate(Set1Rand(), Set1Autn(), result), "authenticate" + at);
            AssertSet1(result, at);
            Assert.Equal(SimAccessPaths.CsimBasicChannel, m.Usim.LastAuthenticatePath);

            Assert.True(ModemError.Ok == m.Authenticate(Set1Rand(), Set1Autn(), result), "authenticate 2" + at);
            Assert.Equal(AuthenticateKind.SyncFailure, result.Kind);
            Assert.Equal(SyncAuts, Hex.Encode(result.Auts));

            Assert.True(ModemError.Ok == m.Authenticate(Set1Rand(), Set1Autn(), result), "authenticate 3" + at);
            Assert.Equal(AuthenticateKind.ModemRefused, result.Kind); // +CME ERROR: 3 on INS 88 (3gpp.md §4)
            Assert.Equal(3, result.ModemErrorCode);
            Assert.Equal(SimAccessPaths.None, m.Usim.LastAuthenticatePath);
            Assert.True(r.Modem.Finished, "script not finished" + at);
        }

        /// <summary>
        /// Corrupt EF_DIR (template length past the record) → typed error, prefix fallback; the modem has no +CCHO,
        /// the card answers '6D 00' to MANAGE CHANNEL → basic channel with SELECT by the prefix (right-truncated AID).
        /// </summary>
        [Theory]
        [InlineData(1)]
        [InlineData(77)]
        public void Corrupt_ef_dir_falls_back_to_the_prefix_and_6d00_selects_the_basic_channel(int seed)
        {
            var r = OpenInline(new[]
            {
                ">> AT+CRSM=192,12032", "<< +CRSM: 144,0,\"621A8205422100200283022F008A01058B032F0601800200408801F0\"", "<< OK",
                ">> AT+CRSM=178,12032,1,4,32", "<< +CRSM: 144,0,\"61284F10A0000000871002FFFFFFFF890709000050045553494DFFFFFFFFFFFF\"", "<< OK",
                ">> AT+CRSM=178,12032,2,4,32", "<< +CRSM: 144,0,\"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\"", "<< OK",
                ">> AT+CCHO=\"A0000000871002\"", "<< +CME ERROR: 4",
                ">> AT+CSIM=10,\"0070000001\"", "<< +CSIM: 4,\"6D00\"", "<< OK",
                ">> AT+CSIM=10,\"80F2000C00\"", "<< +CSIM: 4,\"9000\"", "<< OK",
                ">> AT+CRSM=176,28589,0,0,4", "<< +CRSM: 144,0,\"00000002\"", "<< OK",
                ">> AT+CSIM=24,\"00A4040407A0000000871002\"", "<< +CSIM: 4,\"9000\"", "<< OK",
                ">> AT+CSIM=80,\"00880081221023553CBE9637A89D218AE64DAE47BF351055F328B43577B9B94A9FFAC354DFAFB300\"",
                "<< +CSIM: 110,\"DB08A54211D5E3BA50BF10B40BA9A3C58B2A05BBF0D987B21BF8CB10F769BCD751044604127672711C6D344108EAE4BE823AF9A08B9000\"", "<< OK",
            }, seed);
            var m = new Bg9xModem(r.Channel, r.Clock, r.Clock, null!, null!);
            Assert.Equal(ModemError.Ok, m.ProbeCapabilities());
            Assert.Equal(UsimAidSource.PrefixDirMalformed, m.Usim.AidSource);
            Assert.Equal(UsimError.BadTlv, m.Usim.DirError);
            Assert.Equal("A0000000871002", m.Usim.AidHex);
            Assert.Equal(SimAccessPaths.CsimBasicChannel | SimAccessPaths.Crsm, m.SimPaths);
            Assert.Equal(StatusCategory.InsNotSupported, m.Usim.ManageChannelStatusWord.Category);
            var result = new AuthenticateResult();
            Assert.Equal(ModemError.Ok, m.Authenticate(Set1Rand(), Set1Autn(), result));
            AssertSet1(result, " (seed " + seed + ")");
            Assert.True(r.Modem.Finished, r.Modem.Position);
        }

        /// <summary>MANAGE CHANNEL refused by the modem (+CME ERROR: 3) and EF_DIR unreadable ('69 82'): basic channel, prefix.</summary>
        [Fact]
        public void Modem_refusing_manage_channel_also_selects_the_basic_channel()
        {
            var r = OpenInline(new[]
            {
                ">> AT+CRSM=192,12032", "<< +CRSM: 144,0,\"621A8205422100200183022F008A01058B032F0601800200208801F0\"", "<< OK",
                ">> AT+CRSM=178,12032,1,4,32", "<< +CRSM: 105,130", "<< OK",
                ">> AT+CCHO=\"A0000000871002\"", "<< ERROR",
                ">> AT+CSIM=10,\"0070000001\"", "<< +CME ERROR: 3",
                ">> AT+CSIM=10,\"80F2000C00\"", "<< +CSIM: 4,\"9000\"", "<< OK",
                ">> AT+CRSM=176,28589,0,0,4", "<< +CRSM: 144,0,\"00000002\"", "<< OK",
            }, 3);
            var m = new SaraR4Modem(r.Channel, r.Clock, r.Clock, null!, null!);
            Assert.Equal(ModemError.Ok, m.ProbeCapabilities());
            Assert.Equal(UsimAidSource.PrefixDirUnreadable, m.Usim.AidSource);
            Assert.Equal(0x6982, m.Usim.DirStatusWord.Value);
            Assert.Equal(SimAccessPaths.CsimBasicChannel | SimAccessPaths.Crsm, m.SimPaths);
            Assert.Equal(0, m.Usim.ManageChannelStatusWord.Value); // the modem, not the card, refused
            Assert.True(r.Modem.Finished, r.Modem.Position);
        }

        /// <summary>The modem reboots while EF_DIR is being read: the probe stops with Rebooted, the prefix stays in use.</summary>
        [Fact]
        public void Reboot_during_the_ef_dir_read_ends_the_probe_with_rebooted()
        {
            var r = OpenInline(new[]
            {
                ">> AT+CRSM=192,12032", "<< +CRSM: 144,0,\"621A8205422100200183022F008A01058B032F0601800200208801F0\"", "<< OK",
                ">> AT+CRSM=178,12032,1,4,32", "<< RDY",
            }, 4);
            var m = new Bg9xModem(r.Channel, r.Clock, r.Clock, null!, null!);
            Assert.Equal(ModemError.Rebooted, m.ProbeCapabilities());
            Assert.Equal(UsimAidSource.PrefixDirUnreadable, m.Usim.AidSource);
            Assert.Equal("A0000000871002", m.Usim.AidHex);
            Assert.Equal(SimAccessPaths.None, m.SimPaths);
            Assert.True(r.Modem.Finished, r.Modem.Position);
        }

        /// <summary>EF_DIR well formed but only an ISIM: PrefixNoUsimInDir.</summary>
        [Fact]
        public void Ef_dir_without_usim_keeps_the_prefix()
        {
            var r = OpenInline(new[]
            {
                ">> AT+CRSM=192,12032", "<< +CRSM: 144,0,\"621A8205422100200183022F008A01058B032F0601800200208801F0\"", "<< OK",
                ">> AT+CRSM=178,12032,1,4,32", "<< +CRSM: 144,0,\"61184F10A0000000871004FFFFFFFF890709000050044953494DFFFFFFFFFFFF\"", "<< OK",
                ">> AT+CCHO=\"A0000000871002\"", "<< 7", "<< OK",
                ">> AT+CCHC=7", "<< OK",
                ">> AT+CSIM=10,\"0070000001\"", "<< +CSIM: 6,\"019000\"", "<< OK",
                ">> AT+CSIM=10,\"0070800100\"", "<< +CSIM: 4,\"9000\"", "<< OK",
                ">> AT+CRSM=176,28589,0,0,4", "<< +CRSM: 144,0,\"00000002\"", "<< OK",
            }, 9);
            var m = new Bg9xModem(r.Channel, r.Clock, r.Clock, null!, null!);
            Assert.Equal(ModemError.Ok, m.ProbeCapabilities());
            Assert.Equal(UsimAidSource.PrefixNoUsimInDir, m.Usim.AidSource);
            Assert.Equal("A0000000871002", m.Usim.AidHex);
            Assert.Equal(SimAccessPaths.LogicalChannel | SimAccessPaths.Csim | SimAccessPaths.Crsm, m.SimPaths);
            Assert.True(r.Modem.Finished, r.Modem.Position);
        }

        /// <summary>The AUTS that came through the basic-channel transcript is accepted by osmo-auc-gen -A (SQN.MS 4660).</summary>
        [SkippableFact]
        public void Auts_from_the_basic_channel_transcript_is_accepted_by_osmo_auc_gen()
        {
            string tool = ExternalTool.Require("osmo-auc-gen", "libosmocore-utils");
            var r = Open("sara-r410m-usim-basic-channel.txt", 11, 7);
            var m = new SaraR4Modem(r.Channel, r.Clock, r.Clock, null!, null!);
            Assert.Equal(ModemError.Ok, m.ProbeCapabilities());
            var result = new AuthenticateResult();
            Assert.Equal(ModemError.Ok, m.Authenticate(Set1Rand(), Set1Autn(), result));
            Assert.Equal(ModemError.Ok, m.Authenticate(Set1Rand(), Set1Autn(), result));
            Assert.Equal(AuthenticateKind.SyncFailure, result.Kind);
            var run = ExternalTool.Run(tool, new[]
            {
                "-3", "-a", "milenage", "-k", "465b5ce8b199b49faa5f0a2ee238a6bc", "-o", "cd63cb71954a9f4e48a5994e37a02baf",
                "-r", "23553cbe9637a89d218ae64dae47bf35", "-A", Hex.Encode(result.Auts),
            });
            Assert.True(run.ExitCode == 0, "osmo-auc-gen: " + run.StdErr + run.StdOut);
            Assert.Contains("SQN.MS:\t4660", run.StdOut.Replace(": ", ":\t"));
        }
    }
}

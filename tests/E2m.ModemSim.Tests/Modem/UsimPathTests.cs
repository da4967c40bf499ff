using System;
using E2m.Crypto;
using E2m.Modem.Drivers;
using E2m.Modem.Usim;
using E2m.ModemSim.Faults;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Usim;
using E2m.TestSupport;
using Xunit;

namespace E2m.ModemSim.Tests.Modem
{
    /// <summary>
    /// The firmware driver's USIM paths against the simulated modem and card: the full USIM AID from EF_DIR
    /// (TS 102 221 §13.1) for +CCHO, the prefix fallback when EF_DIR is missing / unreadable / corrupt, and
    /// AUTHENTICATE on the basic channel when the card (6881 / 6D00) or the modem (+CME ERROR: 3 on INS 70) has no
    /// MANAGE CHANNEL. Oracles: E2m.Crypto MILENAGE (TS 35.206) for RES/CK/IK, osmo-auc-gen -A for the AUTS.
    /// </summary>
    public class UsimPathTests
    {
        private static readonly byte[] Rand = SimRig.Rand;

        private static (byte[] Autn, byte[] Res, byte[] Ck, byte[] Ik) Vector(ulong sqn) => SimRig.Vector(sqn);

        private static void AssertMilenage((byte[] Autn, byte[] Res, byte[] Ck, byte[] Ik) v, AuthenticateResult result, SimRig rig)
        {
            Assert.True(AuthenticateKind.Success == result.Kind, "kind " + (int)result.Kind + " sw " + result.Status + "\n" + rig.Transcript);
            Assert.Equal(v.Res, result.Res.AsSpan(0, result.ResLength).ToArray());
            Assert.Equal(v.Ck, result.Ck);
            Assert.Equal(v.Ik, result.Ik);
        }

        [Theory]
        [InlineData("bg95", false)]
        [InlineData("bg95", true)]
        [InlineData("sara-r4", true)]
        public void Full_aid_from_ef_dir_opens_the_logical_channel(string dialect, bool t0)
        {
            using var rig = new SimRig(dialect, t0: t0);
            rig.BringUp();
            rig.Check(rig.Driver.ProbeCapabilities(), "Probe");
            Assert.Equal(UsimAidSource.EfDir, rig.Driver.Usim.AidSource);
            Assert.Equal(Convert.ToHexString(rig.Profile.UsimAid), rig.Driver.Usim.AidHex);
            Assert.True((rig.Driver.SimPaths & SimAccessPaths.UsimAidFromEfDir) != 0);
            var v = Vector(0x40);
            var result = new AuthenticateResult();
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate");
            AssertMilenage(v, result, rig);
            Assert.Equal(SimAccessPaths.LogicalChannel, rig.Driver.Usim.LastAuthenticatePath);
            string log = rig.Transcript;
            Assert.Contains(">> AT+CRSM=192,12032", log);
            Assert.Contains(">> AT+CRSM=178,12032,1,4,32", log);
            Assert.Contains(">> AT+CCHO=\"A0000000871002FFFFFFFF8907090000\"", log);
        }

        [Theory]
        [InlineData(EfDirFault.Missing, UsimAidSource.PrefixDirUnreadable)]
        [InlineData(EfDirFault.Unreadable, UsimAidSource.PrefixDirUnreadable)]
        [InlineData(EfDirFault.Corrupt, UsimAidSource.PrefixDirMalformed)]
        public void Ef_dir_faults_fall_back_to_the_prefix(EfDirFault fault, UsimAidSource expected)
        {
            using var rig = new SimRig("bg95");
            rig.Card.EfDirFault = fault;
            rig.BringUp();
            rig.Check(rig.Driver.ProbeCapabilities(), "Probe");
            Assert.Equal(expected, rig.Driver.Usim.AidSource);
            Assert.Equal("A0000000871002", rig.Driver.Usim.AidHex);
            Assert.Equal(SimAccessPaths.LogicalChannel | SimAccessPaths.Csim | SimAccessPaths.Crsm, rig.Driver.SimPaths);
            if (fault == EfDirFault.Corrupt) Assert.Equal(UsimError.BadTlv, rig.Driver.Usim.DirError);
            if (fault == EfDirFault.Missing) Assert.Equal(0x6A82, rig.Driver.Usim.DirStatusWord.Value);
            if (fault == EfDirFault.Unreadable) Assert.Equal(0x6982, rig.Driver.Usim.DirStatusWord.Value);
            var v = Vector(0x40);
            var result = new AuthenticateResult();
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate");
            AssertMilenage(v, result, rig); // partial AID selection works on the simulated card
            Assert.Contains(">> AT+CCHO=\"A0000000871002\"", rig.Transcript);
        }

        /// <summary>Card without MANAGE CHANNEL: basic channel, success, then a replay → sync failure whose AUTS osmo-auc-gen accepts.</summary>
        [SkippableTheory]
        [InlineData("bg95", 0x6881, true)]
        [InlineData("bg95", 0x6D00, false)]
        [InlineData("sara-r4", 0x6881, false)]
        [InlineData("sara-r4", 0x6D00, true)]
        public void Card_without_manage_channel_authenticates_on_the_basic_channel(string dialect, int sw, bool t0)
        {
            using var rig = new SimRig(dialect, t0: t0);
            rig.Card.ManageChannelStatus = sw;
            rig.BringUp();
            rig.Check(rig.Driver.ProbeCapabilities(), "Probe");
            Assert.Equal(SimAccessPaths.CsimBasicChannel | SimAccessPaths.Crsm | SimAccessPaths.UsimAidFromEfDir, rig.Driver.SimPaths);
            Assert.Equal(sw, rig.Driver.Usim.ManageChannelStatusWord.Value);

            var v = Vector(0x40);
            var result = new AuthenticateResult();
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate");
            AssertMilenage(v, result, rig);
            Assert.Equal(SimAccessPaths.CsimBasicChannel, rig.Driver.Usim.LastAuthenticatePath);
            Assert.Contains(">> AT+CSIM=42,\"00A4040410A0000000871002FFFFFFFF8907090000\"", rig.Transcript); // SELECT by full AID, CLA 00

            // the ME's own SIM functions still work with the ADF left selected on the basic channel
            rig.Check(rig.Driver.ReadEfImsi(out string imsi), "ReadEfImsi");
            Assert.Equal(SimRig.Imsi, imsi);
            rig.Check(rig.Driver.ReadImsi(out string cimi), "ReadImsi");
            Assert.Equal(SimRig.Imsi, cimi);

            // replay: SQN not fresh → DC + AUTS with SQN_MS = 0x40 (TS 33.102 §6.3.3)
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate replay");
            Assert.Equal(AuthenticateKind.SyncFailure, result.Kind);
            var m = new Milenage(new PortableCryptoProvider().CreateAes128());
            m.SetKey(SimRig.K, SimRig.Opc);
            byte[] sqnMs = new byte[6];
            Assert.True(Aka.TryRecoverSqnMs(m, Rand, result.Auts, sqnMs));
            Assert.Equal("000000000040", Convert.ToHexString(sqnMs));

            string tool = ExternalTool.Require("osmo-auc-gen", "libosmocore-utils");
            ToolResult run = ExternalTool.Run(tool, new[]
            {
                "-3", "-a", "milenage", "-k", Convert.ToHexString(SimRig.K), "-o", Convert.ToHexString(SimRig.Opc),
                "-r", Convert.ToHexString(Rand), "-A", Convert.ToHexString(result.Auts),
            });
            Assert.True(run.ExitCode == 0, "osmo-auc-gen: " + run.StdErr + run.StdOut);
            string sqnLine = "";
            foreach (string line in run.StdOut.Split('\n'))
            {
                if (line.StartsWith("SQN.MS:", StringComparison.Ordinal)) sqnLine = line.Substring(7).Trim();
            }

            Assert.Equal("64", sqnLine);
        }

        /// <summary>The modem refuses MANAGE CHANNEL over +CSIM (+CME ERROR: 3) and has no +CCHO: basic channel too.</summary>
        [Fact]
        public void Modem_blocking_manage_channel_selects_the_basic_channel()
        {
            var options = new ModemOptions { LogicalChannelCommands = false, CsimBlockedInstructions = new byte[] { 0x70 } };
            using var rig = new SimRig("bg96", options, t0: true);
            rig.BringUp();
            rig.Check(rig.Driver.ProbeCapabilities(), "Probe");
            Assert.Equal(SimAccessPaths.CsimBasicChannel | SimAccessPaths.Crsm | SimAccessPaths.UsimAidFromEfDir, rig.Driver.SimPaths);
            Assert.Equal(0, rig.Driver.Usim.ManageChannelStatusWord.Value);
            var v = Vector(0x80);
            var result = new AuthenticateResult();
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate");
            AssertMilenage(v, result, rig);
            Assert.Contains(">> AT+CSIM=10,\"00C0000035\"", rig.Transcript); // GET RESPONSE on the basic channel (T=0)
        }

        /// <summary>MANAGE CHANNEL worked at the probe but the card refuses it later ('6A 81'): the basic channel is used.</summary>
        [Fact]
        public void Manage_channel_refused_after_the_probe_falls_back_to_the_basic_channel()
        {
            using var rig = new SimRig("bg95", new ModemOptions { LogicalChannelCommands = false });
            rig.BringUp();
            rig.Check(rig.Driver.ProbeCapabilities(), "Probe");
            Assert.Equal(SimAccessPaths.Csim | SimAccessPaths.Crsm | SimAccessPaths.UsimAidFromEfDir, rig.Driver.SimPaths);
            rig.Card.ManageChannelStatus = 0x6A81; // TS 102 221 §10.2.1: function not supported (no free channel)
            var v = Vector(0x40);
            var result = new AuthenticateResult();
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate");
            AssertMilenage(v, result, rig);
            Assert.Equal(SimAccessPaths.CsimBasicChannel, rig.Driver.Usim.LastAuthenticatePath);
        }

        /// <summary>The same card faults expressed in a fault script (FaultPlan.Parse), armed at time 0.</summary>
        [Fact]
        public void Card_faults_from_a_fault_script()
        {
            FaultPlan plan = FaultPlan.Parse("card manage-channel 6D00\ncard ef-dir corrupt\n", 5);
            using var rig = new SimRig("sara-r4", faults: plan);
            rig.BringUp();
            Assert.Equal(0x6D00, rig.Card.ManageChannelStatus);
            Assert.Equal(EfDirFault.Corrupt, rig.Card.EfDirFault);
            rig.Check(rig.Driver.ProbeCapabilities(), "Probe");
            Assert.Equal(UsimAidSource.PrefixDirMalformed, rig.Driver.Usim.AidSource);
            Assert.Equal(SimAccessPaths.CsimBasicChannel | SimAccessPaths.Crsm, rig.Driver.SimPaths);
            var v = Vector(0x40);
            var result = new AuthenticateResult();
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate");
            AssertMilenage(v, result, rig);
            Assert.Contains("card: MANAGE CHANNEL unsupported (6D00)", string.Join("\n", plan.Log));
        }

        /// <summary>Card level: EF_DIR records (ISIM listed first), FF padding, FCP record length and count.</summary>
        [Fact]
        public void Simulated_ef_dir_lists_extra_applications_before_the_usim()
        {
            byte[] isim = Convert.FromHexString("A0000000871004FFFFFFFF8907090000");
            var card = new SimulatedUsim(new UsimProfile { ExtraDirApplications = new[] { isim } });
            byte[] dir = card.ReadFileAdmin(0x2F00);
            Assert.Equal(3 * SimulatedUsim.DirRecordLength, dir.Length);
            byte[] aid = new byte[16];
            Assert.True(EfDir.ParseRecord(dir, 0, 32, aid, 0, out int n1, out _, out _));
            Assert.False(EfDir.IsUsimAid(aid, 0, n1));
            Assert.True(EfDir.ParseRecord(dir, 32, 32, aid, 0, out int n2, out int lo, out int ll));
            Assert.True(EfDir.IsUsimAid(aid, 0, n2));
            Assert.Equal("USIM", System.Text.Encoding.ASCII.GetString(dir, lo, ll));
            Assert.False(EfDir.ParseRecord(dir, 64, 32, aid, 0, out _, out _, out _)); // unused record, all FF

            // GET RESPONSE path: SELECT 2F00 under the MF → FCP linear fixed, 32 × 3
            byte[] fcpResponse = card.Transmit(new byte[] { 0x00, 0xA4, 0x00, 0x04, 0x02, 0x2F, 0x00, 0x00 });
            FileControlParameters fcp = FileControlParameters.Parse(fcpResponse, 0, fcpResponse.Length - 2);
            Assert.Equal(FileStructure.LinearFixed, fcp.Structure);
            Assert.Equal(32, fcp.RecordLength);
            Assert.Equal(3, fcp.RecordCount);
        }
    }
}

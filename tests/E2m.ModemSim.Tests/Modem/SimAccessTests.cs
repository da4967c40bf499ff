using System;
using System.Linq;
using E2m.Crypto;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Drivers;
using E2m.Modem.Usim;
using E2m.ModemSim.Modem;
using Xunit;

namespace E2m.ModemSim.Tests.Modem
{
    /// <summary>
    /// USIM access through the simulated modem exactly as the firmware does it: +CCHO/+CGLA/+CCHC, the +CSIM fallback
    /// (MANAGE CHANNEL, SELECT, AUTHENTICATE, GET RESPONSE), +CRSM READ BINARY of EF_KeysPS. Oracle: E2m.Crypto Milenage
    /// (TS 35.206) for the card's K/OPc — RES/CK/IK must be equal.
    /// </summary>
    public class SimAccessTests
    {
        private static readonly byte[] Rand = SimRig.Rand;

        private static (byte[] Autn, byte[] Res, byte[] Ck, byte[] Ik) Vector(ulong sqn) => SimRig.Vector(sqn);

        [Theory]
        [InlineData("bg95", false)]
        [InlineData("bg95", true)]
        [InlineData("sara-r4", false)]
        [InlineData("sara-r4", true)]
        public void Authenticate_over_ccho_cgla_matches_milenage(string dialect, bool t0Card)
        {
            using var rig = new SimRig(dialect, t0: t0Card);
            rig.BringUp();
            rig.Check(rig.Driver.ProbeCapabilities(), "Probe");
            Assert.Equal(SimAccessPaths.LogicalChannel | SimAccessPaths.Csim | SimAccessPaths.Crsm | SimAccessPaths.UsimAidFromEfDir, rig.Driver.SimPaths);

            var v = Vector(0x40);
            var result = new AuthenticateResult();
            int cglaBefore = Count(rig, ">> AT+CGLA=");
            int csimBefore = Count(rig, ">> AT+CSIM=");
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate");
            Assert.Equal(AuthenticateKind.Success, result.Kind);
            Assert.Equal(v.Res, result.Res.AsSpan(0, result.ResLength).ToArray());
            Assert.Equal(v.Ck, result.Ck);
            Assert.Equal(v.Ik, result.Ik);
            Assert.True(Count(rig, ">> AT+CGLA=") > cglaBefore);
            Assert.Equal(csimBefore, Count(rig, ">> AT+CSIM="));
        }

        [Theory]
        [InlineData("bg95")]
        [InlineData("sara-r4")]
        public void Cgla_refusing_authenticate_falls_back_to_csim_with_get_response(string dialect)
        {
            var options = new ModemOptions { CglaBlockedInstructions = new byte[] { 0x88 } };
            using var rig = new SimRig(dialect, options, t0: true);
            rig.BringUp();
            rig.Check(rig.Driver.ProbeCapabilities(), "Probe");
            var v = Vector(0x60);
            var result = new AuthenticateResult();
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate");
            Assert.Equal(AuthenticateKind.Success, result.Kind);
            Assert.Equal(v.Res, result.Res.AsSpan(0, result.ResLength).ToArray());
            Assert.Equal(v.Ck, result.Ck);
            Assert.Equal(v.Ik, result.Ik);
            string log = rig.Transcript;
            Assert.Contains("+CME ERROR: 3", log);
            Assert.True(log.Contains(">> AT+CSIM=10,\"01C00000", StringComparison.Ordinal), log); // GET RESPONSE on channel 1 (TS 102 221 §7.3.1.1.4)
        }

        [Fact]
        public void Without_logical_channel_commands_the_driver_uses_csim()
        {
            using var rig = new SimRig("bg96", new ModemOptions { LogicalChannelCommands = false });
            rig.BringUp();
            rig.Check(rig.Driver.ProbeCapabilities(), "Probe");
            Assert.Equal(SimAccessPaths.Csim | SimAccessPaths.Crsm | SimAccessPaths.UsimAidFromEfDir, rig.Driver.SimPaths);
            var v = Vector(0x80);
            var result = new AuthenticateResult();
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate");
            Assert.Equal(AuthenticateKind.Success, result.Kind);
            Assert.Equal(v.Ck, result.Ck);
        }

        [Fact]
        public void Tampered_autn_gives_mac_failure_9862()
        {
            using var rig = new SimRig("bg95");
            rig.BringUp();
            rig.Check(rig.Driver.ProbeCapabilities(), "Probe");
            var v = Vector(0x40);
            v.Autn[15] ^= 0x01;
            var result = new AuthenticateResult();
            rig.Check(rig.Driver.Authenticate(Rand, v.Autn, result), "Authenticate");
            Assert.Equal(AuthenticateKind.MacFailure, result.Kind);
        }

        [Theory]
        [InlineData("bg95")]
        [InlineData("sara-r4")]
        public void Crsm_reads_ef_keysps_and_ef_imsi(string dialect)
        {
            using var rig = new SimRig(dialect);
            rig.BringUp();
            var keys = new UsimKeys();
            rig.Check(rig.Driver.ReadKeysPs(keys), "ReadKeysPs (fresh card)");
            Assert.False(keys.HasKey);

            // what an ME stores after a PS AKA (TS 31.102 §4.2.4: KSI || CK || IK)
            var v = Vector(0x40);
            byte[] content = new byte[33];
            content[0] = 0x01;
            v.Ck.CopyTo(content, 1);
            v.Ik.CopyTo(content, 17);
            lock (rig.Modem.SyncRoot)
            {
                Assert.Equal(0x9000, rig.Modem.Sim.SelectEf(0x6F09));
                Assert.Equal(0x9000, MeSimAccess.Sw(rig.Modem.Sim.UpdateBinary(0, content)));
            }

            rig.Check(rig.Driver.ReadKeysPs(keys), "ReadKeysPs");
            Assert.True(keys.HasKey);
            Assert.Equal(1, keys.Ksi);
            Assert.Equal(v.Ck, keys.Ck);
            Assert.Equal(v.Ik, keys.Ik);
            Assert.Contains(">> AT+CRSM=176,28425,0,0,33", rig.Transcript);
            rig.Check(rig.Driver.ReadEfImsi(out string imsi), "ReadEfImsi");
            Assert.Equal(SimRig.Imsi, imsi);
        }

        [Fact]
        public void Sim_pin_is_required_then_verified_with_cpin()
        {
            using var rig = new SimRig("bg95", pin: "1234");
            rig.Check(rig.Driver.PowerOn(), "PowerOn");
            rig.Check(rig.Driver.Initialize(), "Initialize");
            Assert.True(ModemError.SimPinRequired == rig.Driver.WaitSimReady(10000), rig.Log.ToString());
            Assert.True(ModemError.SimPinRequired == rig.Driver.ReadImsi(out _), rig.Log.ToString());
            var cpin = new AtCommand("AT+CPIN=", 5000);
            var r = new AtResult(4, 64);
            Assert.Equal(AtStatus.CmeError, rig.Channel.Execute(cpin, "\"9999\"", r));
            Assert.Equal(16, r.ErrorCode); // incorrect password
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(cpin, "\"1234\"", r));
            rig.Check(rig.Driver.WaitSimReady(10000), "WaitSimReady");
            rig.Check(rig.Driver.ReadImsi(out string imsi), "ReadImsi");
            Assert.Equal(SimRig.Imsi, imsi);
            rig.Check(rig.Driver.WaitRegistered(30000, out _), "WaitRegistered");
        }

        private static int Count(SimRig rig, string needle)
        {
            rig.AtLog.Dispose();
            string log = rig.Log.ToString();
            int n = 0;
            for (int i = log.IndexOf(needle, StringComparison.Ordinal); i >= 0; i = log.IndexOf(needle, i + 1, StringComparison.Ordinal))
            {
                n++;
            }

            return n;
        }
    }
}

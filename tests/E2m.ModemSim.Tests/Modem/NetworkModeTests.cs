using System;
using E2m.Modem.Drivers;
using E2m.Modem.Usim;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Network;
using Xunit;

namespace E2m.ModemSim.Tests.Modem
{
    /// <summary>
    /// DESIGN.md §3 network mode end to end through the simulated modem: the attach runs AKA in M1's ServingNode (LocalAuc),
    /// the ME stores EF_KeysPS after a PS AKA on UMTS/GPRS only, and the firmware driver reads it with
    /// AT+CRSM=176,28425,0,0,33. On LTE-M (EPS AKA) EF_KeysPS stays "no key" (KSI 07).
    /// </summary>
    public class NetworkModeTests
    {
        [Theory]
        [InlineData("bg95", SimRat.Umts, true)]
        [InlineData("bg95", SimRat.Gprs, true)]
        [InlineData("sara-r4", SimRat.LteM, false)]
        [InlineData("bg96", SimRat.NbIot, false)]
        public void Attach_with_aka_refreshes_ef_keysps_only_after_a_ps_aka(string dialect, SimRat rat, bool expectKey)
        {
            var auc = new LocalAuc(seed: 5);
            auc.AddSubscriber(new AucSubscriber { Imsi = SimRig.Imsi, K = SimRig.K, Opc = SimRig.Opc });
            using var rig = new SimRig(dialect, new ModemOptions { Rat = rat });
            rig.Modem.Network = new ServingNode(auc);
            rig.BringUp();
            var keys = new UsimKeys();
            rig.Check(rig.Driver.ReadKeysPs(keys), "ReadKeysPs");
            Assert.True(expectKey == keys.HasKey, rig.Log.ToString());
            Assert.Contains("!! attach:", rig.Transcript);
        }

        [Fact]
        public void Unknown_subscriber_is_denied_with_cereg_3()
        {
            var auc = new LocalAuc(seed: 5);
            using var rig = new SimRig("sara-r4");
            rig.Modem.Network = new ServingNode(auc);
            rig.Check(rig.Driver.PowerOn(), "PowerOn");
            rig.Check(rig.Driver.Initialize(), "Initialize");
            rig.Check(rig.Driver.WaitSimReady(10000), "WaitSimReady");
            Assert.Equal(ModemError.RegistrationDenied, rig.Driver.WaitRegistered(60000, out _));
            Assert.Contains("<< +CEREG: 3", rig.Transcript);
        }
    }
}

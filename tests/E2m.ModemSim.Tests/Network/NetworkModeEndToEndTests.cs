using E2m.Modem.Usim;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Network;
using E2m.ModemSim.Tests.Modem;
using Xunit;

namespace E2m.ModemSim.Tests.Network
{
    /// <summary>
    /// DESIGN.md §3 network mode through the whole rig: the firmware driver brings up the simulated modem, whose attach
    /// runs AKA in the ServingNode with the simulated USIM; the firmware then reads EF_KeysPS with AT+CRSM.
    /// </summary>
    public class NetworkModeEndToEndTests
    {
        [Theory]
        [InlineData("bg95", SimRat.Umts, true)]
        [InlineData("sara-r4", SimRat.Gprs, true)]
        [InlineData("bg95", SimRat.LteM, false)]
        [InlineData("sara-r4", SimRat.NbIot, false)]
        public void Firmware_reads_the_keys_the_attach_stored(string dialect, SimRat rat, bool expectKeys)
        {
            using var rig = new SimRig(dialect, new ModemOptions { Rat = rat });
            var auc = new LocalAuc(51);
            auc.AddSubscriber(new AucSubscriber { Imsi = SimRig.Imsi, K = SimRig.K, Opc = SimRig.Opc });
            SimulatedUe? ue = null;
            var node = new ServingNode(auc, new ServingNodeOptions { UeFactory = c => ue = new SimulatedUe(c) });
            rig.Modem.Network = node;
            rig.BringUp();
            Assert.NotNull(ue);
            Assert.Equal(1, rig.Card.AuthenticateCount);

            var keys = new UsimKeys();
            rig.Check(rig.Driver.ReadKeysPs(keys), "ReadKeysPs");
            Assert.Equal(expectKeys, keys.HasKey);
            if (expectKeys)
            {
                Assert.Equal(ue!.UsimCk, keys.Ck);
                Assert.Equal(ue.UsimIk, keys.Ik);
            }
        }

        [Fact]
        public void Mac_failure_at_attach_leaves_the_modem_denied()
        {
            using var rig = new SimRig("bg95", new ModemOptions { Rat = SimRat.Umts });
            var auc = new LocalAuc(52);
            byte[] wrongK = (byte[])SimRig.K.Clone();
            wrongK[15] ^= 1;
            auc.AddSubscriber(new AucSubscriber { Imsi = SimRig.Imsi, K = wrongK, Opc = SimRig.Opc });
            AttachOutcome outcome = ((IServingNetwork)new ServingNode(auc)).Attach(rig.Card, SimRig.Imsi, SimRat.Umts);
            Assert.Equal(3, outcome.Stat);
            Assert.Contains("AuthFailureMac", outcome.Note, System.StringComparison.Ordinal);
        }
    }
}

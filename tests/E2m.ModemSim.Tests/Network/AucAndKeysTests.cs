using System;
using System.Collections.Generic;
using System.Globalization;
using E2m.ModemSim.Network;
using E2m.ModemSim.Usim;
using E2m.TestSupport;
using Xunit;

namespace E2m.ModemSim.Tests.Network
{
    public class AucAndKeysTests
    {
        [Fact]
        public void Kasme_matches_the_open5gs_vector()
        {
            // 3gpp.md §2 (open5gs security-test test3, re-checked with hmac): S = 10 024830 0003 57e673245c0d 0006.
            byte[] kasme = NetworkKeys.Kasme(Hex.Decode("b40ba9a3c58b2a05bbf0d987b21bf8cb"), Hex.Decode("f769bcd751044604127672711c6d3441"),
                Hex.Decode("024830"), Hex.Decode("57e673245c0d"));
            Assert.Equal("238e457e0f758badbca8d34bb2612c10428d426757cb5553b2b184fa64bfc549", Hex.Encode(kasme));
        }

        [Theory]
        [InlineData("00101", "00f110")]   // MCC 001, MNC 01 → MNC3 'F'
        [InlineData("310410", "130014")]  // MCC 310, MNC 410
        [InlineData("26201", "62f210")]
        public void Plmn_id_encoding(string plmn, string hex) => Assert.Equal(hex, Hex.Encode(NetworkKeys.PlmnId(plmn)));

        [Fact]
        public void Sqn_array_freshness_per_ind_delta_and_age_limit()
        {
            var s = new SqnFreshness();
            Assert.Equal(32, s.Length);
            Assert.Equal(SqnVerdict.Fresh, s.Check((10UL << 5) | 4));
            s.Accept((10UL << 5) | 4);
            Assert.Equal(SqnVerdict.NotFresh, s.Check((10UL << 5) | 4));   // replay
            Assert.Equal(SqnVerdict.NotFresh, s.Check((9UL << 5) | 4));
            Assert.Equal(SqnVerdict.Fresh, s.Check((3UL << 5) | 5));       // lower SEQ in another IND: fresh (C.2.2)
            s.Accept((3UL << 5) | 5);
            Assert.Equal((10UL << 5) | 4, s.SqnMs);                        // highest accepted, not the last one
            // Δ (C.2.1) relative to the highest SEQ anywhere in the array.
            s.Delta = 100;
            Assert.Equal(SqnVerdict.Fresh, s.Check((110UL << 5) | 0));
            Assert.Equal(SqnVerdict.TooFarAhead, s.Check((111UL << 5) | 0));
            s.Delta = SqnFreshness.NoLimit;
            Assert.Equal(SqnVerdict.Fresh, s.Check(0xFFFFFFFFFFFFUL));
            // L (C.2.2): SEQ_MS − SEQ < L.
            s.AgeLimit = 5;
            Assert.Equal(SqnVerdict.Fresh, s.Check((6UL << 5) | 7));
            Assert.Equal(SqnVerdict.TooOld, s.Check((5UL << 5) | 7));
        }

        [Fact]
        public async System.Threading.Tasks.Task Auc_cycles_ind_per_request_and_never_repeats_an_sqn()
        {
            var auc = new LocalAuc(31);
            var p = new AucSubscriber { Imsi = "001010000000001", K = new byte[16], Opc = new byte[16] };
            auc.AddSubscriber(p);
            var card = new SimulatedUsim(new UsimProfile { K = p.K, Opc = p.Opc, Imsi = p.Imsi });
            Usim.CardHelper.SelectUsim(card);
            var seen = new HashSet<string>();
            for (int i = 0; i < 40; i++)
            {
                AuthInfo info = await auc.GetAuthInfoAsync(new AuthInfoRequest { Imsi = p.Imsi, NumVectors = 2 });
                foreach (AuthVector v in info.Vectors)
                {
                    Assert.True(seen.Add(Hex.Encode(v.Autn, 0, 6)), "SQN reused");
                    Assert.Equal(0xDB, Usim.CardHelper.Authenticate(card, v.Rand, v.Autn)[0]);
                }
            }

            Assert.Equal(80, auc.SeqHe(p.Imsi));
            Assert.Equal(80, card.Sqn.SeqMsMax);
            Assert.Equal(80, card.Sqn.GetSeqMs(39 % 32));                   // request 40 used IND 39 mod 32 = 7
        }

        [SkippableFact]
        public async System.Threading.Tasks.Task Local_auc_vectors_equal_osmo_auc_gen_for_the_same_sqn_rand_amf()
        {
            string tool = ExternalTool.Require("osmo-auc-gen", "libosmocore-utils");
            var rng = new Random(41);
            var k = new byte[16];
            var opc = new byte[16];
            rng.NextBytes(k);
            rng.NextBytes(opc);
            var auc = new LocalAuc(41);
            auc.AddSubscriber(new AucSubscriber { Imsi = "001010000000001", K = k, Opc = opc, E2m = true, SeqHe = 99 });
            for (int i = 0; i < 3; i++)
            {
                VectorDomain d = i % 2 == 0 ? VectorDomain.Eutran : VectorDomain.Utran;
                AuthVector v = (await auc.GetAuthInfoAsync(new AuthInfoRequest { Imsi = "001010000000001", Domain = d })).Vectors[0];
                ulong sqn = ((ulong)(100 + i) << 5) | (uint)i;                 // SEQ_HE + 1, IND = request number
                string amf = d == VectorDomain.Eutran ? "c000" : "4000";      // separation bit for EPS, e2m bit (DESIGN §5)
                ToolResult r = ExternalTool.Run(tool, new[] { "-3", "-a", "milenage", "-k", Hex.Encode(k), "-o", Hex.Encode(opc),
                    "-s", sqn.ToString(CultureInfo.InvariantCulture), "-r", Hex.Encode(v.Rand), "-f", amf });
                Assert.Equal(0, r.ExitCode);
                Assert.Contains("AUTN:\t" + Hex.Encode(v.Autn), r.StdOut, StringComparison.Ordinal);
                Assert.Contains("RES:\t" + Hex.Encode(v.Xres), r.StdOut, StringComparison.Ordinal);
                Assert.Contains("CK:\t" + Hex.Encode(v.Ck), r.StdOut, StringComparison.Ordinal);
                Assert.Contains("IK:\t" + Hex.Encode(v.Ik), r.StdOut, StringComparison.Ordinal);
            }
        }
    }
}

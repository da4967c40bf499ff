using System;
using System.Collections.Generic;
using System.Globalization;
using E2m.ModemSim.Usim;
using E2m.TestSupport;
using Xunit;
using Xunit.Abstractions;
using static E2m.ModemSim.Tests.Usim.CardHelper;

namespace E2m.ModemSim.Tests.Usim
{
    /// <summary>Independent oracle: osmo-auc-gen (libosmocore-utils) generates the vectors and checks our AUTS.</summary>
    public class OsmoAucGenOracleTests
    {
        private readonly ITestOutputHelper _out;

        public OsmoAucGenOracleTests(ITestOutputHelper output) => _out = output;

        private static int Seed()
        {
            string? s = Environment.GetEnvironmentVariable("E2M_TEST_SEED");
            return s != null ? int.Parse(s, CultureInfo.InvariantCulture) : 20261128;
        }

        private static Dictionary<string, string> Run(string tool, params string[] args)
        {
            ToolResult r = ExternalTool.Run(tool, args);
            Assert.True(r.ExitCode == 0, $"osmo-auc-gen {string.Join(' ', args)} → {r.ExitCode}: {r.StdErr}{r.StdOut}");
            var d = new Dictionary<string, string>();
            foreach (string line in r.StdOut.Split('\n'))
            {
                int colon = line.IndexOf(':');
                if (colon > 0) d[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }

            return d;
        }

        [SkippableFact]
        public void Card_accepts_osmo_vectors_rejects_tampered_and_its_auts_gives_osmo_the_right_sqn_ms()
        {
            string tool = ExternalTool.Require("osmo-auc-gen", "libosmocore-utils");
            int seed = Seed();
            _out.WriteLine($"seed {seed} (E2M_TEST_SEED)");
            var rng = new Random(seed);
            for (int cardNo = 0; cardNo < 6; cardNo++)
            {
                UsimProfile p = RandomProfile(rng, t0: cardNo % 2 == 1);
                var card = new SimulatedUsim(p);
                SelectUsim(card);
                string k = Hex.Encode(p.K), opc = Hex.Encode(p.Opc);
                long seq = rng.Next(1, 1000);
                ulong lastSqn = 0;
                byte[] lastRand = Array.Empty<byte>(), lastAutn = Array.Empty<byte>();
                for (int v = 0; v < 4; v++)
                {
                    seq += rng.Next(1, 50);
                    int ind = rng.Next(32);
                    ulong sqn = ((ulong)seq << 5) | (uint)ind;
                    var rand = new byte[16];
                    rng.NextBytes(rand);
                    string amf = v % 2 == 0 ? "8000" : Hex.Encode(new[] { (byte)rng.Next(256), (byte)rng.Next(256) });
                    string ctx = $"seed {seed} card {cardNo} vector {v} K {k} OPc {opc} SQN {sqn:x12} RAND {Hex.Encode(rand)}";
                    Dictionary<string, string> o = Run(tool, "-3", "-a", "milenage", "-k", k, "-o", opc,
                        "-s", sqn.ToString(CultureInfo.InvariantCulture), "-r", Hex.Encode(rand), "-f", amf);
                    byte[] autn = Hex.Decode(o["AUTN"]);

                    // Tampered first (one random bit of AUTN): 98 62, no data, array unchanged.
                    long[] before = SeqArray(card);
                    byte[] bad = (byte[])autn.Clone();
                    bad[rng.Next(16)] ^= (byte)(1 << rng.Next(8));
                    Assert.True("9862" == Convert.ToHexString(Authenticate(card, rand, bad)), ctx);
                    Assert.Equal(before, SeqArray(card));

                    byte[] r = Authenticate(card, rand, autn);
                    Assert.True(r[0] == 0xDB, ctx + " → " + Convert.ToHexString(r));
                    Assert.Equal(o["RES"], Hex.Encode(r, 2, 8));
                    Assert.Equal(o["CK"], Hex.Encode(r, 11, 16));
                    Assert.Equal(o["IK"], Hex.Encode(r, 28, 16));
                    Assert.Equal(o["Kc"], Hex.Encode(r, 45, 8)); // osmo's Kc is c3(CK, IK) too
                    Assert.Equal(seq, card.Sqn.GetSeqMs(ind));
                    lastSqn = sqn;
                    lastRand = rand;
                    lastAutn = autn;
                }

                // Replay of the last vector: sync failure; osmo-auc-gen -A recovers SQN_MS = highest accepted SEQ || IND.
                long[] beforeReplay = SeqArray(card);
                byte[] dc = Authenticate(card, lastRand, lastAutn);
                Assert.Equal(0xDC, dc[0]);
                Assert.Equal(beforeReplay, SeqArray(card));
                string auts = Hex.Encode(dc, 2, 14);
                Dictionary<string, string> resync = Run(tool, "-3", "-a", "milenage", "-k", k, "-o", opc,
                    "-r", Hex.Encode(lastRand), "-A", auts);
                Assert.Equal(lastSqn.ToString(CultureInfo.InvariantCulture), resync["SQN.MS"]);
                Assert.Equal(card.Sqn.SqnMs, lastSqn);

                // Tampered AUTS is refused by osmo (MAC-S check): exit status non-zero or no SQN.MS line.
                byte[] badAuts = Hex.Decode(auts);
                badAuts[13] ^= 0x01;
                ToolResult t = ExternalTool.Run(tool, new[] { "-3", "-a", "milenage", "-k", k, "-o", opc,
                    "-r", Hex.Encode(lastRand), "-A", Hex.Encode(badAuts) });
                Assert.True(t.ExitCode != 0 || !t.StdOut.Contains("SQN.MS", StringComparison.Ordinal), t.StdOut);
            }
        }

        [SkippableFact]
        public void Auts_of_a_card_ahead_carries_its_highest_sqn_and_osmo_resync_continues_after_it()
        {
            string tool = ExternalTool.Require("osmo-auc-gen", "libosmocore-utils");
            var rng = new Random(Seed() + 1);
            UsimProfile p = RandomProfile(rng);
            ulong ahead = (5000UL << 5) | 20;                     // SEQ 5000 in IND 20
            p.AcceptedSqns = new[] { (1000UL << 5) | 3, ahead }; // and an older SEQ in IND 3
            var card = new SimulatedUsim(p);
            SelectUsim(card);
            string k = Hex.Encode(p.K), opc = Hex.Encode(p.Opc);
            var rand = new byte[16];
            rng.NextBytes(rand);
            // The HSS thinks SEQ 10, IND 3 → not fresh for IND 3 (SEQ_MS(3) = 1000).
            Dictionary<string, string> o = Run(tool, "-3", "-a", "milenage", "-k", k, "-o", opc, "-s", ((10UL << 5) | 3).ToString(CultureInfo.InvariantCulture),
                "-r", Hex.Encode(rand), "-f", "8000");
            byte[] dc = Authenticate(card, rand, Hex.Decode(o["AUTN"]));
            Assert.Equal(0xDC, dc[0]);
            Dictionary<string, string> resync = Run(tool, "-3", "-a", "milenage", "-k", k, "-o", opc,
                "-r", Hex.Encode(rand), "-A", Hex.Encode(dc, 2, 14));
            Assert.Equal(ahead.ToString(CultureInfo.InvariantCulture), resync["SQN.MS"]);
            // osmo then issues SEQ_MS+1 (3gpp.md §5): its fresh vector is accepted by the card.
            ulong next = ulong.Parse(resync["SQN"], CultureInfo.InvariantCulture);
            Assert.True(next >> 5 == 5001, $"osmo next SQN {next}");
            byte[] ok = Authenticate(card, Hex.Decode(resync["RAND"]), Hex.Decode(resync["AUTN"]));
            Assert.Equal(0xDB, ok[0]);
            Assert.Equal(resync["RES"], Hex.Encode(ok, 2, 8));
        }
    }
}

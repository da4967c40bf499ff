using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using E2m.Crypto;
using E2m.TestSupport;
using Xunit;

namespace E2m.Cli.Tests
{
    public class AkaCommandTests
    {
        public static IEnumerable<object[]> Ts35208Sets()
        {
            using var doc = Vectors.Load("milenage-ts35208-sets1-6.json");
            foreach (JsonElement set in doc.RootElement.GetProperty("test_sets").EnumerateArray())
            {
                yield return new object[] { "TS 35.208 " + set.GetProperty("section").GetString(), set.GetRawText() };
            }
        }

        [Theory]
        [MemberData(nameof(Ts35208Sets))]
        public void AkaPrintsEveryFieldOfTheTestSet(string source, string json)
        {
            using var set = JsonDocument.Parse(json);
            string V(string name) => set.RootElement.GetProperty(name).GetString()!;

            foreach (string[] opArgs in new[] { new[] { "--opc", V("OPc") }, new[] { "--op", V("OP") } })
            {
                var run = Cli.Run(new[] { "aka", "--k", V("K") }.Concat(opArgs)
                    .Concat(new[] { "--rand", V("RAND"), "--sqn", V("SQN"), "--amf", V("AMF") }).ToArray());
                Assert.True(run.ExitCode == 0, source + ": " + run.StdErr);
                var f = run.Fields();
                Assert.Equal(new[] { "opc", "mac_a", "mac_s", "res", "ck", "ik", "ak", "ak_star", "autn" }, f.Keys.ToArray());
                Assert.Equal(V("OPc"), f["opc"]);
                Assert.Equal(V("f1"), f["mac_a"]);
                Assert.Equal(V("f1star"), f["mac_s"]);
                Assert.Equal(V("f2"), f["res"]);
                Assert.Equal(V("f3"), f["ck"]);
                Assert.Equal(V("f4"), f["ik"]);
                Assert.Equal(V("f5"), f["ak"]);
                Assert.Equal(V("f5star"), f["ak_star"]);

                // AUTN = SQN xor AK || AMF || MAC-A (TS 33.102 §6.3.2), assembled here from the vector's own values.
                byte[] sqn = Hex.Decode(V("SQN")), ak = Hex.Decode(V("f5"));
                string sqnXorAk = Hex.Encode(sqn.Select((b, i) => (byte)(b ^ ak[i])).ToArray());
                Assert.Equal(sqnXorAk + V("AMF") + V("f1"), f["autn"]);
            }
        }

        [Fact]
        public void JsonOutputHasTheSameFields()
        {
            var run = Cli.Run("aka", "--k", "465b5ce8b199b49faa5f0a2ee238a6bc", "--opc", "cd63cb71954a9f4e48a5994e37a02baf",
                "--rand", "23553cbe9637a89d218ae64dae47bf35", "--sqn", "ff9bb4d0b607", "--amf", "b9b9", "--json");
            Assert.Equal(0, run.ExitCode);
            using var doc = JsonDocument.Parse(run.StdOut);
            Assert.Equal("a54211d5e3ba50bf", doc.RootElement.GetProperty("res").GetString());
            Assert.Equal(9, doc.RootElement.EnumerateObject().Count());
        }

        [Fact]
        public void AutsRecoversSqnMsAndRejectsAForgedMacS()
        {
            // AUTS for SQN_MS built with the library (MAC-S with AMF = 0000, TS 33.102 §6.3.3); the oracle
            // cross-check of AUTS against osmo-auc-gen lives in tests/E2m.Crypto.Tests.
            byte[] k = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc"), opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf");
            byte[] rand = Hex.Decode("23553cbe9637a89d218ae64dae47bf35"), sqnMs = Hex.Decode("000000001234");
            var m = new Milenage(new PortableCryptoProvider().CreateAes128());
            m.SetKey(k, opc);
            byte[] auts = new byte[14];
            Aka.BuildAuts(m, rand, sqnMs, auts);

            var ok = Cli.Run("aka", "auts", "--k", Hex.Encode(k), "--opc", Hex.Encode(opc), "--rand", Hex.Encode(rand), "--auts", Hex.Encode(auts));
            Assert.Equal(0, ok.ExitCode);
            Assert.Equal("000000001234", ok.Fields()["sqn_ms"]);

            auts[13] ^= 0x01;
            var bad = Cli.Run("aka", "auts", "--k", Hex.Encode(k), "--opc", Hex.Encode(opc), "--rand", Hex.Encode(rand), "--auts", Hex.Encode(auts));
            Assert.Equal(1, bad.ExitCode);
            Assert.Equal("", bad.StdOut);
            Assert.Contains("MAC-S", bad.StdErr);
        }

        [Theory]
        [InlineData("bad hex", "--k", "465b5ce8b199b49faa5f0a2ee238a6bZ")]
        [InlineData("odd digits", "--k", "465b5ce8b199b49faa5f0a2ee238a6b")]
        [InlineData("too short", "--rand", "23553cbe9637a89d218ae64dae47bf")]
        [InlineData("too long", "--sqn", "ff9bb4d0b60700")]
        [InlineData("amf length", "--amf", "b9")]
        public void BadHexOrLengthIsAOneLineUsageErrorWithExitCode2(string why, string option, string value)
        {
            var args = new Dictionary<string, string>
            {
                ["--k"] = "465b5ce8b199b49faa5f0a2ee238a6bc",
                ["--opc"] = "cd63cb71954a9f4e48a5994e37a02baf",
                ["--rand"] = "23553cbe9637a89d218ae64dae47bf35",
                ["--sqn"] = "ff9bb4d0b607",
                ["--amf"] = "b9b9",
            };
            args[option] = value;
            var run = Cli.Run(new[] { "aka" }.Concat(args.SelectMany(kv => new[] { kv.Key, kv.Value })).ToArray());
            Assert.True(run.ExitCode == 2, why);
            Assert.Equal("", run.StdOut);
            Assert.Single(run.StdErr.TrimEnd('\n').Split('\n'));
            Assert.Contains(option, run.StdErr);
        }

        [Theory]
        [InlineData("neither --opc nor --op", new[] { "aka", "--k", "465b5ce8b199b49faa5f0a2ee238a6bc", "--rand", "23553cbe9637a89d218ae64dae47bf35", "--sqn", "ff9bb4d0b607", "--amf", "b9b9" })]
        [InlineData("both --opc and --op", new[] { "aka", "--k", "465b5ce8b199b49faa5f0a2ee238a6bc", "--opc", "cd63cb71954a9f4e48a5994e37a02baf", "--op", "cdc202d5123e20f62b6d676ac72cb318", "--rand", "23553cbe9637a89d218ae64dae47bf35", "--sqn", "ff9bb4d0b607", "--amf", "b9b9" })]
        [InlineData("missing --rand", new[] { "aka", "--k", "465b5ce8b199b49faa5f0a2ee238a6bc", "--opc", "cd63cb71954a9f4e48a5994e37a02baf", "--sqn", "ff9bb4d0b607", "--amf", "b9b9" })]
        [InlineData("unknown option", new[] { "aka", "--kk", "00" })]
        public void UsageErrorsExitWith2(string why, string[] args)
        {
            var run = Cli.Run(args);
            Assert.True(run.ExitCode == 2, why + ": " + run.StdErr);
            Assert.StartsWith("e2m: error: ", run.StdErr);
        }
    }
}

using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using E2m.TestSupport;
using Xunit;

namespace E2m.Cli.Tests
{
    public class KdfCommandTests
    {
        public static IEnumerable<object[]> E2mKdfCases()
        {
            using var doc = Vectors.Load("e2m-kdf.json");
            int i = 0;
            foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
            {
                yield return new object[] { "e2m-kdf.json case " + i++, c.GetRawText() };
            }
        }

        [Theory]
        [MemberData(nameof(E2mKdfCases))]
        public void KdfMatchesTheIndependentVectors(string source, string json)
        {
            using var c = JsonDocument.Parse(json);
            string V(string name) => c.RootElement.GetProperty(name).GetString()!;

            var withEmse = Cli.Run("kdf", "--ck", V("ck"), "--ik", V("ik"), "--emse-id", V("emse_id"));
            Assert.True(withEmse.ExitCode == 0, source + ": " + withEmse.StdErr);
            var f = withEmse.Fields();
            Assert.Equal(new[] { "e2m_int_key", "kid", "e2m_key" }, f.Keys.ToArray());
            Assert.Equal(V("e2m_int_key"), f["e2m_int_key"]);
            Assert.Equal(V("kid"), f["kid"]);
            Assert.Equal(V("e2m_key"), f["e2m_key"]);

            var without = Cli.Run("kdf", "--ck", V("ck"), "--ik", V("ik"));
            Assert.Equal(new[] { "e2m_int_key", "kid" }, without.Fields().Keys.ToArray());
        }

        [Fact]
        public void WrongCkLengthIsAUsageError()
        {
            var run = Cli.Run("kdf", "--ck", "b40ba9a3c58b2a05bbf0d987b21bf8", "--ik", "f769bcd751044604127672711c6d3441");
            Assert.Equal(2, run.ExitCode);
            Assert.Contains("--ck", run.StdErr);
        }

        /// <summary>TS 33.220 Annex B.2.1.2 wants character strings NFKC-normalised before UTF-8; without Unicode tables
        /// (InvariantGlobalization) a non-ASCII EMSE_Id is refused rather than derived from one of its spellings. An EMSE_Id
        /// above 255 octets is a usage error.</summary>
        [Fact]
        public void NonAsciiAndOverlongEmseIdsAreUsageErrors()
        {
            const string Ck = "b40ba9a3c58b2a05bbf0d987b21bf8cb", Ik = "f769bcd751044604127672711c6d3441";
            foreach (string id in new[] { "\u00e9mse.example", "e\u0301mse.example", "emse example" })
            {
                var run = Cli.Run("kdf", "--ck", Ck, "--ik", Ik, "--emse-id", id);
                Assert.Equal(2, run.ExitCode);
                Assert.Contains("ASCII", run.StdErr);
            }

            Assert.Equal(0, Cli.Run("kdf", "--ck", Ck, "--ik", Ik, "--emse-id", "xn--mse-bma.example").ExitCode);

            var overlong = Cli.Run("kdf", "--ck", Ck, "--ik", Ik, "--emse-id", new string('a', 256));
            Assert.Equal(2, overlong.ExitCode);
            Assert.Single(overlong.StdErr.Trim().Split('\n'));
            Assert.Equal(0, Cli.Run("kdf", "--ck", Ck, "--ik", Ik, "--emse-id", new string('a', 255)).ExitCode);
        }
    }
}

using System;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using E2m.Server.Common;
using E2m.Server.Hss.Auc;
using Xunit;

namespace E2m.Server.Hss.Tests
{
    /// <summary>E2m.Server.Common pieces the HSS relies on: at-rest encryption, dev PKI identities, trust, options validation.</summary>
    public class CommonTests
    {
        [Fact]
        public void AtRestBlobsAreAuthenticatedAndBoundToTheirAssociatedData()
        {
            byte[] kek = RandomNumberGenerator.GetBytes(32);
            using var p = new AtRestProtector(kek);
            byte[] secret = RandomNumberGenerator.GetBytes(16);
            byte[] blob = p.Protect(secret, "hss/subscriber/1/k");
            Assert.Equal(secret, p.Unprotect(blob, "hss/subscriber/1/k"));
            Assert.NotEqual(blob, p.Protect(secret, "hss/subscriber/1/k")); // fresh nonce per blob
            Assert.Throws<CryptographicException>(() => p.Unprotect(blob, "hss/subscriber/2/k"));
            for (int i = 0; i < blob.Length; i++)
            {
                byte[] t = (byte[])blob.Clone();
                t[i] ^= 0x01;
                Assert.Throws<CryptographicException>(() => p.Unprotect(t, "hss/subscriber/1/k"));
            }

            Assert.Throws<CryptographicException>(() => p.Unprotect(blob.Take(20).ToArray(), "hss/subscriber/1/k"));
        }

        [Theory]
        [InlineData("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", true)]
        [InlineData("ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=", true)]
        [InlineData("0011", false)]
        [InlineData("not a key", false)]
        [InlineData("", false)]
        public void KekParsingAcceptsHexOrBase64Of32OctetsOnly(string text, bool ok)
        {
            if (ok)
            {
                Assert.Equal(32, AtRestProtector.ParseKek(text).Length);
            }
            else
            {
                FormatException e = Assert.Throws<FormatException>(() => AtRestProtector.ParseKek(text));
                Assert.DoesNotContain(text.Length > 0 ? text : "§", e.Message); // never echo the value
            }
        }

        [Fact]
        public void DevPkiRolesEmseIdAndTrust()
        {
            X509Certificate2 ca = DevPki.CreateCa();
            var trust = new E2mTrustAnchor(ca);
            X509Certificate2 hss = DevPki.IssueFixed(ca, DevPki.Hss);
            X509Certificate2 sn = DevPki.IssueFixed(ca, DevPki.ServingNode);
            X509Certificate2 emse = DevPki.IssueEmse(ca, "emse.example.org");
            X509Certificate2 localhost = DevPki.IssueFixed(ca, DevPki.Localhost);
            Assert.True(CertificateIdentity.IsHss(hss));
            Assert.True(CertificateIdentity.IsServingNode(sn));
            Assert.Equal("emse.example.org", CertificateIdentity.GetEmseId(emse));
            Assert.Null(CertificateIdentity.GetEmseId(hss));
            Assert.True(trust.Validate(hss, DevPki.ClientAuthOid));
            Assert.True(trust.Validate(hss, DevPki.ServerAuthOid));
            Assert.True(trust.Validate(sn, DevPki.ClientAuthOid));
            Assert.False(trust.Validate(sn, DevPki.ServerAuthOid));        // client-only EKU
            Assert.False(trust.Validate(localhost, DevPki.ClientAuthOid)); // server-only EKU
            Assert.False(trust.Validate(DevPki.IssueFixed(DevPki.CreateCa("other"), DevPki.ServingNode), DevPki.ClientAuthOid));
            Assert.False(trust.Validate(null, DevPki.ClientAuthOid));
            Assert.Throws<ArgumentException>(() => DevPki.IssueEmse(ca, "bad id/../x"));
        }

        [Fact]
        public void HssOptionsValidationNamesTheSettingAndNeverTheSecret()
        {
            var o = new HssOptions { Kek = "secret-kek-value" };
            o.Listen.Port = 70000;
            o.Emks.BaseUrl = "http://emks";
            o.Auc.E2mAmfMask = "8000";
            o.Auc.MaxVectorsPerRequest = 0;
            string[] errors = HssOptions.Validate(o).ToArray();
            Assert.Contains(errors, e => e.StartsWith("Kek:", StringComparison.Ordinal));
            Assert.Contains(errors, e => e.StartsWith("Listen:Port", StringComparison.Ordinal));
            Assert.Contains(errors, e => e.StartsWith("Emks:BaseUrl", StringComparison.Ordinal));
            Assert.Contains(errors, e => e.StartsWith("Auc:E2mAmfMask", StringComparison.Ordinal));
            Assert.Contains(errors, e => e.StartsWith("Auc:MaxVectorsPerRequest", StringComparison.Ordinal));
            Assert.DoesNotContain(errors, e => e.Contains("secret-kek-value", StringComparison.Ordinal));
            Assert.Empty(HssOptions.Validate(new HssOptions()));
        }

        /// <summary>TS 33.102 Annex C options: each bad value is named with its setting and clause.</summary>
        [Theory]
        [InlineData("IND 0 bits", 0, 268435456L, 0L, 5, "Sqn:IndBits")]
        [InlineData("IND 11 bits", 11, 268435456L, 0L, 5, "Sqn:IndBits")]
        [InlineData("Δ 0", 5, 0L, 0L, 5, "Sqn:Delta")]
        [InlineData("Δ below numVectors", 5, 3L, 0L, 5, "Sqn:Delta")]
        [InlineData("Δ above SEQmax", 5, 1L << 43, 0L, 5, "Sqn:Delta")]
        [InlineData("L below numVectors", 5, 268435456L, 2L, 5, "Sqn:AgeLimit")]
        public void SqnOptionsAreValidated(string source, int indBits, long delta, long ageLimit, int maxVectors, string expected)
        {
            var o = new HssOptions();
            o.Sqn.IndBits = indBits;
            o.Sqn.Delta = delta;
            o.Sqn.AgeLimit = ageLimit;
            o.Auc.MaxVectorsPerRequest = maxVectors;
            string[] errors = HssOptions.Validate(o).ToArray();
            Assert.True(errors.Length == 1 && errors[0].StartsWith(expected + ":", StringComparison.Ordinal), source + ": " + string.Join(" | ", errors));
            o.Sqn.IndBits = 5;
            o.Sqn.Delta = 5;
            o.Sqn.AgeLimit = 5;
            Assert.Empty(HssOptions.Validate(o));
        }

        [Fact]
        public void HssRefusesToStartWithInvalidOptions()
        {
            string dir = TestDb.NewTempDir();
            // Refused while building or starting, with the setting named.
            var e = Assert.ThrowsAny<Microsoft.Extensions.Options.OptionsValidationException>(() =>
                HssApp.Build(new[] { "--Hss:DataDirectory=" + dir, "--Hss:Listen:Port=0", "--Hss:Auc:E2mAmfMask=zz" }).StartAsync().GetAwaiter().GetResult());
            Assert.Contains("Hss: Auc:E2mAmfMask", e.Message);
        }

        /// <summary>Hss:Emks:PolicySync is validated at start like the other options; the backoff doubles up to its cap.</summary>
        [Fact]
        public void PolicySyncOptionsAreValidatedAtStart()
        {
            var o = new E2m.Server.Hss.Emks.EmksPolicySyncOptions { PollIntervalSeconds = 0, InitialBackoffSeconds = 10, MaxBackoffSeconds = 5, BatchSize = 0 };
            string[] errors = E2m.Server.Hss.Emks.EmksPolicySyncOptions.Validate(o).ToArray();
            Assert.Equal(new[] { "PollIntervalSeconds", "MaxBackoffSeconds", "BatchSize" }, errors.Select(e => e.Split(':')[0]).ToArray());
            var d = new E2m.Server.Hss.Emks.EmksPolicySyncOptions();
            Assert.Empty(E2m.Server.Hss.Emks.EmksPolicySyncOptions.Validate(d));
            Assert.Equal(new[] { 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300 }, Enumerable.Range(1, 11).Select(n => (int)d.BackoffAfter(n).TotalSeconds).ToArray());
            Assert.Equal(TimeSpan.FromMinutes(5), d.BackoffAfter(int.MaxValue));

            string dir = TestDb.NewTempDir();
            var e = Assert.ThrowsAny<Microsoft.Extensions.Options.OptionsValidationException>(() =>
                HssApp.Build(new[] { "--Hss:DataDirectory=" + dir, "--Hss:Listen:Port=0", "--Hss:Emks:PolicySync:PollIntervalSeconds=0" }).StartAsync().GetAwaiter().GetResult());
            Assert.Contains("Hss:Emks:PolicySync: PollIntervalSeconds", e.Message);
        }

        [Fact]
        public void DatabaseProviderSelection()
        {
            Assert.Equal(DbDialect.Postgres, E2mDatabase.Create(null, "Host=db;Username=u;Password=p;Database=d", "/tmp", "x.db").Dialect);
            Assert.Equal(DbDialect.Postgres, E2mDatabase.Create(null, "Port=5432;Host=db", "/tmp", "x.db").Dialect);
            Assert.Equal(DbDialect.Sqlite, E2mDatabase.Create(null, null, TestDb.NewTempDir(), "x.db").Dialect);
            Assert.Equal(DbDialect.Sqlite, E2mDatabase.Create("sqlite", "Data Source=" + System.IO.Path.Combine(TestDb.NewTempDir(), "y.db"), "/tmp", "x.db").Dialect);
            Assert.Throws<ArgumentException>(() => E2mDatabase.Create("oracle", null, "/tmp", "x.db"));
            Assert.DoesNotContain("secretpw", E2mDatabase.Postgres("Host=db;Username=u;Password=secretpw;Database=d").Describe());
        }
    }
}

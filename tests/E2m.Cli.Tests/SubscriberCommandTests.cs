using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.TestSupport;
using Xunit;

namespace E2m.Cli.Tests
{
    /// <summary>`e2m subscriber ...` and `e2m pki init` on a temp data directory (SQLite): contract options, output, exit codes.</summary>
    public class SubscriberCommandTests
    {
        private const string K = "465b5ce8b199b49faa5f0a2ee238a6bc", Opc = "cd63cb71954a9f4e48a5994e37a02baf"; // TS 35.208 set 1

        private static string NewDir() => Path.Combine(Path.GetTempPath(), "e2m-cli-tests", Guid.NewGuid().ToString("N"));

        [Fact]
        public void AddShowListUpdateDeleteWithTheContractOptions()
        {
            string d = NewDir();
            CliRun add = Cli.Run("subscriber", "add", "--data-dir", d, "--imsi", "001010000000001", "--k", K, "--opc", Opc,
                "--sqn", "ff9bb4d0b607", "--amf", "b9b9", "--e2m", "--emse-id", "emse.example.org", "--emse-id", "b.example.org",
                "--key-lifetime", "86400", "--external-id", "meter-1", "--access-key-separation", "--min-gea", "3");
            Assert.True(add.ExitCode == 0, add.StdErr);
            var f = add.Fields();
            Assert.Equal("001010000000001", f["imsi"]);
            Assert.Equal("true", f["e2m"]);
            Assert.Equal("emse.example.org,b.example.org", f["emse_ids"]);
            Assert.Equal("b9b9", f["amf"]);
            Assert.Equal("86400", f["key_lifetime_s"]);
            Assert.Equal("3", f["min_gea"]);
            Assert.Equal("true", f["access_key_separation"]);
            Assert.Equal("meter-1", f["external_id"]);
            Assert.Equal((0xff9bb4d0b607UL >> 5).ToString(), f["seq"]);
            Assert.Equal("8", f["ind_next"]); // IND 7 given, next 8
            Assert.DoesNotContain(K, add.StdOut);
            Assert.True(File.Exists(Path.Combine(d, "dev-kek.hex")));

            CliRun list = Cli.Run("subscriber", "list", "--data-dir", d);
            Assert.StartsWith("001010000000001: e2m=yes", list.StdOut);

            CliRun upd = Cli.Run("subscriber", "update", "--data-dir", d, "--imsi", "001010000000001", "--e2m", "false", "--clear-emse-ids", "--json");
            Assert.True(upd.ExitCode == 0, upd.StdErr);
            JsonElement j = JsonDocument.Parse(upd.StdOut).RootElement;
            Assert.False(j.GetProperty("e2m").GetBoolean());
            Assert.Equal(0, j.GetProperty("emseIds").GetArrayLength());
            Assert.False(j.TryGetProperty("k", out _));

            CliRun show = Cli.Run("subscriber", "show", "--data-dir", d, "--imsi", "001010000000001");
            Assert.Equal("false", show.Fields()["e2m"]);
            Assert.Equal(0, Cli.Run("subscriber", "delete", "--data-dir", d, "--imsi", "001010000000001").ExitCode);
            Assert.Equal(1, Cli.Run("subscriber", "show", "--data-dir", d, "--imsi", "001010000000001").ExitCode);
        }

        /// <summary>
        /// policy_version in show/list (text and JSON), + 1 per update; an update or delete of an e2m subscriber queues the EMKS
        /// policy sync and says so in one line; a non-e2m subscriber queues nothing.
        /// </summary>
        [Fact]
        public void PolicyVersionIsShownAndE2mChangesAreQueuedForTheEmks()
        {
            string d = NewDir();
            CliRun add = Cli.Run("subscriber", "add", "--data-dir", d, "--imsi", "001010000000001", "--k", K, "--opc", Opc, "--e2m", "--emse-id", "emse.example.org");
            Assert.True(add.ExitCode == 0, add.StdErr);
            Assert.Equal("0", add.Fields()["policy_version"]);
            Assert.False(add.Fields().ContainsKey("emks policy sync"));

            CliRun upd = Cli.Run("subscriber", "update", "--data-dir", d, "--imsi", "001010000000001", "--clear-emse-ids");
            Assert.True(upd.ExitCode == 0, upd.StdErr);
            Assert.Equal("1", upd.Fields()["policy_version"]);
            Assert.Equal("queued", upd.Fields()["emks policy sync"]);
            Assert.Single(upd.StdOut.Split('\n'), l => l.StartsWith("emks policy sync:", StringComparison.Ordinal));

            CliRun json = Cli.Run("subscriber", "update", "--data-dir", d, "--imsi", "001010000000001", "--max-messages", "5", "--json");
            JsonElement j = JsonDocument.Parse(json.StdOut).RootElement;
            Assert.Equal(2, j.GetProperty("policyVersion").GetInt64());
            Assert.Equal("queued", j.GetProperty("emksPolicySync").GetString());

            CliRun show = Cli.Run("subscriber", "show", "--data-dir", d, "--imsi", "001010000000001", "--json");
            j = JsonDocument.Parse(show.StdOut).RootElement;
            Assert.Equal(2, j.GetProperty("policyVersion").GetInt64());
            Assert.False(j.TryGetProperty("emksPolicySync", out _));
            Assert.Equal("2", Cli.Run("subscriber", "show", "--data-dir", d, "--imsi", "001010000000001").Fields()["policy_version"]);
            Assert.Contains(" policy_version=2", Cli.Run("subscriber", "list", "--data-dir", d).StdOut);
            Assert.Equal(2, JsonDocument.Parse(Cli.Run("subscriber", "list", "--data-dir", d, "--json").StdOut).RootElement
                .GetProperty("subscribers")[0].GetProperty("policyVersion").GetInt64());

            CliRun del = Cli.Run("subscriber", "delete", "--data-dir", d, "--imsi", "001010000000001");
            Assert.True(del.ExitCode == 0, del.StdErr);
            Assert.Equal("queued", del.Fields()["emks policy sync"]);

            // not an e2m subscriber: nothing to tell the EMKS
            Cli.Run("subscriber", "add", "--data-dir", d, "--imsi", "001010000000002", "--k", K, "--opc", Opc);
            CliRun plain = Cli.Run("subscriber", "update", "--data-dir", d, "--imsi", "001010000000002", "--min-gea", "3");
            Assert.Equal("1", plain.Fields()["policy_version"]);
            Assert.False(plain.Fields().ContainsKey("emks policy sync"));
            Assert.DoesNotContain("emks policy sync", Cli.Run("subscriber", "delete", "--data-dir", d, "--imsi", "001010000000002").StdOut);

            // what is queued (the HSS sends it when it runs): one row for the e2m subscription, the revocation at version 3
            var store = new E2m.Server.Hss.Subscribers.SubscriberStore(
                E2m.Server.Common.E2mDatabase.Sqlite(Path.Combine(d, "hss.db")),
                new E2m.Server.Common.AtRestProtector(E2m.Server.Common.AtRestProtector.ReadKekFile(Path.Combine(d, "dev-kek.hex"))));
            store.EnsureSchema();
            var row = Assert.Single(new E2m.Server.Hss.Emks.EmksPolicyOutbox(store.Database).All());
            Assert.Equal(add.Fields()["subscription_id"], row.SubscriptionId);
            Assert.Equal((3L, false), (row.Policy.PolicyVersion, row.Policy.E2m));
        }

        [Theory]
        [InlineData("bad IMSI", "--imsi", "0010x", 2)]
        [InlineData("short K", "--k", "0011", 2)]
        [InlineData("bad EMSE_Id", "--emse-id", "a b", 2)]
        [InlineData("AMF 3 octets", "--amf", "b9b9b9", 2)]
        [InlineData("min GEA 9", "--min-gea", "9", 2)]
        public void BadInputIsAUsageError(string source, string option, string value, int exit)
        {
            string d = NewDir();
            var args = new System.Collections.Generic.List<string> { "subscriber", "add", "--data-dir", d, "--imsi", "001010000000001", "--k", K, "--opc", Opc };
            int i = args.IndexOf(option);
            if (i >= 0)
            {
                args[i + 1] = value;
            }
            else
            {
                args.Add(option);
                args.Add(value);
            }

            CliRun r = Cli.Run(args.ToArray());
            Assert.True(r.ExitCode == exit, $"{source}: exit {r.ExitCode} {r.StdErr}");
            Assert.Contains("e2m: error:", r.StdErr);
        }

        [Fact]
        public void DuplicateIsExit1()
        {
            string d = NewDir();
            Assert.Equal(0, Cli.Run("subscriber", "add", "--data-dir", d, "--imsi", "001010000000001", "--k", K, "--opc", Opc).ExitCode);
            CliRun dup = Cli.Run("subscriber", "add", "--data-dir", d, "--imsi", "001010000000001", "--k", K, "--opc", Opc);
            Assert.Equal(1, dup.ExitCode);
            Assert.Contains("already exists", dup.StdErr);
        }

        /// <summary>A KEK that does not open the database, or a database that cannot be used: exit 2 with one line, nothing written.</summary>
        [Fact]
        public void ForeignKekAndUnusableDatabaseAreExit2NotACrash()
        {
            string d = NewDir();
            Assert.Equal(0, Cli.Run("subscriber", "add", "--data-dir", d, "--imsi", "001010000000001", "--k", K, "--opc", Opc).ExitCode);
            string otherKek = Path.Combine(d, "other-kek.hex");
            File.WriteAllText(otherKek, Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
            CliRun foreign = Cli.Run("subscriber", "add", "--data-dir", d, "--kek-file", otherKek, "--imsi", "001010000000002", "--k", K, "--opc", Opc);
            Assert.Equal(2, foreign.ExitCode);
            Assert.Contains("KEK does not open", foreign.StdErr);
            Assert.Equal(2, Cli.Run("subscriber", "vectors", "--data-dir", d, "--kek-file", otherKek, "--imsi", "001010000000001").ExitCode);
            Assert.DoesNotContain("001010000000002", Cli.Run("subscriber", "list", "--data-dir", d).StdOut);

            string notADb = Path.Combine(d, "not-a-db");
            File.WriteAllText(notADb, "this is not an SQLite file, it is long enough to have a header of sixteen octets and more");
            CliRun bad = Cli.Run("subscriber", "list", "--data-dir", d, "--db", "Data Source=" + notADb);
            Assert.Equal(2, bad.ExitCode);
            Assert.StartsWith("e2m: error: database:", bad.StdErr);
            Assert.Single(bad.StdErr.Trim().Split('\n'));
        }

        /// <summary>Local vectors verify with the USIM-side AUTN check (E2m.Crypto) and continue the SQN; e2m subscribers are refused.</summary>
        [Fact]
        public void VectorsAreVerifiableAndE2mSubscribersAreRefused()
        {
            string d = NewDir();
            Cli.Run("subscriber", "add", "--data-dir", d, "--imsi", "001010000000001", "--k", K, "--opc", Opc);
            CliRun v = Cli.Run("subscriber", "vectors", "--data-dir", d, "--imsi", "001010000000001", "--rat", "eutran", "--plmn", "00101", "--num-vectors", "2", "--json");
            Assert.True(v.ExitCode == 0, v.StdErr);
            JsonElement[] vs = JsonDocument.Parse(v.StdOut).RootElement.GetProperty("vectors").EnumerateArray().ToArray();
            Assert.Equal(2, vs.Length);
            var m = new Milenage(new PlatformAes128());
            m.SetKey(Hex.Decode(K), Hex.Decode(Opc));
            foreach (JsonElement x in vs)
            {
                byte[] sqn = new byte[6];
                Assert.True(Aka.TryVerifyAutn(m, Hex.Decode(x.GetProperty("rand").GetString()), Hex.Decode(x.GetProperty("autn").GetString()), sqn));
                Assert.Equal(x.GetProperty("sqn").GetString(), Hex.Encode(sqn));
                Assert.Equal("8000", x.GetProperty("amf").GetString());
                Assert.Equal(64, x.GetProperty("kasme").GetString()!.Length);
            }

            Cli.Run("subscriber", "add", "--data-dir", d, "--imsi", "001010000000002", "--k", K, "--opc", Opc, "--e2m");
            CliRun refused = Cli.Run("subscriber", "vectors", "--data-dir", d, "--imsi", "001010000000002");
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains("EMKS", refused.StdErr);
        }

        [Fact]
        public void PkiInitWritesTheDevPkiAndIsIdempotent()
        {
            string d = NewDir();
            CliRun r = Cli.Run("pki", "init", "--data-dir", d, "--emse-id", "emse.example.org");
            Assert.True(r.ExitCode == 0, r.StdErr);
            var f = r.Fields();
            Assert.Equal("25", f["written"]); // KEK + CA + 6 fixed leaves + 1 EMSE, each .crt .key .pfx
            foreach (string name in new[] { "ca", "hss", "emks", "serving-node", "admin", "reader", "localhost", "emse-emse.example.org" })
            {
                Assert.True(File.Exists(Path.Combine(d, "pki", name + ".crt")), name);
                Assert.True(File.Exists(Path.Combine(d, "pki", name + ".pfx")), name);
            }

            string caBefore = File.ReadAllText(Path.Combine(d, "pki", "ca.crt"));
            CliRun again = Cli.Run("pki", "init", "--data-dir", d, "--emse-id", "emse2.example.org");
            Assert.Equal("3", again.Fields()["written"]); // only the new EMSE
            Assert.Equal(caBefore, File.ReadAllText(Path.Combine(d, "pki", "ca.crt")));
            Assert.Equal(2, Cli.Run("pki", "init", "--data-dir", d, "--emse-id", "bad id").ExitCode);

            // named readers of the readings API (Emse:ReaderDevices): reader-NAME, CN = NAME, OU = reader, same CA
            CliRun readers = Cli.Run("pki", "init", "--data-dir", d, "--reader", "acme", "--reader", "grid-ops");
            Assert.True(readers.ExitCode == 0, readers.StdErr);
            Assert.Equal("6", readers.Fields()["written"]);
            using (var cert = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(Path.Combine(d, "pki", "reader-acme.crt")))
            {
                Assert.Equal("CN=acme, OU=reader, O=e2m development PKI", cert.Subject);
                using var ca = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(Path.Combine(d, "pki", "ca.crt"));
                Assert.Equal(ca.Subject, cert.Issuer);
            }

            Assert.Equal(2, Cli.Run("pki", "init", "--data-dir", d, "--reader", "Not_A_Name").ExitCode);
        }

        [Fact]
        public void PkiRevokeWritesTheCaRevocationListAndInitIssuesANewCertificate()
        {
            string d = NewDir();
            Assert.Equal(0, Cli.Run("pki", "init", "--data-dir", d, "--emse-id", "emse.example.org", "--reader", "acme").ExitCode);
            string serial;
            using (var sn = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(Path.Combine(d, "pki", "serving-node.crt")))
            {
                serial = E2m.Server.Common.RevocationList.SerialKey(sn.SerialNumberBytes.Span).ToLowerInvariant();
            }

            CliRun r = Cli.Run("pki", "revoke", "--data-dir", d, "--name", "serving-node", "--reason", "key-compromise");
            Assert.True(r.ExitCode == 0, r.StdErr);
            var f = r.Fields();
            Assert.Equal(("serving-node", serial, "1", "1"), (f["revoked"], f["serial"], f["crl_number"], f["revoked_count"]));
            Assert.Equal(Path.GetFullPath(Path.Combine(d, "pki", "ca.crl")), f["crl"]);
            Assert.StartsWith("-----BEGIN X509 CRL-----", File.ReadAllText(f["crl"]));
            Assert.False(File.Exists(Path.Combine(d, "pki", "serving-node.pfx")));

            CliRun byEmse = Cli.Run("pki", "revoke", "--data-dir", d, "--emse-id", "emse.example.org");
            Assert.Equal(("emse-emse.example.org", "2", "2"), (byEmse.Fields()["revoked"], byEmse.Fields()["crl_number"], byEmse.Fields()["revoked_count"]));
            Assert.Equal("reader-acme", Cli.Run("pki", "revoke", "--data-dir", d, "--reader", "acme").Fields()["revoked"]);
            CliRun bySerial = Cli.Run("pki", "revoke", "--data-dir", d, "--serial", "7a01");
            Assert.Equal(("7a01", "4"), (bySerial.Fields()["serial"], bySerial.Fields()["crl_number"]));

            // `pki init` issues a new serving-node certificate (new serial) and nothing else
            CliRun init = Cli.Run("pki", "init", "--data-dir", d);
            Assert.Equal("3", init.Fields()["written"]);

            // usage errors: exit 2, one line, nothing written
            string crlBefore = File.ReadAllText(f["crl"]);
            Assert.Equal(2, Cli.Run("pki", "revoke", "--data-dir", d, "--name", "reader-acme").ExitCode); // already revoked
            Assert.Equal(2, Cli.Run("pki", "revoke", "--data-dir", d, "--name", "ca").ExitCode);
            Assert.Equal(2, Cli.Run("pki", "revoke", "--data-dir", d, "--name", "nobody").ExitCode);
            Assert.Equal(2, Cli.Run("pki", "revoke", "--data-dir", d).ExitCode);
            Assert.Equal(2, Cli.Run("pki", "revoke", "--data-dir", d, "--name", "admin", "--serial", "01").ExitCode);
            Assert.Equal(2, Cli.Run("pki", "revoke", "--data-dir", d, "--name", "admin", "--reason", "bored").ExitCode);
            Assert.Equal(2, Cli.Run("pki", "revoke", "--data-dir", d, "--serial", "7a01").ExitCode);
            Assert.Equal(2, Cli.Run("pki", "revoke", "--data-dir", NewDir(), "--name", "admin").ExitCode);
            Assert.Equal(crlBefore, File.ReadAllText(f["crl"]));

            // a list on disk that does not verify is not built upon
            File.WriteAllText(f["crl"], crlBefore.Replace("A", "B", StringComparison.Ordinal));
            CliRun tampered = Cli.Run("pki", "revoke", "--data-dir", d, "--name", "admin");
            Assert.Equal(2, tampered.ExitCode);
            Assert.Contains("ca.crl", tampered.StdErr);
            Assert.True(File.Exists(Path.Combine(d, "pki", "admin.pfx")));
        }
    }
}

using System;
using System.Formats.Asn1;
using System.IO;
using System.Linq;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using E2m.Server.Common;
using E2m.TestSupport;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace E2m.Server.Hss.Tests
{
    /// <summary>
    /// The dev PKI's revocation list (RFC 5280 §5): `DevPki.Revoke` writes it, every service's <see cref="E2mTrustAnchor"/>
    /// honours it; tampered, foreign, rolled-back or unprocessable lists are refused. OpenSSL is the independent oracle both
    /// ways: it verifies the list we write, and a list written by `openssl ca -gencrl` is parsed and verified here.
    /// </summary>
    public class RevocationTests : IDisposable
    {
        private readonly string _dir = TestDb.NewTempDir();

        public RevocationTests()
        {
            DevPki.Init(_dir, new[] { "emse.example.org" }, new[] { "acme" });
        }

        public void Dispose()
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        private X509Certificate2 Leaf(string name) => DevPki.LoadCertificate(_dir, name);

        [Fact]
        public void RevokedCertificateNoLongerValidatesTheOthersStill()
        {
            X509Certificate2 servingNode = Leaf(DevPki.ServingNode);
            X509Certificate2 admin = Leaf(DevPki.Admin);
            E2mTrustAnchor trust = DevPki.LoadTrustAnchor(_dir);
            Assert.Null(trust.Revocations);
            Assert.True(trust.Validate(servingNode, DevPki.ClientAuthOid));

            DevPki.Revocation r = DevPki.Revoke(_dir, DevPki.ServingNode, X509RevocationReason.KeyCompromise);
            Assert.Equal((DevPki.ServingNode, RevocationList.SerialKey(servingNode.SerialNumberBytes.Span).ToLowerInvariant(), BigInteger.One, 1), (r.Name, r.SerialNumber, r.CrlNumber, r.Count));
            Assert.True(trust.RefreshRevocations(force: true));
            Assert.Equal(1, trust.CrlGeneration);
            Assert.False(trust.Validate(servingNode, DevPki.ClientAuthOid));
            Assert.True(trust.Validate(admin, DevPki.ClientAuthOid));
            Assert.True(trust.Validate(Leaf(DevPki.Hss), DevPki.ServerAuthOid));

            // The key and PFX are gone, the certificate is kept aside, and `pki init` issues a new one that validates.
            Assert.False(File.Exists(DevPki.PfxPath(_dir, DevPki.ServingNode)));
            Assert.False(File.Exists(DevPki.KeyPath(_dir, DevPki.ServingNode)));
            Assert.True(File.Exists(Path.Combine(DevPki.RevokedDirectory(_dir), DevPki.ServingNode + "-" + servingNode.SerialNumber.ToLowerInvariant() + ".crt")));
            DevPki.Init(_dir, Array.Empty<string>());
            X509Certificate2 reissued = Leaf(DevPki.ServingNode);
            Assert.NotEqual(servingNode.SerialNumber, reissued.SerialNumber);
            Assert.True(trust.Validate(reissued, DevPki.ClientAuthOid));

            // A second revocation: CRL number 2, both serials on it; a fresh anchor (a restart) reads it at start.
            DevPki.Revocation r2 = DevPki.Revoke(_dir, DevPki.ReaderFileName("acme"));
            Assert.Equal((new BigInteger(2), 2), (r2.CrlNumber, r2.Count));
            E2mTrustAnchor restarted = DevPki.LoadTrustAnchor(_dir);
            Assert.Equal(2, restarted.Revocations!.Count);
            Assert.False(restarted.Validate(servingNode, DevPki.ClientAuthOid));
            Assert.True(restarted.Validate(reissued, DevPki.ClientAuthOid));

            Assert.Throws<ArgumentException>(() => DevPki.Revoke(_dir, DevPki.ReaderFileName("acme"))); // gone already
            Assert.Throws<ArgumentException>(() => DevPki.Revoke(_dir, DevPki.Ca));
            Assert.Throws<ArgumentException>(() => DevPki.Revoke(_dir, "../ca"));
            Assert.Throws<ArgumentException>(() => DevPki.RevokeSerial(_dir, servingNode.SerialNumberBytes.ToArray())); // already on the list
        }

        [Fact]
        public void TheListIsLookedAtAgainOncePerSecondOfTheInjectedClock()
        {
            var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 29, 8, 0, 0, TimeSpan.Zero));
            var trust = E2mTrustAnchor.Load(DevPki.CertificatePath(_dir, DevPki.Ca), clock);
            X509Certificate2 reader = Leaf(DevPki.Reader);
            Assert.False(trust.IsRevoked(reader));
            DevPki.Revoke(_dir, DevPki.Reader);
            clock.Advance(TimeSpan.FromMilliseconds(999));
            Assert.False(trust.IsRevoked(reader)); // not looked at again yet
            clock.Advance(TimeSpan.FromMilliseconds(1));
            Assert.True(trust.IsRevoked(reader));
            Assert.Equal(1, trust.CrlGeneration);
            clock.Advance(TimeSpan.FromSeconds(5));
            Assert.False(trust.RefreshRevocations()); // unchanged file: same list
            Assert.Equal(1, trust.CrlGeneration);
        }

        [Fact]
        public void ABadReplacementKeepsTheListInUse()
        {
            X509Certificate2 servingNode = Leaf(DevPki.ServingNode);
            X509Certificate2 admin = Leaf(DevPki.Admin);
            DevPki.Revoke(_dir, DevPki.ServingNode);
            string path = DevPki.CrlPath(_dir);
            byte[] first = File.ReadAllBytes(path);
            DevPki.Revoke(_dir, DevPki.Admin);
            E2mTrustAnchor trust = DevPki.LoadTrustAnchor(_dir);
            Assert.Equal(new BigInteger(2), trust.Revocations!.CrlNumber);

            // Rollback to CRL number 1 (which lacks the admin certificate): refused, number 2 stays in use.
            File.WriteAllBytes(path, first);
            Assert.False(trust.RefreshRevocations(force: true));
            Assert.Contains("does not follow", trust.LastCrlError);
            Assert.True(trust.IsRevoked(admin));

            // Garbage, a half-written file, a deleted file: the list in use stays.
            File.WriteAllText(path, "-----BEGIN X509 CRL-----\nAAAA\n");
            Assert.False(trust.RefreshRevocations(force: true));
            Assert.NotNull(trust.LastCrlError);
            File.Delete(path);
            Assert.False(trust.RefreshRevocations(force: true));
            Assert.Contains("gone", trust.LastCrlError);
            Assert.True(trust.IsRevoked(servingNode) && trust.IsRevoked(admin));
            Assert.Equal(0, trust.CrlGeneration);

            // A list that does not verify at start: the service does not start.
            File.WriteAllBytes(path, Tamper(first, first.Length - 3));
            Assert.Throws<CrlFormatException>(() => DevPki.LoadTrustAnchor(_dir));
        }

        private static byte[] Tamper(byte[] pem, int index)
        {
            byte[] der = PemToDer(pem);
            der[Math.Min(index, der.Length - 1)] ^= 0x01;
            return der;
        }

        private static byte[] PemToDer(byte[] pem)
        {
            string text = System.Text.Encoding.ASCII.GetString(pem);
            PemFields f = PemEncoding.Find(text);
            return Convert.FromBase64String(text[f.Base64Data]);
        }

        [Fact]
        public void TamperedForeignAndMalformedListsAreRefusedWithATypedError()
        {
            DevPki.Revoke(_dir, DevPki.ServingNode);
            X509Certificate2 ca = DevPki.LoadCaCertificate(_dir);
            byte[] der = PemToDer(File.ReadAllBytes(DevPki.CrlPath(_dir)));
            Assert.Equal(1, RevocationList.Parse(der, ca).Count);

            // Every single-bit flip in the signed part or the signature is refused (never silently accepted).
            for (int i = 0; i < der.Length; i++)
            {
                byte[] t = (byte[])der.Clone();
                t[i] ^= 0x01;
                Assert.Throws<CrlFormatException>(() => RevocationList.Parse(t, ca));
            }

            Assert.Equal(CrlError.Malformed, Assert.Throws<CrlFormatException>(() => RevocationList.Parse(der.Concat(new byte[] { 0 }).ToArray(), ca)).Error);
            Assert.Equal(CrlError.Malformed, Assert.Throws<CrlFormatException>(() => RevocationList.Parse(der.Take(der.Length - 1).ToArray(), ca)).Error);
            Assert.Equal(CrlError.Malformed, Assert.Throws<CrlFormatException>(() => RevocationList.Parse(new byte[] { 0x30, 0x00 }, ca)).Error);
            Assert.Equal(CrlError.Malformed, Assert.Throws<CrlFormatException>(() =>
                RevocationList.Parse(System.Text.Encoding.ASCII.GetBytes(PemEncoding.WriteString("CERTIFICATE", der)), ca)).Error);
            Assert.Equal(CrlError.TooLarge, Assert.Throws<CrlFormatException>(() => RevocationList.Parse(new byte[RevocationList.MaxSize + 1], ca)).Error);

            // Signed by another CA with the same name: bad signature; with another name: wrong issuer.
            Assert.Equal(CrlError.BadSignature, Assert.Throws<CrlFormatException>(() => RevocationList.Parse(der, DevPki.CreateCa())).Error);
            Assert.Equal(CrlError.WrongIssuer, Assert.Throws<CrlFormatException>(() => RevocationList.Parse(der, DevPki.CreateCa("other CA"))).Error);
        }

        [Fact]
        public void CriticalExtensionsThisCodeDoesNotProcessAreRefused()
        {
            X509Certificate2 ca = DevPki.LoadCertificate(_dir, DevPki.Ca);
            byte[] serial = Leaf(DevPki.Admin).SerialNumberBytes.ToArray();
            Assert.True(RevocationList.Parse(HandMadeCrl(ca, serial, crlExtensionCritical: false, entryExtensionCritical: false), ca).IsRevoked(serial));
            Assert.Equal(CrlError.UnknownCriticalExtension,
                Assert.Throws<CrlFormatException>(() => RevocationList.Parse(HandMadeCrl(ca, serial, crlExtensionCritical: true, entryExtensionCritical: false), ca)).Error);
            // certificateIssuer (RFC 5280 §5.3.3, indirect CRL) is critical: an entry for another issuer's certificate.
            Assert.Equal(CrlError.UnknownCriticalExtension,
                Assert.Throws<CrlFormatException>(() => RevocationList.Parse(HandMadeCrl(ca, serial, crlExtensionCritical: false, entryExtensionCritical: true), ca)).Error);
        }

        /// <summary>A v2 CRL written with AsnWriter (not the builder the code uses) and signed with the CA's key.</summary>
        private static byte[] HandMadeCrl(X509Certificate2 ca, byte[] serial, bool crlExtensionCritical, bool entryExtensionCritical)
        {
            var tbs = new AsnWriter(AsnEncodingRules.DER);
            using (tbs.PushSequence())
            {
                tbs.WriteInteger(1); // v2
                WriteEcdsaSha256(tbs);
                tbs.WriteEncodedValue(ca.SubjectName.RawData);
                tbs.WriteUtcTime(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero));
                tbs.WriteUtcTime(new DateTimeOffset(2027, 11, 29, 0, 0, 0, TimeSpan.Zero));
                using (tbs.PushSequence())
                {
                    using (tbs.PushSequence())
                    {
                        tbs.WriteIntegerUnsigned(serial);
                        tbs.WriteUtcTime(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero));
                        using (tbs.PushSequence())
                        {
                            WriteExtension(tbs, entryExtensionCritical ? "2.5.29.29" : "2.5.29.24", entryExtensionCritical, new byte[] { 0x30, 0x00 });
                        }
                    }
                }

                using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
                using (tbs.PushSequence())
                {
                    WriteExtension(tbs, "2.5.29.20", false, new byte[] { 0x02, 0x01, 0x07 }); // CRL number 7
                    WriteExtension(tbs, "1.3.6.1.4.1.99999.1", crlExtensionCritical, new byte[] { 0x05, 0x00 });
                }
            }

            byte[] tbsDer = tbs.Encode();
            using ECDsa key = ca.GetECDsaPrivateKey()!;
            byte[] signature = key.SignData(tbsDer, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
            var crl = new AsnWriter(AsnEncodingRules.DER);
            using (crl.PushSequence())
            {
                crl.WriteEncodedValue(tbsDer);
                WriteEcdsaSha256(crl);
                crl.WriteBitString(signature);
            }

            return crl.Encode();
        }

        private static void WriteEcdsaSha256(AsnWriter w)
        {
            using (w.PushSequence())
            {
                w.WriteObjectIdentifier("1.2.840.10045.4.3.2");
            }
        }

        private static void WriteExtension(AsnWriter w, string oid, bool critical, byte[] value)
        {
            using (w.PushSequence())
            {
                w.WriteObjectIdentifier(oid);
                if (critical)
                {
                    w.WriteBoolean(true);
                }

                w.WriteOctetString(value);
            }
        }

        [SkippableFact]
        public void OpensslVerifiesOurListAndWeVerifyOpensslsList()
        {
            string openssl = ExternalTool.Require("openssl", "openssl");
            X509Certificate2 servingNode = Leaf(DevPki.ServingNode);
            DevPki.Revoke(_dir, DevPki.ServingNode, X509RevocationReason.KeyCompromise);
            string ca = DevPki.CertificatePath(_dir, DevPki.Ca);

            // Ours → OpenSSL: the signature verifies with the CA certificate and the serial is listed with its reason.
            ToolResult ours = ExternalTool.Run(openssl, new[] { "crl", "-in", DevPki.CrlPath(_dir), "-CAfile", ca, "-noout", "-text" });
            Assert.True(ours.ExitCode == 0, ours.StdErr);
            Assert.Contains("verify OK", ours.StdOut + ours.StdErr);
            Assert.Contains(servingNode.SerialNumber.TrimStart('0'), ours.StdOut.Replace(":", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
            Assert.Contains("Key Compromise", ours.StdOut);
            Assert.Contains("X509v3 CRL Number", ours.StdOut);

            // OpenSSL → ours: `openssl ca -revoke` + `-gencrl` with the dev CA's key; the list verifies here and revokes the admin certificate.
            X509Certificate2 admin = Leaf(DevPki.Admin);
            string work = Path.Combine(_dir, "openssl-ca");
            Directory.CreateDirectory(work);
            File.WriteAllText(Path.Combine(work, "index.txt"), "");
            File.WriteAllText(Path.Combine(work, "crlnumber"), "1000\n");
            string cnf = Path.Combine(work, "ca.cnf");
            File.WriteAllText(cnf, string.Join('\n',
                "[ ca ]", "default_ca = dev", "[ dev ]", "dir = " + work, "database = $dir/index.txt", "crlnumber = $dir/crlnumber",
                "certificate = " + ca, "private_key = " + DevPki.KeyPath(_dir, DevPki.Ca), "default_md = sha256", "default_crl_days = 30",
                "crl_extensions = crl_ext", "[ crl_ext ]", "authorityKeyIdentifier = keyid:always", ""));
            string adminPem = DevPki.CertificatePath(_dir, DevPki.Admin);
            ToolResult revoke = ExternalTool.Run(openssl, new[] { "ca", "-config", cnf, "-revoke", adminPem, "-crl_reason", "superseded" });
            Assert.True(revoke.ExitCode == 0, revoke.StdErr);
            string crl = Path.Combine(work, "crl.pem");
            ToolResult gen = ExternalTool.Run(openssl, new[] { "ca", "-config", cnf, "-gencrl", "-out", crl });
            Assert.True(gen.ExitCode == 0, gen.StdErr);

            RevocationList theirs = RevocationList.Load(crl, DevPki.LoadCaCertificate(_dir));
            Assert.Equal(new BigInteger(0x1000), theirs.CrlNumber);
            Assert.True(theirs.IsRevoked(admin));
            Assert.False(theirs.IsRevoked(servingNode));
            byte[] tampered = File.ReadAllBytes(crl);
            Assert.Throws<CrlFormatException>(() => RevocationList.Parse(Tamper(tampered, 40), DevPki.LoadCaCertificate(_dir)));
        }
    }
}

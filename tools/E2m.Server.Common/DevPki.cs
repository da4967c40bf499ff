using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace E2m.Server.Common
{
    /// <summary>
    /// Development PKI (issue 6 §4, DESIGN.md §6): a CA and ECDSA P-256 leaf certificates, written to
    /// <c>DATA_DIR/pki/</c> as PEM (<c>NAME.crt</c> + <c>NAME.key</c>, PKCS#8) and PFX (<c>NAME.pfx</c>, no password),
    /// plus a dev key-encryption key <c>DATA_DIR/dev-kek.hex</c>. Nothing here is for production and nothing is committed.
    /// <para>Roles are carried in the subject OU (see <see cref="CertificateIdentity"/>):</para>
    /// <list type="bullet">
    /// <item><c>hss</c>: server + client (serves the AIR/admin API, pushes to the EMKS);</item>
    /// <item><c>emks</c>: server + client (serves pushes/pulls, asks the HSS for home-mode vectors);</item>
    /// <item><c>serving-node</c>: client (the simulated SGSN/MME calling <c>POST /v1/air</c>);</item>
    /// <item><c>admin</c>: client (subscriber admin API; also allowed on the EMSE readings API);</item>
    /// <item><c>reader</c>: client (an application reading the EMSE readings API, nothing else);</item>
    /// <item><c>emse-ID</c> per EMSE: client, CN = EMSE_Id and one DNS SAN = EMSE_Id;</item>
    /// <item><c>localhost</c>: server certificate for any other HTTPS listener on this machine (e.g. the EMSE's HTTP API).</item>
    /// </list>
    /// Server certificates carry DNS SANs <c>localhost</c> + their name and IP SANs 127.0.0.1 and ::1.
    /// </summary>
    public static class DevPki
    {
        public const string Ca = "ca";
        public const string Hss = "hss";
        public const string Emks = "emks";
        public const string ServingNode = "serving-node";
        public const string Admin = "admin";
        public const string Reader = "reader";
        public const string Localhost = "localhost";
        public const string EmsePrefix = "emse-";

        public const string ServerAuthOid = "1.3.6.1.5.5.7.3.1"; // RFC 5280 §4.2.1.12 id-kp-serverAuth
        public const string ClientAuthOid = "1.3.6.1.5.5.7.3.2"; // RFC 5280 §4.2.1.12 id-kp-clientAuth
        private const string Organization = "e2m development PKI";

        public static string PkiDirectory(string dataDir) => Path.Combine(dataDir, "pki");

        public static string DevKekPath(string dataDir) => Path.Combine(dataDir, "dev-kek.hex");

        public static string EmseName(string emseId) => EmsePrefix + emseId;

        public static string CertificatePath(string dataDir, string name) => Path.Combine(PkiDirectory(dataDir), name + ".crt");

        public static string KeyPath(string dataDir, string name) => Path.Combine(PkiDirectory(dataDir), name + ".key");

        public static string PfxPath(string dataDir, string name) => Path.Combine(PkiDirectory(dataDir), name + ".pfx");

        public static bool Exists(string dataDir) => File.Exists(PfxPath(dataDir, Ca));

        /// <summary>
        /// Creates what is missing: dev KEK, CA, the fixed leaves and one leaf per EMSE_Id. An existing CA is reused, so
        /// re-running with a new <c>--emse-id</c> adds that EMSE without invalidating the others. Returns the files written.
        /// </summary>
        public static IReadOnlyList<string> Init(string dataDir, IEnumerable<string> emseIds) => Init(dataDir, emseIds, Array.Empty<string>());

        /// <summary>
        /// As <see cref="Init(string, IEnumerable{string})"/>, plus one named reader per <paramref name="readerNames"/>
        /// (<see cref="IssueReader"/>, file <c>reader-NAME</c>): readings-API clients an EMSE can limit to some devices
        /// (Emse:ReaderDevices).
        /// </summary>
        public static IReadOnlyList<string> Init(string dataDir, IEnumerable<string> emseIds, IEnumerable<string> readerNames)
        {
            var written = new List<string>();
            Directory.CreateDirectory(PkiDirectory(dataDir));
            string kekPath = DevKekPath(dataDir);
            if (!File.Exists(kekPath))
            {
                AtRestProtector.WriteNewKekFile(kekPath);
                written.Add(kekPath);
            }

            X509Certificate2 ca;
            if (Exists(dataDir))
            {
                ca = LoadCertificate(dataDir, Ca);
            }
            else
            {
                ca = CreateCa();
                written.AddRange(Write(dataDir, Ca, ca));
            }

            var names = new List<(string Name, X509Certificate2 Cert)>();
            foreach (string fixedName in new[] { Hss, Emks, ServingNode, Admin, Reader, Localhost })
            {
                if (!File.Exists(PfxPath(dataDir, fixedName)))
                {
                    names.Add((fixedName, IssueFixed(ca, fixedName)));
                }
            }

            foreach (string id in emseIds)
            {
                ValidateEmseId(id);
                if (!File.Exists(PfxPath(dataDir, EmseName(id))))
                {
                    names.Add((EmseName(id), IssueEmse(ca, id)));
                }
            }

            foreach (string reader in readerNames)
            {
                ValidateReaderName(reader);
                if (!File.Exists(PfxPath(dataDir, ReaderFileName(reader))))
                {
                    names.Add((ReaderFileName(reader), IssueReader(ca, reader)));
                }
            }

            foreach ((string name, X509Certificate2 cert) in names)
            {
                written.AddRange(Write(dataDir, name, cert));
            }

            return written;
        }

        /// <summary>The CA's revocation list (RFC 5280 §5, PEM), read by every service's <see cref="E2mTrustAnchor"/>.</summary>
        public static string CrlPath(string dataDir) => E2mTrustAnchor.CrlPathFor(CertificatePath(dataDir, Ca));

        /// <summary>Where the certificate of a revoked leaf is kept (its key and PFX are deleted).</summary>
        public static string RevokedDirectory(string dataDir) => Path.Combine(PkiDirectory(dataDir), "revoked");

        /// <summary>What <see cref="Revoke"/> did.</summary>
        public sealed record Revocation(string Name, string SerialNumber, string CrlPath, System.Numerics.BigInteger CrlNumber, int Count);

        /// <summary>
        /// Revokes the leaf <paramref name="name"/> (a file name of the PKI directory without extension: <c>serving-node</c>,
        /// <c>reader-acme</c>, <c>emse-ID</c>, ...): adds its serial number to the CA's revocation list (a new list, CRL
        /// number + 1, signed by the CA, valid for a year or up to the CA's end; written to a temporary file and renamed,
        /// so a service never reads half a list), moves its certificate to <see cref="RevokedDirectory"/> as
        /// <c>NAME-SERIAL.crt</c> and deletes its key and PFX, so <see cref="Init(string, IEnumerable{string}, IEnumerable{string})"/>
        /// issues a new one. The services take the list within a second, also for connections already open.
        /// An existing list that does not verify is an error (nothing written).
        /// </summary>
        public static Revocation Revoke(string dataDir, string name, X509RevocationReason? reason = null, DateTimeOffset? now = null)
        {
            if (string.IsNullOrEmpty(name) || name == Ca || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains(".."))
            {
                throw new ArgumentException($"'{name}' is not a leaf of the dev PKI (the CA cannot be revoked: make a new one with a new data directory)");
            }

            string crt = CertificatePath(dataDir, name);
            if (!File.Exists(crt))
            {
                throw new ArgumentException($"no certificate '{name}' in {PkiDirectory(dataDir)} (already revoked, or never issued)");
            }

            X509Certificate2 leaf = X509CertificateLoader.LoadCertificateFromFile(crt);
            X509Certificate2 ca = LoadCertificate(dataDir, Ca);
            if (!leaf.IssuerName.RawData.AsSpan().SequenceEqual(ca.SubjectName.RawData))
            {
                throw new ArgumentException($"'{name}' was not issued by this dev CA");
            }

            Revocation r = AddToCrl(dataDir, ca, leaf.SerialNumberBytes.ToArray(), name, reason, now ?? DateTimeOffset.UtcNow);
            Directory.CreateDirectory(RevokedDirectory(dataDir));
            File.Move(crt, Path.Combine(RevokedDirectory(dataDir), name + "-" + leaf.SerialNumber.ToLowerInvariant() + ".crt"), overwrite: true);
            File.Delete(KeyPath(dataDir, name));
            File.Delete(PfxPath(dataDir, name));
            return r;
        }

        /// <summary>Revokes a serial number of this CA's (e.g. a certificate no longer in the PKI directory); see <see cref="Revoke"/>.</summary>
        public static Revocation RevokeSerial(string dataDir, byte[] serialNumber, X509RevocationReason? reason = null, DateTimeOffset? now = null)
        {
            // The unsigned number the octets spell (as `openssl x509 -serial` prints it), encoded as a positive DER INTEGER:
            // leading zeros dropped, a 0x00 before a first octet >= 0x80 (else the list would name a negative number).
            byte[] magnitude = Convert.FromHexString(RevocationList.SerialKey(serialNumber));
            byte[] positive = magnitude.Length > 0 && magnitude[0] >= 0x80 ? new byte[] { 0 }.Concat(magnitude).ToArray() : magnitude;
            if (positive.Length == 0 || positive.Length > 21 || (positive.Length == 21 && positive[0] != 0))
            {
                throw new ArgumentException("a serial number is 1..20 octets (RFC 5280 §4.1.2.2)");
            }

            return AddToCrl(dataDir, LoadCertificate(dataDir, Ca), positive, RevocationList.SerialKey(positive).ToLowerInvariant(), reason, now ?? DateTimeOffset.UtcNow);
        }

        private static Revocation AddToCrl(string dataDir, X509Certificate2 ca, byte[] serial, string name, X509RevocationReason? reason, DateTimeOffset now)
        {
            string path = CrlPath(dataDir);
            CertificateRevocationListBuilder builder;
            System.Numerics.BigInteger number;
            int count = 0;
            if (File.Exists(path))
            {
                RevocationList current = RevocationList.Load(path, ca); // verified before it is built upon
                count = current.Count;
                builder = CertificateRevocationListBuilder.Load(current.Der, out number);
                if (current.IsRevoked(serial))
                {
                    throw new ArgumentException($"serial number {Convert.ToHexString(serial).ToLowerInvariant()} is already revoked");
                }
            }
            else
            {
                builder = new CertificateRevocationListBuilder();
                number = System.Numerics.BigInteger.Zero;
            }

            builder.AddEntry(serial, now, reason);
            DateTimeOffset nextUpdate = now.AddYears(1) < ca.NotAfter ? now.AddYears(1) : new DateTimeOffset(ca.NotAfter.ToUniversalTime());
            byte[] der = builder.Build(ca, number + 1, nextUpdate, HashAlgorithmName.SHA256, thisUpdate: now);
            string pem = PemEncoding.WriteString("X509 CRL", der) + "\n";
            string temp = path + ".tmp";
            File.WriteAllText(temp, pem);
            File.Move(temp, path, overwrite: true); // rename(2): readers see the old list or the new one
            return new Revocation(name, RevocationList.SerialKey(serial).ToLowerInvariant(), path, number + 1, count + 1);
        }

        /// <summary>Loads a certificate with its private key (from the PFX).</summary>
        public static X509Certificate2 LoadCertificate(string dataDir, string name)
        {
            string pfx = PfxPath(dataDir, name);
            if (!File.Exists(pfx))
            {
                throw new FileNotFoundException($"dev PKI file '{pfx}' not found (run `e2m pki init --data-dir {dataDir}`)", pfx);
            }

            return X509CertificateLoader.LoadPkcs12FromFile(pfx, password: null, X509KeyStorageFlags.Exportable);
        }

        /// <summary>The CA certificate without its private key (the trust anchor).</summary>
        public static X509Certificate2 LoadCaCertificate(string dataDir) =>
            X509CertificateLoader.LoadCertificateFromFile(CertificatePath(dataDir, Ca));

        /// <summary>The trust anchor of a data directory's dev PKI: its CA and the CA's revocation list (<see cref="CrlPath"/>).</summary>
        public static E2mTrustAnchor LoadTrustAnchor(string dataDir) => E2mTrustAnchor.Load(CertificatePath(dataDir, Ca));

        /// <summary>EMSE_Id syntax: an FQDN-like name (letters, digits, '-', '.'), 1..253 characters (RFC 1035 §2.3.4).</summary>
        public static void ValidateEmseId(string emseId)
        {
            if (string.IsNullOrEmpty(emseId) || emseId.Length > 253)
            {
                throw new ArgumentException("EMSE_Id must be 1..253 characters");
            }

            foreach (char ch in emseId)
            {
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
                if (!ok)
                {
                    throw new ArgumentException($"EMSE_Id '{emseId}' must be an FQDN (letters, digits, '-', '.')");
                }
            }
        }

        // ---- in-memory issuance (also used by tests)

        public static X509Certificate2 CreateCa(string commonName = "e2m dev CA")
        {
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var req = new CertificateRequest($"CN={commonName}, O={Organization}", key, HashAlgorithmName.SHA256);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
            DateTimeOffset now = DateTimeOffset.UtcNow;
            using X509Certificate2 ca = req.CreateSelfSigned(now.AddHours(-1), now.AddYears(10));
            return Reload(ca);
        }

        /// <summary>Issues one of the fixed leaves (<see cref="Hss"/>, <see cref="Emks"/>, ...).</summary>
        public static X509Certificate2 IssueFixed(X509Certificate2 ca, string name) => name switch
        {
            Hss => Issue(ca, Hss, Hss, server: true, client: true, dnsNames: new[] { Hss, Localhost }),
            Emks => Issue(ca, Emks, Emks, server: true, client: true, dnsNames: new[] { Emks, Localhost }),
            ServingNode => Issue(ca, ServingNode, ServingNode, server: false, client: true, dnsNames: new[] { ServingNode }),
            Admin => Issue(ca, Admin, Admin, server: false, client: true, dnsNames: new[] { Admin }),
            Reader => Issue(ca, Reader, Reader, server: false, client: true, dnsNames: new[] { Reader }),
            Localhost => Issue(ca, Localhost, Localhost, server: true, client: false, dnsNames: new[] { Localhost }),
            _ => throw new ArgumentException($"unknown dev PKI leaf '{name}'", nameof(name)),
        };

        /// <summary>File name (without extension) of a named reader's certificate in the PKI directory.</summary>
        public static string ReaderFileName(string readerName) => Reader + "-" + readerName;

        /// <summary>A reader name: 1..63 characters of a-z, 0-9 and '-', not starting or ending with '-' (one DNS label).</summary>
        public static void ValidateReaderName(string name)
        {
            if (string.IsNullOrEmpty(name) || name.Length > 63 || name[0] == '-' || name[^1] == '-')
            {
                throw new ArgumentException($"reader name '{name}': 1..63 characters of a-z, 0-9 and '-', not starting or ending with '-'");
            }

            foreach (char c in name)
            {
                if (!(c is >= 'a' and <= 'z' || c is >= '0' and <= '9' || c == '-'))
                {
                    throw new ArgumentException($"reader name '{name}': 1..63 characters of a-z, 0-9 and '-', not starting or ending with '-'");
                }
            }
        }

        /// <summary>Client certificate of a named reader of the readings API: CN = name, OU = reader, single DNS SAN = name.</summary>
        public static X509Certificate2 IssueReader(X509Certificate2 ca, string readerName)
        {
            ValidateReaderName(readerName);
            return Issue(ca, readerName, Reader, server: false, client: true, dnsNames: new[] { readerName }, ipSans: false);
        }

        /// <summary>Client certificate of one EMSE: CN = EMSE_Id, OU = emse, single DNS SAN = EMSE_Id.</summary>
        public static X509Certificate2 IssueEmse(X509Certificate2 ca, string emseId)
        {
            ValidateEmseId(emseId);
            return Issue(ca, emseId, CertificateIdentity.RoleEmse, server: false, client: true, dnsNames: new[] { emseId }, ipSans: false);
        }

        /// <summary>Issues a leaf signed by <paramref name="ca"/> (which must hold its private key).</summary>
        public static X509Certificate2 Issue(X509Certificate2 ca, string commonName, string role, bool server, bool client, string[] dnsNames, bool ipSans = true)
        {
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var req = new CertificateRequest($"CN={commonName}, OU={role}, O={Organization}", key, HashAlgorithmName.SHA256);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            var eku = new OidCollection();
            if (server)
            {
                eku.Add(new Oid(ServerAuthOid));
            }

            if (client)
            {
                eku.Add(new Oid(ClientAuthOid));
            }

            req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(eku, false));
            var san = new SubjectAlternativeNameBuilder();
            foreach (string dns in dnsNames)
            {
                san.AddDnsName(dns);
            }

            if (server && ipSans)
            {
                san.AddIpAddress(IPAddress.Loopback);
                san.AddIpAddress(IPAddress.IPv6Loopback);
            }

            req.CertificateExtensions.Add(san.Build());
            req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
            req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
            DateTimeOffset now = DateTimeOffset.UtcNow;
            DateTimeOffset notAfter = now.AddYears(2) < ca.NotAfter ? now.AddYears(2) : new DateTimeOffset(ca.NotAfter.ToUniversalTime());
            byte[] serial = RandomNumberGenerator.GetBytes(16);
            serial[0] &= 0x7F; // RFC 5280 §4.1.2.2: positive serial
            using X509Certificate2 pub = req.Create(ca, now.AddHours(-1), notAfter, serial);
            using X509Certificate2 withKey = pub.CopyWithPrivateKey(key);
            return Reload(withKey);
        }

        // A PFX round trip gives a certificate whose private key is usable by SslStream on every OS.
        private static X509Certificate2 Reload(X509Certificate2 cert)
        {
            byte[] pfx = cert.Export(X509ContentType.Pkcs12);
            try
            {
                return X509CertificateLoader.LoadPkcs12(pfx, password: null, X509KeyStorageFlags.Exportable);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(pfx);
            }
        }

        private static IEnumerable<string> Write(string dataDir, string name, X509Certificate2 cert)
        {
            string crt = CertificatePath(dataDir, name), key = KeyPath(dataDir, name), pfx = PfxPath(dataDir, name);
            File.WriteAllText(crt, cert.ExportCertificatePem() + "\n");
            using (ECDsa? ec = cert.GetECDsaPrivateKey())
            {
                if (ec == null)
                {
                    throw new InvalidOperationException("dev PKI certificate without an ECDSA private key");
                }

                WritePrivate(key, System.Text.Encoding.ASCII.GetBytes(ec.ExportPkcs8PrivateKeyPem() + "\n"));
            }

            WritePrivate(pfx, cert.Export(X509ContentType.Pkcs12));
            return new[] { crt, key, pfx };
        }

        private static void WritePrivate(string path, byte[] content)
        {
            var opts = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                opts.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var fs = new FileStream(path, opts))
            {
                fs.Write(content);
            }

            CryptographicOperations.ZeroMemory(content);
        }
    }
}

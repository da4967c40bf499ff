using System;
using System.CommandLine;
using System.IO;
using E2m.Server.Common;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m pki init --data-dir DIR [--emse-id ID ...] [--reader NAME ...]`: development PKI (CA; hss, emks, serving-node,
    /// admin, reader, localhost; one client certificate per EMSE_Id and per named reader) in DIR/pki and the dev KEK DIR/dev-kek.hex. Idempotent: existing
    /// files are kept (an existing CA is reused), so it can be re-run to add an EMSE. Prints `pki:`, `kek:`, `ca:`
    /// and `written:` (count). Never for production.
    /// `e2m pki revoke --data-dir DIR (--name NAME | --emse-id ID | --reader NAME | --serial HEX) [--reason R]`: puts the
    /// certificate on the CA's revocation list DIR/pki/ca.crl (RFC 5280 §5), which every service of the stack reads within a
    /// second (also for connections already open); the certificate moves to DIR/pki/revoked/, its key and PFX are deleted,
    /// so `pki init` issues a new one. Prints `revoked:` (name), `serial:` (hex), `crl:` (path), `crl_number:` and
    /// `revoked_count:`. Exit 2: no such certificate, already revoked, the CA, or a list on disk that does not verify.
    /// </summary>
    public static class PkiCommands
    {
        private static readonly Option<string[]> EmseIds = new("--emse-id") { Description = "EMSE_Id (FQDN) to issue a client certificate for; repeat for several" };

        private static readonly Option<string[]> Readers = new("--reader")
        {
            Description = "Name (a-z, 0-9, '-') of a readings-API client to issue a certificate for (pki/reader-NAME.pfx; an EMSE can limit it to some devices with Emse:ReaderDevices); repeat for several",
        };

        private static readonly Option<string> RevokeName = new("--name")
        {
            Description = "Certificate to revoke, by its file name in DATA_DIR/pki without extension (serving-node, admin, reader, reader-NAME, emse-ID, hss, emks, localhost)",
        };

        private static readonly Option<string> RevokeEmseId = new("--emse-id") { Description = "Revoke the client certificate of this EMSE_Id (= --name emse-ID)" };

        private static readonly Option<string> RevokeReader = new("--reader") { Description = "Revoke the certificate of this named reader (= --name reader-NAME)" };

        private static readonly Option<string> RevokeSerial = new("--serial") { Description = "Revoke a serial number of this CA (hex), e.g. of a certificate no longer in DATA_DIR/pki" };

        private static readonly Option<string> Reason = new("--reason")
        {
            Description = "RFC 5280 §5.3.1 reason: key-compromise, superseded, cessation-of-operation, affiliation-changed, unspecified (default: none given)",
        };

        public static Command Build()
        {
            var pki = new Command("pki", "Development PKI for the server stack (issue 6)");
            var init = new Command("init", "Create the dev CA, service/serving-node/admin/EMSE certificates and the dev KEK in DATA_DIR");
            init.Options.Add(SubscriberCommands.DataDir);
            init.Options.Add(EmseIds);
            init.Options.Add(Readers);
            init.SetAction(parsed =>
            {
                string dir = parsed.GetValue(SubscriberCommands.DataDir)!;
                string[] ids = parsed.GetValue(EmseIds) ?? Array.Empty<string>();
                string[] readers = parsed.GetValue(Readers) ?? Array.Empty<string>();
                System.Collections.Generic.IReadOnlyList<string> written;
                try
                {
                    written = DevPki.Init(dir, ids, readers);
                }
                catch (ArgumentException e)
                {
                    throw new UsageException(e.Message);
                }

                return new CliOutput()
                    .Text("pki", Path.GetFullPath(DevPki.PkiDirectory(dir)))
                    .Text("kek", Path.GetFullPath(DevPki.DevKekPath(dir)))
                    .Text("ca", Path.GetFullPath(DevPki.CertificatePath(dir, DevPki.Ca)))
                    .Number("written", (ulong)written.Count)
                    .WriteTo(parsed);
            });
            pki.Subcommands.Add(init);
            pki.Subcommands.Add(BuildRevoke());
            return pki;
        }
    
        private static Command BuildRevoke()
        {
            var revoke = new Command("revoke", "Revoke a certificate of the dev PKI (CA revocation list DATA_DIR/pki/ca.crl, read by every service)");
            revoke.Options.Add(SubscriberCommands.DataDir);
            revoke.Options.Add(RevokeName);
            revoke.Options.Add(RevokeEmseId);
            revoke.Options.Add(RevokeReader);
            revoke.Options.Add(RevokeSerial);
            revoke.Options.Add(Reason);
            revoke.SetAction(parsed =>
            {
                string dir = parsed.GetValue(SubscriberCommands.DataDir)!;
                string? name = parsed.GetValue(RevokeName);
                string? emseId = parsed.GetValue(RevokeEmseId);
                string? reader = parsed.GetValue(RevokeReader);
                string? serial = parsed.GetValue(RevokeSerial);
                int given = (name != null ? 1 : 0) + (emseId != null ? 1 : 0) + (reader != null ? 1 : 0) + (serial != null ? 1 : 0);
                if (given != 1)
                {
                    throw new UsageException("give exactly one of --name, --emse-id, --reader, --serial");
                }

                if (!DevPki.Exists(dir))
                {
                    throw new UsageException($"no dev PKI in {dir} (run `e2m pki init --data-dir {dir}`)");
                }

                System.Security.Cryptography.X509Certificates.X509RevocationReason? reason = ParseReason(parsed.GetValue(Reason));
                DevPki.Revocation r;
                try
                {
                    if (serial != null)
                    {
                        r = DevPki.RevokeSerial(dir, HexArgs.Parse("--serial", serial, -1), reason);
                    }
                    else
                    {
                        if (emseId != null)
                        {
                            DevPki.ValidateEmseId(emseId);
                            name = DevPki.EmseName(emseId);
                        }
                        else if (reader != null)
                        {
                            DevPki.ValidateReaderName(reader);
                            name = DevPki.ReaderFileName(reader);
                        }

                        r = DevPki.Revoke(dir, name!, reason);
                    }
                }
                catch (ArgumentException e)
                {
                    throw new UsageException(e.Message);
                }
                catch (CrlFormatException e)
                {
                    throw new UsageException($"{DevPki.CrlPath(dir)}: {e.Message} (nothing written)");
                }

                return new CliOutput()
                    .Text("revoked", r.Name)
                    .Text("serial", r.SerialNumber)
                    .Text("crl", Path.GetFullPath(r.CrlPath))
                    .Text("crl_number", r.CrlNumber.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    .Number("revoked_count", (ulong)r.Count)
                    .WriteTo(parsed);
            });
            return revoke;
        }

        private static System.Security.Cryptography.X509Certificates.X509RevocationReason? ParseReason(string? text) => text switch
        {
            null => null,
            "unspecified" => System.Security.Cryptography.X509Certificates.X509RevocationReason.Unspecified,
            "key-compromise" => System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise,
            "superseded" => System.Security.Cryptography.X509Certificates.X509RevocationReason.Superseded,
            "cessation-of-operation" => System.Security.Cryptography.X509Certificates.X509RevocationReason.CessationOfOperation,
            "affiliation-changed" => System.Security.Cryptography.X509Certificates.X509RevocationReason.AffiliationChanged,
            _ => throw new UsageException($"--reason: '{text}' is not one of key-compromise, superseded, cessation-of-operation, affiliation-changed, unspecified"),
        };
    }
}

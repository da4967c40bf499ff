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
    /// </summary>
    public static class PkiCommands
    {
        private static readonly Option<string[]> EmseIds = new("--emse-id") { Description = "EMSE_Id (FQDN) to issue a client certificate for; repeat for several" };

        private static readonly Option<string[]> Readers = new("--reader")
        {
            Description = "Name (a-z, 0-9, '-') of a readings-API client to issue a certificate for (pki/reader-NAME.pfx; an EMSE can limit it to some devices with Emse:ReaderDevices); repeat for several",
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
            return pki;
        }
    }
}

using System;
using System.CommandLine;
using System.IO;
using E2m.Server.Common;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m pki init --data-dir DIR [--emse-id ID ...]`: development PKI (CA; hss, emks, serving-node, admin,
    /// localhost; one client certificate per EMSE_Id) in DIR/pki and the dev KEK DIR/dev-kek.hex. Idempotent: existing
    /// files are kept (an existing CA is reused), so it can be re-run to add an EMSE. Prints `pki:`, `kek:`, `ca:`
    /// and `written:` (count). Never for production.
    /// </summary>
    public static class PkiCommands
    {
        private static readonly Option<string[]> EmseIds = new("--emse-id") { Description = "EMSE_Id (FQDN) to issue a client certificate for; repeat for several" };

        public static Command Build()
        {
            var pki = new Command("pki", "Development PKI for the server stack (issue 6)");
            var init = new Command("init", "Create the dev CA, service/serving-node/admin/EMSE certificates and the dev KEK in DATA_DIR");
            init.Options.Add(SubscriberCommands.DataDir);
            init.Options.Add(EmseIds);
            init.SetAction(parsed =>
            {
                string dir = parsed.GetValue(SubscriberCommands.DataDir)!;
                string[] ids = parsed.GetValue(EmseIds) ?? Array.Empty<string>();
                System.Collections.Generic.IReadOnlyList<string> written;
                try
                {
                    written = DevPki.Init(dir, ids);
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

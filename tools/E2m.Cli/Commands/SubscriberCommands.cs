using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Text.Json;
using E2m.Server.Common;
using E2m.Server.Hss;
using E2m.Server.Hss.Api;
using E2m.Server.Hss.Auc;
using E2m.Server.Hss.Subscribers;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m subscriber add|list|show|update|delete|vectors`: the HSS subscriber store used directly on the database of a
    /// data directory (SQLite DIR/hss.db, or PostgreSQL with --db "Host=..."), with the same store code as the HSS
    /// service. K/OPc are encrypted at rest with the KEK: --kek-file, else DIR/dev-kek.hex (created on first use, dev mode).
    /// Output: `name: value` lines (or --json); list: one line per subscriber. Exit 0 ok, 1 unknown/duplicate
    /// subscriber, 2 usage (bad IMSI/hex/policy; a database that cannot be opened; a KEK that does not open the database,
    /// checked at open against a value sealed under the HSS's KEK). SQNs use the IND length the database records (set by
    /// the first HSS or CLI to open it; an HSS configured otherwise refuses to start). update/delete of an e2m subscriber queue the policy change for the EMKS
    /// (hss_emks_policy_outbox, in the same transaction) and print `emks policy sync: queued`: the HSS sends it when it runs.
    /// </summary>
    public static class SubscriberCommands
    {
        internal static readonly Option<string> DataDir = new("--data-dir") { Description = "Data directory of the stack (hss.db, dev KEK, pki/)", Required = true };
        private static readonly Option<string> Db = new("--db") { Description = "Database connection string (\"Host=...\" = PostgreSQL); default DATA_DIR/hss.db" };
        private static readonly Option<string> KekFile = new("--kek-file") { Description = "KEK file (hex/base64, 32 octets); default DATA_DIR/dev-kek.hex" };
        private static readonly Option<string> Imsi = new("--imsi") { Description = "IMSI (6..15 digits)", Required = true };
        private static readonly Option<string> K = HexArgs.Required("--k", "Subscriber key K (16 octets hex)");
        private static readonly Option<string> Opc = HexArgs.Required("--opc", "OPc (16 octets hex)");
        private static readonly Option<string> Sqn = HexArgs.Optional("--sqn", "SQN_HE to start from (≤ 6 octets hex, SEQ||IND; the next vector uses SEQ+1). Default 0");
        private static readonly Option<string> Amf = HexArgs.Optional("--amf", "AMF (2 octets hex; default 0000). The HSS sets/clears the separation bit per RAT and sets the e2m bit");
        private static readonly Option<bool> E2mFlag = new("--e2m") { Description = "Enable e2m for this subscriber (push e2m_int_key to the EMKS for every vector)" };
        private static readonly Option<bool?> E2mValue = new("--e2m") { Description = "Enable/disable e2m (true|false; bare --e2m = true)", Arity = ArgumentArity.ZeroOrOne };
        private static readonly Option<string[]> EmseIds = new("--emse-id") { Description = "Allowed EMSE_Id (FQDN); repeat for several", AllowMultipleArgumentsPerToken = false };
        private static readonly Option<bool> ClearEmseIds = new("--clear-emse-ids") { Description = "Remove all allowed EMSE_Ids" };
        private static readonly Option<long?> KeyLifetime = new("--key-lifetime") { Description = "e2m key lifetime in seconds (default 2592000 = 30 days)" };
        private static readonly Option<string> ExternalId = new("--external-id") { Description = "External device id given to EMSEs instead of a pseudonym (\"\" clears on update)" };
        private static readonly Option<bool?> Aks = new("--access-key-separation") { Description = "Give the serving node CK'/IK' (DESIGN.md §5); bare flag = true", Arity = ArgumentArity.ZeroOrOne };
        private static readonly Option<int?> MinGea = new("--min-gea") { Description = "GPRS minimum cipher GEAn, 0..5 (0 = none)" };
        private static readonly Option<long?> MaxMessages = new("--max-messages") { Description = "Maximum OSCORE messages per key (0 clears on update)" };
        private static readonly Option<int> NumVectors = new("--num-vectors") { Description = "Vectors per request (1..32)", DefaultValueFactory = _ => 1 };
        private static readonly Option<string> RatOpt = new("--rat") { Description = "utran|eutran", DefaultValueFactory = _ => "utran" };
        private static readonly Option<string> Plmn = new("--plmn") { Description = "Serving PLMN for KASME (MCC+MNC, 5/6 digits; eutran)" };
        private static readonly Option<int> Repeat = new("--repeat") { Description = "Number of requests (each reserves its own SQNs)", DefaultValueFactory = _ => 1 };

        public static Command Build()
        {
            var cmd = new Command("subscriber", "HSS subscriber store (K/OPc encrypted at rest; SQN per TS 33.102 Annex C; e2m profile)");

            var add = new Command("add", "Add a subscriber");
            AddCommon(add);
            foreach (Option o in new Option[] { Imsi, K, Opc, Sqn, Amf, E2mFlag, EmseIds, KeyLifetime, ExternalId, Aks, MinGea, MaxMessages })
            {
                add.Options.Add(o);
            }

            add.SetAction(RunAdd);
            cmd.Subcommands.Add(add);

            var list = new Command("list", "List subscribers (no secrets): one line per subscriber");
            AddCommon(list);
            list.SetAction(RunList);
            cmd.Subcommands.Add(list);

            var show = new Command("show", "Show one subscriber (no secrets)");
            AddCommon(show);
            show.Options.Add(Imsi);
            show.SetAction(RunShow);
            cmd.Subcommands.Add(show);

            var update = new Command("update", "Update the policy of a subscriber (options not given stay unchanged)");
            AddCommon(update);
            foreach (Option o in new Option[] { Imsi, Amf, E2mValue, EmseIds, ClearEmseIds, KeyLifetime, ExternalId, Aks, MinGea, MaxMessages })
            {
                update.Options.Add(o);
            }

            update.SetAction(RunUpdate);
            cmd.Subcommands.Add(update);

            var delete = new Command("delete", "Delete a subscriber");
            AddCommon(delete);
            delete.Options.Add(Imsi);
            delete.SetAction(RunDelete);
            cmd.Subcommands.Add(delete);

            var vectors = new Command("vectors", "Generate vectors locally from the store (reserves SQNs like the HSS; refuses e2m subscribers, whose keys must reach the EMKS)");
            AddCommon(vectors);
            foreach (Option o in new Option[] { Imsi, NumVectors, RatOpt, Plmn, Repeat })
            {
                vectors.Options.Add(o);
            }

            vectors.SetAction(RunVectors);
            cmd.Subcommands.Add(vectors);
            return cmd;
        }

        private static void AddCommon(Command c)
        {
            c.Options.Add(DataDir);
            c.Options.Add(Db);
            c.Options.Add(KekFile);
        }

        /// <summary>Opens the store of a data directory (schema created/migrated).</summary>
        internal static SubscriberStore OpenStore(ParseResult parsed)
        {
            string dir = parsed.GetValue(DataDir)!;
            string? kekFile = parsed.GetValue(KekFile);
            byte[] kek;
            try
            {
                if (kekFile == null)
                {
                    kekFile = DevPki.DevKekPath(dir);
                    if (!File.Exists(kekFile))
                    {
                        AtRestProtector.WriteNewKekFile(kekFile);
                        parsed.InvocationConfiguration.Error.WriteLine("e2m: created development KEK " + kekFile);
                    }
                }

                kek = AtRestProtector.ReadKekFile(kekFile);
            }
            catch (Exception e) when (e is FormatException || e is IOException)
            {
                throw new UsageException(e.Message);
            }

            E2mDatabase db;
            try
            {
                db = E2mDatabase.Create(null, parsed.GetValue(Db), dir, "hss.db");
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }

            // Offline on the database: the CLI cannot know whether the HSS has an EMKS, so changes of e2m subscribers are
            // queued for the EMKS (hss_emks_policy_outbox); the HSS sends them at start and every poll interval.
            // sqn: null = the IND length the database records (the HSS's Hss:Sqn:IndBits), never a default of our own.
            var store = new SubscriberStore(db, new AtRestProtector(kek), sqn: null, emksPolicySync: true);
            CryptographicOperations.ZeroMemory(kek);
            try
            {
                store.EnsureSchema();
            }
            catch (SubscriberStoreException e)
            {
                throw new UsageException(e.Message); // e.g. a --kek-file that does not open this database
            }

            return store;
        }

        private static int RunAdd(ParseResult parsed)
        {
            byte[] k = HexArgs.Parse(parsed, K, 16);
            byte[] opc = HexArgs.Parse(parsed, Opc, 16);
            try
            {
                ulong sqn = ParseSqn(parsed.GetValue(Sqn));
                ushort amf = ParseAmf(parsed.GetValue(Amf)) ?? 0;
                var profile = new E2mProfile
                {
                    Enabled = parsed.GetValue(E2mFlag),
                    AllowedEmseIds = new List<string>(parsed.GetValue(EmseIds) ?? Array.Empty<string>()),
                    KeyLifetimeSeconds = parsed.GetValue(KeyLifetime) ?? E2mProfile.DefaultKeyLifetimeSeconds,
                    MinGea = parsed.GetValue(MinGea) ?? 0,
                    AccessKeySeparation = parsed.GetValue(Aks) ?? false,
                    ExternalId = NullIfEmpty(parsed.GetValue(ExternalId)),
                    MaxMessages = parsed.GetValue(MaxMessages),
                };
                SubscriberStore store = OpenStore(parsed);
                SubscriberInfo s = Guard(() => store.Add(new NewSubscriber
                {
                    Imsi = parsed.GetValue(Imsi)!, K = k, Opc = opc, Sqn = sqn, Amf = amf, E2m = profile,
                }));
                return Show(parsed, s);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(k);
                CryptographicOperations.ZeroMemory(opc);
            }
        }

        private static int RunList(ParseResult parsed)
        {
            SubscriberStore store = OpenStore(parsed);
            IReadOnlyList<SubscriberInfo> all = store.List();
            TextWriter o = parsed.InvocationConfiguration.Output;
            if (parsed.GetValue(CliApp.Json))
            {
                var dto = new SubscriberListDto();
                foreach (SubscriberInfo s in all)
                {
                    dto.Subscribers.Add(SubscriberDto.From(s));
                }

                o.WriteLine(JsonSerializer.Serialize(dto));
                return CliApp.ExitOk;
            }

            foreach (SubscriberInfo s in all)
            {
                o.WriteLine(
                    $"{s.Imsi}: e2m={(s.E2m.Enabled ? "yes" : "no")} emse_ids={string.Join(",", s.E2m.AllowedEmseIds)} seq={s.Seq} " +
                    $"ind_next={s.IndNext} amf={s.Amf:x4} subscription_id={s.SubscriptionId} policy_version={s.PolicyVersion}");
            }

            return CliApp.ExitOk;
        }

        private static int RunShow(ParseResult parsed)
        {
            SubscriberStore store = OpenStore(parsed);
            SubscriberInfo? s = Guard(() => store.Get(parsed.GetValue(Imsi)!));
            if (s == null)
            {
                throw new VerificationFailedException("unknown subscriber " + parsed.GetValue(Imsi));
            }

            return Show(parsed, s);
        }

        private static int RunUpdate(ParseResult parsed)
        {
            var u = new SubscriberUpdate
            {
                E2mEnabled = parsed.GetResult(E2mValue) != null ? (parsed.GetValue(E2mValue) ?? true) : null,
                KeyLifetimeSeconds = parsed.GetValue(KeyLifetime),
                MinGea = parsed.GetValue(MinGea),
                AccessKeySeparation = parsed.GetResult(Aks) != null ? (parsed.GetValue(Aks) ?? true) : null,
                ExternalId = parsed.GetValue(ExternalId),
                MaxMessages = parsed.GetValue(MaxMessages),
                Amf = ParseAmf(parsed.GetValue(Amf)),
            };
            string[]? ids = parsed.GetValue(EmseIds);
            if (parsed.GetValue(ClearEmseIds))
            {
                if (ids != null && ids.Length > 0)
                {
                    throw new UsageException("give either --emse-id or --clear-emse-ids");
                }

                u.AllowedEmseIds = new List<string>();
            }
            else if (ids != null && ids.Length > 0)
            {
                u.AllowedEmseIds = new List<string>(ids);
            }

            SubscriberStore store = OpenStore(parsed);
            SubscriberUpdateResult r = Guard(() => store.UpdateSubscriber(parsed.GetValue(Imsi)!, u));
            return Show(parsed, r.Subscriber, r.Queued != null);
        }

        private static int RunDelete(ParseResult parsed)
        {
            SubscriberStore store = OpenStore(parsed);
            string imsi = parsed.GetValue(Imsi)!;
            SubscriberDeleteResult deleted = Guard(() => store.DeleteSubscriber(imsi)) ?? throw new VerificationFailedException("unknown subscriber " + imsi);
            var o = new CliOutput().Text("deleted", imsi);
            if (deleted.Queued != null)
            {
                o.Text(PolicySyncName(parsed), PolicySyncQueued);
            }

            return o.WriteTo(parsed);
        }

        private const string PolicySyncQueued = "queued";

        // One line "emks policy sync: queued" (text) / member "emksPolicySync" (--json) when an EMKS policy sync was queued.
        private static string PolicySyncName(ParseResult parsed) => parsed.GetValue(CliApp.Json) ? "emksPolicySync" : "emks policy sync";

        private static int RunVectors(ParseResult parsed)
        {
            int n = parsed.GetValue(NumVectors), repeat = parsed.GetValue(Repeat);
            if (n < 1 || n > 32)
            {
                throw new UsageException("--num-vectors: 1..32");
            }

            if (repeat < 1 || repeat > 100000)
            {
                throw new UsageException("--repeat: 1..100000");
            }

            Rat rat = parsed.GetValue(RatOpt) switch
            {
                "utran" => Rat.Utran,
                "eutran" => Rat.Eutran,
                _ => throw new UsageException("--rat: utran or eutran"),
            };
            string? plmn = parsed.GetValue(Plmn);
            if (rat == Rat.Eutran && !PlmnId.IsValid(plmn))
            {
                throw new UsageException("--plmn: MCC+MNC (5 or 6 digits) is required for eutran");
            }

            byte[]? snId = rat == Rat.Eutran ? PlmnId.Encode(plmn!) : null;
            string imsi = parsed.GetValue(Imsi)!;
            SubscriberStore store = OpenStore(parsed);
            SubscriberInfo info = Guard(() => store.Get(imsi)) ?? throw new VerificationFailedException("unknown subscriber " + imsi);
            if (info.E2m.Enabled)
            {
                throw new VerificationFailedException("subscriber " + imsi + " is an e2m subscriber: its vectors must come from the HSS service, which pushes the keys to the EMKS");
            }

            var auc = new AucEngine();
            bool json = parsed.GetValue(CliApp.Json);
            TextWriter o = parsed.InvocationConfiguration.Output;
            var all = new List<Dictionary<string, string>>();
            for (int r = 0; r < repeat; r++)
            {
                using SqnReservation res = Guard(() => store.ReserveSqns(imsi, n));
                if (res.E2m.Enabled)
                {
                    // e2m switched on since the check above (the reservation reads the row under the write lock): these
                    // vectors would carry the e2m AMF bit with keys nobody pushed to the EMKS. The SQNs are spent, not issued.
                    throw new VerificationFailedException("subscriber " + imsi + " became an e2m subscriber: its vectors must come from the HSS service");
                }

                foreach (AuthVector v in auc.Generate(res, rat, snId))
                {
                    using (v)
                    {
                        var f = new Dictionary<string, string>
                        {
                            ["sqn"] = v.Sqn.ToString("x12", CultureInfo.InvariantCulture),
                            ["amf"] = v.Amf.ToString("x4", CultureInfo.InvariantCulture),
                            ["rand"] = Convert.ToHexStringLower(v.Rand),
                            ["xres"] = Convert.ToHexStringLower(v.Xres),
                            ["autn"] = Convert.ToHexStringLower(v.Autn),
                            ["ck"] = Convert.ToHexStringLower(v.Ck),
                            ["ik"] = Convert.ToHexStringLower(v.Ik),
                        };
                        if (v.Kasme != null)
                        {
                            f["kasme"] = Convert.ToHexStringLower(v.Kasme);
                        }

                        if (json)
                        {
                            all.Add(f);
                        }
                        else
                        {
                            foreach (var kv in f)
                            {
                                o.WriteLine(kv.Key + ": " + kv.Value);
                            }

                            o.WriteLine();
                        }
                    }
                }
            }

            if (json)
            {
                o.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["vectors"] = all }));
            }

            return CliApp.ExitOk;
        }

        private static int Show(ParseResult parsed, SubscriberInfo s, bool policySyncQueued = false)
        {
            if (parsed.GetValue(CliApp.Json))
            {
                SubscriberDto dto = SubscriberDto.From(s);
                dto.EmksPolicySync = policySyncQueued ? PolicySyncQueued : null;
                parsed.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(dto));
                return CliApp.ExitOk;
            }

            var o = new CliOutput()
                .Text("imsi", s.Imsi)
                .Text("subscription_id", s.SubscriptionId)
                .Number("seq", (ulong)s.Seq)
                .Number("ind_next", (ulong)s.IndNext)
                .Text("amf", s.Amf.ToString("x4", CultureInfo.InvariantCulture))
                .Text("e2m", s.E2m.Enabled ? "true" : "false")
                .Text("emse_ids", string.Join(",", s.E2m.AllowedEmseIds))
                .Number("key_lifetime_s", (ulong)s.E2m.KeyLifetimeSeconds)
                .Number("min_gea", (ulong)s.E2m.MinGea)
                .Text("access_key_separation", s.E2m.AccessKeySeparation ? "true" : "false")
                .Text("external_id", s.E2m.ExternalId ?? string.Empty)
                .Text("max_messages", s.E2m.MaxMessages?.ToString(CultureInfo.InvariantCulture) ?? string.Empty)
                .Number("policy_version", (ulong)s.PolicyVersion);
            if (policySyncQueued)
            {
                o.Text(PolicySyncName(parsed), PolicySyncQueued);
            }

            return o.WriteTo(parsed);
        }

        private static T Guard<T>(Func<T> f)
        {
            try
            {
                return f();
            }
            catch (SubscriberValidationException e)
            {
                throw new UsageException(e.Message);
            }
            catch (SubscriberStoreException e)
            {
                throw new VerificationFailedException(e.Message);
            }
        }

        private static ulong ParseSqn(string? hex)
        {
            if (hex == null)
            {
                return 0;
            }

            byte[] b = HexArgs.Parse("--sqn", hex.Length % 2 == 1 ? "0" + hex : hex, -1);
            if (b.Length == 0 || b.Length > 6)
            {
                throw new UsageException("--sqn: 1..6 octets hex");
            }

            ulong v = 0;
            foreach (byte x in b)
            {
                v = (v << 8) | x;
            }

            return v;
        }

        private static ushort? ParseAmf(string? hex)
        {
            if (hex == null)
            {
                return null;
            }

            byte[] b = HexArgs.Parse("--amf", hex, 2);
            return (ushort)((b[0] << 8) | b[1]);
        }

        private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
    }
}

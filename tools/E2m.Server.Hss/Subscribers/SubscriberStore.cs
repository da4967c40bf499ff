using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Hss.Emks;

namespace E2m.Server.Hss.Subscribers
{
    /// <summary>
    /// The HSS subscriber store on <see cref="E2mDatabase"/> (SQLite or PostgreSQL), shared by the HSS service and the
    /// <c>e2m subscriber</c> CLI. K and OPc are encrypted at rest with <see cref="AtRestProtector"/>, associated data
    /// "hss/subscriber/IMSI/k" resp. ".../opc" (a blob moved to another row does not decrypt).
    /// <para>SQN management (TS 33.102 Annex C): per subscriber SEQ_HE (<c>seq</c>, the highest SEQ issued) and the
    /// next IND (<c>ind_next</c>), and <c>seq_ms</c>, the last SEQ_MS known authentically (see <see cref="SqnPolicy"/> for Δ,
    /// L and the SEQ ceiling). <see cref="ReserveSqns"/> is ONE conditional statement
    /// <c>UPDATE ... SET seq = seq + n, ind_next = (ind_next + 1) % a ... WHERE (ceiling, Δ) RETURNING</c> inside a write
    /// transaction (SQLite <c>BEGIN IMMEDIATE</c>): two requests, threads or processes never obtain the same SQN.</para>
    /// </summary>
    public sealed class SubscriberStore
    {
        public const string Component = "hss";

        // Schema migrations (E2mDatabase.EnsureSchema). Never edit a released migration: append.
        internal static readonly string[] Migrations =
        {
            @"CREATE TABLE hss_subscriber (
                imsi TEXT PRIMARY KEY,
                subscription_id TEXT NOT NULL UNIQUE,
                k_enc {blob} NOT NULL,
                opc_enc {blob} NOT NULL,
                seq {bigint} NOT NULL,
                ind_next INTEGER NOT NULL,
                amf INTEGER NOT NULL,
                e2m_enabled INTEGER NOT NULL,
                allowed_emse_ids TEXT NOT NULL,
                key_lifetime_s {bigint} NOT NULL,
                min_gea INTEGER NOT NULL,
                access_key_separation INTEGER NOT NULL,
                external_id TEXT NULL,
                max_messages {bigint} NULL,
                created_at {bigint} NOT NULL,
                updated_at {bigint} NOT NULL)",

            // 2: seq_ms = last SEQ_MS known authentically (TS 33.102 Annex C.2.1 Δ check). Existing rows: assumed in sync.
            @"ALTER TABLE hss_subscriber ADD COLUMN seq_ms {bigint} NOT NULL DEFAULT 0;
              UPDATE hss_subscriber SET seq_ms = seq",

            // 3: policy_version (+1 per policy change; carried in key pushes and policy syncs) and the outbox of policy syncs
            // to the EMKS (Emks/EmksPolicyOutbox.cs). Existing rows: version 0, nothing queued.
            @"ALTER TABLE hss_subscriber ADD COLUMN policy_version {bigint} NOT NULL DEFAULT 0;
              CREATE TABLE hss_emks_policy_outbox (
                subscription_id TEXT PRIMARY KEY,
                policy_version {bigint} NOT NULL,
                e2m_enabled INTEGER NOT NULL,
                external_id TEXT NULL,
                allowed_emse_ids TEXT NOT NULL,
                max_messages {bigint} NULL,
                attempts INTEGER NOT NULL,
                next_attempt {bigint} NOT NULL,
                queued_at {bigint} NOT NULL)",

            // 4: facts of the database every process must share (EnsureSchema checks them): the SQN layout (IND bits,
            // TS 33.102 Annex C.3.2) and a value sealed under the KEK (a process with another KEK refuses to start).
            @"CREATE TABLE hss_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        };

        private const string IndBitsSetting = "sqn_ind_bits";

        // The Annex C limits the HSS runs with, "Δ,L,ceiling" in one row (read and written whole): recorded by every HSS
        // start, adopted by the CLI.
        private const string LimitsSetting = "sqn_limits";
        private const string KekCheckSetting = "kek_check";

        private const string ProfileColumns =
            "subscription_id, seq, ind_next, amf, e2m_enabled, allowed_emse_ids, key_lifetime_s, min_gea, access_key_separation, external_id, max_messages, created_at, updated_at, seq_ms, policy_version";

        private readonly E2mDatabase _db;
        private readonly AtRestProtector _protector;
        private readonly TimeProvider _time;
        private readonly bool _sqnFromDatabase;
        private readonly bool _emksPolicySync;
        private SqnPolicy _sqn;

        /// <param name="emksPolicySync">Queue EMKS policy syncs (<see cref="EmksPolicyOutbox"/>) with policy changes and deletions of
        /// e2m subscribers: the HSS passes whether an EMKS is configured; the offline CLI cannot know and queues (the HSS sends
        /// the rows once it runs with an EMKS).</param>
        /// <param name="sqn">The Annex C parameters; null: the IND length the database was created with (the offline CLI),
        /// <see cref="SqnPolicy.Default"/> for a new database.</param>
        public SubscriberStore(E2mDatabase db, AtRestProtector protector, TimeProvider? time = null, SqnPolicy? sqn = null, bool emksPolicySync = true)
        {
            _db = db ?? throw new ArgumentNullException(nameof(db));
            _protector = protector ?? throw new ArgumentNullException(nameof(protector));
            _time = time ?? TimeProvider.System;
            _sqn = sqn ?? SqnPolicy.Default;
            _sqnFromDatabase = sqn == null;
            _emksPolicySync = emksPolicySync;
        }

        /// <summary>Whether policy changes of e2m subscribers are queued for the EMKS.</summary>
        public bool EmksPolicySync => _emksPolicySync;

        public E2mDatabase Database => _db;

        /// <summary>The TS 33.102 Annex C parameters this store applies.</summary>
        public SqnPolicy Sqn => _sqn;

        /// <summary>
        /// Creates/migrates the schema (call once at start; safe from several processes), then checks the database's shared
        /// facts (<see cref="CheckSettings"/>): a store whose IND length or KEK does not match the database refuses to run
        /// (<see cref="SubscriberStoreException"/>).
        /// </summary>
        public void EnsureSchema()
        {
            _db.EnsureSchema(Component, Migrations);
            CheckSettings();
        }

        /// <summary>
        /// SQN = SEQ ‖ IND (TS 33.102 Annex C.3.2): the same <c>seq</c> column read with another IND length gives other SQNs,
        /// and two processes with different lengths on one database can issue the same SQN twice. So the first process
        /// records its IND length and every later one must use it (the CLI, which has no HSS configuration, adopts it).
        /// The KEK: a value sealed under it (AES-GCM, <see cref="AtRestProtector"/>) must open, else rows written now could
        /// not be read by the HSS (and an AIR would fail after its SQN reservation). A database of an earlier version is
        /// checked against a subscriber's K before the value is recorded.
        /// </summary>
        private void CheckSettings()
        {
            using DbConnection c = _db.Open();
            string? ind = Setting(c, IndBitsSetting, _sqn.IndBits.ToString(CultureInfo.InvariantCulture));
            int stored = int.Parse(ind!, NumberStyles.None, CultureInfo.InvariantCulture);
            if (stored != _sqn.IndBits)
            {
                if (!_sqnFromDatabase)
                {
                    throw new SubscriberStoreException($"this database's SQNs are SEQ || IND with {stored} IND bits, this HSS is configured with " +
                        $"{_sqn.IndBits} (Hss:Sqn:IndBits; TS 33.102 Annex C.3.2): one IND length per database, or SQNs would repeat");
                }

                _sqn = new SqnPolicy(stored);
            }

            try
            {
                if (Setting(c, KekCheckSetting, null) == null && FirstSealedK(c) is (string imsi, byte[] kEnc))
                {
                    CryptographicOperations.ZeroMemory(_protector.Unprotect(kEnc, Ad(imsi, "k"))); // rows of a version without the check
                }

                string sealedHex = Setting(c, KekCheckSetting, Convert.ToHexStringLower(_protector.Protect(new byte[16], KekCheckAd)))!;
                CryptographicOperations.ZeroMemory(_protector.Unprotect(Convert.FromHexString(sealedHex), KekCheckAd));
            }
            catch (CryptographicException)
            {
                throw new SubscriberStoreException("the KEK does not open this database (its subscribers were sealed under another key-encryption key): " +
                    "use the KEK the database was created with (Hss:Kek / Hss:KekFile, `e2m subscriber --kek-file`)");
            }

            AdoptOrRecordLimits(c); // only a store the database accepts records its limits
        }

        private const string KekCheckAd = "hss/kek-check";

        private (string Imsi, byte[] KEnc)? FirstSealedK(DbConnection c)
        {
            using DbCommand q = _db.Command(c, null, "SELECT imsi, k_enc FROM hss_subscriber ORDER BY imsi LIMIT 1");
            using DbDataReader r = q.ExecuteReader();
            return r.Read() ? (r.GetString(0), E2mDatabase.GetBytes(r, 1)) : null;
        }

        /// <summary>
        /// Δ, L and the SEQ ceiling (TS 33.102 Annex C.2.1, C.2.2) are the HSS's configuration (Hss:Sqn), which the offline
        /// CLI does not see: an HSS records the values it runs with, and a store without a policy of its own adopts the last
        /// recorded ones, so `e2m subscriber add --sqn` and `e2m subscriber vectors` apply the limits the HSS applies
        /// (a CLI vector more than the HSS's Δ ahead would be one the USIMs reject, one past its ceiling one it never issues).
        /// </summary>
        private void AdoptOrRecordLimits(DbConnection c)
        {
            if (!_sqnFromDatabase)
            {
                string mine = string.Join(",", _sqn.Delta.ToString(CultureInfo.InvariantCulture), _sqn.AgeLimit.ToString(CultureInfo.InvariantCulture),
                    _sqn.SeqCeiling.ToString(CultureInfo.InvariantCulture));
                _db.Execute(c, null, "INSERT INTO hss_settings (name, value) VALUES (@n, @v) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    ("n", LimitsSetting), ("v", mine));
                return;
            }

            string? recorded = Setting(c, LimitsSetting, null);
            if (recorded == null)
            {
                return; // no HSS has run on this database since the limits were recorded: the Annex C defaults
            }

            string[] parts = recorded.Split(',');
            try
            {
                if (parts.Length != 3)
                {
                    throw new FormatException("expected Δ,L,ceiling");
                }

                _sqn = new SqnPolicy(_sqn.IndBits, ParseSetting(parts[0]), ParseSetting(parts[1]), ParseSetting(parts[2]));
            }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentOutOfRangeException)
            {
                throw new SubscriberStoreException("hss_settings holds SQN limits that are not valid for " + _sqn.IndBits + " IND bits (" + e.Message + "): start the HSS once to record its own");
            }
        }

        private static long ParseSetting(string value) => long.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);

        // The setting's value; when absent and proposed != null, proposed is recorded first (the first process wins a race).
        private string? Setting(DbConnection c, string name, string? proposed)
        {
            if (proposed != null)
            {
                _db.Execute(c, null, "INSERT INTO hss_settings (name, value) VALUES (@n, @v) ON CONFLICT (name) DO NOTHING", ("n", name), ("v", proposed));
            }

            return _db.Scalar(c, null, "SELECT value FROM hss_settings WHERE name = @n", ("n", name)) as string;
        }

        // ---- validation

        /// <summary>IMSI: 6..15 decimal digits (TS 23.003 §2.2: MCC 3 + MNC 2..3 + MSIN, at most 15).</summary>
        public static void ValidateImsi(string? imsi)
        {
            if (string.IsNullOrEmpty(imsi) || imsi.Length < 6 || imsi.Length > 15)
            {
                throw new SubscriberValidationException("imsi must be 6..15 decimal digits");
            }

            foreach (char c in imsi)
            {
                if (c < '0' || c > '9')
                {
                    throw new SubscriberValidationException("imsi must be 6..15 decimal digits");
                }
            }
        }

        public static void ValidateProfile(E2mProfile p)
        {
            if (p.AllowedEmseIds.Count > HssEmksContract.MaxAllowedEmseIds)
            {
                throw new SubscriberValidationException("emseIds: at most " + HssEmksContract.MaxAllowedEmseIds + " EMSE_Ids (the EMKS accepts no more)");
            }

            foreach (string id in p.AllowedEmseIds)
            {
                try
                {
                    DevPki.ValidateEmseId(id);
                }
                catch (ArgumentException e)
                {
                    throw new SubscriberValidationException(e.Message);
                }
            }

            if (p.KeyLifetimeSeconds < 60 || p.KeyLifetimeSeconds > 10L * 365 * 24 * 3600)
            {
                throw new SubscriberValidationException("key lifetime must be 60 s .. 10 years");
            }

            if (p.MinGea < 0 || p.MinGea > 5)
            {
                throw new SubscriberValidationException("minimum GEA must be 0..5 (TS 43.020: GEA1..GEA5; 0 = no minimum)");
            }

            if (p.ExternalId != null && (p.ExternalId.Length == 0 || p.ExternalId.Length > 256))
            {
                throw new SubscriberValidationException("external id must be 1..256 characters");
            }

            if (p.MaxMessages is long m && m < 1)
            {
                throw new SubscriberValidationException("max messages must be ≥ 1 (or absent)");
            }
        }

        // ---- admin operations

        /// <summary>Adds a subscriber; returns it as shown (without secrets).</summary>
        public SubscriberInfo Add(NewSubscriber s)
        {
            ValidateImsi(s.Imsi);
            if (s.K.Length != 16 || s.Opc.Length != 16)
            {
                throw new SubscriberValidationException("k and opc must be 16 octets (32 hex digits) each (TS 35.206)");
            }

            if (s.Sqn > 0xFFFF_FFFF_FFFFUL)
            {
                throw new SubscriberValidationException("sqn must fit in 48 bits (12 hex digits)");
            }

            if (_sqn.Seq(s.Sqn) >= _sqn.SeqCeiling)
            {
                throw new SubscriberValidationException($"sqn: SEQ must stay below the SEQ ceiling {_sqn.SeqCeiling} (TS 33.102 Annex C.2.1)");
            }

            E2mProfile p = Normalise(s.E2m);
            ValidateProfile(p);
            long now = _time.GetUtcNow().ToUnixTimeSeconds();
            string subscriptionId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            byte[] kEnc = _protector.Protect(s.K, Ad(s.Imsi, "k"));
            byte[] opcEnc = _protector.Protect(s.Opc, Ad(s.Imsi, "opc"));
            using DbConnection c = _db.Open();
            using DbTransaction t = _db.BeginWrite(c);
            try
            {
                CheckExternalIdFree(c, t, p.ExternalId, s.Imsi);
                _db.Execute(c, t,
                    @"INSERT INTO hss_subscriber (imsi, subscription_id, k_enc, opc_enc, seq, ind_next, amf, e2m_enabled, allowed_emse_ids,
                        key_lifetime_s, min_gea, access_key_separation, external_id, max_messages, created_at, updated_at, seq_ms, policy_version)
                      VALUES (@imsi, @sid, @k, @opc, @seq, @ind, @amf, @e2m, @emse, @life, @gea, @aks, @ext, @maxm, @now, @now, @seq, 0)",
                    ("imsi", s.Imsi), ("sid", subscriptionId), ("k", kEnc), ("opc", opcEnc),
                    // The provisioned SQN is the USIM's SQN_MS as personalised: SEQ_HE = SEQ_MS = its SEQ (Annex C.2.1 baseline).
                    ("seq", _sqn.Seq(s.Sqn)), ("ind", (_sqn.Ind(s.Sqn) + 1) % _sqn.IndCount), ("amf", (int)s.Amf),
                    ("e2m", p.Enabled ? 1 : 0), ("emse", JsonSerializer.Serialize(p.AllowedEmseIds)), ("life", p.KeyLifetimeSeconds),
                    ("gea", p.MinGea), ("aks", p.AccessKeySeparation ? 1 : 0), ("ext", p.ExternalId), ("maxm", p.MaxMessages), ("now", now));
                t.Commit();
            }
            catch (DbException e) when (E2mDatabase.IsUniqueViolation(e))
            {
                throw new DuplicateSubscriberException(s.Imsi);
            }

            return Get(s.Imsi) ?? throw new InvalidOperationException("subscriber vanished after insert");
        }

        public IReadOnlyList<SubscriberInfo> List()
        {
            var list = new List<SubscriberInfo>();
            using DbConnection c = _db.Open();
            using DbCommand cmd = _db.Command(c, null, $"SELECT imsi, {ProfileColumns} FROM hss_subscriber ORDER BY imsi");
            using DbDataReader r = cmd.ExecuteReader();
            while (r.Read())
            {
                list.Add(ReadInfo(r));
            }

            return list;
        }

        public SubscriberInfo? Get(string imsi)
        {
            ValidateImsi(imsi);
            using DbConnection c = _db.Open();
            using DbCommand cmd = _db.Command(c, null, $"SELECT imsi, {ProfileColumns} FROM hss_subscriber WHERE imsi = @imsi", ("imsi", imsi));
            using DbDataReader r = cmd.ExecuteReader();
            return r.Read() ? ReadInfo(r) : null;
        }

        /// <summary>Applies a policy update; throws <see cref="SubscriberNotFoundException"/>.</summary>
        public SubscriberInfo Update(string imsi, SubscriberUpdate u) => UpdateSubscriber(imsi, u).Subscriber;

        /// <summary>
        /// Applies a policy update in one write transaction: the policy version + 1, and for a subscriber whose e2m was enabled
        /// before or after the change (and <see cref="EmksPolicySync"/>) the new policy queued for the EMKS
        /// (<see cref="EmksPolicyOutbox"/>, same transaction). Throws <see cref="SubscriberNotFoundException"/>.
        /// </summary>
        public SubscriberUpdateResult UpdateSubscriber(string imsi, SubscriberUpdate u)
        {
            ValidateImsi(imsi);
            using DbConnection c = _db.Open();
            using DbTransaction t = _db.BeginWrite(c);
            SubscriberInfo current;
            using (DbCommand cmd = _db.Command(c, t, $"SELECT imsi, {ProfileColumns} FROM hss_subscriber WHERE imsi = @imsi{ForUpdate}", ("imsi", imsi)))
            using (DbDataReader r = cmd.ExecuteReader())
            {
                if (!r.Read())
                {
                    throw new SubscriberNotFoundException(Redact.Imsi(imsi));
                }

                current = ReadInfo(r);
            }

            E2mProfile p = current.E2m.Clone();
            if (u.E2mEnabled is bool en)
            {
                p.Enabled = en;
            }

            if (u.AllowedEmseIds != null)
            {
                p.AllowedEmseIds = u.AllowedEmseIds;
            }

            if (u.KeyLifetimeSeconds is long life)
            {
                p.KeyLifetimeSeconds = life;
            }

            if (u.MinGea is int gea)
            {
                p.MinGea = gea;
            }

            if (u.AccessKeySeparation is bool aks)
            {
                p.AccessKeySeparation = aks;
            }

            if (u.ExternalId != null)
            {
                p.ExternalId = u.ExternalId.Length == 0 ? null : u.ExternalId;
            }

            if (u.MaxMessages is long mm)
            {
                p.MaxMessages = mm == 0 ? null : mm;
            }

            p = Normalise(p);
            ValidateProfile(p);
            if (_emksPolicySync && p.Enabled)
            {
                RefuseRegrantWhileRevocationPending(c, t, current.SubscriptionId, p);
            }

            CheckExternalIdFree(c, t, p.ExternalId, imsi);
            ushort amf = u.Amf ?? current.Amf;
            long version = current.PolicyVersion + 1; // the row is locked (BEGIN IMMEDIATE / FOR UPDATE): no concurrent change
            DateTimeOffset now = _time.GetUtcNow();
            _db.Execute(c, t,
                @"UPDATE hss_subscriber SET amf = @amf, e2m_enabled = @e2m, allowed_emse_ids = @emse, key_lifetime_s = @life,
                    min_gea = @gea, access_key_separation = @aks, external_id = @ext, max_messages = @maxm, updated_at = @now,
                    policy_version = @v
                  WHERE imsi = @imsi",
                ("amf", (int)amf), ("e2m", p.Enabled ? 1 : 0), ("emse", JsonSerializer.Serialize(p.AllowedEmseIds)),
                ("life", p.KeyLifetimeSeconds), ("gea", p.MinGea), ("aks", p.AccessKeySeparation ? 1 : 0), ("ext", p.ExternalId),
                ("maxm", p.MaxMessages), ("now", now.ToUnixTimeSeconds()), ("v", version), ("imsi", imsi));
            QueuedPolicySync? queued = null;
            if (_emksPolicySync && (current.E2m.Enabled || p.Enabled))
            {
                queued = new QueuedPolicySync(current.SubscriptionId, new E2mSubscriptionPolicy
                {
                    PolicyVersion = version,
                    E2m = p.Enabled,
                    ExternalId = p.ExternalId,
                    AllowedEmseIds = new List<string>(p.AllowedEmseIds),
                    MaxMessages = p.MaxMessages,
                });
                EmksPolicyOutbox.Upsert(_db, c, t, queued, now.ToUnixTimeMilliseconds());
            }

            t.Commit();
            return new SubscriberUpdateResult(Get(imsi)!, queued);
        }

        /// <summary>
        /// The outbox holds one row per subscription (the latest policy): a change queued over a revocation the EMKS has not
        /// received yet would replace it, and the EMKS would never drop the keys the revocation was for (e2m off then on
        /// again; an EMSE_Id removed then added back). So while a sync is pending, a change that grants anything the pending
        /// one does not is refused (409: retry once the EMKS has it; `GET` shows the sync state).
        /// </summary>
        private void RefuseRegrantWhileRevocationPending(DbConnection c, DbTransaction t, string subscriptionId, E2mProfile next)
        {
            using DbCommand q = _db.Command(c, t, "SELECT e2m_enabled, allowed_emse_ids FROM hss_emks_policy_outbox WHERE subscription_id = @s", ("s", subscriptionId));
            using DbDataReader r = q.ExecuteReader();
            if (!r.Read())
            {
                return;
            }

            bool pendingE2m = Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture) != 0;
            List<string> pendingAllowed = JsonSerializer.Deserialize<List<string>>(r.GetString(1)) ?? new List<string>();
            foreach (string id in next.AllowedEmseIds)
            {
                if (!pendingE2m || !pendingAllowed.Contains(id))
                {
                    throw new PolicySyncPendingException(
                        "a policy change that revokes access is still on its way to the EMKS; granting access again now would overwrite it before the EMKS drops the old keys: retry once it is delivered");
                }
            }

            if (!pendingE2m)
            {
                throw new PolicySyncPendingException(
                    "switching e2m off is still on its way to the EMKS; switching it on again now would overwrite it before the EMKS drops the old keys: retry once it is delivered");
            }
        }

        /// <summary>
        /// An external id names one device towards the EMSEs (DESIGN.md §5: the EMKS gives it instead of a pseudonym); two
        /// subscriptions with the same one would merge two devices' readings at every EMSE.
        /// </summary>
        private void CheckExternalIdFree(DbConnection c, DbTransaction t, string? externalId, string imsi)
        {
            if (externalId == null)
            {
                return;
            }

            object? other = _db.Scalar(c, t, "SELECT imsi FROM hss_subscriber WHERE external_id = @e AND imsi <> @i", ("e", externalId), ("i", imsi));
            if (other != null && other is not DBNull)
            {
                throw new SubscriberValidationException("externalId: already the external id of another subscriber (it names one device towards the EMSEs)");
            }
        }

        /// <summary>Deletes a subscriber; false when unknown.</summary>
        public bool Delete(string imsi) => DeleteSubscriber(imsi) != null;

        /// <summary>
        /// Deletes a subscriber in one write transaction; for an e2m subscriber (and <see cref="EmksPolicySync"/>) the revocation
        /// — e2m off, policy version + 1 — is queued for the EMKS in the same transaction (the outbox row holds the snapshot: the
        /// subscriber row is gone). Null when unknown.
        /// </summary>
        public SubscriberDeleteResult? DeleteSubscriber(string imsi)
        {
            ValidateImsi(imsi);
            using DbConnection c = _db.Open();
            using DbTransaction t = _db.BeginWrite(c);
            SubscriberInfo current;
            using (DbCommand cmd = _db.Command(c, t, $"SELECT imsi, {ProfileColumns} FROM hss_subscriber WHERE imsi = @imsi{ForUpdate}", ("imsi", imsi)))
            using (DbDataReader r = cmd.ExecuteReader())
            {
                if (!r.Read())
                {
                    return null;
                }

                current = ReadInfo(r);
            }

            _db.Execute(c, t, "DELETE FROM hss_subscriber WHERE imsi = @imsi", ("imsi", imsi));
            QueuedPolicySync? queued = null;
            if (_emksPolicySync && current.E2m.Enabled)
            {
                queued = new QueuedPolicySync(current.SubscriptionId, new E2mSubscriptionPolicy { PolicyVersion = current.PolicyVersion + 1, E2m = false });
                EmksPolicyOutbox.Upsert(_db, c, t, queued, _time.GetUtcNow().ToUnixTimeMilliseconds());
            }

            t.Commit();
            return new SubscriberDeleteResult(current.SubscriptionId, queued);
        }

        // Row lock for read-modify-write on PostgreSQL (READ COMMITTED); SQLite's BEGIN IMMEDIATE already serialises writers.
        private string ForUpdate => _db.Dialect == DbDialect.Postgres ? " FOR UPDATE" : string.Empty;

        // ---- AuC operations

        /// <summary>
        /// Reserves <paramref name="count"/> consecutive SEQ values with one IND for one AIR (TS 33.102 Annex C.3.4:
        /// IND allocated cyclically per request, SEQ_HE incremented). Atomic: one
        /// <c>UPDATE ... RETURNING</c> in a write transaction (SQLite BEGIN IMMEDIATE).
        /// </summary>
        public SqnReservation ReserveSqns(string imsi, int count) => Reserve(imsi, count, seqMs: null);

        /// <summary>
        /// Resynchronisation (TS 33.102 §6.3.5, Annex C.3.4): after MAC-S was verified by the caller, SEQ_HE :=
        /// max(SEQ_HE, SEQ_MS) and <paramref name="count"/> SQNs are reserved from there (so the first new SEQ is
        /// SEQ_MS + 1 when the USIM was ahead). SEQ_HE never decreases: no SQN is ever issued twice.
        /// </summary>
        public SqnReservation ResyncAndReserve(string imsi, long seqMs, int count) => Reserve(imsi, count, seqMs);

        /// <summary>Reads K and OPc (for the MAC-S check of a resync). Caller zeroises.</summary>
        public (byte[] K, byte[] Opc) ReadCredentials(string imsi)
        {
            ValidateImsi(imsi);
            using DbConnection c = _db.Open();
            using DbCommand cmd = _db.Command(c, null, "SELECT k_enc, opc_enc FROM hss_subscriber WHERE imsi = @imsi", ("imsi", imsi));
            using DbDataReader r = cmd.ExecuteReader();
            if (!r.Read())
            {
                throw new SubscriberNotFoundException(Redact.Imsi(imsi));
            }

            return (_protector.Unprotect(E2mDatabase.GetBytes(r, 0), Ad(imsi, "k")), _protector.Unprotect(E2mDatabase.GetBytes(r, 1), Ad(imsi, "opc")));
        }

        private SqnReservation Reserve(string imsi, int count, long? seqMs)
        {
            ValidateImsi(imsi);
            if (count < 1 || count > 1000)
            {
                throw new ArgumentOutOfRangeException(nameof(count));
            }

            if (seqMs != null && (seqMs.Value < 0 || seqMs.Value > _sqn.SeqMax))
            {
                throw new ArgumentOutOfRangeException(nameof(seqMs));
            }

            // ONE conditional UPDATE ... RETURNING in a write transaction (SQLite BEGIN IMMEDIATE, PostgreSQL row lock): two
            // requests, threads or processes never obtain the same SEQ, and a refused request changes nothing.
            //  - normal AIR: SEQ_HE := SEQ_HE + n (Annex C.1.2/C.3.2: SEQ + 1 per vector), IND := next IND (C.3.4: cyclic per
            //    request, one IND per batch);
            //  - resync (TS 33.102 §6.3.5, Annex C.3.4): SEQ_HE := max(SEQ_HE, SEQ_MS) + n and seq_ms := max(seq_ms, SEQ_MS)
            //    (SEQ_MS never decreases on the USIM: a lower value is a replayed AUTS or another card);
            //  - both only while the new SEQ_HE stays within the SEQ ceiling (Annex C.2.1: no wrap-around) and within Δ of the
            //    USIM's SEQ_MS (Annex C.2.1: SEQ − SEQ_MS ≤ Δ, else the USIM answers with a synchronisation failure). For a
            //    resync the SEQ_MS is the one just recovered from AUTS; otherwise seq_ms, its known lower bound.
            string sql = seqMs == null ? ReserveSql : ResyncSql;

            // SQLite: writers of THIS process queue on a monitor per database file instead of meeting in BEGIN IMMEDIATE,
            // where SQLite's busy handler resolves contention by sleeping (1, 2, 5, 10 … 100 ms): that sleep was the p99 of
            // concurrent AIRs. Other processes are still serialised by BEGIN IMMEDIATE (the multi-process test).
            object? writer = _db.Dialect == DbDialect.Sqlite ? SqliteWriters.GetOrAdd(_db.ConnectionString, _ => new object()) : null;
            if (writer != null)
            {
                Monitor.Enter(writer);
            }

            try
            {
                return ReserveLocked(sql, imsi, count, seqMs);
            }
            finally
            {
                if (writer != null)
                {
                    Monitor.Exit(writer);
                }
            }
        }

        private static readonly ConcurrentDictionary<string, object> SqliteWriters = new(StringComparer.Ordinal);

        // The two statements of Reserve, built once (not per AIR).
        private static readonly string ReserveSql = BuildReserveSql(resync: false);
        private static readonly string ResyncSql = BuildReserveSql(resync: true);

        private static string BuildReserveSql(bool resync)
        {
            string baseSeq = resync ? "(CASE WHEN seq < @seqms THEN @seqms ELSE seq END)" : "seq";
            string window = resync ? "@seqms" : "seq_ms";
            string setSeqMs = resync ? ", seq_ms = (CASE WHEN seq_ms < @seqms THEN @seqms ELSE seq_ms END)" : string.Empty;
            return
                $@"UPDATE hss_subscriber SET seq = {baseSeq} + @n, ind_next = (ind_next % @a + 1) % @a, updated_at = @now{setSeqMs}
                   WHERE imsi = @imsi AND {baseSeq} + @n <= @ceiling AND {baseSeq} + @n - {window} <= @delta
                   RETURNING seq, ind_next, k_enc, opc_enc, amf, subscription_id, e2m_enabled, allowed_emse_ids, key_lifetime_s,
                             min_gea, access_key_separation, external_id, max_messages, policy_version";
        }

        private SqnReservation ReserveLocked(string sql, string imsi, int count, long? seqMs)
        {
            using DbConnection c = _db.Open();
            using DbTransaction t = _db.BeginWrite(c);
            var ps = new List<(string, object?)>
            {
                ("n", (long)count), ("a", _sqn.IndCount), ("now", _time.GetUtcNow().ToUnixTimeSeconds()), ("imsi", imsi),
                ("ceiling", _sqn.SeqCeiling), ("delta", _sqn.Delta),
            };
            if (seqMs != null)
            {
                ps.Add(("seqms", seqMs.Value));
            }

            long seqNew;
            int indNew;
            byte[] kEnc, opcEnc;
            ushort amf;
            string sid;
            E2mProfile profile;
            long policyVersion;
            using (DbCommand cmd = _db.Command(c, t, sql, ps.ToArray()))
            using (DbDataReader r = cmd.ExecuteReader())
            {
                if (!r.Read())
                {
                    r.Close();
                    throw Refusal(c, t, imsi, count, seqMs);
                }

                seqNew = r.GetInt64(0);
                indNew = Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture);
                kEnc = E2mDatabase.GetBytes(r, 2);
                opcEnc = E2mDatabase.GetBytes(r, 3);
                amf = (ushort)Convert.ToInt32(r.GetValue(4), CultureInfo.InvariantCulture);
                sid = r.GetString(5);
                profile = ReadProfile(r, 6);
                policyVersion = r.GetInt64(13);
            }

            t.Commit();
            return new SqnReservation
            {
                Imsi = imsi,
                SubscriptionId = sid,
                K = _protector.Unprotect(kEnc, Ad(imsi, "k")),
                Opc = _protector.Unprotect(opcEnc, Ad(imsi, "opc")),
                Amf = amf,
                E2m = profile,
                PolicyVersion = policyVersion,
                FirstSeq = seqNew - count + 1,
                Ind = (indNew + _sqn.IndCount - 1) % _sqn.IndCount,
                Count = count,
                IndBits = _sqn.IndBits,
            };
        }

        /// <summary>Why the conditional UPDATE matched no row (same transaction, nothing changed): a typed refusal.</summary>
        private SubscriberStoreException Refusal(DbConnection c, DbTransaction t, string imsi, int count, long? seqMs)
        {
            long seqHe, seqMsKnown;
            using (DbCommand cmd = _db.Command(c, t, "SELECT seq, seq_ms FROM hss_subscriber WHERE imsi = @imsi", ("imsi", imsi)))
            using (DbDataReader r = cmd.ExecuteReader())
            {
                if (!r.Read())
                {
                    return new SubscriberNotFoundException(Redact.Imsi(imsi));
                }

                seqHe = r.GetInt64(0);
                seqMsKnown = r.GetInt64(1);
            }

            long baseSeq = seqMs == null ? seqHe : Math.Max(seqHe, seqMs.Value);
            if (baseSeq + count > _sqn.SeqCeiling)
            {
                return seqMs == null
                    ? new SqnExhaustedException($"SEQ space exhausted: SEQ_HE {seqHe} + {count} would pass the SEQ ceiling {_sqn.SeqCeiling} (TS 33.102 Annex C.2.1: no wrap-around)")
                    : new SqnExhaustedException($"resync refused: SEQ_MS {seqMs} from AUTS would move SEQ_HE beyond the SEQ ceiling {_sqn.SeqCeiling} (TS 33.102 Annex C.2.1: no wrap-around); the USIM must be re-personalised");
            }

            return seqMs == null
                ? new SqnOutOfWindowException($"SEQ_HE {seqHe} + {count} would be more than Δ = {_sqn.Delta} ahead of the last SEQ_MS {seqMsKnown} known to the HSS (TS 33.102 Annex C.2.1): the USIM would reject it; a resynchronisation (AUTS) or re-provisioning is needed")
                : new SqnOutOfWindowException($"resync refused: SEQ_HE {seqHe} is more than Δ = {_sqn.Delta} ahead of the USIM's SEQ_MS {seqMs} (TS 33.102 Annex C.2.1); stepping SEQ_HE back (§6.3.5 step 5) would re-issue SQNs, which this HSS never does: re-provision the subscriber");
        }

        // ---- mapping

        private static string Ad(string imsi, string column) => "hss/subscriber/" + imsi + "/" + column;

        private static E2mProfile Normalise(E2mProfile p)
        {
            var q = p.Clone();
            var ids = new List<string>();
            foreach (string? id in q.AllowedEmseIds)
            {
                if (id == null)
                {
                    throw new SubscriberValidationException("emseIds: null is not an EMSE_Id"); // JSON [.., null]: 400, never a 500
                }

                string n = id.Trim().ToLowerInvariant();
                if (n.Length > 0 && !ids.Contains(n))
                {
                    ids.Add(n);
                }
            }

            q.AllowedEmseIds = ids;
            return q;
        }

        private static SubscriberInfo ReadInfo(DbDataReader r) => new()
        {
            Imsi = r.GetString(0),
            SubscriptionId = r.GetString(1),
            Seq = r.GetInt64(2),
            IndNext = Convert.ToInt32(r.GetValue(3), CultureInfo.InvariantCulture),
            Amf = (ushort)Convert.ToInt32(r.GetValue(4), CultureInfo.InvariantCulture),
            E2m = ReadProfile(r, 5),
            CreatedAt = DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(12)),
            UpdatedAt = DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(13)),
            SeqMs = r.GetInt64(14),
            PolicyVersion = r.GetInt64(15),
        };

        // Columns from 'first': e2m_enabled, allowed_emse_ids, key_lifetime_s, min_gea, access_key_separation, external_id, max_messages.
        private static E2mProfile ReadProfile(DbDataReader r, int first) => new()
        {
            Enabled = Convert.ToInt32(r.GetValue(first), CultureInfo.InvariantCulture) != 0,
            AllowedEmseIds = JsonSerializer.Deserialize<List<string>>(r.GetString(first + 1)) ?? new List<string>(),
            KeyLifetimeSeconds = r.GetInt64(first + 2),
            MinGea = Convert.ToInt32(r.GetValue(first + 3), CultureInfo.InvariantCulture),
            AccessKeySeparation = Convert.ToInt32(r.GetValue(first + 4), CultureInfo.InvariantCulture) != 0,
            ExternalId = r.IsDBNull(first + 5) ? null : r.GetString(first + 5),
            MaxMessages = r.IsDBNull(first + 6) ? null : r.GetInt64(first + 6),
        };
    }
}

using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;

namespace E2m.Server.Emks.Storage
{
    /// <summary>
    /// <see cref="IEmksStore"/> on <see cref="E2mDatabase"/> (SQLite or PostgreSQL, same SQL). Times are unix seconds.
    /// Secrets (e2m_int_key, XRES) are AES-256-GCM blobs from <see cref="AtRestProtector"/> with the table, row KID and
    /// column as associated data, so a blob moved to another row fails to open.
    /// </summary>
    public sealed class SqlEmksStore : IEmksStore
    {
        public const string Component = "emks";

        /// <summary>Schema migrations (E2mDatabase.EnsureSchema): index = from-version.</summary>
        public static readonly string[] Migrations =
        {
            """
            CREATE TABLE emks_key (
              kid {blob} PRIMARY KEY,
              kid7 {blob} NOT NULL,
              sealed_key {blob} NOT NULL,
              expires {bigint} NOT NULL,
              grace_deadline {bigint},
              used INTEGER NOT NULL DEFAULT 0,
              subscription_id TEXT NOT NULL,
              external_id TEXT,
              allowed_emse TEXT NOT NULL,
              rand {blob},
              max_messages {bigint},
              created {bigint} NOT NULL
            );
            CREATE INDEX emks_key_kid7 ON emks_key (kid7);
            CREATE INDEX emks_key_rand ON emks_key (rand);
            CREATE INDEX emks_key_expires ON emks_key (expires);
            CREATE TABLE emks_challenge (
              kid {blob} PRIMARY KEY,
              rand {blob} NOT NULL,
              sealed_xres {blob} NOT NULL,
              expires {bigint} NOT NULL,
              attempts INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX emks_challenge_rand ON emks_challenge (rand);
            CREATE TABLE emks_callback (
              emse_id TEXT PRIMARY KEY,
              url TEXT NOT NULL,
              created {bigint} NOT NULL
            )
            """,
            // 1 -> 2: push variant per subscriber (issue 6 point 2) with a durable outbox; the per-EMSE callbacks of
            // version 1 named no subscriber and cannot be carried over (EMSEs register again).
            """
            DROP TABLE emks_callback;
            CREATE TABLE emks_device (
              emse_id TEXT NOT NULL,
              device_id TEXT NOT NULL,
              subscription_id TEXT NOT NULL,
              updated {bigint} NOT NULL,
              PRIMARY KEY (emse_id, device_id)
            );
            CREATE TABLE emks_push_registration (
              emse_id TEXT NOT NULL,
              subscription_id TEXT NOT NULL,
              url TEXT NOT NULL,
              created {bigint} NOT NULL,
              PRIMARY KEY (emse_id, subscription_id)
            );
            CREATE INDEX emks_push_registration_sub ON emks_push_registration (subscription_id);
            CREATE TABLE emks_outbox (
              id {autoid},
              kid {blob} NOT NULL,
              emse_id TEXT NOT NULL,
              subscription_id TEXT NOT NULL,
              attempts INTEGER NOT NULL DEFAULT 0,
              next_attempt {bigint} NOT NULL,
              created {bigint} NOT NULL
            );
            CREATE INDEX emks_outbox_due ON emks_outbox (next_attempt)
            """,
            // 2 -> 3: policy sync from the HSS (issue 6 point 2, DESIGN.md §5): each subscription's latest policy and its
            // version (e2m = 0: revoked, a tombstone); indexes for the per-subscription writes of a push and of a sync.
            """
            CREATE TABLE emks_subscription (
              subscription_id TEXT PRIMARY KEY,
              policy_version {bigint} NOT NULL,
              e2m INTEGER NOT NULL,
              external_id TEXT,
              allowed_emse TEXT NOT NULL,
              max_messages {bigint},
              updated {bigint} NOT NULL
            );
            CREATE INDEX emks_key_subscription ON emks_key (subscription_id);
            CREATE INDEX emks_device_subscription ON emks_device (subscription_id);
            CREATE INDEX emks_outbox_subscription ON emks_outbox (subscription_id)
            """,
            // 3 -> 4: revocations pushed to registered EMSEs (policy sync): an outbox row with the callback URL to send
            // DELETE {url}/{kid} to (the registration itself is deleted with the policy change).
            """
            ALTER TABLE emks_outbox ADD COLUMN revoke_url TEXT
            """,
        };

        /// <summary>
        /// How long a revoked subscription's tombstone (<c>emks_subscription</c> with e2m = 0) is kept: it refuses pushes
        /// of older policy versions (an AIR racing the revocation). Far longer than any AIR; then purged.
        /// </summary>
        public static readonly TimeSpan TombstoneRetention = TimeSpan.FromDays(30);

        private const string KeyColumns = "kid, sealed_key, expires, grace_deadline, used, subscription_id, external_id, allowed_emse, rand, created, max_messages";

        private readonly E2mDatabase _db;
        private readonly AtRestProtector _protector;
        private readonly KeyCache? _cache;

        /// <param name="cache">Hot-key cache of the pull path (<see cref="KeyCache"/>); null = every lookup reads the database.</param>
        public SqlEmksStore(E2mDatabase db, AtRestProtector protector, KeyCache? cache = null)
        {
            _db = db;
            _protector = protector;
            _cache = cache;
        }

        public KeyCache? Cache => _cache;

        public E2mDatabase Database => _db;

        /// <summary>Creates/migrates the schema (called once at start).</summary>
        public void EnsureSchema() => _db.EnsureSchema(Component, Migrations);

        private static string KeyAd(byte[] kid) => "emks/key/" + Convert.ToHexStringLower(kid) + "/e2m_int_key";

        private static string XresAd(byte[] kid) => "emks/challenge/" + Convert.ToHexStringLower(kid) + "/xres";

        private static long Unix(DateTimeOffset t) => t.ToUnixTimeSeconds();

        private static DateTimeOffset FromUnix(long s) => DateTimeOffset.FromUnixTimeSeconds(s);

        public Task UpsertKeyAsync(KeyRecord key, CancellationToken ct = default) => UpsertKeysAsync(new[] { key }, null, ct);

        public async Task<int> UpsertKeysAsync(IReadOnlyList<KeyRecord> keys, IReadOnlyList<DeviceIndexEntry>? devices = null, CancellationToken ct = default)
        {
            var sealedKeys = new byte[keys.Count][];
            for (int i = 0; i < keys.Count; i++)
            {
                if (keys[i].Kid.Length != 8) throw new ArgumentException("KID is 8 octets", nameof(keys));
                sealedKeys[i] = _protector.Protect(keys[i].IntKey, KeyAd(keys[i].Kid));
            }

            int outbox = 0;
            bool otherKeysChanged = false;
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using (DbTransaction t = _db.BeginWrite(c))
            {
                // Policy versions (DESIGN.md §5 policy sync): per subscription the newer of the pushed and the known policy
                // wins. An older push (an AIR that read the policy before a change) is stored under the known policy, and
                // refused when that policy revoked the subscription; a newer push updates the subscription's other keys.
                var seen = new HashSet<string>(StringComparer.Ordinal);
                var newerKnown = new Dictionary<string, SubscriptionPolicy>(StringComparer.Ordinal); // the known policy where it is newer
                foreach (KeyRecord key in keys)
                {
                    if (!seen.Add(key.SubscriptionId)) continue;
                    var pushed = new SubscriptionPolicy(key.SubscriptionId, key.PolicyVersion, true, key.ExternalId, key.AllowedEmseIds, key.MaxMessages);
                    (SubscriptionPolicy stored, bool inserted) = await ReadOrInsertPolicyAsync(c, t, pushed, Unix(key.Created), ct).ConfigureAwait(false);
                    if (!stored.E2m && stored.PolicyVersion >= pushed.PolicyVersion)
                    {
                        throw new SubscriptionRevokedException(key.SubscriptionId, stored.PolicyVersion);
                    }

                    if (stored.PolicyVersion > pushed.PolicyVersion)
                    {
                        newerKnown[key.SubscriptionId] = stored;
                        continue;
                    }

                    if (!inserted)
                    {
                        await WritePolicyAsync(c, t, pushed, Unix(key.Created), ct).ConfigureAwait(false);
                        if (pushed.PolicyVersion > stored.PolicyVersion)
                        {
                            otherKeysChanged |= await UpdateKeysPolicyAsync(c, t, pushed, ct).ConfigureAwait(false) > 0;
                            outbox += await DropDisallowedAsync(c, t, pushed, key.Created.ToUnixTimeMilliseconds(), ct).ConfigureAwait(false);
                        }
                    }
                }

                if (newerKnown.Count > 0)
                {
                    var replaced = new KeyRecord[keys.Count];
                    for (int i = 0; i < keys.Count; i++)
                    {
                        replaced[i] = newerKnown.TryGetValue(keys[i].SubscriptionId, out SubscriptionPolicy? policy) ? keys[i].WithPolicy(policy) : keys[i];
                    }

                    keys = replaced;
                }

                for (int i = 0; i < keys.Count; i++)
                {
                    KeyRecord key = keys[i];
                    await using DbCommand cmd = _db.Command(c, t,
                        "INSERT INTO emks_key (kid, kid7, sealed_key, expires, grace_deadline, used, subscription_id, external_id, allowed_emse, rand, max_messages, created) " +
                        "VALUES (@kid, @kid7, @k, @e, @g, @u, @s, @x, @a, @r, @m, @c) " +
                        "ON CONFLICT (kid) DO UPDATE SET sealed_key = excluded.sealed_key, expires = excluded.expires, " +
                        "subscription_id = excluded.subscription_id, external_id = excluded.external_id, allowed_emse = excluded.allowed_emse, " +
                        "max_messages = excluded.max_messages, rand = COALESCE(excluded.rand, emks_key.rand)",
                        ("kid", key.Kid), ("kid7", key.Kid.AsSpan(0, 7).ToArray()), ("k", sealedKeys[i]), ("e", Unix(key.Expires)),
                        ("g", key.GraceDeadline is { } g ? Unix(g) : null), ("u", key.Used ? 1 : 0), ("s", key.SubscriptionId),
                        ("x", key.ExternalId), ("a", JsonSerializer.Serialize(key.AllowedEmseIds)), ("r", key.Rand), ("m", key.MaxMessages),
                        ("c", Unix(key.Created)));
                    await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                // The device index follows the policy of the latest push: a subscription's entries are replaced, so an
                // EMSE removed from allowed_emse_ids can no longer register for it.
                // A subscription whose known policy is newer than the push keeps the index that policy wrote.
                if (devices != null)
                {
                    var subscriptions = new HashSet<string>(StringComparer.Ordinal);
                    foreach (KeyRecord key in keys)
                    {
                        if (!newerKnown.ContainsKey(key.SubscriptionId)) subscriptions.Add(key.SubscriptionId);
                    }

                    var entries = new List<DeviceIndexEntry>(devices.Count);
                    foreach (DeviceIndexEntry d in devices)
                    {
                        if (subscriptions.Contains(d.SubscriptionId)) entries.Add(d);
                    }

                    await ReplaceDeviceIndexAsync(c, t, subscriptions, entries, keys.Count > 0 ? Unix(keys[0].Created) : 0L, ct).ConfigureAwait(false);
                }

                // Push variant: one outbox row per registration of an EMSE that this key's subscription allows, in the
                // same transaction as the key (no key material in the outbox: the dispatcher re-reads the key).
                foreach (KeyRecord key in keys)
                {
                    var targets = new List<string>();
                    await using (DbCommand q = _db.Command(c, t, "SELECT emse_id FROM emks_push_registration WHERE subscription_id = @s", ("s", key.SubscriptionId)))
                    await using (DbDataReader r = await q.ExecuteReaderAsync(ct).ConfigureAwait(false))
                    {
                        while (await r.ReadAsync(ct).ConfigureAwait(false))
                        {
                            string emse = r.GetString(0);
                            if (key.Allows(emse)) targets.Add(emse);
                        }
                    }

                    foreach (string emse in targets)
                    {
                        long created = key.Created.ToUnixTimeMilliseconds();
                        await using DbCommand ins = _db.Command(c, t,
                            "INSERT INTO emks_outbox (kid, emse_id, subscription_id, attempts, next_attempt, created) VALUES (@k, @e, @s, 0, @n, @n)",
                            ("k", key.Kid), ("e", emse), ("s", key.SubscriptionId), ("n", created));
                        await ins.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                        outbox++;
                    }
                }

                await t.CommitAsync(ct).ConfigureAwait(false);
            }

            // After the commit (a load between an invalidation and the commit would cache the old rows again).
            if (otherKeysChanged) _cache?.Clear();
            else foreach (KeyRecord key in keys) _cache?.Invalidate(key.Kid);
            return outbox;
        }

        public async Task<PolicyApplyResult> ApplySubscriptionPolicyAsync(SubscriptionPolicy policy, IReadOnlyList<DeviceIndexEntry> devices,
            DateTimeOffset now, CancellationToken ct = default)
        {
            int updated = 0, revoked = 0, revocations = 0;
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using (DbTransaction t = _db.BeginWrite(c))
            {
                (SubscriptionPolicy stored, bool inserted) = await ReadOrInsertPolicyAsync(c, t, policy, Unix(now), ct).ConfigureAwait(false);
                if (!inserted && stored.PolicyVersion >= policy.PolicyVersion)
                {
                    return new PolicyApplyResult(false, 0, 0, 0); // this version or a newer one is applied already
                }

                if (!inserted)
                {
                    await WritePolicyAsync(c, t, policy, Unix(now), ct).ConfigureAwait(false);
                }

                var subscription = new HashSet<string>(StringComparer.Ordinal) { policy.SubscriptionId };
                if (!policy.E2m)
                {
                    // Revoked (e2m off or subscriber deleted): registered EMSEs are told (revocation rows), then the keys,
                    // the EMSEs' ways to the subscription and queued deliveries go.
                    revocations = await DropDisallowedAsync(c, t, policy, now.ToUnixTimeMilliseconds(), ct).ConfigureAwait(false);
                    await using (DbCommand del = _db.Command(c, t, "DELETE FROM emks_key WHERE subscription_id = @s", ("s", policy.SubscriptionId)))
                    {
                        revoked = await del.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }

                    await using (DbCommand del = _db.Command(c, t, "DELETE FROM emks_device WHERE subscription_id = @s", ("s", policy.SubscriptionId)))
                    {
                        await del.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }
                }
                else
                {
                    updated = await UpdateKeysPolicyAsync(c, t, policy, ct).ConfigureAwait(false);
                    await ReplaceDeviceIndexAsync(c, t, subscription, devices, Unix(now), ct).ConfigureAwait(false);
                    revocations = await DropDisallowedAsync(c, t, policy, now.ToUnixTimeMilliseconds(), ct).ConfigureAwait(false);
                }

                await t.CommitAsync(ct).ConfigureAwait(false);
            }

            _cache?.Clear(); // rare: the pull path re-reads the subscription's keys with their new policy
            return new PolicyApplyResult(true, updated, revoked, revocations);
        }

        public async Task<SubscriptionPolicy?> FindSubscriptionPolicyAsync(string subscriptionId, CancellationToken ct = default)
        {
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            return await ReadPolicyAsync(c, null, subscriptionId, forUpdate: false, ct).ConfigureAwait(false);
        }

        /// <summary>
        /// The subscription's row, created from <paramref name="policy"/> when there is none (inserted = true). Locked for
        /// the transaction (PostgreSQL: the insert or <c>FOR UPDATE</c>; SQLite: the write transaction holds the database),
        /// so a push and a sync of one subscription never interleave.
        /// </summary>
        private async Task<(SubscriptionPolicy Stored, bool Inserted)> ReadOrInsertPolicyAsync(DbConnection c, DbTransaction t, SubscriptionPolicy policy, long updated, CancellationToken ct)
        {
            int inserted;
            await using (DbCommand ins = _db.Command(c, t,
                "INSERT INTO emks_subscription (subscription_id, policy_version, e2m, external_id, allowed_emse, max_messages, updated) " +
                "VALUES (@s, @v, @e, @x, @a, @m, @u) ON CONFLICT (subscription_id) DO NOTHING",
                PolicyParameters(policy, updated)))
            {
                inserted = await ins.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            SubscriptionPolicy stored = await ReadPolicyAsync(c, t, policy.SubscriptionId, forUpdate: true, ct).ConfigureAwait(false)
                ?? throw new InvalidOperationException("emks_subscription row vanished inside its transaction");
            return (stored, inserted == 1);
        }

        private async Task<SubscriptionPolicy?> ReadPolicyAsync(DbConnection c, DbTransaction? t, string subscriptionId, bool forUpdate, CancellationToken ct)
        {
            string lockClause = forUpdate && _db.Dialect == DbDialect.Postgres ? " FOR UPDATE" : "";
            await using DbCommand q = _db.Command(c, t,
                "SELECT policy_version, e2m, external_id, allowed_emse, max_messages FROM emks_subscription WHERE subscription_id = @s" + lockClause,
                ("s", subscriptionId));
            await using DbDataReader r = await q.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
            return new SubscriptionPolicy(subscriptionId, r.GetInt64(0),
                Convert.ToInt64(r.GetValue(1), System.Globalization.CultureInfo.InvariantCulture) != 0,
                r.IsDBNull(2) ? null : r.GetString(2),
                JsonSerializer.Deserialize<string[]>(r.GetString(3)) ?? Array.Empty<string>(),
                r.IsDBNull(4) ? null : r.GetInt64(4));
        }

        private async Task WritePolicyAsync(DbConnection c, DbTransaction t, SubscriptionPolicy policy, long updated, CancellationToken ct)
        {
            await using DbCommand cmd = _db.Command(c, t,
                "UPDATE emks_subscription SET policy_version = @v, e2m = @e, external_id = @x, allowed_emse = @a, max_messages = @m, updated = @u " +
                "WHERE subscription_id = @s",
                PolicyParameters(policy, updated));
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        private static (string, object?)[] PolicyParameters(SubscriptionPolicy policy, long updated) => new (string, object?)[]
        {
            ("s", policy.SubscriptionId), ("v", policy.PolicyVersion), ("e", policy.E2m ? 1 : 0), ("x", policy.ExternalId),
            ("a", JsonSerializer.Serialize(policy.AllowedEmseIds)), ("m", policy.MaxMessages), ("u", updated),
        };

        /// <summary>
        /// Push registrations and queued deliveries of EMSEs that <paramref name="policy"/> no longer allows (all of them when
        /// it has e2m off) are dropped, and each such registered EMSE gets one revocation row per key of the subscription:
        /// the dispatcher sends <c>DELETE {callback}/{kid}</c>, so a push EMSE drops the key at once instead of at its next
        /// revalidation. Pending revocations of an EMSE the policy allows again are dropped. Call before the keys are
        /// deleted. Returns the revocation rows written.
        /// </summary>
        private async Task<int> DropDisallowedAsync(DbConnection c, DbTransaction t, SubscriptionPolicy policy, long nowMs, CancellationToken ct)
        {
            int queued = 0;
            var drop = new List<(string Emse, string Url)>();
            await using (DbCommand q = _db.Command(c, t, "SELECT emse_id, url FROM emks_push_registration WHERE subscription_id = @s", ("s", policy.SubscriptionId)))
            await using (DbDataReader r = await q.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    string emse = r.GetString(0);
                    if (!policy.E2m || !policy.Allows(emse)) drop.Add((emse, r.GetString(1)));
                }
            }

            // Deliveries to EMSEs no longer allowed go; revocations stay unless the EMSE is allowed again.
            var dropOutbox = new List<long>();
            await using (DbCommand q = _db.Command(c, t, "SELECT id, emse_id, revoke_url FROM emks_outbox WHERE subscription_id = @s", ("s", policy.SubscriptionId)))
            await using (DbDataReader r = await q.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    bool allowed = policy.E2m && policy.Allows(r.GetString(1));
                    if (r.IsDBNull(2) ? !allowed : allowed) dropOutbox.Add(r.GetInt64(0));
                }
            }

            var kids = new List<byte[]>();
            if (drop.Count > 0)
            {
                await using DbCommand q = _db.Command(c, t, "SELECT kid FROM emks_key WHERE subscription_id = @s", ("s", policy.SubscriptionId));
                await using DbDataReader r = await q.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    kids.Add(E2mDatabase.GetBytes(r, 0));
                }
            }

            foreach (long id in dropOutbox)
            {
                await using DbCommand del = _db.Command(c, t, "DELETE FROM emks_outbox WHERE id = @i", ("i", id));
                await del.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            foreach ((string emse, string url) in drop)
            {
                await using (DbCommand del = _db.Command(c, t, "DELETE FROM emks_push_registration WHERE subscription_id = @s AND emse_id = @e",
                    ("s", policy.SubscriptionId), ("e", emse)))
                {
                    await del.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                foreach (byte[] kid in kids)
                {
                    await using DbCommand ins = _db.Command(c, t,
                        "INSERT INTO emks_outbox (kid, emse_id, subscription_id, attempts, next_attempt, created, revoke_url) VALUES (@k, @e, @s, 0, @n, @n, @u)",
                        ("k", kid), ("e", emse), ("s", policy.SubscriptionId), ("n", nowMs), ("u", url));
                    queued += await ins.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            return queued;
        }

        /// <summary>The subscription's keys take the policy's allowed EMSEs, external id and message limit. Returns the keys changed.</summary>
        private async Task<int> UpdateKeysPolicyAsync(DbConnection c, DbTransaction t, SubscriptionPolicy policy, CancellationToken ct)
        {
            await using DbCommand cmd = _db.Command(c, t,
                "UPDATE emks_key SET external_id = @x, allowed_emse = @a, max_messages = @m WHERE subscription_id = @s",
                ("x", policy.ExternalId), ("a", JsonSerializer.Serialize(policy.AllowedEmseIds)), ("m", policy.MaxMessages), ("s", policy.SubscriptionId));
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false); // the caller clears the key cache after its commit
        }

        /// <summary>
        /// The device index follows the latest policy: the entries of these subscriptions are replaced, so an EMSE removed
        /// from allowed_emse_ids can no longer register for them.
        /// </summary>
        private async Task ReplaceDeviceIndexAsync(DbConnection c, DbTransaction t, IReadOnlyCollection<string> subscriptions,
            IReadOnlyList<DeviceIndexEntry> entries, long updated, CancellationToken ct)
        {
            foreach (string sub in subscriptions)
            {
                await using DbCommand del = _db.Command(c, t, "DELETE FROM emks_device WHERE subscription_id = @s", ("s", sub));
                await del.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            foreach (DeviceIndexEntry d in entries)
            {
                await using DbCommand cmd = _db.Command(c, t,
                    "INSERT INTO emks_device (emse_id, device_id, subscription_id, updated) VALUES (@e, @d, @s, @u) " +
                    "ON CONFLICT (emse_id, device_id) DO UPDATE SET subscription_id = excluded.subscription_id, updated = excluded.updated",
                    ("e", d.EmseId), ("d", d.DeviceId), ("s", d.SubscriptionId), ("u", updated));
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }

        public async Task<KeyRecord?> FindKeyAsync(byte[] kid, CancellationToken ct = default)
        {
            if (kid.Length != 8) throw new ArgumentException("KID is 8 octets", nameof(kid));
            IReadOnlyList<SealedKeyRow> rows = await RowsByPrefixAsync(kid.AsSpan(0, 7).ToArray(), ct).ConfigureAwait(false);
            foreach (SealedKeyRow row in rows)
            {
                if (row.Kid.AsSpan().SequenceEqual(kid)) return Unseal(row);
            }

            return null;
        }

        public async Task<IReadOnlyList<KeyRecord>> FindKeysByPrefixAsync(byte[] kid7, CancellationToken ct = default)
        {
            IReadOnlyList<SealedKeyRow> rows = await RowsByPrefixAsync(kid7, ct).ConfigureAwait(false);
            var result = new List<KeyRecord>(rows.Count);
            foreach (SealedKeyRow row in rows) result.Add(Unseal(row));
            return result;
        }

        public async Task<KeyRecord?> FindKeyByRandAsync(byte[] rand, CancellationToken ct = default)
        {
            IReadOnlyList<SealedKeyRow> list = await QueryRowsAsync("rand = @p", rand, ct).ConfigureAwait(false);
            return list.Count == 0 ? null : Unseal(list[0]);
        }

        // Pull hot path: the cached rows of this prefix, else one indexed read (cached when nothing was invalidated meanwhile).
        private async Task<IReadOnlyList<SealedKeyRow>> RowsByPrefixAsync(byte[] kid7, CancellationToken ct)
        {
            if (kid7.Length != 7) throw new ArgumentException("kid prefix is 7 octets", nameof(kid7));
            IReadOnlyList<SealedKeyRow>? cached = _cache?.TryGet(kid7);
            if (cached != null) return cached;
            long generation = _cache?.Generation ?? 0;
            SealedKeyRow[] rows = await QueryRowsAsync("kid7 = @p", kid7, ct).ConfigureAwait(false);
            _cache?.Put(kid7, rows, generation);
            return rows;
        }

        /// <summary>A fresh plaintext copy of the key (the caller zeroises it); the cached row stays sealed.</summary>
        private KeyRecord Unseal(SealedKeyRow row) => new()
        {
            Kid = (byte[])row.Kid.Clone(),
            IntKey = _protector.Unprotect(row.SealedKey, KeyAd(row.Kid)),
            Expires = row.Expires,
            GraceDeadline = row.GraceDeadline,
            Used = row.Used,
            SubscriptionId = row.SubscriptionId,
            ExternalId = row.ExternalId,
            AllowedEmseIds = row.AllowedEmseIds,
            Rand = row.Rand,
            Created = row.Created,
            MaxMessages = row.MaxMessages,
        };

        private async Task<SealedKeyRow[]> QueryRowsAsync(string where, byte[] p, CancellationToken ct)
        {
            var result = new List<SealedKeyRow>(1);
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using DbCommand cmd = _db.Command(c, null, $"SELECT {KeyColumns} FROM emks_key WHERE {where}", ("p", p));
            await using DbDataReader r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                result.Add(new SealedKeyRow(
                    E2mDatabase.GetBytes(r, 0),
                    E2mDatabase.GetBytes(r, 1),
                    FromUnix(r.GetInt64(2)),
                    r.IsDBNull(3) ? null : FromUnix(r.GetInt64(3)),
                    Convert.ToInt64(r.GetValue(4), System.Globalization.CultureInfo.InvariantCulture) != 0,
                    r.GetString(5),
                    r.IsDBNull(6) ? null : r.GetString(6),
                    JsonSerializer.Deserialize<string[]>(r.GetString(7)) ?? Array.Empty<string>(),
                    r.IsDBNull(8) ? null : E2mDatabase.GetBytes(r, 8),
                    FromUnix(r.GetInt64(9)),
                    r.IsDBNull(10) ? null : r.GetInt64(10)));
            }

            return result.ToArray();
        }

        public async Task MarkUsedAsync(byte[] kid, CancellationToken ct = default)
        {
            await ExecAsync("UPDATE emks_key SET used = 1, grace_deadline = NULL WHERE kid = @kid AND used = 0", ct, ("kid", kid)).ConfigureAwait(false);
            _cache?.Update(kid, row => row with { Used = true, GraceDeadline = null });
        }

        public async Task SetGraceDeadlineAsync(byte[] kid, DateTimeOffset deadline, CancellationToken ct = default)
        {
            await ExecAsync("UPDATE emks_key SET grace_deadline = @g WHERE kid = @kid AND used = 0", ct, ("kid", kid), ("g", Unix(deadline))).ConfigureAwait(false);
            _cache?.Invalidate(kid);
        }

        public async Task<bool> DeleteKeyAsync(byte[] kid, CancellationToken ct = default)
        {
            bool deleted = await ExecAsync("DELETE FROM emks_key WHERE kid = @kid", ct, ("kid", kid)).ConfigureAwait(false) > 0;
            _cache?.Invalidate(kid);
            return deleted;
        }

        public async Task<int> PurgeAsync(DateTimeOffset now, CancellationToken ct = default)
        {
            long n = Unix(now);
            int keys = await ExecAsync(
                "DELETE FROM emks_key WHERE expires <= @n OR (grace_deadline IS NOT NULL AND grace_deadline <= @n)", ct, ("n", n)).ConfigureAwait(false);
            await ExecAsync("DELETE FROM emks_challenge WHERE expires <= @n", ct, ("n", n)).ConfigureAwait(false);
            await ExecAsync("DELETE FROM emks_subscription WHERE e2m = 0 AND updated <= @t", ct, ("t", Unix(now - TombstoneRetention))).ConfigureAwait(false);
            if (keys > 0) _cache?.Clear();
            return keys;
        }

        public async Task SaveChallengeAsync(ChallengeRecord challenge, CancellationToken ct = default)
        {
            byte[] sealedXres = _protector.Protect(challenge.Xres, XresAd(challenge.Kid));
            await ExecAsync(
                "INSERT INTO emks_challenge (kid, rand, sealed_xres, expires, attempts) VALUES (@kid, @r, @x, @e, 0) " +
                "ON CONFLICT (kid) DO UPDATE SET rand = excluded.rand, sealed_xres = excluded.sealed_xres, expires = excluded.expires, attempts = 0",
                ct, ("kid", challenge.Kid), ("r", challenge.Rand), ("x", sealedXres), ("e", Unix(challenge.Expires))).ConfigureAwait(false);
        }

        public Task<ChallengeRecord?> FindChallengeAsync(byte[] kid, CancellationToken ct = default) => QueryChallengeAsync("kid = @p", kid, ct);

        public Task<ChallengeRecord?> FindChallengeByRandAsync(byte[] rand, CancellationToken ct = default) => QueryChallengeAsync("rand = @p", rand, ct);

        private async Task<ChallengeRecord?> QueryChallengeAsync(string where, byte[] p, CancellationToken ct)
        {
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using DbCommand cmd = _db.Command(c, null, $"SELECT kid, rand, sealed_xres, expires, attempts FROM emks_challenge WHERE {where}", ("p", p));
            await using DbDataReader r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
            byte[] kid = E2mDatabase.GetBytes(r, 0);
            return new ChallengeRecord
            {
                Kid = kid,
                Rand = E2mDatabase.GetBytes(r, 1),
                Xres = _protector.Unprotect(E2mDatabase.GetBytes(r, 2), XresAd(kid)),
                Expires = FromUnix(r.GetInt64(3)),
                FailedAttempts = Convert.ToInt32(r.GetValue(4), System.Globalization.CultureInfo.InvariantCulture),
            };
        }

        public async Task<int> CountFailedAttemptAsync(byte[] kid, CancellationToken ct = default)
        {
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using DbCommand cmd = _db.Command(c, null,
                "UPDATE emks_challenge SET attempts = attempts + 1 WHERE kid = @kid RETURNING attempts", ("kid", kid));
            object? v = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return v is null or DBNull ? 0 : Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture);
        }

        public Task DeleteChallengeAsync(byte[] kid, CancellationToken ct = default) =>
            ExecAsync("DELETE FROM emks_challenge WHERE kid = @kid", ct, ("kid", kid));

        public async Task<string?> FindSubscriptionOfDeviceAsync(string emseId, string deviceId, CancellationToken ct = default)
        {
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            object? v = _db.Scalar(c, null, "SELECT subscription_id FROM emks_device WHERE emse_id = @e AND device_id = @d", ("e", emseId), ("d", deviceId));
            return v as string;
        }

        public async Task UpsertPushRegistrationsAsync(IReadOnlyList<PushRegistration> registrations, CancellationToken ct = default)
        {
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using DbTransaction t = _db.BeginWrite(c);
            foreach (PushRegistration reg in registrations)
            {
                await using DbCommand cmd = _db.Command(c, t,
                    "INSERT INTO emks_push_registration (emse_id, subscription_id, url, created) VALUES (@e, @s, @u, @c) " +
                    "ON CONFLICT (emse_id, subscription_id) DO UPDATE SET url = excluded.url",
                    ("e", reg.EmseId), ("s", reg.SubscriptionId), ("u", reg.Url), ("c", Unix(reg.Created)));
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await t.CommitAsync(ct).ConfigureAwait(false);
        }

        public Task<int> DeletePushRegistrationsAsync(string emseId, string? subscriptionId, CancellationToken ct = default) =>
            subscriptionId is null
                ? ExecAsync("DELETE FROM emks_push_registration WHERE emse_id = @e", ct, ("e", emseId))
                : ExecAsync("DELETE FROM emks_push_registration WHERE emse_id = @e AND subscription_id = @s", ct, ("e", emseId), ("s", subscriptionId));

        public async Task<PushRegistration?> FindPushRegistrationAsync(string emseId, string subscriptionId, CancellationToken ct = default)
        {
            IReadOnlyList<PushRegistration> list = await QueryRegistrationsAsync(
                "emse_id = @e AND subscription_id = @s", ct, ("e", emseId), ("s", subscriptionId)).ConfigureAwait(false);
            return list.Count == 0 ? null : list[0];
        }

        public Task<IReadOnlyList<PushRegistration>> ListPushRegistrationsAsync(string emseId, CancellationToken ct = default) =>
            QueryRegistrationsAsync("emse_id = @e", ct, ("e", emseId));

        private async Task<IReadOnlyList<PushRegistration>> QueryRegistrationsAsync(string where, CancellationToken ct, params (string Name, object? Value)[] parameters)
        {
            var result = new List<PushRegistration>();
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using DbCommand cmd = _db.Command(c, null,
                $"SELECT emse_id, subscription_id, url, created FROM emks_push_registration WHERE {where} ORDER BY subscription_id", parameters);
            await using DbDataReader r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                result.Add(new PushRegistration(r.GetString(0), r.GetString(1), r.GetString(2), FromUnix(r.GetInt64(3))));
            }

            return result;
        }

        public async Task<IReadOnlyList<OutboxItem>> DueOutboxAsync(long nowMs, int max, CancellationToken ct = default)
        {
            var result = new List<OutboxItem>();
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using DbCommand cmd = _db.Command(c, null,
                "SELECT id, kid, emse_id, subscription_id, attempts, next_attempt, revoke_url FROM emks_outbox WHERE next_attempt <= @n ORDER BY next_attempt, id LIMIT @m",
                ("n", nowMs), ("m", max));
            await using DbDataReader r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                result.Add(new OutboxItem(r.GetInt64(0), E2mDatabase.GetBytes(r, 1), r.GetString(2), r.GetString(3),
                    Convert.ToInt32(r.GetValue(4), System.Globalization.CultureInfo.InvariantCulture), r.GetInt64(5),
                    r.IsDBNull(6) ? null : r.GetString(6)));
            }

            return result;
        }

        public async Task<bool> ClaimOutboxAsync(OutboxItem item, long leaseUntilMs, CancellationToken ct = default) =>
            await ExecAsync("UPDATE emks_outbox SET attempts = attempts + 1, next_attempt = @l WHERE id = @i AND next_attempt = @o AND attempts = @a",
                ct, ("l", leaseUntilMs), ("i", item.Id), ("o", item.NextAttemptMs), ("a", item.Attempts)).ConfigureAwait(false) == 1;

        public Task RescheduleOutboxAsync(long id, long nextAttemptMs, CancellationToken ct = default) =>
            ExecAsync("UPDATE emks_outbox SET next_attempt = @n WHERE id = @i", ct, ("n", nextAttemptMs), ("i", id));

        public Task DeleteOutboxAsync(long id, CancellationToken ct = default) =>
            ExecAsync("DELETE FROM emks_outbox WHERE id = @i", ct, ("i", id));

        public async Task<long?> NextOutboxDueAsync(CancellationToken ct = default)
        {
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            object? v = _db.Scalar(c, null, "SELECT MIN(next_attempt) FROM emks_outbox");
            return v is null ? null : Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture);
        }

        public async Task<int> CountOutboxAsync(CancellationToken ct = default)
        {
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            return Convert.ToInt32(_db.Scalar(c, null, "SELECT COUNT(*) FROM emks_outbox"), System.Globalization.CultureInfo.InvariantCulture);
        }

        private async Task<int> ExecAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
        {
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using DbCommand cmd = _db.Command(c, null, sql, parameters);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        internal static void Zero(byte[]? b)
        {
            if (b != null) CryptographicOperations.ZeroMemory(b);
        }
    }
}

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
        };

        private const string KeyColumns = "kid, sealed_key, expires, grace_deadline, used, subscription_id, external_id, allowed_emse, rand, created, max_messages";

        private readonly E2mDatabase _db;
        private readonly AtRestProtector _protector;

        public SqlEmksStore(E2mDatabase db, AtRestProtector protector)
        {
            _db = db;
            _protector = protector;
        }

        public E2mDatabase Database => _db;

        /// <summary>Creates/migrates the schema (called once at start).</summary>
        public void EnsureSchema() => _db.EnsureSchema(Component, Migrations);

        private static string KeyAd(byte[] kid) => "emks/key/" + Convert.ToHexStringLower(kid) + "/e2m_int_key";

        private static string XresAd(byte[] kid) => "emks/challenge/" + Convert.ToHexStringLower(kid) + "/xres";

        private static long Unix(DateTimeOffset t) => t.ToUnixTimeSeconds();

        private static DateTimeOffset FromUnix(long s) => DateTimeOffset.FromUnixTimeSeconds(s);

        public Task UpsertKeyAsync(KeyRecord key, CancellationToken ct = default) => UpsertKeysAsync(new[] { key }, ct);

        public async Task UpsertKeysAsync(IReadOnlyList<KeyRecord> keys, CancellationToken ct = default)
        {
            var sealedKeys = new byte[keys.Count][];
            for (int i = 0; i < keys.Count; i++)
            {
                if (keys[i].Kid.Length != 8) throw new ArgumentException("KID is 8 octets", nameof(keys));
                sealedKeys[i] = _protector.Protect(keys[i].IntKey, KeyAd(keys[i].Kid));
            }

            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using DbTransaction t = _db.BeginWrite(c);
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

            await t.CommitAsync(ct).ConfigureAwait(false);
        }

        public async Task<KeyRecord?> FindKeyAsync(byte[] kid, CancellationToken ct = default)
        {
            IReadOnlyList<KeyRecord> list = await QueryKeysAsync("kid = @p", kid, ct).ConfigureAwait(false);
            return list.Count == 0 ? null : list[0];
        }

        public Task<IReadOnlyList<KeyRecord>> FindKeysByPrefixAsync(byte[] kid7, CancellationToken ct = default) =>
            QueryKeysAsync("kid7 = @p", kid7, ct);

        public async Task<KeyRecord?> FindKeyByRandAsync(byte[] rand, CancellationToken ct = default)
        {
            IReadOnlyList<KeyRecord> list = await QueryKeysAsync("rand = @p", rand, ct).ConfigureAwait(false);
            return list.Count == 0 ? null : list[0];
        }

        private async Task<IReadOnlyList<KeyRecord>> QueryKeysAsync(string where, byte[] p, CancellationToken ct)
        {
            var result = new List<KeyRecord>(1);
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using DbCommand cmd = _db.Command(c, null, $"SELECT {KeyColumns} FROM emks_key WHERE {where}", ("p", p));
            await using DbDataReader r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                byte[] kid = E2mDatabase.GetBytes(r, 0);
                result.Add(new KeyRecord
                {
                    Kid = kid,
                    IntKey = _protector.Unprotect(E2mDatabase.GetBytes(r, 1), KeyAd(kid)),
                    Expires = FromUnix(r.GetInt64(2)),
                    GraceDeadline = r.IsDBNull(3) ? null : FromUnix(r.GetInt64(3)),
                    Used = Convert.ToInt64(r.GetValue(4), System.Globalization.CultureInfo.InvariantCulture) != 0,
                    SubscriptionId = r.GetString(5),
                    ExternalId = r.IsDBNull(6) ? null : r.GetString(6),
                    AllowedEmseIds = JsonSerializer.Deserialize<string[]>(r.GetString(7)) ?? Array.Empty<string>(),
                    Rand = r.IsDBNull(8) ? null : E2mDatabase.GetBytes(r, 8),
                    Created = FromUnix(r.GetInt64(9)),
                    MaxMessages = r.IsDBNull(10) ? null : r.GetInt64(10),
                });
            }

            return result;
        }

        public Task MarkUsedAsync(byte[] kid, CancellationToken ct = default) =>
            ExecAsync("UPDATE emks_key SET used = 1, grace_deadline = NULL WHERE kid = @kid AND used = 0", ct, ("kid", kid));

        public Task SetGraceDeadlineAsync(byte[] kid, DateTimeOffset deadline, CancellationToken ct = default) =>
            ExecAsync("UPDATE emks_key SET grace_deadline = @g WHERE kid = @kid AND used = 0", ct, ("kid", kid), ("g", Unix(deadline)));

        public async Task<bool> DeleteKeyAsync(byte[] kid, CancellationToken ct = default) =>
            await ExecAsync("DELETE FROM emks_key WHERE kid = @kid", ct, ("kid", kid)).ConfigureAwait(false) > 0;

        public async Task<int> PurgeAsync(DateTimeOffset now, CancellationToken ct = default)
        {
            long n = Unix(now);
            int keys = await ExecAsync(
                "DELETE FROM emks_key WHERE expires <= @n OR (grace_deadline IS NOT NULL AND grace_deadline <= @n)", ct, ("n", n)).ConfigureAwait(false);
            await ExecAsync("DELETE FROM emks_challenge WHERE expires <= @n", ct, ("n", n)).ConfigureAwait(false);
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

        public Task UpsertCallbackAsync(CallbackRegistration registration, CancellationToken ct = default) =>
            ExecAsync(
                "INSERT INTO emks_callback (emse_id, url, created) VALUES (@e, @u, @c) ON CONFLICT (emse_id) DO UPDATE SET url = excluded.url, created = excluded.created",
                ct, ("e", registration.EmseId), ("u", registration.Url), ("c", Unix(registration.Created)));

        public async Task<bool> DeleteCallbackAsync(string emseId, CancellationToken ct = default) =>
            await ExecAsync("DELETE FROM emks_callback WHERE emse_id = @e", ct, ("e", emseId)).ConfigureAwait(false) > 0;

        public async Task<CallbackRegistration?> FindCallbackAsync(string emseId, CancellationToken ct = default)
        {
            await using DbConnection c = await _db.OpenAsync(ct).ConfigureAwait(false);
            await using DbCommand cmd = _db.Command(c, null, "SELECT emse_id, url, created FROM emks_callback WHERE emse_id = @e", ("e", emseId));
            await using DbDataReader r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
            return new CallbackRegistration(r.GetString(0), r.GetString(1), FromUnix(r.GetInt64(2)));
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

using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Hss.Subscribers;

namespace E2m.Server.Hss.Emks
{
    /// <summary>One row of <c>hss_emks_policy_outbox</c>: the policy snapshot still to be sent to the EMKS.</summary>
    public sealed class PolicyOutboxRow
    {
        public string SubscriptionId { get; init; } = string.Empty;

        public E2mSubscriptionPolicy Policy { get; init; } = new();

        /// <summary>Failed attempts so far for this snapshot (reset to 0 when a newer change replaces it).</summary>
        public int Attempts { get; init; }

        /// <summary>When the row is due, Unix time in milliseconds.</summary>
        public long NextAttemptMs { get; init; }

        /// <summary>When this snapshot was queued, Unix time in milliseconds.</summary>
        public long QueuedAtMs { get; init; }
    }

    /// <summary>
    /// The durable outbox of HSS → EMKS policy syncs (<see cref="HssEmksContract.SubscriptionPolicyRoute"/>): table
    /// <c>hss_emks_policy_outbox</c>, one row per subscription (primary key <c>subscription_id</c>), written by
    /// <see cref="SubscriberStore"/> in the transaction of the policy change or deletion, so a change committed is a change
    /// queued (a crash or an EMKS outage loses nothing). A newer change of the same subscription replaces the row (upsert,
    /// attempts reset, due at once) — only if it grants nothing the queued one does not: a change that would re-grant
    /// access over an undelivered revocation (e2m on after off, an EMSE_Id added back) is refused by
    /// <see cref="SubscriberStore"/> until the revocation is delivered, so no revocation is ever replaced unseen. Columns: <c>subscription_id, policy_version, e2m_enabled, external_id,
    /// allowed_emse_ids</c> (JSON array)<c>, max_messages, attempts, next_attempt, queued_at</c> (Unix ms) — never the IMSI,
    /// K or OPc. <see cref="EmksPolicyDispatcher"/> sends and removes rows.
    /// </summary>
    public sealed class EmksPolicyOutbox
    {
        public const string Table = "hss_emks_policy_outbox";

        private const string Columns = "subscription_id, policy_version, e2m_enabled, external_id, allowed_emse_ids, max_messages, attempts, next_attempt, queued_at";

        private readonly E2mDatabase _db;

        public EmksPolicyOutbox(E2mDatabase db)
        {
            _db = db ?? throw new ArgumentNullException(nameof(db));
        }

        /// <summary>Writes or replaces the row of <paramref name="q"/> inside the caller's transaction (never replaces a newer version).</summary>
        internal static void Upsert(E2mDatabase db, DbConnection c, DbTransaction t, QueuedPolicySync q, long nowMs)
        {
            db.Execute(c, t,
                $@"INSERT INTO {Table} ({Columns})
                   VALUES (@sid, @v, @e2m, @ext, @emse, @maxm, 0, @now, @now)
                   ON CONFLICT (subscription_id) DO UPDATE SET policy_version = excluded.policy_version, e2m_enabled = excluded.e2m_enabled,
                       external_id = excluded.external_id, allowed_emse_ids = excluded.allowed_emse_ids, max_messages = excluded.max_messages,
                       attempts = 0, next_attempt = excluded.next_attempt, queued_at = excluded.queued_at
                   WHERE {Table}.policy_version < excluded.policy_version",
                ("sid", q.SubscriptionId), ("v", q.Policy.PolicyVersion), ("e2m", q.Policy.E2m ? 1 : 0), ("ext", q.Policy.ExternalId),
                ("emse", JsonSerializer.Serialize(q.Policy.AllowedEmseIds)), ("maxm", q.Policy.MaxMessages), ("now", nowMs));
        }

        /// <summary>Rows due at <paramref name="nowMs"/>, oldest due first.</summary>
        public IReadOnlyList<PolicyOutboxRow> Due(long nowMs, int max)
        {
            using DbConnection c = _db.Open();
            return Read(c, $"SELECT {Columns} FROM {Table} WHERE next_attempt <= @now ORDER BY next_attempt, subscription_id LIMIT @max", ("now", nowMs), ("max", max));
        }

        /// <summary>All rows (operators, tests).</summary>
        public IReadOnlyList<PolicyOutboxRow> All()
        {
            using DbConnection c = _db.Open();
            return Read(c, $"SELECT {Columns} FROM {Table} ORDER BY subscription_id");
        }

        public PolicyOutboxRow? Find(string subscriptionId)
        {
            using DbConnection c = _db.Open();
            IReadOnlyList<PolicyOutboxRow> rows = Read(c, $"SELECT {Columns} FROM {Table} WHERE subscription_id = @sid", ("sid", subscriptionId));
            return rows.Count == 0 ? null : rows[0];
        }

        public int Count()
        {
            using DbConnection c = _db.Open();
            return Convert.ToInt32(_db.Scalar(c, null, $"SELECT COUNT(*) FROM {Table}"), CultureInfo.InvariantCulture);
        }

        /// <summary>The earliest <c>next_attempt</c> (Unix ms), or null when the outbox is empty.</summary>
        public long? NextDueMs()
        {
            using DbConnection c = _db.Open();
            object? v = _db.Scalar(c, null, $"SELECT MIN(next_attempt) FROM {Table}");
            return v == null ? null : Convert.ToInt64(v, CultureInfo.InvariantCulture);
        }

        /// <summary>Removes the row after the EMKS accepted <paramref name="policyVersion"/> — only if the row still holds that
        /// version (a newer change queued meanwhile stays). True when removed.</summary>
        public bool DeleteIfVersion(string subscriptionId, long policyVersion)
        {
            using DbConnection c = _db.Open();
            return _db.Execute(c, null, $"DELETE FROM {Table} WHERE subscription_id = @sid AND policy_version = @v",
                ("sid", subscriptionId), ("v", policyVersion)) > 0;
        }

        /// <summary>Records a failed attempt of <paramref name="policyVersion"/> and when to retry — only if the row still holds
        /// that version (a newer change is due at once). True when the row was rescheduled.</summary>
        public bool Reschedule(string subscriptionId, long policyVersion, int attempts, long nextAttemptMs)
        {
            using DbConnection c = _db.Open();
            return _db.Execute(c, null, $"UPDATE {Table} SET attempts = @a, next_attempt = @next WHERE subscription_id = @sid AND policy_version = @v",
                ("a", attempts), ("next", nextAttemptMs), ("sid", subscriptionId), ("v", policyVersion)) > 0;
        }

        private IReadOnlyList<PolicyOutboxRow> Read(DbConnection c, string sql, params (string Name, object? Value)[] ps)
        {
            var rows = new List<PolicyOutboxRow>();
            using DbCommand cmd = _db.Command(c, null, sql, ps);
            using DbDataReader r = cmd.ExecuteReader();
            while (r.Read())
            {
                rows.Add(new PolicyOutboxRow
                {
                    SubscriptionId = r.GetString(0),
                    Policy = new E2mSubscriptionPolicy
                    {
                        PolicyVersion = r.GetInt64(1),
                        E2m = Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture) != 0,
                        ExternalId = r.IsDBNull(3) ? null : r.GetString(3),
                        AllowedEmseIds = JsonSerializer.Deserialize<List<string>>(r.GetString(4)) ?? new List<string>(),
                        MaxMessages = r.IsDBNull(5) ? null : r.GetInt64(5),
                    },
                    Attempts = Convert.ToInt32(r.GetValue(6), CultureInfo.InvariantCulture),
                    NextAttemptMs = r.GetInt64(7),
                    QueuedAtMs = r.GetInt64(8),
                });
            }

            return rows;
        }
    }
}

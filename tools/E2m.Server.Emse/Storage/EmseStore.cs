using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.Threading;
using E2m.Oscore;
using E2m.Server.Common;

namespace E2m.Server.Emse.Storage
{
    /// <summary>One SenML record as stored (DESIGN.md §7: absolute device time, or arrival-stamped).</summary>
    public sealed class StoredReading
    {
        public string DeviceId { get; set; } = "";
        public string Kid { get; set; } = "";
        public long Piv { get; set; }
        public int Index { get; set; }
        public string Name { get; set; } = "";
        public string? Unit { get; set; }
        /// <summary>E2m.Coap.SenmlValueKind as int (1 integer, 2 float, 3 string, 4 boolean, 5 data).</summary>
        public int ValueKind { get; set; }
        public double? Number { get; set; }
        public long? Integer { get; set; }
        public string? Text { get; set; }
        public bool? Boolean { get; set; }
        /// <summary>Unix time in milliseconds.</summary>
        public long TimeMs { get; set; }
        /// <summary>"device" (SenML absolute time) or "arrival" (relative time stamped on arrival).</summary>
        public string TimeSource { get; set; } = "device";
        public long ReceivedMs { get; set; }
    }

    /// <summary>What the group commit decided for one verified request (the database replay window is authoritative).</summary>
    internal enum WriteOutcome
    {
        /// <summary>Not committed (yet), or the transaction failed: nothing of it is stored.</summary>
        None,
        /// <summary>New (kid, PIV): exchange, readings and replay window committed.</summary>
        Stored,
        /// <summary>(kid, PIV) was already stored with the same request hash (a retransmission seen by this or another
        /// instance): <see cref="ExchangeWrite.StoredResponse"/> is the response sent the first time.</summary>
        Duplicate,
        /// <summary>(kid, PIV) already in the persisted replay window with other content, or too old: 4.01 Replay detected.</summary>
        Replay,
    }

    /// <summary>One successfully verified request: its protected response and, if valid, its readings.</summary>
    internal class ExchangeWrite
    {
        public string Kid = "";
        public long Piv;
        public byte[] RequestHash = Array.Empty<byte>();
        public byte[] Response = Array.Empty<byte>();
        public string DeviceId = "";
        public List<StoredReading>? Readings;
        /// <summary>Set by the store: false when the (kid, piv) exchange existed already (readings not stored again).</summary>
        public bool Inserted;
        /// <summary>Set by <see cref="EmseStore.CommitGroup"/> once the transaction committed.</summary>
        public WriteOutcome Outcome;
        /// <summary><see cref="WriteOutcome.Duplicate"/>: the stored response of the first request.</summary>
        public byte[]? StoredResponse;
        /// <summary>The persisted replay window of <see cref="Kid"/> after the group (to refresh an in-memory window).</summary>
        public long WindowHighest;
        public uint WindowMask;
    }

    internal readonly struct ReplayState
    {
        public ReplayState(string kid, long highest, uint mask)
        {
            Kid = kid;
            Highest = highest;
            Mask = mask;
        }

        public string Kid { get; }
        public long Highest { get; }
        public uint Mask { get; }
    }

    public sealed class DeviceSummary
    {
        public string DeviceId { get; set; } = "";
        public string Kid { get; set; } = "";
        public long FirstSeenMs { get; set; }
        public long LastSeenMs { get; set; }
    }

    /// <summary>
    /// EMSE storage over <see cref="E2mDatabase"/> (SQLite or PostgreSQL, same SQL). Tables:
    /// <c>emse_readings</c>, <c>emse_devices</c>, <c>emse_replay</c> (RFC 8613 §7.4 window per kid: highest PIV +
    /// 32-bit mask) and <c>emse_exchanges</c> (protected response per (kid, PIV) for RFC 7252 §4.5 deduplication
    /// across restarts, kept for EXCHANGE_LIFETIME). Readings, the exchange and the replay window of one request
    /// are written in ONE transaction (issue 6 point 3): a restart loses nothing and accepts no replay.
    /// </summary>
    public sealed class EmseStore
    {
        internal const string Component = "emse";

        // Schema migrations (E2mDatabase.EnsureSchema: migration i brings version i to i+1).
        private static readonly string[] Migrations =
        {
            "CREATE TABLE IF NOT EXISTS emse_devices (device_id TEXT PRIMARY KEY, kid TEXT NOT NULL, first_seen_ms {bigint} NOT NULL, last_seen_ms {bigint} NOT NULL);" +
            "CREATE TABLE IF NOT EXISTS emse_readings (id {autoid}, device_id TEXT NOT NULL, kid TEXT NOT NULL, piv {bigint} NOT NULL, idx INTEGER NOT NULL, " +
            "name TEXT NOT NULL, unit TEXT, value_kind INTEGER NOT NULL, value_num DOUBLE PRECISION, value_int {bigint}, value_text TEXT, value_bool INTEGER, " +
            "time_ms {bigint} NOT NULL, time_source TEXT NOT NULL, received_ms {bigint} NOT NULL);" +
            "CREATE INDEX IF NOT EXISTS emse_readings_device_time ON emse_readings (device_id, time_ms);" +
            "CREATE TABLE IF NOT EXISTS emse_replay (kid TEXT PRIMARY KEY, highest {bigint} NOT NULL, mask {bigint} NOT NULL, updated_ms {bigint} NOT NULL);" +
            "CREATE TABLE IF NOT EXISTS emse_exchanges (kid TEXT NOT NULL, piv {bigint} NOT NULL, request_hash {blob} NOT NULL, response {blob} NOT NULL, " +
            "created_ms {bigint} NOT NULL, PRIMARY KEY (kid, piv));" +
            "CREATE INDEX IF NOT EXISTS emse_exchanges_created ON emse_exchanges (created_ms)",

            // A reading with device time is stored once per (device, name, time) (RFC 8428 §4.5.3 absolute time): a
            // batch re-sent under a new Partial IV after its 2.04 was lost (modem reboot, power cut: RFC 8613 App.
            // B.1.1 forbids re-using the PIV) carries the same readings with the same times (the firmware fixes a
            // reading's time at sample time: E2mApplication.DoSample/BuildBatch). Older duplicates are removed first.
            "DELETE FROM emse_readings WHERE time_source = 'device' AND id NOT IN " +
            "(SELECT MIN(id) FROM emse_readings WHERE time_source = 'device' GROUP BY device_id, name, time_ms);" +
            "CREATE UNIQUE INDEX IF NOT EXISTS emse_readings_once ON emse_readings (device_id, name, time_ms) WHERE time_source = 'device'",

            // The group journal (SQLite): one row per group commit holding the accepted exchanges and their readings
            // (GroupJournal), written in the transaction that moves the replay windows and folded into emse_exchanges /
            // emse_readings later, many groups per transaction (FoldJournal).
            "CREATE TABLE IF NOT EXISTS emse_journal (id {autoid}, created_ms {bigint} NOT NULL, entries INTEGER NOT NULL, payload {blob} NOT NULL);" +
            // A journal row that does not decode is moved here by the fold (kept for inspection, never half applied).
            "CREATE TABLE IF NOT EXISTS emse_journal_rejected (id {bigint} PRIMARY KEY, created_ms {bigint} NOT NULL, payload {blob} NOT NULL, error TEXT NOT NULL)",

            // One index per reading instead of two: it serves the per-device time-range query (prefix device_id,
            // time_ms) and keeps a device-time reading once (the CASE is 0 for device time and NULL for arrival time, and
            // NULLs never collide in a UNIQUE index, SQLite and PostgreSQL alike).
            "CREATE UNIQUE INDEX IF NOT EXISTS emse_readings_key ON emse_readings (device_id, time_ms, name, (CASE WHEN time_source = 'device' THEN 0 END));" +
            "DROP INDEX IF EXISTS emse_readings_once;" +
            "DROP INDEX IF EXISTS emse_readings_device_time",
        };

        private readonly string _synchronous;

        public EmseStore(E2mDatabase database, string sqliteSynchronous = "FULL")
        {
            Database = database ?? throw new ArgumentNullException(nameof(database));
            _synchronous = sqliteSynchronous == "NORMAL" ? "NORMAL" : "FULL";
        }

        public E2mDatabase Database { get; }

        public void EnsureSchema()
        {
            Database.EnsureSchema(Component, Migrations);
            FoldJournal(); // rows a stopped or crashed process left behind
        }

        /// <summary>
        /// True on SQLite: a group commit appends one <c>emse_journal</c> row instead of per-request exchange and reading
        /// rows, and <see cref="FoldJournal()"/> moves journal rows into <c>emse_exchanges</c>/<c>emse_readings</c> later.
        /// Every read of those two tables folds first, so readers never see the difference. PostgreSQL writes directly
        /// (its per-kid row locks make the multi-instance replay check, see <see cref="CommitGroup"/>).
        /// </summary>
        internal bool UsesJournal => Database.Dialect == DbDialect.Sqlite;

        /// <summary>Exchanges this process put in the journal and has not folded yet (drives the writer's folds).</summary>
        internal long JournalBacklog => Interlocked.Read(ref _journalBacklog);

        private long _journalBacklog;

        /// <summary>Journal rows folded per transaction (each holds one group, up to MaxBatch exchanges): a short hold of the write lock.</summary>
        internal const int FoldChunkRows = 128;

        /// <summary>Opens a connection with the EMSE's SQLite durability setting.</summary>
        internal DbConnection Open()
        {
            DbConnection c = Database.Open();
            if (Database.Dialect == DbDialect.Sqlite)
            {
                Database.Execute(c, null, "PRAGMA synchronous=" + _synchronous);
            }

            return c;
        }

        /// <summary>The persisted replay window of a kid, or false when none (a fresh context: empty window).</summary>
        internal bool TryLoadReplay(DbConnection c, string kid, out long highest, out uint mask)
        {
            using DbCommand cmd = Database.Command(c, null, "SELECT highest, mask FROM emse_replay WHERE kid = @k", ("k", kid));
            using DbDataReader r = cmd.ExecuteReader();
            if (r.Read())
            {
                highest = r.GetInt64(0);
                mask = unchecked((uint)r.GetInt64(1));
                return true;
            }

            highest = -1;
            mask = 0;
            return false;
        }

        /// <summary>The stored response to (kid, piv) if it is younger than <paramref name="notBeforeMs"/>.</summary>
        internal bool TryLoadExchange(DbConnection c, string kid, long piv, long notBeforeMs, out byte[] requestHash, out byte[] response)
        {
            if (ReadExchange(c, kid, piv, notBeforeMs, out requestHash, out response))
            {
                return true;
            }

            // The exchange may still be in the journal (this or another instance's): fold, then look again.
            return FoldJournal() > 0 && ReadExchange(c, kid, piv, notBeforeMs, out requestHash, out response);
        }

        private bool ReadExchange(DbConnection c, string kid, long piv, long notBeforeMs, out byte[] requestHash, out byte[] response)
        {
            using DbCommand cmd = Database.Command(c, null,
                "SELECT request_hash, response FROM emse_exchanges WHERE kid = @k AND piv = @p AND created_ms >= @t",
                ("k", kid), ("p", piv), ("t", notBeforeMs));
            using DbDataReader r = cmd.ExecuteReader();
            if (r.Read())
            {
                requestHash = E2mDatabase.GetBytes(r, 0);
                response = E2mDatabase.GetBytes(r, 1);
                return true;
            }

            requestHash = Array.Empty<byte>();
            response = Array.Empty<byte>();
            return false;
        }

        /// <summary>
        /// Stores a batch in one transaction: per exchange an insert into emse_exchanges that is a no-op when (kid, piv)
        /// exists (then its readings are not stored again: exactly once even with two EMSE instances), its readings,
        /// the devices' last-seen, and the final replay window per kid (never moved backwards).
        /// </summary>
        /// <summary>A connection with its prepared write statements (one per shard; not thread-safe).</summary>
        internal sealed class WriteSession : IDisposable
        {
            public WriteSession(EmseStore store)
            {
                Store = store;
                Connection = store.Open();
                E2mDatabase db = store.Database;
                Exchange = db.Command(Connection, null,
                    "INSERT INTO emse_exchanges (kid, piv, request_hash, response, created_ms) VALUES (@k, @p, @h, @r, @t) ON CONFLICT (kid, piv) DO NOTHING",
                    ("k", ""), ("p", 0L), ("h", Array.Empty<byte>()), ("r", Array.Empty<byte>()), ("t", 0L));
                Reading = db.Command(Connection, null,
                    "INSERT INTO emse_readings (device_id, kid, piv, idx, name, unit, value_kind, value_num, value_int, value_text, value_bool, time_ms, time_source, received_ms) " +
                    "VALUES (@d, @k, @p, @i, @n, @u, @vk, @vn, @vi, @vt, @vb, @tm, @ts, @rm) ON CONFLICT DO NOTHING", // emse_readings_key
                    ("d", ""), ("k", ""), ("p", 0L), ("i", 0), ("n", ""), ("u", ""), ("vk", 0), ("vn", 0.0), ("vi", 0L), ("vt", ""),
                    ("vb", 0), ("tm", 0L), ("ts", ""), ("rm", 0L));
                Device = db.Command(Connection, null,
                    "INSERT INTO emse_devices (device_id, kid, first_seen_ms, last_seen_ms) VALUES (@d, @k, @t, @t) " +
                    "ON CONFLICT (device_id) DO UPDATE SET kid = excluded.kid, last_seen_ms = excluded.last_seen_ms",
                    ("d", ""), ("k", ""), ("t", 0L));
                // RFC 8613 §7.4/§7.5: persisted with the data; the WHERE keeps another instance's newer window.
                Replay = db.Command(Connection, null,
                    "INSERT INTO emse_replay (kid, highest, mask, updated_ms) VALUES (@k, @h, @m, @t) " +
                    "ON CONFLICT (kid) DO UPDATE SET highest = excluded.highest, mask = excluded.mask, updated_ms = excluded.updated_ms " +
                    "WHERE emse_replay.highest <= excluded.highest",
                    ("k", ""), ("h", 0L), ("m", 0L), ("t", 0L));

                // The group commit (CommitGroup) computes the new window from the persisted one under a lock, so it writes it as is.
                ReplaySet = db.Command(Connection, null,
                    "INSERT INTO emse_replay (kid, highest, mask, updated_ms) VALUES (@k, @h, @m, @t) " +
                    "ON CONFLICT (kid) DO UPDATE SET highest = excluded.highest, mask = excluded.mask, updated_ms = excluded.updated_ms",
                    ("k", ""), ("h", 0L), ("m", 0L), ("t", 0L));
                ReplayGet = db.Command(Connection, null, "SELECT highest, mask FROM emse_replay WHERE kid = @k", ("k", ""));
                ExchangeGet = db.Command(Connection, null,
                    "SELECT request_hash, response FROM emse_exchanges WHERE kid = @k AND piv = @p AND created_ms >= @t",
                    ("k", ""), ("p", 0L), ("t", 0L));
                if (db.Dialect == DbDialect.Postgres)
                {
                    // PostgreSQL: the per-kid rows are created if missing, then locked in kid order (no deadlock between
                    // instances locking overlapping sets) for the rest of the transaction: the authoritative replay check.
                    ReplayEnsure = db.Command(Connection, null,
                        "INSERT INTO emse_replay (kid, highest, mask, updated_ms) SELECT k, -1, 0, @t FROM unnest(@ks) AS u(k) ORDER BY k " +
                        "ON CONFLICT (kid) DO NOTHING", ("t", 0L), ("ks", Array.Empty<string>()));
                    ReplayLock = db.Command(Connection, null,
                        "SELECT kid, highest, mask FROM emse_replay WHERE kid = ANY(@ks) ORDER BY kid FOR UPDATE", ("ks", Array.Empty<string>()));
                }
                else
                {
                    DataVersion = db.Command(Connection, null, "PRAGMA data_version");
                    // SQLite: the per-row inserts run as statements prepared once per session on the connection's handle
                    // and bound by position (Microsoft.Data.Sqlite binds every parameter by name on every execution).
                    _handle = ((Microsoft.Data.Sqlite.SqliteConnection)Connection).Handle!;
                    _rawExchange = Prepare(
                        "INSERT INTO emse_exchanges (" + ExchangeColumns + ") VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (kid, piv) DO NOTHING");
                    _rawReading = Prepare(
                        "INSERT INTO emse_readings (" + ReadingColumns + ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) " +
                        "ON CONFLICT DO NOTHING"); // emse_readings_key
                    _rawJournal = Prepare("INSERT INTO emse_journal (created_ms, entries, payload) VALUES (?1, ?2, ?3)");
                    JournalRead = db.Command(Connection, null, "SELECT id, created_ms, payload FROM emse_journal ORDER BY id LIMIT @n", ("n", 0));
                    JournalDelete = db.Command(Connection, null, "DELETE FROM emse_journal WHERE id <= @id", ("id", 0L));
                    JournalReject = db.Command(Connection, null,
                        "INSERT INTO emse_journal_rejected (id, created_ms, payload, error) VALUES (@id, @t, @p, @e) ON CONFLICT (id) DO NOTHING",
                        ("id", 0L), ("t", 0L), ("p", Array.Empty<byte>()), ("e", ""));
                    _rawReplaySet = Prepare(
                        "INSERT INTO emse_replay (kid, highest, mask, updated_ms) VALUES (?1, ?2, ?3, ?4) " +
                        "ON CONFLICT (kid) DO UPDATE SET highest = excluded.highest, mask = excluded.mask, updated_ms = excluded.updated_ms");
                }
            }

            private readonly SQLitePCL.sqlite3? _handle;
            private readonly SQLitePCL.sqlite3_stmt? _rawExchange;
            private readonly SQLitePCL.sqlite3_stmt? _rawReading;
            private readonly SQLitePCL.sqlite3_stmt? _rawReplaySet;
            private readonly SQLitePCL.sqlite3_stmt? _rawJournal;

            /// <summary>SQLite: reads the oldest journal rows / deletes the folded ones (see <see cref="FoldCore"/>).</summary>
            public DbCommand? JournalRead { get; }
            public DbCommand? JournalDelete { get; }
            public DbCommand? JournalReject { get; }

            /// <summary>Journal rows this session moved to emse_journal_rejected (they did not decode).</summary>
            public long Rejected;

            /// <summary>Scratch buffer of <see cref="GroupJournal.Encode"/>.</summary>
            public readonly System.IO.MemoryStream JournalScratch = new();

            /// <summary>Appends the group's journal row (inside the open transaction).</summary>
            public void InsertJournalRow(long nowMs, int entries, byte[] payload)
            {
                SQLitePCL.sqlite3_stmt st = _rawJournal!;
                SQLitePCL.raw.sqlite3_bind_int64(st, 1, nowMs);
                SQLitePCL.raw.sqlite3_bind_int(st, 2, entries);
                SQLitePCL.raw.sqlite3_bind_blob(st, 3, payload);
                Step(st);
            }

            /// <summary>True when the per-row prepared statements of the SQLite dialect are available.</summary>
            public bool Raw => _rawExchange != null;

            private SQLitePCL.sqlite3_stmt Prepare(string sql)
            {
                int rc = SQLitePCL.raw.sqlite3_prepare_v2(_handle, sql, out SQLitePCL.sqlite3_stmt stmt);
                Microsoft.Data.Sqlite.SqliteException.ThrowExceptionForRC(rc, _handle);
                return stmt;
            }

            /// <summary>Steps a bound insert once (inside the open transaction) and resets it; returns the rows changed.</summary>
            private int Step(SQLitePCL.sqlite3_stmt stmt)
            {
                int rc = SQLitePCL.raw.sqlite3_step(stmt);
                int changed = rc == SQLitePCL.raw.SQLITE_DONE ? SQLitePCL.raw.sqlite3_changes(_handle) : 0;
                SQLitePCL.raw.sqlite3_reset(stmt);
                SQLitePCL.raw.sqlite3_clear_bindings(stmt);
                if (rc != SQLitePCL.raw.SQLITE_DONE)
                {
                    Microsoft.Data.Sqlite.SqliteException.ThrowExceptionForRC(rc, _handle);
                }

                return changed;
            }

            /// <summary>The exchange row; false when (kid, piv) exists already (ON CONFLICT DO NOTHING).</summary>
            public bool InsertExchangeRow(ExchangeWrite w, long nowMs)
            {
                SQLitePCL.sqlite3_stmt st = _rawExchange!;
                SQLitePCL.raw.sqlite3_bind_text(st, 1, w.Kid);
                SQLitePCL.raw.sqlite3_bind_int64(st, 2, w.Piv);
                SQLitePCL.raw.sqlite3_bind_blob(st, 3, w.RequestHash);
                SQLitePCL.raw.sqlite3_bind_blob(st, 4, w.Response);
                SQLitePCL.raw.sqlite3_bind_int64(st, 5, nowMs);
                return Step(st) == 1;
            }

            /// <summary>The kid's new window, written as it is (computed from the persisted one under the writer lock).</summary>
            public void SetWindowRow(string kid, ReplayWindow window, long nowMs)
            {
                SQLitePCL.sqlite3_stmt st = _rawReplaySet!;
                SQLitePCL.raw.sqlite3_bind_text(st, 1, kid);
                SQLitePCL.raw.sqlite3_bind_int64(st, 2, window.Highest);
                SQLitePCL.raw.sqlite3_bind_int64(st, 3, (long)window.Mask);
                SQLitePCL.raw.sqlite3_bind_int64(st, 4, nowMs);
                Step(st);
            }

            public void InsertReadingRow(StoredReading r)
            {
                SQLitePCL.sqlite3_stmt st = _rawReading!;
                SQLitePCL.raw.sqlite3_bind_text(st, 1, r.DeviceId);
                SQLitePCL.raw.sqlite3_bind_text(st, 2, r.Kid);
                SQLitePCL.raw.sqlite3_bind_int64(st, 3, r.Piv);
                SQLitePCL.raw.sqlite3_bind_int(st, 4, r.Index);
                SQLitePCL.raw.sqlite3_bind_text(st, 5, r.Name);
                BindText(st, 6, r.Unit);
                SQLitePCL.raw.sqlite3_bind_int(st, 7, r.ValueKind);
                if (r.Number.HasValue)
                {
                    SQLitePCL.raw.sqlite3_bind_double(st, 8, r.Number.Value);
                }

                if (r.Integer.HasValue)
                {
                    SQLitePCL.raw.sqlite3_bind_int64(st, 9, r.Integer.Value);
                }

                BindText(st, 10, r.Text);
                if (r.Boolean.HasValue)
                {
                    SQLitePCL.raw.sqlite3_bind_int(st, 11, r.Boolean.Value ? 1 : 0);
                }

                SQLitePCL.raw.sqlite3_bind_int64(st, 12, r.TimeMs);
                SQLitePCL.raw.sqlite3_bind_text(st, 13, r.TimeSource);
                SQLitePCL.raw.sqlite3_bind_int64(st, 14, r.ReceivedMs);
                Step(st); // unbound (cleared) parameters are NULL
            }

            private static void BindText(SQLitePCL.sqlite3_stmt st, int index, string? value)
            {
                if (value != null)
                {
                    SQLitePCL.raw.sqlite3_bind_text(st, index, value);
                }
            }

            public EmseStore Store { get; }
            public DbConnection Connection { get; }
            public DbCommand ReplaySet { get; }
            public DbCommand ReplayGet { get; }
            public DbCommand ExchangeGet { get; }
            public DbCommand? ReplayEnsure { get; }
            public DbCommand? ReplayLock { get; }
            public DbCommand? DataVersion { get; }

            /// <summary>
            /// Replay windows as last committed by this session. SQLite only: valid while PRAGMA data_version shows no
            /// commit by another connection since this session's previous transaction; cleared on any failure.
            /// </summary>
            public Dictionary<string, ReplayWindow> Windows { get; } = new(StringComparer.Ordinal);
            public long LastDataVersion = -1;
            public readonly List<string> GroupKids = new();
            private readonly HashSet<string> _groupKidSet = new(StringComparer.Ordinal);

            /// <summary>Adds a kid to <see cref="GroupKids"/> once (a group holds up to MaxBatch requests).</summary>
            public void AddGroupKid(string kid)
            {
                if (_groupKidSet.Add(kid))
                {
                    GroupKids.Add(kid);
                }
            }

            public void ClearGroupKids()
            {
                GroupKids.Clear();
                _groupKidSet.Clear();
            }
            public readonly List<string> Kids = new();
            public readonly List<ExchangeWrite> Accepted = new();
            public readonly List<StoredReading> Readings = new();
            private readonly Dictionary<(string Table, int Rows), DbCommand> _multi = new();

            /// <summary>A cached multi-row <c>INSERT INTO table (columns) VALUES (...), ... tail</c> with parameters @p0.. (row-major).</summary>
            public DbCommand Multi(string table, string columns, int perRow, string tail, int rows)
            {
                if (_multi.TryGetValue((table, rows), out DbCommand? cmd))
                {
                    return cmd;
                }

                var sql = new System.Text.StringBuilder("INSERT INTO ").Append(table).Append(" (").Append(columns).Append(") VALUES ");
                cmd = Connection.CreateCommand();
                for (int r = 0; r < rows; r++)
                {
                    sql.Append(r == 0 ? "(" : ", (");
                    for (int c = 0; c < perRow; c++)
                    {
                        string name = "@p" + (r * perRow + c).ToString(CultureInfo.InvariantCulture);
                        sql.Append(c == 0 ? "" : ", ").Append(name);
                        DbParameter p = cmd.CreateParameter();
                        p.ParameterName = name;
                        p.Value = DBNull.Value;
                        cmd.Parameters.Add(p);
                    }

                    sql.Append(')');
                }

                cmd.CommandText = sql.Append(tail).ToString();
                cmd.Transaction = _transaction;
                _multi[(table, rows)] = cmd;
                return cmd;
            }

            private DbTransaction? _transaction;

            public void SetMultiTransaction(DbTransaction? t)
            {
                _transaction = t;
                foreach (DbCommand c in _multi.Values)
                {
                    c.Transaction = t;
                }
            }
            public readonly HashSet<string> ChangedKids = new(StringComparer.Ordinal);
            public DbCommand Exchange { get; }
            public DbCommand Reading { get; }
            public DbCommand Device { get; }
            public DbCommand Replay { get; }

            /// <summary>Devices whose last-seen this session wrote, and when (last-seen is refreshed at most once a minute).</summary>
            public Dictionary<string, long> DeviceSeen { get; } = new(StringComparer.Ordinal);

            public void Dispose()
            {
                _rawExchange?.Dispose(); // sqlite3_finalize, before the connection goes back to the pool
                _rawReading?.Dispose();
                _rawReplaySet?.Dispose();
                _rawJournal?.Dispose();
                JournalRead?.Dispose();
                JournalDelete?.Dispose();
                JournalReject?.Dispose();
                foreach (DbCommand c in _multi.Values)
                {
                    c.Dispose();
                }

                Exchange.Dispose();
                Reading.Dispose();
                Device.Dispose();
                Replay.Dispose();
                ReplaySet.Dispose();
                ReplayGet.Dispose();
                ExchangeGet.Dispose();
                ReplayEnsure?.Dispose();
                ReplayLock?.Dispose();
                DataVersion?.Dispose();
                Connection.Dispose();
            }
        }

        internal WriteSession OpenSession() => new(this);

        /// <summary>Test seam: called inside the group transaction just before COMMIT; throwing aborts the group.</summary>
        internal Action<IReadOnlyList<ExchangeWrite>>? BeforeGroupCommit { get; set; }

        /// <summary>
        /// The group commit of issue 6 point 3 (one transaction for many verified requests, in arrival order). The replay
        /// check is authoritative HERE, not in memory: the persisted window of every kid in the group is read under the
        /// writer lock (SQLite: BEGIN IMMEDIATE, the single writer of the database file; PostgreSQL: the per-kid rows
        /// <c>SELECT ... FOR UPDATE</c> in kid order), each PIV is checked and accepted against it (RFC 8613 §7.4), and
        /// only accepted PIVs store their exchange and readings; the new windows are written in the same transaction.
        /// So two EMSE processes sharing one database never accept the same (kid, PIV) twice. A PIV already in the
        /// window is a <see cref="WriteOutcome.Duplicate"/> when its stored exchange has the same request hash and is
        /// younger than <paramref name="exchangeNotBeforeMs"/> (RFC 7252 §4.5: answer again, store nothing), else a
        /// <see cref="WriteOutcome.Replay"/>. On any exception nothing is stored and every outcome stays None.
        /// </summary>
        internal void CommitGroup(WriteSession s, List<ExchangeWrite> writes, long nowMs, long exchangeNotBeforeMs)
        {
            if (Database.Dialect == DbDialect.Sqlite)
            {
                lock (_sqliteWriteLock)
                {
                    CommitGroupCore(s, writes, nowMs, exchangeNotBeforeMs);
                }
            }
            else
            {
                CommitGroupCore(s, writes, nowMs, exchangeNotBeforeMs);
            }
        }

        private void CommitGroupCore(WriteSession s, List<ExchangeWrite> writes, long nowMs, long exchangeNotBeforeMs)
        {
            foreach (ExchangeWrite w in writes)
            {
                w.Outcome = WriteOutcome.None;
                w.Inserted = false;
                w.StoredResponse = null;
            }

            var touched = new List<string>();
            int foldedEntries = 0;
            s.ClearGroupKids();
            s.ChangedKids.Clear();
            using DbTransaction t = Database.BeginWrite(s.Connection);
            try
            {
                SetTransaction(s, t);
                foreach (ExchangeWrite w in writes)
                {
                    s.AddGroupKid(w.Kid);
                }

                foldedEntries = LoadWindows(s, nowMs);
                s.Accepted.Clear();
                foreach (ExchangeWrite w in writes)
                {
                    ReplayWindow window = s.Windows[w.Kid];
                    if (!window.Check(w.Piv))
                    {
                        continue; // decided below: duplicate or replay
                    }

                    window.Accept(w.Piv); // RFC 8613 §7.4, against the persisted window
                    s.ChangedKids.Add(w.Kid);
                    s.Accepted.Add(w);
                }

                if (UsesJournal)
                {
                    foreach (ExchangeWrite w in s.Accepted)
                    {
                        w.Inserted = true;
                        w.Outcome = WriteOutcome.Stored; // journalled below, after the lookups (which may fold)
                    }
                }
                else
                {
                    InsertAccepted(s, nowMs, touched);
                }

                bool folded = false;
                foreach (ExchangeWrite w in writes)
                {
                    if (w.Outcome == WriteOutcome.Stored)
                    {
                        continue;
                    }

                    // Seen before (this group, an earlier one, or another instance): a retransmission gets the stored response.
                    if (UsesJournal && FindInGroup(s.Accepted, w) is ExchangeWrite first)
                    {
                        w.StoredResponse = first.Response;
                        w.Outcome = WriteOutcome.Duplicate;
                        continue;
                    }

                    if (UsesJournal && !folded)
                    {
                        foldedEntries += FoldCore(s, int.MaxValue); // earlier groups' exchanges may still be in the journal
                        folded = true;
                    }

                    DbCommand get = s.ExchangeGet;
                    get.Parameters[0].Value = w.Kid;
                    get.Parameters[1].Value = w.Piv;
                    get.Parameters[2].Value = exchangeNotBeforeMs;
                    using DbDataReader r = get.ExecuteReader();
                    if (r.Read() && E2mDatabase.GetBytes(r, 0).AsSpan().SequenceEqual(w.RequestHash))
                    {
                        w.StoredResponse = E2mDatabase.GetBytes(r, 1);
                        w.Outcome = WriteOutcome.Duplicate;
                    }
                    else
                    {
                        w.Outcome = WriteOutcome.Replay;
                    }
                }

                if (UsesJournal)
                {
                    // After the lookups: a fold they caused keeps each kid's last exchange, which must not be one of this group.
                    JournalAccepted(s, nowMs, touched);
                }

                if (!UsesJournal)
                {
                    BulkSetWindows(s, nowMs); // the journal row is the window log; FoldCore checkpoints emse_replay
                }

                BeforeGroupCommit?.Invoke(writes);
                t.Commit();
                if (UsesJournal)
                {
                    Interlocked.Add(ref _journalBacklog, s.Accepted.Count);
                    SubtractBacklog(foldedEntries);
                }
            }
            catch
            {
                foreach (string d in touched)
                {
                    s.DeviceSeen.Remove(d); // not written after all
                }

                foreach (ExchangeWrite w in writes)
                {
                    w.Outcome = WriteOutcome.None;
                    w.Inserted = false;
                    w.StoredResponse = null;
                }

                s.Windows.Clear(); // they hold uncommitted moves
                s.LastDataVersion = -1;
                throw;
            }
            finally
            {
                SetTransaction(s, null);
            }

            foreach (ExchangeWrite w in writes)
            {
                ReplayWindow window = s.Windows[w.Kid];
                w.WindowHighest = window.Highest;
                w.WindowMask = window.Mask;
            }

            if (Database.Dialect == DbDialect.Postgres)
            {
                s.Windows.Clear(); // another instance may move them once the row locks are released
            }
        }

        /// <summary>Direct path (PostgreSQL): the accepted exchanges, the devices' last-seen and the readings as rows.</summary>
        private void InsertAccepted(WriteSession s, long nowMs, List<string> touched)
        {
            // Multi-row statements: a few statements per group instead of three per request.
            BulkInsertExchanges(s, nowMs);
            s.Readings.Clear();
            foreach (ExchangeWrite w in s.Accepted)
            {
                if (!w.Inserted)
                {
                    continue; // the exchange row existed although the window did not hold its PIV: stored once already
                }

                w.Outcome = WriteOutcome.Stored;
                if (w.Readings == null || w.Readings.Count == 0)
                {
                    continue;
                }

                TouchDevice(s, w, nowMs, touched);
                s.Readings.AddRange(w.Readings);
            }

            BulkInsertReadings(s);
        }

        /// <summary>
        /// Journal path (SQLite): the accepted exchanges with their readings go into ONE emse_journal row (sequential
        /// pages, instead of random leaf pages in four kid- or device-keyed indexes per request); the devices' last-seen
        /// is written as before. <see cref="FoldCore"/> stores the rows in emse_exchanges / emse_readings later, with the
        /// same rules (an existing exchange keeps its readings from being stored again; a device-time reading once).
        /// </summary>
        private static void JournalAccepted(WriteSession s, long nowMs, List<string> touched)
        {
            if (s.Accepted.Count == 0)
            {
                return;
            }

            foreach (ExchangeWrite w in s.Accepted)
            {
                if (w.Readings != null && w.Readings.Count > 0)
                {
                    TouchDevice(s, w, nowMs, touched);
                }
            }

            s.InsertJournalRow(nowMs, s.Accepted.Count, GroupJournal.Encode(s.Accepted, s.JournalScratch));
        }

        private static void TouchDevice(WriteSession s, ExchangeWrite w, long nowMs, List<string> touched)
        {
            if (!s.DeviceSeen.TryGetValue(w.DeviceId, out long seen) || nowMs - seen >= DeviceSeenRefreshMs)
            {
                s.Device.Parameters[0].Value = w.DeviceId;
                s.Device.Parameters[1].Value = w.Kid;
                s.Device.Parameters[2].Value = nowMs;
                s.Device.ExecuteNonQuery();
                s.DeviceSeen[w.DeviceId] = nowMs;
                touched.Add(w.DeviceId);
            }
        }

        /// <summary>The accepted exchange of this group with the same kid, PIV and request hash (a retransmission within the group).</summary>
        private static ExchangeWrite? FindInGroup(List<ExchangeWrite> accepted, ExchangeWrite w)
        {
            foreach (ExchangeWrite a in accepted)
            {
                if (a.Piv == w.Piv && string.Equals(a.Kid, w.Kid, StringComparison.Ordinal))
                {
                    return a.RequestHash.AsSpan().SequenceEqual(w.RequestHash) ? a : null;
                }
            }

            return null;
        }

        /// <summary>
        /// Moves up to <paramref name="maxRows"/> of the oldest journal rows into emse_exchanges and emse_readings and
        /// deletes them, inside the caller's open write transaction (SQLite write lock held). All readings are stored;
        /// of the exchanges each kid's last one, with the time of its group commit (EXCHANGE_LIFETIME). Returns the
        /// exchanges folded.
        /// </summary>
        private static int FoldCore(WriteSession s, int maxRows)
        {
            if (s.JournalRead == null)
            {
                return 0;
            }

            int entries = 0;
            long lastId = -1;
            s.JournalRead.Parameters[0].Value = maxRows;
            var rows = new List<(long Id, long CreatedMs, byte[] Payload)>();
            using (DbDataReader r = s.JournalRead.ExecuteReader())
            {
                while (r.Read())
                {
                    lastId = r.GetInt64(0);
                    rows.Add((lastId, r.GetInt64(1), E2mDatabase.GetBytes(r, 2)));
                }
            }

            // Decoded, then grouped by device (a stable sort: each device's exchanges keep their commit order, so its
            // readings get ids in arrival order as before): consecutive inserts land on the same index pages.
            var decoded = new List<(long CreatedMs, ExchangeWrite W)>();
            foreach ((long id, long createdMs, byte[] payload) in rows)
            {
                List<ExchangeWrite> group;
                try
                {
                    group = GroupJournal.Decode(payload);
                }
                catch (System.IO.InvalidDataException e)
                {
                    // Not ours to guess at: kept aside whole, the rest of the journal goes on (nothing half applied).
                    DbCommand reject = s.JournalReject!;
                    reject.Parameters[0].Value = id;
                    reject.Parameters[1].Value = createdMs;
                    reject.Parameters[2].Value = payload;
                    reject.Parameters[3].Value = e.Message;
                    reject.ExecuteNonQuery();
                    s.Rejected++;
                    continue;
                }

                foreach (ExchangeWrite w in group)
                {
                    decoded.Add((createdMs, w));
                }
            }

            entries = decoded.Count;
            var sorted = System.Linq.Enumerable.ToList(System.Linq.Enumerable.OrderBy(decoded, e => e.W.Kid, StringComparer.Ordinal));
            var window = new ReplayWindow();
            for (int i = 0; i < sorted.Count;)
            {
                string kid = sorted[i].W.Kid;
                // The kid's checkpoint in emse_replay, then its journalled PIVs in commit order (RFC 8613 §7.4): each was
                // accepted against exactly this state, so the result is the window the writer had after them.
                window.Reset();
                s.ReplayGet.Parameters[0].Value = kid;
                using (DbDataReader r = s.ReplayGet.ExecuteReader())
                {
                    if (r.Read())
                    {
                        window.Restore(r.GetInt64(0), unchecked((uint)r.GetInt64(1)));
                    }
                }

                long createdMs = 0;
                ExchangeWrite last = sorted[i].W;
                for (; i < sorted.Count && string.Equals(sorted[i].W.Kid, kid, StringComparison.Ordinal); i++)
                {
                    (createdMs, last) = sorted[i];
                    window.Accept(last.Piv);
                    // Every journal entry is a (kid, PIV) the authoritative window accepted once, so its readings are
                    // new (a device-time reading re-sent under a new PIV still meets emse_readings_key).
                    if (last.Readings != null)
                    {
                        foreach (StoredReading reading in last.Readings)
                        {
                            s.InsertReadingRow(reading); // ON CONFLICT DO NOTHING (emse_readings_key): a device-time reading once
                        }
                    }
                }

                // Of the exchanges only the kid's LAST one in this fold is kept for RFC 7252 §4.5 deduplication: with
                // NSTART = 1 (§4.7) a device retransmits only its latest request; an older PIV arriving again is a replay.
                s.InsertExchangeRow(last, createdMs);
                s.SetWindowRow(kid, window, createdMs);
            }

            if (lastId >= 0)
            {
                s.JournalDelete!.Parameters[0].Value = lastId;
                s.JournalDelete.ExecuteNonQuery();
            }

            return entries;
        }

        private void SubtractBacklog(int folded)
        {
            if (folded <= 0)
            {
                return;
            }

            long now = Interlocked.Add(ref _journalBacklog, -folded);
            if (now < 0)
            {
                Interlocked.CompareExchange(ref _journalBacklog, 0, now); // rows of another instance were folded here too
            }
        }

        /// <summary>
        /// Folds journal rows on the writer's session, at most <paramref name="maxRows"/> rows in one transaction.
        /// Returns the exchanges folded. Throws on database errors (the rows stay in the journal).
        /// </summary>
        internal int FoldJournal(WriteSession s, int maxRows)
        {
            if (!UsesJournal)
            {
                return 0;
            }

            lock (_sqliteWriteLock)
            {
                int n;
                using (DbTransaction t = Database.BeginWrite(s.Connection))
                {
                    try
                    {
                        SetTransaction(s, t);
                        n = FoldCore(s, maxRows);
                        t.Commit();
                    }
                    finally
                    {
                        SetTransaction(s, null);
                    }
                }

                SubtractBacklog(n);
                return n;
            }
        }

        /// <summary>
        /// Folds the whole journal (every instance's rows) on a connection of its own; any thread. A no-op, and one
        /// cheap query, when the journal is empty. Called before every read of emse_exchanges or emse_readings.
        /// Returns the exchanges folded.
        /// </summary>
        public int FoldJournal()
        {
            if (!UsesJournal)
            {
                return 0;
            }

            using (DbConnection c = Open())
            {
                if (Database.Scalar(c, null, "SELECT 1 FROM emse_journal LIMIT 1") == null)
                {
                    return 0;
                }
            }

            int total = 0;
            using WriteSession s = OpenSession();
            while (true)
            {
                int n = FoldJournal(s, FoldChunkRows);
                total += n;
                if (n == 0)
                {
                    return total;
                }
            }
        }

        private const string ExchangeColumns = "kid, piv, request_hash, response, created_ms";
        private const string ReadingColumns = "device_id, kid, piv, idx, name, unit, value_kind, value_num, value_int, value_text, value_bool, time_ms, time_source, received_ms";

        /// <summary>Rows per multi-row statement: chunks of 32, then 8, then 1 (three cached statements per table).</summary>
        private static int Chunk(int remaining) => remaining >= 32 ? 32 : remaining >= 8 ? 8 : 1;

        /// <summary>Exchange rows of the accepted requests; RETURNING names the rows really inserted (ON CONFLICT DO NOTHING).</summary>
        private static void BulkInsertExchanges(WriteSession s, long nowMs)
        {
            List<ExchangeWrite> rows = s.Accepted;
            if (s.Raw)
            {
                foreach (ExchangeWrite w in rows)
                {
                    w.Inserted = s.InsertExchangeRow(w, nowMs);
                }

                return;
            }

            for (int at = 0; at < rows.Count;)
            {
                int n = Chunk(rows.Count - at);
                DbCommand cmd = s.Multi("emse_exchanges", ExchangeColumns, 5, " ON CONFLICT (kid, piv) DO NOTHING RETURNING kid, piv", n);
                DbParameterCollection ps = cmd.Parameters;
                for (int i = 0; i < n; i++)
                {
                    ExchangeWrite w = rows[at + i];
                    int b = i * 5;
                    ps[b].Value = w.Kid;
                    ps[b + 1].Value = w.Piv;
                    ps[b + 2].Value = w.RequestHash;
                    ps[b + 3].Value = w.Response;
                    ps[b + 4].Value = nowMs;
                }

                using (DbDataReader r = cmd.ExecuteReader())
                {
                    while (r.Read())
                    {
                        string kid = r.GetString(0);
                        long piv = r.GetInt64(1);
                        for (int i = 0; i < n; i++)
                        {
                            ExchangeWrite w = rows[at + i];
                            if (w.Piv == piv && string.Equals(w.Kid, kid, StringComparison.Ordinal))
                            {
                                w.Inserted = true;
                            }
                        }
                    }
                }

                at += n;
            }
        }

        private static void BulkInsertReadings(WriteSession s)
        {
            List<StoredReading> rows = s.Readings;
            if (s.Raw)
            {
                foreach (StoredReading r in rows)
                {
                    s.InsertReadingRow(r);
                }

                return;
            }

            for (int at = 0; at < rows.Count;)
            {
                int n = Chunk(rows.Count - at);
                DbCommand cmd = s.Multi("emse_readings", ReadingColumns, 14, " ON CONFLICT DO NOTHING", n); // emse_readings_key
                DbParameterCollection ps = cmd.Parameters;
                for (int i = 0; i < n; i++)
                {
                    StoredReading r = rows[at + i];
                    int b = i * 14;
                    ps[b].Value = r.DeviceId;
                    ps[b + 1].Value = r.Kid;
                    ps[b + 2].Value = r.Piv;
                    ps[b + 3].Value = r.Index;
                    ps[b + 4].Value = r.Name;
                    ps[b + 5].Value = (object?)r.Unit ?? DBNull.Value;
                    ps[b + 6].Value = r.ValueKind;
                    ps[b + 7].Value = r.Number.HasValue ? r.Number.Value : DBNull.Value;
                    ps[b + 8].Value = r.Integer.HasValue ? r.Integer.Value : DBNull.Value;
                    ps[b + 9].Value = (object?)r.Text ?? DBNull.Value;
                    ps[b + 10].Value = r.Boolean.HasValue ? (r.Boolean.Value ? 1 : 0) : DBNull.Value;
                    ps[b + 11].Value = r.TimeMs;
                    ps[b + 12].Value = r.TimeSource;
                    ps[b + 13].Value = r.ReceivedMs;
                }

                cmd.ExecuteNonQuery();
                at += n;
            }
        }

        /// <summary>The new windows (computed from the persisted ones under the lock) written as they are.</summary>
        private static void BulkSetWindows(WriteSession s, long nowMs)
        {
            s.Kids.Clear();
            s.Kids.AddRange(s.ChangedKids);
            if (s.Raw)
            {
                foreach (string kid in s.Kids)
                {
                    s.SetWindowRow(kid, s.Windows[kid], nowMs);
                }

                return;
            }

            for (int at = 0; at < s.Kids.Count;)
            {
                int n = Chunk(s.Kids.Count - at);
                DbCommand cmd = s.Multi("emse_replay", "kid, highest, mask, updated_ms", 4,
                    " ON CONFLICT (kid) DO UPDATE SET highest = excluded.highest, mask = excluded.mask, updated_ms = excluded.updated_ms", n);
                DbParameterCollection ps = cmd.Parameters;
                for (int i = 0; i < n; i++)
                {
                    string kid = s.Kids[at + i];
                    ReplayWindow window = s.Windows[kid];
                    int b = i * 4;
                    ps[b].Value = kid;
                    ps[b + 1].Value = window.Highest;
                    ps[b + 2].Value = (long)window.Mask;
                    ps[b + 3].Value = nowMs;
                }

                cmd.ExecuteNonQuery();
                at += n;
            }
        }

        /// <summary>
        /// The persisted windows of the group's kids, under the writer lock (see <see cref="CommitGroup"/>). SQLite: the
        /// windows are emse_replay plus the journal, so when the session's cache is not current the journal is folded
        /// first (in this transaction). Returns the exchanges folded.
        /// </summary>
        private int LoadWindows(WriteSession s, long nowMs)
        {
            if (Database.Dialect == DbDialect.Postgres)
            {
                string[] kids = s.GroupKids.ToArray();
                Array.Sort(kids, StringComparer.Ordinal);
                s.ReplayEnsure!.Parameters[0].Value = nowMs;
                s.ReplayEnsure.Parameters[1].Value = kids;
                s.ReplayEnsure.ExecuteNonQuery();
                s.ReplayLock!.Parameters[0].Value = kids;
                s.Windows.Clear();
                using DbDataReader r = s.ReplayLock.ExecuteReader();
                while (r.Read())
                {
                    var w = new ReplayWindow();
                    w.Restore(r.GetInt64(1), unchecked((uint)r.GetInt64(2)));
                    s.Windows[r.GetString(0)] = w;
                }

                return 0;
            }

            // SQLite: BEGIN IMMEDIATE holds the file's write lock. PRAGMA data_version changes only when ANOTHER connection
            // committed since this connection last looked: unchanged → the windows this session committed are current.
            long version = Convert.ToInt64(s.DataVersion!.ExecuteScalar(), CultureInfo.InvariantCulture);
            int folded = 0;
            if (version != s.LastDataVersion)
            {
                s.Windows.Clear();
                s.LastDataVersion = version;
                folded = FoldCore(s, int.MaxValue); // emse_replay is current only with the journal folded in
            }

            foreach (string kid in s.GroupKids)
            {
                if (s.Windows.ContainsKey(kid))
                {
                    continue;
                }

                var w = new ReplayWindow();
                s.ReplayGet.Parameters[0].Value = kid;
                using (DbDataReader r = s.ReplayGet.ExecuteReader())
                {
                    if (r.Read())
                    {
                        w.Restore(r.GetInt64(0), unchecked((uint)r.GetInt64(1)));
                    }
                }

                s.Windows[kid] = w;
            }

            return folded;
        }

        private static void SetTransaction(WriteSession s, DbTransaction? t)
        {
            s.SetMultiTransaction(t);
            s.Exchange.Transaction = t;
            s.Reading.Transaction = t;
            s.Device.Transaction = t;
            s.Replay.Transaction = t;
            s.ReplaySet.Transaction = t;
            s.ReplayGet.Transaction = t;
            s.ExchangeGet.Transaction = t;
            if (s.ReplayEnsure != null)
            {
                s.ReplayEnsure.Transaction = t;
            }

            if (s.ReplayLock != null)
            {
                s.ReplayLock.Transaction = t;
            }

            if (s.DataVersion != null)
            {
                s.DataVersion.Transaction = t;
            }

            if (s.JournalRead != null)
            {
                s.JournalRead.Transaction = t;
                s.JournalDelete!.Transaction = t;
                s.JournalReject!.Transaction = t;
            }
        }

        /// <summary>The exchange row (no-op when (kid, piv) exists: then nothing else), the device's last-seen and the readings.</summary>
        private static void InsertExchange(WriteSession s, ExchangeWrite w, long nowMs, List<string> touched)
        {
            DbCommand ex = s.Exchange;
            DbCommand rd = s.Reading;
            ex.Parameters[0].Value = w.Kid;
            ex.Parameters[1].Value = w.Piv;
            ex.Parameters[2].Value = w.RequestHash;
            ex.Parameters[3].Value = w.Response;
            ex.Parameters[4].Value = nowMs;
            w.Inserted = ex.ExecuteNonQuery() == 1;
            if (!w.Inserted || w.Readings == null || w.Readings.Count == 0)
            {
                return;
            }

            TouchDevice(s, w, nowMs, touched);
            foreach (StoredReading r in w.Readings)
            {
                rd.Parameters[0].Value = r.DeviceId;
                rd.Parameters[1].Value = r.Kid;
                rd.Parameters[2].Value = r.Piv;
                rd.Parameters[3].Value = r.Index;
                rd.Parameters[4].Value = r.Name;
                rd.Parameters[5].Value = (object?)r.Unit ?? DBNull.Value;
                rd.Parameters[6].Value = r.ValueKind;
                rd.Parameters[7].Value = r.Number.HasValue ? r.Number.Value : DBNull.Value;
                rd.Parameters[8].Value = r.Integer.HasValue ? r.Integer.Value : DBNull.Value;
                rd.Parameters[9].Value = (object?)r.Text ?? DBNull.Value;
                rd.Parameters[10].Value = r.Boolean.HasValue ? (r.Boolean.Value ? 1 : 0) : DBNull.Value;
                rd.Parameters[11].Value = r.TimeMs;
                rd.Parameters[12].Value = r.TimeSource;
                rd.Parameters[13].Value = r.ReceivedMs;
                rd.ExecuteNonQuery();
            }
        }

        /// <summary>
        /// Stores a batch in one transaction: per exchange an insert into emse_exchanges that is a no-op when (kid, piv)
        /// exists (then its readings are not stored again: exactly once even with two EMSE instances), its readings,
        /// the devices' last-seen, and the final replay window per kid (never moved backwards).
        /// </summary>
        internal void CommitBatch(WriteSession session, List<ExchangeWrite> writes, List<ReplayState> replay, long nowMs)
        {
            if (Database.Dialect == DbDialect.Sqlite)
            {
                // SQLite has one writer at a time; its busy handler sleeps (1..100 ms steps) when two connections of this
                // process collide, so this process's shards take turns on a lock instead.
                lock (_sqliteWriteLock)
                {
                    CommitBatchCore(session, writes, replay, nowMs);
                }
            }
            else
            {
                CommitBatchCore(session, writes, replay, nowMs);
            }
        }

        private readonly object _sqliteWriteLock = new();

        private const long DeviceSeenRefreshMs = 60_000;

        private void CommitBatchCore(WriteSession s, List<ExchangeWrite> writes, List<ReplayState> replay, long nowMs)
        {
            var touched = new List<string>();
            s.Windows.Clear(); // explicit window writes bypass the group commit's cache
            s.LastDataVersion = -1;
            int folded = 0;
            using DbTransaction t = Database.BeginWrite(s.Connection);
            try
            {
                SetTransaction(s, t);
                folded = FoldCore(s, int.MaxValue); // rows in the order they were acknowledged
                foreach (ExchangeWrite w in writes)
                {
                    InsertExchange(s, w, nowMs, touched);
                }

                foreach (ReplayState r in replay)
                {
                    s.Replay.Parameters[0].Value = r.Kid;
                    s.Replay.Parameters[1].Value = r.Highest;
                    s.Replay.Parameters[2].Value = (long)r.Mask;
                    s.Replay.Parameters[3].Value = nowMs;
                    s.Replay.ExecuteNonQuery();
                }

                t.Commit();
                SubtractBacklog(folded);
            }
            catch
            {
                foreach (string d in touched)
                {
                    s.DeviceSeen.Remove(d); // not written after all
                }

                throw;
            }
            finally
            {
                SetTransaction(s, null);
            }
        }

        /// <summary>Deletes responses older than EXCHANGE_LIFETIME (the replay window still rejects their PIVs).</summary>
        public int PurgeExchanges(long olderThanMs)
        {
            FoldJournal();
            using DbConnection c = Open();
            return Database.Execute(c, null, "DELETE FROM emse_exchanges WHERE created_ms < @t", ("t", olderThanMs));
        }

        public List<DeviceSummary> ListDevices()
        {
            var list = new List<DeviceSummary>();
            using DbConnection c = Open();
            using DbCommand cmd = Database.Command(c, null, "SELECT device_id, kid, first_seen_ms, last_seen_ms FROM emse_devices ORDER BY device_id");
            using DbDataReader r = cmd.ExecuteReader();
            while (r.Read())
            {
                list.Add(new DeviceSummary { DeviceId = r.GetString(0), Kid = r.GetString(1), FirstSeenMs = r.GetInt64(2), LastSeenMs = r.GetInt64(3) });
            }

            return list;
        }

        public bool DeviceExists(string deviceId)
        {
            using DbConnection c = Open();
            return Database.Scalar(c, null, "SELECT 1 FROM emse_devices WHERE device_id = @d", ("d", deviceId)) != null;
        }

        /// <summary>Readings of a device with from ≤ time &lt; to (ms), ordered by time then arrival, at most <paramref name="limit"/>.</summary>
        public List<StoredReading> QueryReadings(string deviceId, long fromMs, long toMs, int limit)
        {
            FoldJournal(); // acknowledged readings may still be in the journal
            var list = new List<StoredReading>();
            using DbConnection c = Open();
            using DbCommand cmd = Database.Command(c, null,
                "SELECT device_id, kid, piv, idx, name, unit, value_kind, value_num, value_int, value_text, value_bool, time_ms, time_source, received_ms " +
                "FROM emse_readings WHERE device_id = @d AND time_ms >= @f AND time_ms < @t ORDER BY time_ms, id LIMIT " +
                limit.ToString(CultureInfo.InvariantCulture),
                ("d", deviceId), ("f", fromMs), ("t", toMs));
            using DbDataReader r = cmd.ExecuteReader();
            while (r.Read())
            {
                list.Add(new StoredReading
                {
                    DeviceId = r.GetString(0),
                    Kid = r.GetString(1),
                    Piv = r.GetInt64(2),
                    Index = r.GetInt32(3),
                    Name = r.GetString(4),
                    Unit = r.IsDBNull(5) ? null : r.GetString(5),
                    ValueKind = r.GetInt32(6),
                    Number = r.IsDBNull(7) ? null : r.GetDouble(7),
                    Integer = r.IsDBNull(8) ? null : r.GetInt64(8),
                    Text = r.IsDBNull(9) ? null : r.GetString(9),
                    Boolean = r.IsDBNull(10) ? null : r.GetInt32(10) != 0,
                    TimeMs = r.GetInt64(11),
                    TimeSource = r.GetString(12),
                    ReceivedMs = r.GetInt64(13),
                });
            }

            return list;
        }

        /// <summary>Total number of stored readings (tests, health).</summary>
        public long CountReadings()
        {
            FoldJournal();
            using DbConnection c = Open();
            return Convert.ToInt64(Database.Scalar(c, null, "SELECT COUNT(*) FROM emse_readings"), CultureInfo.InvariantCulture);
        }
    }
}

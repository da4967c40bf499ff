using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.IO;
using System.Threading;
using E2m.Oscore;
using E2m.Server.Common;
using E2m.Server.Emse.Coap;
using Microsoft.Extensions.Logging;

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
    /// 32-bit mask; SQLite also the kid's last exchange) and <c>emse_exchanges</c> (PostgreSQL: protected response per
    /// (kid, PIV) for RFC 7252 §4.5 deduplication across restarts, kept for EXCHANGE_LIFETIME). Readings (SQLite: as a
    /// journal row, see <see cref="UsesJournal"/>), the exchange and the replay window of one request are written in ONE
    /// transaction (issue 6 point 3): a restart loses nothing and accepts no replay.
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

            // The group journal (SQLite): one row per group commit holding the readings of the accepted exchanges
            // (GroupJournal), written in the transaction that moves the replay windows and folded into the readings file
            // later, many groups per transaction (FoldJournal, ReadingsFile).
            "CREATE TABLE IF NOT EXISTS emse_journal (id {autoid}, created_ms {bigint} NOT NULL, entries INTEGER NOT NULL, payload {blob} NOT NULL);" +
            // A journal row that does not decode is moved here by the fold (kept for inspection, never half applied).
            "CREATE TABLE IF NOT EXISTS emse_journal_rejected (id {bigint} PRIMARY KEY, created_ms {bigint} NOT NULL, payload {blob} NOT NULL, error TEXT NOT NULL)",

            // One index per reading instead of two: it serves the per-device time-range query (prefix device_id,
            // time_ms) and keeps a device-time reading once (the CASE is 0 for device time and NULL for arrival time, and
            // NULLs never collide in a UNIQUE index, SQLite and PostgreSQL alike).
            "CREATE UNIQUE INDEX IF NOT EXISTS emse_readings_key ON emse_readings (device_id, time_ms, name, (CASE WHEN time_source = 'device' THEN 0 END));" +
            "DROP INDEX IF EXISTS emse_readings_once;" +
            "DROP INDEX IF EXISTS emse_readings_device_time",

            // SQLite (journal mode): the last exchange of each kid is kept in its replay row, written in the same upsert
            // as the window (RFC 7252 §4.5 with NSTART = 1, §4.7: a device retransmits only its latest request).
            "ALTER TABLE emse_replay ADD COLUMN last_piv {bigint};" +
            "ALTER TABLE emse_replay ADD COLUMN last_hash {blob};" +
            "ALTER TABLE emse_replay ADD COLUMN last_response {blob};" +
            "ALTER TABLE emse_replay ADD COLUMN last_ms {bigint}",
        };

        private readonly string _synchronous;

        /// <param name="log">Where the loss of durability is reported (<see cref="DurabilityLost"/>, once, critical); none: not logged.</param>
        public EmseStore(E2mDatabase database, string sqliteSynchronous = "FULL", ILogger? log = null)
        {
            Database = database ?? throw new ArgumentNullException(nameof(database));
            _log = log;
            _synchronous = sqliteSynchronous == "NORMAL" ? "NORMAL" : "FULL";
            Readings = database.Dialect == DbDialect.Sqlite ? new ReadingsFile(database, _synchronous) : null;
        }

        /// <summary>SQLite: the readings file (emse-readings.db beside the database); null on PostgreSQL (one database).</summary>
        internal ReadingsFile? Readings { get; }

        public E2mDatabase Database { get; }

        public void EnsureSchema()
        {
            Database.EnsureSchema(Component, Migrations);
            if (Readings != null)
            {
                Readings.EnsureSchema();
                KeepJournalIdsAboveTheWatermark();
                MoveReadingsToTheReadingsFile();
                FoldJournal(); // rows a stopped or crashed process left behind
            }
        }

        /// <summary>
        /// A safety net for the fold watermark (the last journal id whose readings are in the readings file): journal ids
        /// must never be handed out again at or below it, or the next fold would delete those rows unfolded. AUTOINCREMENT
        /// guarantees that only while <c>sqlite_sequence</c> survives; a power cut that loses unsynced WAL frames of the main
        /// file can roll it back while the readings file (synced on its own) keeps a higher watermark. At start the
        /// sequence is moved up to the watermark when it is below it.
        /// </summary>
        private void KeepJournalIdsAboveTheWatermark()
        {
            using ReadingsFile.Session readings = Readings!.OpenSession();
            long watermark;
            using (DbTransaction rt = readings.Begin())
            {
                watermark = readings.Watermark();
                rt.Commit();
            }

            if (watermark <= 0)
            {
                return;
            }

            using DbConnection c = Open();
            using DbTransaction t = Database.BeginWrite(c);
            object? seq = Database.Scalar(c, t, "SELECT seq FROM sqlite_sequence WHERE name = 'emse_journal'");
            long current = seq == null || seq is DBNull ? 0 : Convert.ToInt64(seq, CultureInfo.InvariantCulture);
            if (current < watermark)
            {
                if (seq == null || seq is DBNull)
                {
                    Database.Execute(c, t, "INSERT INTO sqlite_sequence (name, seq) VALUES ('emse_journal', @w)", ("w", watermark));
                }
                else
                {
                    Database.Execute(c, t, "UPDATE sqlite_sequence SET seq = @w WHERE name = 'emse_journal'", ("w", watermark));
                }
            }

            t.Commit();
        }

        // ---- durability of journal rows (SQLite FULL with the writer's fsync after COMMIT)

        private readonly object _unsyncedGate = new();
        private readonly Queue<long> _unsyncedJournalIds = new();
        private long _lastUnsyncedJournalId;
        private int _durabilityLost; // 0/1, set once (Interlocked: the writer and a shard may both fail an fsync)
        private readonly ILogger? _log;

        /// <summary>
        /// True once an fsync of the write-ahead log has failed, until the process restarts. On Linux a failed fsync
        /// leaves the pages it could not write marked clean (the error is reported once), so a later fsync that returns 0
        /// proves nothing about them: from then on <see cref="SyncWal"/> refuses, and nothing is acknowledged (the
        /// PostgreSQL rule since 2018, data_sync_retry = off). /health reports it; a restart reads back what the disk holds.
        /// Failing to open the log file for the fsync is not this: no error was consumed, the next attempt is sound.
        /// </summary>
        internal bool DurabilityLost => Volatile.Read(ref _durabilityLost) != 0;

        /// <summary>
        /// Whether this process has committed journal rows no successful <see cref="SyncWal"/> covers yet (a stored
        /// response for them must wait for one).
        /// </summary>
        internal bool HasUnsyncedJournalRows
        {
            get
            {
                lock (_unsyncedGate)
                {
                    return _unsyncedJournalIds.Count > 0;
                }
            }
        }

        /// <summary>
        /// Set by the group-commit writer when it makes the WAL durable (<see cref="DeferredWalSync"/>): from then on
        /// every committed journal row waits for a <see cref="SyncWal"/> before a fold may take it. Direct users of the store
        /// (tools, tests) that never sync leave it off.
        /// </summary>
        internal bool TrackUnsyncedJournalRows { get; set; }

        /// <summary>The writer committed a journal row it has not synced yet (deferred fsync only).</summary>
        private void NoteUnsynced(long journalRowId)
        {
            lock (_unsyncedGate)
            {
                _unsyncedJournalIds.Enqueue(journalRowId);
                _lastUnsyncedJournalId = journalRowId;
            }
        }

        /// <summary>
        /// The highest journal id a fold may take: every row of this process up to it is on the disk. A fold that moved an
        /// unsynced row's readings into the readings file (synced on its own) would survive a power cut that loses the row
        /// itself; the rolled-back id would be reused by an acknowledged group and deleted as "folded". Rows of other
        /// processes are theirs to guard.
        /// </summary>
        private long FoldCap(long maxId)
        {
            lock (_unsyncedGate)
            {
                return _unsyncedJournalIds.Count == 0 ? maxId : Math.Min(maxId, _unsyncedJournalIds.Peek() - 1);
            }
        }

        /// <summary>
        /// True on SQLite: a group commit appends one <c>emse_journal</c> row with the group's readings instead of a row
        /// per reading, and keeps each kid's last exchange in its <c>emse_replay</c> row (the same upsert as the window)
        /// instead of a row per exchange; <see cref="FoldJournal()"/> moves the journalled readings into the readings
        /// file. Every read of the readings folds first, so readers never see the difference. PostgreSQL writes rows
        /// directly (its per-kid row locks make the multi-instance replay check, see <see cref="CommitGroup"/>).
        /// </summary>
        internal bool UsesJournal => Database.Dialect == DbDialect.Sqlite;

        /// <summary>Exchanges this process put in the journal and has not folded yet (drives the writer's folds).</summary>
        internal long JournalBacklog => Interlocked.Read(ref _journalBacklog);

        private long _journalBacklog;

        /// <summary>
        /// Journal rows folded per readings-file transaction (each holds one group, up to MaxBatch exchanges). A device's
        /// readings of one chunk become one block row, so bigger chunks mean fewer, fuller blocks: 256 rather than 64 cut
        /// the folder's CPU from 640–780 to 240–470 ms per 307 200 requests (issue 6 bench, 1024 devices); a reader's
        /// fold waits for at most one chunk (tens of ms).
        /// </summary>
        internal const int FoldChunkRows = 256;

        // Folds of this process, one at a time (other processes: the readings file's write lock).
        private readonly object _foldLock = new();

        /// <summary>
        /// SQLite with synchronous=FULL: the group commit's own connection commits with synchronous=NORMAL (no fsync in
        /// COMMIT) and the writer then makes the write-ahead log durable with ONE fsync (<see cref="SyncWal"/>) before
        /// it sends the group's responses. A 2.04 still means "on disk". The fsync is apart from the COMMIT so that it is
        /// this process's to track: a fold never takes a row no fsync covers yet (<see cref="FoldCap"/>), and a shard
        /// answering a retransmission from the journal syncs first when the last sync failed.
        /// </summary>
        internal bool DeferredWalSync => Database.Dialect == DbDialect.Sqlite && _synchronous == "FULL";

        /// <summary>
        /// fsync(2) of the main database's write-ahead log (DATA/emse.db-wal), opened afresh each time so it is always
        /// the file SQLite writes (Linux: fdatasync(2), as SQLite syncs its own files there, <see cref="LinuxFileSync"/>;
        /// elsewhere FileStream.Flush(true)). Everything committed before the call is durable when it returns (WAL frames
        /// are appended in commit order; a sync covers the whole file). No log file: everything was checkpointed into
        /// the database file, which a checkpoint syncs itself. Throws <see cref="IOException"/> when the disk fails.
        /// </summary>
        internal void SyncWal()
        {
            if (DurabilityLost)
            {
                throw new IOException("an earlier fsync of the write-ahead log failed: nothing is acknowledged until the EMSE restarts");
            }

            long covered;
            lock (_unsyncedGate)
            {
                covered = _unsyncedJournalIds.Count == 0 ? 0 : _lastUnsyncedJournalId;
            }

            try
            {
                SyncWalFile();
            }
            catch (Exception e) when (e is not LinuxFileSync.OpenFailedException)
            {
                if (Interlocked.Exchange(ref _durabilityLost, 1) == 0)
                {
                    _log?.LogCritical("EMSE write-ahead log fsync failed ({Error}): the EMSE acknowledges nothing more until it is restarted " +
                        "(a later fsync would not prove the data is on disk); /health is Unhealthy", e.Message);
                }

                throw;
            }

            lock (_unsyncedGate)
            {
                while (_unsyncedJournalIds.Count > 0 && _unsyncedJournalIds.Peek() <= covered)
                {
                    _unsyncedJournalIds.Dequeue();
                }
            }
        }

        private void SyncWalFile()
        {
            BeforeWalSync?.Invoke();
            string wal = _walPath ??= new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(Database.ConnectionString).DataSource + "-wal";
            if (LinuxFileSync.IsSupported)
            {
                LinuxFileSync.DataSync(wal); // open + fdatasync + close: no FileStream, no advisory lock
                return;
            }

            FileStream f;
            try
            {
                // Read/write access: .NET flushes to disk only a stream it may write to; nothing is ever written here.
                f = new FileStream(wal, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            }
            catch (FileNotFoundException)
            {
                return;
            }

            using (f)
            {
                f.Flush(flushToDisk: true);
            }
        }

        private string? _walPath;

        /// <summary>Test seam: called at the start of <see cref="SyncWal"/>; throwing stands for a failing disk.</summary>
        internal Action? BeforeWalSync { get; set; }

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

        /// <summary>
        /// The persisted replay window of a kid, or false when none (a fresh context: empty window). SQLite: the kid's
        /// row merged with the windows this process committed and has not applied to it yet.
        /// </summary>
        internal bool TryLoadReplay(DbConnection c, string kid, out long highest, out uint mask)
        {
            highest = -1;
            mask = 0;
            bool found = false;
            using (DbCommand cmd = Database.Command(c, null, "SELECT highest, mask FROM emse_replay WHERE kid = @k", ("k", kid)))
            using (DbDataReader r = cmd.ExecuteReader())
            {
                if (r.Read())
                {
                    highest = r.GetInt64(0);
                    mask = unchecked((uint)r.GetInt64(1));
                    found = true;
                }
            }

            // SQLite: merged with what this process's writer committed since (no pass over the journal: a pull per new
            // kid must not cost O(journal)). Another process's journal rows are not seen here: a window that is too old
            // only lets a replay through to the writer, whose check is authoritative (CommitGroup).
            if (UsesJournal && _committedWindows.TryGetValue(kid, out CommittedWindow? committed))
            {
                lock (committed)
                {
                    if (committed.Highest >= 0)
                    {
                        ReplayMath.Union(ref highest, ref mask, committed.Highest, committed.Mask);
                        found = true;
                    }
                }
            }

            return found;
        }

        /// <summary>
        /// The stored response to (kid, piv) if it is younger than <paramref name="notBeforeMs"/>. SQLite: the kid's last
        /// exchange (row, then the journal rows still present); then emse_exchanges.
        /// </summary>
        internal bool TryLoadExchange(DbConnection c, string kid, long piv, long notBeforeMs, out byte[] requestHash, out byte[] response)
        {
            if (UsesJournal && JournalAwareState(c, kid) is KidReplayState last && last.LastPiv == piv && last.LastMs >= notBeforeMs)
            {
                requestHash = last.LastHash;
                response = last.LastResponse;
                return true;
            }

            return ReadExchange(c, kid, piv, notBeforeMs, out requestHash, out response); // PostgreSQL, and rows CommitBatch wrote
        }

        /// <summary>
        /// SQLite: the windows this process's writer committed and that are not yet applied to emse_replay (kid → window);
        /// pruned when the journal rows are applied (<see cref="ForgetApplied"/>).
        /// </summary>
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CommittedWindow> _committedWindows = new(StringComparer.Ordinal);

        /// <summary>
        /// A kid's window in <see cref="_committedWindows"/>, updated in place under its own lock (a value tuple in the
        /// dictionary cost a new node per kid and group: measured, 6 % of the EMSE's allocations under load).
        /// </summary>
        private sealed class CommittedWindow
        {
            public long Highest = -1;
            public uint Mask;
            /// <summary>Set when <see cref="ForgetApplied"/> took it out of the dictionary: the writer adds a new one.</summary>
            public bool Removed;
        }

        /// <summary>The writer, after COMMIT: the kid's window as committed (for TryLoadReplay).</summary>
        private void SetCommittedWindow(string kid, long highest, uint mask)
        {
            while (true)
            {
                CommittedWindow w = _committedWindows.GetOrAdd(kid, static _ => new CommittedWindow());
                lock (w)
                {
                    if (!w.Removed)
                    {
                        w.Highest = highest;
                        w.Mask = mask;
                        return;
                    }
                }
            }
        }

        private void ForgetApplied(string kid, KidReplayState applied)
        {
            if (!_committedWindows.TryGetValue(kid, out CommittedWindow? w))
            {
                return;
            }

            lock (w)
            {
                if (w.Removed || w.Highest > applied.Highest)
                {
                    return;
                }

                long h = applied.Highest;
                uint m = applied.Mask;
                ReplayMath.Union(ref h, ref m, w.Highest, w.Mask);
                if (h == applied.Highest && m == applied.Mask)
                {
                    // only if not moved since (the writer moves it under this lock)
                    w.Removed = true;
                    _committedWindows.TryRemove(new KeyValuePair<string, CommittedWindow>(kid, w));
                }
            }
        }

        /// <summary>
        /// SQLite: this process's copies of the journal rows it committed and that are not deleted yet, by journal id
        /// (<see cref="JournalMemo"/>): the fold and the replay-state apply use them instead of reading and decoding the
        /// rows' payloads. Rows of another process, of an earlier run, or beyond <see cref="MaxMemoEntries"/> are read
        /// from the database as before; so the copies are only ever a shortcut, never the record.
        /// </summary>
        private readonly System.Collections.Concurrent.ConcurrentDictionary<long, JournalMemo> _journalMemo = new();
        private long _journalMemoEntries;

        /// <summary>Bound of the exchanges held in <see cref="_journalMemo"/> (memory: a few hundred octets each).</summary>
        internal const int MaxMemoEntries = 1 << 17;

        /// <summary>Test seam: false makes every fold and apply read and decode the rows (as after a restart).</summary>
        internal bool UseJournalMemo { get; set; } = true;

        internal JournalMemo? LookupJournalMemo(long id) => _journalMemo.TryGetValue(id, out JournalMemo? m) ? m : null;

        internal int JournalMemoRows => _journalMemo.Count;

        /// <summary>After the group's COMMIT: a copy of the journal row just written (its accepted exchanges, their state).</summary>
        private void RememberJournalRow(long id, long createdMs, List<ExchangeWrite> accepted)
        {
            if (!UseJournalMemo || id <= 0 || Interlocked.Read(ref _journalMemoEntries) + accepted.Count > MaxMemoEntries)
            {
                return;
            }

            var entries = new ExchangeWrite[accepted.Count];
            for (int i = 0; i < entries.Length; i++)
            {
                ExchangeWrite w = accepted[i];
                entries[i] = new ExchangeWrite
                {
                    Kid = w.Kid,
                    Piv = w.Piv,
                    DeviceId = w.DeviceId,
                    RequestHash = w.RequestHash,
                    Response = w.Response,
                    Readings = w.Readings,
                    WindowHighest = w.WindowHighest,
                    WindowMask = w.WindowMask,
                };
            }

            if (_journalMemo.TryAdd(id, new JournalMemo(createdMs, entries)))
            {
                Interlocked.Add(ref _journalMemoEntries, entries.Length);
            }
        }

        /// <summary>The journal rows up to <paramref name="upTo"/> were deleted (committed): their copies go.</summary>
        private void ForgetJournalRows(long upTo)
        {
            foreach (long id in _journalMemo.Keys)
            {
                if (id <= upTo && _journalMemo.TryRemove(id, out JournalMemo? m))
                {
                    Interlocked.Add(ref _journalMemoEntries, -m.Entries.Length);
                }
            }
        }

        /// <summary>SQLite: a kid's emse_replay row merged with the journal's state of it; null when neither has any.</summary>
        private KidReplayState? JournalAwareState(DbConnection c, string kid)
        {
            using var journal = new JournalReplayState(c, LookupJournalMemo);
            bool hasRow = journal.TryGetRow(kid, out KidReplayState state);
            if (journal.Read(long.MaxValue).TryGetValue(kid, out KidReplayState? pending))
            {
                state.Merge(pending.Highest, pending.Mask, pending.LastPiv, pending.LastHash, pending.LastResponse, pending.LastMs);
                return state;
            }

            return hasRow ? state : null;
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

        /// <summary>A connection with its prepared write statements (the writer's; not thread-safe).</summary>
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
                    // SQLite: the per-group statements run prepared once per session on the connection's handle and bound
                    // by position (Microsoft.Data.Sqlite binds every parameter by name on every execution).
                    _handle = ((Microsoft.Data.Sqlite.SqliteConnection)Connection).Handle!;
                    _rawJournal = Prepare("INSERT INTO emse_journal (created_ms, entries, payload) VALUES (?1, ?2, ?3)");
                    // The group's transaction too: Microsoft.Data.Sqlite's BeginTransaction/Commit create, prepare and
                    // finalize a command each (≈ 10 µs and five objects per group, per request at low concurrency where
                    // groups are small). BEGIN IMMEDIATE waits for another process's write lock through the connection's
                    // busy_timeout (E2mDatabase.Open) as the ADO.NET path did.
                    _rawBegin = Prepare("BEGIN IMMEDIATE");
                    _rawCommit = Prepare("COMMIT");
                    _rawRollback = Prepare("ROLLBACK");
                    _rawDataVersion = Prepare("PRAGMA data_version"); // once per group (LoadWindows)
                    if (store.DeferredWalSync)
                    {
                        db.Execute(Connection, null, "PRAGMA synchronous=NORMAL"); // the writer syncs the log after COMMIT (SyncWal)
                    }

                    ReplayState = new JournalReplayState(Connection, store.LookupJournalMemo);
                }
            }

            private readonly SQLitePCL.sqlite3? _handle;
            private readonly SQLitePCL.sqlite3_stmt? _rawJournal;
            private readonly SQLitePCL.sqlite3_stmt? _rawBegin, _rawCommit, _rawRollback, _rawDataVersion;

            /// <summary>SQLite: PRAGMA data_version on the session's handle (changes when another connection committed).</summary>
            public long ReadDataVersion()
            {
                SQLitePCL.sqlite3_stmt st = _rawDataVersion!;
                int rc = SQLitePCL.raw.sqlite3_step(st);
                long version = rc == SQLitePCL.raw.SQLITE_ROW ? SQLitePCL.raw.sqlite3_column_int64(st, 0) : 0;
                SQLitePCL.raw.sqlite3_reset(st);
                if (rc != SQLitePCL.raw.SQLITE_ROW)
                {
                    Microsoft.Data.Sqlite.SqliteException.ThrowExceptionForRC(rc, _handle);
                }

                return version;
            }

            /// <summary>SQLite (<see cref="Raw"/>): BEGIN IMMEDIATE on the session's handle (the writer lock, also across processes).</summary>
            public void BeginRaw() => Step(_rawBegin!);

            /// <summary>SQLite (<see cref="Raw"/>): COMMIT; a failed COMMIT leaves the transaction open for <see cref="RollbackRaw"/>.</summary>
            public void CommitRaw() => Step(_rawCommit!);

            /// <summary>SQLite (<see cref="Raw"/>): ROLLBACK if a transaction is still open (never throws: the caller is already failing).</summary>
            public void RollbackRaw()
            {
                if (SQLitePCL.raw.sqlite3_get_autocommit(_handle!) == 0)
                {
                    SQLitePCL.raw.sqlite3_step(_rawRollback!);
                    SQLitePCL.raw.sqlite3_reset(_rawRollback!);
                }
            }

            /// <summary>SQLite: the replay state kept in the journal (reads, and the apply-then-delete of folded rows).</summary>
            public JournalReplayState? ReplayState { get; }

            /// <summary>SQLite: journal rows up to this id were applied and deleted by this session.</summary>
            public long DeletedUpTo;

            /// <summary>SQLite: <see cref="EmseStore.FoldedEntries"/> when this session last applied and deleted.</summary>
            public long AppliedEntries;

            /// <summary>
            /// SQLite: each cached kid's last exchange (RFC 7252 §4.5), beside <see cref="Windows"/> and valid with it; and
            /// the journal's state at the last reload, for kids not cached yet (their rows may be behind the journal).
            /// </summary>
            public Dictionary<string, KidReplayState> Last { get; } = new(StringComparer.Ordinal);
            public Dictionary<string, KidReplayState> Overlay = new(StringComparer.Ordinal);

            /// <summary>Per kid, its last accepted exchange in the current group.</summary>
            public readonly Dictionary<string, ExchangeWrite> LastAccepted = new(StringComparer.Ordinal);

            /// <summary>Scratch buffer of <see cref="GroupJournal.EncodeInto"/>.</summary>
            public readonly System.IO.MemoryStream JournalScratch = new();

            /// <summary>Appends the group's journal row (inside the open transaction); its id goes to <see cref="JournalRowId"/>.</summary>
            public void InsertJournalRow(long nowMs, int entries, ReadOnlySpan<byte> payload)
            {
                SQLitePCL.sqlite3_stmt st = _rawJournal!;
                SQLitePCL.raw.sqlite3_bind_int64(st, 1, nowMs);
                SQLitePCL.raw.sqlite3_bind_int(st, 2, entries);
                SQLitePCL.raw.sqlite3_bind_blob(st, 3, payload);
                Step(st);
                JournalRowId = SQLitePCL.raw.sqlite3_last_insert_rowid(_handle);
            }

            /// <summary>The id of the journal row the current group wrote (0: none).</summary>
            public long JournalRowId;

            /// <summary>True on SQLite: the per-group statements are prepared on the connection handle (journal mode).</summary>
            public bool Raw => _rawJournal != null;

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

            public EmseStore Store { get; }
            public DbConnection Connection { get; }
            public DbCommand ReplayGet { get; }
            public DbCommand ExchangeGet { get; }
            public DbCommand? ReplayEnsure { get; }
            public DbCommand? ReplayLock { get; }

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
            public readonly List<ExchangeWrite> Journalled = new();
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
                _rawJournal?.Dispose(); // sqlite3_finalize, before the connection goes back to the pool
                _rawBegin?.Dispose();
                _rawCommit?.Dispose();
                _rawRollback?.Dispose();
                _rawDataVersion?.Dispose();
                ReplayState?.Dispose();
                foreach (DbCommand c in _multi.Values)
                {
                    c.Dispose();
                }

                Exchange.Dispose();
                Reading.Dispose();
                Device.Dispose();
                Replay.Dispose();
                ReplayGet.Dispose();
                ExchangeGet.Dispose();
                ReplayEnsure?.Dispose();
                ReplayLock?.Dispose();
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
            int journalled = 0;
            s.JournalRowId = 0;
            s.ClearGroupKids();
            s.ChangedKids.Clear();
            // SQLite: the session's prepared BEGIN IMMEDIATE / COMMIT on its handle; commands run inside it unbound to an
            // ADO.NET transaction (Microsoft.Data.Sqlite requires one only while it has begun one itself).
            DbTransaction? t = s.Raw ? null : Database.BeginWrite(s.Connection);
            if (t == null)
            {
                s.BeginRaw();
            }

            try
            {
                SetTransaction(s, t);
                foreach (ExchangeWrite w in writes)
                {
                    s.AddGroupKid(w.Kid);
                }

                LoadWindows(s, nowMs);
                s.Accepted.Clear();
                s.LastAccepted.Clear();
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
                    s.LastAccepted[w.Kid] = w;
                }

                if (UsesJournal)
                {
                    journalled = JournalAccepted(s, nowMs, touched);
                }
                else
                {
                    InsertAccepted(s, nowMs, touched);
                }

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

                    // SQLite: the kid's last exchange (row + journal); then emse_exchanges (PostgreSQL, rows CommitBatch wrote)
                    if (!(UsesJournal && TryLastExchange(s, w, exchangeNotBeforeMs))
                        && !TryStoredExchange(s.ExchangeGet, w, exchangeNotBeforeMs))
                    {
                        w.Outcome = WriteOutcome.Replay;
                    }
                }

                if (UsesJournal)
                {
                    // After the duplicate checks above (they see the kids' last exchanges before this group).
                    foreach (KeyValuePair<string, ExchangeWrite> kv in s.LastAccepted)
                    {
                        // The session's own object (only s.Last refers to it), reset in place rather than one per kid and group.
                        if (!s.Last.TryGetValue(kv.Key, out KidReplayState? last))
                        {
                            last = new KidReplayState();
                            s.Last[kv.Key] = last; // the cache is dropped below if the transaction fails
                        }

                        last.Reset();
                        last.Merge(-1, 0, kv.Value.Piv, kv.Value.RequestHash, kv.Value.Response, nowMs);
                    }
                }

                BulkSetWindows(s, nowMs);
                // Folded rows wait in the journal until JournalApplyEntries exchanges were folded since the last apply.
                long foldedEntries = FoldedEntries; // before the watermark: it never counts more than the rows up to it
                long folded = UsesJournal ? FoldedUpTo : 0;
                bool apply = folded > s.DeletedUpTo && foldedEntries - s.AppliedEntries >= JournalApplyEntries;
                if (apply)
                {
                    s.ReplayState!.ApplyAndDelete(folded, nowMs, ForgetApplied); // their readings are in the readings file
                }

                BeforeGroupCommit?.Invoke(writes);
                if (t != null)
                {
                    t.Commit();
                }
                else
                {
                    s.CommitRaw();
                }

                if (apply)
                {
                    s.DeletedUpTo = folded;
                    s.AppliedEntries = foldedEntries;
                    ForgetJournalRows(folded);
                }

                if (UsesJournal)
                {
                    if (journalled > 0)
                    {
                        RememberJournalRow(s.JournalRowId, nowMs, s.Accepted);
                        if (DeferredWalSync && TrackUnsyncedJournalRows)
                        {
                            NoteUnsynced(s.JournalRowId);
                        }
                    }

                    foreach (string kid in s.ChangedKids)
                    {
                        ReplayWindow window = s.Windows[kid];
                        SetCommittedWindow(kid, window.Highest, window.Mask); // for TryLoadReplay (a new context's window)
                    }
                }

                Interlocked.Add(ref _journalBacklog, journalled);
            }
            catch
            {
                if (t == null)
                {
                    s.RollbackRaw();
                }

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
                s.Last.Clear();
                s.LastDataVersion = -1;
                throw;
            }
            finally
            {
                t?.Dispose();
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
        /// Journal path (SQLite): the readings of the accepted exchanges go into ONE emse_journal row (sequential pages,
        /// instead of a random leaf page of the readings index per reading, and one statement instead of one per
        /// reading); the devices' last-seen is written as before. <see cref="FoldJournal()"/> stores them in the
        /// readings file later, with the same rule (a device-time reading once). Returns the exchanges journalled.
        /// </summary>
        private static int JournalAccepted(WriteSession s, long nowMs, List<string> touched)
        {
            foreach (ExchangeWrite w in s.Accepted)
            {
                w.Inserted = true;
                w.Outcome = WriteOutcome.Stored;
                ReplayWindow window = s.Windows[w.Kid];
                w.WindowHighest = window.Highest; // the kid's window after the group: its replay state in the journal row
                w.WindowMask = window.Mask;
                if (w.Readings != null && w.Readings.Count > 0)
                {
                    TouchDevice(s, w, nowMs, touched);
                }
            }

            if (s.Accepted.Count > 0)
            {
                s.InsertJournalRow(nowMs, s.Accepted.Count, GroupJournal.EncodeInto(s.Accepted, s.JournalScratch, withState: true));
            }

            return s.Accepted.Count;
        }

        /// <summary>SQLite: the kid's last exchange (<see cref="WriteSession.Last"/>) is this request's (same PIV and hash, young enough).</summary>
        private static bool TryLastExchange(WriteSession s, ExchangeWrite w, long notBeforeMs)
        {
            if (s.Last.TryGetValue(w.Kid, out KidReplayState? last) && last.LastPiv == w.Piv && last.LastMs >= notBeforeMs
                && last.LastHash.AsSpan().SequenceEqual(w.RequestHash))
            {
                w.StoredResponse = last.LastResponse;
                w.Outcome = WriteOutcome.Duplicate;
                return true;
            }

            return false;
        }

        /// <summary>
        /// A stored exchange (<paramref name="get"/>: @k kid, @p PIV, @t not before → request hash, response) with the
        /// request's hash: a retransmission, answered with the stored response (<see cref="WriteOutcome.Duplicate"/>).
        /// </summary>
        private static bool TryStoredExchange(DbCommand get, ExchangeWrite w, long notBeforeMs)
        {
            get.Parameters[0].Value = w.Kid;
            get.Parameters[1].Value = w.Piv;
            get.Parameters[2].Value = notBeforeMs;
            using DbDataReader r = get.ExecuteReader();
            if (r.Read() && E2mDatabase.GetBytes(r, 0).AsSpan().SequenceEqual(w.RequestHash))
            {
                w.StoredResponse = E2mDatabase.GetBytes(r, 1);
                w.Outcome = WriteOutcome.Duplicate;
                return true;
            }

            return false;
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

        /// <summary>Journal rows moved to emse_journal_rejected by this process's folds (they did not decode).</summary>
        internal long RejectedJournalRows => Interlocked.Read(ref _rejectedJournalRows);

        private long _rejectedJournalRows;

        /// <summary>
        /// Folds the journal (every instance's rows, up to its last row at the call) into the readings file; any thread.
        /// Per chunk of <see cref="FoldChunkRows"/> journal rows, one chunk per hold of the process's fold lock (so a
        /// reader's fold never waits behind a folder that keeps up with a busy writer): in ONE readings-file transaction the readings
        /// (grouped by device, each device's in commit order) and the watermark; then, in a short main-database
        /// transaction, the journal rows up to the watermark are deleted (a row that does not decode is moved to
        /// emse_journal_rejected instead, kept whole). A no-op, one cheap query, when the journal is empty. Called
        /// before every read of the readings, at start-up, by the writer's backlog signal and when idle. Returns the
        /// exchanges folded. Throws on database errors (the journal keeps its rows).
        /// </summary>
        public int FoldJournal() => FoldJournal(deleteFolded: true);

        /// <summary>
        /// The journal id up to which the readings are in the readings file but the journal rows not yet deleted: the
        /// writer deletes them in its next group transaction (<see cref="CommitGroup"/>), so the folder thread's
        /// progress costs no extra commit on the main database (and does not invalidate the writer's window cache).
        /// </summary>
        internal long FoldedUpTo => Interlocked.Read(ref _foldedUpTo);

        /// <summary>Exchanges folded by this process so far (counted before their watermark is published).</summary>
        internal long FoldedEntries => Interlocked.Read(ref _foldedEntries);

        private long _foldedEntries;

        /// <summary>
        /// SQLite: folded exchanges after which the group commit applies and deletes the folded journal rows
        /// (<see cref="EmseOptions.JournalApplyEntries"/>; 0: at the first group after each fold).
        /// </summary>
        internal long JournalApplyEntries { get; init; }

        private long _foldedUpTo;

        /// <summary>
        /// <paramref name="deleteFolded"/> false (the folder thread under load): the journal rows are left for the writer
        /// to delete (<see cref="FoldedUpTo"/>); rows that did not decode are still moved at once.
        /// </summary>
        // Entered once per thread (or rarely) and loops a long time: optimised at once instead of tier 0 + OSR.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        internal int FoldJournal(bool deleteFolded)
        {
            if (Readings == null)
            {
                return 0;
            }

            using DbConnection main = Open();
            // Up to the journal's last row NOW (bounded work, even while the writer keeps appending), and never past a row of
            // this process that is not on the disk yet (FoldCap). Both read under the group commit's lock: the writer
            // commits a row and notes it unsynced under that lock, so a row is never seen committed but not yet noted.
            object? max;
            lock (_sqliteWriteLock)
            {
                max = Database.Scalar(main, null, "SELECT MAX(id) FROM emse_journal");
                if (max == null || max is DBNull)
                {
                    return 0;
                }

                max = FoldCap(Convert.ToInt64(max, CultureInfo.InvariantCulture));
            }

            using ReadingsFile.Session readings = Readings.OpenSession();
            // Ids first; a row's payload is read and decoded only when this process holds no copy of it (JournalMemo).
            using DbCommand read = Database.Command(main, null,
                "SELECT id, created_ms FROM emse_journal WHERE id > @w AND id <= @max ORDER BY id LIMIT " + FoldChunkRows.ToString(CultureInfo.InvariantCulture),
                ("w", 0L), ("max", Convert.ToInt64(max, CultureInfo.InvariantCulture)));
            using DbCommand readPayload = Database.Command(main, null, "SELECT payload FROM emse_journal WHERE id = @id", ("id", 0L));
            int total = 0;
            while (true)
            {
                // One chunk per hold of the fold lock: a reader's fold and the folder thread take turns.
                lock (_foldLock)
                {
                    var rejected = new List<(long Id, long CreatedMs, byte[] Payload, string Error)>();
                    long watermark;
                    int entries = 0;
                    using (DbTransaction t = readings.Begin())
                    {
                        watermark = readings.Watermark();
                        read.Parameters[0].Value = watermark;
                        var decoded = new List<ExchangeWrite>();
                        var memos = new List<JournalMemo>();
                        long last = watermark;
                        using (DbDataReader r = read.ExecuteReader())
                        {
                            while (r.Read())
                            {
                                last = r.GetInt64(0);
                                if (LookupJournalMemo(last) is JournalMemo memo)
                                {
                                    decoded.AddRange(memo.Entries);
                                    memos.Add(memo);
                                    continue;
                                }

                                readPayload.Parameters[0].Value = last;
                                byte[] payload = readPayload.ExecuteScalar() as byte[] ?? Array.Empty<byte>();
                                try
                                {
                                    decoded.AddRange(GroupJournal.Decode(payload));
                                }
                                catch (System.IO.InvalidDataException e)
                                {
                                    // Not ours to guess at: kept aside whole, the rest of the journal goes on.
                                    rejected.Add((last, r.GetInt64(1), payload, e.Message));
                                }
                            }
                        }

                        if (last == watermark)
                        {
                            t.Commit();
                            Published(main, watermark, rejected, deleteFolded); // rows an interrupted fold left behind
                            return total;
                        }

                        var arrived = new List<StoredReading>();
                        foreach (ExchangeWrite w in decoded)
                        {
                            entries++;
                            if (w.Readings != null)
                            {
                                arrived.AddRange(w.Readings); // commit order
                            }
                        }

                        readings.StoreAll(arrived);

                        // Rows that did not decode are copied aside BEFORE the watermark is written: past it, rows are only
                        // ever deleted (by this fold, the next one or the writer), so none may be undecodable and not yet kept.
                        SetAside(main, rejected);
                        readings.SetWatermark(last);
                        t.Commit();
                        watermark = last;
                        foreach (JournalMemo m in memos)
                        {
                            m.Folded(); // the readings are in the readings file now; the copy keeps the replay state only
                        }
                    }

                    Interlocked.Add(ref _foldedEntries, entries);
                    Published(main, watermark, rejected, deleteFolded);
                    SubtractBacklog(entries);
                    total += entries;
                }
            }
        }

        /// <summary>Copies journal rows that did not decode to <c>emse_journal_rejected</c> (kept whole, logged by the folder).</summary>
        private void SetAside(DbConnection main, List<(long Id, long CreatedMs, byte[] Payload, string Error)> rejected)
        {
            if (rejected.Count == 0)
            {
                return;
            }

            int added = 0;
            lock (_sqliteWriteLock)
            {
                using DbTransaction t = Database.BeginWrite(main);
                foreach (var row in rejected)
                {
                    // a row set aside by a fold whose readings commit then failed is already there: counted once
                    added += Database.Execute(main, t,
                        "INSERT INTO emse_journal_rejected (id, created_ms, payload, error) VALUES (@id, @t, @p, @e) ON CONFLICT (id) DO NOTHING",
                        ("id", row.Id), ("t", row.CreatedMs), ("p", row.Payload), ("e", row.Error));
                }

                t.Commit();
            }

            Interlocked.Add(ref _rejectedJournalRows, added);
        }

        private void Published(DbConnection main, long watermark, List<(long Id, long CreatedMs, byte[] Payload, string Error)> rejected, bool deleteFolded)
        {
            // Rows that did not decode were set aside before the watermark was written (SetAside); deleted at once with the
            // folded ones, as before, so emse_journal holds no row that is kept elsewhere.
            if (deleteFolded || rejected.Count > 0)
            {
                DeleteFolded(main, watermark);
            }

            long seen;
            while ((seen = Interlocked.Read(ref _foldedUpTo)) < watermark && Interlocked.CompareExchange(ref _foldedUpTo, watermark, seen) != seen)
            {
            }
        }

        /// <summary>Deletes the journal rows up to <paramref name="watermark"/> (their readings are in the readings file).</summary>
        private void DeleteFolded(DbConnection main, long watermark)
        {
            lock (_sqliteWriteLock)
            {
                using DbTransaction t = Database.BeginWrite(main);
                using (var state = new JournalReplayState(main, LookupJournalMemo))
                {
                    state.ApplyAndDelete(watermark, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), ForgetApplied); // windows first, then the rows
                }

                t.Commit();
                ForgetJournalRows(watermark);
            }
        }

        /// <summary>
        /// SQLite, once: readings an older EMSE stored in the main database move to the readings file (ids kept, so an
        /// interrupted move is completed by the next start without storing anything twice).
        /// </summary>
        private void MoveReadingsToTheReadingsFile()
        {
            using DbConnection main = Open();
            if (Database.Scalar(main, null, "SELECT 1 FROM emse_readings LIMIT 1") == null)
            {
                return;
            }

            using ReadingsFile.Session target = Readings!.OpenSession();
            while (true)
            {
                long moved;
                using (DbTransaction t = target.Begin())
                {
                    moved = Convert.ToInt64(Readings.Database.Scalar(target.Connection, t, "SELECT moved_main_id FROM emse_readings_fold WHERE id = 0"), CultureInfo.InvariantCulture);
                    var rows = new List<StoredReading>();
                    long last = moved;
                    using (DbCommand read = Database.Command(main, null,
                        "SELECT id, " + ReadingsFile.Columns + " FROM emse_readings WHERE id > @m ORDER BY id LIMIT 10000", ("m", moved)))
                    using (DbDataReader r = read.ExecuteReader())
                    {
                        while (r.Read())
                        {
                            last = r.GetInt64(0);
                            rows.Add(ReadingsFile.ReadRow(r, 1));
                        }
                    }

                    if (rows.Count > 0)
                    {
                        // The blocks and the watermark in one transaction: an interrupted move is completed, never repeated.
                        target.StoreAll(rows, dedupe: false); // unique under the main table's key already
                        Readings.Database.Execute(target.Connection, t, "UPDATE emse_readings_fold SET moved_main_id = @m WHERE id = 0", ("m", last));
                        t.Commit();
                    }

                    moved = last;
                }

                lock (_sqliteWriteLock)
                {
                    using DbTransaction t = Database.BeginWrite(main);
                    Database.Execute(main, t, "DELETE FROM emse_readings WHERE id <= @id", ("id", moved));
                    t.Commit();
                }

                if (Database.Scalar(main, null, "SELECT 1 FROM emse_readings LIMIT 1") == null)
                {
                    return;
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
                return; // SQLite: the windows are in the group's journal row (JournalReplayState)
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

        /// <summary>The persisted windows of the group's kids, under the writer lock (see <see cref="CommitGroup"/>).</summary>
        private void LoadWindows(WriteSession s, long nowMs)
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

                return;
            }

            // SQLite: BEGIN IMMEDIATE holds the file's write lock. PRAGMA data_version changes only when ANOTHER connection
            // committed since this connection last looked: unchanged → the windows this session committed are current.
            // A kid's state is its emse_replay row merged with the journal rows still present (JournalReplayState); the
            // journal's part is read once per reload (Overlay), for the kids this session has not cached yet.
            long version = s.ReadDataVersion(); // SQLite sessions are always Raw
            if (version != s.LastDataVersion)
            {
                s.Windows.Clear();
                s.Last.Clear();
                s.Overlay = s.ReplayState!.Read(long.MaxValue);
                s.LastDataVersion = version;

                // Rows another connection (or process) deleted take this process's copies of them along.
                object? first = Database.Scalar(s.Connection, null, "SELECT MIN(id) FROM emse_journal"); // inside the session's BEGIN IMMEDIATE
                ForgetJournalRows(first == null || first is DBNull ? long.MaxValue : Convert.ToInt64(first, CultureInfo.InvariantCulture) - 1);
            }

            foreach (string kid in s.GroupKids)
            {
                if (s.Windows.ContainsKey(kid))
                {
                    continue;
                }

                if (!s.ReplayState!.TryGetRow(kid, out KidReplayState state))
                {
                    state = new KidReplayState();
                }

                if (s.Overlay.TryGetValue(kid, out KidReplayState? journal))
                {
                    state.Merge(journal.Highest, journal.Mask, journal.LastPiv, journal.LastHash, journal.LastResponse, journal.LastMs);
                }

                var w = new ReplayWindow();
                if (state.Highest >= 0)
                {
                    w.Restore(state.Highest, state.Mask);
                }

                s.Windows[kid] = w;
                s.Last[kid] = state;
            }
        }

        private static void SetTransaction(WriteSession s, DbTransaction? t)
        {
            s.SetMultiTransaction(t);
            s.Exchange.Transaction = t;
            s.Reading.Transaction = t;
            s.Device.Transaction = t;
            s.Replay.Transaction = t;
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
            if (s.Store.UsesJournal)
            {
                s.Journalled.Add(w); // SQLite: the readings go to the readings file through the journal
                return;
            }

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
            s.Journalled.Clear();
            using DbTransaction t = Database.BeginWrite(s.Connection);
            try
            {
                SetTransaction(s, t);
                foreach (ExchangeWrite w in writes)
                {
                    InsertExchange(s, w, nowMs, touched);
                }

                if (s.Journalled.Count > 0)
                {
                    s.InsertJournalRow(nowMs, s.Journalled.Count, GroupJournal.EncodeInto(s.Journalled, s.JournalScratch));
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
                Interlocked.Add(ref _journalBacklog, s.Journalled.Count);
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
            if (Readings != null)
            {
                return Readings.Query(deviceId, fromMs, toMs, limit);
            }

            var list = new List<StoredReading>();
            E2mDatabase db = Database;
            using DbConnection c = db.Open();
            using DbCommand cmd = db.Command(c, null,
                "SELECT device_id, kid, piv, idx, name, unit, value_kind, value_num, value_int, value_text, value_bool, time_ms, time_source, received_ms " +
                "FROM emse_readings WHERE device_id = @d AND time_ms >= @f AND time_ms < @t ORDER BY time_ms, id LIMIT " +
                limit.ToString(CultureInfo.InvariantCulture),
                ("d", deviceId), ("f", fromMs), ("t", toMs));
            using DbDataReader r = cmd.ExecuteReader();
            while (r.Read())
            {
                list.Add(ReadingsFile.ReadRow(r, 0));
            }

            return list;
        }

        /// <summary>Total number of stored readings (tests, health).</summary>
        public long CountReadings()
        {
            FoldJournal();
            if (Readings != null)
            {
                return Readings.Count();
            }

            E2mDatabase db = Database;
            using DbConnection c = db.Open();
            return Convert.ToInt64(db.Scalar(c, null, "SELECT COUNT(*) FROM emse_readings"), CultureInfo.InvariantCulture);
        }
    }
}

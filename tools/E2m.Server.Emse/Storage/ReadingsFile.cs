using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.IO;
using System.Threading;
using E2m.Server.Common;
using Microsoft.Data.Sqlite;

namespace E2m.Server.Emse.Storage
{
    /// <summary>
    /// SQLite: the readings live in a database file of their own beside the EMSE's (<c>emse.db</c> →
    /// <c>emse-readings.db</c>), filled from <c>emse_journal</c> by <see cref="EmseStore.FoldJournal()"/>. Its own file
    /// means its own write lock and its own WAL: a fold runs beside the group commits instead of between them. The
    /// readings are stored in blocks (<c>emse_reading_blocks</c>, <see cref="ReadingBlock"/>): per fold, one row per
    /// device with that device's readings in arrival order, indexed by (device, last time). <c>emse_readings_fold.journal_id</c>
    /// is the watermark: every journal row up to it has its readings here (written in the same transaction as the
    /// blocks), so a fold interrupted between this file and the journal's is simply completed by the next one (nothing
    /// twice, nothing lost); <c>moved_main_id</c> does the same for the one-time move of an older EMSE's readings out
    /// of the main database.
    /// </summary>
    internal sealed class ReadingsFile
    {
        internal const string Component = "emse_readings";

        internal const string Columns = "device_id, kid, piv, idx, name, unit, value_kind, value_num, value_int, value_text, value_bool, time_ms, time_source, received_ms";

        private static readonly string[] Migrations =
        {
            // Version 1 (a row per reading; converted to blocks by ConvertRowTable and dropped).
            "CREATE TABLE IF NOT EXISTS emse_readings (id {autoid}, device_id TEXT NOT NULL, kid TEXT NOT NULL, piv {bigint} NOT NULL, idx INTEGER NOT NULL, " +
            "name TEXT NOT NULL, unit TEXT, value_kind INTEGER NOT NULL, value_num DOUBLE PRECISION, value_int {bigint}, value_text TEXT, value_bool INTEGER, " +
            "time_ms {bigint} NOT NULL, time_source TEXT NOT NULL, received_ms {bigint} NOT NULL);" +
            "CREATE UNIQUE INDEX IF NOT EXISTS emse_readings_key ON emse_readings (device_id, time_ms, name, (CASE WHEN time_source = 'device' THEN 0 END));" +
            "CREATE TABLE IF NOT EXISTS emse_readings_fold (id INTEGER PRIMARY KEY CHECK (id = 0), journal_id {bigint} NOT NULL);" +
            "INSERT INTO emse_readings_fold (id, journal_id) VALUES (0, 0) ON CONFLICT (id) DO NOTHING",

            // Blocks: a row per device per fold (ReadingBlock). id is the arrival order of blocks (never deleted, so
            // never re-used); first_ms/last_ms bound the readings' times; the index serves "device, time range".
            "CREATE TABLE IF NOT EXISTS emse_reading_blocks (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, first_ms INTEGER NOT NULL, " +
            "last_ms INTEGER NOT NULL, count INTEGER NOT NULL, payload BLOB NOT NULL);" +
            "CREATE INDEX IF NOT EXISTS emse_reading_blocks_device ON emse_reading_blocks (device_id, last_ms);" +
            "ALTER TABLE emse_readings_fold ADD COLUMN moved_main_id INTEGER NOT NULL DEFAULT 0",
        };

        private readonly string _synchronous;

        public ReadingsFile(E2mDatabase main, string synchronous)
        {
            string mainPath = new SqliteConnectionStringBuilder(main.ConnectionString).DataSource;
            string directory = Path.GetDirectoryName(mainPath) ?? ".";
            FilePath = Path.Combine(directory, Path.GetFileNameWithoutExtension(mainPath) + "-readings" + Path.GetExtension(mainPath));
            Database = E2mDatabase.Sqlite(FilePath);
            _synchronous = synchronous;
        }

        /// <summary>The file (e.g. DATA/emse-readings.db).</summary>
        public string FilePath { get; }

        public E2mDatabase Database { get; }

        /// <summary>Creates or migrates the schema; readings of the row-per-reading layout (version 1) become blocks.</summary>
        public void EnsureSchema()
        {
            Database.EnsureSchema(Component, Migrations);
            ConvertRowTable();
        }

        /// <summary>A connection with the EMSE's durability setting (the watermark must be durable before the journal rows go).</summary>
        public DbConnection Open()
        {
            DbConnection c = Database.Open();
            // A 64 MiB page cache (default 2 MiB) keeps the devices' index pages in memory between folds, and a
            // checkpoint every 16384 WAL pages (64 MiB, default 1000) copies each page once per many folds.
            Database.Execute(c, null, "PRAGMA synchronous=" + _synchronous + "; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=16384");
            return c;
        }

        public Session OpenSession() => new(this);

        /// <summary>Total readings stored.</summary>
        public long Count()
        {
            using DbConnection c = Database.Open();
            return Convert.ToInt64(Database.Scalar(c, null, "SELECT COALESCE(SUM(count), 0) FROM emse_reading_blocks"), CultureInfo.InvariantCulture);
        }

        /// <summary>
        /// Readings of a device with from ≤ time &lt; to (ms), ordered by time then arrival, at most <paramref name="limit"/>.
        /// Visits the device's blocks whose time span meets the range (index on device, last time); a block that starts
        /// after the limit-th time found so far is skipped without decoding.
        /// </summary>
        private long _undecodableBlocks;

        /// <summary>Blocks found unreadable by queries or folds (each time one is met; logged by the folder).</summary>
        public long UndecodableBlocks => Interlocked.Read(ref _undecodableBlocks);

        /// <summary>
        /// Decodes a block; false (counted in <see cref="UndecodableBlocks"/>) when its payload does not decode. One corrupt
        /// block must not stop the fold of every device (its dedupe probe) or every query: it is skipped and stays in place.
        /// </summary>
        internal bool TryDecode(byte[] payload, string deviceId, List<StoredReading> into)
        {
            try
            {
                ReadingBlock.Decode(payload, deviceId, into);
                return true;
            }
            catch (InvalidDataException)
            {
                Interlocked.Increment(ref _undecodableBlocks);
                return false;
            }
        }

        public List<StoredReading> Query(string deviceId, long fromMs, long toMs, int limit)
        {
            var found = new List<(StoredReading Reading, long Block, int Position)>();
            var decoded = new List<StoredReading>();
            long cutoff = long.MaxValue; // time of the limit-th reading once that many are found
            using DbConnection c = Database.Open();
            using DbCommand cmd = Database.Command(c, null,
                "SELECT id, first_ms, payload FROM emse_reading_blocks WHERE device_id = @d AND last_ms >= @f AND first_ms < @t",
                ("d", deviceId), ("f", fromMs), ("t", toMs));
            using DbDataReader r = cmd.ExecuteReader();
            while (r.Read())
            {
                if (limit <= 0 || r.GetInt64(1) > cutoff)
                {
                    continue;
                }

                long block = r.GetInt64(0);
                decoded.Clear();
                if (!TryDecode(E2mDatabase.GetBytes(r, 2), deviceId, decoded))
                {
                    continue; // an unreadable block (corrupt disk) loses its own readings only, never the query
                }

                for (int i = 0; i < decoded.Count; i++)
                {
                    StoredReading s = decoded[i];
                    if (s.TimeMs >= fromMs && s.TimeMs < toMs && s.TimeMs <= cutoff)
                    {
                        found.Add((s, block, i));
                    }
                }

                if (found.Count >= 2 * limit)
                {
                    Trim(found, limit);
                    cutoff = found[^1].Reading.TimeMs;
                }
            }

            Trim(found, Math.Max(limit, 0));
            var list = new List<StoredReading>(found.Count);
            foreach (var f in found)
            {
                list.Add(f.Reading);
            }

            return list;
        }

        private static void Trim(List<(StoredReading Reading, long Block, int Position)> found, int limit)
        {
            found.Sort(static (a, b) =>
            {
                int c = a.Reading.TimeMs.CompareTo(b.Reading.TimeMs);
                if (c == 0)
                {
                    c = a.Block.CompareTo(b.Block);
                }

                return c != 0 ? c : a.Position.CompareTo(b.Position);
            });
            if (found.Count > limit)
            {
                found.RemoveRange(limit, found.Count - limit);
            }
        }

        /// <summary>
        /// Version 1 files: the row-per-reading table becomes blocks (10000 rows per transaction, rows deleted in the
        /// same transaction as their blocks are written), then the empty table is dropped.
        /// </summary>
        private void ConvertRowTable()
        {
            using Session session = OpenSession();
            DbConnection c = session.Connection;
            if (Database.Scalar(c, null, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'emse_readings'") == null)
            {
                return;
            }

            while (true)
            {
                using DbTransaction t = session.Begin();
                var rows = new List<StoredReading>();
                long last = 0;
                using (DbCommand read = Database.Command(c, t, "SELECT id, " + Columns + " FROM emse_readings ORDER BY id LIMIT 10000"))
                using (DbDataReader r = read.ExecuteReader())
                {
                    while (r.Read())
                    {
                        last = r.GetInt64(0);
                        rows.Add(ReadRow(r, 1));
                    }
                }

                if (rows.Count == 0)
                {
                    Database.Execute(c, t, "DROP TABLE emse_readings");
                    t.Commit();
                    return;
                }

                session.StoreAll(rows, dedupe: false); // unique under the old table's key already
                Database.Execute(c, t, "DELETE FROM emse_readings WHERE id <= @id", ("id", last));
                t.Commit();
            }
        }

        /// <summary>A reading from the row-per-reading columns (<see cref="Columns"/>) starting at <paramref name="at"/>.</summary>
        internal static StoredReading ReadRow(DbDataReader r, int at) => new()
        {
            DeviceId = r.GetString(at),
            Kid = r.GetString(at + 1),
            Piv = r.GetInt64(at + 2),
            Index = r.GetInt32(at + 3),
            Name = r.GetString(at + 4),
            Unit = r.IsDBNull(at + 5) ? null : r.GetString(at + 5),
            ValueKind = r.GetInt32(at + 6),
            Number = r.IsDBNull(at + 7) ? null : r.GetDouble(at + 7),
            Integer = r.IsDBNull(at + 8) ? null : r.GetInt64(at + 8),
            Text = r.IsDBNull(at + 9) ? null : r.GetString(at + 9),
            Boolean = r.IsDBNull(at + 10) ? null : r.GetInt32(at + 10) != 0,
            TimeMs = r.GetInt64(at + 11),
            TimeSource = r.GetString(at + 12),
            ReceivedMs = r.GetInt64(at + 13),
        };

        /// <summary>Smallest and largest time of <paramref name="n"/> readings from <paramref name="at"/>.</summary>
        private static (long First, long Last) Span(List<StoredReading> list, int at, int n)
        {
            long first = long.MaxValue;
            long last = long.MinValue;
            for (int i = at; i < at + n; i++)
            {
                first = Math.Min(first, list[i].TimeMs);
                last = Math.Max(last, list[i].TimeMs);
            }

            return (first, last);
        }

        /// <summary>A connection with the fold's prepared statements (SQLite, bound by position) and the watermarks.</summary>
        internal sealed class Session : IDisposable
        {
            private readonly SQLitePCL.sqlite3 _handle;
            private readonly SQLitePCL.sqlite3_stmt _insert;
            private readonly SQLitePCL.sqlite3_stmt _probe;
            private readonly DbCommand _getWatermark;
            private readonly DbCommand _setWatermark;
            private readonly MemoryStream _scratch = new();
            private readonly List<StoredReading> _stored = new();
            private readonly HashSet<(long, string)> _seen = new();
            private readonly List<StoredReading> _kept = new();

            public Session(ReadingsFile file)
            {
                File = file;
                Connection = file.Open();
                _handle = ((SqliteConnection)Connection).Handle!;
                _insert = Prepare("INSERT INTO emse_reading_blocks (device_id, first_ms, last_ms, count, payload) VALUES (?1, ?2, ?3, ?4, ?5)");
                _probe = Prepare("SELECT payload FROM emse_reading_blocks WHERE device_id = ?1 AND last_ms >= ?2 AND first_ms <= ?3");
                _getWatermark = file.Database.Command(Connection, null, "SELECT journal_id FROM emse_readings_fold WHERE id = 0");
                _setWatermark = file.Database.Command(Connection, null, "UPDATE emse_readings_fold SET journal_id = @j WHERE id = 0", ("j", 0L));
            }

            public ReadingsFile File { get; }

            public DbConnection Connection { get; }

            private SQLitePCL.sqlite3_stmt Prepare(string sql)
            {
                int rc = SQLitePCL.raw.sqlite3_prepare_v2(_handle, sql, out SQLitePCL.sqlite3_stmt stmt);
                SqliteException.ThrowExceptionForRC(rc, _handle);
                return stmt;
            }

            /// <summary>BEGIN IMMEDIATE on the readings file (serialises folds of every process sharing it).</summary>
            public DbTransaction Begin()
            {
                DbTransaction t = File.Database.BeginWrite(Connection);
                _getWatermark.Transaction = t;
                _setWatermark.Transaction = t;
                return t;
            }

            public long Watermark() => Convert.ToInt64(_getWatermark.ExecuteScalar(), CultureInfo.InvariantCulture);

            public void SetWatermark(long journalId)
            {
                _setWatermark.Parameters[0].Value = journalId;
                _setWatermark.ExecuteNonQuery();
            }

            /// <summary>
            /// Readings in arrival order, of any devices: <see cref="Store"/> per device (devices in order of first
            /// appearance, each device's readings in arrival order), inside the open transaction. <paramref name="dedupe"/>
            /// false: stored as they are (readings moved from an older layout, already kept once there).
            /// </summary>
            public void StoreAll(List<StoredReading> arrived, bool dedupe = true)
            {
                var byDevice = new Dictionary<string, List<StoredReading>>(StringComparer.Ordinal);
                var devices = new List<string>();
                foreach (StoredReading reading in arrived)
                {
                    if (!byDevice.TryGetValue(reading.DeviceId, out List<StoredReading>? list))
                    {
                        byDevice[reading.DeviceId] = list = new List<StoredReading>();
                        devices.Add(reading.DeviceId);
                    }

                    list.Add(reading);
                }

                foreach (string device in devices)
                {
                    Store(device, byDevice[device], dedupe);
                }
            }

            /// <summary>
            /// One device's new readings (arrival order) as block(s), inside the open transaction. A reading with device
            /// time is kept once per (device, time, name) (RFC 8428 §4.5.3 absolute time: a batch re-sent under a new
            /// PIV after its 2.04 was lost carries the same readings): against the device's stored blocks whose span
            /// meets the new readings' (one index probe, usually empty: device times only grow) and within the batch.
            /// </summary>
            private void Store(string deviceId, List<StoredReading> readings, bool dedupe)
            {
                long min = long.MaxValue;
                long max = long.MinValue;
                foreach (StoredReading s in readings)
                {
                    if (string.Equals(s.TimeSource, ReadingBlock.DeviceTimeSource, StringComparison.Ordinal))
                    {
                        min = Math.Min(min, s.TimeMs);
                        max = Math.Max(max, s.TimeMs);
                    }
                }

                List<StoredReading> kept = readings;
                if (dedupe && min <= max)
                {
                    _seen.Clear();
                    _stored.Clear();
                    Probe(deviceId, min, max);
                    foreach (StoredReading s in _stored)
                    {
                        if (string.Equals(s.TimeSource, ReadingBlock.DeviceTimeSource, StringComparison.Ordinal))
                        {
                            _seen.Add((s.TimeMs, s.Name));
                        }
                    }

                    _kept.Clear();
                    foreach (StoredReading s in readings)
                    {
                        if (!string.Equals(s.TimeSource, ReadingBlock.DeviceTimeSource, StringComparison.Ordinal) || _seen.Add((s.TimeMs, s.Name)))
                        {
                            _kept.Add(s);
                        }
                    }

                    kept = _kept;
                }

                for (int at = 0; at < kept.Count; at += ReadingBlock.MaxReadings)
                {
                    int n = Math.Min(ReadingBlock.MaxReadings, kept.Count - at);
                    (long first, long last) = Span(kept, at, n);
                    byte[] payload = ReadingBlock.Encode(kept, at, n, _scratch);
                    SQLitePCL.sqlite3_stmt st = _insert;
                    SQLitePCL.raw.sqlite3_bind_text(st, 1, deviceId);
                    SQLitePCL.raw.sqlite3_bind_int64(st, 2, first);
                    SQLitePCL.raw.sqlite3_bind_int64(st, 3, last);
                    SQLitePCL.raw.sqlite3_bind_int(st, 4, n);
                    SQLitePCL.raw.sqlite3_bind_blob(st, 5, payload);
                    int rc = SQLitePCL.raw.sqlite3_step(st);
                    SQLitePCL.raw.sqlite3_reset(st);
                    if (rc != SQLitePCL.raw.SQLITE_DONE)
                    {
                        SqliteException.ThrowExceptionForRC(rc, _handle);
                    }
                }
            }

            /// <summary>The device's stored readings in blocks whose span meets [min, max], into _stored.</summary>
            private void Probe(string deviceId, long min, long max)
            {
                SQLitePCL.sqlite3_stmt st = _probe;
                SQLitePCL.raw.sqlite3_bind_text(st, 1, deviceId);
                SQLitePCL.raw.sqlite3_bind_int64(st, 2, min);
                SQLitePCL.raw.sqlite3_bind_int64(st, 3, max);
                try
                {
                    int rc;
                    while ((rc = SQLitePCL.raw.sqlite3_step(st)) == SQLitePCL.raw.SQLITE_ROW)
                    {
                        File.TryDecode(SQLitePCL.raw.sqlite3_column_blob(st, 0).ToArray(), deviceId, _stored); // unreadable: no dedupe against it
                    }

                    if (rc != SQLitePCL.raw.SQLITE_DONE)
                    {
                        SqliteException.ThrowExceptionForRC(rc, _handle);
                    }
                }
                finally
                {
                    SQLitePCL.raw.sqlite3_reset(st);
                }
            }

            public void Dispose()
            {
                _insert.Dispose(); // sqlite3_finalize before the connection goes back to the pool
                _probe.Dispose();
                _getWatermark.Dispose();
                _setWatermark.Dispose();
                Connection.Dispose();
            }
        }
    }
}

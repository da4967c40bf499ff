using System;
using System.Data.Common;
using System.Globalization;
using System.IO;
using E2m.Server.Common;
using Microsoft.Data.Sqlite;

namespace E2m.Server.Emse.Storage
{
    /// <summary>
    /// SQLite: the readings table lives in a database file of its own beside the EMSE's (<c>emse.db</c> →
    /// <c>emse-readings.db</c>), filled from <c>emse_journal</c> by <see cref="EmseStore.FoldJournal()"/>. Its own file
    /// means its own write lock and its own WAL: a fold (tens of thousands of index inserts, one fsync) runs beside the
    /// group commits instead of between them. <c>emse_readings_fold.journal_id</c> is the watermark: every journal row
    /// up to it has its readings here (written in the same transaction as the readings), so a fold interrupted between
    /// this file and the journal's is simply completed by the next one (nothing twice, nothing lost).
    /// </summary>
    internal sealed class ReadingsFile
    {
        internal const string Component = "emse_readings";

        internal const string Columns = "device_id, kid, piv, idx, name, unit, value_kind, value_num, value_int, value_text, value_bool, time_ms, time_source, received_ms";

        private static readonly string[] Migrations =
        {
            // The same table and single index as emse_readings in the main schema (EmseStore): (device, time, name,
            // device-time key) serves the per-device time-range query and keeps a device-time reading once.
            "CREATE TABLE IF NOT EXISTS emse_readings (id {autoid}, device_id TEXT NOT NULL, kid TEXT NOT NULL, piv {bigint} NOT NULL, idx INTEGER NOT NULL, " +
            "name TEXT NOT NULL, unit TEXT, value_kind INTEGER NOT NULL, value_num DOUBLE PRECISION, value_int {bigint}, value_text TEXT, value_bool INTEGER, " +
            "time_ms {bigint} NOT NULL, time_source TEXT NOT NULL, received_ms {bigint} NOT NULL);" +
            "CREATE UNIQUE INDEX IF NOT EXISTS emse_readings_key ON emse_readings (device_id, time_ms, name, (CASE WHEN time_source = 'device' THEN 0 END));" +
            "CREATE TABLE IF NOT EXISTS emse_readings_fold (id INTEGER PRIMARY KEY CHECK (id = 0), journal_id {bigint} NOT NULL);" +
            "INSERT INTO emse_readings_fold (id, journal_id) VALUES (0, 0) ON CONFLICT (id) DO NOTHING",
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

        public void EnsureSchema() => Database.EnsureSchema(Component, Migrations);

        /// <summary>A connection with the EMSE's durability setting (the watermark must be durable before the journal rows go).</summary>
        public DbConnection Open()
        {
            DbConnection c = Database.Open();
            // A fold touches a leaf page of the readings index per device and appends table pages: a 64 MiB page cache
            // (default 2 MiB) keeps the devices' index pages in memory between folds instead of re-reading them, and a
            // checkpoint every 16384 WAL pages (64 MiB, default 1000) copies each page once per many folds.
            Database.Execute(c, null, "PRAGMA synchronous=" + _synchronous + "; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=16384");
            return c;
        }

        public Session OpenSession() => new(this);

        /// <summary>A connection with the fold's prepared insert (SQLite statement bound by position) and the watermark.</summary>
        internal sealed class Session : IDisposable
        {
            private readonly SQLitePCL.sqlite3 _handle;
            private readonly SQLitePCL.sqlite3_stmt _insert;
            private readonly DbCommand _getWatermark;
            private readonly DbCommand _setWatermark;

            public Session(ReadingsFile file)
            {
                File = file;
                Connection = file.Open();
                _handle = ((SqliteConnection)Connection).Handle!;
                int rc = SQLitePCL.raw.sqlite3_prepare_v2(_handle,
                    "INSERT INTO emse_readings (" + Columns + ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT DO NOTHING",
                    out _insert);
                SqliteException.ThrowExceptionForRC(rc, _handle);
                _getWatermark = file.Database.Command(Connection, null, "SELECT journal_id FROM emse_readings_fold WHERE id = 0");
                _setWatermark = file.Database.Command(Connection, null, "UPDATE emse_readings_fold SET journal_id = @j WHERE id = 0", ("j", 0L));
            }

            public ReadingsFile File { get; }

            public DbConnection Connection { get; }

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

            /// <summary>One reading (ON CONFLICT DO NOTHING: emse_readings_key keeps a device-time reading once).</summary>
            public void Insert(StoredReading r)
            {
                SQLitePCL.sqlite3_stmt st = _insert;
                SQLitePCL.raw.sqlite3_bind_text(st, 1, r.DeviceId);
                SQLitePCL.raw.sqlite3_bind_text(st, 2, r.Kid);
                SQLitePCL.raw.sqlite3_bind_int64(st, 3, r.Piv);
                SQLitePCL.raw.sqlite3_bind_int(st, 4, r.Index);
                SQLitePCL.raw.sqlite3_bind_text(st, 5, r.Name);
                if (r.Unit != null)
                {
                    SQLitePCL.raw.sqlite3_bind_text(st, 6, r.Unit);
                }

                SQLitePCL.raw.sqlite3_bind_int(st, 7, r.ValueKind);
                if (r.Number.HasValue)
                {
                    SQLitePCL.raw.sqlite3_bind_double(st, 8, r.Number.Value);
                }

                if (r.Integer.HasValue)
                {
                    SQLitePCL.raw.sqlite3_bind_int64(st, 9, r.Integer.Value);
                }

                if (r.Text != null)
                {
                    SQLitePCL.raw.sqlite3_bind_text(st, 10, r.Text);
                }

                if (r.Boolean.HasValue)
                {
                    SQLitePCL.raw.sqlite3_bind_int(st, 11, r.Boolean.Value ? 1 : 0);
                }

                SQLitePCL.raw.sqlite3_bind_int64(st, 12, r.TimeMs);
                SQLitePCL.raw.sqlite3_bind_text(st, 13, r.TimeSource);
                SQLitePCL.raw.sqlite3_bind_int64(st, 14, r.ReceivedMs);
                int rc = SQLitePCL.raw.sqlite3_step(st);
                SQLitePCL.raw.sqlite3_reset(st);
                SQLitePCL.raw.sqlite3_clear_bindings(st); // unbound parameters are NULL
                if (rc != SQLitePCL.raw.SQLITE_DONE)
                {
                    SqliteException.ThrowExceptionForRC(rc, _handle);
                }
            }

            public void Dispose()
            {
                _insert.Dispose(); // sqlite3_finalize before the connection goes back to the pool
                _getWatermark.Dispose();
                _setWatermark.Dispose();
                Connection.Dispose();
            }
        }
    }
}

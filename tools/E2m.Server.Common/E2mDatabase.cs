using System;
using System.Data;
using System.Data.Common;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace E2m.Server.Common
{
    /// <summary>SQL dialects supported by <see cref="E2mDatabase"/>.</summary>
    public enum DbDialect
    {
        Sqlite,
        Postgres,
    }

    /// <summary>
    /// Storage options shared by all services (bound from section "Storage"). Either a PostgreSQL connection string
    /// (<c>Host=...</c>, or <see cref="Provider"/> = "postgres"), or SQLite: <see cref="ConnectionString"/> as a SQLite
    /// connection string (<c>Data Source=...</c>), or empty = a file <see cref="FileName"/> in the data directory.
    /// </summary>
    public sealed class StorageOptions
    {
        public const string SectionName = "Storage";

        /// <summary>"sqlite" (default) or "postgres".</summary>
        public string? Provider { get; set; }

        public string? ConnectionString { get; set; }
    }

    /// <summary>
    /// A tiny ADO.NET abstraction over SQLite (Microsoft.Data.Sqlite) and PostgreSQL (Npgsql). No ORM.
    /// SQL is written once with <c>@name</c> parameters (both providers accept them) and the dialect tokens of
    /// <see cref="Sql"/> (<c>{blob}</c>, <c>{autoid}</c>, <c>{bigint}</c>, <c>{text}</c>).
    /// Thread-safe: each call opens its own pooled connection (SQLite: the per-connection PRAGMAs run once per native
    /// connection, not per Open).
    /// </summary>
    public sealed class E2mDatabase
    {
        private E2mDatabase(DbDialect dialect, string connectionString)
        {
            Dialect = dialect;
            ConnectionString = connectionString;
        }

        public DbDialect Dialect { get; }

        /// <summary>The connection string (may contain a password: never log it; see <see cref="Describe"/>).</summary>
        public string ConnectionString { get; }

        /// <summary>SQLite database in <paramref name="path"/> (directory created). WAL mode for several processes.</summary>
        public static E2mDatabase Sqlite(string path)
        {
            string full = Path.GetFullPath(path);
            string? dir = Path.GetDirectoryName(full);
            if (!string.IsNullOrEmpty(dir))
            {
                Directory.CreateDirectory(dir);
            }

            var csb = new SqliteConnectionStringBuilder
            {
                DataSource = full,
                Mode = SqliteOpenMode.ReadWriteCreate,
                Pooling = true,
                DefaultTimeout = 30, // seconds: also the busy timeout for locks held by other processes
            };
            return new E2mDatabase(DbDialect.Sqlite, csb.ToString());
        }

        public static E2mDatabase Postgres(string connectionString)
        {
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                throw new ArgumentException("PostgreSQL connection string is empty", nameof(connectionString));
            }

            return new E2mDatabase(DbDialect.Postgres, connectionString);
        }

        /// <summary>
        /// Chooses the provider: PostgreSQL when <paramref name="provider"/> is "postgres"/"postgresql" or the
        /// connection string starts with "Host="; otherwise SQLite (connection string as a "Data Source=" string,
        /// a bare file path, or empty = <paramref name="dataDirectory"/>/<paramref name="defaultFileName"/>).
        /// </summary>
        public static E2mDatabase Create(string? provider, string? connectionString, string dataDirectory, string defaultFileName)
        {
            string p = (provider ?? string.Empty).Trim().ToLowerInvariant();
            string cs = (connectionString ?? string.Empty).Trim();
            if (p == "postgres" || p == "postgresql" || LooksLikePostgres(cs))
            {
                return Postgres(cs);
            }

            if (p.Length > 0 && p != "sqlite")
            {
                throw new ArgumentException($"Storage:Provider '{provider}' is not supported (use 'sqlite' or 'postgres')");
            }

            if (cs.Length == 0)
            {
                return Sqlite(Path.Combine(dataDirectory, defaultFileName));
            }

            if (cs.Contains('=', StringComparison.Ordinal))
            {
                var csb = new SqliteConnectionStringBuilder(cs);
                return Sqlite(csb.DataSource);
            }

            return Sqlite(cs);
        }

        /// <summary>True for a connection string with a <c>Host=</c> (or <c>Server=</c>) key, i.e. PostgreSQL (SQLite uses Data Source=).</summary>
        public static bool LooksLikePostgres(string connectionString) =>
            System.Text.RegularExpressions.Regex.IsMatch(connectionString, @"(^|;)\s*(Host|Server)\s*=", System.Text.RegularExpressions.RegexOptions.IgnoreCase);

        /// <summary>A description for logs without credentials.</summary>
        public string Describe()
        {
            if (Dialect == DbDialect.Sqlite)
            {
                return "sqlite:" + new SqliteConnectionStringBuilder(ConnectionString).DataSource;
            }

            var b = new NpgsqlConnectionStringBuilder(ConnectionString);
            return $"postgres://{b.Host}:{b.Port}/{b.Database}" + (string.IsNullOrEmpty(b.SearchPath) ? string.Empty : "?search_path=" + b.SearchPath);
        }

        // ---- connections and commands

        public DbConnection Open()
        {
            DbConnection c = CreateConnection();
            c.Open();
            OnOpened(c);
            return c;
        }

        public async Task<DbConnection> OpenAsync(CancellationToken ct = default)
        {
            DbConnection c = CreateConnection();
            await c.OpenAsync(ct).ConfigureAwait(false);
            OnOpened(c);
            return c;
        }

        private DbConnection CreateConnection() => Dialect == DbDialect.Sqlite
            ? new SqliteConnection(ConnectionString)
            : new NpgsqlConnection(ConnectionString);

        // SQLite connections are pooled by Microsoft.Data.Sqlite (Pooling=true): Close() returns the native handle to
        // the pool and the next Open() gets it back. Per-connection PRAGMAs therefore need to run only when a native
        // handle is seen for the first time; the handles already set up are remembered here (weakly: a handle the pool
        // disposes drops out). journal_mode=WAL is persistent in the database file, foreign_keys and busy_timeout are
        // per connection. Running the PRAGMAs on every Open() cost a statement round per request on the hot paths.
        private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> s_initialisedHandles = new();

        /// <summary>Native SQLite connections set up by this process so far (PRAGMAs run once each; tests check the reuse).</summary>
        public static long SqliteConnectionsInitialised => Interlocked.Read(ref s_sqliteInitialised);

        private static long s_sqliteInitialised;

        private static void OnOpened(DbConnection c)
        {
            if (c is SqliteConnection s)
            {
                object? handle = s.Handle;
                if (handle != null && s_initialisedHandles.TryGetValue(handle, out _))
                {
                    return;
                }

                // WAL: readers do not block the writer, several processes share the file; FKs on.
                using DbCommand cmd = c.CreateCommand();
                cmd.CommandText = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000;";
                cmd.ExecuteNonQuery();
                if (handle != null)
                {
                    s_initialisedHandles.AddOrUpdate(handle, s_initialisedHandles);
                    Interlocked.Increment(ref s_sqliteInitialised);
                }
            }
        }

        /// <summary>
        /// A write transaction that serialises writers: SQLite <c>BEGIN IMMEDIATE</c> (takes the RESERVED lock at once,
        /// so a read-modify-write cannot interleave with another process); PostgreSQL READ COMMITTED (use
        /// <c>UPDATE ... RETURNING</c> or <c>SELECT ... FOR UPDATE</c> for row locks).
        /// </summary>
        public DbTransaction BeginWrite(DbConnection connection)
        {
            if (connection is SqliteConnection s)
            {
                return s.BeginTransaction(IsolationLevel.Serializable, deferred: false); // BEGIN IMMEDIATE
            }

            return connection.BeginTransaction(IsolationLevel.ReadCommitted);
        }

        /// <summary>Creates a command with <c>@name</c> parameters; dialect tokens in <paramref name="sql"/> are expanded.</summary>
        public DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
        {
            DbCommand cmd = connection.CreateCommand();
            cmd.Transaction = transaction;
            cmd.CommandText = Sql(sql);
            foreach ((string name, object? value) in parameters)
            {
                DbParameter p = cmd.CreateParameter();
                p.ParameterName = name.StartsWith('@') ? name : "@" + name;
                p.Value = value ?? DBNull.Value;
                cmd.Parameters.Add(p);
            }

            return cmd;
        }

        public int Execute(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
        {
            using DbCommand cmd = Command(connection, transaction, sql, parameters);
            return cmd.ExecuteNonQuery();
        }

        public object? Scalar(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
        {
            using DbCommand cmd = Command(connection, transaction, sql, parameters);
            object? v = cmd.ExecuteScalar();
            return v is DBNull ? null : v;
        }

        // ---- dialect

        /// <summary>Column type for binary data.</summary>
        public string BlobType => Dialect == DbDialect.Sqlite ? "BLOB" : "BYTEA";

        /// <summary>Auto-increment 64-bit primary key column definition.</summary>
        public string AutoIdType => Dialect == DbDialect.Sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";

        public string BigIntType => Dialect == DbDialect.Sqlite ? "INTEGER" : "BIGINT";

        /// <summary>
        /// Expands the dialect tokens <c>{blob}</c>, <c>{autoid}</c>, <c>{bigint}</c>, <c>{text}</c>. Upserts need no token:
        /// <c>INSERT ... ON CONFLICT (key) DO UPDATE SET col = excluded.col</c> works on both (SQLite ≥ 3.24, PostgreSQL ≥ 9.5);
        /// so does <c>UPDATE ... RETURNING</c> (SQLite ≥ 3.35).
        /// </summary>
        public string Sql(string sql) => sql
            .Replace("{blob}", BlobType, StringComparison.Ordinal)
            .Replace("{autoid}", AutoIdType, StringComparison.Ordinal)
            .Replace("{bigint}", BigIntType, StringComparison.Ordinal)
            .Replace("{text}", "TEXT", StringComparison.Ordinal);

        // ---- schema

        /// <summary>
        /// Creates/migrates the schema of <paramref name="component"/> (e.g. "hss"): table <c>e2m_schema_version</c>
        /// (component, version); migration i (0-based) brings the schema from version i to i+1 and runs in one
        /// transaction with the version bump. Safe when several processes start at once (SQLite BEGIN IMMEDIATE;
        /// PostgreSQL transaction-scoped advisory lock). Each migration string may hold several statements
        /// separated by ';' and the dialect tokens of <see cref="Sql"/>.
        /// </summary>
        public void EnsureSchema(string component, string[] migrations)
        {
            using DbConnection c = Open();
            using (DbTransaction t0 = BeginWrite(c))
            {
                if (Dialect == DbDialect.Postgres)
                {
                    Execute(c, t0, "SELECT pg_advisory_xact_lock(7223001)");
                }

                Execute(c, t0, "CREATE TABLE IF NOT EXISTS e2m_schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
                t0.Commit();
            }

            using DbTransaction t = BeginWrite(c);
            if (Dialect == DbDialect.Postgres)
            {
                Execute(c, t, "SELECT pg_advisory_xact_lock(7223001)");
            }

            object? v = Scalar(c, t, "SELECT version FROM e2m_schema_version WHERE component = @c", ("c", component));
            int version = v == null ? 0 : Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture);
            if (version > migrations.Length)
            {
                throw new InvalidOperationException(
                    $"database schema of '{component}' is version {version}, newer than this build ({migrations.Length}): upgrade the service");
            }

            for (int i = version; i < migrations.Length; i++)
            {
                foreach (string statement in migrations[i].Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    Execute(c, t, statement);
                }
            }

            if (version < migrations.Length)
            {
                Execute(c, t,
                    "INSERT INTO e2m_schema_version (component, version) VALUES (@c, @v) ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                    ("c", component), ("v", migrations.Length));
            }

            t.Commit();
        }

        /// <summary>True when the database answers <c>SELECT 1</c> (used by /health).</summary>
        public async Task<bool> PingAsync(CancellationToken ct = default)
        {
            try
            {
                await using DbConnection c = await OpenAsync(ct).ConfigureAwait(false);
                await using DbCommand cmd = c.CreateCommand();
                cmd.CommandText = "SELECT 1";
                await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
                return true;
            }
            catch (DbException)
            {
                return false;
            }
        }

        /// <summary>Reads a BLOB/BYTEA column.</summary>
        public static byte[] GetBytes(DbDataReader r, int ordinal) => (byte[])r.GetValue(ordinal);

        /// <summary>True when <paramref name="e"/> is a unique/primary-key violation on either provider.</summary>
        public static bool IsUniqueViolation(DbException e) =>
            (e is SqliteException s && (s.SqliteExtendedErrorCode == 2067 || s.SqliteExtendedErrorCode == 1555))
            || (e is PostgresException p && p.SqlState == PostgresErrorCodes.UniqueViolation);
    }
}

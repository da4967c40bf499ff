using System;
using Npgsql;
using Xunit;

namespace E2m.TestSupport
{
    /// <summary>
    /// A fresh PostgreSQL schema per test (or test class) on the server named by env <c>E2M_TEST_POSTGRES</c>
    /// (CI: <c>Host=127.0.0.1;Port=5432;Username=e2m;Password=e2m;Database=e2m_test</c>, set by .ci/run).
    /// <see cref="ConnectionString"/> carries <c>Search Path=&lt;schema&gt;</c>, so code under test creates its tables in
    /// the private schema; Dispose drops it. When the variable is unset the test is skipped outside CI and FAILS in CI
    /// (CI=true). Use from a <c>[SkippableFact]</c>: <c>using var pg = PostgresTestDatabase.Create("hss");</c>
    /// </summary>
    public sealed class PostgresTestDatabase : IDisposable
    {
        public const string EnvironmentVariable = "E2M_TEST_POSTGRES";

        private readonly string _adminConnectionString;

        private PostgresTestDatabase(string adminConnectionString, string schema)
        {
            _adminConnectionString = adminConnectionString;
            Schema = schema;
            var b = new NpgsqlConnectionStringBuilder(adminConnectionString) { SearchPath = schema };
            ConnectionString = b.ConnectionString;
        }

        /// <summary>Connection string with the private schema as search path.</summary>
        public string ConnectionString { get; }

        public string Schema { get; }

        /// <summary>The configured server, or skip/fail as described above.</summary>
        public static string RequireServer()
        {
            string? cs = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (!string.IsNullOrWhiteSpace(cs))
            {
                return cs;
            }

            string reason = $"env {EnvironmentVariable} is not set (a PostgreSQL connection string; .ci/run starts a server and sets it)";
            if (ExternalTool.InCi)
            {
                Assert.Fail(reason + ": required in CI");
            }

            Skip.If(true, reason);
            throw new InvalidOperationException("unreachable");
        }

        /// <summary>Creates schema <c>t_&lt;prefix&gt;_&lt;random&gt;</c>.</summary>
        public static PostgresTestDatabase Create(string prefix)
        {
            string server = RequireServer();
            string safe = new string(Array.FindAll(prefix.ToLowerInvariant().ToCharArray(), c => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')));
            string schema = "t_" + safe + "_" + Guid.NewGuid().ToString("N").Substring(0, 12);
            using (var c = new NpgsqlConnection(server))
            {
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = "CREATE SCHEMA " + schema;
                cmd.ExecuteNonQuery();
            }

            return new PostgresTestDatabase(server, schema);
        }

        public void Dispose()
        {
            try
            {
                NpgsqlConnection.ClearAllPools();
                using var c = new NpgsqlConnection(_adminConnectionString);
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = "DROP SCHEMA IF EXISTS " + Schema + " CASCADE";
                cmd.ExecuteNonQuery();
            }
            catch (NpgsqlException)
            {
                // best effort: a leftover schema does not affect other tests (each uses its own)
            }
        }
    }
}

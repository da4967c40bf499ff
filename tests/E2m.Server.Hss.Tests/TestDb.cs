using System;
using System.IO;
using System.Security.Cryptography;
using E2m.Server.Common;
using E2m.Server.Hss.Subscribers;
using E2m.TestSupport;

namespace E2m.Server.Hss.Tests
{
    /// <summary>One test database: a temp data directory (dev KEK file) + SQLite file or a private PostgreSQL schema.</summary>
    public sealed class TestDb : IDisposable
    {
        private readonly PostgresTestDatabase? _pg;

        private TestDb(string dataDir, PostgresTestDatabase? pg)
        {
            DataDir = dataDir;
            _pg = pg;
            KekFile = DevPki.DevKekPath(dataDir);
            AtRestProtector.WriteNewKekFile(KekFile);
            Database = pg == null ? E2mDatabase.Sqlite(Path.Combine(dataDir, "hss.db")) : E2mDatabase.Postgres(pg.ConnectionString);
        }

        public string DataDir { get; }

        public string KekFile { get; }

        public E2mDatabase Database { get; }

        /// <summary>PostgreSQL connection string, or null for SQLite.</summary>
        public string? PostgresConnectionString => _pg?.ConnectionString;

        public static TestDb Sqlite() => new(NewTempDir(), null);

        /// <summary>Skips (or fails in CI) when E2M_TEST_POSTGRES is not set.</summary>
        public static TestDb Postgres() => new(NewTempDir(), PostgresTestDatabase.Create("hss"));

        public static string NewTempDir()
        {
            string d = Path.Combine(Path.GetTempPath(), "e2m-hss-tests", Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(d);
            return d;
        }

        /// <summary>A value sealed as the store seals K/OPc (AD hss/subscriber/IMSI/COLUMN), for rows written by hand.</summary>
        public byte[] Seal(byte[] value, string imsi, string column) =>
            new AtRestProtector(AtRestProtector.ReadKekFile(KekFile)).Protect(value, "hss/subscriber/" + imsi + "/" + column);

        public SubscriberStore NewStore(TimeProvider? time = null, SqnPolicy? sqn = null)
        {
            var store = new SubscriberStore(Database, new AtRestProtector(AtRestProtector.ReadKekFile(KekFile)), time, sqn);
            store.EnsureSchema();
            return store;
        }

        public void Dispose()
        {
            _pg?.Dispose();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(DataDir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>TS 35.208 test set 1 and helpers.</summary>
    public static class Set1
    {
        public static readonly byte[] K = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc");
        public static readonly byte[] Opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf");

        public static NewSubscriber Subscriber(string imsi, bool e2m = false, bool aks = false, ulong sqn = 0, ushort amf = 0) => new()
        {
            Imsi = imsi,
            K = (byte[])K.Clone(),
            Opc = (byte[])Opc.Clone(),
            Sqn = sqn,
            Amf = amf,
            E2m = new E2mProfile { Enabled = e2m, AccessKeySeparation = aks, AllowedEmseIds = { "emse.example.org" }, ExternalId = e2m ? "meter-42" : null },
        };

        public static byte[] Random(int n) => RandomNumberGenerator.GetBytes(n);
    }
}

using System;
using System.Collections.Generic;
using System.Data.Common;
using System.IO;
using E2m.Server.Common;
using E2m.Server.Emse.Storage;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>The EMSE storage suite, run against SQLite always and PostgreSQL when E2M_TEST_POSTGRES is set.</summary>
    public sealed class StorageTests
    {
        private sealed class Db : IDisposable
        {
            private readonly PostgresTestDatabase? _pg;
            private readonly string? _dir;

            public Db(bool postgres)
            {
                if (postgres)
                {
                    _pg = PostgresTestDatabase.Create("emse");
                    Store = new EmseStore(E2mDatabase.Postgres(_pg.ConnectionString));
                }
                else
                {
                    _dir = Path.Combine(Path.GetTempPath(), "e2m-emse-store-" + Guid.NewGuid().ToString("N"));
                    Store = new EmseStore(E2mDatabase.Sqlite(Path.Combine(_dir, "emse.db")));
                }

                Store.EnsureSchema();
                Store.EnsureSchema(); // idempotent
            }

            public EmseStore Store { get; }

            public void Dispose()
            {
                _pg?.Dispose();
                if (_dir != null)
                {
                    Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                    Directory.Delete(_dir, true);
                }
            }
        }

        private static Db Open(string provider) => new(provider == "postgres");

        private static ExchangeWrite Write(string kid, long piv, string device, params double[] values)
        {
            var readings = new List<StoredReading>();
            for (int i = 0; i < values.Length; i++)
            {
                readings.Add(new StoredReading
                {
                    DeviceId = device, Kid = kid, Piv = piv, Index = i, Name = "n" + i, Unit = i == 0 ? "Wh" : null,
                    ValueKind = 2, Number = values[i], TimeMs = 1_000_000 + piv * 1000 + i, TimeSource = "device", ReceivedMs = 5,
                });
            }

            return new ExchangeWrite
            {
                Kid = kid, Piv = piv, RequestHash = new byte[] { 1, 2, (byte)piv }, Response = new byte[] { 0x64, 0x44, (byte)piv },
                DeviceId = device, Readings = readings,
            };
        }

        public static TheoryData<string> Providers => new() { "sqlite", "postgres" };

        [SkippableTheory]
        [MemberData(nameof(Providers))]
        public void Batch_IsStoredOnce_PerKidAndPiv(string provider)
        {
            using Db db = Open(provider);
            using EmseStore.WriteSession c = db.Store.OpenSession();
            var first = new List<ExchangeWrite> { Write("k1", 1, "dev-a", 1.5, 2.5), Write("k1", 2, "dev-a", 3) };
            db.Store.CommitBatch(c, first, new List<ReplayState> { new("k1", 2, 3) }, 100);
            Assert.All(first, w => Assert.True(w.Inserted));

            // the same exchange again (a second instance, or a retry after an unknown commit outcome): not stored twice
            var again = new List<ExchangeWrite> { Write("k1", 2, "dev-a", 3), Write("k1", 3, "dev-a", 4) };
            db.Store.CommitBatch(c, again, new List<ReplayState>(), 60_100); // last-seen is refreshed at most once a minute
            Assert.False(again[0].Inserted);
            Assert.True(again[1].Inserted);
            Assert.Equal(4, db.Store.CountReadings());

            List<StoredReading> rs = db.Store.QueryReadings("dev-a", long.MinValue, long.MaxValue, 100);
            Assert.Equal(new double?[] { 1.5, 2.5, 3, 4 }, rs.ConvertAll(r => r.Number));
            Assert.Equal("Wh", rs[0].Unit);
            Assert.Null(rs[1].Unit);
            Assert.Equal(2, db.Store.QueryReadings("dev-a", 1_002_000, 1_003_001, 100).Count); // [from, to)
            Assert.Single(db.Store.QueryReadings("dev-a", long.MinValue, long.MaxValue, 1));
            DeviceSummary d = Assert.Single(db.Store.ListDevices());
            Assert.Equal(("dev-a", "k1", 100L, 60_100L), (d.DeviceId, d.Kid, d.FirstSeenMs, d.LastSeenMs));
        }

        [SkippableTheory]
        [MemberData(nameof(Providers))]
        public void ReplayWindow_IsPersisted_AndNeverMovesBackwards(string provider)
        {
            using Db db = Open(provider);
            using EmseStore.WriteSession c = db.Store.OpenSession();
            Assert.False(db.Store.TryLoadReplay(c.Connection, "k1", out _, out _));
            db.Store.CommitBatch(c, new List<ExchangeWrite>(), new List<ReplayState> { new("k1", 40, 0xFFFFFFFFu) }, 1);
            Assert.True(db.Store.TryLoadReplay(c.Connection, "k1", out long h, out uint m));
            Assert.Equal((40L, 0xFFFFFFFFu), (h, m));
            db.Store.CommitBatch(c, new List<ExchangeWrite>(), new List<ReplayState> { new("k1", 39, 1) }, 2); // stale writer
            Assert.True(db.Store.TryLoadReplay(c.Connection, "k1", out h, out m));
            Assert.Equal((40L, 0xFFFFFFFFu), (h, m));
            db.Store.CommitBatch(c, new List<ExchangeWrite>(), new List<ReplayState> { new("k1", 1L << 39, 5) }, 3);
            Assert.True(db.Store.TryLoadReplay(c.Connection, "k1", out h, out m));
            Assert.Equal((1L << 39, 5u), (h, m));
        }

        [SkippableTheory]
        [MemberData(nameof(Providers))]
        public void Exchanges_AreFoundWithinTheLifetime_AndPurged(string provider)
        {
            using Db db = Open(provider);
            using EmseStore.WriteSession c = db.Store.OpenSession();
            db.Store.CommitBatch(c, new List<ExchangeWrite> { Write("k9", 7, "dev-b") }, new List<ReplayState>(), 1000);
            Assert.True(db.Store.TryLoadExchange(c.Connection, "k9", 7, 1000, out byte[] hash, out byte[] response));
            Assert.Equal(new byte[] { 1, 2, 7 }, hash);
            Assert.Equal(new byte[] { 0x64, 0x44, 7 }, response);
            Assert.False(db.Store.TryLoadExchange(c.Connection, "k9", 7, 1001, out _, out _));   // older than the lifetime
            Assert.False(db.Store.TryLoadExchange(c.Connection, "k9", 8, 0, out _, out _));
            Assert.Equal(0, db.Store.PurgeExchanges(1000));
            Assert.Equal(1, db.Store.PurgeExchanges(1001));
            Assert.False(db.Store.TryLoadExchange(c.Connection, "k9", 7, 0, out _, out _));
            Assert.Empty(db.Store.ListDevices()); // a batch without readings (e.g. bad SenML) does not create a device
        }

        [SkippableTheory]
        [MemberData(nameof(Providers))]
        public void AllValueKinds_RoundTrip(string provider)
        {
            using Db db = Open(provider);
            using EmseStore.WriteSession c = db.Store.OpenSession();
            var w = Write("k2", 1, "dev-c");
            w.Readings = new List<StoredReading>
            {
                new() { DeviceId = "dev-c", Kid = "k2", Piv = 1, Index = 0, Name = "i", ValueKind = 1, Integer = long.MaxValue, Number = long.MaxValue, TimeMs = 1, TimeSource = "device" },
                new() { DeviceId = "dev-c", Kid = "k2", Piv = 1, Index = 1, Name = "s", ValueKind = 3, Text = "héllo", TimeMs = 2, TimeSource = "arrival" },
                new() { DeviceId = "dev-c", Kid = "k2", Piv = 1, Index = 2, Name = "b", ValueKind = 4, Boolean = true, TimeMs = 3, TimeSource = "device" },
                new() { DeviceId = "dev-c", Kid = "k2", Piv = 1, Index = 3, Name = "f", ValueKind = 2, Number = -0.1, TimeMs = 4, TimeSource = "device" },
            };
            db.Store.CommitBatch(c, new List<ExchangeWrite> { w }, new List<ReplayState>(), 1);
            List<StoredReading> rs = db.Store.QueryReadings("dev-c", long.MinValue, long.MaxValue, 10);
            Assert.Equal(long.MaxValue, rs[0].Integer);
            Assert.Equal("héllo", rs[1].Text);
            Assert.Equal("arrival", rs[1].TimeSource);
            Assert.True(rs[2].Boolean);
            Assert.Equal(-0.1, rs[3].Number);
        }
    }
}

using System;
using System.Collections.Generic;
using System.Data.Common;
using System.IO;
using System.Security.Cryptography;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Emks.Storage;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// The storage suite of the EMKS, run against SQLite (always) and PostgreSQL (env E2M_TEST_POSTGRES; skipped outside
    /// CI when unset, failing in CI). Same SQL, same assertions (DESIGN.md §6: same test suite against both).
    /// </summary>
    public abstract class StoreSuite : IDisposable
    {
        protected static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);

        private readonly byte[] _kek = RandomNumberGenerator.GetBytes(32);
        private SqlEmksStore? _store;

        protected abstract E2mDatabase CreateDatabase();

        protected SqlEmksStore Store
        {
            get
            {
                if (_store == null)
                {
                    _store = new SqlEmksStore(CreateDatabase(), new AtRestProtector(_kek));
                    _store.EnsureSchema();
                    _store.EnsureSchema(); // idempotent
                }

                return _store;
            }
        }

        public abstract void Dispose();

        protected static KeyRecord Key(byte fill, DateTimeOffset expires, string[]? emses = null, byte[]? rand = null, DateTimeOffset? grace = null) => new()
        {
            Kid = new byte[] { 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, fill },
            IntKey = Fill(32, fill),
            Expires = expires,
            GraceDeadline = grace,
            SubscriptionId = "sub-" + fill,
            ExternalId = fill % 2 == 0 ? null : "ext-" + fill,
            AllowedEmseIds = emses ?? new[] { "emse.example.org" },
            Rand = rand,
            MaxMessages = fill == 7 ? 1000 : null,
            Created = T0,
        };

        protected static byte[] Fill(int n, byte v)
        {
            var b = new byte[n];
            Array.Fill(b, v);
            return b;
        }

        [SkippableFact]
        public async Task Keys_round_trip_sealed_and_indexed_by_kid_prefix_and_rand()
        {
            byte[] rand = Fill(16, 0xAA);
            await Store.UpsertKeysAsync(new[] { Key(1, T0.AddDays(30), new[] { "a.example", "b.example" }, rand), Key(7, T0.AddDays(1)) });
            KeyRecord? k = await Store.FindKeyAsync(Key(1, T0).Kid);
            Assert.NotNull(k);
            Assert.Equal(Fill(32, 1), k!.IntKey);
            Assert.Equal(T0.AddDays(30), k.Expires);
            Assert.Equal(new[] { "a.example", "b.example" }, k.AllowedEmseIds);
            Assert.Equal("ext-1", k.ExternalId);
            Assert.Equal("sub-1", k.SubscriptionId);
            Assert.Equal(rand, k.Rand);
            Assert.False(k.Used);
            Assert.Null(k.GraceDeadline);
            Assert.Equal(1000, (await Store.FindKeyAsync(Key(7, T0).Kid))!.MaxMessages);

            IReadOnlyList<KeyRecord> byPrefix = await Store.FindKeysByPrefixAsync(new byte[] { 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16 });
            Assert.Equal(2, byPrefix.Count);
            Assert.Equal(Key(1, T0).Kid, (await Store.FindKeyByRandAsync(rand))!.Kid);
            Assert.Null(await Store.FindKeyByRandAsync(Fill(16, 0xBB)));
            Assert.Null(await Store.FindKeyAsync(Fill(8, 0x99)));

            // the at-rest column does not hold the key; a blob moved to another row fails to open
            await using DbConnection c = await Store.Database.OpenAsync();
            await using DbCommand cmd = Store.Database.Command(c, null, "SELECT sealed_key FROM emks_key WHERE kid = @k", ("k", Key(1, T0).Kid));
            byte[] blob = (byte[])(await cmd.ExecuteScalarAsync())!;
            Assert.Equal(-1, blob.AsSpan().IndexOf(Fill(32, 1)));
            Store.Database.Execute(c, null, "UPDATE emks_key SET sealed_key = @b WHERE kid = @k", ("b", blob), ("k", Key(7, T0).Kid));
            await Assert.ThrowsAsync<CryptographicException>(() => Store.FindKeyAsync(Key(7, T0).Kid));
        }

        [SkippableFact]
        public async Task Upsert_is_idempotent_and_keeps_usage()
        {
            await Store.UpsertKeyAsync(Key(2, T0.AddDays(1)));
            await Store.MarkUsedAsync(Key(2, T0).Kid);
            await Store.UpsertKeyAsync(Key(2, T0.AddDays(2)));
            KeyRecord k = (await Store.FindKeyAsync(Key(2, T0).Kid))!;
            Assert.True(k.Used);
            Assert.Equal(T0.AddDays(2), k.Expires);
        }

        [SkippableFact]
        public async Task Grace_deadline_set_only_while_unused_cleared_by_use_and_purge_honours_both_expiries()
        {
            await Store.UpsertKeysAsync(new[] { Key(2, T0.AddDays(1)), Key(4, T0.AddDays(1)), Key(6, T0.AddMinutes(5)) });
            await Store.SetGraceDeadlineAsync(Key(2, T0).Kid, T0.AddMinutes(10));
            await Store.SetGraceDeadlineAsync(Key(4, T0).Kid, T0.AddMinutes(10));
            await Store.MarkUsedAsync(Key(4, T0).Kid);
            await Store.SetGraceDeadlineAsync(Key(4, T0).Kid, T0.AddMinutes(10)); // ignored: used
            Assert.Equal(T0.AddMinutes(10), (await Store.FindKeyAsync(Key(2, T0).Kid))!.GraceDeadline);
            Assert.Null((await Store.FindKeyAsync(Key(4, T0).Kid))!.GraceDeadline);

            Assert.Equal(0, await Store.PurgeAsync(T0.AddMinutes(4)));
            Assert.Equal(1, await Store.PurgeAsync(T0.AddMinutes(5)));   // key 6: policy expiry
            Assert.Equal(1, await Store.PurgeAsync(T0.AddMinutes(10)));  // key 2: grace deadline
            Assert.NotNull(await Store.FindKeyAsync(Key(4, T0).Kid));
            Assert.Equal(1, await Store.PurgeAsync(T0.AddDays(1)));
        }

        [SkippableFact]
        public async Task Challenges_sealed_counted_and_purged()
        {
            var c = new ChallengeRecord { Kid = Key(3, T0).Kid, Rand = Fill(16, 3), Xres = Fill(8, 0x33), Expires = T0.AddMinutes(5) };
            await Store.SaveChallengeAsync(c);
            ChallengeRecord? back = await Store.FindChallengeAsync(c.Kid);
            Assert.Equal(Fill(8, 0x33), back!.Xres);
            Assert.Equal(c.Rand, back.Rand);
            Assert.Equal(c.Kid, (await Store.FindChallengeByRandAsync(c.Rand))!.Kid);
            Assert.Equal(1, await Store.CountFailedAttemptAsync(c.Kid));
            Assert.Equal(2, await Store.CountFailedAttemptAsync(c.Kid));
            Assert.Equal(0, await Store.CountFailedAttemptAsync(Fill(8, 0x77)));
            await Store.SaveChallengeAsync(c); // re-issue resets the counter
            Assert.Equal(0, (await Store.FindChallengeAsync(c.Kid))!.FailedAttempts);
            await Store.PurgeAsync(T0.AddMinutes(5));
            Assert.Null(await Store.FindChallengeAsync(c.Kid));
            await Store.SaveChallengeAsync(c);
            await Store.DeleteChallengeAsync(c.Kid);
            Assert.Null(await Store.FindChallengeAsync(c.Kid));
        }

        [SkippableFact]
        public async Task Callback_registrations()
        {
            await Store.UpsertCallbackAsync(new CallbackRegistration("a.example", "https://a.example/keys", T0));
            await Store.UpsertCallbackAsync(new CallbackRegistration("a.example", "https://a.example/v2/keys", T0));
            Assert.Equal("https://a.example/v2/keys", (await Store.FindCallbackAsync("a.example"))!.Url);
            Assert.True(await Store.DeleteCallbackAsync("a.example"));
            Assert.False(await Store.DeleteCallbackAsync("a.example"));
            Assert.Null(await Store.FindCallbackAsync("a.example"));
        }

        [SkippableFact]
        public async Task Delete_key()
        {
            await Store.UpsertKeyAsync(Key(5, T0.AddDays(1)));
            Assert.True(await Store.DeleteKeyAsync(Key(5, T0).Kid));
            Assert.False(await Store.DeleteKeyAsync(Key(5, T0).Kid));
        }
    }

    public sealed class SqliteStoreSuiteTests : StoreSuite
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "e2m-emks-store-" + Guid.NewGuid().ToString("N"));

        protected override E2mDatabase CreateDatabase() => E2mDatabase.Sqlite(Path.Combine(_dir, "emks.db"));

        public override void Dispose()
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_dir, true);
            }
            catch (IOException)
            {
            }
        }
    }

    public sealed class PostgresStoreSuiteTests : StoreSuite
    {
        private PostgresTestDatabase? _pg;

        protected override E2mDatabase CreateDatabase()
        {
            _pg = PostgresTestDatabase.Create("emks");
            return E2mDatabase.Postgres(_pg.ConnectionString);
        }

        public override void Dispose() => _pg?.Dispose();
    }
}

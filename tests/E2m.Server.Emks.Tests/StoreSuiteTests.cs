using System;
using System.Collections.Generic;
using System.Data.Common;
using System.IO;
using System.Linq;
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
        public async Task Push_registrations_device_index_and_outbox_written_with_the_key()
        {
            // device index: written with the push, replaced per subscription by the next push (policy follows the latest)
            var devices = new[] { new DeviceIndexEntry("a.example", "ext-1", "sub-1"), new DeviceIndexEntry("b.example", "ext-1", "sub-1") };
            Assert.Equal(0, await Store.UpsertKeysAsync(new[] { Key(1, T0.AddDays(1), new[] { "a.example", "b.example" }) }, devices));
            Assert.Equal("sub-1", await Store.FindSubscriptionOfDeviceAsync("a.example", "ext-1"));
            Assert.Null(await Store.FindSubscriptionOfDeviceAsync("c.example", "ext-1"));

            await Store.UpsertPushRegistrationsAsync(new[]
            {
                new PushRegistration("a.example", "sub-1", "https://a.example/keys", T0),
                new PushRegistration("b.example", "sub-1", "https://b.example/keys", T0),
                new PushRegistration("a.example", "sub-3", "https://a.example/keys", T0),
            });
            await Store.UpsertPushRegistrationsAsync(new[] { new PushRegistration("a.example", "sub-1", "https://a.example/v2/keys", T0) });
            Assert.Equal("https://a.example/v2/keys", (await Store.FindPushRegistrationAsync("a.example", "sub-1"))!.Url);
            Assert.Equal(2, (await Store.ListPushRegistrationsAsync("a.example")).Count);

            // a new key of sub-1 now allowing only a.example: one outbox row (b.example registered but no longer allowed)
            KeyRecord k = Key(1, T0.AddDays(1), new[] { "a.example" });
            Assert.Equal(1, await Store.UpsertKeysAsync(new[] { k }, new[] { new DeviceIndexEntry("a.example", "ext-1", "sub-1") }));
            Assert.Null(await Store.FindSubscriptionOfDeviceAsync("b.example", "ext-1"));
            Assert.Equal(1, await Store.CountOutboxAsync());
            long t0ms = T0.ToUnixTimeMilliseconds();
            Assert.Empty(await Store.DueOutboxAsync(t0ms - 1, 10));
            OutboxItem item = Assert.Single(await Store.DueOutboxAsync(t0ms, 10));
            Assert.Equal(k.Kid, item.Kid);
            Assert.Equal("a.example", item.EmseId);
            Assert.Equal(0, item.Attempts);
            Assert.Equal(t0ms, await Store.NextOutboxDueAsync());

            // claims are exclusive (a second instance holding the same read loses) and count the attempt
            Assert.True(await Store.ClaimOutboxAsync(item, t0ms + 60_000));
            Assert.False(await Store.ClaimOutboxAsync(item, t0ms + 60_000));
            Assert.Empty(await Store.DueOutboxAsync(t0ms + 59_999, 10));
            await Store.RescheduleOutboxAsync(item.Id, t0ms + 1000);
            OutboxItem again = Assert.Single(await Store.DueOutboxAsync(t0ms + 1000, 10));
            Assert.Equal(1, again.Attempts);
            await Store.DeleteOutboxAsync(item.Id);
            Assert.Equal(0, await Store.CountOutboxAsync());
            Assert.Null(await Store.NextOutboxDueAsync());

            Assert.Equal(1, await Store.DeletePushRegistrationsAsync("a.example", "sub-3"));
            Assert.Equal(1, await Store.DeletePushRegistrationsAsync("a.example", null));
            Assert.Equal(0, await Store.DeletePushRegistrationsAsync("a.example", null));
            Assert.Null(await Store.FindPushRegistrationAsync("a.example", "sub-1"));
        }

        private static KeyRecord SubKey(byte fill, string subscription, long version, params string[] emses) => new()
        {
            Kid = new byte[] { 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, fill },
            IntKey = Fill(32, fill),
            Expires = T0.AddDays(30),
            SubscriptionId = subscription,
            ExternalId = null,
            AllowedEmseIds = emses,
            Created = T0,
            PolicyVersion = version,
        };

        private static DeviceIndexEntry[] Index(string subscription, params string[] emses) =>
            Array.ConvertAll(emses, e => new DeviceIndexEntry(e, "dev-" + subscription + "-" + e, subscription));

        [SkippableFact]
        public async Task Policy_sync_narrows_the_keys_index_registrations_and_outbox_of_the_subscription_and_ignores_older_versions()
        {
            KeyRecord k1 = SubKey(1, "sub-p", 0, "a.example", "b.example"), k2 = SubKey(2, "sub-p", 0, "a.example", "b.example");
            KeyRecord other = SubKey(3, "sub-q", 0, "b.example");
            await Store.UpsertKeysAsync(new[] { k1, k2 }, Index("sub-p", "a.example", "b.example"));
            await Store.UpsertKeysAsync(new[] { other }, Index("sub-q", "b.example"));
            await Store.UpsertPushRegistrationsAsync(new[]
            {
                new PushRegistration("a.example", "sub-p", "https://a.example/keys", T0),
                new PushRegistration("b.example", "sub-p", "https://b.example/keys", T0),
                new PushRegistration("b.example", "sub-q", "https://b.example/keys", T0),
            });
            Assert.Equal(2, await Store.UpsertKeysAsync(new[] { SubKey(4, "sub-p", 0, "a.example", "b.example") }, Index("sub-p", "a.example", "b.example")));

            // version 1: b.example removed, an external id and a message limit set
            var v1 = new SubscriptionPolicy("sub-p", 1, true, "meter-9", new[] { "A.example" }, 500);
            PolicyApplyResult r = await Store.ApplySubscriptionPolicyAsync(v1, new[] { new DeviceIndexEntry("a.example", "meter-9", "sub-p") }, T0.AddHours(1));
            Assert.True(r.Applied);
            Assert.Equal(3, r.KeysUpdated);
            foreach (byte fill in new byte[] { 1, 2, 4 })
            {
                KeyRecord k = (await Store.FindKeyAsync(SubKey(fill, "sub-p", 0).Kid))!;
                Assert.Equal(new[] { "A.example" }, k.AllowedEmseIds);
                Assert.Equal("meter-9", k.ExternalId);
                Assert.Equal(500, k.MaxMessages);
                Assert.True(k.Allows("a.example"));
                Assert.False(k.Allows("b.example"));
            }

            Assert.Equal(new[] { "b.example" }, (await Store.FindKeyAsync(other.Kid))!.AllowedEmseIds); // another subscription: untouched
            Assert.Equal("sub-p", await Store.FindSubscriptionOfDeviceAsync("a.example", "meter-9"));
            Assert.Null(await Store.FindSubscriptionOfDeviceAsync("a.example", "dev-sub-p-a.example"));
            Assert.Null(await Store.FindSubscriptionOfDeviceAsync("b.example", "dev-sub-p-b.example"));
            Assert.Equal("sub-q", await Store.FindSubscriptionOfDeviceAsync("b.example", "dev-sub-q-b.example"));
            Assert.NotNull(await Store.FindPushRegistrationAsync("a.example", "sub-p"));
            Assert.Null(await Store.FindPushRegistrationAsync("b.example", "sub-p"));
            Assert.NotNull(await Store.FindPushRegistrationAsync("b.example", "sub-q"));
            IReadOnlyList<OutboxItem> rows = await Store.DueOutboxAsync(long.MaxValue, 10);
            OutboxItem left = Assert.Single(rows, o => o.RevokeUrl == null);
            Assert.Equal("a.example", left.EmseId);
            // b.example was registered: one revocation per key of the subscription, to its callback
            var revocations = rows.Where(o => o.RevokeUrl != null).ToList();
            Assert.All(revocations, o => Assert.Equal(("b.example", "https://b.example/keys", "sub-p"), (o.EmseId, o.RevokeUrl!, o.SubscriptionId)));
            Assert.Equal(new[] { 1, 2, 4 }, revocations.Select(o => (int)o.Kid[7]).OrderBy(x => x));
            SubscriptionPolicy known = (await Store.FindSubscriptionPolicyAsync("sub-p"))!;
            Assert.Equal((1L, true, "meter-9", 500L), (known.PolicyVersion, known.E2m, known.ExternalId, known.MaxMessages!.Value));
            Assert.Equal(new[] { "A.example" }, known.AllowedEmseIds);

            // the same version again, or an older one: nothing changes
            var stale = new SubscriptionPolicy("sub-p", 1, true, null, new[] { "b.example" }, null);
            Assert.False((await Store.ApplySubscriptionPolicyAsync(stale, Index("sub-p", "b.example"), T0.AddHours(2))).Applied);
            Assert.False((await Store.ApplySubscriptionPolicyAsync(stale with { PolicyVersion = 0 }, Index("sub-p", "b.example"), T0.AddHours(2))).Applied);
            Assert.Equal(new[] { "A.example" }, (await Store.FindKeyAsync(k1.Kid))!.AllowedEmseIds);
            Assert.Null(await Store.FindSubscriptionOfDeviceAsync("b.example", "dev-sub-p-b.example"));

            // a push that read the policy before version 1 (an AIR racing the change) is stored under version 1 and
            // keeps version 1's device index
            KeyRecord late = SubKey(5, "sub-p", 0, "a.example", "b.example");
            Assert.Equal(1, await Store.UpsertKeysAsync(new[] { late }, Index("sub-p", "a.example", "b.example")));
            KeyRecord stored = (await Store.FindKeyAsync(late.Kid))!;
            Assert.Equal(new[] { "A.example" }, stored.AllowedEmseIds);
            Assert.Equal("meter-9", stored.ExternalId);
            Assert.Equal(500, stored.MaxMessages);
            Assert.Null(await Store.FindSubscriptionOfDeviceAsync("b.example", "dev-sub-p-b.example"));
            Assert.Equal("sub-p", await Store.FindSubscriptionOfDeviceAsync("a.example", "meter-9"));
            Assert.Equal(5, await Store.CountOutboxAsync()); // a.example's delivery of the late key, nothing for b.example

            // a push with a newer version (the sync of version 2 not arrived yet) sets the policy of every key, and drops
            // a.example's registration and queued deliveries
            KeyRecord newer = SubKey(6, "sub-p", 2, "b.example");
            Assert.Equal(4, await Store.UpsertKeysAsync(new[] { newer }, Index("sub-p", "b.example"))); // a.example's revocations
            Assert.Null(await Store.FindPushRegistrationAsync("a.example", "sub-p"));
            rows = await Store.DueOutboxAsync(long.MaxValue, 10);
            Assert.Equal(4, rows.Count); // b.example allowed again: its revocations dropped; a.example's deliveries dropped
            Assert.All(rows, o => Assert.Equal(("a.example", "https://a.example/keys"), (o.EmseId, o.RevokeUrl!)));
            Assert.Equal(new[] { 1, 2, 4, 5 }, rows.Select(o => (int)o.Kid[7]).OrderBy(x => x));
            Assert.Equal("sub-p", await Store.FindSubscriptionOfDeviceAsync("b.example", "dev-sub-p-b.example"));
            foreach (byte fill in new byte[] { 1, 2, 4, 5, 6 })
            {
                Assert.Equal(new[] { "b.example" }, (await Store.FindKeyAsync(SubKey(fill, "sub-p", 0).Kid))!.AllowedEmseIds);
            }

            Assert.Equal(2, (await Store.FindSubscriptionPolicyAsync("sub-p"))!.PolicyVersion);
            Assert.False((await Store.ApplySubscriptionPolicyAsync(v1, Index("sub-p", "a.example"), T0.AddHours(3))).Applied);
        }

        [SkippableFact]
        public async Task Concurrent_pushes_and_syncs_end_with_every_key_under_the_newest_policy()
        {
            // 16 pushes that read version 0 race 8 syncs (versions 1..8, each allowing only "v{n}.example"); whatever the
            // interleaving, every stored key ends under version 8's policy and the subscription row says 8.
            SqlEmksStore store = Store; // created (and its schema) once, before the tasks: the lazy property is not thread-safe
            var tasks = new List<Task>();
            for (int i = 0; i < 16; i++)
            {
                byte fill = (byte)(100 + i);
                tasks.Add(Task.Run(() => store.UpsertKeysAsync(new[] { SubKey(fill, "sub-c", 0, "a.example") }, Index("sub-c", "a.example"))));
                if (i % 2 == 0)
                {
                    long v = i / 2 + 1;
                    string emse = "v" + v + ".example";
                    tasks.Add(Task.Run(() => store.ApplySubscriptionPolicyAsync(
                        new SubscriptionPolicy("sub-c", v, true, null, new[] { emse }, null), Index("sub-c", emse), T0.AddMinutes(v))));
                }
            }

            await Task.WhenAll(tasks);
            Assert.Equal(8, (await Store.FindSubscriptionPolicyAsync("sub-c"))!.PolicyVersion);
            for (int i = 0; i < 16; i++)
            {
                KeyRecord k = (await Store.FindKeyAsync(SubKey((byte)(100 + i), "sub-c", 0).Kid))!;
                Assert.Equal(new[] { "v8.example" }, k.AllowedEmseIds);
            }

            Assert.Equal("sub-c", await Store.FindSubscriptionOfDeviceAsync("v8.example", "dev-sub-c-v8.example"));
            Assert.Null(await Store.FindSubscriptionOfDeviceAsync("a.example", "dev-sub-c-a.example"));
        }

        [SkippableFact]
        public async Task Revocation_deletes_the_subscription_and_refuses_older_pushes_until_a_newer_version_and_its_tombstone_is_purged()
        {
            await Store.UpsertKeysAsync(new[] { SubKey(1, "sub-r", 3, "a.example"), SubKey(2, "sub-r", 3, "a.example") }, Index("sub-r", "a.example"));
            await Store.UpsertKeysAsync(new[] { SubKey(3, "sub-s", 0, "a.example") }, Index("sub-s", "a.example"));
            await Store.UpsertPushRegistrationsAsync(new[]
            {
                new PushRegistration("a.example", "sub-r", "https://a.example/keys", T0),
                new PushRegistration("a.example", "sub-s", "https://a.example/keys", T0),
            });
            await Store.UpsertKeysAsync(new[] { SubKey(4, "sub-r", 3, "a.example") }, Index("sub-r", "a.example"));
            await Store.UpsertKeysAsync(new[] { SubKey(7, "sub-s", 0, "a.example") }, Index("sub-s", "a.example"));
            Assert.Equal(2, await Store.CountOutboxAsync());

            var revoke = new SubscriptionPolicy("sub-r", 4, false, null, Array.Empty<string>(), null);
            PolicyApplyResult r = await Store.ApplySubscriptionPolicyAsync(revoke, Array.Empty<DeviceIndexEntry>(), T0.AddHours(1));
            Assert.True(r.Applied);
            Assert.Equal(3, r.KeysRevoked);
            foreach (byte fill in new byte[] { 1, 2, 4 })
            {
                Assert.Null(await Store.FindKeyAsync(SubKey(fill, "sub-r", 0).Kid));
            }

            Assert.Null(await Store.FindSubscriptionOfDeviceAsync("a.example", "dev-sub-r-a.example"));
            Assert.Equal("sub-s", await Store.FindSubscriptionOfDeviceAsync("a.example", "dev-sub-s-a.example"));
            Assert.Null(await Store.FindPushRegistrationAsync("a.example", "sub-r"));
            Assert.NotNull(await Store.FindPushRegistrationAsync("a.example", "sub-s"));
            IReadOnlyList<OutboxItem> due = await Store.DueOutboxAsync(long.MaxValue, 10);
            Assert.Equal("sub-s", Assert.Single(due, o => o.RevokeUrl == null).SubscriptionId); // sub-s's delivery stays
            var revocations = due.Where(o => o.RevokeUrl != null).ToList();
            Assert.All(revocations, o => Assert.Equal(("a.example", "https://a.example/keys", "sub-r"), (o.EmseId, o.RevokeUrl!, o.SubscriptionId)));
            Assert.Equal(new[] { 1, 2, 4 }, revocations.Select(o => (int)o.Kid[7]).OrderBy(x => x));
            Assert.NotNull(await Store.FindKeyAsync(SubKey(3, "sub-s", 0).Kid));

            // pushes of the revoked or an older version: refused, nothing stored
            foreach (long v in new long[] { 4, 3, 0 })
            {
                var e = await Assert.ThrowsAsync<SubscriptionRevokedException>(() =>
                    Store.UpsertKeysAsync(new[] { SubKey(8, "sub-s", 0, "a.example"), SubKey(9, "sub-r", v, "a.example") }, Index("sub-r", "a.example")));
                Assert.Equal(4, e.KnownVersion);
                Assert.Null(await Store.FindKeyAsync(SubKey(9, "sub-r", 0).Kid));
                Assert.Null(await Store.FindKeyAsync(SubKey(8, "sub-s", 0).Kid)); // the whole push, atomically
            }

            // purge: the tombstone stays through the retention, then goes
            await Store.PurgeAsync(T0.AddHours(1) + SqlEmksStore.TombstoneRetention - TimeSpan.FromSeconds(1));
            Assert.False((await Store.FindSubscriptionPolicyAsync("sub-r"))!.E2m);
            await Store.PurgeAsync(T0.AddHours(1) + SqlEmksStore.TombstoneRetention);
            Assert.Null(await Store.FindSubscriptionPolicyAsync("sub-r"));
            Assert.NotNull(await Store.FindSubscriptionPolicyAsync("sub-s")); // live subscriptions are kept

            // e2m on again at the HSS (a newer version): pushes are accepted
            Assert.Equal(0, await Store.UpsertKeysAsync(new[] { SubKey(9, "sub-r", 5, "a.example") }, Index("sub-r", "a.example")));
            Assert.NotNull(await Store.FindKeyAsync(SubKey(9, "sub-r", 0).Kid));
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

    /// <summary>The hot-key cache in front of the store: serves sealed rows, invalidated by writes through this instance.</summary>
    public sealed class KeyCacheTests : IDisposable
    {
        private static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "e2m-emks-cache-" + Guid.NewGuid().ToString("N"));

        public void Dispose()
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

        private static KeyRecord Key(byte fill, string emse) => new()
        {
            Kid = new byte[] { 1, 2, 3, 4, 5, 6, 7, fill },
            IntKey = Enumerable.Repeat(fill, 32).ToArray(),
            Expires = T0.AddDays(1),
            SubscriptionId = "sub",
            AllowedEmseIds = new[] { emse },
            Created = T0,
        };

        [Fact]
        public async Task Cached_rows_stay_sealed_and_writes_through_this_instance_invalidate()
        {
            var db = E2mDatabase.Sqlite(Path.Combine(_dir, "emks.db"));
            var cache = new KeyCache(new KeyCacheOptions { Ttl = TimeSpan.FromHours(1), Capacity = 10 });
            var store = new SqlEmksStore(db, new AtRestProtector(RandomNumberGenerator.GetBytes(32)), cache);
            store.EnsureSchema();
            await store.UpsertKeyAsync(Key(1, "a.example"));
            KeyRecord first = (await store.FindKeyAsync(Key(1, "x").Kid))!;
            Assert.Equal(1, cache.Count);
            KeyRecord second = (await store.FindKeyAsync(Key(1, "x").Kid))!;
            Assert.Equal(1, cache.Hits);
            Assert.NotSame(first.IntKey, second.IntKey); // a fresh plaintext copy per lookup: zeroising one leaves the cache intact
            CryptographicOperations.ZeroMemory(first.IntKey);
            Assert.Equal(Enumerable.Repeat((byte)1, 32).ToArray(), (await store.FindKeyAsync(Key(1, "x").Kid))!.IntKey);
            Assert.Single(await store.FindKeysByPrefixAsync(new byte[] { 1, 2, 3, 4, 5, 6, 7 })); // same entry for the 7-octet kid

            // a write behind the cache's back is not seen (that is what the TTL bounds) ...
            await using (DbConnection c = await db.OpenAsync())
            {
                db.Execute(c, null, "UPDATE emks_key SET allowed_emse = '[\"b.example\"]'");
            }

            Assert.Equal(new[] { "a.example" }, (await store.FindKeyAsync(Key(1, "x").Kid))!.AllowedEmseIds);
            // ... a write through the store is
            await store.UpsertKeyAsync(Key(1, "c.example"));
            Assert.Equal(new[] { "c.example" }, (await store.FindKeyAsync(Key(1, "x").Kid))!.AllowedEmseIds);
            await store.MarkUsedAsync(Key(1, "x").Kid);
            Assert.True((await store.FindKeyAsync(Key(1, "x").Kid))!.Used);
            await store.DeleteKeyAsync(Key(1, "x").Kid);
            Assert.Null(await store.FindKeyAsync(Key(1, "x").Kid));

            // bounded
            for (byte i = 0; i < 30; i++)
            {
                var k = new KeyRecord { Kid = new byte[] { 9, i, 0, 0, 0, 0, 0, 1 }, IntKey = new byte[32], Expires = T0.AddDays(1), SubscriptionId = "s", AllowedEmseIds = new[] { "a.example" }, Created = T0 };
                await store.UpsertKeyAsync(k);
                Assert.NotNull(await store.FindKeyAsync(k.Kid));
                Assert.True(cache.Count <= 10, "cache above its capacity");
            }
        }

        [Fact]
        public async Task Sqlite_pragmas_run_once_per_native_connection_not_per_open()
        {
            var db = E2mDatabase.Sqlite(Path.Combine(_dir, "pragmas.db"));
            await using (DbConnection c = await db.OpenAsync())
            {
                Assert.Equal("wal", (string)db.Scalar(c, null, "PRAGMA journal_mode")!);
                Assert.Equal(1L, (long)db.Scalar(c, null, "PRAGMA foreign_keys")!);
            }

            long before = E2mDatabase.SqliteConnectionsInitialised;
            for (int i = 0; i < 50; i++)
            {
                await using DbConnection c = await db.OpenAsync();
                Assert.Equal(1L, (long)db.Scalar(c, null, "PRAGMA foreign_keys")!); // still set on the pooled connection
                Assert.Equal(30000L, (long)db.Scalar(c, null, "PRAGMA busy_timeout")!);
            }

            // other tests in this process may open their own databases meanwhile: allow a few, not one per open
            Assert.True(E2mDatabase.SqliteConnectionsInitialised - before < 25, "PRAGMAs ran on (almost) every open");
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

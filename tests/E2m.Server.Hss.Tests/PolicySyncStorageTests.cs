using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Hss.Emks;
using E2m.Server.Hss.Subscribers;
using E2m.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace E2m.Server.Hss.Tests
{
    /// <summary>
    /// HSS → EMKS policy sync below HTTP (SQLite always, PostgreSQL with E2M_TEST_POSTGRES): policy_version, the outbox written in
    /// the transaction of the change, and the dispatcher driven pass by pass on a fake clock against a scripted EMKS client.
    /// </summary>
    public abstract class PolicySyncStorageSuite
    {
        private const string Imsi = "001010000000001";
        private static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);

        protected abstract TestDb CreateDb();

        private static NewSubscriber E2mSubscriber(string imsi = Imsi)
        {
            NewSubscriber s = Set1.Subscriber(imsi, e2m: true);
            s.E2m.AllowedEmseIds.Add("b.example.org");
            s.E2m.MaxMessages = 1000;
            return s;
        }

        [SkippableFact]
        public void PolicyVersionStartsAtZeroAndIncrementsWithEveryUpdate()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            Assert.Equal(0, store.Add(Set1.Subscriber(Imsi)).PolicyVersion);
            Assert.Equal(1, store.Update(Imsi, new SubscriberUpdate { MinGea = 3 }).PolicyVersion);
            Assert.Equal(2, store.UpdateSubscriber(Imsi, new SubscriberUpdate { E2mEnabled = true }).Subscriber.PolicyVersion);
            Assert.Equal(3, store.Update(Imsi, new SubscriberUpdate()).PolicyVersion); // every successful update is a new version
            Assert.Equal(3, store.Get(Imsi)!.PolicyVersion);
            Assert.Equal(3, Assert.Single(store.List()).PolicyVersion);
            Assert.Throws<SubscriberValidationException>(() => store.Update(Imsi, new SubscriberUpdate { MinGea = 9 }));
            Assert.Equal(3, store.Get(Imsi)!.PolicyVersion);                    // a refused update changes nothing

            using SqnReservation r = store.ReserveSqns(Imsi, 1);
            Assert.Equal(3, r.PolicyVersion);                                    // what AirService puts into E2mSubscriberRef
        }

        /// <summary>The outbox row is the snapshot to send (no IMSI, no K/OPc), written with the change, due at once.</summary>
        [SkippableFact]
        public void UpdateOfAnE2mSubscriberQueuesThePolicySnapshotInTheSameTransaction()
        {
            using TestDb db = CreateDb();
            var clock = new FakeTimeProvider(T0);
            SubscriberStore store = db.NewStore(clock);
            SubscriberInfo added = store.Add(E2mSubscriber());
            var outbox = new EmksPolicyOutbox(db.Database);
            Assert.Equal(0, outbox.Count());                                     // provisioning queues nothing (no keys yet)

            SubscriberUpdateResult u = store.UpdateSubscriber(Imsi, new SubscriberUpdate { AllowedEmseIds = new List<string> { "b.example.org" } });
            Assert.NotNull(u.Queued);
            Assert.Equal(added.SubscriptionId, u.Queued!.SubscriptionId);
            PolicyOutboxRow row = Assert.Single(outbox.All());
            Assert.Equal(added.SubscriptionId, row.SubscriptionId);
            Assert.Equal(1, row.Policy.PolicyVersion);
            Assert.True(row.Policy.E2m);
            Assert.Equal("meter-42", row.Policy.ExternalId);
            Assert.Equal(new[] { "b.example.org" }, row.Policy.AllowedEmseIds);
            Assert.Equal(1000, row.Policy.MaxMessages);
            Assert.Equal(0, row.Attempts);
            Assert.Equal(T0.ToUnixTimeMilliseconds(), row.NextAttemptMs);

            // The raw row: exactly these columns, and nothing of the IMSI or the subscriber's secrets in any of them.
            using DbConnection c = db.Database.Open();
            using DbCommand cmd = db.Database.Command(c, null, "SELECT * FROM hss_emks_policy_outbox");
            using DbDataReader r = cmd.ExecuteReader();
            Assert.True(r.Read());
            var columns = Enumerable.Range(0, r.FieldCount).Select(r.GetName).ToArray();
            Assert.Equal(new[] { "subscription_id", "policy_version", "e2m_enabled", "external_id", "allowed_emse_ids", "max_messages", "attempts", "next_attempt", "queued_at" }, columns);
            string all = string.Join("|", Enumerable.Range(0, r.FieldCount).Select(i => Convert.ToString(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)));
            Assert.DoesNotContain(Imsi, all);
            Assert.DoesNotContain(Hex.Encode(Set1.K), all, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(Hex.Encode(Set1.Opc), all, StringComparison.OrdinalIgnoreCase);
        }

        [SkippableFact]
        public void E2mOffAndOnAreQueuedAndOnWaitsUntilTheOffIsDelivered()
        {
            using TestDb db = CreateDb();
            var clock = new FakeTimeProvider(T0);
            SubscriberStore store = db.NewStore(clock);
            store.Add(E2mSubscriber());
            var outbox = new EmksPolicyOutbox(db.Database);
            store.Update(Imsi, new SubscriberUpdate { E2mEnabled = false });   // enabled before: queued
            PolicyOutboxRow row = Assert.Single(outbox.All());
            Assert.False(row.Policy.E2m);
            Assert.Equal(1, row.Policy.PolicyVersion);
            outbox.Reschedule(row.SubscriptionId, 1, attempts: 3, nextAttemptMs: T0.ToUnixTimeMilliseconds() + 60_000);

            clock.Advance(TimeSpan.FromSeconds(10));
            // on again before the EMKS has the off: refused (it would replace v1, and the EMKS would never drop the old keys)
            Assert.Throws<PolicySyncPendingException>(() => store.Update(Imsi, new SubscriberUpdate { E2mEnabled = true }));
            Assert.Equal(1, Assert.Single(outbox.All()).Policy.PolicyVersion);
            Assert.False(outbox.Reschedule(row.SubscriptionId, 7, 5, 0));        // another version's attempt cannot touch it
            Assert.True(outbox.DeleteIfVersion(row.SubscriptionId, 1));          // delivered
            store.Update(Imsi, new SubscriberUpdate { E2mEnabled = true });    // now: queued as v2
            row = Assert.Single(outbox.All());
            Assert.True(row.Policy.E2m);
            Assert.Equal(2, row.Policy.PolicyVersion);
            Assert.Equal(0, row.Attempts);                                       // a new snapshot starts afresh, due now
            Assert.Equal(clock.GetUtcNow().ToUnixTimeMilliseconds(), row.NextAttemptMs);

            Assert.False(outbox.Reschedule(row.SubscriptionId, 1, 5, 0));        // an attempt of the old version cannot touch it
            Assert.False(outbox.DeleteIfVersion(row.SubscriptionId, 1));
            Assert.True(outbox.DeleteIfVersion(row.SubscriptionId, 2));
        }

        [SkippableFact]
        public void DeleteQueuesE2mOffWithTheNextPolicyVersion()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            string sid = store.Add(E2mSubscriber()).SubscriptionId;
            store.Update(Imsi, new SubscriberUpdate { MaxMessages = 5 });      // v1
            var outbox = new EmksPolicyOutbox(db.Database);
            Assert.True(outbox.DeleteIfVersion(sid, 1));                         // as if delivered

            SubscriberDeleteResult? d = store.DeleteSubscriber(Imsi);
            Assert.NotNull(d);
            Assert.Equal(sid, d!.SubscriptionId);
            PolicyOutboxRow row = Assert.Single(outbox.All());
            Assert.Equal(sid, row.SubscriptionId);
            Assert.Equal(2, row.Policy.PolicyVersion);                           // old version + 1: the subscriber row is gone
            Assert.False(row.Policy.E2m);
            Assert.Empty(row.Policy.AllowedEmseIds);
            Assert.Null(row.Policy.ExternalId);
            Assert.Null(row.Policy.MaxMessages);
            Assert.Null(store.Get(Imsi));
            Assert.Null(store.DeleteSubscriber(Imsi));
        }

        [SkippableFact]
        public void NonE2mSubscribersAndStoresWithoutAnEmksQueueNothing()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            var outbox = new EmksPolicyOutbox(db.Database);
            store.Add(Set1.Subscriber(Imsi));
            SubscriberUpdateResult u = store.UpdateSubscriber(Imsi, new SubscriberUpdate { MinGea = 2, AllowedEmseIds = new List<string> { "b.example.org" } });
            Assert.Null(u.Queued);
            Assert.Equal(1, u.Subscriber.PolicyVersion);
            Assert.Null(Assert.IsType<SubscriberDeleteResult>(store.DeleteSubscriber(Imsi)).Queued);
            Assert.Equal(0, outbox.Count());

            // The HSS without Hss:Emks:BaseUrl: versions still count, no rows.
            var noEmks = new SubscriberStore(db.Database, new AtRestProtector(AtRestProtector.ReadKekFile(db.KekFile)), emksPolicySync: false);
            noEmks.Add(E2mSubscriber("001010000000002"));
            Assert.Null(noEmks.UpdateSubscriber("001010000000002", new SubscriberUpdate { E2mEnabled = false }).Queued);
            Assert.Null(noEmks.DeleteSubscriber("001010000000002")!.Queued);
            Assert.Equal(0, outbox.Count());
        }

        /// <summary>A store of schema version 2 (no policy_version, no outbox) migrates: existing rows get version 0.</summary>
        [SkippableFact]
        public void SchemaVersion2MigratesToPolicyVersionZeroAndAnEmptyOutbox()
        {
            using TestDb db = CreateDb();
            db.Database.EnsureSchema(SubscriberStore.Component, SubscriberStore.Migrations.Take(2).ToArray());
            using (DbConnection c = db.Database.Open())
            {
                Assert.Equal(2L, Convert.ToInt64(db.Database.Scalar(c, null, "SELECT version FROM e2m_schema_version WHERE component = 'hss'")));

                // a row written by the previous build (its INSERT names no policy_version)
                db.Database.Execute(c, null,
                    @"INSERT INTO hss_subscriber (imsi, subscription_id, k_enc, opc_enc, seq, ind_next, amf, e2m_enabled, allowed_emse_ids,
                        key_lifetime_s, min_gea, access_key_separation, external_id, max_messages, created_at, updated_at, seq_ms)
                      VALUES ('001010000000001', '0123456789abcdef0123456789abcdef', @b, @b, 42, 1, 0, 1, '[""emse.example.org""]', 3600, 0, 0, NULL, NULL, 0, 0, 42)",
                    ("b", db.Seal(Set1.K, "001010000000001", "k"))); // sealed under the KEK: the store checks it at open
            }

            SubscriberStore store = db.NewStore();
            using (DbConnection c = db.Database.Open())
            {
                Assert.Equal((long)SubscriberStore.Migrations.Length, Convert.ToInt64(db.Database.Scalar(c, null, "SELECT version FROM e2m_schema_version WHERE component = 'hss'")));
            }

            Assert.Equal(0, store.Get(Imsi)!.PolicyVersion);
            var outbox = new EmksPolicyOutbox(db.Database);
            Assert.Equal(0, outbox.Count());
            store.Update(Imsi, new SubscriberUpdate { AllowedEmseIds = new List<string>() });
            PolicyOutboxRow row = Assert.Single(outbox.All());
            Assert.Equal(("0123456789abcdef0123456789abcdef", 1L), (row.SubscriptionId, row.Policy.PolicyVersion));
        }

        /// <summary>
        /// EMKS down: each failure reschedules with 1 s, 2 s, 4 s … capped at 5 min, never giving up; one warning line per failure
        /// with the subscription id and the status only; delivered when it comes back, row deleted.
        /// </summary>
        [SkippableFact]
        public async Task FailuresBackOffExponentiallyUpToFiveMinutesAndNeverGiveUp()
        {
            using TestDb db = CreateDb();
            var clock = new FakeTimeProvider(T0);
            SubscriberStore store = db.NewStore(clock);
            string sid = store.Add(E2mSubscriber()).SubscriptionId;
            store.Update(Imsi, new SubscriberUpdate { AllowedEmseIds = new List<string> { "b.example.org" } });
            var emks = new ScriptedPolicyClient { Next = _ => new EmksPolicyPutResult(503, "HTTP 503") };
            var logs = new CapturingLoggerProvider();
            EmksPolicyDispatcher d = NewDispatcher(db, emks, clock, logs);
            var outbox = new EmksPolicyOutbox(db.Database);

            long[] expected = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300 };
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.Equal(1, await d.DispatchDueAsync(CancellationToken.None));
                PolicyOutboxRow row = Assert.Single(outbox.All());
                Assert.Equal(i + 1, row.Attempts);
                Assert.Equal((clock.GetUtcNow() + TimeSpan.FromSeconds(expected[i])).ToUnixTimeMilliseconds(), row.NextAttemptMs);
                Assert.Equal(0, await d.DispatchDueAsync(CancellationToken.None));  // not due yet
                clock.Advance(TimeSpan.FromSeconds(expected[i]) - TimeSpan.FromMilliseconds(1));
                Assert.Equal(0, await d.DispatchDueAsync(CancellationToken.None));
                clock.Advance(TimeSpan.FromMilliseconds(1));
            }

            emks.Next = _ => new EmksPolicyPutResult(null, "connection error");
            Assert.Equal(1, await d.DispatchDueAsync(CancellationToken.None));
            Assert.Equal(13, Assert.Single(outbox.All()).Attempts);
            clock.Advance(TimeSpan.FromMinutes(5));

            emks.Next = _ => EmksPolicyPutResult.Ok(204);
            Assert.Equal(1, await d.DispatchDueAsync(CancellationToken.None));
            Assert.Equal(0, outbox.Count());
            Assert.Equal(14, emks.Calls.Count);
            Assert.All(emks.Calls, call => Assert.Equal((sid, 1L), (call.SubscriptionId, call.Policy.PolicyVersion)));
            Assert.Equal((1, 13), (d.Delivered, d.FailedAttempts));

            string[] warnings = logs.Lines.Where(l => l.StartsWith("Warning", StringComparison.Ordinal)).ToArray();
            Assert.Equal(13, warnings.Length);
            Assert.All(warnings.Take(12), w => Assert.Contains($"subscription {sid} failed: HTTP 503", w));
            Assert.Contains($"subscription {sid} failed: connection error", warnings[12]);
            Assert.All(logs.Lines, l =>
            {
                Assert.DoesNotContain(Imsi, l);
                Assert.DoesNotContain("b.example.org", l);
                Assert.DoesNotContain("meter-42", l);
            });
        }

        /// <summary>A change committed while the previous version is being sent is not lost: the 2xx of the old version leaves the
        /// row of the new one, which the next pass sends; a failure of the old version does not push the new one back.</summary>
        [SkippableFact]
        public async Task ANewerChangeWhileASendIsInFlightIsNotLost()
        {
            using TestDb db = CreateDb();
            var clock = new FakeTimeProvider(T0);
            SubscriberStore store = db.NewStore(clock);
            string sid = store.Add(E2mSubscriber()).SubscriptionId;
            store.Update(Imsi, new SubscriberUpdate { MaxMessages = 10 });      // v1
            var entered = new TaskCompletionSource();
            var release = new TaskCompletionSource<EmksPolicyPutResult>();
            var emks = new ScriptedPolicyClient { NextAsync = _ => { entered.TrySetResult(); return release.Task; } };
            EmksPolicyDispatcher d = NewDispatcher(db, emks, clock, new CapturingLoggerProvider());
            var outbox = new EmksPolicyOutbox(db.Database);

            Task<int> pass = d.DispatchDueAsync(CancellationToken.None);
            await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
            store.Update(Imsi, new SubscriberUpdate { MaxMessages = 20 });      // v2 while v1 is on the wire
            release.SetResult(EmksPolicyPutResult.Ok(204));
            Assert.Equal(1, await pass);
            PolicyOutboxRow row = Assert.Single(outbox.All());
            Assert.Equal((2L, 20L, 0), (row.Policy.PolicyVersion, row.Policy.MaxMessages!.Value, row.Attempts));

            // v2 fails while v3 is committed: v3 stays due at once, untouched by v2's backoff.
            entered = new TaskCompletionSource();
            release = new TaskCompletionSource<EmksPolicyPutResult>();
            pass = d.DispatchDueAsync(CancellationToken.None);
            await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
            store.Update(Imsi, new SubscriberUpdate { MaxMessages = 30 });      // v3
            release.SetResult(new EmksPolicyPutResult(503, "HTTP 503"));
            Assert.Equal(1, await pass);
            row = Assert.Single(outbox.All());
            Assert.Equal((3L, 0, clock.GetUtcNow().ToUnixTimeMilliseconds()), (row.Policy.PolicyVersion, row.Attempts, row.NextAttemptMs));

            emks.NextAsync = null;
            emks.Next = _ => EmksPolicyPutResult.Ok(204);
            Assert.Equal(1, await d.DispatchDueAsync(CancellationToken.None));
            Assert.Equal(0, outbox.Count());
            Assert.Equal(new long[] { 1, 2, 3 }, emks.Calls.Select(c => c.Policy.PolicyVersion).ToArray());
            Assert.Equal(30, emks.Calls[2].Policy.MaxMessages);
            Assert.All(emks.Calls, c => Assert.Equal(sid, c.SubscriptionId));
        }

        private static EmksPolicyDispatcher NewDispatcher(TestDb db, IEmksPolicyClient client, TimeProvider clock, CapturingLoggerProvider logs)
        {
            var factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
            return new EmksPolicyDispatcher(new EmksPolicyOutbox(db.Database), client, Options.Create(new EmksPolicySyncOptions()), clock,
                factory.CreateLogger<EmksPolicyDispatcher>());
        }
    }

    /// <summary>An EMKS policy client that answers what the test says and records every call.</summary>
    public sealed class ScriptedPolicyClient : IEmksPolicyClient
    {
        private readonly List<(string SubscriptionId, E2mSubscriptionPolicy Policy)> _calls = new();

        public bool Configured => true;

        public Func<E2mSubscriptionPolicy, EmksPolicyPutResult> Next { get; set; } = _ => EmksPolicyPutResult.Ok(204);

        public Func<E2mSubscriptionPolicy, Task<EmksPolicyPutResult>>? NextAsync { get; set; }

        public IReadOnlyList<(string SubscriptionId, E2mSubscriptionPolicy Policy)> Calls
        {
            get
            {
                lock (_calls)
                {
                    return _calls.ToArray();
                }
            }
        }

        public Task<EmksPolicyPutResult> PutPolicyAsync(string subscriptionId, E2mSubscriptionPolicy policy, CancellationToken ct)
        {
            lock (_calls)
            {
                _calls.Add((subscriptionId, policy));
            }

            return NextAsync != null ? NextAsync(policy) : Task.FromResult(Next(policy));
        }
    }

    /// <summary>The real policy client (EmksPushClient) over a fake handler.</summary>
    public sealed class PolicyClientTests
    {
        /// <summary>The real client maps every way a PUT can fail to a result (never an exception), with the status only.</summary>
        [Fact]
        public async Task PolicyClientMapsStatusConnectionErrorAndTimeout()
        {
            const string Sid = "0123456789abcdef0123456789abcdef";
            var policy = new E2mSubscriptionPolicy { PolicyVersion = 7, E2m = true, AllowedEmseIds = { "emse.example.org" } };
            var http = new FakeEmksHttp();
            var client = new EmksPushClient(new SingleClientFactory(http), new Uri("https://emks.example:7444"));
            EmksPolicyPutResult r = await client.PutPolicyAsync(Sid, policy, CancellationToken.None);
            Assert.True(r.Delivered);
            Assert.Equal(204, r.Status);
            FakeEmksHttp.Recorded req = Assert.Single(http.Requests);
            Assert.Equal(("PUT", "/v1/hss/subscriptions/" + Sid), (req.Method, req.Path));

            http.Status = 409;
            Assert.Equal(new EmksPolicyPutResult(409, "HTTP 409"), await client.PutPolicyAsync(Sid, policy, CancellationToken.None));
            http.Status = 0;
            Assert.Equal(new EmksPolicyPutResult(null, "connection error"), await client.PutPolicyAsync(Sid, policy, CancellationToken.None));
            http.Gate = _ => throw new TaskCanceledException("HttpClient.Timeout"); // what HttpClient throws when its timeout fires
            Assert.Equal(new EmksPolicyPutResult(null, "timeout"), await client.PutPolicyAsync(Sid, policy, CancellationToken.None));
            Assert.False(((IEmksPolicyClient)new EmksPushClient(new SingleClientFactory(http), null)).Configured);
        }

        private sealed class SingleClientFactory : IHttpClientFactory
        {
            private readonly HttpMessageHandler _handler;

            public SingleClientFactory(HttpMessageHandler handler) => _handler = handler;

            public HttpClient CreateClient(string name) => new(_handler, disposeHandler: false);
        }
    }

    public sealed class PolicySyncSqliteStorageTests : PolicySyncStorageSuite
    {
        protected override TestDb CreateDb() => TestDb.Sqlite();
    }

    public sealed class PolicySyncPostgresStorageTests : PolicySyncStorageSuite
    {
        protected override TestDb CreateDb() => TestDb.Postgres();
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Server.Common;
using E2m.Server.Emse.Storage;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// Group commit semantics (issue 6 point 3): a response leaves only after its group committed; a failed group stores
    /// nothing and answers nothing; duplicates inside one group; restart between groups; and the replay check made in the
    /// database transaction, so two EMSE instances on one database never accept the same (kid, PIV) twice.
    /// </summary>
    public sealed class GroupCommitTests
    {
        private static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);

        public static TheoryData<string> Providers => new() { "sqlite", "postgres" };

        /// <summary>A database for the test: a SQLite file in <paramref name="dir"/>, or a fresh PostgreSQL schema.</summary>
        private static (string Database, IDisposable? Pg) Database(string provider, string dir)
        {
            if (provider == "postgres")
            {
                PostgresTestDatabase pg = PostgresTestDatabase.Create("emsegc");
                return (pg.ConnectionString, pg);
            }

            return ("Data Source=" + Path.Combine(dir, "shared.db"), null);
        }

        private static ExchangeWrite Write(string kid, long piv, byte hash, params long[] values)
        {
            var readings = new List<StoredReading>();
            for (int i = 0; i < values.Length; i++)
            {
                readings.Add(new StoredReading
                {
                    DeviceId = "dev-" + kid, Kid = kid, Piv = piv, Index = i, Name = "e", ValueKind = 1, Integer = values[i], Number = values[i],
                    TimeMs = 1000 + piv, TimeSource = "device", ReceivedMs = 1,
                });
            }

            return new ExchangeWrite
            {
                Kid = kid, Piv = piv, RequestHash = new byte[] { hash, 0, 0 }, Response = new byte[] { 0x64, hash, (byte)piv }, DeviceId = "dev-" + kid,
                Readings = readings,
            };
        }

        private static EmseStore NewStore(string provider, TempDir dir, out IDisposable? pg)
        {
            (string db, pg) = Database(provider, dir.Path);
            var store = new EmseStore(E2mDatabase.Create(null, db, dir.Path, "emse.db"));
            store.EnsureSchema();
            return store;
        }

        [SkippableTheory]
        [MemberData(nameof(Providers))]
        public void OneGroup_DuplicatesAndReplays_AreDecidedAgainstThePersistedWindow(string provider)
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(provider, dir, out IDisposable? pg);
            using (pg)
            using (EmseStore.WriteSession s = store.OpenSession())
            {
                var group = new List<ExchangeWrite>
                {
                    Write("k1", 5, 0xA, 50),   // stored
                    Write("k1", 5, 0xA, 50),   // the same request again in the same group: answered with the first response
                    Write("k1", 5, 0xB, 99),   // same PIV, other content: replay
                    Write("k1", 6, 0xC, 60),   // stored
                    Write("k2", 5, 0xD, 70),   // another kid, same PIV: independent window
                };
                store.CommitGroup(s, group, 10_000, 0);
                Assert.Equal(new[] { WriteOutcome.Stored, WriteOutcome.Duplicate, WriteOutcome.Replay, WriteOutcome.Stored, WriteOutcome.Stored },
                    group.Select(w => w.Outcome));
                Assert.Equal(group[0].Response, group[1].StoredResponse);
                Assert.Equal(3, store.CountReadings());
                Assert.Equal((6L, 3u), (group[3].WindowHighest, group[3].WindowMask)); // PIVs 6 and 5

                // next group: retransmission (duplicate), an old PIV never seen (accepted inside the window), one left of it
                var next = new List<ExchangeWrite> { Write("k1", 6, 0xC, 60), Write("k1", 2, 0xE, 20), Write("k1", 40, 0xF, 400), Write("k1", 8, 0x1, 80) };
                store.CommitGroup(s, next, 20_000, 0);
                Assert.Equal(new[] { WriteOutcome.Duplicate, WriteOutcome.Stored, WriteOutcome.Stored, WriteOutcome.Replay }, next.Select(w => w.Outcome));
                Assert.Equal(5, store.CountReadings());

                // an exchange older than the lifetime is no longer answered again: replay
                var late = new List<ExchangeWrite> { Write("k1", 40, 0xF, 400) };
                store.CommitGroup(s, late, 30_000, 25_000);
                Assert.Equal(WriteOutcome.Replay, late[0].Outcome);
            }
        }

        [SkippableTheory]
        [MemberData(nameof(Providers))]
        public void FailedGroup_StoresNothing_AndTheSameRequestsAreAcceptedAfterwards(string provider)
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(provider, dir, out IDisposable? pg);
            using (pg)
            using (EmseStore.WriteSession s = store.OpenSession())
            {
                store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 1, 10) }, 1000, 0); // warms the window cache
                store.BeforeGroupCommit = _ => throw new IOException("injected commit failure");
                var group = new List<ExchangeWrite> { Write("k1", 2, 2, 20), Write("k1", 3, 3, 30), Write("k2", 0, 4, 40) };
                Assert.Throws<IOException>(() => store.CommitGroup(s, group, 2000, 0));
                Assert.All(group, w => Assert.Equal(WriteOutcome.None, w.Outcome));
                Assert.Equal(1, store.CountReadings());
                Assert.True(store.TryLoadReplay(s.Connection, "k1", out long h, out uint m));
                Assert.Equal((1L, 1u), (h, m));                                    // window as before the failed group
                Assert.False(store.TryLoadReplay(s.Connection, "k2", out _, out _));
                Assert.False(store.TryLoadExchange(s.Connection, "k1", 2, 0, out _, out _));

                store.BeforeGroupCommit = null;
                store.CommitGroup(s, group, 3000, 0);
                Assert.All(group, w => Assert.Equal(WriteOutcome.Stored, w.Outcome));
                Assert.Equal(4, store.CountReadings());
            }
        }

        [Theory]
        [InlineData(1)] // one shard: it commits its batches itself (EmseOptions.InlineCommit)
        [InlineData(2)] // two shards and the group-commit thread
        public void FailedCommit_OverUdp_NoResponse_NoPartialState_ThenTheRetransmissionIsStored(int workers)
        {
            using var dir = new TempDir();
            var emks = new FakeEmks();
            var (kid, key) = TestDevice.NewKey(new Random(31));
            emks.Add(kid, key, T0.AddDays(1), "meter-31");
            using var host = new EmseHost(dir.Path, emks, new ManualTimeProvider(T0), workers: workers);
            using var dev = new TestDevice(host.CoapEndPoint, kid, key);

            Protected p0 = dev.Build(new long[] { 1 });
            Assert.Equal(CoapCode.Changed, dev.Verify(p0, dev.Exchange(p0)));

            int failures = 0;
            host.Store.BeforeGroupCommit = _ =>
            {
                failures++;
                throw new IOException("injected commit failure");
            };
            Protected p1 = dev.Build(new long[] { 2, 3 });
            Assert.Null(host.SendOne(dev, p1.Datagram));                    // no 2.04 for a batch that is not stored
            Assert.Equal(1, failures);
            Assert.Equal(1, host.Store.CountReadings());                    // nothing of it stored
            using (System.Data.Common.DbConnection c = host.Store.Open())
            {
                Assert.True(host.Store.TryLoadReplay(c, dev.KidHex7, out long h, out _));
                Assert.Equal(0L, h);                                        // the window did not move either
            }

            host.Store.BeforeGroupCommit = null;
            byte[] r = dev.Exchange(p1);                                    // the device retransmits the same datagram
            Assert.Equal(CoapCode.Changed, dev.Verify(p1, r));
            Assert.Equal(3, host.Store.CountReadings());
            dev.Send(p1.Datagram);                                          // and once more: same response, stored once
            Assert.Equal(r, dev.Receive());
            Assert.Equal(3, host.Store.CountReadings());
        }

        [Theory]
        [InlineData(1)] // one shard: it commits its batches itself (EmseOptions.InlineCommit)
        [InlineData(2)] // two shards and the group-commit thread
        public void Full_TheResponsesWaitForTheLogSync_AndAFailedSyncAcknowledgesNothing_TheRetransmissionGetsTheStoredResponseAfterARestart(int workers)
        {
            using var dir = new TempDir();
            var emks = new FakeEmks();
            var time = new ManualTimeProvider(T0);
            var (kid, key) = TestDevice.NewKey(new Random(33));
            emks.Add(kid, key, T0.AddDays(1), "meter-33");
            using var dev = new TestDevice(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 9), kid, key);
            Protected p1;
            using (var host = new EmseHost(dir.Path, emks, time, workers: workers, settings: s => s["Emse:SqliteSynchronous"] = "FULL"))
            {
                dev.Retarget(host.CoapEndPoint);
                Assert.True(host.Store.DeferredWalSync);

                Protected p0 = dev.Build(new long[] { 1 });
                Assert.Equal(CoapCode.Changed, dev.Verify(p0, dev.Exchange(p0)));
                Assert.True(System.Threading.Interlocked.Read(ref host.Server.Stats.WalSyncs) >= 1); // the 2.04 came after an fsync

                int failures = 0;
                host.Store.BeforeWalSync = () =>
                {
                    failures++;
                    throw new IOException("injected fsync failure");
                };
                p1 = dev.Build(new long[] { 2, 3 });
                Assert.Null(host.SendOne(dev, p1.Datagram));                    // not acknowledged: the log may not be on disk
                Assert.Equal(1, failures);
                Assert.Equal(1, host.Store.CountReadings());                    // committed, but not served before the log is synced

                host.Store.BeforeWalSync = null;
                Assert.Null(host.SendOne(dev, p1.Datagram));                    // no fsync retried after a failure (EmseStore.DurabilityLost)
                Assert.Equal(1, failures);
            }

            using (var host = new EmseHost(dir.Path, emks, time, workers: workers, settings: s => s["Emse:SqliteSynchronous"] = "FULL"))
            {
                dev.Retarget(host.CoapEndPoint);
                byte[] r = dev.Exchange(p1);                                    // the device retransmits to the restarted EMSE
                Assert.Equal(CoapCode.Changed, dev.Verify(p1, r));
                Assert.Equal(3, host.Store.CountReadings());                    // stored once
                Protected p2 = dev.Build(new long[] { 4 });
                Assert.Equal(CoapCode.Changed, dev.Verify(p2, dev.Exchange(p2))); // and the device goes on
                Assert.Equal(4, host.Store.CountReadings());
            }
        }

        /// <summary>
        /// A fault while answering one request of a group (here: thrown before its response) neither stops the others'
        /// responses nor leaves it in limbo: it is forgotten, and its retransmission gets the stored response (stored once).
        /// </summary>
        [Theory]
        [InlineData(1)] // one shard: it commits its batches itself (EmseOptions.InlineCommit)
        [InlineData(2)] // two shards and the group-commit thread
        public void AFaultWhileAnsweringOneRequestLeavesTheOthersAnsweredAndItsRetransmissionServed(int workers)
        {
            using var dir = new TempDir();
            var emks = new FakeEmks();
            var (kid, key) = TestDevice.NewKey(new Random(35));
            var (kid2, key2) = TestDevice.NewKey(new Random(36));
            emks.Add(kid, key, T0.AddDays(1), "meter-35");
            emks.Add(kid2, key2, T0.AddDays(1), "meter-36");
            using var host = new EmseHost(dir.Path, emks, new ManualTimeProvider(T0), workers: workers, settings: s => s["Emse:SqliteSynchronous"] = "FULL");
            using var dev = new TestDevice(host.CoapEndPoint, kid, key);
            using var other = new TestDevice(host.CoapEndPoint, kid2, key2);
            string failing = Convert.ToHexStringLower(kid, 0, 7);
            int faults = 0;
            host.Server.BeforeAnswer = w =>
            {
                if (w.Kid == failing && System.Threading.Interlocked.Increment(ref faults) == 1)
                {
                    throw new InvalidOperationException("injected fault while answering");
                }
            };

            Protected p = dev.Build(new long[] { 1, 2 });
            Protected q = other.Build(new long[] { 3 });
            dev.Send(p.Datagram);                                             // both in flight at once: one group or two
            Assert.Equal(CoapCode.Changed, other.Verify(q, other.Exchange(q))); // the other request is answered
            host.WaitHandled(2);                                              // and the faulted one was handled (not left in limbo)
            Assert.Equal(1, System.Threading.Volatile.Read(ref faults));
            Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));   // the retransmission gets the stored response
            Assert.Equal(3, host.Store.CountReadings());                      // each stored once
            Assert.True(System.Threading.Interlocked.Read(ref host.Server.Stats.InternalErrors) >= 1);
        }

        [Theory]
        [InlineData(1)] // one shard: it commits its batches itself (EmseOptions.InlineCommit)
        [InlineData(2)] // two shards and the group-commit thread
        public void RestartBetweenGroups_LosesNothing_AndAcceptsNoReplay(int workers)
        {
            using var dir = new TempDir();
            var emks = new FakeEmks();
            var time = new ManualTimeProvider(T0);
            var (kid, key) = TestDevice.NewKey(new Random(32));
            emks.Add(kid, key, T0.AddDays(1), "meter-32");
            var sent = new List<Protected>();
            using (var host = new EmseHost(dir.Path, emks, time, workers: workers, settings: s => s["Emse:SqliteSynchronous"] = "FULL"))
            using (var dev = new TestDevice(host.CoapEndPoint, kid, key))
            {
                for (int i = 0; i < 5; i++)
                {
                    Protected p = dev.Build(new long[] { i });
                    Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));
                    sent.Add(p);
                }
            }

            using (var host = new EmseHost(dir.Path, emks, time, workers: workers))
            {
                Assert.Equal(5, host.Store.CountReadings());
                // a second device context with the same key restarts at PIV 0: other content under used PIVs = replays
                using var forger = new TestDevice(host.CoapEndPoint, kid, key);
                for (int i = 0; i < 5; i++)
                {
                    byte[] r = forger.Exchange(forger.Build(new long[] { 100 + i }));
                    CoapMessage m = Coap.Decode(r);
                    Assert.Equal(CoapCode.Unauthorized, m.Code);
                    Assert.Equal("Replay detected", System.Text.Encoding.UTF8.GetString(m.PayloadBuffer, m.PayloadOffset, m.PayloadLength));
                }

                Protected fresh = forger.Build(new long[] { 5 });           // PIV 5: new, accepted
                Assert.Equal(CoapCode.Changed, forger.Verify(fresh, forger.Exchange(fresh)));
                Assert.Equal(6, host.Store.CountReadings());
            }
        }

        /// <summary>
        /// Two EMSE instances on one database, no sticky routing: every PIV is sent with different content to A and B at
        /// the same time, and the same datagram is also retransmitted to the other instance. Exactly one of each pair is
        /// accepted, the other is 4.01 Replay detected; a retransmission to the other instance gets the stored response.
        /// </summary>
        [SkippableTheory]
        [MemberData(nameof(Providers))]
        public void TwoEmseInstances_OnOneDatabase_NeverAcceptTheSamePivTwice(string provider)
        {
            using var dirA = new TempDir();
            using var dirB = new TempDir();
            (string db, IDisposable? pg) = Database(provider, dirA.Path);
            using (pg)
            {
                var emks = new FakeEmks();
                var time = new ManualTimeProvider(T0);
                var (kid, key) = TestDevice.NewKey(new Random(33));
                emks.Add(kid, key, T0.AddDays(1), "meter-33");
                using var a = new EmseHost(dirA.Path, emks, time, database: db);
                using var b = new EmseHost(dirB.Path, emks, time, database: db);
                using var devA = new TestDevice(a.CoapEndPoint, kid, key);
                using var devB = new TestDevice(b.CoapEndPoint, kid, key); // same key and PIVs, other content
                const int n = 20;
                int acceptedA = 0;
                int acceptedB = 0;
                for (int i = 0; i < n; i++)
                {
                    Protected pa = devA.Build(new long[] { 1000 + i });
                    Protected pb = devB.Build(new long[] { 2000 + i });
                    Parallel.Invoke(() => devA.Send(pa.Datagram), () => devB.Send(pb.Datagram));
                    byte[] ra = devA.Receive();
                    byte[] rb = devB.Receive();
                    bool okA = IsAccepted(devA, pa, ra);
                    bool okB = IsAccepted(devB, pb, rb);
                    Assert.True(okA ^ okB, $"PIV {i}: exactly one instance accepts (A {okA}, B {okB}; {provider})");
                    acceptedA += okA ? 1 : 0;
                    acceptedB += okB ? 1 : 0;

                    // the accepted datagram retransmitted to the OTHER instance: the stored response, nothing stored again
                    (TestDevice winner, Protected p, byte[] first, EmseHost other) = okA ? (devA, pa, ra, b) : (devB, pb, rb, a);
                    winner.SendTo(p.Datagram, other.CoapEndPoint);
                    Assert.Equal(first, winner.Receive());
                }

                Assert.Equal(n, acceptedA + acceptedB);
                Assert.Equal(n, a.Store.CountReadings());
                using System.Data.Common.DbConnection c = a.Store.Open();
                Assert.True(a.Store.TryLoadReplay(c, devA.KidHex7, out long h, out uint m));
                Assert.Equal(n - 1, h);
                Assert.Equal(0xFFFFFu, m);
            }
        }

        private static bool IsAccepted(TestDevice dev, Protected p, byte[] response)
        {
            CoapMessage m = Coap.Decode(response);
            if (m.FindOption(CoapOption.Oscore) < 0)
            {
                Assert.Equal(CoapCode.Unauthorized, m.Code); // unprotected 4.01 Replay detected
                return false;
            }

            Assert.Equal(CoapCode.Changed, dev.Verify(p, response));
            return true;
        }
    }
}

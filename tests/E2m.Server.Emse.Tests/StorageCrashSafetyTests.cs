using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.IO;
using System.Net;
using System.Threading.Tasks;
using System.Linq;
using E2m.Coap;
using E2m.Server.Common;
using E2m.Server.Emse.Storage;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// Crash safety and containment of the SQLite store found by review (session 11): a corrupt journal row or readings
    /// block is contained, a fold never takes a journal row that is not on the disk, journal ids never fall back to or below
    /// the fold watermark, and a stored response is not sent while the WAL fsync is failing.
    /// </summary>
    public sealed class StorageCrashSafetyTests
    {
        private static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);

        private static ExchangeWrite Write(string kid, long piv, byte hash, long timeMs, string source, params long[] values) =>
            StoreTestKit.Write(kid, piv, hash, timeMs, source, values);

        private static EmseStore NewStore(string dir) => StoreTestKit.NewStore(dir);

        private static long Rows(EmseStore store, string table) => StoreTestKit.Rows(store, table);

        // A journal row whose first string length decodes negative: BinaryReader.ReadString throws IOException, not
        // EndOfStream/Format/InvalidData, so neither the fold nor the replay-state read sets it aside.
        private static readonly byte[] NegativeLengthRow = { 3, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F };

        [Fact]
        public void ACorruptJournalRowIsSetAsideAndTheStoreGoesOn()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            StoreTestKit.InsertJournalRow(store, NegativeLengthRow);

            using (EmseStore.WriteSession s = store.OpenSession())
            {
                var g = new List<ExchangeWrite> { Write("k1", 1, 1, 5000, "arrival", 10) };
                store.CommitGroup(s, g, 10_000, 0);
                Assert.Equal(WriteOutcome.Stored, g[0].Outcome);
            }

            Assert.Equal(1, store.CountReadings()); // folds: the bad row is moved aside
            Assert.Equal(1, Rows(store, "emse_journal_rejected"));
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Assert.Equal(1, NewStore(dir.Path).CountReadings()); // and the EMSE starts again
        }

        /// <summary>A fold that fails while it sets a corrupt row aside (before its watermark is written): the next fold sets
        /// the row aside instead of deleting it with the folded rows.</summary>
        [Fact]
        public void ACorruptRowLeftByAnInterruptedFoldIsStillSetAside()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            StoreTestKit.InsertJournalRow(store, new byte[] { 1, 1, 9 });
            using (DbConnection c = store.Open())
            {
                // the main database's write fails once (as SQLITE_BUSY from another process would)
                store.Database.Execute(c, null, "CREATE TRIGGER fail BEFORE INSERT ON emse_journal_rejected BEGIN SELECT RAISE(ABORT, 'injected'); END");
            }

            using (EmseStore.WriteSession s = store.OpenSession())
            {
                store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 1, 5000, "arrival", 10) }, 10_000, 0);
            }

            Assert.NotNull(Record.Exception(() => store.FoldJournal()));
            using (DbConnection c = store.Open())
            {
                store.Database.Execute(c, null, "DROP TRIGGER fail");
            }

            Assert.Equal(1, store.CountReadings()); // the next fold completes
            Assert.Equal(0, Rows(store, "emse_journal"));
            Assert.Equal(1, Rows(store, "emse_journal_rejected")); // kept aside, not deleted
        }

        [Fact]
        public void ACorruptReadingsBlockLosesOnlyItsOwnReadings()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            using (EmseStore.WriteSession s = store.OpenSession())
            {
                store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 1, 5000, "device", 10) }, 10_000, 0);
            }

            Assert.Equal(1, store.CountReadings());
            using (DbConnection c = store.Readings!.Open())
            {
                store.Readings.Database.Execute(c, null, "UPDATE emse_reading_blocks SET payload = X'0101'"); // corrupt (truncated)
            }

            using (EmseStore.WriteSession s = store.OpenSession())
            {
                // k1 re-sends its reading (new PIV after a lost 2.04): the dedupe probe meets the corrupt block; k2 is another device
                store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 2, 2, 5000, "device", 10), Write("k2", 1, 3, 7000, "device", 20) }, 11_000, 0);
            }

            Assert.Single(store.QueryReadings("dev-k2", 0, 100_000, 10));
            Assert.Single(store.QueryReadings("dev-k1", 0, 100_000, 10)); // the re-sent one; the corrupt block is skipped
            Assert.True(store.Readings.UndecodableBlocks > 0);
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Assert.Single(NewStore(dir.Path).QueryReadings("dev-k2", 0, 100_000, 10)); // and the EMSE starts again
        }

        /// <summary>
        /// FULL: a group is committed with synchronous=NORMAL and made durable by the responder's fsync. A fold before that
        /// fsync would put its readings and the watermark (synced on their own) on the disk while a power cut can still
        /// lose the row; the rolled-back journal id would then be reused by an acknowledged group and deleted as folded.
        /// </summary>
        [Fact]
        public void AFoldNeverTakesARowBeforeItsFsyncAndIdsNeverFallBelowTheWatermark()
        {
            using var dir = new TempDir();
            string main = Path.Combine(dir.Path, "emse.db");
            EmseStore store = NewStore(dir.Path);
            Assert.True(store.DeferredWalSync);
            using (DbConnection c = store.Open())
            {
                store.Database.Execute(c, null, "PRAGMA wal_checkpoint(TRUNCATE)");
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            File.Copy(main, main + ".ondisk");

            store = NewStore(dir.Path);
            store.TrackUnsyncedJournalRows = true; // as the group-commit writer sets it
            using (EmseStore.WriteSession s = store.OpenSession())
            {
                store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 1, 5000, "arrival", 10) }, 10_000, 0);
                Assert.Equal(0, store.FoldJournal(deleteFolded: false)); // not synced yet: not folded
                store.SyncWal();
                Assert.Equal(1, store.FoldJournal(deleteFolded: false)); // synced: folded
            }

            // power cut after the fold: the main database's frames since the copy are gone, the readings file's commit survived
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            File.Delete(main);
            File.Delete(main + "-wal");
            File.Delete(main + "-shm");
            File.Move(main + ".ondisk", main);

            EmseStore after = NewStore(dir.Path);
            using (EmseStore.WriteSession s = after.OpenSession())
            {
                var g = new List<ExchangeWrite> { Write("k2", 1, 2, 6000, "arrival", 77) };
                after.CommitGroup(s, g, 20_000, 0);
                Assert.Equal(WriteOutcome.Stored, g[0].Outcome);
            }

            after.SyncWal();
            List<StoredReading> k2 = after.QueryReadings("dev-k2", 0, 100_000, 10);
            Assert.Equal(77, Assert.Single(k2).Integer); // the new group got an id above the watermark and was folded, not deleted
        }

        /// <summary>
        /// A failed fsync of the write-ahead log is not retried (on Linux the pages it could not write are marked clean, so
        /// a later fsync that succeeds proves nothing): from then on the EMSE acknowledges nothing, neither stored responses
        /// nor new groups, /health says Unhealthy, and after a restart on the same data directory it answers from what the
        /// disk holds.
        /// </summary>
        [Theory]
        [InlineData(1)] // one shard: it commits its batches itself (EmseOptions.InlineCommit)
        [InlineData(2)] // two shards and the group-commit thread
        public async Task AfterAFailedWalFsyncNothingIsAcknowledgedUntilARestart(int workers)
        {
            using var dir = new TempDir();
            var emks = new FakeEmks();
            var time = new ManualTimeProvider(T0);
            var (kid, key) = TestDevice.NewKey(new Random(33));
            emks.Add(kid, key, T0.AddDays(1), "meter-33");
            var (kid2, key2) = TestDevice.NewKey(new Random(34));
            emks.Add(kid2, key2, T0.AddDays(1), "meter-34");
            using var dev = new TestDevice(new IPEndPoint(IPAddress.Loopback, 9), kid, key);
            using var other = new TestDevice(new IPEndPoint(IPAddress.Loopback, 9), kid2, key2);
            Protected p1, q;
            using (var host = new EmseHost(dir.Path, emks, time, workers: workers, settings: s => s["Emse:SqliteSynchronous"] = "FULL"))
            {
                dev.Retarget(host.CoapEndPoint);
                other.Retarget(host.CoapEndPoint);
                Protected p0 = dev.Build(new long[] { 1 });
                Assert.Equal(CoapCode.Changed, dev.Verify(p0, dev.Exchange(p0)));

                bool failing = true;
                host.Store.BeforeWalSync = () =>
                {
                    if (failing)
                    {
                        throw new IOException("injected fsync failure");
                    }
                };
                p1 = dev.Build(new long[] { 2, 3 });
                Assert.Null(host.SendOne(dev, p1.Datagram)); // not acknowledged: the fsync failed
                failing = false;                             // the disk answers again, but nothing proves the log is on it
                Assert.Null(host.SendOne(dev, p1.Datagram)); // the retransmission is not answered from the store
                q = other.Build(new long[] { 4 });
                Assert.Null(host.SendOne(other, q.Datagram)); // nor another device's new batch
                Assert.True(host.Store.DurabilityLost);
                using System.Net.Http.HttpResponseMessage health = await host.Http.GetAsync("/health");
                Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, health.StatusCode);
                Assert.Contains("\"wal-fsync\":\"Unhealthy\"", await health.Content.ReadAsStringAsync());
            }

            using (var host = new EmseHost(dir.Path, emks, time, workers: workers, settings: s => s["Emse:SqliteSynchronous"] = "FULL"))
            {
                dev.Retarget(host.CoapEndPoint);
                other.Retarget(host.CoapEndPoint);
                Assert.False(host.Store.DurabilityLost);
                Assert.Equal(CoapCode.Changed, dev.Verify(p1, dev.Exchange(p1)));   // committed before the failure: from the store
                Assert.Equal(CoapCode.Changed, other.Verify(q, other.Exchange(q))); // never committed: stored now
                Assert.Equal(4, host.Store.CountReadings());                        // each once
            }
        }
    }
}

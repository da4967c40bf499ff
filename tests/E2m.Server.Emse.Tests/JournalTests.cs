using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using E2m.Coap;
using E2m.Server.Common;
using E2m.Server.Emse.Storage;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// The SQLite group journal: a group commit appends one emse_journal row (exchanges + readings) with the replay
    /// windows; folds move the rows into emse_exchanges / emse_readings. What must hold: a 2.04 still means durable (a
    /// restart folds what was left), every read sees journalled data (retransmission lookups, readings, counts), a
    /// corrupt row is refused and kept, and per device the readings keep their arrival order.
    /// </summary>
    public sealed class JournalTests
    {
        private static ExchangeWrite Write(string kid, long piv, byte hash, long timeMs, params long[] values) =>
            StoreTestKit.Write(kid, piv, hash, timeMs, "arrival", values);

        private static EmseStore NewStore(string dir) => StoreTestKit.NewStore(dir);

        private static long Rows(EmseStore store, string table) => StoreTestKit.Rows(store, table);

        /// <summary>Readings in the readings file's blocks, without folding first.</summary>
        private static long ReadingRows(EmseStore store)
        {
            using DbConnection c = store.Readings!.Open();
            return Convert.ToInt64(store.Readings.Database.Scalar(c, null, "SELECT COALESCE(SUM(count), 0) FROM emse_reading_blocks"), CultureInfo.InvariantCulture);
        }

        [Fact]
        public void GroupCommit_AppendsOneJournalRow_ItsReplayStateGoesToTheReplayRowWhenFolded_AReadFolds()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            Assert.True(store.UsesJournal);
            Assert.Equal(Path.Combine(dir.Path, "emse-readings.db"), store.Readings!.FilePath);
            using EmseStore.WriteSession s = store.OpenSession();
            var group = new List<ExchangeWrite> { Write("k1", 1, 1, 5000, 10, 11), Write("k2", 1, 2, 5000, 20), Write("k1", 2, 3, 5000, 12) };
            store.CommitGroup(s, group, 10_000, 0);

            Assert.All(group, w => Assert.Equal(WriteOutcome.Stored, w.Outcome));
            Assert.Equal(1, Rows(store, "emse_journal"));
            Assert.Equal(0, Rows(store, "emse_exchanges"));
            Assert.Equal(0, Rows(store, "emse_readings"));
            Assert.Equal(0, ReadingRows(store));
            Assert.Equal(3, store.JournalBacklog);
            Assert.Equal(0, Rows(store, "emse_replay")); // the windows are in the journal row only
            using (DbConnection c = store.Open())
            {
                Assert.True(store.TryLoadReplay(c, "k1", out long h, out uint m)); // row + journal
                Assert.Equal((2L, 3u), (h, m));
            }

            Assert.Equal(4, store.CountReadings()); // a read folds first
            Assert.Equal(0, Rows(store, "emse_journal"));
            using (DbConnection c = store.Open())
            {
                // deleting the journal rows applied their state first: k1's window and last exchange, k2's window
                Assert.Equal(2L, store.Database.Scalar(c, null, "SELECT last_piv FROM emse_replay WHERE kid = 'k1'"));
                Assert.Equal(3L, store.Database.Scalar(c, null, "SELECT mask FROM emse_replay WHERE kid = 'k1'"));
                Assert.Equal(1L, store.Database.Scalar(c, null, "SELECT highest FROM emse_replay WHERE kid = 'k2'"));
            }

            Assert.Equal(4, ReadingRows(store));
            Assert.Equal(0, store.JournalBacklog);
        }

        [Fact]
        public void Retransmission_OfTheLastExchange_GetsTheStoredResponse_AndStoresNothingTwice()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            using EmseStore.WriteSession s = store.OpenSession();
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 7, 0xA, 5000, 70) }, 10_000, 0);
            Assert.Equal(1, Rows(store, "emse_journal"));

            // the next group: the same request (response lost), the same PIV with other bytes, and a new PIV
            var next = new List<ExchangeWrite> { Write("k1", 7, 0xA, 5000, 70), Write("k1", 7, 0xB, 5000, 71), Write("k1", 8, 0xC, 6000, 80) };
            store.CommitGroup(s, next, 11_000, 0);
            Assert.Equal(new[] { WriteOutcome.Duplicate, WriteOutcome.Replay, WriteOutcome.Stored }, next.Select(w => w.Outcome));
            Assert.Equal(new byte[] { 0x64, 0xA, 7 }, next[0].StoredResponse);
            Assert.Equal(2, store.CountReadings());

            // a shard's lookup on its own connection; only the kid's last exchange is kept (NSTART = 1)
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 9, 0xD, 7000, 90) }, 12_000, 0);
            using DbConnection other = store.Open();
            Assert.True(store.TryLoadExchange(other, "k1", 9, 0, out byte[] hash, out byte[] response));
            Assert.Equal(new byte[] { 0xD, 1, 2 }, hash);
            Assert.Equal(new byte[] { 0x64, 0xD, 9 }, response);
            Assert.False(store.TryLoadExchange(other, "k1", 8, 0, out _, out _));
            Assert.False(store.TryLoadExchange(other, "k1", 9, 12_001, out _, out _)); // older than EXCHANGE_LIFETIME allows
        }

        [Fact]
        public void Restart_FoldsWhatTheJournalHolds()
        {
            using var dir = new TempDir();
            EmseStore first = NewStore(dir.Path);
            using (EmseStore.WriteSession s = first.OpenSession())
            {
                first.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 1, 5000, 10), Write("k2", 4, 2, 5000, 40) }, 10_000, 0);
                first.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 2, 3, 5000, 20) }, 11_000, 0);
            }

            Assert.Equal(2, Rows(first, "emse_journal")); // "crash": the process stops before any fold
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

            EmseStore second = NewStore(dir.Path); // start-up folds
            Assert.Equal(0, Rows(second, "emse_journal"));
            Assert.Equal(3, ReadingRows(second));
            using EmseStore.WriteSession s2 = second.OpenSession();
            var again = new List<ExchangeWrite> { Write("k1", 2, 3, 5000, 20), Write("k1", 1, 9, 5000, 99), Write("k2", 5, 4, 5000, 50) };
            second.CommitGroup(s2, again, 12_000, 0);
            Assert.Equal(new[] { WriteOutcome.Duplicate, WriteOutcome.Replay, WriteOutcome.Stored }, again.Select(w => w.Outcome));
            Assert.Equal(4, second.CountReadings());
        }

        [Fact]
        public void AFoldInterruptedBeforeTheJournalDelete_IsCompleted_WithoutStoringTwice()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            using EmseStore.WriteSession s = store.OpenSession();
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 1, 5000, 10) }, 10_000, 0);
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 2, 2, 5000, 20) }, 11_000, 0);

            // the folder thread: readings and watermark in the readings file; the journal rows are left for the writer
            Assert.Equal(2, store.FoldJournal(deleteFolded: false));
            Assert.Equal(2, ReadingRows(store));
            Assert.Equal(2, Rows(store, "emse_journal"));

            // a fold now (another process, or after a crash) finds the watermark: nothing is stored twice
            Assert.Equal(0, store.FoldJournal());
            Assert.Equal(0, Rows(store, "emse_journal"));
            Assert.Equal(2, ReadingRows(store));

            // and the writer's own delete of folded rows, in its next group transaction
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 3, 3, 5000, 30) }, 12_000, 0);
            Assert.Equal(1, store.FoldJournal(deleteFolded: false));
            Assert.Equal(1, Rows(store, "emse_journal"));
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 4, 4, 5000, 40) }, 13_000, 0);
            Assert.Equal(1, Rows(store, "emse_journal")); // only the new group's row is left
            Assert.Equal(4, store.CountReadings());
        }

        [Fact]
        public void Fold_KeepsEachDevicesArrivalOrder_AcrossInterleavedGroups()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            using EmseStore.WriteSession s = store.OpenSession();
            // the same time stamp everywhere: only the id (arrival order) orders them
            for (int g = 0; g < 5; g++)
            {
                store.CommitGroup(s, new List<ExchangeWrite> { Write("kb", g, (byte)g, 5000, 200 + g), Write("ka", g, (byte)g, 5000, 100 + g, 150 + g) },
                    10_000 + g, 0);
            }

            Assert.Equal(new long[] { 100, 150, 101, 151, 102, 152, 103, 153, 104, 154 },
                store.QueryReadings("dev-ka", 0, 10_000, 100).Select(r => r.Integer!.Value));
            Assert.Equal(new long[] { 200, 201, 202, 203, 204 }, store.QueryReadings("dev-kb", 0, 10_000, 100).Select(r => r.Integer!.Value));
        }

        [Fact]
        public void CorruptJournalRow_IsSetAside_Whole_AndTheRestIsFolded()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            StoreTestKit.InsertJournalRow(store, new byte[] { 1, 1, 9 });

            using (EmseStore.WriteSession s = store.OpenSession())
            {
                store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 1, 5000, 10) }, 10_000, 0);
            }

            Assert.Equal(1, store.FoldJournal());
            Assert.Equal(1, store.RejectedJournalRows);
            Assert.Equal(0, Rows(store, "emse_journal"));
            Assert.Equal(1, Rows(store, "emse_journal_rejected")); // kept for inspection, nothing lost
            Assert.Equal(1, store.CountReadings());
        }

        [Fact]
        public void Upgrade_ReadingsInTheMainDatabase_MoveToTheReadingsFile_WithTheirDedupe()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            using (DbConnection c = store.Open())
            {
                // the schema as version 3 left it: readings in the main database under two indexes
                store.Database.Execute(c, null, "DROP INDEX emse_readings_key");
                store.Database.Execute(c, null, "CREATE INDEX emse_readings_device_time ON emse_readings (device_id, time_ms)");
                store.Database.Execute(c, null, "CREATE UNIQUE INDEX emse_readings_once ON emse_readings (device_id, name, time_ms) WHERE time_source = 'device'");
                store.Database.Execute(c, null, "ALTER TABLE emse_replay DROP COLUMN last_ms");
                store.Database.Execute(c, null, "ALTER TABLE emse_replay DROP COLUMN last_response");
                store.Database.Execute(c, null, "ALTER TABLE emse_replay DROP COLUMN last_hash");
                store.Database.Execute(c, null, "ALTER TABLE emse_replay DROP COLUMN last_piv");
                store.Database.Execute(c, null, "UPDATE e2m_schema_version SET version = 3 WHERE component = 'emse'");
                store.Database.Execute(c, null,
                    "INSERT INTO emse_readings (device_id, kid, piv, idx, name, value_kind, value_int, time_ms, time_source, received_ms) VALUES " +
                    "('dev-k1', 'k1', 1, 0, 'e', 1, 10, 5000, 'device', 1), ('dev-k1', 'k1', 2, 0, 'e', 1, 20, 5000, 'arrival', 1)");
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            EmseStore upgraded = NewStore(dir.Path);
            using (DbConnection c = upgraded.Open())
            {
                Assert.Equal("emse_readings_key", upgraded.Database.Scalar(c, null, "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'emse_readings'"));
            }

            Assert.Equal(0, Rows(upgraded, "emse_readings"));
            Assert.Equal(2, ReadingRows(upgraded));
            using (EmseStore.WriteSession s = upgraded.OpenSession())
            {
                var again = Write("k1", 3, 3, 5000, 10); // the device-time reading re-sent under a new PIV
                again.Readings![0].TimeSource = "device";
                upgraded.CommitGroup(s, new List<ExchangeWrite> { again, Write("k1", 4, 4, 5000, 20) }, 10_000, 0);
            }

            Assert.Equal(3, upgraded.CountReadings()); // the arrival-time reading is new, the device-time one is not
            Assert.Equal(new long[] { 10, 20, 20 }, upgraded.QueryReadings("dev-k1", 0, 10_000, 10).Select(r => r.Integer!.Value));
        }

        public static TheoryData<string, byte[]> CorruptRows => new()
        {
            { "empty", Array.Empty<byte>() },
            { "unknown version", new byte[] { 4, 0 } },
            { "v3 unknown entry flags", new byte[] { 3, 1, 1, (byte)'k', 1, 0, 0, 0, 0, 0, 0, 0, 1, (byte)'d', 2, 1, 0 } },
            { "v3 truncated state", new byte[] { 3, 1, 1, (byte)'k', 1, 0, 0, 0, 0, 0, 0, 0, 1, (byte)'d', 1, 5, 0 } },
            { "v3 readings length mismatch", new byte[] { 3, 1, 1, (byte)'k', 1, 0, 0, 0, 0, 0, 0, 0, 1, (byte)'d', 0, 2, 0, 0 } },
            { "truncated entry", new byte[] { 1, 1, 2, (byte)'k' } },
            { "count out of range", new byte[] { 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F } },
            { "trailing bytes", new byte[] { 1, 0, 0 } },
        };

        [Theory]
        [MemberData(nameof(CorruptRows))]
        public void Decode_RefusesMalformedRows(string label, byte[] row)
        {
            Assert.False(string.IsNullOrEmpty(label));
            Assert.Throws<InvalidDataException>(() => GroupJournal.Decode(row));
            var into = new List<ExchangeWrite>();
            if ((row.Length == 0 || row[0] >= 3) && !label.Contains("length mismatch", StringComparison.Ordinal)) // the state pass skips the readings unread
            {
                Assert.Throws<InvalidDataException>(() => GroupJournal.DecodeState(row, into));
                Assert.Empty(into);
            }
        }

        [Fact]
        public void Codec_Version3_CarriesTheReplayState_AndTheStateAloneIsReadWithoutTheReadings()
        {
            ExchangeWrite a = Write("k1", 7, 0xA, 5000, 70, 71);
            (a.WindowHighest, a.WindowMask) = (9, 0b101);
            ExchangeWrite b = Write("k2", 1L << 39, 0xB, 6000);
            (b.WindowHighest, b.WindowMask) = (1L << 39, 1);
            byte[] row = GroupJournal.EncodeInto(new List<ExchangeWrite> { a, b }, new MemoryStream(), withState: true).ToArray();

            List<ExchangeWrite> back = GroupJournal.Decode(row);
            Assert.Equal(new[] { 2, 0 }, back.Select(e => e.Readings?.Count ?? 0));
            var state = new List<ExchangeWrite>();
            GroupJournal.DecodeState(row, state);
            Assert.Equal(2, state.Count);
            foreach ((ExchangeWrite original, ExchangeWrite e) in new[] { (a, back[0]), (b, back[1]), (a, state[0]), (b, state[1]) })
            {
                Assert.Equal((original.Kid, original.Piv, original.DeviceId), (e.Kid, e.Piv, e.DeviceId));
                Assert.Equal((original.WindowHighest, original.WindowMask), (e.WindowHighest, e.WindowMask));
                Assert.Equal(original.RequestHash, e.RequestHash);
                Assert.Equal(original.Response, e.Response);
            }

            // without state (CommitBatch's rows): DecodeState finds nothing
            state.Clear();
            GroupJournal.DecodeState(GroupJournal.EncodeInto(new List<ExchangeWrite> { a }, new MemoryStream()).ToArray(), state);
            Assert.Empty(state);
        }

        [Fact]
        public void ReplayState_OnlyInTheJournal_IsAuthoritative_ForANewWriterSession_AndForShardLookups()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            using (EmseStore.WriteSession s = store.OpenSession())
            {
                store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 5, 0xA, 5000, 50), Write("k2", 3, 0xB, 5000, 30) }, 10_000, 0);
                store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 6, 0xC, 6000, 60) }, 11_000, 0);
            }

            Assert.Equal(2, Rows(store, "emse_journal"));
            Assert.Equal(0, Rows(store, "emse_replay"));

            // a fresh session (as after a writer restart): its window cache starts from the row merged with the journal
            using (EmseStore.WriteSession s = store.OpenSession())
            {
                var next = new List<ExchangeWrite>
                {
                    Write("k1", 6, 0xC, 6000, 60),  // k1's last exchange again: its stored response
                    Write("k1", 5, 0xA, 5000, 50),  // older exchange of k1: in the window, not the last one: replay
                    Write("k2", 3, 0xE, 5000, 99),  // k2's PIV with other content: replay
                    Write("k2", 2, 0xF, 5000, 20),  // older PIV never seen: inside the window, accepted
                };
                store.CommitGroup(s, next, 12_000, 0);
                Assert.Equal(new[] { WriteOutcome.Duplicate, WriteOutcome.Replay, WriteOutcome.Replay, WriteOutcome.Stored }, next.Select(w => w.Outcome));
                Assert.Equal(new byte[] { 0x64, 0xC, 6 }, next[0].StoredResponse);
            }

            using (DbConnection c = store.Open())
            {
                Assert.True(store.TryLoadReplay(c, "k2", out long h, out uint m));
                Assert.Equal((3L, 0b11u), (h, m));
                Assert.True(store.TryLoadExchange(c, "k1", 6, 0, out byte[] hash, out byte[] response));
                Assert.Equal(new byte[] { 0xC, 1, 2 }, hash);
                Assert.Equal(new byte[] { 0x64, 0xC, 6 }, response);
            }

            Assert.Equal(4, store.CountReadings());
            Assert.Equal(0, Rows(store, "emse_journal"));
            using (EmseStore.WriteSession s = store.OpenSession())
            {
                var again = new List<ExchangeWrite> { Write("k1", 6, 0xC, 6000, 60), Write("k2", 2, 0xF, 5000, 20), Write("k2", 4, 0x1, 7000, 40) };
                store.CommitGroup(s, again, 13_000, 0);
                Assert.Equal(new[] { WriteOutcome.Duplicate, WriteOutcome.Replay, WriteOutcome.Stored }, again.Select(w => w.Outcome));
            }

            Assert.Equal(5, store.CountReadings());
        }

        [Fact]
        public void AnotherConnectionsFold_AppliesTheJournalState_AndTheWritersCacheFollows()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            using EmseStore.WriteSession s = store.OpenSession();
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 0xA, 1000, 10) }, 10_000, 0);
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 2, 0xB, 2000, 20) }, 10_001, 0);
            Assert.Equal(2, store.FoldJournal()); // a reader's fold on its own connection: applies, then deletes
            Assert.Equal(0, Rows(store, "emse_journal"));

            var next = new List<ExchangeWrite> { Write("k1", 2, 0xB, 2000, 20), Write("k1", 1, 0xA, 1000, 10), Write("k1", 3, 0xC, 3000, 30) };
            store.CommitGroup(s, next, 10_002, 0);
            Assert.Equal(new[] { WriteOutcome.Duplicate, WriteOutcome.Replay, WriteOutcome.Stored }, next.Select(w => w.Outcome));

            // the writer's own delete of folded rows (the folder thread's FoldedUpTo) applies them too
            Assert.Equal(1, store.FoldJournal(deleteFolded: false));
            Assert.Equal(1, Rows(store, "emse_journal"));
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 4, 0xD, 4000, 40) }, 10_003, 0);
            Assert.Equal(1, Rows(store, "emse_journal")); // only the new group's row is left
            using (DbConnection c = store.Open())
            {
                Assert.Equal(3L, store.Database.Scalar(c, null, "SELECT last_piv FROM emse_replay WHERE kid = 'k1'"));
                Assert.Equal(0b111L, store.Database.Scalar(c, null, "SELECT mask FROM emse_replay WHERE kid = 'k1'"));
            }

            Assert.Equal(4, store.CountReadings());
        }

        [Fact]
        public void TheInProcessCopiesOfJournalRows_GiveTheSameReadingsAndReplayState_AsDecodingTheRows()
        {
            // Two stores, the same groups: one folds and applies from its copies of the rows it committed (JournalMemo),
            // the other reads and decodes every row (as after a restart). Readings and emse_replay must be identical.
            using var dirA = new TempDir();
            using var dirB = new TempDir();
            EmseStore withCopies = NewStore(dirA.Path);
            EmseStore decoding = NewStore(dirB.Path);
            decoding.UseJournalMemo = false;
            foreach (EmseStore store in new[] { withCopies, decoding })
            {
                using EmseStore.WriteSession s = store.OpenSession();
                for (int g = 0; g < 6; g++)
                {
                    var group = new List<ExchangeWrite>
                    {
                        Write("k1", 2 * g, (byte)g, 5000 + g, 100 + g, 200 + g),
                        Write("k2", g, (byte)(g + 50), 6000 + g, 300 + g),
                        Write("k1", 2 * g + 1, (byte)(g + 100), 7000 + g),
                    };
                                        store.CommitGroup(s, group, 10_000 + g, 0);
                    if (g == 2)
                    {
                        store.FoldJournal(deleteFolded: false); // the folder thread: the writer applies and deletes
                    }
                }

                Assert.Equal(3, Rows(store, "emse_journal")); // groups 3..5; 0..2 still there until the next group deletes them
                store.CommitGroup(s, new List<ExchangeWrite> { Write("k3", 1, 9, 9000, 900) }, 10_100, 0);
                Assert.Equal(4, Rows(store, "emse_journal")); // the writer applied and deleted the folded rows 0..2
            }

            Assert.Equal(4, withCopies.JournalMemoRows); // its copies of the deleted rows are gone with them
            Assert.Equal(0, decoding.JournalMemoRows);
            Assert.Equal(withCopies.CountReadings(), decoding.CountReadings()); // a read folds (and deletes) the rest
            Assert.Equal(0, withCopies.JournalMemoRows);
            foreach (string device in new[] { "dev-k1", "dev-k2", "dev-k3" })
            {
                Assert.Equal(
                    System.Text.Json.JsonSerializer.Serialize(decoding.QueryReadings(device, long.MinValue, long.MaxValue, 1000)),
                    System.Text.Json.JsonSerializer.Serialize(withCopies.QueryReadings(device, long.MinValue, long.MaxValue, 1000)));
            }

            string Replay(EmseStore store)
            {
                using DbConnection c = store.Open();
                using DbCommand cmd = store.Database.Command(c, null,
                    "SELECT kid, highest, mask, last_piv, hex(last_hash), hex(last_response), last_ms FROM emse_replay ORDER BY kid");
                using DbDataReader r = cmd.ExecuteReader();
                var rows = new List<string>();
                while (r.Read())
                {
                    rows.Add(string.Join("|", Enumerable.Range(0, r.FieldCount).Select(i => Convert.ToString(r.GetValue(i), CultureInfo.InvariantCulture))));
                }

                return string.Join("\n", rows);
            }

            Assert.Equal(Replay(decoding), Replay(withCopies));
            Assert.Contains("k1|11|", Replay(withCopies)); // k1's highest PIV is 2 * 5 + 1
        }

        [Fact]
        public void RowsAnotherProcessDeleted_TakeThisProcesssCopiesAlong()
        {
            using var dir = new TempDir();
            EmseStore first = NewStore(dir.Path);
            using EmseStore.WriteSession s = first.OpenSession();
            first.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 1, 5000, 10) }, 10_000, 0);
            first.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 2, 2, 5000, 20) }, 10_001, 0);
            Assert.Equal(2, first.JournalMemoRows);

            EmseStore other = NewStore(dir.Path);  // another process on the same files: its start-up fold
            Assert.Equal(0, Rows(other, "emse_journal")); // applied and deleted both rows (decoded: it has no copies)

            first.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 3, 3, 5000, 30) }, 10_002, 0);
            Assert.Equal(1, first.JournalMemoRows);        // only the row just written; the deleted rows' copies are gone
            Assert.Equal(3, first.CountReadings());
        }

        [Fact]
        public void FoldedRows_WaitInTheJournal_UntilJournalApplyEntriesAreFolded_ThenOneGroupAppliesAndDeletesThemAll()
        {
            using var dir = new TempDir();
            var store = new EmseStore(E2mDatabase.Create(null, "", dir.Path, "emse.db")) { JournalApplyEntries = 4 };
            store.EnsureSchema();
            using EmseStore.WriteSession s = store.OpenSession();
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 1, 5000, 10), Write("k2", 1, 2, 5000, 20) }, 10_000, 0);
            store.FoldJournal(deleteFolded: false);                             // 2 exchanges folded: fewer than 4
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 2, 3, 5000, 11) }, 10_001, 0);
            Assert.Equal(2, Rows(store, "emse_journal"));                      // nothing applied or deleted yet
            Assert.Equal(0, Rows(store, "emse_replay"));
            store.FoldJournal(deleteFolded: false);                             // 3 folded
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 3, 4, 5000, 12) }, 10_002, 0);
            Assert.Equal(3, Rows(store, "emse_journal"));
            store.FoldJournal(deleteFolded: false);                             // 4 folded: the next group applies them
            store.CommitGroup(s, new List<ExchangeWrite> { Write("k2", 2, 5, 5000, 21) }, 10_003, 0);
            Assert.Equal(1, Rows(store, "emse_journal"));                      // only the last group's row is left
            using (DbConnection c = store.Open())
            {
                Assert.Equal(3L, store.Database.Scalar(c, null, "SELECT highest FROM emse_replay WHERE kid = 'k1'"));
                Assert.Equal(7L, store.Database.Scalar(c, null, "SELECT mask FROM emse_replay WHERE kid = 'k1'"));
                Assert.Equal(1L, store.Database.Scalar(c, null, "SELECT highest FROM emse_replay WHERE kid = 'k2'"));
                Assert.True(store.TryLoadReplay(c, "k2", out long h, out uint m)); // row + the journal row still there
                Assert.Equal((2L, 3u), (h, m));
            }

            Assert.Equal(5, store.CountReadings());
        }

        [Fact]
        public void SyncWal_SyncsTheLogFile_OrNothingWhenThereIsNone()
        {
            using var dir = new TempDir();
            var store = new EmseStore(E2mDatabase.Create(null, "", dir.Path, "emse.db"), "FULL");
            Assert.True(store.DeferredWalSync);
            store.SyncWal(); // no log file yet: nothing to do
            store.EnsureSchema();
            using (EmseStore.WriteSession s = store.OpenSession())
            {
                store.CommitGroup(s, new List<ExchangeWrite> { Write("k1", 1, 1, 5000, 10) }, 10_000, 0);
                Assert.Equal(1L, store.Database.Scalar(s.Connection, null, "PRAGMA synchronous")); // NORMAL: the responder syncs
                Assert.True(File.Exists(Path.Combine(dir.Path, "emse.db-wal")));
                store.SyncWal();
            }

            Assert.False(new EmseStore(E2mDatabase.Create(null, "", dir.Path, "emse.db"), "NORMAL").DeferredWalSync);
        }

        [Fact]
        public void Codec_RoundTripsEveryValueKind_AndOptionalField()
        {
            var readings = new List<StoredReading>
            {
                new() { DeviceId = "d", Kid = "k", Piv = 3, Index = 0, Name = "urn:dev:x:temp", Unit = "Cel", ValueKind = 2, Number = -12.5, TimeMs = -5, TimeSource = "device", ReceivedMs = 9 },
                new() { DeviceId = "d", Kid = "k", Piv = 3, Index = 1, Name = "n", ValueKind = 1, Integer = long.MinValue, Number = 1e300, TimeMs = long.MaxValue, TimeSource = "arrival", ReceivedMs = 9 },
                new() { DeviceId = "d", Kid = "k", Piv = 3, Index = 2, Name = "s", ValueKind = 3, Text = "grüße ✓", TimeMs = 0, TimeSource = "device", ReceivedMs = 9 },
                new() { DeviceId = "d", Kid = "k", Piv = 3, Index = 300, Name = "b", ValueKind = 4, Boolean = false, TimeMs = 1, TimeSource = "device", ReceivedMs = 9 },
                new() { DeviceId = "other", Kid = "k9", Piv = 1L << 39, Index = 4, Name = "t", ValueKind = 4, Boolean = true, TimeMs = 1, TimeSource = "device", ReceivedMs = 9 },
            };
            var entries = new List<ExchangeWrite>
            {
                new() { Kid = "k", Piv = 3, RequestHash = new byte[16], Response = new byte[] { 1, 2, 3 }, DeviceId = "d", Readings = readings },
                new() { Kid = "k2", Piv = 0, DeviceId = "d2", Readings = null },
            };

            List<ExchangeWrite> back = GroupJournal.Decode(GroupJournal.EncodeInto(entries, new MemoryStream()).ToArray());
            Assert.Equal(2, back.Count);
            Assert.Equal(("k", 3L, "d"), (back[0].Kid, back[0].Piv, back[0].DeviceId));
            Assert.Equal(("k2", 0L, "d2"), (back[1].Kid, back[1].Piv, back[1].DeviceId));
            Assert.Null(back[1].Readings);
            Assert.Equal(
                System.Text.Json.JsonSerializer.Serialize(readings),
                System.Text.Json.JsonSerializer.Serialize(back[0].Readings));
        }

        [Fact]
        public void Codec_ReadsVersion1Rows()
        {
            var row = new MemoryStream();
            using (var w = new BinaryWriter(row, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                w.Write((byte)1);
                w.Write7BitEncodedInt(1);
                w.Write("k1");
                w.Write(7L);
                w.Write7BitEncodedInt(2);
                w.Write(new byte[] { 0xA, 0xB });              // request hash
                w.Write7BitEncodedInt(1);
                w.Write(new byte[] { 0x64 });                  // response
                w.Write("dev-k1");
                w.Write7BitEncodedInt(1);                       // one reading, every field written
                w.Write((byte)(1 | 4));                         // unit, integer
                w.Write("dev-k1");
                w.Write("k1");
                w.Write(7L);
                w.Write7BitEncodedInt(0);
                w.Write("e");
                w.Write7BitEncodedInt(1);
                w.Write("Wh");
                w.Write(42L);
                w.Write(5000L);
                w.Write("device");
                w.Write(6000L);
            }

            ExchangeWrite e = Assert.Single(GroupJournal.Decode(row.ToArray()));
            Assert.Equal(new byte[] { 0xA, 0xB }, e.RequestHash);
            StoredReading r = Assert.Single(e.Readings!);
            Assert.Equal(("dev-k1", "k1", 7L, "e", "Wh", 42L, 5000L, "device", 6000L), (r.DeviceId, r.Kid, r.Piv, r.Name, r.Unit, r.Integer!.Value, r.TimeMs, r.TimeSource, r.ReceivedMs));
        }

        [Fact]
        public void TheFolderThread_FoldsOnceTheBacklogReachesTheThreshold()
        {
            using var dir = new TempDir();
            var emks = new FakeEmks();
            var time = new ManualTimeProvider(new DateTimeOffset(2026, 11, 28, 8, 0, 0, TimeSpan.Zero));
            using var host = new EmseHost(dir.Path, emks, time, settings: s =>
            {
                s["Emse:JournalFoldEntries"] = "2";
                s["Emse:JournalIdleFold"] = "00:00:00"; // only the folder thread folds here
            });
            var (kid, key) = TestDevice.NewKey(new Random(5));
            emks.Add(kid, key, time.GetUtcNow().AddDays(1), "meter-5");
            using var dev = new TestDevice(host.CoapEndPoint, kid, key, 5);
            for (int i = 0; i < 4; i++)
            {
                Protected p = dev.Build(new long[] { i });
                Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));
            }

            // the folder is woken after the commit that reached the threshold (after the responses): wait for it. The
            // backlog is a trigger, not a count (a fold may take rows committed after the wake-up), so the first fold
            // is what is certain; a read folds the rest.
            SpinWait.SpinUntil(() => Interlocked.Read(ref host.Server.Stats.Folds) >= 1 && ReadingRows(host.Store) >= 2, TimeSpan.FromSeconds(30));
            Assert.True(ReadingRows(host.Store) >= 2);
            Assert.True(Interlocked.Read(ref host.Server.Stats.Folds) >= 1);
            Assert.Equal(0, Interlocked.Read(ref host.Server.Stats.FoldFailures));
            Assert.Equal(4, host.Store.CountReadings());
        }
    }
}

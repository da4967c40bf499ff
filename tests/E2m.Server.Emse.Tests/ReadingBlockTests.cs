using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.IO;
using System.Linq;
using E2m.Server.Common;
using E2m.Server.Emse.Storage;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// The SQLite readings file stores a device's readings in blocks (one row per device per fold, ReadingBlock). What
    /// must hold: the blocks give back every field; a payload that does not decode is refused whole; a query returns
    /// exactly what a row per reading would (time range, order by time then arrival, limit), checked against a plain
    /// model over random data; a device-time reading is stored once across folds; files and databases of the older
    /// layouts are converted without loss or duplicates.
    /// </summary>
    public sealed class ReadingBlockTests
    {
        private static EmseStore NewStore(string dir)
        {
            var store = new EmseStore(E2mDatabase.Create(null, "", dir, "emse.db"));
            store.EnsureSchema();
            return store;
        }

        private static StoredReading Reading(string device, string kid, long piv, int index, string name, long timeMs, bool deviceTime, long value) => new()
        {
            DeviceId = device, Kid = kid, Piv = piv, Index = index, Name = name, ValueKind = 1, Integer = value, Number = value,
            TimeMs = timeMs, TimeSource = deviceTime ? "device" : "arrival", ReceivedMs = 1_000_000 + piv,
        };

        private static string Json(IEnumerable<StoredReading> r) => System.Text.Json.JsonSerializer.Serialize(r);

        [Fact]
        public void Codec_RoundTripsEveryField_KidAndPivChanges_AndNegativeDeltas()
        {
            var readings = new List<StoredReading>
            {
                new() { DeviceId = "d", Kid = "k", Piv = 3, Index = 0, Name = "urn:dev:x:temp", Unit = "Cel", ValueKind = 2, Number = -12.5, TimeMs = 5_000, TimeSource = "device", ReceivedMs = 9 },
                new() { DeviceId = "d", Kid = "k", Piv = 3, Index = 1, Name = "n", ValueKind = 1, Integer = long.MinValue, Number = 1e300, TimeMs = long.MaxValue, TimeSource = "arrival", ReceivedMs = 8 },
                new() { DeviceId = "d", Kid = "k", Piv = 4, Index = 0, Name = "s", ValueKind = 3, Text = "grüße ✓", TimeMs = long.MinValue, TimeSource = "device", ReceivedMs = long.MaxValue },
                new() { DeviceId = "d", Kid = "k2", Piv = 1L << 39, Index = 300, Name = "b", ValueKind = 4, Boolean = false, TimeMs = -1, TimeSource = "device", ReceivedMs = -5 },
                new() { DeviceId = "d", Kid = "k2", Piv = 1L << 39, Index = 301, Name = "t", ValueKind = 4, Boolean = true, TimeMs = 0, TimeSource = "other", ReceivedMs = 0 },
            };

            byte[] payload = ReadingBlock.Encode(readings, 0, readings.Count, new MemoryStream());
            var back = new List<StoredReading>();
            ReadingBlock.Decode(payload, "d", back);
            Assert.Equal(Json(readings), Json(back));

            // a slice
            back.Clear();
            ReadingBlock.Decode(ReadingBlock.Encode(readings, 2, 2, new MemoryStream()), "d", back);
            Assert.Equal(Json(readings.Skip(2).Take(2)), Json(back));
        }

        public static TheoryData<string, byte[]> CorruptPayloads => new()
        {
            { "empty", Array.Empty<byte>() },
            { "unknown version", new byte[] { 2, 1 } },
            { "no readings", new byte[] { 1, 0 } },
            { "count out of range", new byte[] { 1, 0xFF, 0xFF, 0x03 } },
            { "first reading refers to a previous one", new byte[] { 1, 1, 64 | 128, 0, 1, (byte)'n', 1, 0, 0 } },
            { "truncated", new byte[] { 1, 1, 128, 1, (byte)'k', 3, 0, 1, (byte)'n' } },
            { "trailing bytes", new byte[] { 1, 1, 128, 1, (byte)'k', 3, 0, 1, (byte)'n', 1, 0, 0, 0 } },
        };

        [Theory]
        [MemberData(nameof(CorruptPayloads))]
        public void Decode_RefusesMalformedPayloads_AndAddsNothing(string label, byte[] payload)
        {
            Assert.False(string.IsNullOrEmpty(label));
            var into = new List<StoredReading> { Reading("d", "k", 1, 0, "x", 1, true, 1) };
            Assert.Throws<InvalidDataException>(() => ReadingBlock.Decode(payload, "d", into));
            Assert.Single(into);
        }

        [Fact]
        public void Decode_AcceptsTheWellFormedNeighbourOfTheCorruptCases()
        {
            var into = new List<StoredReading>();
            ReadingBlock.Decode(new byte[] { 1, 1, 128, 1, (byte)'k', 3, 0, 1, (byte)'n', 1, 0, 0 }, "d", into);
            StoredReading r = Assert.Single(into);
            Assert.Equal(("k", 3L, "n", "device"), (r.Kid, r.Piv, r.Name, r.TimeSource));
        }

        /// <summary>
        /// Random exchanges of three devices over many groups and folds (ties in time, times going back, arrival-time
        /// readings, device-time readings re-sent under a new PIV, one fold larger than a block): every query equals
        /// the model "a row per reading, a device-time (device, time, name) kept once, ordered by time then arrival".
        /// </summary>
        [Theory]
        [InlineData(1)]
        [InlineData(2)]
        [InlineData(3)]
        public void Query_EqualsARowPerReadingModel_OverRandomFoldsAndRanges(int seed)
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            var rng = new Random(seed);
            var model = new List<StoredReading>();
            var seen = new HashSet<(string, long, string)>();
            string[] devices = { "dev-a", "dev-b", "dev-c" };
            var piv = new Dictionary<string, long>();
            var sent = new List<StoredReading>();
            using (EmseStore.WriteSession s = store.OpenSession())
            {
                for (int group = 0; group < 60; group++)
                {
                    var writes = new List<ExchangeWrite>();
                    foreach (string device in devices.OrderBy(_ => rng.Next()).Take(rng.Next(1, 4)))
                    {
                        string kid = "kid-" + device;
                        long p = piv[device] = piv.TryGetValue(device, out long last) ? last + 1 : 0;
                        var readings = new List<StoredReading>();
                        int n = group == 30 && device == "dev-a" ? 5000 : rng.Next(1, 6);
                        for (int i = 0; i < n; i++)
                        {
                            StoredReading r;
                            if (sent.Count > 0 && rng.Next(8) == 0)
                            {
                                StoredReading old = sent[rng.Next(sent.Count)]; // re-sent under a new PIV
                                r = Reading(device, kid, p, i, old.Name, old.TimeMs, old.TimeSource == "device", old.Integer!.Value);
                            }
                            else
                            {
                                r = Reading(device, kid, p, i, "m" + rng.Next(3).ToString(CultureInfo.InvariantCulture), rng.Next(0, 400) * 10L, rng.Next(4) != 0, rng.Next());
                            }

                            readings.Add(r);
                            sent.Add(r);
                        }

                        writes.Add(new ExchangeWrite
                        {
                            Kid = kid, Piv = p, DeviceId = device, RequestHash = new byte[] { (byte)p, 1 }, Response = new byte[] { 0x64, (byte)p }, Readings = readings,
                        });
                    }

                    store.CommitGroup(s, writes, 10_000 + group, 0);
                    foreach (ExchangeWrite w in writes)
                    {
                        foreach (StoredReading r in w.Readings!)
                        {
                            if (r.TimeSource != "device" || seen.Add((r.DeviceId, r.TimeMs, r.Name)))
                            {
                                model.Add(r);
                            }
                        }
                    }

                    if (rng.Next(4) == 0)
                    {
                        store.FoldJournal(); // folds of different sizes, a block per device each
                    }
                }
            }

            Assert.Equal(model.Count, store.CountReadings());
            for (int q = 0; q < 200; q++)
            {
                string device = devices[rng.Next(devices.Length)];
                long from = rng.Next(-2, 420) * 10L;
                long to = from + rng.Next(0, 200) * 10L;
                int limit = q % 3 == 0 ? 100_000 : rng.Next(0, 30);
                List<StoredReading> expected = model
                    .Select((r, arrival) => (r, arrival))
                    .Where(x => x.r.DeviceId == device && x.r.TimeMs >= from && x.r.TimeMs < to)
                    .OrderBy(x => x.r.TimeMs).ThenBy(x => x.arrival)
                    .Take(limit).Select(x => x.r).ToList();
                Assert.Equal(Json(expected), Json(store.QueryReadings(device, from, to, limit)));
            }
        }

        /// <summary>
        /// Blocks are visited in (device, last time) order, not arrival order: an earlier block that ends later is
        /// visited after the limit-th time is known, and its reading AT that time (earlier arrival) must still win.
        /// </summary>
        [Fact]
        public void Query_ATieAtTheCutoff_InAnEarlierBlockVisitedLater_IsStillFound()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            using (EmseStore.WriteSession s = store.OpenSession())
            {
                var first = new List<StoredReading> { Reading("d", "k", 1, 0, "e", 50, false, 1), Reading("d", "k", 1, 1, "e", 100, false, 2) };
                store.CommitGroup(s, new List<ExchangeWrite> { new() { Kid = "k", Piv = 1, DeviceId = "d", RequestHash = new byte[] { 1 }, Response = new byte[] { 1 }, Readings = first } }, 1000, 0);
                Assert.Equal(1, store.FoldJournal());
                var second = new List<StoredReading> { Reading("d", "k", 2, 0, "e", 50, false, 3), Reading("d", "k", 2, 1, "e", 60, false, 4) };
                store.CommitGroup(s, new List<ExchangeWrite> { new() { Kid = "k", Piv = 2, DeviceId = "d", RequestHash = new byte[] { 2 }, Response = new byte[] { 2 }, Readings = second } }, 1001, 0);
                Assert.Equal(1, store.FoldJournal());
            }

            Assert.Equal(new long[] { 1 }, store.QueryReadings("d", 0, 1000, 1).Select(r => r.Integer!.Value));
            Assert.Equal(new long[] { 1, 3 }, store.QueryReadings("d", 0, 1000, 2).Select(r => r.Integer!.Value));
            Assert.Equal(new long[] { 1, 3, 4, 2 }, store.QueryReadings("d", 0, 1000, 10).Select(r => r.Integer!.Value));
        }

        [Fact]
        public void AFileOfTheRowPerReadingLayout_IsConvertedToBlocks_InArrivalOrder()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            using (DbConnection c = store.Readings!.Open())
            {
                // the readings file as version 1 left it: a row per reading
                E2mDatabase db = store.Readings.Database;
                db.Execute(c, null, "DROP TABLE emse_reading_blocks");
                db.Execute(c, null, "ALTER TABLE emse_readings_fold DROP COLUMN moved_main_id");
                db.Execute(c, null,
                    "CREATE TABLE emse_readings (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, kid TEXT NOT NULL, piv INTEGER NOT NULL, idx INTEGER NOT NULL, " +
                    "name TEXT NOT NULL, unit TEXT, value_kind INTEGER NOT NULL, value_num DOUBLE PRECISION, value_int INTEGER, value_text TEXT, value_bool INTEGER, " +
                    "time_ms INTEGER NOT NULL, time_source TEXT NOT NULL, received_ms INTEGER NOT NULL)");
                db.Execute(c, null, "UPDATE e2m_schema_version SET version = 1 WHERE component = 'emse_readings'");
                for (int i = 0; i < 12_345; i++)
                {
                    db.Execute(c, null,
                        "INSERT INTO emse_readings (device_id, kid, piv, idx, name, unit, value_kind, value_num, value_int, value_text, value_bool, time_ms, time_source, received_ms) " +
                        "VALUES (@d, 'k', @p, 0, 'e', 'Wh', 1, @v, @v, NULL, NULL, @t, 'device', 7)",
                        ("d", "dev-" + (i % 3).ToString(CultureInfo.InvariantCulture)), ("p", (long)i), ("v", (long)i), ("t", (long)(i % 1000) * 10));
                }
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            EmseStore upgraded = NewStore(dir.Path);
            Assert.Equal(12_345, upgraded.CountReadings());
            using (DbConnection c = upgraded.Readings!.Open())
            {
                Assert.Null(upgraded.Readings.Database.Scalar(c, null, "SELECT 1 FROM sqlite_master WHERE name = 'emse_readings'"));
            }

            // same time, arrival order: the row ids' order
            List<StoredReading> at = upgraded.QueryReadings("dev-1", 10, 11, 100);
            Assert.Equal(Enumerable.Range(0, 12_345).Where(i => i % 3 == 1 && i % 1000 == 1).Select(i => (long)i), at.Select(r => r.Integer!.Value));
            Assert.Equal(12_345 / 3, upgraded.QueryReadings("dev-0", long.MinValue, long.MaxValue, 100_000).Count);
        }

        [Fact]
        public void AnInterruptedMoveOutOfTheMainDatabase_IsCompleted_WithoutStoringTwice()
        {
            using var dir = new TempDir();
            EmseStore store = NewStore(dir.Path);
            const string insert =
                "INSERT INTO emse_readings (id, device_id, kid, piv, idx, name, value_kind, value_int, time_ms, time_source, received_ms) VALUES " +
                "(@id, 'dev-k1', 'k1', @id, 0, 'e', 1, @id, @id, 'arrival', 1)";
            using (DbConnection c = store.Open())
            {
                for (long id = 1; id <= 3; id++)
                {
                    store.Database.Execute(c, null, insert, ("id", id)); // an older EMSE's readings in the main database
                }
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            EmseStore moved = NewStore(dir.Path);
            Assert.Equal(3, moved.CountReadings());
            using (DbConnection c = moved.Open())
            {
                // "crash" between the readings file's commit and the main database's delete: the rows are back
                for (long id = 1; id <= 3; id++)
                {
                    moved.Database.Execute(c, null, insert, ("id", id));
                }

                moved.Database.Execute(c, null, insert, ("id", 4L)); // and one that was not moved yet
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            EmseStore again = NewStore(dir.Path);
            Assert.Equal(4, again.CountReadings()); // the watermark: 1..3 not again, 4 moved
            Assert.Equal(new long[] { 1, 2, 3, 4 }, again.QueryReadings("dev-k1", 0, 100, 10).Select(r => r.Integer!.Value));
            using (DbConnection c = again.Open())
            {
                Assert.Null(again.Database.Scalar(c, null, "SELECT 1 FROM emse_readings LIMIT 1"));
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using E2m.Server.Common;
using E2m.Server.Emse.Storage;

namespace E2m.Server.Emse.Tests
{
    /// <summary>Direct use of the SQLite store in a data directory: exchanges with readings, a fresh store, row counts.</summary>
    internal static class StoreTestKit
    {
        /// <summary>An exchange of device "dev-KID" with one reading "e" per value, all at <paramref name="timeMs"/>.</summary>
        public static ExchangeWrite Write(string kid, long piv, byte hash, long timeMs, string timeSource, params long[] values)
        {
            var readings = new List<StoredReading>();
            for (int i = 0; i < values.Length; i++)
            {
                readings.Add(new StoredReading
                {
                    DeviceId = "dev-" + kid, Kid = kid, Piv = piv, Index = i, Name = "e", ValueKind = 1, Integer = values[i],
                    TimeMs = timeMs, TimeSource = timeSource, ReceivedMs = timeMs,
                });
            }

            return new ExchangeWrite
            {
                Kid = kid, Piv = piv, RequestHash = new byte[] { hash, 1, 2 }, Response = new byte[] { 0x64, hash, (byte)piv }, DeviceId = "dev-" + kid,
                Readings = readings,
            };
        }

        public static EmseStore NewStore(string dir)
        {
            var store = new EmseStore(E2mDatabase.Create(null, "", dir, "emse.db"));
            store.EnsureSchema();
            return store;
        }

        /// <summary>A journal row written by hand (e.g. one that does not decode, as a corrupted disk would leave it).</summary>
        public static void InsertJournalRow(EmseStore store, byte[] payload)
        {
            using DbConnection c = store.Open();
            store.Database.Execute(c, null, "INSERT INTO emse_journal (created_ms, entries, payload) VALUES (1, 1, @p)", ("p", payload));
        }

        public static long Rows(EmseStore store, string table)
        {
            using DbConnection c = store.Open();
            return Convert.ToInt64(store.Database.Scalar(c, null, "SELECT COUNT(*) FROM " + table), CultureInfo.InvariantCulture);
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using E2m.Server.Common;
using E2m.Server.Emse.Storage;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// A batch re-sent under a new Partial IV (its 2.04 was lost with a modem reboot or a power cut; RFC 8613 App. B.1.1
    /// forbids re-using the PIV, so it is a new exchange) carries readings already stored: with device time they are
    /// stored once per (device, name, time) (found by the demo scenario ScenarioModemRebootDuringUploadNetworkMode).
    /// </summary>
    public sealed class ResendTests
    {
        public static TheoryData<string> Providers => new() { "sqlite", "postgres" };

        private static ExchangeWrite Write(string kid, long piv, string timeSource, params (string Name, double Value, long TimeMs)[] values)
        {
            var readings = new List<StoredReading>();
            for (int i = 0; i < values.Length; i++)
            {
                readings.Add(new StoredReading
                {
                    DeviceId = "dev-a", Kid = kid, Piv = piv, Index = i, Name = values[i].Name, ValueKind = 2, Number = values[i].Value,
                    TimeMs = values[i].TimeMs, TimeSource = timeSource, ReceivedMs = 5,
                });
            }

            return new ExchangeWrite
            {
                Kid = kid, Piv = piv, RequestHash = new byte[] { 7, (byte)piv }, Response = new byte[] { 0x64, 0x44, (byte)piv },
                DeviceId = "dev-a", Readings = readings,
            };
        }

        [SkippableTheory]
        [MemberData(nameof(Providers))]
        public void ResentBatch_UnderANewPivOrKey_StoresEachDeviceTimeReadingOnce(string provider)
        {
            PostgresTestDatabase? pg = provider == "postgres" ? PostgresTestDatabase.Create("emse") : null;
            string dir = Path.Combine(Path.GetTempPath(), "e2m-emse-resend-" + Guid.NewGuid().ToString("N"));
            try
            {
                var store = new EmseStore(pg != null ? E2mDatabase.Postgres(pg.ConnectionString) : E2mDatabase.Sqlite(Path.Combine(dir, "emse.db")));
                store.EnsureSchema();
                using EmseStore.WriteSession c = store.OpenSession();
                store.CommitBatch(c, new List<ExchangeWrite> { Write("k1", 1, "device", ("energy", 195, 1_000_000), ("battery", 80, 1_000_000)) },
                    new List<ReplayState> { new("k1", 1, 1) }, 100);
                Assert.Equal(2, store.CountReadings());

                // the same readings under a new PIV, then under a new key (re-key after a 4.01): a new exchange, no new reading
                var resent = new List<ExchangeWrite>
                {
                    Write("k1", 33, "device", ("energy", 195, 1_000_000), ("battery", 80, 1_000_000), ("energy", 196, 1_900_000)),
                    Write("k2", 0, "device", ("battery", 80, 1_000_000)),
                };
                store.CommitBatch(c, resent, new List<ReplayState> { new("k1", 33, 1), new("k2", 0, 1) }, 200);
                Assert.All(resent, w => Assert.True(w.Inserted)); // the exchanges are answered as stored (2.04)
                Assert.Equal(3, store.CountReadings());           // only the new energy reading was added

                // relative times are stamped on arrival: no identity across sends, nothing is merged
                store.CommitBatch(c, new List<ExchangeWrite> { Write("k2", 1, "arrival", ("temp", 21, 1_000_000)), Write("k2", 2, "arrival", ("temp", 21, 1_000_000)) },
                    new List<ReplayState> { new("k2", 2, 3) }, 300);
                Assert.Equal(5, store.CountReadings());
            }
            finally
            {
                pg?.Dispose();
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, true);
                }
            }
        }
    }
}

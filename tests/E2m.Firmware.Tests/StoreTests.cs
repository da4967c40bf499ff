using E2m.Hal.Host;
using E2m.Oscore;

namespace E2m.Firmware.Tests
{
    /// <summary>Unit tests of the persistent pieces: CRC-32, SSN record store (App. B.1.1), reading queue, device state.</summary>
    public sealed class StoreTests
    {
        [Fact]
        public void Crc32_check_value()
        {
            byte[] s = System.Text.Encoding.ASCII.GetBytes("123456789");
            Assert.Equal(0xCBF43926u, Crc32.Compute(s, 0, s.Length));            // CRC-32/ISO-HDLC check value
            Assert.Equal(System.IO.Hashing.Crc32.HashToUInt32(s), Crc32.Compute(s, 0, s.Length));
        }

        [Fact]
        public void Ssn_store_is_bound_to_its_KID_and_rejects_corruption()
        {
            var store = new InMemoryRecordStore(256, 255);
            byte[] kid1 = { 1, 2, 3, 4, 5, 6, 7, 8 }, kid2 = { 9, 2, 3, 4, 5, 6, 7, 8 };
            var s1 = new RecordSsnStore(store, 9, kid1);
            Assert.Equal(-1, s1.Read());
            s1.Write(64);
            Assert.Equal(64, new RecordSsnStore(store, 9, kid1).Read());
            Assert.Equal(-1, new RecordSsnStore(store, 9, kid2).Read());     // another key's counter: fresh context
            var raw = new byte[64];
            int n = store.Read(9, raw, 0, raw.Length);
            raw[10] ^= 1;
            store.Write(9, raw, 0, n);
            // CRC mismatch: the record exists but where the sequence stood is unknown; starting at 0 could repeat a nonce
            // under this key (RFC 8613 App. B.1.1), so it is an error that makes the application re-key, never -1.
            Assert.Equal(OscoreError.SsnStateLost, Assert.Throws<OscoreException>(() => s1.Read()).OscoreError);
            store.Write(9, raw, 0, 5);                                        // wrong length: the same
            Assert.Equal(OscoreError.SsnStateLost, Assert.Throws<OscoreException>(() => s1.Read()).OscoreError);
            store.Delete(9);
            Assert.Equal(-1, s1.Read());                                      // absent: a fresh context
        }

        [Theory]
        [InlineData(PowerCutPoint.BeforeDurable)]
        [InlineData(PowerCutPoint.AfterDurable)]
        public void Ssn_power_cut_at_every_reservation_never_reuses_a_sequence_number(PowerCutPoint point)
        {
            var crypto = new PlatformCryptoProvider();
            byte[] key = new byte[32], kid = { 1, 2, 3, 4, 5, 6, 7, 8 };
            for (int cut = 0; cut < 20; cut++)
            {
                var store = new InMemoryRecordStore(256, 255);
                var used = new HashSet<long>();
                store.ArmPowerCut(point, cut);
                for (int boot = 0; boot < 2; boot++)
                {
                    var ctx = OscoreSecurityContext.ForDevice(crypto, key, kid, new RecordSsnStore(store, 9, kid), 4);
                    try
                    {
                        for (int i = 0; i < 50; i++)
                        {
                            long ssn = ctx.SenderSequenceNumber;
                            var m = new E2m.Coap.CoapMessage { Type = 0, Code = 2, MessageId = i };
                            ctx.ProtectRequest(m, new byte[64], 0, new OscoreExchange());
                            Assert.True(used.Add(ssn), "SSN " + ssn + " reused after a cut at reservation " + cut);
                        }
                    }
                    catch (PowerCutException) { }
                }
            }
        }

        private static FirmwareConfig QueueConfig(int capacity = 8) => new()
        {
            Emses = new[] { new EmseConfig("a.example", "10.0.0.2", 5683), new EmseConfig("b.example", "10.0.0.3", 5683) },
            Readings = new[] { new ReadingConfig("x", null, 0, 1, 1), new ReadingConfig("y", null, 0, 2, 1), new ReadingConfig("z", null, 0, 3, 1) },
            EmksHost = "10.0.0.1",
            QueueCapacity = capacity,
        };

        [Fact]
        public void Queue_survives_remount_routes_per_EMSE_and_refuses_when_full()
        {
            var store = new InMemoryRecordStore(256, 255);
            var cfg = QueueConfig();
            cfg.Validate();
            var q = new ReadingQueue(store, cfg);
            q.Mount();
            for (int i = 0; i < 6; i++) Assert.True(q.Append(i % 3, 100 + i, 0, 1000 + i, out long seq) && seq == i);
            q = new ReadingQueue(store, cfg);
            q.Mount();
            Assert.Equal(6, q.NextSequence);
            Assert.Equal(105, q.LatestTime);
            Assert.True(q.HasPending(0) && q.HasPending(1));
            Assert.Equal(0, q.FirstPending(0, 0));   // x routed to A
            Assert.Equal(1, q.FirstPending(1, 0));   // y routed to B
            Assert.False(q.TryGet(0, 1, out _, out _, out _, out _));   // y is not A's
            Assert.True(q.TryGet(1, 2, out int r, out long at, out _, out long m) && r == 2 && at == 102 && m == 1002);
            q.Acknowledge(0, 6);
            Assert.Equal(1, q.Head);                 // B still needs seq 1
            Assert.True(q.Append(0, 200, 0, 7, out _));
            Assert.True(q.Append(0, 201, 0, 8, out _));
            Assert.True(q.Append(0, 202, 0, 9, out _));
            Assert.True(q.IsFull);                   // 9 - 1 >= 8
            Assert.False(q.Append(0, 203, 0, 10, out _));
            q.Acknowledge(1, 9);
            q.Acknowledge(0, 9);
            Assert.Equal(0, q.PendingCount);
            q = new ReadingQueue(store, cfg);
            q.Mount();
            Assert.Equal(0, q.PendingCount);
            Assert.Equal(9, q.NextSequence);
            Assert.True(q.TryGetLatest(0, out long latest) && latest == 9);
        }

        [Fact]
        public void Queue_skips_a_corrupt_record_and_never_reissues_its_seq()
        {
            var store = new InMemoryRecordStore(256, 255);
            var cfg = QueueConfig();
            cfg.Validate();
            var q = new ReadingQueue(store, cfg);
            q.Mount();
            for (int i = 0; i < 3; i++) q.Append(0, 10 + i, 0, i, out _);
            var raw = new byte[64];
            int n = store.Read(cfg.QueueRecordBase + 2, raw, 0, raw.Length);
            raw[20] ^= 0x40;
            store.Write(cfg.QueueRecordBase + 2, raw, 0, n);
            q = new ReadingQueue(store, cfg);
            q.Mount();
            Assert.Equal(1, q.CorruptRecords);
            // the last record was the corrupt one: its seq is not known any more, the next issued is 2 again only if
            // nothing durable carried 2; the ring holds 0 and 1, so NextSequence = 2
            Assert.Equal(2, q.NextSequence);
        }

        [Fact]
        public void Device_state_round_trips_and_a_corrupt_record_reads_as_first_boot()
        {
            var store = new InMemoryRecordStore(256, 255);
            var s = new DeviceState { Boots = 3, DeviceMilliseconds = 123456, SleepSeconds = 900, HasUnixOffset = true, UnixOffset = 1_700_000_000, PulseTotal = 42, ConsecutiveFailures = 2, CyclesSinceUpload = 1, DroppedReadings = 5, NextSampleSeconds = 1000, NextAttemptSeconds = 500 };
            s.Save(store, 0);
            var t = new DeviceState();
            Assert.True(t.Load(store, 0));
            Assert.Equal((3u, 123456L, 900, true, 1_700_000_000L, 42L, 2, 1, 5u, 1000L, 500L),
                (t.Boots, t.DeviceMilliseconds, t.SleepSeconds, t.HasUnixOffset, t.UnixOffset, t.PulseTotal, t.ConsecutiveFailures, t.CyclesSinceUpload, t.DroppedReadings, t.NextSampleSeconds, t.NextAttemptSeconds));
            var raw = new byte[128];
            int n = store.Read(0, raw, 0, raw.Length);
            raw[5] ^= 1;
            store.Write(0, raw, 0, n);
            Assert.False(t.Load(store, 0));
            Assert.Equal(0u, t.Boots);
        }

        [Fact]
        public void Config_validation_rejects_bad_routing()
        {
            var cfg = QueueConfig();
            cfg.Readings[0].EmseMask = 4;   // EMSE index 2 does not exist
            Assert.Throws<ArgumentException>(() => cfg.Validate());
        }
    }
}

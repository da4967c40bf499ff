#nullable disable // portable code: nullable off (DESIGN.md §9)
using System;
using E2m.Hal;

namespace E2m.Firmware
{
    /// <summary>
    /// Persistent store-and-forward queue of readings (DESIGN.md §7): a bounded ring of fixed-size records in an
    /// <see cref="IRecordStore"/> (ESP32: one LittleFS file each; small stores: the same ring with a small
    /// capacity), plus one delivery cursor per EMSE.
    /// <para>Reading record (slot seq mod capacity): 'Q' | seq (4) | reading index (1) | flags (1: bit 0 = Unix time
    /// known) | time in device seconds (8) | mantissa (8) | Unix time (8, 0 when unknown) | CRC-32 = 35 octets. Cursor record of EMSE e: 'C' | next seq not yet delivered
    /// (4) | CRC-32.</para>
    /// <para>Rules (each is one atomic record write, so a power cut at any instruction is safe):
    /// a reading is taken when its record is durable (<see cref="Append"/>); it leaves the queue for EMSE e only
    /// when e answered 2.04 for the batch holding it (<see cref="Acknowledge"/> moves e's cursor past it). Records are
    /// never deleted: a slot is reused only when every EMSE's cursor is past it. At mount the next sequence number
    /// is 1 + the highest valid record, so a seq is never issued twice. Sequence numbers and times are stable: a
    /// batch re-sent after a reboot (new OSCORE request, new SSN) carries the same (name, time) pairs, which is the
    /// EMSE's duplicate key.</para>
    /// Not thread-safe: used by the application thread only. No allocation after construction.
    /// </summary>
    public sealed class ReadingQueue
    {
        public const int RecordPayloadLength = 1 + 4 + 1 + 1 + 8 + 8 + 8;
        private const byte MagicReading = 0x51; // 'Q'
        private const byte MagicCursor = 0x43;  // 'C'
        public const int FlagNone = 0;
        /// <summary>The record carries its absolute (Unix) time, fixed at sample time.</summary>
        public const int FlagUnixTime = 1;

        private readonly IRecordStore _store;
        private readonly int _capacity;
        private readonly int _baseId;
        private readonly int _cursorBase;
        private readonly int _emseCount;
        private readonly int[] _routeMask;          // per reading index: EMSE bit mask
        private readonly long[] _seqAt;             // per slot: seq held, -1 = none/corrupt
        private readonly byte[] _readingAt;         // per slot: reading index
        private readonly long[] _cursor;            // per EMSE
        private readonly byte[] _buffer = new byte[64];
        private long _next;
        private int _corrupt;
        private long _latestTime;
        private long _latestUnix;

        public ReadingQueue(IRecordStore store, FirmwareConfig config)
        {
            if (store == null) throw new ArgumentNullException("store");
            if (config == null) throw new ArgumentNullException("config");
            _store = store;
            _capacity = config.QueueCapacity;
            _baseId = config.QueueRecordBase;
            _cursorBase = config.CursorRecordBase;
            _emseCount = config.Emses.Length;
            if (_baseId + _capacity - 1 > store.MaxRecordId) throw new ArgumentException("queue: record ids beyond the store");
            if (RecordPayloadLength + RecordCodec.CrcLength > store.MaxRecordSize) throw new ArgumentException("queue: records too large for the store");
            _routeMask = new int[config.Readings.Length];
            for (int i = 0; i < _routeMask.Length; i++) _routeMask[i] = config.Readings[i].EmseMask;
            _seqAt = new long[_capacity];
            _readingAt = new byte[_capacity];
            _cursor = new long[_emseCount];
        }

        public int Capacity { get { return _capacity; } }

        /// <summary>Next sequence number to be issued.</summary>
        public long NextSequence { get { return _next; } }

        /// <summary>Records found torn/corrupt at mount or read (skipped: CRC mismatch).</summary>
        public int CorruptRecords { get { return _corrupt; } }

        public long GetCursor(int emse) { return _cursor[emse]; }

        /// <summary>Largest reading time (device seconds) found at mount or appended since; -1 when empty. The device
        /// clock never resumes below it + 1, so a power cut that lost the clock cannot produce two readings of one name
        /// with the same time (the EMSE's duplicate key).</summary>
        public long LatestTime { get { return _latestTime; } }

        /// <summary>Largest Unix time of a reading in the ring (0 when none): new readings are stamped later than it.</summary>
        public long LatestUnixTime { get { return _latestUnix; } }

        /// <summary>Rebuilds the RAM index from the store (after every reset).</summary>
        public void Mount()
        {
            long max = -1;
            long min = long.MaxValue;
            _corrupt = 0;
            _latestTime = -1;
            _latestUnix = 0;
            for (int j = 0; j < _capacity; j++)
            {
                _seqAt[j] = -1;
                if (!RecordCodec.ReadFramed(_store, _baseId + j, _buffer, RecordPayloadLength, MagicReading))
                {
                    if (_store.Read(_baseId + j, _buffer, 0, _buffer.Length) >= 0) _corrupt++;
                    continue;
                }
                long seq = RecordCodec.GetUInt32(_buffer, 1);
                int reading = _buffer[5];
                if (seq % _capacity != j || reading >= _routeMask.Length) { _corrupt++; continue; }
                _seqAt[j] = seq;
                _readingAt[j] = (byte)reading;
                if (seq > max) max = seq;
                if (seq < min) min = seq;
                long t = RecordCodec.GetInt64(_buffer, 7);
                if (t > _latestTime) _latestTime = t;
                long u = RecordCodec.GetInt64(_buffer, 23);
                if (u > _latestUnix) _latestUnix = u;
            }
            _next = max + 1;
            for (int e = 0; e < _emseCount; e++)
            {
                long c = -1;
                if (RecordCodec.ReadFramed(_store, _cursorBase + e, _buffer, 5, MagicCursor)) c = RecordCodec.GetUInt32(_buffer, 1);
                if (c < 0) c = min == long.MaxValue ? _next : min; // no cursor yet: everything present is pending
                if (c > _next) c = _next;
                if (c < _next - _capacity) c = _next - _capacity;
                if (c < 0) c = 0;
                _cursor[e] = c;
            }
        }

        /// <summary>Oldest seq some EMSE still needs (slots from here on must not be overwritten).</summary>
        public long Head
        {
            get
            {
                long head = _next;
                for (int e = 0; e < _emseCount; e++)
                {
                    long first = FirstPending(e, _cursor[e]);
                    if (first < head) head = first;
                }
                return head;
            }
        }

        /// <summary>Readings still pending for at least one EMSE outside <paramref name="excludedMask"/> (EMSE bits): the
        /// backlog that is worth a wake-up (EMSEs refusing the KID are excluded).</summary>
        public int PendingCountExcept(int excludedMask)
        {
            long head = _next;
            for (int e = 0; e < _emseCount; e++)
            {
                if ((excludedMask & (1 << e)) != 0) continue;
                long first = FirstPending(e, _cursor[e]);
                if (first < head) head = first;
            }
            return (int)(_next - head);
        }

        /// <summary>
        /// Ring full and its oldest reading pending only for EMSEs in <paramref name="refusingMask"/> (they refuse the KID,
        /// DESIGN.md §5): moves those EMSEs' cursors past it (one durable cursor write each), so the slot can be reused.
        /// True when a reading was given up (the caller counts it as dropped); false when the oldest reading is still
        /// needed by an EMSE that accepts the key (then nothing is evicted: the normal full-ring refusal applies).
        /// </summary>
        public bool TryEvictOldest(int refusingMask)
        {
            if (refusingMask == 0 || !IsFull) return false;
            long head = Head;
            int needing = 0;
            for (int e = 0; e < _emseCount; e++)
            {
                if (FirstPending(e, _cursor[e]) == head) needing |= 1 << e;
            }
            if (needing == 0 || (needing & ~refusingMask) != 0) return false;
            for (int e = 0; e < _emseCount; e++)
            {
                if ((needing & (1 << e)) != 0) Acknowledge(e, head + 1);
            }
            return true;
        }

        /// <summary>Readings still pending for at least one EMSE.</summary>
        public int PendingCount { get { return (int)(_next - Head); } }

        public bool IsFull { get { return _next - Head >= _capacity; } }

        /// <summary>True when EMSE <paramref name="emse"/> has at least one reading to receive.</summary>
        public bool HasPending(int emse) { return FirstPending(emse, _cursor[emse]) < _next; }

        /// <summary>
        /// Appends a reading; durable when it returns (one record write). False when the ring is full (the caller
        /// counts the refusal; nothing is overwritten). Returns the sequence number through <paramref name="seq"/>.
        /// </summary>
        public bool Append(int readingIndex, long deviceSeconds, long unixTime, long mantissa, out long seq)
        {
            seq = -1;
            if (readingIndex < 0 || readingIndex >= _routeMask.Length) throw new ArgumentOutOfRangeException("readingIndex");
            if (IsFull) return false;
            long s = _next;
            if (s > 0xFFFFFFFFL) throw new InvalidOperationException("queue: sequence space exhausted");
            int slot = (int)(s % _capacity);
            int p = 0;
            _buffer[p++] = MagicReading;
            RecordCodec.PutUInt32(_buffer, p, (uint)s); p += 4;
            _buffer[p++] = (byte)readingIndex;
            _buffer[p++] = unixTime > 0 ? (byte)FlagUnixTime : (byte)FlagNone;
            RecordCodec.PutInt64(_buffer, p, deviceSeconds); p += 8;
            RecordCodec.PutInt64(_buffer, p, mantissa); p += 8;
            RecordCodec.PutInt64(_buffer, p, unixTime > 0 ? unixTime : 0); p += 8;
            // mark the slot unusable in RAM first: if the write dies half-way, the index does not point at old data
            _seqAt[slot] = -1;
            RecordCodec.WriteFramed(_store, _baseId + slot, _buffer, p);
            _seqAt[slot] = s;
            _readingAt[slot] = (byte)readingIndex;
            _next = s + 1;
            if (deviceSeconds > _latestTime) _latestTime = deviceSeconds;
            if (unixTime > _latestUnix) _latestUnix = unixTime;
            seq = s;
            return true;
        }

        /// <summary>
        /// Reads the reading with sequence <paramref name="seq"/> routed to <paramref name="emse"/>. False when the seq is
        /// not routed to that EMSE, not present or corrupt (then it is skipped for good: it cannot be recovered).
        /// </summary>
        public bool TryGet(int emse, long seq, out int readingIndex, out long deviceSeconds, out long unixTime, out long mantissa)
        {
            readingIndex = 0; deviceSeconds = 0; mantissa = 0; unixTime = 0;
            int slot = (int)(seq % _capacity);
            if (_seqAt[slot] != seq) return false;
            if ((_routeMask[_readingAt[slot]] & (1 << emse)) == 0) return false;
            if (!RecordCodec.ReadFramed(_store, _baseId + slot, _buffer, RecordPayloadLength, MagicReading)
                || RecordCodec.GetUInt32(_buffer, 1) != (uint)seq)
            {
                _corrupt++;
                _seqAt[slot] = -1;
                return false;
            }
            readingIndex = _buffer[5];
            deviceSeconds = RecordCodec.GetInt64(_buffer, 7);
            mantissa = RecordCodec.GetInt64(_buffer, 15);
            if ((_buffer[6] & FlagUnixTime) != 0) unixTime = RecordCodec.GetInt64(_buffer, 23);
            return true;
        }

        /// <summary>Latest value of a reading still in the ring (e.g. the pulse total), or false.</summary>
        public bool TryGetLatest(int readingIndex, out long mantissa)
        {
            mantissa = 0;
            for (long s = _next - 1; s >= 0 && s >= _next - _capacity; s--)
            {
                int slot = (int)(s % _capacity);
                if (_seqAt[slot] != s || _readingAt[slot] != readingIndex) continue;
                if (!RecordCodec.ReadFramed(_store, _baseId + slot, _buffer, RecordPayloadLength, MagicReading)) continue;
                mantissa = RecordCodec.GetInt64(_buffer, 15);
                return true;
            }
            return false;
        }

        /// <summary>
        /// EMSE <paramref name="emse"/> stored everything below <paramref name="nextSeq"/> (its 2.04 arrived): one durable
        /// cursor write. Never moves backwards.
        /// </summary>
        public void Acknowledge(int emse, long nextSeq)
        {
            if (nextSeq > _next) throw new ArgumentOutOfRangeException("nextSeq");
            if (nextSeq <= _cursor[emse]) return;
            _buffer[0] = MagicCursor;
            RecordCodec.PutUInt32(_buffer, 1, (uint)nextSeq);
            RecordCodec.WriteFramed(_store, _cursorBase + emse, _buffer, 5);
            _cursor[emse] = nextSeq;
        }

        /// <summary>First seq at or after <paramref name="from"/> routed to the EMSE and present, or NextSequence.</summary>
        public long FirstPending(int emse, long from)
        {
            int bit = 1 << emse;
            for (long s = from; s < _next; s++)
            {
                int slot = (int)(s % _capacity);
                if (_seqAt[slot] == s && (_routeMask[_readingAt[slot]] & bit) != 0) return s;
            }
            return _next;
        }
    }
}

using System;
using System.Collections.Generic;
using E2m.Firmware;
using E2m.Hal;

namespace E2m.Demo
{
    /// <summary>A reading the device made durable in its queue (the ground truth the EMSEs' stores are checked against).</summary>
    public sealed record TakenReading(long Seq, int Reading, long DeviceSeconds, long Unix, long Mantissa);

    /// <summary>One OSCORE context the device persisted: KID, EMSE slot and e2m_key (for the keylog only).</summary>
    public sealed record DeviceKey(int Emse, byte[] Kid, byte[] Key, int Origin);

    /// <summary>
    /// The device's flash (an <see cref="IRecordStore"/>) with an observer: every queue record that becomes durable is a
    /// reading taken; every cursor record says how far an EMSE has acknowledged; every key slot record is a new OSCORE
    /// context (reported before its first use, so the keylog line exists before the first protected request).
    /// Record layouts are those of ReadingQueue ('Q' | seq | reading | flags | at | mantissa | unix) and KeyManager
    /// ('K' | KID | e2m_key | expiry | origin).
    /// </summary>
    public sealed class DeviceRecorder : IRecordStore
    {
        private const byte MagicReading = 0x51, MagicCursor = 0x43, MagicKey = 0x4B;
        private readonly IRecordStore _inner;
        private readonly FirmwareConfig _config;
        private readonly object _gate = new();
        private readonly Dictionary<long, TakenReading> _taken = new();
        private readonly long[] _cursor;
        private readonly List<DeviceKey> _keys = new();

        public DeviceRecorder(IRecordStore inner, FirmwareConfig config)
        {
            _inner = inner;
            _config = config;
            _cursor = new long[config.Emses.Length];
        }

        /// <summary>Raised (on the device thread) when a key slot with a KID not seen before for that slot is written.</summary>
        public event Action<DeviceKey>? KeyStored;

        public int MaxRecordSize => _inner.MaxRecordSize;

        public int MaxRecordId => _inner.MaxRecordId;

        public int Read(int recordId, byte[] buffer, int offset, int count) => _inner.Read(recordId, buffer, offset, count);

        public void Delete(int recordId) => _inner.Delete(recordId);

        public void Write(int recordId, byte[] data, int offset, int count)
        {
            _inner.Write(recordId, data, offset, count);
            Observe(recordId, data, offset, count);
        }

        private void Observe(int id, byte[] d, int o, int count)
        {
            if (count < 1)
            {
                return;
            }

            DeviceKey? key = null;
            lock (_gate)
            {
                if (id >= _config.QueueRecordBase && d[o] == MagicReading && count >= ReadingQueue.RecordPayloadLength)
                {
                    long seq = RecordCodec.GetUInt32(d, o + 1);
                    _taken[seq] = new TakenReading(seq, d[o + 5], RecordCodec.GetInt64(d, o + 7), RecordCodec.GetInt64(d, o + 23), RecordCodec.GetInt64(d, o + 15));
                }
                else if (id >= _config.CursorRecordBase && id < _config.CursorRecordBase + _cursor.Length && d[o] == MagicCursor && count >= 5)
                {
                    _cursor[id - _config.CursorRecordBase] = RecordCodec.GetUInt32(d, o + 1);
                }
                else if (id >= _config.KeyRecordBase && id < _config.KeyRecordBase + _cursor.Length && d[o] == MagicKey && count >= 50)
                {
                    int emse = id - _config.KeyRecordBase;
                    byte[] kid = new byte[8];
                    byte[] k = new byte[32];
                    Array.Copy(d, o + 1, kid, 0, 8);
                    Array.Copy(d, o + 9, k, 0, 32);
                    bool seen = _keys.Exists(x => x.Emse == emse && x.Kid.AsSpan().SequenceEqual(kid));
                    if (!seen)
                    {
                        key = new DeviceKey(emse, kid, k, d[o + 49]);
                        _keys.Add(key);
                    }
                }
            }

            if (key != null)
            {
                KeyStored?.Invoke(key);
            }
        }

        /// <summary>Readings taken so far, in sequence order.</summary>
        public IReadOnlyList<TakenReading> Taken
        {
            get
            {
                lock (_gate)
                {
                    var l = new List<TakenReading>(_taken.Values);
                    l.Sort((a, b) => a.Seq.CompareTo(b.Seq));
                    return l;
                }
            }
        }

        public IReadOnlyList<DeviceKey> Keys
        {
            get
            {
                lock (_gate)
                {
                    return _keys.ToArray();
                }
            }
        }

        /// <summary>Queue cursor of EMSE <paramref name="emse"/>: every routed reading with a lower sequence was acknowledged.</summary>
        public long Cursor(int emse)
        {
            lock (_gate)
            {
                return _cursor[emse];
            }
        }

        /// <summary>Readings routed to <paramref name="emse"/> taken so far.</summary>
        public int RoutedCount(int emse)
        {
            int n = 0;
            foreach (TakenReading r in Taken)
            {
                if ((_config.Readings[r.Reading].EmseMask & (1 << emse)) != 0)
                {
                    n++;
                }
            }

            return n;
        }

        /// <summary>Routed readings below the EMSE's cursor (acknowledged by a verified 2.04).</summary>
        public int AcknowledgedCount(int emse)
        {
            long c = Cursor(emse);
            int n = 0;
            foreach (TakenReading r in Taken)
            {
                if (r.Seq < c && (_config.Readings[r.Reading].EmseMask & (1 << emse)) != 0)
                {
                    n++;
                }
            }

            return n;
        }
    }

    /// <summary>A sensor that can be stopped: after <see cref="Stopped"/> is set it yields no value (the demo's drain phase).</summary>
    public sealed class StoppableSensor : ISensor
    {
        private readonly ISensor _inner;

        public StoppableSensor(ISensor inner) => _inner = inner;

        private volatile bool _stopped;

        public bool Stopped
        {
            get => _stopped;
            set => _stopped = value;
        }

        public bool Sample(long persistedTotal, out long mantissa)
        {
            if (Stopped)
            {
                mantissa = 0;
                return false;
            }

            return _inner.Sample(persistedTotal, out mantissa);
        }

        public void Commit() => _inner.Commit();
    }
}

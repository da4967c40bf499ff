#nullable disable // portable code: nullable off (DESIGN.md §9)
using System;
using E2m.Hal;

namespace E2m.Firmware
{
    /// <summary>
    /// What survives deep sleep besides keys, SSNs and the queue (DESIGN.md §7 "state in persistent storage").
    /// One framed record, written before every deep sleep and after every change that must not be forgotten
    /// (network time offset, stale network KID).
    /// Record: 'A' | version 1 | boots (4) | deviceMilliseconds (8) | sleepSeconds (4) | hasUnixOffset (1) | unixOffset (8)
    /// | pulseTotal (8) | consecutiveFailures (2) | cyclesSinceUpload (2) | hasLastNetworkKid (1) | lastNetworkKid (8)
    /// | droppedReadings (4) | nextSample (8) | nextAttempt (8) | CRC-32.
    /// </summary>
    public sealed class DeviceState
    {
        private const byte Magic = 0x41; // 'A'
        private const byte Version = 1;
        private const int PayloadLength = 1 + 1 + 4 + 8 + 4 + 1 + 8 + 8 + 2 + 2 + 1 + 8 + 4 + 8 + 8;

        private readonly byte[] _buffer = new byte[96];

        public uint Boots;
        /// <summary>Device clock (milliseconds since first boot, continuous across sleeps) when the record was saved.</summary>
        public long DeviceMilliseconds;
        /// <summary>Deep sleep requested right after the save (wake-up = reset: the clock resumes at DeviceMilliseconds + 1000 × SleepSeconds).</summary>
        public int SleepSeconds;
        /// <summary>True once network time was seen: unix = deviceSeconds + UnixOffset.</summary>
        public bool HasUnixOffset;
        public long UnixOffset;
        public long PulseTotal;
        public int ConsecutiveFailures;
        public int CyclesSinceUpload;
        /// <summary>KID of the last key derived from EF_KeysPS (DESIGN.md §3: the same key again is stale).</summary>
        public bool HasLastNetworkKid;
        public readonly byte[] LastNetworkKid = new byte[8];
        /// <summary>Readings refused because the queue was full, or dropped as permanently rejected by an EMSE.</summary>
        public uint DroppedReadings;
        /// <summary>Device second at which the next sample is due.</summary>
        public long NextSampleSeconds;
        /// <summary>Device second before which no upload is retried after a failure (backoff).</summary>
        public long NextAttemptSeconds;

        /// <summary>Loads the record; false (and defaults) when absent or corrupt (first boot).</summary>
        public bool Load(IRecordStore store, int recordId)
        {
            if (!RecordCodec.ReadFramed(store, recordId, _buffer, PayloadLength, Magic) || _buffer[1] != Version)
            {
                Boots = 0; DeviceMilliseconds = 0; SleepSeconds = 0; HasUnixOffset = false; UnixOffset = 0; PulseTotal = 0;
                ConsecutiveFailures = 0; CyclesSinceUpload = 0; HasLastNetworkKid = false; DroppedReadings = 0;
                NextSampleSeconds = 0; NextAttemptSeconds = 0;
                Array.Clear(LastNetworkKid, 0, 8);
                return false;
            }
            int p = 2;
            Boots = RecordCodec.GetUInt32(_buffer, p); p += 4;
            DeviceMilliseconds = RecordCodec.GetInt64(_buffer, p); p += 8;
            SleepSeconds = (int)RecordCodec.GetUInt32(_buffer, p); p += 4;
            HasUnixOffset = _buffer[p++] != 0;
            UnixOffset = RecordCodec.GetInt64(_buffer, p); p += 8;
            PulseTotal = RecordCodec.GetInt64(_buffer, p); p += 8;
            ConsecutiveFailures = (_buffer[p] << 8) | _buffer[p + 1]; p += 2;
            CyclesSinceUpload = (_buffer[p] << 8) | _buffer[p + 1]; p += 2;
            HasLastNetworkKid = _buffer[p++] != 0;
            Array.Copy(_buffer, p, LastNetworkKid, 0, 8); p += 8;
            DroppedReadings = RecordCodec.GetUInt32(_buffer, p); p += 4;
            NextSampleSeconds = RecordCodec.GetInt64(_buffer, p); p += 8;
            NextAttemptSeconds = RecordCodec.GetInt64(_buffer, p);
            return true;
        }

        public void Save(IRecordStore store, int recordId)
        {
            int p = 0;
            _buffer[p++] = Magic;
            _buffer[p++] = Version;
            RecordCodec.PutUInt32(_buffer, p, Boots); p += 4;
            RecordCodec.PutInt64(_buffer, p, DeviceMilliseconds); p += 8;
            RecordCodec.PutUInt32(_buffer, p, (uint)SleepSeconds); p += 4;
            _buffer[p++] = HasUnixOffset ? (byte)1 : (byte)0;
            RecordCodec.PutInt64(_buffer, p, UnixOffset); p += 8;
            RecordCodec.PutInt64(_buffer, p, PulseTotal); p += 8;
            int f = ConsecutiveFailures > 0xFFFF ? 0xFFFF : ConsecutiveFailures;
            _buffer[p++] = (byte)(f >> 8); _buffer[p++] = (byte)f;
            int c = CyclesSinceUpload > 0xFFFF ? 0xFFFF : CyclesSinceUpload;
            _buffer[p++] = (byte)(c >> 8); _buffer[p++] = (byte)c;
            _buffer[p++] = HasLastNetworkKid ? (byte)1 : (byte)0;
            Array.Copy(LastNetworkKid, 0, _buffer, p, 8); p += 8;
            RecordCodec.PutUInt32(_buffer, p, DroppedReadings); p += 4;
            RecordCodec.PutInt64(_buffer, p, NextSampleSeconds); p += 8;
            RecordCodec.PutInt64(_buffer, p, NextAttemptSeconds); p += 8;
            RecordCodec.WriteFramed(store, recordId, _buffer, p);
        }
    }

    /// <summary>
    /// The device clock: whole seconds since the first boot, continuous across deep sleep (the monotonic clock
    /// restarts at every reset; the sleep length we asked for is added at wake-up) and mapped to Unix time by an
    /// offset learnt from the modem's network time (+CCLK?, DESIGN.md §7 Time). Readings are stamped in device
    /// seconds; at send time they become absolute (bt) when the offset is known, else relative to now (negative t).
    /// </summary>
    public sealed class DeviceClock
    {
        private readonly IMonotonicClock _mono;
        private long _baseMs;
        private long _monoBaseMs;

        public DeviceClock(IMonotonicClock mono)
        {
            if (mono == null) throw new ArgumentNullException("mono");
            _mono = mono;
        }

        /// <summary>Sets "now" to <paramref name="deviceMilliseconds"/> (milliseconds: no rounding loss per cycle).</summary>
        public void Resume(long deviceMilliseconds)
        {
            _baseMs = deviceMilliseconds;
            _monoBaseMs = _mono.NowMilliseconds;
        }

        public long NowMilliseconds
        {
            get { return _baseMs + (_mono.NowMilliseconds - _monoBaseMs); }
        }

        public long NowSeconds
        {
            get { return NowMilliseconds / 1000; }
        }
    }
}

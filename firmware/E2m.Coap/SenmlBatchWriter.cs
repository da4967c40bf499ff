using System;

namespace E2m.Coap
{
    /// <summary>
    /// Device side: encodes a SenML pack (RFC 8428 §6, CBOR with integer labels) of readings into
    /// a caller buffer, bounded to MaxLength octets so that it fits one CoAP datagram. The first
    /// record carries bn (base name) and, when the device has network time, bt (base time, integer
    /// seconds since the Unix epoch); every record carries n, u, v and t as set.
    ///
    /// Value rule (no floating point on the device): Mantissa × 10^Exponent is written
    ///  * as a CBOR integer (major type 0/1) when the value is integral and fits in 64-bit signed;
    ///  * otherwise as the correctly rounded IEEE 754 binary64 value (round half to even), in the
    ///    shortest of half/single/double that holds that binary64 value exactly (RFC 8949 §4.2.2
    ///    preferred serialization). E.g. 215×10^-1 → half 21.5; 1×10^-1 → double 0.1.
    /// (RFC 8428 v is a CBOR number: decimal fractions, tag 4, are not allowed.)
    ///
    /// Use: Begin(...), then TryAdd(record) until it returns false (send the batch, Begin a new one
    /// and add the record again), then Finish() → length of the pack at buffer[offset..].
    /// A record that cannot fit even in an empty batch throws SenmlRecordTooLargeException.
    /// No allocation after construction.
    /// </summary>
    public sealed class SenmlBatchWriter
    {
        /// <summary>Default CoAP datagram size of e2m (issue 3): the pack plus CoAP/OSCORE overhead must fit.</summary>
        public const int DefaultDatagramSize = 512;

        /// <summary>Room for the array header in front of the records (count up to 65535).</summary>
        private const int HeaderReserve = 3;

        /// <summary>Extra octets of buffer the writer needs beyond MaxLength (header reserve, moved away at Finish).</summary>
        public const int BufferSlack = HeaderReserve - 1;

        private readonly byte[] _buffer;
        private readonly int _offset;
        private readonly int _maxLength;
        private readonly CborWriter _body;

        private string _baseName;
        private bool _hasBaseTime;
        private long _baseTime;
        private int _count;
        private bool _finished;

        // value of the record being measured/written
        private bool _valueIsInt;
        private long _valueInt;
        private ulong _valueBits;

        /// <summary>
        /// buffer[offset..] must have at least maxLength + BufferSlack octets; the finished pack is
        /// at most maxLength octets at buffer[offset..].
        /// </summary>
        public SenmlBatchWriter(byte[] buffer, int offset, int maxLength)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            if (maxLength < 2) throw new ArgumentOutOfRangeException("maxLength");
            if (offset < 0 || buffer.Length - offset < maxLength + BufferSlack) throw new ArgumentException("SenML writer: buffer needs maxLength + BufferSlack octets");
            _buffer = buffer;
            _offset = offset;
            _maxLength = maxLength;
            _body = new CborWriter(buffer, offset + HeaderReserve, maxLength - 1);
        }

        /// <summary>Payload budget for a pack inside a datagram: datagramSize minus the CoAP (and OSCORE) octets around it.</summary>
        public static int PayloadBudget(int datagramSize, int overheadOctets)
        {
            return datagramSize - overheadOctets;
        }

        public int MaxLength { get { return _maxLength; } }

        /// <summary>Records added since Begin.</summary>
        public int Count { get { return _count; } }

        /// <summary>Current size the pack would have if finished now.</summary>
        public int Length { get { return CborWriter.HeadSize((ulong)_count) + _body.Length; } }

        /// <summary>
        /// Starts a new batch. baseName: bn (e.g. "urn:dev:kid:0a1b..:" per DESIGN §4), null = none.
        /// hasBaseTime false when the device has no network time yet (records then carry times
        /// relative to arrival, DESIGN §7).
        /// </summary>
        public void Begin(string baseName, bool hasBaseTime, long baseTime)
        {
            _baseName = baseName;
            _hasBaseTime = hasBaseTime;
            _baseTime = baseTime;
            _count = 0;
            _finished = false;
            _body.Reset();
        }

        /// <summary>
        /// Adds the record if the pack stays within MaxLength; returns false (nothing written) when
        /// it would not fit. Throws SenmlRecordTooLargeException when it cannot fit even alone.
        /// </summary>
        public bool TryAdd(SenmlRecord record)
        {
            if (record == null) throw new ArgumentNullException("record");
            if (_finished) throw new InvalidOperationException("SenML batch already finished: call Begin");
            ComputeValue(record);
            bool first = _count == 0;
            int size = Measure(record, first);
            int total = CborWriter.HeadSize((ulong)(_count + 1)) + _body.Length + size;
            if (total > _maxLength || _count == 65535)
            {
                if (first) throw new SenmlRecordTooLargeException(total, _maxLength);
                return false;
            }
            Write(record, first);
            _count++;
            return true;
        }

        /// <summary>Writes the array header; returns the pack length (at buffer[offset..]).</summary>
        public int Finish()
        {
            if (_finished) throw new InvalidOperationException("SenML batch already finished");
            _finished = true;
            int h = CborWriter.HeadSize((ulong)_count);
            int bodyStart = _offset + HeaderReserve;
            int bodyLength = _body.Length;
            // move the body down to follow the header directly (forward copy: destination is lower)
            int dst = _offset + h;
            if (dst != bodyStart)
            {
                for (int i = 0; i < bodyLength; i++) _buffer[dst + i] = _buffer[bodyStart + i];
            }
            // array header, RFC 8949 §3.1 major type 4
            if (h == 1)
            {
                _buffer[_offset] = (byte)(0x80 | _count);
            }
            else if (h == 2)
            {
                _buffer[_offset] = 0x98;
                _buffer[_offset + 1] = (byte)_count;
            }
            else
            {
                _buffer[_offset] = 0x99;
                _buffer[_offset + 1] = (byte)(_count >> 8);
                _buffer[_offset + 2] = (byte)_count;
            }
            return h + bodyLength;
        }

        private void ComputeValue(SenmlRecord r)
        {
            if (r.Exponent < -FloatBits.MaxDecimalExponent || r.Exponent > FloatBits.MaxDecimalExponent) throw new ArgumentOutOfRangeException("record");
            long m = r.Mantissa;
            int e = r.Exponent;
            if (m == 0)
            {
                _valueIsInt = true;
                _valueInt = 0;
                return;
            }
            if (e >= 0)
            {
                long v = m;
                bool fits = true;
                for (int i = 0; i < e; i++)
                {
                    if (v > long.MaxValue / 10 || v < long.MinValue / 10) { fits = false; break; }
                    v *= 10;
                }
                if (fits)
                {
                    _valueIsInt = true;
                    _valueInt = v;
                    return;
                }
            }
            else
            {
                long p = 1;
                for (int i = 0; i < -e; i++) p *= 10;
                if (m % p == 0)
                {
                    _valueIsInt = true;
                    _valueInt = m / p;
                    return;
                }
            }
            _valueIsInt = false;
            _valueBits = FloatBits.DecimalToDouble(m, e);
        }

        private static int TextSize(string s)
        {
            int n = Utf8.GetByteCount(s);
            return CborWriter.HeadSize((ulong)n) + n;
        }

        private int FieldCount(SenmlRecord r, bool first)
        {
            int n = 1; // v
            if (first && _baseName != null) n++;
            if (first && _hasBaseTime) n++;
            if (r.Name != null) n++;
            if (r.Unit != null) n++;
            if (r.HasTime) n++;
            return n;
        }

        // Exact encoded size of the record's map (labels are all one-octet ints: -6..8).
        private int Measure(SenmlRecord r, bool first)
        {
            int size = CborWriter.HeadSize((ulong)FieldCount(r, first));
            if (first && _baseName != null) size += 1 + TextSize(_baseName);
            if (first && _hasBaseTime) size += 1 + CborWriter.IntSize(_baseTime);
            if (r.Name != null) size += 1 + TextSize(r.Name);
            if (r.Unit != null) size += 1 + TextSize(r.Unit);
            size += 1 + (_valueIsInt ? CborWriter.IntSize(_valueInt) : CborWriter.FloatPreferredSize(_valueBits));
            if (r.HasTime) size += 1 + CborWriter.IntSize(r.Time);
            return size;
        }

        private void Write(SenmlRecord r, bool first)
        {
            CborWriter w = _body;
            w.WriteMapHeader(FieldCount(r, first));
            if (first && _baseName != null)
            {
                w.WriteInt(SenmlLabel.BaseName);
                w.WriteTextString(_baseName);
            }
            if (first && _hasBaseTime)
            {
                w.WriteInt(SenmlLabel.BaseTime);
                w.WriteInt(_baseTime);
            }
            if (r.Name != null)
            {
                w.WriteInt(SenmlLabel.Name);
                w.WriteTextString(r.Name);
            }
            if (r.Unit != null)
            {
                w.WriteInt(SenmlLabel.Unit);
                w.WriteTextString(r.Unit);
            }
            w.WriteInt(SenmlLabel.Value);
            if (_valueIsInt) w.WriteInt(_valueInt);
            else w.WriteFloatPreferred(_valueBits);
            if (r.HasTime)
            {
                w.WriteInt(SenmlLabel.Time);
                w.WriteInt(r.Time);
            }
        }
    }
}

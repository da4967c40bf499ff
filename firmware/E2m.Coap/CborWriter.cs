using System;

namespace E2m.Coap
{
    /// <summary>CBOR major types, RFC 8949 §3.1.</summary>
    public static class CborMajorType
    {
        public const int UnsignedInteger = 0;
        public const int NegativeInteger = 1;
        public const int ByteString = 2;
        public const int TextString = 3;
        public const int Array = 4;
        public const int Map = 5;
        public const int Tag = 6;
        public const int SimpleOrFloat = 7;
    }

    /// <summary>
    /// Minimal CBOR encoder (RFC 8949) into a caller buffer: definite lengths only, preferred
    /// (shortest) argument encoding (§4.2.1), no allocation per item. Throws
    /// CborBufferFullException when an item does not fit; what was written before stays valid and
    /// Truncate can roll back to a saved Length.
    /// </summary>
    public sealed class CborWriter
    {
        private readonly byte[] _buffer;
        private readonly int _offset;
        private readonly int _capacity;
        private int _length;

        public CborWriter(byte[] buffer, int offset, int capacity)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            if (offset < 0 || capacity < 0 || offset + capacity > buffer.Length) throw new ArgumentOutOfRangeException("capacity");
            _buffer = buffer;
            _offset = offset;
            _capacity = capacity;
        }

        public byte[] Buffer { get { return _buffer; } }
        public int Offset { get { return _offset; } }
        public int Capacity { get { return _capacity; } }

        /// <summary>Octets written since construction / Reset.</summary>
        public int Length { get { return _length; } }

        public void Reset() { _length = 0; }

        /// <summary>Rolls back to an earlier Length (e.g. a record that did not fit).</summary>
        public void Truncate(int length)
        {
            if (length < 0 || length > _length) throw new ArgumentOutOfRangeException("length");
            _length = length;
        }

        /// <summary>Size of the head (initial byte + argument) for an argument value, RFC 8949 §3.</summary>
        public static int HeadSize(ulong value)
        {
            return value < 24 ? 1 : value <= 0xFF ? 2 : value <= 0xFFFF ? 3 : value <= 0xFFFFFFFFUL ? 5 : 9;
        }

        /// <summary>Encoded size of WriteInt(value).</summary>
        public static int IntSize(long value)
        {
            return value >= 0 ? HeadSize((ulong)value) : HeadSize((ulong)(-1 - value));
        }

        public void WriteUInt(ulong value) { WriteHead(CborMajorType.UnsignedInteger, value); }

        /// <summary>Major type 0 for ≥ 0, major type 1 with argument -1-n for negatives (§3.1).</summary>
        public void WriteInt(long value)
        {
            if (value >= 0) WriteHead(CborMajorType.UnsignedInteger, (ulong)value);
            else WriteHead(CborMajorType.NegativeInteger, (ulong)(-1 - value));
        }

        public void WriteByteString(byte[] b, int offset, int length)
        {
            if (length < 0) throw new ArgumentOutOfRangeException("length");
            Ensure(HeadSize((ulong)length) + length);   // all or nothing
            WriteHead(CborMajorType.ByteString, (ulong)length);
            WriteBytes(b, offset, length);
        }

        /// <summary>Text string from UTF-8 octets (not validated: our own constants).</summary>
        public void WriteTextString(byte[] utf8, int offset, int length)
        {
            if (length < 0) throw new ArgumentOutOfRangeException("length");
            Ensure(HeadSize((ulong)length) + length);   // all or nothing
            WriteHead(CborMajorType.TextString, (ulong)length);
            WriteBytes(utf8, offset, length);
        }

        /// <summary>Text string from a .NET string, UTF-8 encoded in place (no allocation).</summary>
        public void WriteTextString(string s)
        {
            int n = Utf8.GetByteCount(s);
            int need = HeadSize((ulong)n) + n;
            if (_length + need > _capacity) throw new CborBufferFullException();
            WriteHead(CborMajorType.TextString, (ulong)n);
            Utf8.GetBytes(s, _buffer, _offset + _length);
            _length += n;
        }

        public void WriteArrayHeader(int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count");
            WriteHead(CborMajorType.Array, (ulong)count);
        }

        /// <summary>Map header with count pairs.</summary>
        public void WriteMapHeader(int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count");
            WriteHead(CborMajorType.Map, (ulong)count);
        }

        public void WriteTag(ulong tag) { WriteHead(CborMajorType.Tag, tag); }

        public void WriteNull() { WriteByte(0xF6); }                   // simple 22, §3.3

        public void WriteBool(bool value) { WriteByte(value ? (byte)0xF5 : (byte)0xF4); } // simple 21/20

        /// <summary>IEEE 754 binary16 from its bits, 0xF9 (§3.3).</summary>
        public void WriteFloat16FromBits(ushort bits)
        {
            Ensure(3);
            int p = _offset + _length;
            _buffer[p] = 0xF9;
            _buffer[p + 1] = (byte)(bits >> 8);
            _buffer[p + 2] = (byte)bits;
            _length += 3;
        }

        /// <summary>IEEE 754 binary32 from its bits, 0xFA (§3.3).</summary>
        public void WriteFloat32FromBits(uint bits)
        {
            Ensure(5);
            int p = _offset + _length;
            _buffer[p] = 0xFA;
            for (int i = 0; i < 4; i++) _buffer[p + 1 + i] = (byte)(bits >> (24 - 8 * i));
            _length += 5;
        }

        /// <summary>IEEE 754 binary64 from its bits, 0xFB (§3.3).</summary>
        public void WriteFloat64FromBits(ulong bits)
        {
            Ensure(9);
            int p = _offset + _length;
            _buffer[p] = 0xFB;
            for (int i = 0; i < 8; i++) _buffer[p + 1 + i] = (byte)(bits >> (56 - 8 * i));
            _length += 9;
        }

        /// <summary>
        /// Writes binary64 bits in the shortest of half/single/double that represents the same
        /// value exactly (preferred serialization, RFC 8949 §4.2.2 / §4.1). Normal numbers, ±0 only
        /// are shortened; anything else is written as binary64.
        /// </summary>
        public void WriteFloatPreferred(ulong doubleBits)
        {
            int size = FloatPreferredSize(doubleBits);
            if (size == 3) WriteFloat16FromBits(FloatBits.DoubleToHalfExact(doubleBits));
            else if (size == 5) WriteFloat32FromBits(FloatBits.DoubleToSingleExact(doubleBits));
            else WriteFloat64FromBits(doubleBits);
        }

        /// <summary>Encoded size of WriteFloatPreferred.</summary>
        public static int FloatPreferredSize(ulong doubleBits)
        {
            if (FloatBits.FitsHalf(doubleBits)) return 3;
            if (FloatBits.FitsSingle(doubleBits)) return 5;
            return 9;
        }

        /// <summary>Copies already-encoded CBOR (e.g. a nested item) verbatim.</summary>
        public void WriteEncoded(byte[] cbor, int offset, int length)
        {
            WriteBytes(cbor, offset, length);
        }

        /// <summary>The head of a data item: major type in the top 3 bits, argument in preferred form, §3.</summary>
        public void WriteHead(int majorType, ulong argument)
        {
            int size = HeadSize(argument);
            Ensure(size);
            int p = _offset + _length;
            int mt = majorType << 5;
            if (size == 1)
            {
                _buffer[p] = (byte)(mt | (int)argument);
            }
            else
            {
                _buffer[p] = (byte)(mt | (size == 2 ? 24 : size == 3 ? 25 : size == 5 ? 26 : 27));
                int n = size - 1;
                for (int i = 0; i < n; i++) _buffer[p + 1 + i] = (byte)(argument >> (8 * (n - 1 - i)));
            }
            _length += size;
        }

        private void WriteByte(byte b)
        {
            Ensure(1);
            _buffer[_offset + _length] = b;
            _length++;
        }

        private void WriteBytes(byte[] b, int offset, int length)
        {
            Ensure(length);
            if (length > 0) Array.Copy(b, offset, _buffer, _offset + _length, length);
            _length += length;
        }

        private void Ensure(int n)
        {
            if (n > _capacity - _length) throw new CborBufferFullException();
        }
    }
}

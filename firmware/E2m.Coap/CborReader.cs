using System;
using E2m.Hal;

namespace E2m.Coap
{
    /// <summary>
    /// Minimal bounds-checked CBOR decoder (RFC 8949) over (buffer, offset, length). Definite
    /// lengths only (indefinite → CborIndefiniteLengthUnsupported); every problem in the input is a
    /// CborFormatException (MalformedInputException family), never another exception.
    /// Strings are returned as segments of the input: after ReadByteString/ReadTextString,
    /// LastOffset/LastLength locate the content. No allocation.
    /// </summary>
    public sealed class CborReader
    {
        /// <summary>Default nesting limit for SkipValue.</summary>
        public const int DefaultMaxDepth = 16;

        private byte[] _buffer;
        private int _start;
        private int _end;
        private int _pos;
        private int _lastOffset;
        private int _lastLength;
        private int _maxDepth = DefaultMaxDepth;

        public CborReader() { }

        public CborReader(byte[] buffer, int offset, int length) { Reset(buffer, offset, length); }

        /// <summary>Points the reader at new input.</summary>
        public void Reset(byte[] buffer, int offset, int length)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            if (offset < 0 || length < 0 || offset + length > buffer.Length) throw new ArgumentOutOfRangeException("length");
            _buffer = buffer;
            _start = offset;
            _end = offset + length;
            _pos = offset;
            _lastOffset = 0;
            _lastLength = 0;
        }

        public byte[] Buffer { get { return _buffer; } }

        /// <summary>Absolute position of the next item in Buffer.</summary>
        public int Position { get { return _pos; } }

        /// <summary>Octets not yet consumed.</summary>
        public int Remaining { get { return _end - _pos; } }

        public bool AtEnd { get { return _pos >= _end; } }

        /// <summary>Content offset (in Buffer) of the last string read.</summary>
        public int LastOffset { get { return _lastOffset; } }

        /// <summary>Content length of the last string read.</summary>
        public int LastLength { get { return _lastLength; } }

        public int MaxDepth
        {
            get { return _maxDepth; }
            set { if (value < 1) throw new ArgumentOutOfRangeException("value"); _maxDepth = value; }
        }

        /// <summary>Throws CborTrailingBytes unless all input was consumed.</summary>
        public void ExpectEnd()
        {
            if (_pos != _end) throw new CborFormatException(InputError.CborTrailingBytes, _pos);
        }

        /// <summary>Major type (0-7) of the next item, without consuming it.</summary>
        public int PeekMajorType()
        {
            if (_pos >= _end) throw new CborFormatException(InputError.CborTruncated, _pos);
            return _buffer[_pos] >> 5;
        }

        /// <summary>The initial byte of the next item, without consuming it.</summary>
        public int PeekInitialByte()
        {
            if (_pos >= _end) throw new CborFormatException(InputError.CborTruncated, _pos);
            return _buffer[_pos];
        }

        /// <summary>Major type 0.</summary>
        public ulong ReadUInt()
        {
            return ReadHead(CborMajorType.UnsignedInteger);
        }

        /// <summary>Major type 0 or 1 within long range.</summary>
        public long ReadInt()
        {
            int at = _pos;
            int mt = PeekMajorType();
            if (mt != CborMajorType.UnsignedInteger && mt != CborMajorType.NegativeInteger)
            {
                throw new CborFormatException(InputError.CborUnexpectedType, at);
            }
            ulong arg = ReadHead(mt);
            if (arg > 0x7FFFFFFFFFFFFFFFUL) { _pos = at; throw new CborFormatException(InputError.CborValueOutOfRange, at); }
            return mt == CborMajorType.UnsignedInteger ? (long)arg : -1 - (long)arg;
        }

        /// <summary>Major type 0 or 1 within int range.</summary>
        public int ReadInt32()
        {
            int at = _pos;
            long v = ReadInt();
            if (v < int.MinValue || v > int.MaxValue) throw new CborFormatException(InputError.CborValueOutOfRange, at);
            return (int)v;
        }

        /// <summary>Byte string; returns content length, content at LastOffset.</summary>
        public int ReadByteString()
        {
            return ReadString(CborMajorType.ByteString);
        }

        /// <summary>Text string (UTF-8 validated, RFC 8949 §3.1); returns content length, content at LastOffset.</summary>
        public int ReadTextString()
        {
            int at = _pos;
            int n = ReadString(CborMajorType.TextString);
            if (!Utf8.IsValid(_buffer, _lastOffset, n)) throw new CborFormatException(InputError.CborInvalidUtf8, at);
            return n;
        }

        /// <summary>Array header: number of items (bounded by the remaining input: each item ≥ 1 octet).</summary>
        public int ReadArrayHeader()
        {
            return ReadCount(CborMajorType.Array, 1);
        }

        /// <summary>Map header: number of pairs (each pair ≥ 2 octets).</summary>
        public int ReadMapHeader()
        {
            return ReadCount(CborMajorType.Map, 2);
        }

        /// <summary>Tag number (major type 6).</summary>
        public ulong ReadTag()
        {
            return ReadHead(CborMajorType.Tag);
        }

        public bool ReadBool()
        {
            int b = PeekInitialByte();
            if (b == 0xF4 || b == 0xF5) { _pos++; return b == 0xF5; }
            throw new CborFormatException(InputError.CborUnexpectedType, _pos);
        }

        /// <summary>True (and consumed) if the next item is null.</summary>
        public bool TryReadNull()
        {
            if (PeekInitialByte() != 0xF6) return false;
            _pos++;
            return true;
        }

        /// <summary>True when the next item is a half/single/double float (0xF9-0xFB).</summary>
        public bool PeekIsFloat()
        {
            int b = PeekInitialByte();
            return b == 0xF9 || b == 0xFA || b == 0xFB;
        }

        /// <summary>Any float width as binary64 bits (exact widening, no floating point).</summary>
        public ulong ReadFloatAsDoubleBits()
        {
            int at = _pos;
            int b = PeekInitialByte();
            int n = b == 0xF9 ? 2 : b == 0xFA ? 4 : b == 0xFB ? 8 : 0;
            if (n == 0) throw new CborFormatException(InputError.CborUnexpectedType, at);
            if (_end - _pos - 1 < n) throw new CborFormatException(InputError.CborTruncated, at);
            ulong v = 0;
            for (int i = 1; i <= n; i++) v = (v << 8) | _buffer[_pos + i];
            _pos += 1 + n;
            if (n == 2) return FloatBits.HalfToDouble((ushort)v);
            if (n == 4) return FloatBits.SingleToDouble((uint)v);
            return v;
        }

        /// <summary>Skips one complete item (nested up to MaxDepth).</summary>
        public void SkipValue()
        {
            Skip(0);
        }

        private void Skip(int depth)
        {
            if (depth >= _maxDepth) throw new CborFormatException(InputError.CborNestingTooDeep, _pos);
            int at = _pos;
            int mt = PeekMajorType();
            switch (mt)
            {
                case CborMajorType.UnsignedInteger:
                case CborMajorType.NegativeInteger:
                    ReadHead(mt);
                    return;
                case CborMajorType.ByteString:
                case CborMajorType.TextString:
                    ReadString(mt);
                    return;
                case CborMajorType.Array:
                {
                    int n = ReadArrayHeader();
                    for (int i = 0; i < n; i++) Skip(depth + 1);
                    return;
                }
                case CborMajorType.Map:
                {
                    int n = ReadMapHeader();
                    for (int i = 0; i < n; i++) { Skip(depth + 1); Skip(depth + 1); }
                    return;
                }
                case CborMajorType.Tag:
                    ReadHead(mt);
                    Skip(depth + 1);
                    return;
                default:
                {
                    int ai = _buffer[_pos] & 0x1F;
                    int extra = ai < 24 ? 0 : ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : -1;
                    if (extra < 0)
                    {
                        throw new CborFormatException(ai == 31 ? InputError.CborIndefiniteLengthUnsupported : InputError.CborReservedAdditionalInfo, at);
                    }
                    if (ai == 24 && _end - _pos > 1 && _buffer[_pos + 1] < 32)
                    {
                        throw new CborFormatException(InputError.CborNonPreferredEncoding, at); // §3.3: simple value < 32 in two octets is not well-formed
                    }
                    if (_end - _pos - 1 < extra) throw new CborFormatException(InputError.CborTruncated, at);
                    _pos += 1 + extra;
                    return;
                }
            }
        }

        private int ReadString(int majorType)
        {
            int at = _pos;
            ulong n = ReadHead(majorType);
            if (n > (ulong)(_end - _pos)) { _pos = at; throw new CborFormatException(InputError.CborTruncated, at); }
            _lastOffset = _pos;
            _lastLength = (int)n;
            _pos += (int)n;
            return (int)n;
        }

        private int ReadCount(int majorType, int minOctetsPerEntry)
        {
            int at = _pos;
            ulong n = ReadHead(majorType);
            if (n > (ulong)((_end - _pos) / minOctetsPerEntry)) { _pos = at; throw new CborFormatException(InputError.CborTruncated, at); }
            return (int)n;
        }

        // Reads the head of an item of the expected major type; returns its argument (§3).
        private ulong ReadHead(int expectedMajorType)
        {
            int at = _pos;
            if (_pos >= _end) throw new CborFormatException(InputError.CborTruncated, at);
            int ib = _buffer[_pos];
            int mt = ib >> 5;
            if (mt != expectedMajorType) throw new CborFormatException(InputError.CborUnexpectedType, at);
            int ai = ib & 0x1F;
            if (ai < 24)
            {
                _pos++;
                return (ulong)ai;
            }
            if (ai == 31) throw new CborFormatException(InputError.CborIndefiniteLengthUnsupported, at);
            if (ai > 27) throw new CborFormatException(InputError.CborReservedAdditionalInfo, at);  // 28-30 reserved, §3
            int n = ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : 8;
            if (_end - _pos - 1 < n) throw new CborFormatException(InputError.CborTruncated, at);
            ulong v = 0;
            for (int i = 1; i <= n; i++) v = (v << 8) | _buffer[_pos + i];
            _pos += 1 + n;
            return v;
        }
    }
}

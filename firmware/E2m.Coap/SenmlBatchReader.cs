using System;
using E2m.Hal;

namespace E2m.Coap
{
    /// <summary>Kind of a decoded record's value.</summary>
    public enum SenmlValueKind
    {
        None = 0,
        /// <summary>v as a CBOR integer: GetInteger.</summary>
        Integer = 1,
        /// <summary>v as a CBOR float (any width): GetDoubleBits (binary64 bit pattern).</summary>
        Float = 2,
        /// <summary>vs: GetDataOffset/GetDataLength into the input (UTF-8).</summary>
        String = 3,
        /// <summary>vb: GetBool.</summary>
        Boolean = 4,
        /// <summary>vd: GetDataOffset/GetDataLength into the input.</summary>
        Data = 5,
    }

    /// <summary>
    /// Server side: strict decoder of a SenML-CBOR pack (RFC 8428 §6) into resolved records
    /// (RFC 8428 §4.6): names = bn + n, units = u or bu, times = bt + t. Portable, preallocated,
    /// no floating point (float values are returned as binary64 bit patterns).
    ///
    /// Accepted: bver (≤ 10), bn, bt, bu, n, u, v, vs, vb, vd, t, ut (checked, ignored); unknown
    /// integer labels and unknown text labels are skipped (RFC 8428 §4.4) except text labels ending
    /// in "_" (must-understand → error). e2m profile restrictions (typed errors): times (bt, t, ut)
    /// must be CBOR integers; bv, bs and s are not supported; every record has exactly one value.
    /// Every rejection is a MalformedInputException (SenmlFormatException or CborFormatException).
    /// </summary>
    public sealed class SenmlBatchReader
    {
        private readonly CborReader _reader = new CborReader();
        private readonly int _maxRecords;
        private readonly byte[] _names;
        private int _namesUsed;
        private int _count;
        private byte[] _input;

        private readonly int[] _nameOffset;
        private readonly int[] _nameLength;
        private readonly int[] _unitOffset;
        private readonly int[] _unitLength;
        private readonly int[] _kind;
        private readonly long[] _integer;
        private readonly ulong[] _doubleBits;
        private readonly int[] _dataOffset;
        private readonly int[] _dataLength;
        private readonly bool[] _bool;
        private readonly long[] _time;
        private readonly bool[] _hasBaseTime;
        private int _version;

        public SenmlBatchReader(int maxRecords, int nameBufferSize)
        {
            if (maxRecords < 1) throw new ArgumentOutOfRangeException("maxRecords");
            if (nameBufferSize < 1) throw new ArgumentOutOfRangeException("nameBufferSize");
            _maxRecords = maxRecords;
            _names = new byte[nameBufferSize];
            _nameOffset = new int[maxRecords];
            _nameLength = new int[maxRecords];
            _unitOffset = new int[maxRecords];
            _unitLength = new int[maxRecords];
            _kind = new int[maxRecords];
            _integer = new long[maxRecords];
            _doubleBits = new ulong[maxRecords];
            _dataOffset = new int[maxRecords];
            _dataLength = new int[maxRecords];
            _bool = new bool[maxRecords];
            _time = new long[maxRecords];
            _hasBaseTime = new bool[maxRecords];
        }

        public int Count { get { return _count; } }

        /// <summary>The input of the last Read (units, strings and data reference it).</summary>
        public byte[] Input { get { return _input; } }

        /// <summary>Resolved names (UTF-8) live here.</summary>
        public byte[] NameBuffer { get { return _names; } }

        /// <summary>SenML version of the pack (bver or 10).</summary>
        public int Version { get { return _version; } }

        public int GetNameOffset(int i) { Check(i); return _nameOffset[i]; }
        public int GetNameLength(int i) { Check(i); return _nameLength[i]; }

        /// <summary>Unit (u, else bu) offset in Input; length -1 when none.</summary>
        public int GetUnitOffset(int i) { Check(i); return _unitOffset[i]; }
        public int GetUnitLength(int i) { Check(i); return _unitLength[i]; }

        public SenmlValueKind GetValueKind(int i) { Check(i); return (SenmlValueKind)_kind[i]; }
        public long GetInteger(int i) { Check(i); return _integer[i]; }

        /// <summary>Value as binary64 bits: Float values as decoded, Integer values converted exactly when |v| ≤ 2^53, else correctly rounded.</summary>
        public ulong GetDoubleBits(int i)
        {
            Check(i);
            if (_kind[i] == (int)SenmlValueKind.Integer) return FloatBits.DecimalToDouble(_integer[i], 0);
            return _doubleBits[i];
        }

        public bool GetBool(int i) { Check(i); return _bool[i]; }
        public int GetDataOffset(int i) { Check(i); return _dataOffset[i]; }
        public int GetDataLength(int i) { Check(i); return _dataLength[i]; }

        /// <summary>Resolved time bt + t in seconds (RFC 8428 §4.5.3).</summary>
        public long GetTime(int i) { Check(i); return _time[i]; }

        /// <summary>True when the resolved time is relative to "now" (&lt; 2^28, RFC 8428 §4.5.3): stamp on arrival.</summary>
        public bool IsRelativeTime(int i) { Check(i); return _time[i] < SenmlLabel.RelativeTimeLimit; }

        /// <summary>True when a base time applied to record i.</summary>
        public bool HadBaseTime(int i) { Check(i); return _hasBaseTime[i]; }

        // label bits for duplicate detection: index = label + 6 (labels -6..8)
        private const int LabelBias = 6;

        /// <summary>Decodes a pack; returns the number of records.</summary>
        public int Read(byte[] buffer, int offset, int length)
        {
            _reader.Reset(buffer, offset, length);
            _input = buffer;
            _count = 0;
            _namesUsed = 0;
            _version = SenmlLabel.Version;
            CborReader r = _reader;

            if (r.AtEnd || r.PeekMajorType() != CborMajorType.Array) throw new SenmlFormatException(InputError.SenmlNotAnArray, offset);
            int n = r.ReadArrayHeader();
            if (n > _maxRecords) throw new SenmlFormatException(InputError.SenmlTooManyRecords, offset);

            // base values, RFC 8428 §4.1: apply to this and all following records until redefined
            int bnOffset = 0, bnLength = 0;
            bool hasBt = false;
            long bt = 0;
            int buOffset = 0, buLength = -1;
            bool versionSeen = false;

            for (int rec = 0; rec < n; rec++)
            {
                int recordStart = r.Position;
                if (r.PeekMajorType() != CborMajorType.Map) throw new SenmlFormatException(InputError.SenmlRecordNotAMap, recordStart);
                int pairs = r.ReadMapHeader();
                int seen = 0;
                int nOffset = 0, nLength = 0;
                int uOffset = 0, uLength = -1;
                bool hasT = false;
                long t = 0;
                int values = 0;
                int kind = (int)SenmlValueKind.None;
                long integer = 0;
                ulong bits = 0;
                int dOffset = 0, dLength = 0;
                bool vb = false;

                for (int p = 0; p < pairs; p++)
                {
                    int labelAt = r.Position;
                    int mt = r.PeekMajorType();
                    if (mt == CborMajorType.TextString)
                    {
                        int len = r.ReadTextString();
                        if (len > 0 && buffer[r.LastOffset + len - 1] == (byte)'_') throw new SenmlFormatException(InputError.SenmlMustUnderstandLabel, labelAt); // RFC 8428 §4.4
                        r.SkipValue();
                        continue;
                    }
                    if (mt != CborMajorType.UnsignedInteger && mt != CborMajorType.NegativeInteger) throw new SenmlFormatException(InputError.SenmlBadLabelType, labelAt);
                    long label = r.ReadInt();
                    if (label < -LabelBias || label > SenmlLabel.DataValue)
                    {
                        r.SkipValue();   // unknown label, ignorable (RFC 8428 §4.4)
                        continue;
                    }
                    int bit = 1 << (int)(label + LabelBias);
                    if ((seen & bit) != 0) throw new SenmlFormatException(InputError.SenmlDuplicateLabel, labelAt);
                    seen |= bit;
                    int valueAt = r.Position;
                    switch ((int)label)
                    {
                        case SenmlLabel.BaseVersion:
                        {
                            long v = ReadIntField(valueAt);
                            if (v < 1 || v > SenmlLabel.Version) throw new SenmlFormatException(InputError.SenmlUnsupportedVersion, valueAt);
                            if (versionSeen && v != _version) throw new SenmlFormatException(InputError.SenmlUnsupportedVersion, valueAt);
                            versionSeen = true;
                            _version = (int)v;
                            break;
                        }
                        case SenmlLabel.BaseName:
                            ExpectText(valueAt);
                            bnOffset = r.LastOffset;
                            bnLength = r.LastLength;
                            break;
                        case SenmlLabel.BaseTime:
                            bt = ReadTimeField(valueAt);
                            hasBt = true;
                            break;
                        case SenmlLabel.BaseUnit:
                            ExpectText(valueAt);
                            buOffset = r.LastOffset;
                            buLength = r.LastLength;
                            break;
                        case SenmlLabel.BaseValue:
                        case SenmlLabel.BaseSum:
                        case SenmlLabel.Sum:
                            throw new SenmlFormatException(InputError.SenmlUnsupportedField, labelAt);
                        case SenmlLabel.Name:
                            ExpectText(valueAt);
                            nOffset = r.LastOffset;
                            nLength = r.LastLength;
                            break;
                        case SenmlLabel.Unit:
                            ExpectText(valueAt);
                            uOffset = r.LastOffset;
                            uLength = r.LastLength;
                            break;
                        case SenmlLabel.Value:
                            values++;
                            if (r.PeekIsFloat())
                            {
                                kind = (int)SenmlValueKind.Float;
                                bits = r.ReadFloatAsDoubleBits();
                            }
                            else
                            {
                                kind = (int)SenmlValueKind.Integer;
                                integer = ReadIntField(valueAt);
                            }
                            break;
                        case SenmlLabel.StringValue:
                            values++;
                            ExpectText(valueAt);
                            kind = (int)SenmlValueKind.String;
                            dOffset = r.LastOffset;
                            dLength = r.LastLength;
                            break;
                        case SenmlLabel.BoolValue:
                        {
                            values++;
                            int ib = r.PeekInitialByte();
                            if (ib != 0xF4 && ib != 0xF5) throw new SenmlFormatException(InputError.SenmlBadFieldType, valueAt);
                            vb = r.ReadBool();
                            kind = (int)SenmlValueKind.Boolean;
                            break;
                        }
                        case SenmlLabel.DataValue:
                            values++;
                            if (r.PeekMajorType() != CborMajorType.ByteString) throw new SenmlFormatException(InputError.SenmlBadFieldType, valueAt);
                            r.ReadByteString();   // RFC 8428 §6: vd is a byte string in CBOR
                            kind = (int)SenmlValueKind.Data;
                            dOffset = r.LastOffset;
                            dLength = r.LastLength;
                            break;
                        case SenmlLabel.Time:
                            t = ReadTimeField(valueAt);
                            hasT = true;
                            break;
                        case SenmlLabel.UpdateTime:
                            ReadTimeField(valueAt);
                            break;
                    }
                }

                if (values > 1) throw new SenmlFormatException(InputError.SenmlMultipleValues, recordStart);
                if (values == 0) throw new SenmlFormatException(InputError.SenmlNoValue, recordStart);

                // resolved name = bn || n, RFC 8428 §4.5.1
                int nameLength = bnLength + nLength;
                if (nameLength > _names.Length - _namesUsed) throw new SenmlFormatException(InputError.SenmlNameTooLong, recordStart);
                int nameAt = _namesUsed;
                if (bnLength > 0) Array.Copy(buffer, bnOffset, _names, nameAt, bnLength);
                if (nLength > 0) Array.Copy(buffer, nOffset, _names, nameAt + bnLength, nLength);
                if (!ValidName(_names, nameAt, nameLength)) throw new SenmlFormatException(InputError.SenmlInvalidName, recordStart);
                _namesUsed += nameLength;

                // resolved time = bt + t, RFC 8428 §4.5.3 (both bounded to ±2^62 by ReadTimeField)
                long time = (hasBt ? bt : 0) + (hasT ? t : 0);

                _nameOffset[rec] = nameAt;
                _nameLength[rec] = nameLength;
                if (uLength >= 0) { _unitOffset[rec] = uOffset; _unitLength[rec] = uLength; }
                else { _unitOffset[rec] = buOffset; _unitLength[rec] = buLength; }
                _kind[rec] = kind;
                _integer[rec] = integer;
                _doubleBits[rec] = bits;
                _dataOffset[rec] = dOffset;
                _dataLength[rec] = dLength;
                _bool[rec] = vb;
                _time[rec] = time;
                _hasBaseTime[rec] = hasBt;
                _count = rec + 1;
            }
            r.ExpectEnd();
            return _count;
        }

        private long ReadIntField(int at)
        {
            int mt = _reader.PeekMajorType();
            if (mt != CborMajorType.UnsignedInteger && mt != CborMajorType.NegativeInteger) throw new SenmlFormatException(InputError.SenmlBadFieldType, at);
            return _reader.ReadInt();
        }

        private long ReadTimeField(int at)
        {
            if (_reader.PeekIsFloat()) throw new SenmlFormatException(InputError.SenmlUnsupportedField, at); // e2m profile: integer seconds
            long v = ReadIntField(at);
            if (v > (1L << 62) || v < -(1L << 62)) throw new SenmlFormatException(InputError.SenmlTimeOutOfRange, at);
            return v;
        }

        private void ExpectText(int at)
        {
            if (_reader.PeekMajorType() != CborMajorType.TextString) throw new SenmlFormatException(InputError.SenmlBadFieldType, at);
            _reader.ReadTextString();
        }

        // RFC 8428 §4.5.1: non-empty; first char A-Z a-z 0-9; rest also - : . / _
        private static bool ValidName(byte[] b, int offset, int length)
        {
            if (length == 0) return false;
            for (int i = 0; i < length; i++)
            {
                int c = b[offset + i];
                bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                if (alnum) continue;
                if (i == 0) return false;
                if (c != '-' && c != ':' && c != '.' && c != '/' && c != '_') return false;
            }
            return true;
        }

        private void Check(int i)
        {
            if (i < 0 || i >= _count) throw new ArgumentOutOfRangeException("i");
        }
    }
}

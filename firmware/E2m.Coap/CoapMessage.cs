using System;

namespace E2m.Coap
{
    /// <summary>
    /// A CoAP message (RFC 7252 §3) held in preallocated storage, reusable across datagrams.
    /// Options live in a table sorted by option number (stable: repeated options keep their order,
    /// RFC 7252 §5.4.5). An option value is a segment (buffer, offset, length) that references either
    /// the decoded datagram (no copy) or the message's own value arena (AddOptionCopy, AddUriPath,
    /// AddOptionUInt). The payload is a segment too. Nothing allocates after construction.
    /// A message decoded from a datagram references that datagram: do not overwrite the datagram
    /// while the message is in use.
    /// </summary>
    public sealed class CoapMessage
    {
        /// <summary>Default option table size.</summary>
        public const int DefaultMaxOptions = 16;

        /// <summary>Default value arena size (copied option values).</summary>
        public const int DefaultArenaSize = 128;

        /// <summary>Token length limit, RFC 7252 §3 (TKL 0-8).</summary>
        public const int MaxTokenLength = 8;

        private readonly int[] _optNumber;
        private readonly byte[][] _optBuffer;
        private readonly int[] _optOffset;
        private readonly int[] _optLength;
        private int _optCount;

        private readonly byte[] _arena;
        private int _arenaUsed;

        private readonly byte[] _token = new byte[MaxTokenLength];
        private int _tokenLength;

        private byte[] _payloadBuffer;
        private int _payloadOffset;
        private int _payloadLength;

        public CoapMessage() : this(DefaultMaxOptions, DefaultArenaSize) { }

        public CoapMessage(int maxOptions, int arenaSize)
        {
            if (maxOptions < 1) throw new ArgumentOutOfRangeException("maxOptions");
            if (arenaSize < 0) throw new ArgumentOutOfRangeException("arenaSize");
            _optNumber = new int[maxOptions];
            _optBuffer = new byte[maxOptions][];
            _optOffset = new int[maxOptions];
            _optLength = new int[maxOptions];
            _arena = new byte[arenaSize];
        }

        /// <summary>T: CoapType.Confirmable/NonConfirmable/Acknowledgement/Reset (RFC 7252 §3).</summary>
        public byte Type;

        /// <summary>Code c.dd as one octet (CoapCode helpers).</summary>
        public byte Code;

        /// <summary>Message ID 0-65535 (RFC 7252 §4.4).</summary>
        public int MessageId;

        /// <summary>Clears header, token, options, payload and the value arena.</summary>
        public void Reset()
        {
            Type = 0;
            Code = 0;
            MessageId = 0;
            _tokenLength = 0;
            for (int i = 0; i < _optCount; i++) _optBuffer[i] = null;
            _optCount = 0;
            _arenaUsed = 0;
            _payloadBuffer = null;
            _payloadOffset = 0;
            _payloadLength = 0;
        }

        // ---- token (RFC 7252 §5.3.1) ----

        public int TokenLength { get { return _tokenLength; } }

        /// <summary>The token bytes are Token[0..TokenLength). Internal storage: do not keep a reference across Reset.</summary>
        public byte[] Token { get { return _token; } }

        public void SetToken(byte[] source, int offset, int length)
        {
            if (length < 0 || length > MaxTokenLength) throw new ArgumentOutOfRangeException("length");
            if (length > 0) Array.Copy(source, offset, _token, 0, length);
            _tokenLength = length;
        }

        /// <summary>True when this message's token equals the given one (RFC 7252 §5.3.2 matching).</summary>
        public bool TokenEquals(byte[] token, int offset, int length)
        {
            if (length != _tokenLength) return false;
            for (int i = 0; i < length; i++)
            {
                if (_token[i] != token[offset + i]) return false;
            }
            return true;
        }

        /// <summary>Copies type, code, message id and token from another message (options and payload untouched).</summary>
        public void CopyHeaderFrom(CoapMessage other)
        {
            Type = other.Type;
            Code = other.Code;
            MessageId = other.MessageId;
            SetToken(other._token, 0, other._tokenLength);
        }

        // ---- options (RFC 7252 §5.4) ----

        public int OptionCount { get { return _optCount; } }

        public int MaxOptions { get { return _optNumber.Length; } }

        public int GetOptionNumber(int index) { Check(index); return _optNumber[index]; }

        public byte[] GetOptionBuffer(int index) { Check(index); return _optBuffer[index]; }

        public int GetOptionOffset(int index) { Check(index); return _optOffset[index]; }

        public int GetOptionLength(int index) { Check(index); return _optLength[index]; }

        /// <summary>Index of the first option with this number at or after startIndex, or -1.</summary>
        public int FindOption(int number, int startIndex)
        {
            for (int i = startIndex; i < _optCount; i++)
            {
                if (_optNumber[i] == number) return i;
                if (_optNumber[i] > number) break;
            }
            return -1;
        }

        /// <summary>Index of the first option with this number, or -1.</summary>
        public int FindOption(int number) { return FindOption(number, 0); }

        /// <summary>
        /// Adds an option whose value references (buffer, offset, length) without copying; the
        /// buffer must stay unchanged until the message is encoded. Inserted after any options
        /// with the same or a lower number. Returns the index.
        /// </summary>
        public int AddOption(int number, byte[] buffer, int offset, int length)
        {
            if (number < 0 || number > CoapOption.MaxNumber) throw new ArgumentOutOfRangeException("number");
            if (length < 0 || length > CoapOption.MaxValueLength) throw new ArgumentOutOfRangeException("length");
            if (length > 0 && (buffer == null || offset < 0 || offset + length > buffer.Length)) throw new ArgumentOutOfRangeException("offset");
            if (_optCount == _optNumber.Length) throw new InvalidOperationException("CoAP option table full");
            int pos = _optCount;
            while (pos > 0 && _optNumber[pos - 1] > number) pos--;
            for (int i = _optCount; i > pos; i--)
            {
                _optNumber[i] = _optNumber[i - 1];
                _optBuffer[i] = _optBuffer[i - 1];
                _optOffset[i] = _optOffset[i - 1];
                _optLength[i] = _optLength[i - 1];
            }
            _optNumber[pos] = number;
            _optBuffer[pos] = buffer;
            _optOffset[pos] = offset;
            _optLength[pos] = length;
            _optCount++;
            return pos;
        }

        /// <summary>Adds an option whose value is copied into the message's arena.</summary>
        public int AddOptionCopy(int number, byte[] buffer, int offset, int length)
        {
            int at = Reserve(length);
            if (length > 0) Array.Copy(buffer, offset, _arena, at, length);
            return AddOption(number, _arena, at, length);
        }

        /// <summary>Adds a uint option in minimal big-endian form (0 → empty value), RFC 7252 §3.2.</summary>
        public int AddOptionUInt(int number, uint value)
        {
            int len = value == 0 ? 0 : value < 0x100 ? 1 : value < 0x10000 ? 2 : value < 0x1000000 ? 3 : 4;
            int at = Reserve(len);
            for (int i = len - 1; i >= 0; i--)
            {
                _arena[at + i] = (byte)value;
                value >>= 8;
            }
            return AddOption(number, _arena, at, len);
        }

        /// <summary>Adds a string option (UTF-8, no allocation) copied into the arena.</summary>
        public int AddOptionString(int number, string value)
        {
            int len = Utf8.GetByteCount(value);
            int at = Reserve(len);
            Utf8.GetBytes(value, _arena, at);
            return AddOption(number, _arena, at, len);
        }

        /// <summary>Adds one Uri-Path segment (RFC 7252 §5.10.1, §6.4 step 8): e.g. "r" for POST /r.</summary>
        public int AddUriPath(string segment) { return AddOptionString(CoapOption.UriPath, segment); }

        /// <summary>Adds one Uri-Path segment from UTF-8 bytes (copied).</summary>
        public int AddUriPath(byte[] utf8, int offset, int length) { return AddOptionCopy(CoapOption.UriPath, utf8, offset, length); }

        /// <summary>Sets Content-Format (RFC 7252 §5.10.3), replacing any present.</summary>
        public void SetContentFormat(int format)
        {
            if (format < 0 || format > 65535) throw new ArgumentOutOfRangeException("format");
            RemoveOptions(CoapOption.ContentFormat);
            AddOptionUInt(CoapOption.ContentFormat, (uint)format);
        }

        /// <summary>Content-Format value, or -1 when absent. Throws CoapFormatException for a value longer than 2 octets.</summary>
        public int GetContentFormat()
        {
            int i = FindOption(CoapOption.ContentFormat);
            if (i < 0) return -1;
            return (int)GetOptionUInt(i, 2);
        }

        /// <summary>Decodes option i as a uint of at most maxLength (≤ 4) octets (RFC 7252 §3.2); longer → CoapFormatException.</summary>
        public uint GetOptionUInt(int index, int maxLength)
        {
            Check(index);
            int len = _optLength[index];
            if (len > maxLength || len > 4) throw new CoapFormatException(E2m.Hal.InputError.CoapBadOptionValue, -1);
            byte[] b = _optBuffer[index];
            int o = _optOffset[index];
            uint v = 0;
            for (int i = 0; i < len; i++) v = (v << 8) | b[o + i];
            return v;
        }

        /// <summary>Removes option at index.</summary>
        public void RemoveOptionAt(int index)
        {
            Check(index);
            for (int i = index; i < _optCount - 1; i++)
            {
                _optNumber[i] = _optNumber[i + 1];
                _optBuffer[i] = _optBuffer[i + 1];
                _optOffset[i] = _optOffset[i + 1];
                _optLength[i] = _optLength[i + 1];
            }
            _optCount--;
            _optBuffer[_optCount] = null;
        }

        /// <summary>Removes every option with this number; returns how many.</summary>
        public int RemoveOptions(int number)
        {
            int removed = 0;
            int i = FindOption(number);
            while (i >= 0)
            {
                RemoveOptionAt(i);
                removed++;
                i = FindOption(number, i);
            }
            return removed;
        }

        /// <summary>Removes all options (arena space is kept until Reset).</summary>
        public void ClearOptions()
        {
            for (int i = 0; i < _optCount; i++) _optBuffer[i] = null;
            _optCount = 0;
        }

        // ---- payload (RFC 7252 §5.5) ----

        public byte[] PayloadBuffer { get { return _payloadBuffer; } }
        public int PayloadOffset { get { return _payloadOffset; } }
        public int PayloadLength { get { return _payloadLength; } }

        /// <summary>References (buffer, offset, length) as payload, without copying. Length 0 = no payload.</summary>
        public void SetPayload(byte[] buffer, int offset, int length)
        {
            if (length < 0) throw new ArgumentOutOfRangeException("length");
            if (length > 0 && (buffer == null || offset < 0 || offset + length > buffer.Length)) throw new ArgumentOutOfRangeException("offset");
            _payloadBuffer = length == 0 ? null : buffer;
            _payloadOffset = length == 0 ? 0 : offset;
            _payloadLength = length;
        }

        // ---- internal, used by the codec ----

        internal void AppendDecodedOption(int number, byte[] buffer, int offset, int length, int position)
        {
            if (_optCount == _optNumber.Length) throw new CoapFormatException(E2m.Hal.InputError.CoapTooManyOptions, position);
            _optNumber[_optCount] = number;
            _optBuffer[_optCount] = buffer;
            _optOffset[_optCount] = offset;
            _optLength[_optCount] = length;
            _optCount++;
        }

        internal void SetTokenLengthDecoded(int length) { _tokenLength = length; }

        private int Reserve(int length)
        {
            if (length < 0 || _arenaUsed + length > _arena.Length) throw new InvalidOperationException("CoAP option value arena full");
            int at = _arenaUsed;
            _arenaUsed += length;
            return at;
        }

        private void Check(int index)
        {
            if (index < 0 || index >= _optCount) throw new ArgumentOutOfRangeException("index");
        }
    }
}

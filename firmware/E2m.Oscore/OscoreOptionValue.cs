using System;
using E2m.Coap;

namespace E2m.Oscore
{
    /// <summary>
    /// The OSCORE option value (RFC 8613 §6.1, Figure 10): flag byte |0 0 0|h|k|n n n|, Partial IV (n octets),
    /// 'kid context' (s, then s octets) when h = 1, 'kid' (the rest) when k = 1. An all-zero flag byte is
    /// encoded as the empty value (RFC 8613 §2).
    /// A reusable holder: fields are copied into preallocated arrays, so parsing allocates nothing and the
    /// parsed values stay valid after the datagram buffer is reused.
    /// </summary>
    public sealed class OscoreOptionValue
    {
        /// <summary>Largest option value: the OSCORE option length is 0-255 (RFC 8613 §2, Figure 3).</summary>
        public const int MaxLength = 255;

        // RFC 8613 §6.1: flag bits.
        private const int FlagKidContext = 0x10; // h
        private const int FlagKid = 0x08;        // k
        private const int MaskPivLength = 0x07;  // n
        private const int MaskReserved = 0xE0;   // sixth-to-eighth least significant bits: reserved, SHALL be zero

        private readonly byte[] _piv = new byte[OscoreConstants.MaxPivLength];
        private readonly byte[] _kid = new byte[MaxLength];
        private readonly byte[] _kidContext = new byte[MaxLength];
        private int _pivLength;
        private int _kidLength;
        private int _kidContextLength;
        private bool _hasKid;
        private bool _hasKidContext;

        /// <summary>True when a Partial IV is present (n &gt; 0).</summary>
        public bool HasPiv { get { return _pivLength > 0; } }

        /// <summary>The Partial IV octets (first <see cref="PivLength"/> octets are valid).</summary>
        public byte[] Piv { get { return _piv; } }

        public int PivLength { get { return _pivLength; } }

        /// <summary>The Partial IV as an unsigned number (network byte order, RFC 8613 §5), or -1 when absent.</summary>
        public long PivValue
        {
            get
            {
                if (_pivLength == 0)
                {
                    return -1;
                }

                long v = 0;
                for (int i = 0; i < _pivLength; i++)
                {
                    v = (v << 8) | _piv[i];
                }

                return v;
            }
        }

        /// <summary>True when the 'kid' flag k is set (the kid may still be empty: an empty Sender ID is legitimate, RFC 8613 §3.3).</summary>
        public bool HasKid { get { return _hasKid; } }

        /// <summary>The 'kid' octets (first <see cref="KidLength"/> are valid).</summary>
        public byte[] Kid { get { return _kid; } }

        public int KidLength { get { return _kidLength; } }

        /// <summary>True when the 'kid context' flag h is set.</summary>
        public bool HasKidContext { get { return _hasKidContext; } }

        /// <summary>The 'kid context' octets (first <see cref="KidContextLength"/> are valid).</summary>
        public byte[] KidContext { get { return _kidContext; } }

        public int KidContextLength { get { return _kidContextLength; } }

        /// <summary>Resets to the empty value (no Partial IV, no kid, no kid context).</summary>
        public void Clear()
        {
            _pivLength = 0;
            _kidLength = 0;
            _kidContextLength = 0;
            _hasKid = false;
            _hasKidContext = false;
        }

        /// <summary>Sets the Partial IV from a Sender Sequence Number: big-endian with leading zero octets removed, 0 → 0x00 (RFC 8613 §5).</summary>
        public void SetPiv(long senderSequenceNumber)
        {
            if (senderSequenceNumber < 0 || senderSequenceNumber > OscoreConstants.MaxSenderSequenceNumber)
            {
                throw new ArgumentOutOfRangeException("senderSequenceNumber");
            }

            _pivLength = EncodePiv(senderSequenceNumber, _piv, 0);
        }

        /// <summary>Copies a Partial IV (1..5 octets) verbatim.</summary>
        public void SetPiv(byte[] piv, int offset, int length)
        {
            if (length < 0 || length > OscoreConstants.MaxPivLength)
            {
                throw new ArgumentOutOfRangeException("length");
            }

            Array.Copy(piv, offset, _piv, 0, length);
            _pivLength = length;
        }

        /// <summary>Removes the Partial IV (n = 0).</summary>
        public void ClearPiv()
        {
            _pivLength = 0;
        }

        /// <summary>Sets the 'kid' (k = 1); length 0 is a present, empty kid.</summary>
        public void SetKid(byte[] kid, int offset, int length)
        {
            if (length < 0 || length > MaxLength)
            {
                throw new ArgumentOutOfRangeException("length");
            }

            if (length > 0)
            {
                Array.Copy(kid, offset, _kid, 0, length);
            }

            _kidLength = length;
            _hasKid = true;
        }

        /// <summary>Removes the 'kid' (k = 0).</summary>
        public void ClearKid()
        {
            _kidLength = 0;
            _hasKid = false;
        }

        /// <summary>Sets the 'kid context' (h = 1), at most 255 octets (one length octet s, RFC 8613 §6.1).</summary>
        public void SetKidContext(byte[] kidContext, int offset, int length)
        {
            if (length < 0 || length > OscoreConstants.MaxIdContextLength)
            {
                throw new ArgumentOutOfRangeException("length");
            }

            if (length > 0)
            {
                Array.Copy(kidContext, offset, _kidContext, 0, length);
            }

            _kidContextLength = length;
            _hasKidContext = true;
        }

        /// <summary>Removes the 'kid context' (h = 0).</summary>
        public void ClearKidContext()
        {
            _kidContextLength = 0;
            _hasKidContext = false;
        }

        /// <summary>Length of the encoded value (0 when all flags are zero, RFC 8613 §2).</summary>
        public int EncodedLength
        {
            get
            {
                if (_pivLength == 0 && !_hasKid && !_hasKidContext)
                {
                    return 0;
                }

                int n = 1 + _pivLength;
                if (_hasKidContext)
                {
                    n += 1 + _kidContextLength;
                }

                if (_hasKid)
                {
                    n += _kidLength;
                }

                return n;
            }
        }

        /// <summary>
        /// Writes the option value (RFC 8613 §6.1) and returns its length; empty when all flags are zero (§2).
        /// Throws ArgumentException when the value would exceed 255 octets or the buffer is too small.
        /// </summary>
        public int Encode(byte[] output, int offset)
        {
            int length = EncodedLength;
            if (length > MaxLength)
            {
                throw new ArgumentException("OSCORE option value longer than 255 octets");
            }

            if (offset < 0 || offset + length > output.Length)
            {
                throw new ArgumentException("output buffer too small for the OSCORE option value");
            }

            if (length == 0)
            {
                return 0;
            }

            int p = offset;
            int flags = _pivLength;                    // n, RFC 8613 §6.1
            if (_hasKid)
            {
                flags |= FlagKid;                      // k
            }

            if (_hasKidContext)
            {
                flags |= FlagKidContext;               // h
            }

            output[p++] = (byte)flags;
            Array.Copy(_piv, 0, output, p, _pivLength);
            p += _pivLength;
            if (_hasKidContext)
            {
                output[p++] = (byte)_kidContextLength;  // s
                Array.Copy(_kidContext, 0, output, p, _kidContextLength);
                p += _kidContextLength;
            }

            if (_hasKid)
            {
                Array.Copy(_kid, 0, output, p, _kidLength); // kid = the remaining octets, always last
                p += _kidLength;
            }

            return p - offset;
        }

        /// <summary>
        /// Decodes an OSCORE option value (RFC 8613 §6.1) into this holder. Returns false (holder cleared)
        /// when the value is malformed: longer than 255, non-empty with an all-zero flag byte (§2), reserved
        /// flag bits set, n = 6 or 7, truncated Partial IV or kid context, a Partial IV with a leading zero
        /// octet (not the minimal encoding of §5), or trailing octets when k = 0. Never throws for any input.
        /// </summary>
        public bool TryParse(byte[] value, int offset, int length)
        {
            return ParseCore(value, offset, length) < 0;
        }

        /// <summary>As <see cref="TryParse"/> but throws <see cref="OscoreException"/> (MalformedOption) with the octet position.</summary>
        public void Parse(byte[] value, int offset, int length)
        {
            int bad = ParseCore(value, offset, length);
            if (bad >= 0)
            {
                throw new OscoreException(OscoreError.MalformedOption, bad);
            }
        }

        // Returns -1 on success, else the offset of the offending octet.
        private int ParseCore(byte[] value, int offset, int length)
        {
            Clear();
            if (value == null || offset < 0 || length < 0 || offset + length > value.Length)
            {
                return offset < 0 ? 0 : offset;
            }

            if (length == 0)
            {
                return -1; // RFC 8613 §2: empty value = all flag bits zero
            }

            if (length > MaxLength)
            {
                return offset + MaxLength;
            }

            int end = offset + length;
            int flags = value[offset];
            if (flags == 0)
            {
                return offset;                                  // RFC 8613 §2: flags all zero SHALL be the empty value
            }

            if ((flags & MaskReserved) != 0)
            {
                return offset;                                  // RFC 8613 §6.1: reserved bits set → malformed
            }

            int n = flags & MaskPivLength;
            if (n > OscoreConstants.MaxPivLength)
            {
                return offset;                                  // RFC 8613 §6.1: n = 6, 7 reserved
            }

            int p = offset + 1;
            if (p + n > end)
            {
                return end;
            }

            if (n > 1 && value[p] == 0)
            {
                return p;                                       // RFC 8613 §5: leading zero octets SHALL be removed
            }

            if (n > 0)
            {
                Array.Copy(value, p, _piv, 0, n);
            }

            _pivLength = n;
            p += n;

            if ((flags & FlagKidContext) != 0)
            {
                if (p >= end)
                {
                    return end;
                }

                int s = value[p++];
                if (p + s > end)
                {
                    return end;
                }

                if (s > 0)
                {
                    Array.Copy(value, p, _kidContext, 0, s);
                }

                _kidContextLength = s;
                _hasKidContext = true;
                p += s;
            }

            if ((flags & FlagKid) != 0)
            {
                int k = end - p;                                // RFC 8613 §6.1: kid = the remaining octets
                if (k > 0)
                {
                    Array.Copy(value, p, _kid, 0, k);
                }

                _kidLength = k;
                _hasKid = true;
                p = end;
            }

            if (p != end)
            {
                int at = p;
                Clear();
                return at;                                      // trailing octets with k = 0
            }

            return -1;
        }

        /// <summary>
        /// Reads the OSCORE option (number 9) of a decoded message into this holder. Returns false when the
        /// message has none; throws <see cref="OscoreException"/> (MalformedOption) when the value is malformed
        /// or the option is repeated (not repeatable, RFC 8613 §2).
        /// </summary>
        public bool ReadFrom(CoapMessage message)
        {
            if (message == null)
            {
                throw new ArgumentNullException("message");
            }

            Clear();
            int index = message.FindOption(OscoreConstants.OptionNumber);
            if (index < 0)
            {
                return false;
            }

            if (message.FindOption(OscoreConstants.OptionNumber, index + 1) >= 0)
            {
                throw new OscoreException(OscoreError.MalformedOption, -1);
            }

            Parse(message.GetOptionBuffer(index), message.GetOptionOffset(index), message.GetOptionLength(index));
            return true;
        }

        /// <summary>
        /// Server-side peek before choosing a security context (RFC 8613 §8.2 step 2): decodes the datagram
        /// into <paramref name="scratch"/> and reads its OSCORE option ('kid', 'kid context', Partial IV) into
        /// this holder. Returns false when the datagram has no OSCORE option. Throws the codec's
        /// MalformedInputException for a datagram that is not CoAP and <see cref="OscoreException"/>
        /// (MalformedOption) for a malformed option. Allocates nothing.
        /// </summary>
        public bool ReadFrom(byte[] datagram, int offset, int length, CoapMessage scratch)
        {
            if (scratch == null)
            {
                throw new ArgumentNullException("scratch");
            }

            Clear();
            CoapCodec.Decode(datagram, offset, length, scratch);
            bool found = ReadFrom(scratch);
            scratch.Reset();
            return found;
        }

        /// <summary>True when the kid is present and equals <paramref name="id"/>[offset..offset+length).</summary>
        public bool KidEquals(byte[] id, int offset, int length)
        {
            if (!_hasKid || _kidLength != length)
            {
                return false;
            }

            for (int i = 0; i < length; i++)
            {
                if (_kid[i] != id[offset + i])
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>Copies every field from <paramref name="other"/>.</summary>
        public void CopyFrom(OscoreOptionValue other)
        {
            Array.Copy(other._piv, 0, _piv, 0, other._pivLength);
            _pivLength = other._pivLength;
            Array.Copy(other._kid, 0, _kid, 0, other._kidLength);
            _kidLength = other._kidLength;
            _hasKid = other._hasKid;
            Array.Copy(other._kidContext, 0, _kidContext, 0, other._kidContextLength);
            _kidContextLength = other._kidContextLength;
            _hasKidContext = other._hasKidContext;
        }

        /// <summary>
        /// Writes the Partial IV of <paramref name="senderSequenceNumber"/>: network byte order with leading zero
        /// octets removed, value 0 → 0x00 (RFC 8613 §5). Returns the length (1..5).
        /// </summary>
        public static int EncodePiv(long senderSequenceNumber, byte[] output, int offset)
        {
            int n = 1;
            long v = senderSequenceNumber >> 8;
            while (v != 0)
            {
                n++;
                v >>= 8;
            }

            long w = senderSequenceNumber;
            for (int i = n - 1; i >= 0; i--)
            {
                output[offset + i] = (byte)w;
                w >>= 8;
            }

            return n;
        }
    }
}

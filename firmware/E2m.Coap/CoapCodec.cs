using System;
using E2m.Hal;

namespace E2m.Coap
{
    /// <summary>
    /// CoAP message format, RFC 7252 §3: 4-octet header (Ver, T, TKL, Code, Message ID), token,
    /// options as delta/length with 13/14 extended forms (§3.1), payload marker 0xFF and payload.
    /// Stateless; no allocation.
    /// </summary>
    public static class CoapCodec
    {
        /// <summary>Ver = 1, RFC 7252 §3.</summary>
        public const int Version = 1;

        /// <summary>Payload marker, RFC 7252 §3.</summary>
        public const byte PayloadMarker = 0xFF;

        /// <summary>Octets Encode would produce for this message.</summary>
        public static int GetEncodedLength(CoapMessage message)
        {
            return 4 + message.TokenLength + GetOptionsAndPayloadLength(message);
        }

        /// <summary>Octets of the options and (marker +) payload alone, as in the OSCORE plaintext (RFC 8613 §5.3) after its code octet.</summary>
        public static int GetOptionsAndPayloadLength(CoapMessage message)
        {
            int n = 0;
            int previous = 0;
            int count = message.OptionCount;
            for (int i = 0; i < count; i++)
            {
                int number = message.GetOptionNumber(i);
                int length = message.GetOptionLength(i);
                n += 1 + ExtensionSize(number - previous) + ExtensionSize(length) + length;
                previous = number;
            }
            if (message.PayloadLength > 0) n += 1 + message.PayloadLength;
            return n;
        }

        /// <summary>
        /// Writes the message at buffer[offset..]; returns its length. A buffer too small, a
        /// message id outside 0-65535 or a type outside 0-3 is a caller error (ArgumentException).
        /// </summary>
        public static int Encode(CoapMessage message, byte[] buffer, int offset)
        {
            if (message == null) throw new ArgumentNullException("message");
            if (buffer == null) throw new ArgumentNullException("buffer");
            if (message.Type > 3) throw new ArgumentOutOfRangeException("message");
            if (message.MessageId < 0 || message.MessageId > 0xFFFF) throw new ArgumentOutOfRangeException("message");
            int total = GetEncodedLength(message);
            if (offset < 0 || offset + total > buffer.Length) throw new ArgumentException("CoAP encode: buffer too small");

            int p = offset;
            int tkl = message.TokenLength;
            buffer[p++] = (byte)((Version << 6) | (message.Type << 4) | tkl);   // RFC 7252 §3 Ver|T|TKL
            buffer[p++] = message.Code;
            buffer[p++] = (byte)(message.MessageId >> 8);                       // network byte order
            buffer[p++] = (byte)message.MessageId;
            if (tkl > 0) Array.Copy(message.Token, 0, buffer, p, tkl);
            p += tkl;

            p = WriteOptionsAndPayload(message, buffer, p);
            return p - offset;
        }

        /// <summary>
        /// Writes only the options and (marker +) payload of the message at buffer[offset..]
        /// (no header, no token): the form OSCORE encrypts after the inner code (RFC 8613 §5.3).
        /// Returns the length. Buffer too small → ArgumentException.
        /// </summary>
        public static int EncodeOptionsAndPayload(CoapMessage message, byte[] buffer, int offset)
        {
            if (message == null) throw new ArgumentNullException("message");
            if (buffer == null) throw new ArgumentNullException("buffer");
            int total = GetOptionsAndPayloadLength(message);
            if (offset < 0 || offset + total > buffer.Length) throw new ArgumentException("CoAP encode: buffer too small");
            return WriteOptionsAndPayload(message, buffer, offset) - offset;
        }

        private static int WriteOptionsAndPayload(CoapMessage message, byte[] buffer, int p)
        {
            int previous = 0;
            int count = message.OptionCount;
            for (int i = 0; i < count; i++)
            {
                int number = message.GetOptionNumber(i);
                int length = message.GetOptionLength(i);
                int delta = number - previous;
                previous = number;
                int head = p++;
                int dn = Nibble(delta);
                int ln = Nibble(length);
                buffer[head] = (byte)((dn << 4) | ln);
                p = WriteExtension(buffer, p, delta, dn);   // delta extension precedes length extension, RFC 7252 §3.1
                p = WriteExtension(buffer, p, length, ln);
                if (length > 0) Array.Copy(message.GetOptionBuffer(i), message.GetOptionOffset(i), buffer, p, length);
                p += length;
            }

            if (message.PayloadLength > 0)
            {
                buffer[p++] = PayloadMarker;                // RFC 7252 §3
                Array.Copy(message.PayloadBuffer, message.PayloadOffset, buffer, p, message.PayloadLength);
                p += message.PayloadLength;
            }
            return p;
        }

        /// <summary>
        /// Parses datagram[offset..offset+length) into 'into' (Reset first). Option values and the
        /// payload reference the datagram (no copy). Rejects with CoapFormatException (a
        /// MalformedInputException): length &lt; 4, version ≠ 1, TKL 9-15, truncated token,
        /// option delta or length nibble 15 (§3.1), truncated extensions or values, option numbers
        /// above 65535, payload marker with empty payload (§3), an Empty message (0.00) with any
        /// octet after the header (§4.1), more options than the table holds.
        /// </summary>
        public static void Decode(byte[] datagram, int offset, int length, CoapMessage into)
        {
            if (datagram == null) throw new ArgumentNullException("datagram");
            if (into == null) throw new ArgumentNullException("into");
            if (offset < 0 || length < 0 || offset + length > datagram.Length) throw new ArgumentOutOfRangeException("length");
            into.Reset();
            int end = offset + length;
            if (length < 4) throw new CoapFormatException(InputError.CoapTruncatedHeader, offset);
            int b0 = datagram[offset];
            if ((b0 >> 6) != Version) throw new CoapFormatException(InputError.CoapBadVersion, offset); // RFC 7252 §3: other versions MUST be silently ignored
            int tkl = b0 & 0x0F;
            if (tkl > CoapMessage.MaxTokenLength) throw new CoapFormatException(InputError.CoapBadTokenLength, offset); // §3: 9-15 reserved, format error
            into.Type = (byte)((b0 >> 4) & 0x03);
            into.Code = datagram[offset + 1];
            into.MessageId = (datagram[offset + 2] << 8) | datagram[offset + 3];
            int p = offset + 4;
            if (into.Code == CoapCode.Empty && (tkl != 0 || length != 4))
            {
                throw new CoapFormatException(InputError.CoapNonEmptyEmptyMessage, p); // RFC 7252 §4.1
            }
            if (p + tkl > end) throw new CoapFormatException(InputError.CoapTruncatedToken, p);
            into.SetToken(datagram, p, tkl);
            p += tkl;

            ParseOptionsAndPayload(datagram, p, end, into);
        }

        /// <summary>
        /// Parses options and (marker +) payload from buffer[offset..offset+length) into 'into'
        /// (whose options and payload are cleared first; header and token untouched): the OSCORE
        /// plaintext after its code octet (RFC 8613 §5.3). Same rejections as Decode.
        /// </summary>
        public static void DecodeOptionsAndPayload(byte[] buffer, int offset, int length, CoapMessage into)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            if (into == null) throw new ArgumentNullException("into");
            if (offset < 0 || length < 0 || offset + length > buffer.Length) throw new ArgumentOutOfRangeException("length");
            into.ClearOptions();
            into.SetPayload(null, 0, 0);
            ParseOptionsAndPayload(buffer, offset, offset + length, into);
        }

        private static void ParseOptionsAndPayload(byte[] datagram, int p, int end, CoapMessage into)
        {
            int number = 0;
            while (p < end)
            {
                int start = p;
                int b = datagram[p++];
                if (b == PayloadMarker)
                {
                    if (p == end) throw new CoapFormatException(InputError.CoapEmptyPayloadAfterMarker, start); // §3
                    into.SetPayload(datagram, p, end - p);
                    return;
                }
                int dn = b >> 4;
                int ln = b & 0x0F;
                if (dn == 15) throw new CoapFormatException(InputError.CoapReservedOptionDelta, start);   // §3.1
                if (ln == 15) throw new CoapFormatException(InputError.CoapReservedOptionLength, start);  // §3.1
                int delta = dn;
                if (dn == 13)
                {
                    if (p + 1 > end) throw new CoapFormatException(InputError.CoapTruncatedOptionExtension, p);
                    delta = datagram[p++] + 13;
                }
                else if (dn == 14)
                {
                    if (p + 2 > end) throw new CoapFormatException(InputError.CoapTruncatedOptionExtension, p);
                    delta = ((datagram[p] << 8) | datagram[p + 1]) + 269;
                    p += 2;
                }
                int optLength = ln;
                if (ln == 13)
                {
                    if (p + 1 > end) throw new CoapFormatException(InputError.CoapTruncatedOptionExtension, p);
                    optLength = datagram[p++] + 13;
                }
                else if (ln == 14)
                {
                    if (p + 2 > end) throw new CoapFormatException(InputError.CoapTruncatedOptionExtension, p);
                    optLength = ((datagram[p] << 8) | datagram[p + 1]) + 269;
                    p += 2;
                }
                number += delta;
                if (number > CoapOption.MaxNumber) throw new CoapFormatException(InputError.CoapOptionNumberTooLarge, start);
                if (optLength > end - p) throw new CoapFormatException(InputError.CoapTruncatedOptionValue, p);
                into.AppendDecodedOption(number, datagram, p, optLength, start);
                p += optLength;
            }
        }

        private static int ExtensionSize(int value)
        {
            return value < 13 ? 0 : value < 269 ? 1 : 2;   // RFC 7252 §3.1
        }

        private static int Nibble(int value)
        {
            return value < 13 ? value : value < 269 ? 13 : 14;
        }

        private static int WriteExtension(byte[] buffer, int p, int value, int nibble)
        {
            if (nibble == 13)
            {
                buffer[p++] = (byte)(value - 13);
            }
            else if (nibble == 14)
            {
                int v = value - 269;
                buffer[p++] = (byte)(v >> 8);
                buffer[p++] = (byte)v;
            }
            return p;
        }
    }
}

using System;
using E2m.Hal;

namespace E2m.Coap
{
    /// <summary>
    /// Message ID source, RFC 7252 §4.4: starts at a random value (from entropy, so that a reboot
    /// does not replay recently used IDs towards a server's deduplication cache) and increments
    /// modulo 2^16.
    /// </summary>
    public sealed class CoapMessageIdSource
    {
        private int _next;

        public CoapMessageIdSource(IEntropySource entropy)
        {
            if (entropy == null) throw new ArgumentNullException("entropy");
            byte[] seed = new byte[2];
            entropy.Fill(seed, 0, 2);
            _next = (seed[0] << 8) | seed[1];
        }

        /// <summary>Starts at a given value (tests, or a value persisted across sleep).</summary>
        public CoapMessageIdSource(int start)
        {
            _next = start & 0xFFFF;
        }

        /// <summary>Returns the next message ID (0-65535).</summary>
        public int Next()
        {
            int id = _next;
            _next = (_next + 1) & 0xFFFF;
            return id;
        }

        /// <summary>The value Next will return.</summary>
        public int Peek { get { return _next; } }
    }

    /// <summary>
    /// Token generation, RFC 7252 §5.3.1: random tokens from the entropy source. Default length 4
    /// octets (32 random bits, the §5.3.1 minimum for clients not using a secure channel; bytes on
    /// NB-IoT are expensive). OSCORE binds the request to the response anyway (RFC 8613 §5.4,
    /// request_kid/request_piv in the external AAD).
    /// </summary>
    public sealed class CoapTokenSource
    {
        public const int DefaultLength = 4;

        private readonly IEntropySource _entropy;
        private readonly int _length;
        private readonly byte[] _scratch = new byte[CoapMessage.MaxTokenLength];

        public CoapTokenSource(IEntropySource entropy) : this(entropy, DefaultLength) { }

        public CoapTokenSource(IEntropySource entropy, int length)
        {
            if (entropy == null) throw new ArgumentNullException("entropy");
            if (length < 0 || length > CoapMessage.MaxTokenLength) throw new ArgumentOutOfRangeException("length");
            _entropy = entropy;
            _length = length;
        }

        public int Length { get { return _length; } }

        /// <summary>Gives message a fresh random token of Length octets.</summary>
        public void Assign(CoapMessage message)
        {
            if (_length > 0) _entropy.Fill(_scratch, 0, _length);
            message.SetToken(_scratch, 0, _length);
        }

        /// <summary>Writes a fresh random token to buffer[offset..offset+Length).</summary>
        public void Fill(byte[] buffer, int offset)
        {
            if (_length > 0) _entropy.Fill(buffer, offset, _length);
        }
    }
}

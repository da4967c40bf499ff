using System;
using E2m.Hal;

namespace E2m.Coap
{
    /// <summary>A CoAP datagram (RFC 7252 §3) was rejected.</summary>
    public class CoapFormatException : MalformedInputException
    {
        public CoapFormatException(InputError error, int position) : base(error, position) { }
    }

    /// <summary>CBOR input (RFC 8949) was rejected.</summary>
    public class CborFormatException : MalformedInputException
    {
        public CborFormatException(InputError error, int position) : base(error, position) { }
    }

    /// <summary>A SenML pack (RFC 8428) was rejected.</summary>
    public class SenmlFormatException : MalformedInputException
    {
        public SenmlFormatException(InputError error, int position) : base(error, position) { }
    }

    /// <summary>
    /// The CborWriter ran out of room. Not an input error: the caller's buffer is too small for
    /// what it asked to write (SenmlBatchWriter catches it to decide that a record does not fit).
    /// </summary>
    public class CborBufferFullException : InvalidOperationException
    {
        public CborBufferFullException() : base("CBOR writer: buffer full") { }
    }

    /// <summary>
    /// A single SenML record cannot fit even into an empty batch of the configured size: the
    /// configuration (datagram size, overhead, base name, record name/unit) must change; sending
    /// cannot fix it.
    /// </summary>
    public class SenmlRecordTooLargeException : InvalidOperationException
    {
        private readonly int _needed;
        private readonly int _limit;

        public SenmlRecordTooLargeException(int needed, int limit)
            : base("SenML record needs " + needed.ToString() + " octets in an empty batch but the batch limit is "
                   + limit.ToString() + " octets (datagram size minus CoAP/OSCORE overhead): shorten the base name, name or unit, or raise the limit")
        {
            _needed = needed;
            _limit = limit;
        }

        /// <summary>Octets the record needs in an otherwise empty batch (array header and base fields included); -1 when more than the buffer could measure.</summary>
        public int Needed { get { return _needed; } }

        /// <summary>The batch size limit in octets.</summary>
        public int Limit { get { return _limit; } }
    }
}

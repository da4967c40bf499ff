using System;

namespace E2m.Oscore
{
    /// <summary>
    /// The request state a response is bound to (RFC 8613 §7.1, §8: the association Token → {Security
    /// Context, Partial IV of the request}): the request's 'kid' and Partial IV, which enter the response
    /// AAD (§5.4) and, for a response without its own Partial IV, the nonce (§5.2). Filled by
    /// ProtectRequest (client) or UnprotectRequest (server); or set directly by a tool that protects a
    /// response to a known request. Reusable, preallocated; the caller keeps one per outstanding request.
    /// </summary>
    public sealed class OscoreExchange
    {
        private readonly byte[] _kid = new byte[OscoreOptionValue.MaxLength];
        private readonly byte[] _piv = new byte[OscoreConstants.MaxPivLength];
        private int _kidLength;
        private int _pivLength;
        private bool _isSet;
        private bool _requestNonceUsed;
        private bool _responseVerified;

        /// <summary>True when a request kid and Partial IV are held.</summary>
        public bool IsSet { get { return _isSet; } }

        /// <summary>request_kid octets (first <see cref="RequestKidLength"/> valid).</summary>
        public byte[] RequestKid { get { return _kid; } }

        public int RequestKidLength { get { return _kidLength; } }

        /// <summary>request_piv octets (first <see cref="RequestPivLength"/> valid).</summary>
        public byte[] RequestPiv { get { return _piv; } }

        public int RequestPivLength { get { return _pivLength; } }

        /// <summary>The request Partial IV as a number (its Sender Sequence Number), or -1 when not set.</summary>
        public long RequestPivValue
        {
            get
            {
                if (!_isSet)
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

        /// <summary>Server side: a response was already protected with the request nonce (no own Partial IV).</summary>
        public bool RequestNonceUsed { get { return _requestNonceUsed; } }

        /// <summary>Client side: a response to this request was already verified (RFC 8613 §7.4: one response is accepted).</summary>
        public bool ResponseVerified { get { return _responseVerified; } }

        /// <summary>Sets request kid and Partial IV (from its Sender Sequence Number, minimal encoding, RFC 8613 §5).</summary>
        public void Set(byte[] requestKid, int kidOffset, int kidLength, long requestPiv)
        {
            if (requestPiv < 0 || requestPiv > OscoreConstants.MaxSenderSequenceNumber)
            {
                throw new ArgumentOutOfRangeException("requestPiv");
            }

            SetKid(requestKid, kidOffset, kidLength);
            _pivLength = OscoreOptionValue.EncodePiv(requestPiv, _piv, 0);
            _isSet = true;
            _requestNonceUsed = false;
            _responseVerified = false;
        }

        /// <summary>Sets request kid and Partial IV octets verbatim (1..5 octets).</summary>
        public void Set(byte[] requestKid, int kidOffset, int kidLength, byte[] requestPiv, int pivOffset, int pivLength)
        {
            if (pivLength < 1 || pivLength > OscoreConstants.MaxPivLength)
            {
                throw new ArgumentOutOfRangeException("pivLength");
            }

            SetKid(requestKid, kidOffset, kidLength);
            Array.Copy(requestPiv, pivOffset, _piv, 0, pivLength);
            _pivLength = pivLength;
            _isSet = true;
            _requestNonceUsed = false;
            _responseVerified = false;
        }

        /// <summary>Forgets the request (RFC 8613 §8: the association may be forgotten after the response).</summary>
        public void Clear()
        {
            _kidLength = 0;
            _pivLength = 0;
            _isSet = false;
            _requestNonceUsed = false;
            _responseVerified = false;
        }

        internal void MarkRequestNonceUsed()
        {
            _requestNonceUsed = true;
        }

        internal void MarkResponseVerified()
        {
            _responseVerified = true;
        }

        private void SetKid(byte[] requestKid, int kidOffset, int kidLength)
        {
            if (kidLength < 0 || kidLength > OscoreOptionValue.MaxLength)
            {
                throw new ArgumentOutOfRangeException("kidLength");
            }

            if (kidLength > 0)
            {
                Array.Copy(requestKid, kidOffset, _kid, 0, kidLength);
            }

            _kidLength = kidLength;
        }
    }
}

using System;
using E2m.Hal;

namespace E2m.Coap
{
    /// <summary>State of a ConfirmableExchange (int constants; no enum names needed at run time).</summary>
    public enum CoapExchangeState
    {
        Idle = 0,
        /// <summary>CON sent, waiting for ACK/RST; retransmitting per RFC 7252 §4.2.</summary>
        AwaitingAck = 1,
        /// <summary>Empty ACK received (§5.2.2): retransmission stopped, waiting for the separate response.</summary>
        AwaitingResponse = 2,
        /// <summary>Response received (piggybacked §5.2.1 or separate §5.2.2). Final.</summary>
        Completed = 3,
        /// <summary>RST received for our message id (§4.2). Final.</summary>
        Reset = 4,
        /// <summary>MAX_RETRANSMIT exhausted without ACK (§4.2), or no separate response in time. Final.</summary>
        TimedOut = 5,
        /// <summary>Cancelled by the caller. Final.</summary>
        Cancelled = 6,
    }

    /// <summary>What Poll asks the caller to do.</summary>
    public enum CoapExchangeAction
    {
        /// <summary>Nothing to do; sleep until NextDeadlineMs.</summary>
        None = 0,
        /// <summary>Send the same CON datagram again (same message id and token), RFC 7252 §4.2.</summary>
        Retransmit = 1,
        /// <summary>The exchange just ended in TimedOut: give up (§4.2).</summary>
        GiveUp = 2,
    }

    /// <summary>How an incoming message relates to this exchange.</summary>
    public enum CoapMatch
    {
        /// <summary>Not ours (different message id / token) or exchange not active.</summary>
        NotMatched = 0,
        /// <summary>Empty ACK for our message id: stop retransmitting, wait for separate response (§5.2.2).</summary>
        EmptyAck = 1,
        /// <summary>The response (piggybacked in the ACK, or separate CON/NON with our token). If it is a CON the caller must send an empty ACK (§5.2.2).</summary>
        Response = 2,
        /// <summary>RST for our message id (§4.2).</summary>
        Reset = 3,
        /// <summary>A repeat of something already processed (duplicate ACK, retransmitted separate response): ignore, but ACK a duplicate CON again (§4.5).</summary>
        Duplicate = 4,
    }

    /// <summary>
    /// Reliability of one Confirmable request, RFC 7252 §4.2 and §4.8: initial timeout random in
    /// [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR], doubled on each retransmission, give up
    /// after MAX_RETRANSMIT retransmissions once the last timeout expires. Matches ACK/RST by
    /// message id (§4.4) and responses by token (§5.3.2). Driven by an injected monotonic clock;
    /// the caller owns the socket: it sends the datagram, calls Start, then calls Poll when the
    /// deadline passes and OnReceive for each decoded datagram. Reusable; no allocation after
    /// construction.
    /// </summary>
    public sealed class ConfirmableExchange
    {
        private readonly CoapTransmissionParameters _parameters;
        private readonly IMonotonicClock _clock;
        private readonly IEntropySource _entropy;
        private readonly byte[] _random = new byte[4];
        private readonly byte[] _token = new byte[CoapMessage.MaxTokenLength];
        private int _tokenLength;
        private int _messageId;
        private CoapExchangeState _state;
        private int _retransmissions;
        private long _timeoutMs;
        private long _deadlineMs;
        private long _separateResponseTimeoutMs;

        public ConfirmableExchange(CoapTransmissionParameters parameters, IMonotonicClock clock, IEntropySource entropy)
        {
            if (parameters == null) throw new ArgumentNullException("parameters");
            if (clock == null) throw new ArgumentNullException("clock");
            if (entropy == null) throw new ArgumentNullException("entropy");
            parameters.Validate();
            _parameters = parameters;
            _clock = clock;
            _entropy = entropy;
            _separateResponseTimeoutMs = parameters.ExchangeLifetimeMs;
        }

        public CoapExchangeState State { get { return _state; } }

        public int MessageId { get { return _messageId; } }

        /// <summary>Retransmissions done so far (0 after Start).</summary>
        public int Retransmissions { get { return _retransmissions; } }

        /// <summary>Current timeout (the interval that ends at NextDeadlineMs).</summary>
        public long CurrentTimeoutMs { get { return _timeoutMs; } }

        /// <summary>Clock value at which Poll has work to do; long.MaxValue when final.</summary>
        public long NextDeadlineMs { get { return IsFinal ? long.MaxValue : _deadlineMs; } }

        public bool IsFinal { get { return _state >= CoapExchangeState.Completed || _state == CoapExchangeState.Idle; } }

        /// <summary>
        /// How long to wait for a separate response after an empty ACK (not fixed by RFC 7252;
        /// default EXCHANGE_LIFETIME, §4.8.2).
        /// </summary>
        public long SeparateResponseTimeoutMs
        {
            get { return _separateResponseTimeoutMs; }
            set { if (value < 1) throw new ArgumentOutOfRangeException("value"); _separateResponseTimeoutMs = value; }
        }

        /// <summary>Call right after the first transmission of the CON request.</summary>
        public void Start(int messageId, byte[] token, int tokenOffset, int tokenLength)
        {
            if (messageId < 0 || messageId > 0xFFFF) throw new ArgumentOutOfRangeException("messageId");
            if (tokenLength < 0 || tokenLength > CoapMessage.MaxTokenLength) throw new ArgumentOutOfRangeException("tokenLength");
            if (tokenLength > 0) Array.Copy(token, tokenOffset, _token, 0, tokenLength);
            _tokenLength = tokenLength;
            _messageId = messageId;
            _retransmissions = 0;
            _timeoutMs = InitialTimeout();
            _deadlineMs = _clock.NowMilliseconds + _timeoutMs;
            _state = CoapExchangeState.AwaitingAck;
        }

        /// <summary>Starts from the message as sent (its id and token).</summary>
        public void Start(CoapMessage request)
        {
            Start(request.MessageId, request.Token, 0, request.TokenLength);
        }

        /// <summary>
        /// Advances timers: when the deadline has passed, either asks for a retransmission (counter
        /// incremented, timeout doubled from now, §4.2) or gives up.
        /// </summary>
        public CoapExchangeAction Poll()
        {
            long now = _clock.NowMilliseconds;
            if (_state == CoapExchangeState.AwaitingAck)
            {
                if (now < _deadlineMs) return CoapExchangeAction.None;
                if (_retransmissions < _parameters.MaxRetransmit)
                {
                    _retransmissions++;
                    _timeoutMs *= 2;                     // RFC 7252 §4.2: timeout doubled
                    _deadlineMs = now + _timeoutMs;
                    return CoapExchangeAction.Retransmit;
                }
                _state = CoapExchangeState.TimedOut;    // §4.2: attempt cancelled after MAX_RETRANSMIT
                return CoapExchangeAction.GiveUp;
            }
            if (_state == CoapExchangeState.AwaitingResponse)
            {
                if (now < _deadlineMs) return CoapExchangeAction.None;
                _state = CoapExchangeState.TimedOut;
                return CoapExchangeAction.GiveUp;
            }
            return CoapExchangeAction.None;
        }

        /// <summary>Classifies a decoded incoming message and updates the state.</summary>
        public CoapMatch OnReceive(CoapMessage message)
        {
            if (_state == CoapExchangeState.Idle || _state == CoapExchangeState.Cancelled || _state == CoapExchangeState.TimedOut)
            {
                return CoapMatch.NotMatched;
            }
            byte type = message.Type;
            bool sameId = message.MessageId == _messageId;
            if (type == CoapType.Acknowledgement || type == CoapType.Reset)
            {
                if (!sameId) return CoapMatch.NotMatched;      // §4.4: ACK/RST match by message id
                if (_state != CoapExchangeState.AwaitingAck) return CoapMatch.Duplicate;
                if (type == CoapType.Reset)
                {
                    _state = CoapExchangeState.Reset;
                    return CoapMatch.Reset;
                }
                if (message.Code == CoapCode.Empty)
                {
                    _state = CoapExchangeState.AwaitingResponse; // §5.2.2
                    _deadlineMs = _clock.NowMilliseconds + _separateResponseTimeoutMs;
                    return CoapMatch.EmptyAck;
                }
                if (!message.TokenEquals(_token, 0, _tokenLength)) return CoapMatch.NotMatched; // §5.3.2
                _state = CoapExchangeState.Completed;           // §5.2.1 piggybacked
                return CoapMatch.Response;
            }
            // CON/NON: a separate response carries our token (§5.2.2, §5.3.2)
            if (!CoapCode.IsResponse(message.Code) || !message.TokenEquals(_token, 0, _tokenLength)) return CoapMatch.NotMatched;
            if (_state == CoapExchangeState.Completed) return CoapMatch.Duplicate;
            if (_state == CoapExchangeState.Reset) return CoapMatch.NotMatched;
            _state = CoapExchangeState.Completed;   // also valid while AwaitingAck: ACK lost, §5.2.2
            return CoapMatch.Response;
        }

        /// <summary>Stops the exchange (e.g. the application lost interest, §4.2).</summary>
        public void Cancel()
        {
            if (!IsFinal) _state = CoapExchangeState.Cancelled;
        }

        // RFC 7252 §4.2: initial timeout random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR].
        // Uniform over the integer milliseconds of that range from 32 random bits (modulo bias ≤ span / 2^32).
        private long InitialTimeout()
        {
            long min = _parameters.AckTimeoutMs;
            long span = _parameters.MaxInitialTimeoutMs - min;
            if (span <= 0) return min;
            _entropy.Fill(_random, 0, 4);
            ulong r = ((ulong)_random[0] << 24) | ((ulong)_random[1] << 16) | ((ulong)_random[2] << 8) | _random[3];
            return min + (long)(r % (ulong)(span + 1));
        }
    }
}

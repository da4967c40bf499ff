#nullable disable // portable code: nullable off (DESIGN.md §9)
using System;
using E2m.Coap;
using E2m.Hal;
using E2m.Modem.Drivers;

namespace E2m.Firmware
{
    /// <summary>Outcome of one confirmable exchange over the modem's UDP socket.</summary>
    public enum ExchangeOutcome
    {
        /// <summary>A response matched (piggybacked or separate); it is in the client's receive buffer / message.</summary>
        Response = 0,
        /// <summary>MAX_RETRANSMIT exhausted (RFC 7252 §4.2) or no separate response in time.</summary>
        Timeout = 1,
        /// <summary>RST for our message (RFC 7252 §4.2).</summary>
        Reset = 2,
        /// <summary>The modem failed (see <see cref="CoapUdpClient.LastModemError"/>).</summary>
        ModemFailure = 3,
    }

    /// <summary>
    /// One CoAP CON request/response over <see cref="ICellularModem"/> UDP (RFC 7252 §4.2, §4.8 with the configured
    /// NB-IoT timers, reliability by <see cref="ConfirmableExchange"/> on the injected clock). Synchronous: sends,
    /// then waits in <see cref="ICellularModem.ReceiveDatagram"/> until the next retransmission deadline. Bounded:
    /// at most MAX_RETRANSMIT + 1 transmissions and a fixed number of receive calls, so it cannot hang even if
    /// the modem returned "no data" without waiting. Preallocated; no allocation per exchange.
    /// </summary>
    public sealed class CoapUdpClient
    {
        /// <summary>Largest datagram handled (BG9x limit 1460; SARA HEX mode 512).</summary>
        public const int MaxDatagram = 1152;
        private const int MaxReceiveCalls = 256;

        private readonly ICellularModem _modem;
        private readonly IMonotonicClock _clock;
        private readonly ConfirmableExchange _exchange;
        private readonly byte[] _rx = new byte[MaxDatagram];
        private readonly byte[] _ack = new byte[4];
        private readonly CoapMessage _response;
        private int _rxLength;
        private ModemError _lastModemError;

        public CoapUdpClient(ICellularModem modem, IMonotonicClock clock, IEntropySource entropy, CoapTransmissionParameters parameters)
        {
            if (modem == null) throw new ArgumentNullException("modem");
            _modem = modem;
            _clock = clock;
            _exchange = new ConfirmableExchange(parameters, clock, entropy);
            _response = new CoapMessage(16, 0);
        }

        public byte[] ReceiveBuffer { get { return _rx; } }
        public int ReceiveLength { get { return _rxLength; } }
        /// <summary>The decoded response (references <see cref="ReceiveBuffer"/>).</summary>
        public CoapMessage Response { get { return _response; } }
        public ModemError LastModemError { get { return _lastModemError; } }
        public int Retransmissions { get { return _exchange.Retransmissions; } }

        /// <summary>
        /// Sends datagram[0..length) (a CON with <paramref name="messageId"/> and token) on <paramref name="socket"/> and
        /// waits for the matching response.
        /// </summary>
        public ExchangeOutcome Exchange(int socket, byte[] datagram, int length, int messageId, byte[] token, int tokenLength)
        {
            _rxLength = 0;
            _lastModemError = _modem.SendDatagram(socket, datagram, 0, length);
            if (_lastModemError != ModemError.Ok) return ExchangeOutcome.ModemFailure;
            _exchange.Start(messageId, token, 0, tokenLength);
            for (int calls = 0; calls < MaxReceiveCalls; calls++)
            {
                long wait = _exchange.NextDeadlineMs - _clock.NowMilliseconds;
                if (wait <= 0)
                {
                    CoapExchangeAction a = _exchange.Poll();
                    if (a == CoapExchangeAction.GiveUp) return ExchangeOutcome.Timeout;
                    if (a == CoapExchangeAction.Retransmit)
                    {
                        // RFC 7252 §4.2: same message id and token
                        _lastModemError = _modem.SendDatagram(socket, datagram, 0, length);
                        if (_lastModemError != ModemError.Ok) return ExchangeOutcome.ModemFailure;
                    }
                    continue;
                }
                int n;
                _lastModemError = _modem.ReceiveDatagram(socket, _rx, 0, wait > int.MaxValue ? int.MaxValue : (int)wait, out n);
                if (_lastModemError == ModemError.NoData || _lastModemError == ModemError.Timeout) continue;
                if (_lastModemError != ModemError.Ok) return ExchangeOutcome.ModemFailure;
                try
                {
                    CoapCodec.Decode(_rx, 0, n, _response);
                }
                catch (MalformedInputException)
                {
                    continue; // not CoAP: silently ignored (RFC 7252 §4.2 / §4.3 rejection)
                }
                CoapMatch m = _exchange.OnReceive(_response);
                if (m == CoapMatch.Response)
                {
                    if (_response.Type == CoapType.Confirmable) SendEmptyAck(socket, _response.MessageId); // §5.2.2
                    _rxLength = n;
                    return ExchangeOutcome.Response;
                }
                if (m == CoapMatch.Reset) return ExchangeOutcome.Reset;
                if (m == CoapMatch.Duplicate && _response.Type == CoapType.Confirmable) SendEmptyAck(socket, _response.MessageId); // §4.5
            }
            _exchange.Cancel();
            return ExchangeOutcome.Timeout;
        }

        private void SendEmptyAck(int socket, int messageId)
        {
            _ack[0] = (byte)((CoapCodec.Version << 6) | (CoapType.Acknowledgement << 4)); // RFC 7252 §3, TKL 0
            _ack[1] = CoapCode.Empty;
            _ack[2] = (byte)(messageId >> 8);
            _ack[3] = (byte)messageId;
            _modem.SendDatagram(socket, _ack, 0, 4);
        }
    }
}

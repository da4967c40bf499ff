using System;

namespace E2m.Coap
{
    /// <summary>
    /// CoAP transmission parameters, RFC 7252 §4.8, and the derived times of §4.8.2, in integer
    /// milliseconds (no floating point: ACK_RANDOM_FACTOR is a fraction numerator/denominator).
    ///
    /// NB-IoT default ACK_TIMEOUT = 15 000 ms instead of RFC 7252's 2 000 ms (issue 3, DESIGN.md §4):
    /// NB-IoT round trips reach several seconds (coverage-enhancement repetitions, RRC connection
    /// setup after idle, eDRX/PSM), and even 10 s caused spurious retransmissions in the field:
    /// nRF Connect SDK LwM2M moved to CONFIG_COAP_INIT_ACK_TIMEOUT_MS=15000
    /// (github.com/nrfconnect/sdk-nrf/pull/2498, /pull/5897). A spurious retransmission costs
    /// uplink energy and, with OSCORE, is answered from the server's deduplication cache.
    /// </summary>
    public sealed class CoapTransmissionParameters
    {
        /// <summary>RFC 7252 §4.8 default ACK_TIMEOUT (2 s).</summary>
        public const int Rfc7252AckTimeoutMs = 2000;

        /// <summary>e2m NB-IoT default ACK_TIMEOUT (≥ 15 s, issue 3).</summary>
        public const int NbIotAckTimeoutMs = 15000;

        /// <summary>MAX_LATENCY = 100 s, RFC 7252 §4.8.2.</summary>
        public const long MaxLatencyMs = 100000;

        public int AckTimeoutMs = NbIotAckTimeoutMs;

        /// <summary>ACK_RANDOM_FACTOR = 3/2 (1.5), RFC 7252 §4.8; must be ≥ 1.</summary>
        public int AckRandomFactorNumerator = 3;
        public int AckRandomFactorDenominator = 2;

        /// <summary>MAX_RETRANSMIT = 4, RFC 7252 §4.8.</summary>
        public int MaxRetransmit = 4;

        /// <summary>NSTART = 1, RFC 7252 §4.7 (one outstanding interaction per server).</summary>
        public int NStart = 1;

        /// <summary>RFC 7252 defaults (ACK_TIMEOUT 2 s) for tests and non-cellular links.</summary>
        public static CoapTransmissionParameters Rfc7252Defaults()
        {
            CoapTransmissionParameters p = new CoapTransmissionParameters();
            p.AckTimeoutMs = Rfc7252AckTimeoutMs;
            return p;
        }

        /// <summary>Throws ArgumentException when the values are unusable.</summary>
        public void Validate()
        {
            if (AckTimeoutMs < 1) throw new ArgumentOutOfRangeException("AckTimeoutMs");
            if (AckRandomFactorDenominator < 1 || AckRandomFactorNumerator < AckRandomFactorDenominator) throw new ArgumentOutOfRangeException("AckRandomFactorNumerator");
            if (MaxRetransmit < 0 || MaxRetransmit > 20) throw new ArgumentOutOfRangeException("MaxRetransmit");
        }

        /// <summary>Upper bound of the initial timeout: ACK_TIMEOUT * ACK_RANDOM_FACTOR (§4.2), floor.</summary>
        public long MaxInitialTimeoutMs
        {
            get { return (long)AckTimeoutMs * AckRandomFactorNumerator / AckRandomFactorDenominator; }
        }

        /// <summary>MAX_TRANSMIT_SPAN = ACK_TIMEOUT * (2^MAX_RETRANSMIT - 1) * ACK_RANDOM_FACTOR, §4.8.2.</summary>
        public long MaxTransmitSpanMs
        {
            get { return (long)AckTimeoutMs * ((1L << MaxRetransmit) - 1) * AckRandomFactorNumerator / AckRandomFactorDenominator; }
        }

        /// <summary>MAX_TRANSMIT_WAIT = ACK_TIMEOUT * (2^(MAX_RETRANSMIT + 1) - 1) * ACK_RANDOM_FACTOR, §4.8.2.</summary>
        public long MaxTransmitWaitMs
        {
            get { return (long)AckTimeoutMs * ((1L << (MaxRetransmit + 1)) - 1) * AckRandomFactorNumerator / AckRandomFactorDenominator; }
        }

        /// <summary>PROCESSING_DELAY = ACK_TIMEOUT, §4.8.2.</summary>
        public long ProcessingDelayMs { get { return AckTimeoutMs; } }

        /// <summary>MAX_RTT = 2 * MAX_LATENCY + PROCESSING_DELAY, §4.8.2.</summary>
        public long MaxRttMs { get { return 2 * MaxLatencyMs + ProcessingDelayMs; } }

        /// <summary>EXCHANGE_LIFETIME = MAX_TRANSMIT_SPAN + 2 * MAX_LATENCY + PROCESSING_DELAY, §4.8.2 (247 s with RFC defaults).</summary>
        public long ExchangeLifetimeMs { get { return MaxTransmitSpanMs + 2 * MaxLatencyMs + ProcessingDelayMs; } }

        /// <summary>NON_LIFETIME = MAX_TRANSMIT_SPAN + MAX_LATENCY, §4.8.2.</summary>
        public long NonLifetimeMs { get { return MaxTransmitSpanMs + MaxLatencyMs; } }
    }
}

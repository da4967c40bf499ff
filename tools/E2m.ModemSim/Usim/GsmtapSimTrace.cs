using System;
using System.Net;
using E2m.Hal;
using E2m.Hal.Host.Traces;

namespace E2m.ModemSim.Usim
{
    /// <summary>Receives every command/response pair exchanged with a card.</summary>
    public interface IApduTrace
    {
        void Record(byte[] commandApdu, byte[] responseApdu);
    }

    /// <summary>
    /// Writes APDU exchanges as GSMTAP "SIM" packets into a pcap (UDP to port 4729, the IANA GSMTAP port), the format
    /// osmocom SIMtrace emits and Wireshark dissects with its gsm_sim dissector. Header per libosmocore
    /// include/osmocom/core/gsmtap.h (struct gsmtap_hdr, GSMTAP_VERSION 0x02): version, hdr_len (32-bit words = 4),
    /// type (GSMTAP_TYPE_SIM = 0x04), timeslot, arfcn (2), signal_dbm, snr_db, frame_number (4), sub_type, antenna_nr,
    /// sub_slot, res — all zero for SIM (sub_type 0 = GSMTAP_SIM_APDU, one complete exchange per packet, the form
    /// pySim's gsmtap APDU source reads). Note: tshark 4.0 hands type-SIM frames to gsm_sim without a gsmtap tree, so
    /// filter with <c>frame.protocols contains "gsmtap:gsm_sim"</c> or <c>gsm_sim</c>, not <c>gsmtap</c>. Payload: the T=0 TPDU as on the wire, i.e. CLA INS P1 P2 P3, the command
    /// data, then the response data and SW1 SW2 (a trailing Le of an APDU-form case-4 command is dropped, since the
    /// TPDU carries none). Timestamps come from an injected clock (deterministic traces).
    /// </summary>
    public sealed class GsmtapSimTrace : IApduTrace, IDisposable
    {
        public const int GsmtapPort = 4729;        // IANA-registered GSMTAP port (gsmtap.h GSMTAP_UDP_PORT)
        public const byte GsmtapVersion = 0x02;    // gsmtap.h GSMTAP_VERSION
        public const byte GsmtapTypeSim = 0x04;    // gsmtap.h GSMTAP_TYPE_SIM
        public const byte GsmtapSimApdu = 0x00;    // gsmtap.h sub-type GSMTAP_SIM_APDU: "APDU data (complete APDU)"
        private const int HeaderLength = 16;       // sizeof(struct gsmtap_hdr), hdr_len = 4 words
        private const int SubTypeOffset = 12;      // struct gsmtap_hdr: sub_type after frame_number

        private static readonly IPEndPoint Me = new(IPAddress.Parse("127.0.0.1"), 50000);
        private static readonly IPEndPoint Collector = new(IPAddress.Parse("127.0.0.1"), GsmtapPort);

        private readonly PcapWriter _pcap;
        private readonly IMonotonicClock _clock;
        private readonly DateTimeOffset _epoch;
        private readonly bool _ownsWriter;

        /// <param name="pcap">Destination (shared with other traces if wanted).</param>
        /// <param name="clock">Injected clock; packet time = <paramref name="epoch"/> + clock milliseconds.</param>
        public GsmtapSimTrace(PcapWriter pcap, IMonotonicClock clock, DateTimeOffset epoch, bool ownsWriter = false)
        {
            _pcap = pcap ?? throw new ArgumentNullException(nameof(pcap));
            _clock = clock ?? throw new ArgumentNullException(nameof(clock));
            _epoch = epoch;
            _ownsWriter = ownsWriter;
        }

        public int Packets { get; private set; }

        public void Record(byte[] commandApdu, byte[] responseApdu)
        {
            byte[] payload = BuildPayload(commandApdu, responseApdu);
            lock (_pcap)
            {
                _pcap.WriteUdp(_epoch.AddMilliseconds(_clock.NowMilliseconds), Me, Collector, payload);
                Packets++;
            }
        }

        /// <summary>GSMTAP header + TPDU payload (see the class comment).</summary>
        public static byte[] BuildPayload(byte[] commandApdu, byte[] responseApdu)
        {
            int cmdLength = commandApdu.Length;
            if (cmdLength > 5 && cmdLength == 5 + commandApdu[4] + 1) cmdLength--; // APDU case 4 → T=0 TPDU (no Le)
            var p = new byte[HeaderLength + cmdLength + responseApdu.Length];
            p[0] = GsmtapVersion;
            p[1] = HeaderLength / 4;
            p[2] = GsmtapTypeSim;
            p[SubTypeOffset] = GsmtapSimApdu;
            // timeslot, arfcn, signal_dbm, snr_db, frame_number, antenna_nr, sub_slot, res: 0
            Array.Copy(commandApdu, 0, p, HeaderLength, cmdLength);
            Array.Copy(responseApdu, 0, p, HeaderLength + cmdLength, responseApdu.Length);
            return p;
        }

        public void Dispose()
        {
            if (_ownsWriter) _pcap.Dispose();
        }
    }

    /// <summary>Decorator that traces every exchange of any <see cref="ISimCard"/> (e.g. a real card behind PC/SC).</summary>
    public sealed class TracedSimCard : ISimCard
    {
        private readonly ISimCard _inner;
        private readonly IApduTrace _trace;

        public TracedSimCard(ISimCard inner, IApduTrace trace)
        {
            _inner = inner ?? throw new ArgumentNullException(nameof(inner));
            _trace = trace ?? throw new ArgumentNullException(nameof(trace));
        }

        public bool Present => _inner.Present;

        public void Reset() => _inner.Reset();

        public byte[] Transmit(byte[] commandApdu)
        {
            byte[] r = _inner.Transmit(commandApdu);
            _trace.Record(commandApdu, r);
            return r;
        }
    }
}

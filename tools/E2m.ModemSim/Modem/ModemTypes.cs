using System;
using System.Net;
using E2m.ModemSim.Usim;

namespace E2m.ModemSim.Modem
{
    /// <summary>Radio access technology of the simulated cell (issue 5 §3: GPRS, UMTS, LTE-M, NB-IoT).</summary>
    public enum SimRat
    {
        Gprs,
        Umts,
        LteM,
        NbIot,
    }

    /// <summary>Power state of the simulated module.</summary>
    public enum PowerState
    {
        Off,
        /// <summary>Powered, UART not ready yet (input ignored).</summary>
        Booting,
        /// <summary>BG95: "RDY" printed, AT parser not ready until "APP RDY" (modems.md §1.2): commands get ERROR.</summary>
        Starting,
        On,
    }

    /// <summary>Outcome of an attach attempt as the serving node reports it to the simulated ME.</summary>
    public sealed class AttachOutcome
    {
        /// <summary>TS 27.007 &lt;stat&gt;: 1 registered home, 5 registered roaming, 3 denied, 2 searching.</summary>
        public int Stat { get; init; } = 1;

        /// <summary>The test network's PLMN (TS 23.003: MCC 001, MNC 01), unless a network says otherwise.</summary>
        public const string DefaultPlmn = "00101";

        /// <summary>The operator names +COPS=? lists (long, short alphanumeric; 27.007 §7.3).</summary>
        public const string DefaultOperatorName = "e2m sim", DefaultOperatorShortName = "e2m";

        public string Plmn { get; init; } = DefaultPlmn;

        public string OperatorName { get; init; } = DefaultOperatorName;

        /// <summary>Tracking/location area code, 4 hex digits.</summary>
        public string AreaCode { get; init; } = "2B67";

        /// <summary>Cell id, 8 hex digits (E-UTRAN 28 bits).</summary>
        public string CellId { get; init; } = "0102A3C4";

        public string? Note { get; init; }

        public static AttachOutcome Registered(string? note = null, string plmn = DefaultPlmn) => new() { Stat = 1, Plmn = plmn, Note = note };

        public static AttachOutcome Denied(string? note = null) => new() { Stat = 3, Note = note };
    }

    /// <summary>
    /// What the simulated modem asks the network when it attaches (CFUN=1, SIM ready). The serving node (issue 5
    /// §3, M1's Network/) runs AKA with the card over <see cref="ISimCard"/> and answers with the registration
    /// outcome. <see cref="AlwaysAttachNetwork"/> registers without AKA (SIM-only sessions, tests of the AT layer).
    /// </summary>
    public interface IServingNetwork
    {
        /// <summary>The PLMN (MCC+MNC) the network broadcasts: what a manual +COPS selection must name (27.007 §7.3).</summary>
        string Plmn { get; }

        AttachOutcome Attach(ISimCard card, string imsi, SimRat rat);
    }

    /// <summary>A network that accepts every attach at once, without AKA.</summary>
    public sealed class AlwaysAttachNetwork : IServingNetwork
    {
        public AlwaysAttachNetwork(string plmn = AttachOutcome.DefaultPlmn)
        {
            Plmn = plmn;
        }

        public string Plmn { get; }

        public AttachOutcome Attach(ISimCard card, string imsi, SimRat rat) => AttachOutcome.Registered("no AKA (AlwaysAttachNetwork)", Plmn);
    }

    /// <summary>Adapter: any function as a serving network (e.g. M1's ServingNode.Attach).</summary>
    public sealed class DelegateNetwork : IServingNetwork
    {
        private readonly Func<ISimCard, string, SimRat, AttachOutcome> _attach;

        public DelegateNetwork(Func<ISimCard, string, SimRat, AttachOutcome> attach, string plmn = AttachOutcome.DefaultPlmn)
        {
            _attach = attach;
            Plmn = plmn;
        }

        public string Plmn { get; }

        public AttachOutcome Attach(ISimCard card, string imsi, SimRat rat) => _attach(card, imsi, rat);
    }

    /// <summary>Configuration of one simulated modem (defaults are realistic, all delays on the injected clock).</summary>
    public sealed class ModemOptions
    {
        /// <summary>IMEI (TS 23.003 §6.2.1, 14 digits + Luhn check digit).</summary>
        public string Imei { get; set; } = ImeiWithCheckDigit("35693803564380");

        /// <summary>ICCID used when the card has no EF_ICCID.</summary>
        public string Iccid { get; set; } = "8949001234567890123F";

        public SimRat Rat { get; set; } = SimRat.LteM;

        /// <summary>Device address the network assigns on PDP activation (pcap source address).</summary>
        public IPAddress DeviceAddress { get; set; } = IPAddress.Parse("10.45.0.2");

        /// <summary>Time from CFUN=1 + SIM ready to the attach result (searching in between).</summary>
        public int AttachDelayMs { get; set; } = 1500;

        /// <summary>After boot, SIM commands answer "+CME ERROR: 14" (SIM busy) for this long (ubxlib #287, modems.md §2.2).</summary>
        public int SimInitDelayMs { get; set; } = 400;

        /// <summary>Start already powered on and booted (e2m sim: "modem already powered on").</summary>
        public bool StartPoweredOn { get; set; }

        /// <summary>Network time (UTC) at clock 0; +CCLK reports it once registered. Null = 2026-01-01T00:00:00Z.</summary>
        public DateTimeOffset? NetworkTimeAtClockZero { get; set; }

        /// <summary>Time zone the network reports, in quarters of an hour (TS 27.007 §8.15).</summary>
        public int TimeZoneQuarters { get; set; } = 4;

        /// <summary>BG9x +QIURC "recv" carries the length (BG95 optional form, modems.md §4 quirk 3).</summary>
        public bool RecvUrcWithLength { get; set; }

        /// <summary>+CGLA does GET RESPONSE itself on '61xx' (most modems); false hands '61xx' to the TE.</summary>
        public bool CglaFetchesResponse { get; set; } = true;

        /// <summary>+CCHO/+CGLA/+CCHC supported (NOT ESTABLISHED for BG95/SARA, modems.md §3): off → ERROR, the TE falls back to +CSIM.</summary>
        public bool LogicalChannelCommands { get; set; } = true;

        /// <summary>INS values +CGLA refuses with "+CME ERROR: 3" (operation not allowed), as lpac saw on some modems (modems.md §3).</summary>
        public byte[] CglaBlockedInstructions { get; set; } = Array.Empty<byte>();

        /// <summary>
        /// INS values +CSIM refuses with "+CME ERROR: 3" before they reach the card (e.g. 0x70 MANAGE CHANNEL, or 0x88: the
        /// Wavecom/Westermo manuals list INS 88 as blocked on +CSIM, 3gpp.md §4). Basic-channel tests use { 0x70 }.
        /// </summary>
        public byte[] CsimBlockedInstructions { get; set; } = Array.Empty<byte>();

        /// <summary>Real-time wait (ms) for a host UDP datagram when the deterministic link would otherwise advance a fake clock.</summary>
        public int RealIoWaitMs { get; set; } = 50;

        public static string ImeiWithCheckDigit(string fourteen)
        {
            int sum = 0;
            for (int i = 0; i < 14; i++)
            {
                int d = fourteen[i] - '0';
                if (i % 2 == 1)
                {
                    d *= 2;
                    if (d > 9)
                    {
                        d -= 9;
                    }
                }

                sum += d;
            }

            return fourteen + ((10 - (sum % 10)) % 10).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}

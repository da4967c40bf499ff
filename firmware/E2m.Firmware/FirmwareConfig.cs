#nullable disable // portable code: nullable off (DESIGN.md §9)
using System;
using E2m.Coap;

namespace E2m.Firmware
{
    /// <summary>Key establishment modes (DESIGN.md §3). Int constants: portable code never prints enum names.</summary>
    public static class KeyModes
    {
        /// <summary>network mode from EF_KeysPS, falling back to home mode (DESIGN.md §3 default).</summary>
        public const int Auto = 0;
        /// <summary>Only network mode (EF_KeysPS); a missing/stale key is an error.</summary>
        public const int NetworkOnly = 1;
        /// <summary>Only home mode (EMKS bootstrap over CoAP/UDP + USIM AUTHENTICATE).</summary>
        public const int HomeOnly = 2;
    }

    /// <summary>Where a reading's value comes from.</summary>
    public static class SensorKinds
    {
        /// <summary>A meter's pulse output counted on a GPIO edge interrupt (<see cref="PulseCounter"/>).</summary>
        public const int Pulse = 0;
        /// <summary>Deterministic simulated sensor for the host (<see cref="SimulatedSensor"/>).</summary>
        public const int Simulated = 1;
    }

    /// <summary>One EMSE the device sends to (DESIGN.md §1, §4: "multiple instances of an EMSE").</summary>
    public sealed class EmseConfig
    {
        /// <summary>EMSE_Id as text (an FQDN), for logs.</summary>
        public string EmseId;
        /// <summary>EMSE_Id as UTF-8 octets (the generator emits them; null = encoded from <see cref="EmseId"/>).</summary>
        public byte[] EmseIdUtf8;
        /// <summary>IPv4 address literal (the modems open UDP sockets to an address; no DNS in the firmware).</summary>
        public string Host;
        /// <summary>UDP port (CoAP default 5683, RFC 7252 §6.1).</summary>
        public int Port = 5683;

        public EmseConfig() { }

        public EmseConfig(string emseId, string host, int port)
        {
            EmseId = emseId;
            Host = host;
            Port = port;
        }
    }

    /// <summary>One reading (SenML record name/unit) and the EMSEs it is routed to.</summary>
    public sealed class ReadingConfig
    {
        /// <summary>SenML name n (RFC 8428 §4.5.1 characters).</summary>
        public string Name;
        /// <summary>SenML unit u (RFC 8428 §12.1), null = none.</summary>
        public string Unit;
        /// <summary>Decimal exponent of the value: value = mantissa × 10^Exponent (no floating point).</summary>
        public int Exponent;
        /// <summary>Bit i set = routed to <see cref="FirmwareConfig.Emses"/>[i].</summary>
        public int EmseMask = 1;
        /// <summary><see cref="SensorKinds"/>.</summary>
        public int Source = SensorKinds.Simulated;

        public ReadingConfig() { }

        public ReadingConfig(string name, string unit, int exponent, int emseMask, int source)
        {
            Name = name;
            Unit = unit;
            Exponent = exponent;
            EmseMask = emseMask;
            Source = source;
        }
    }

    /// <summary>
    /// Minimum-security policy (DESIGN.md §5): which radio access technologies the device may send on.
    /// AcT values are those of TS 27.007 &lt;AcT&gt; (0 GSM, 1 GSM Compact, 2 UTRAN, 3 GSM w/EGPRS, 4-6 UTRAN HSxPA,
    /// 7 E-UTRAN, 8 E-UTRAN/LTE-M (Quectel) or EC-GSM-IoT (27.007), 9 E-UTRAN NB-S1).
    /// </summary>
    public sealed class AccessPolicy
    {
        /// <summary>Bit n set = AcT n allowed. Default: LTE (7), LTE-M (8), NB-IoT (9).</summary>
        public int AllowedAcTMask = (1 << 7) | (1 << 8) | (1 << 9);

        /// <summary>Minimum GEA for GPRS (DESIGN.md §5, e.g. 3 = GEA3); 0 = no requirement.</summary>
        public int MinimumGea;

        /// <summary>
        /// True when the subscription's serving network enforces <see cref="MinimumGea"/> (the simulated SGSN does).
        /// The negotiated GEA is not visible over AT commands, so with a minimum GEA and no network enforcement the
        /// firmware refuses GERAN (AcT 0, 1, 3) even when the mask allows it.
        /// </summary>
        public bool NetworkEnforcesGea;

        /// <summary>Whether a registration that reports no AcT may be used.</summary>
        public bool AllowUnknownAcT;

        /// <summary>device-config RAT "gprs" (the generated DeviceConfig.RatGprs). RATs rank gprs &lt; nb-iot &lt; lte-m (DESIGN.md §5).</summary>
        public const int RatGprs = 1;

        /// <summary>device-config RAT "nb-iot" (DeviceConfig.RatNbIot).</summary>
        public const int RatNbIot = 2;

        /// <summary>device-config RAT "lte-m" (DeviceConfig.RatLteM).</summary>
        public const int RatLteM = 3;

        /// <summary>The device-config RAT names (network.rats, policy.minimumRat), by rank: name i is RAT i + 1.</summary>
        public static readonly string[] RatNames = new string[] { "gprs", "nb-iot", "lte-m" };

        /// <summary>The RAT of a device-config name, 0 when it names none.</summary>
        public static int RatFromName(string name)
        {
            for (int i = 0; i < RatNames.Length; i++)
            {
                if (RatNames[i] == name) return i + 1;
            }

            return 0;
        }

        /// <summary>The TS 27.007 &lt;AcT&gt; values a RAT registers with (bit n = AcT n); 0 for no RAT.</summary>
        public static int AcTMaskOf(int rat)
        {
            if (rat == RatGprs) return (1 << 0) | (1 << 3); // GSM, GSM w/EGPRS
            if (rat == RatNbIot) return 1 << 9; // E-UTRAN NB-S1
            if (rat == RatLteM) return (1 << 7) | (1 << 8); // E-UTRAN, E-UTRAN/LTE-M (Quectel)
            return 0;
        }

        /// <summary>
        /// DESIGN.md §5: the AcT mask of the configured <paramref name="rats"/> not below <paramref name="minimumRat"/>
        /// (a device refuses to send on a RAT below the minimum even where the modem registers on it).
        /// </summary>
        public static int AllowedAcTMaskFor(int[] rats, int minimumRat)
        {
            int mask = 0;
            for (int i = 0; i < rats.Length; i++)
            {
                if (rats[i] >= minimumRat) mask |= AcTMaskOf(rats[i]);
            }

            return mask;
        }

        /// <summary>DESIGN.md §5: may the device send on this AcT (-1 = not reported)?</summary>
        public bool IsAllowed(int act)
        {
            if (act < 0) return AllowUnknownAcT;
            if (act > 30) return false;
            if ((AllowedAcTMask & (1 << act)) == 0) return false;
            bool geran = act == 0 || act == 1 || act == 3;
            if (geran && MinimumGea > 0 && !NetworkEnforcesGea) return false;
            return true;
        }
    }

    /// <summary>
    /// Everything the application needs to know about its device (DESIGN.md §7 device-config.json). Plain portable
    /// class: on the device the constants generated by <c>e2m config gen</c> fill it; host tests construct it.
    /// No keys in it. Record ids of the persistent layout are fixed here (see README "Persistent layout").
    /// </summary>
    public sealed class FirmwareConfig
    {
        /// <summary>At most 8 EMSEs (one key slot, SSN record and queue cursor each).</summary>
        public const int MaxEmses = 8;

        // ---- identity / network
        /// <summary>SenML base name; null = "urn:dev:kid:&lt;KID hex&gt;:" (no IMSI on the wire).</summary>
        public string DeviceName;
        public string Apn = "iot";
        /// <summary>PLMN (MCC+MNC) to select manually before registration (TS 27.007 §7.3); null = automatic selection.</summary>
        public string Plmn;
        public int KeyMode = KeyModes.Auto;
        /// <summary>EMKS home-mode bootstrap endpoint (IPv4 literal, UDP port).</summary>
        public string EmksHost;
        public int EmksPort = 5683;
        public EmseConfig[] Emses = new EmseConfig[0];
        public ReadingConfig[] Readings = new ReadingConfig[0];
        public AccessPolicy Policy = new AccessPolicy();

        // ---- intervals
        /// <summary>Deep sleep between samples.</summary>
        public int SampleIntervalSeconds = 900;
        /// <summary>Upload when this many cycles have passed since the last successful upload (1 = every wake-up).</summary>
        public int UploadEveryCycles = 4;

        // ---- keys (DESIGN.md §5)
        /// <summary>Lifetime assumed for a network-mode key (the device does not see the HSS policy): 30 days.</summary>
        public long NetworkKeyLifetimeSeconds = 30L * 24 * 3600;
        /// <summary>Re-key this long before expiry.</summary>
        public long RekeyMarginSeconds = 24L * 3600;
        /// <summary>AUTS resynchronisations per home-mode attempt before giving up (TS 33.102 §6.3.5).</summary>
        public int MaxResyncs = 2;
        /// <summary>OSCORE SSN reservation step K (RFC 8613 App. B.1.1).</summary>
        public int SsnStep = 32;

        // ---- queue / batches
        /// <summary>Ring capacity in readings (one record each).</summary>
        public int QueueCapacity = 64;
        /// <summary>CoAP datagram size the batch must fit (SenML + CoAP + OSCORE).</summary>
        public int DatagramSize = SenmlBatchWriter.DefaultDatagramSize;
        /// <summary>Batches per EMSE per cycle (bounds the awake time).</summary>
        public int MaxBatchesPerCycle = 4;

        // ---- timers
        public int SimReadyTimeoutMs = 20000;
        public int RegistrationTimeoutMs = 180000;
        /// <summary>Budget of one supervised step; a step that overruns counts as a failure.</summary>
        public int StepBudgetMs = 300000;
        /// <summary>CoAP ACK_TIMEOUT (NB-IoT: 15 s, RFC 7252 §4.8).</summary>
        public int AckTimeoutMs = 15000;
        public int MaxRetransmit = 4;
        /// <summary>ACK_RANDOM_FACTOR as numerator/denominator (RFC 7252 §4.8: 1.5).</summary>
        public int AckRandomFactorNumerator = 3;
        public int AckRandomFactorDenominator = 2;
        /// <summary>Most SenML records in one batch (besides the datagram budget).</summary>
        public int MaxBatchRecords = 64;

        // ---- supervisor
        public int BackoffBaseSeconds = 60;
        public int BackoffMaxSeconds = 6 * 3600;
        /// <summary>After this many consecutive failed cycles the modem is power-cycled through its pins.</summary>
        public int PowerCycleAfterFailures = 3;
        /// <summary>Hard reset pulse on the optional power-enable / RESET_N pin.</summary>
        public int HardResetPulseMs = 500;

        // ---- PSM (TS 24.008 §10.5.7.4a / §10.5.7.4); 0 = do not request
        public long PsmPeriodicTauSeconds = 24L * 3600;
        public long PsmActiveTimeSeconds = 10;

        // ---- persistent layout (record ids)
        public int StateRecordId = 0;
        /// <summary>Key slot of EMSE i = KeyRecordBase + i.</summary>
        public int KeyRecordBase = 1;
        /// <summary>SSN reservation of EMSE i = SsnRecordBase + i.</summary>
        public int SsnRecordBase = 9;
        /// <summary>Queue cursor of EMSE i = CursorRecordBase + i.</summary>
        public int CursorRecordBase = 17;
        /// <summary>Queue slot j = QueueRecordBase + j, j &lt; QueueCapacity.</summary>
        public int QueueRecordBase = 32;
        /// <summary>"EMSE e refused KID x" (KID 8, EMSE bit mask 1): between the cursors and the queue.</summary>
        public int RefusalRecordId = 25;

        /// <summary>Checks the configuration; throws ArgumentException with a precise message (programming error).</summary>
        public void Validate()
        {
            if (Emses == null || Emses.Length == 0 || Emses.Length > MaxEmses) throw new ArgumentException("config: 1..8 EMSEs");
            for (int i = 0; i < Emses.Length; i++)
            {
                EmseConfig e = Emses[i];
                if (e == null || (e.EmseId == null && e.EmseIdUtf8 == null)) throw new ArgumentException("config: EMSE without EMSE_Id");
                if (e.EmseIdUtf8 == null)
                {
                    e.EmseIdUtf8 = new byte[Utf8.GetByteCount(e.EmseId)];
                    Utf8.GetBytes(e.EmseId, e.EmseIdUtf8, 0);
                }
                if (e.EmseIdUtf8.Length == 0 || e.EmseIdUtf8.Length > 255) throw new ArgumentException("config: EMSE_Id 1..255 octets");
                if (e.Host == null || e.Port <= 0 || e.Port > 65535) throw new ArgumentException("config: EMSE endpoint");
            }
            if (Readings == null || Readings.Length == 0 || Readings.Length > 255) throw new ArgumentException("config: 1..255 readings");
            for (int i = 0; i < Readings.Length; i++)
            {
                ReadingConfig r = Readings[i];
                if (r == null || r.Name == null || r.Name.Length == 0) throw new ArgumentException("config: reading without name");
                if (r.EmseMask == 0 || (r.EmseMask >> Emses.Length) != 0) throw new ArgumentException("config: reading routed to no/unknown EMSE");
                if (r.Exponent < -18 || r.Exponent > 18) throw new ArgumentException("config: exponent -18..18");
            }
            if (KeyMode != KeyModes.NetworkOnly && EmksHost == null) throw new ArgumentException("config: home mode needs the EMKS endpoint");
            if (QueueCapacity < 2) throw new ArgumentException("config: queue capacity >= 2");
            if (SampleIntervalSeconds < 1 || UploadEveryCycles < 1) throw new ArgumentException("config: intervals");
            if (KeyRecordBase + MaxEmses > SsnRecordBase || SsnRecordBase + MaxEmses > CursorRecordBase
                || CursorRecordBase + MaxEmses > QueueRecordBase || StateRecordId >= KeyRecordBase
                || RefusalRecordId < CursorRecordBase + MaxEmses || RefusalRecordId >= QueueRecordBase)
            {
                throw new ArgumentException("config: overlapping record ids");
            }
        }
    }
}

using E2m.Hal;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Usim;

namespace E2m.Modem.Drivers
{
    /// <summary>
    /// u-blox SARA-R5 (R500S/R510S/R510M8S) as a delta of the shared u-blox driver (<see cref="UbloxModemBase"/>):
    /// PWR_ON timings, +CEREG n=4 (PSM timers in the URC; falls back to n=2 when refused), +UPSMR=1 (the "+UUPSMR"
    /// PSM URC), PDP through the internal packet-switched data profile (+CGDCONT, then +UPSD=0,0,0 / +UPSD=0,100,&lt;cid&gt;
    /// / +UPSDA=0,3 and the +UUPSDA URC, +UPSND=0,8 as fallback: ubxlib u_cell_private.c), and the 27.007 PSM request
    /// without a reboot (ubxlib u_cell_pwr.c reboots only SARA-R4 after +CPSMS). Sockets are the SARA-R4 ones (HEX mode).
    /// Sources and what is NOT ESTABLISHED: firmware/E2m.Modem/README.md "SARA-R5".
    /// </summary>
    public sealed class SaraR5Modem : UbloxModemBase
    {
        /// <summary>
        /// PWR_ON switch-on low pulse 1.5 s: u-blox's own ubxlib (cell/src/u_cell_private.c, SARA_R5 row "1500 /* Pwr On
        /// pull ms */") and Zephyr modem_cellular (u_blox_sara_r5 power_pulse_duration_ms = 1500). The SARA-R5 data sheet
        /// window itself is NOT ESTABLISHED (the system integration manual UBX-19041356 R03/R04 p24 §1.6.2 defers to it:
        /// "low pulse on the PWR_ON pin ... for a valid time period (see the SARA-R5 series data sheet)"). SparkFun's
        /// library uses 100 ms for the SARA-R510M8S: the window evidently starts well below 1.5 s.
        /// </summary>
        public const int PowerOnPulseMs = 1500;

        /// <summary>
        /// PWR_ON switch-off low pulse: ubxlib SARA_R5 "2000 /* Pwr off pull ms */" (SparkFun: 3200 ms). Data sheet value
        /// NOT ESTABLISHED. Graceful: parameters saved, network detach (SIM UBX-19041356 R03 p24 §1.6.2.1).
        /// </summary>
        public const int PowerOffPulseMs = 2000;

        /// <summary>
        /// Boot until AT is answered: ubxlib "6 /* Boot wait */" s, Zephyr startup_time_ms 1500, ubxlib "15 /* Reboot wait */"
        /// s after a software reboot; probe AT for up to 15 s.
        /// </summary>
        public const int StartupTimeoutMs = 15000;

        /// <summary>V_INT low after +CPWROFF (SIM UBX-19041356 R04 p24 §1.6.2.2: "monitor the V_INT pin"; phase durations "can
        /// largely vary"); ubxlib "20 /* Pwr down wait */" s, Zephyr shutdown 13 s; 40 s as on SARA-R4 (U16 p30).</summary>
        public const int ShutdownTimeoutMs = 40000;

        /// <summary>PDP context id (+CGDCONT) mapped to PSD profile <see cref="UbloxPsdCommands.ProfileId"/>.</summary>
        public const int ContextId = 1;

        private int _uupsdaResult = -1;

        public SaraR5Modem(AtChannel channel, IMonotonicClock clock, IDelay delay, IDigitalOutput pwrOn, IDigitalInput vInt)
            : base(channel, clock, delay, pwrOn, vInt)
        {
            channel.RegisterUrc(UbloxPsdCommands.UrcUupsda + ":", this);
        }

        protected override int PowerOnPulse { get { return PowerOnPulseMs; } }

        protected override int PowerOffPulse { get { return PowerOffPulseMs; } }

        protected override int StartupTimeout { get { return StartupTimeoutMs; } }

        protected override int ShutdownTimeout { get { return ShutdownTimeoutMs; } }

        /// <summary>+CEREG n=4 (TS 27.007 §10.1.22 with PSM timers); R5 support NOT ESTABLISHED from its manual: a refusal falls back to n=2.</summary>
        protected override string CeregMode { get { return NetworkCommands.RegUrcLocationPsm; } }

        /// <summary>AT+UPSMR=1: "+UUPSMR: &lt;state&gt;" reports PSM entry/exit (ubxlib enables it on SARA-R5, DEEP_SLEEP_URC feature).</summary>
        protected override ModemError InitializeModel()
        {
            ModemError e = Run(UbloxPowerCommands.UpsmrOn, null);
            if (e == ModemError.CommandError) e = ModemError.Ok; // URC optional: PSM still works without it
            return e;
        }

        protected override void OnModelUrc(string line)
        {
            if (AtLineReader.HasPrefix(line, UbloxPsdCommands.UrcUupsda))
            {
                try
                {
                    _uupsdaResult = UbloxPsdCommands.ParseUupsda(line);
                }
                catch (MalformedInputException)
                {
                    _uupsdaResult = int.MaxValue; // garbled: decide by +UPSND
                }
                return;
            }
            base.OnModelUrc(line);
        }

        /// <summary>
        /// +CGDCONT=1,"IP","apn"; +UPSD=0,0,0 (IPv4 like the context); +UPSD=0,100,1 (profile 0 → cid 1); +UPSDA=0,3 → OK, then
        /// "+UUPSDA: 0[,"ip"]" (ubxlib waits 3 s); without the URC, "+UPSND=0,8" must report 1 (active).
        /// </summary>
        public override ModemError ActivatePdp(string apn)
        {
            ModemError e = RunSim(PacketDomainCommands.Cgdcont, PacketDomainCommands.CgdcontArguments(ContextId, apn));
            if (e != ModemError.Ok) return e;
            int p = UbloxPsdCommands.ProfileId;
            e = Run(UbloxPsdCommands.Upsd, UbloxPsdCommands.UpsdArguments(p, UbloxPsdCommands.TagProtocol, 0));
            if (e != ModemError.Ok) return e == ModemError.CommandError ? ModemError.PdpActivationFailed : e;
            e = Run(UbloxPsdCommands.Upsd, UbloxPsdCommands.UpsdArguments(p, UbloxPsdCommands.TagContextMapping, ContextId));
            if (e != ModemError.Ok) return e == ModemError.CommandError ? ModemError.PdpActivationFailed : e;

            _uupsdaResult = -1;
            e = Run(UbloxPsdCommands.Upsda, p.ToString() + "," + UbloxPsdCommands.ActionActivate.ToString());
            if (e == ModemError.CommandError || e == ModemError.Timeout) return ModemError.PdpActivationFailed;
            if (e != ModemError.Ok) return e;

            long deadline = Clock.NowMilliseconds + UbloxPsdCommands.UupsdaWaitMs;
            while (_uupsdaResult < 0)
            {
                if (RebootSeen) return ModemError.Rebooted;
                long left = deadline - Clock.NowMilliseconds;
                if (left <= 0) break;
                Channel.Poll(left > 500 ? 500 : (int)left);
            }
            if (_uupsdaResult == 0) return ModemError.Ok;
            if (_uupsdaResult > 0 && _uupsdaResult != int.MaxValue) return ModemError.PdpActivationFailed;

            // no (readable) URC: ask the profile's activation status (Mbed: "AT+UPSND=0,8" → "+UPSND: 0,8,1")
            e = Run(UbloxPsdCommands.Upsnd, p.ToString() + "," + UbloxPsdCommands.ParamActivationStatus.ToString());
            if (e != ModemError.Ok) return e == ModemError.CommandError ? ModemError.PdpActivationFailed : e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            try
            {
                return UbloxPsdCommands.ParseUpsndInt(Result.Lines[0], UbloxPsdCommands.ParamActivationStatus) == 1
                    ? ModemError.Ok : ModemError.PdpActivationFailed;
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
        }

        /// <summary>
        /// TS 27.007 +CPSMS (no deregistration/reboot: ubxlib u_cell_pwr.c sets "reboot required" after +CPSMS only for
        /// SARA-R4); entry into PSM is then reported by "+UUPSMR: 1" (<see cref="UbloxModemBase.PsmState"/>) and the assigned
        /// timers by +CEREG n=4 (<see cref="AtModemBase.ReadAssignedPsm"/>).
        /// </summary>
        public override ModemError RequestPsm(long periodicTauSeconds, long activeTimeSeconds)
        {
            return base.RequestPsm(periodicTauSeconds, activeTimeSeconds);
        }
    }
}

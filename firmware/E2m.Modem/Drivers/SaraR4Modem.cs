using E2m.Hal;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Usim;

namespace E2m.Modem.Drivers
{
    /// <summary>
    /// u-blox SARA-R410M/R412M (modems.md §2): the SARA-R4 delta over <see cref="UbloxModemBase"/> — pin timings,
    /// +CEREG n=2 (R410M-02B allows n ≤ 3), PDP with +CGDCONT then +CGACT (R4 has no +UPSD profile, modems.md §2.4),
    /// and the vendor PSM sequence (U16 p182–186): deregister, +CPSMS, +CFUN=15 reboot, wait, init again.
    /// </summary>
    public sealed class SaraR4Modem : UbloxModemBase
    {
        /// <summary>
        /// PWR_ON switch-on low pulse: 150–3200 ms for SARA-R410 (modems.md §2.1, PT-S "R410 Low pulse 150-3200ms").
        /// 500 ms: well inside the window and far from the ≥1.5 s switch-off pulse.
        /// </summary>
        public const int PowerOnPulseMs = 500;

        /// <summary>PWR_ON switch-off low pulse ≥1.5 s; Particle uses 1.6 s (modems.md §2.1, PT-S, U-SIM R20 §1.6.2).</summary>
        public const int PowerOffPulseMs = 1600;

        /// <summary>Startup time 10 s before AT answers (modems.md §2.1, Z-CELL SARA_R4 startup 10000 ms).</summary>
        public const int StartupTimeoutMs = 10000;

        /// <summary>V_INT low after +CPWROFF: response "&lt; 40 s" (modems.md §2.1, U16 p30).</summary>
        public const int ShutdownTimeoutMs = 40000;

        /// <summary>PDP context id used with +CGDCONT / +CGACT.</summary>
        public const int ContextId = 1;

        public SaraR4Modem(AtChannel channel, IMonotonicClock clock, IDelay delay, IDigitalOutput pwrOn, IDigitalInput vInt)
            : base(channel, clock, delay, pwrOn, vInt)
        {
        }

        protected override int PowerOnPulse { get { return PowerOnPulseMs; } }

        protected override int PowerOffPulse { get { return PowerOffPulseMs; } }

        protected override int StartupTimeout { get { return StartupTimeoutMs; } }

        protected override int ShutdownTimeout { get { return ShutdownTimeoutMs; } }

        /// <summary>R410M-02B accepts +CEREG n up to 3 only (modems.md §2.3): ask for n=2 (no PSM timers in URCs).</summary>
        protected override string CeregMode { get { return NetworkCommands.RegUrcLocation; } }

        public override ModemError ActivatePdp(string apn)
        {
            // modems.md §2.4: AT+CGDCONT=1,"IP","<apn>", then AT+CGACT=1,1 (150 s, TG-R4).
            ModemError e = RunSim(PacketDomainCommands.Cgdcont, PacketDomainCommands.CgdcontArguments(ContextId, apn));
            if (e != ModemError.Ok) return e;
            e = Run(PacketDomainCommands.Cgact, "1," + ContextId.ToString());
            if (e == ModemError.CommandError || e == ModemError.Timeout) return ModemError.PdpActivationFailed;
            return e;
        }

        /// <summary>
        /// SARA-R410M-02B PSM (modems.md §2.3, U16 p182–186): the request only takes effect after deregistration and a
        /// reboot — AT+CFUN=0, AT+CPSMS=1,,,"&lt;T3412&gt;","&lt;T3324&gt;", AT+CFUN=15, wait until AT is answered, init
        /// script again, AT+CFUN=1. Skipped (no reboot) when +CPSMS? already holds exactly this request: the setting is
        /// kept in NVM and u-blox's ubxlib reboots a SARA-R4 only when the values changed (u_cell_pwr.c). After a
        /// reboot the module registers again and sockets / PDP are gone: the caller re-activates them.
        /// </summary>
        public override ModemError RequestPsm(long periodicTauSeconds, long activeTimeSeconds)
        {
            int tau;
            int active;
            try
            {
                tau = PsmTimers.EncodePeriodicTau(periodicTauSeconds);
                active = PsmTimers.EncodeActiveTime(activeTimeSeconds);
            }
            catch (System.ArgumentOutOfRangeException)
            {
                return ModemError.CommandError;
            }

            ModemError e = Run(NetworkCommands.CpsmsRead, null);
            if (e == ModemError.Ok && Result.LineCount > 0)
            {
                try
                {
                    PsmSettings now = NetworkCommands.ParseCpsms(Result.Lines[0]);
                    if (now.Mode == 1 && now.RequestedPeriodicTau == tau && now.RequestedActiveTime == active) return ModemError.Ok;
                }
                catch (MalformedInputException)
                {
                    // unreadable: set it anyway
                }
            }
            else if (e == ModemError.Rebooted || e == ModemError.Timeout)
            {
                return e;
            }

            e = Run(MobileTerminationCommands.Cfun, MobileTerminationCommands.FunMinimum); // deregister (U16 p182)
            if (e != ModemError.Ok) return e;
            e = Run(NetworkCommands.CpsmsSet, NetworkCommands.CpsmsArguments(tau, active));
            if (e != ModemError.Ok)
            {
                Run(MobileTerminationCommands.Cfun, MobileTerminationCommands.FunFull); // back to service, PSM not requested
                return e;
            }
            return RestartAndReinitialize();
        }

        /// <summary>The network-assigned timers from AT+UCPSMS? (modems.md §2.3: "assigned values via AT+UCPSMS?").</summary>
        public override ModemError ReadAssignedPsm(out PsmAssignment assigned)
        {
            assigned = new PsmAssignment();
            assigned.PeriodicTau = -1;
            assigned.ActiveTime = -1;
            ModemError e = Run(UbloxPowerCommands.UcpsmsRead, null);
            if (e != ModemError.Ok) return e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            try
            {
                PsmSettings s = UbloxPowerCommands.ParseUcpsms(Result.Lines[0]);
                assigned.Active = s.Mode == 1;
                assigned.PeriodicTau = s.RequestedPeriodicTau;
                assigned.ActiveTime = s.RequestedActiveTime;
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }
    }
}

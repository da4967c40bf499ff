using System;

namespace E2m.ModemSim.Modem
{
    /// <summary>
    /// A vendor dialect = a small delta over the shared TS 27.007 core (<see cref="Ts27007Core"/>): facts (boot
    /// output, pin timings, defaults, AcT numbering, line formats) as virtual properties, vendor commands added to
    /// the <see cref="CommandTable"/> in <see cref="Apply"/>. Sources: modems.md sections cited per member.
    /// </summary>
    public abstract class ModemDialect
    {
        public abstract string Name { get; }

        /// <summary>ATI / +CGMI / +CGMM / +CGMR lines: manufacturer, model, revision.</summary>
        public abstract string[] Identity { get; }

        /// <summary>Echo after every boot: on (BG9x TinyGSM #157; SARA U09 §10.20 default 1) — modems.md §1.3, §2.3.</summary>
        public virtual bool EchoAfterBoot => true;

        /// <summary>+CMEE after boot.</summary>
        public abstract int DefaultCmee { get; }

        /// <summary>Commands between "RDY" and "APP RDY" get ERROR (BG95, modems.md §1.2 / §4 quirk 1).</summary>
        public virtual bool ErrorsBeforeAppReady => false;

        /// <summary>+CCLK before network time is known (power-on default).</summary>
        public abstract string DefaultClock { get; }

        /// <summary>&lt;AcT&gt; in +CEREG/+CGREG (TS 27.007 §10.1.22: 7 E-UTRAN, 9 NB-S1; 3 GSM w/EGPRS, 2 UTRAN).</summary>
        public virtual int RegistrationAct(SimRat rat) => rat switch
        {
            SimRat.LteM => 7,
            SimRat.NbIot => 9,
            SimRat.Umts => 2,
            _ => 3,
        };

        /// <summary>&lt;AcT&gt; in +COPS? (Quectel prints 8 for Cat-M1, modems.md §1.3).</summary>
        public virtual int CopsAct(SimRat rat) => RegistrationAct(rat);

        /// <summary>Highest +CEREG/+CGREG &lt;n&gt; accepted.</summary>
        public virtual int MaxRegistrationN(string command, int coreMax) => coreMax;

        /// <summary>+CCHO session id for a logical channel.</summary>
        public virtual string SessionId(int channel) => channel.ToString(System.Globalization.CultureInfo.InvariantCulture);

        /// <summary>+CCHO response line: 27.007 §8.45 prints the bare &lt;sessionid&gt;.</summary>
        public virtual string CchoLine(string session) => session;

        /// <summary>Verbose +CME ERROR text override (null = TS 27.007 §9.2.1 text).</summary>
        public virtual string? CmeVerboseText(int code) => null;

        /// <summary>+CFUN &lt;fun&gt; values that restart the module (SARA: 15).</summary>
        public virtual bool IsResetFun(int fun) => false;

        /// <summary>Adds/overrides the vendor commands (the delta).</summary>
        public abstract void Apply(CommandTable table);

        /// <summary>Schedules the boot output; <paramref name="elapsedMs"/> have already passed since power was applied.</summary>
        public abstract void Boot(SimulatedModem modem, long elapsedMs);

        /// <summary>Time from power-on to the first boot line ("RDY") or AT readiness; a fault reboot shortens the boot to its own delay.</summary>
        public abstract int FirstBootLineMs { get; }

        /// <summary>A completed PWRKEY / PWR_ON pulse of <paramref name="widthMs"/> started at <paramref name="startedAt"/>.</summary>
        public abstract void OnPowerKeyPulse(SimulatedModem modem, long widthMs, long startedAt);

        /// <summary>A completed RESET_N pulse.</summary>
        public virtual void OnResetPulse(SimulatedModem modem, long widthMs)
        {
        }

        /// <summary>Restart commanded by AT (+CFUN=1,1 / +CFUN=15), after the OK.</summary>
        public abstract void Restart(SimulatedModem modem, string reason);

        /// <summary>URCs after the SIM turned ready at boot.</summary>
        public virtual void OnSimReady(SimulatedModem modem) => modem.Urc("+CPIN: READY");

        /// <summary>Whether a downlink datagram is accepted by the socket.</summary>
        public virtual bool AcceptsDownlink(SimulatedModem modem, SimSocket socket) => true;

        /// <summary>A datagram was queued for <paramref name="socket"/>: announce it (URC).</summary>
        public abstract void OnDatagramQueued(SimulatedModem modem, SimSocket socket);

        /// <summary>
        /// +CPSMS was accepted: by default the request is in effect at once (granted = requested, TS 27.007 §7.38). SARA-R410M
        /// overrides: only after deregistration and +CFUN=15 (U16 p182).
        /// </summary>
        public virtual void OnPsmRequested(SimulatedModem modem) => modem.PsmApplied = modem.PsmMode == 1;

        /// <summary>The network deactivated PDP context <paramref name="cid"/>.</summary>
        public virtual void OnPdpLost(SimulatedModem modem, int cid)
        {
        }

        /// <summary>"bg95", "bg96", "sara-r4" / "sara-r410m" / "sara-r412m", "sara-r5" / "sara-r510s" / "sara-r510m8s".</summary>
        public static ModemDialect ByName(string name) => name.ToLowerInvariant() switch
        {
            "bg95" or "bg95-m3" => new Bg9xDialect(Bg9xVariant.Bg95),
            "bg96" => new Bg9xDialect(Bg9xVariant.Bg96),
            "sara-r4" or "sara-r410m" or "sara-r412m" => new SaraR4Dialect(),
            "sara-r5" or "sara-r500s" or "sara-r510s" or "sara-r510m8s" => new SaraR5Dialect(),
            _ => throw new ArgumentException("unknown dialect '" + name + "' (bg95, bg96, sara-r4, sara-r5)"),
        };

        /// <summary>The dialect names the tools accept (first of each alias group).</summary>
        public static readonly string[] Names = { "bg95", "bg96", "sara-r4", "sara-r5" };
    }
}

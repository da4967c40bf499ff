using E2m.Hal;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Usim;

namespace E2m.Modem.Drivers
{
    /// <summary>
    /// The TS 27.007 behaviour shared by every dialect: init script, SIM readiness, registration wait with
    /// URCs, PSM, network time; SIM access probing, USIM AUTHENTICATE and +CRSM EF reads are delegated to
    /// <see cref="UsimAccess"/> (this class is its <see cref="ISimCommandRunner"/>). Vendors add the pin
    /// sequences, PDP activation and the socket API (<see cref="Bg9xModem"/>, <see cref="SaraR4Modem"/>).
    /// All waits use the injected <see cref="IMonotonicClock"/> / <see cref="IDelay"/>; buffers are preallocated.
    /// Untrusted modem text is parsed by the catalogue; a <see cref="MalformedInputException"/> becomes
    /// <see cref="ModemError.MalformedResponse"/> here (the trust boundary).
    /// </summary>
    public abstract class AtModemBase : ICellularModem, IUrcHandler, ISimCommandRunner
    {
        /// <summary>"SIM busy" retries: ubxlib sees +CME ERROR: SIM busy on early commands (modems.md §2.2, §4 quirk 14).</summary>
        public const int SimBusyRetries = 10;

        /// <summary>Wait between SIM-busy retries (engineering value; Particle retries CGDCONT 5×200 ms, modems.md §4 quirk 9).</summary>
        public const int SimBusyRetryDelayMs = 500;

        /// <summary>A denied registration may be a transient LTE reject: "set a reasonable timer (10 s)" (modems.md §2.3, U16 p50–51).</summary>
        public const int DeniedGraceMs = 10000;

        /// <summary>Interval between +CEREG? reads while waiting for registration (URCs usually arrive first).</summary>
        public const int RegistrationPollMs = 5000;

        protected readonly AtChannel Channel;
        protected readonly IMonotonicClock Clock;
        protected readonly IDelay Delay;
        protected readonly AtResult Result = new AtResult(8, 1500);

        private readonly UsimAccess _usim;
        private RegistrationInfo _eps;
        private RegistrationInfo _gprs;
        private bool _registrationSeen;
        private bool _rebootSeen;
        private int _lastCme = -1;

        protected AtModemBase(AtChannel channel, IMonotonicClock clock, IDelay delay)
        {
            if (channel == null) throw new System.ArgumentNullException("channel");
            if (clock == null) throw new System.ArgumentNullException("clock");
            if (delay == null) throw new System.ArgumentNullException("delay");
            Channel = channel;
            Clock = clock;
            Delay = delay;
            _usim = new UsimAccess(this);
            _eps.Stat = RegistrationState.Unknown;
            _gprs.Stat = RegistrationState.Unknown;
            channel.RegisterUrc(RegistrationParser.PrefixCereg + ":", this);
            channel.RegisterUrc(RegistrationParser.PrefixCgreg + ":", this);
            channel.RegisterRebootHandler(this);
        }

        public int SimPaths { get { return _usim.SimPaths; } }

        public int LastCmeError { get { return _lastCme; } }

        public StatusWord LastStatusWord { get { return _usim.LastStatusWord; } }

        /// <summary>Latest EPS registration report seen (URC or read).</summary>
        public RegistrationInfo LastEpsRegistration { get { return _eps; } }

        /// <summary>True once a boot line (RDY / APP RDY) arrived since the flag was last cleared.</summary>
        protected bool RebootSeen { get { return _rebootSeen; } set { _rebootSeen = value; } }

        /// <summary>Vendor: +CEREG &lt;n&gt; to request (4 = with PSM timers; R410M-02B only allows up to 3, modems.md §2.3).</summary>
        protected virtual string CeregMode { get { return NetworkCommands.RegUrcLocationPsm; } }

        /// <summary>Vendor: maps a +COPS / +CEREG AcT to <see cref="RadioAccess"/>.</summary>
        public virtual RadioAccess MapAccess(int act)
        {
            return NetworkCommands.AccessFromTs27007(act);
        }

        public abstract ModemError PowerOn();

        public abstract ModemError PowerOff();

        public abstract ModemError ActivatePdp(string apn);

        public abstract ModemError OpenUdpSocket(string remoteIp, int remotePort, out int socket);

        public abstract ModemError SendDatagram(int socket, byte[] data, int offset, int count);

        public abstract ModemError ReceiveDatagram(int socket, byte[] buffer, int offset, int timeoutMs, out int length);

        public abstract ModemError CloseSocket(int socket);

        /// <summary>Vendor commands appended to the init script (after ATE0, +CMEE, +CEREG/+CGREG).</summary>
        protected virtual ModemError InitializeVendor()
        {
            return ModemError.Ok;
        }

        // ------------------------------------------------------------------ init, SIM, registration

        /// <summary>Init script passes before Initialize gives up when the modem keeps restarting under it.</summary>
        public const int MaxInitPasses = 3;

        private int _bootMark;
        private bool _initialized;

        /// <summary>
        /// True when the channel saw a sign of a modem restart (<see cref="AtChannel.BootIndications"/>: RDY / APP RDY,
        /// a returned echo, an unsolicited +CPIN: READY after a timeout) since the last successful init script.
        /// </summary>
        public bool RebootedSinceInit { get { return _initialized && Channel.BootIndications != _bootMark; } }

        public ModemError Initialize()
        {
            ModemError e = ModemError.Rebooted;
            for (int pass = 0; pass < MaxInitPasses; pass++)
            {
                if (pass > 0)
                {
                    // The modem restarted under the script (modems.md §1.2 / §4 quirk 2), possibly unseen by the failed
                    // command (a reboot longer than its timeout is absorbed by the resync): let it finish booting, then
                    // run the whole script again (ATE0, +CMEE, ...: a rebooted module is back at its defaults).
                    ModemError w = AwaitBootComplete();
                    if (w != ModemError.Ok) return w;
                }
                _rebootSeen = false;
                int mark = Channel.BootIndications;
                e = InitializeOnce();
                if (e != ModemError.Rebooted && Channel.BootIndications == mark) break;
                e = ModemError.Rebooted;
            }
            if (e == ModemError.Ok)
            {
                _bootMark = Channel.BootIndications;
                _initialized = true;
            }
            return e;
        }

        /// <summary>
        /// Vendor: after a detected restart, wait until the module accepts commands again (BG95: APP RDY; SARA: AT
        /// answered) and resynchronise. Default: one resynchronisation.
        /// </summary>
        protected virtual ModemError AwaitBootComplete()
        {
            return Channel.Resync() ? ModemError.Ok : ModemError.Timeout;
        }

        /// <summary>Runs the init script again when the modem restarted since the last one (see <see cref="RebootedSinceInit"/>).</summary>
        protected ModemError ReinitIfRebooted()
        {
            if (!RebootedSinceInit) return ModemError.Ok;
            ModemError e = AwaitBootComplete();
            if (e != ModemError.Ok) return e;
            return Initialize();
        }

        private ModemError InitializeOnce()
        {
            Channel.EchoOff = false;
            ModemError e = Run(GeneralCommands.Ate0, null);
            if (e != ModemError.Ok) return e;
            Channel.EchoOff = true;
            e = Run(GeneralCommands.Cmee, GeneralCommands.CmeeNumeric);
            if (e != ModemError.Ok) return e;
            e = Run(NetworkCommands.CeregSet, CeregMode);
            if (e == ModemError.CommandError && CeregMode != NetworkCommands.RegUrcLocation)
            {
                e = Run(NetworkCommands.CeregSet, NetworkCommands.RegUrcLocation); // n=4 refused: URCs without PSM timers
            }
            if (e != ModemError.Ok) return e;
            e = Run(NetworkCommands.CgregSet, NetworkCommands.RegUrcLocation);
            if (e == ModemError.CommandError) e = ModemError.Ok; // +CGREG is optional on LTE-only modules
            if (e != ModemError.Ok) return e;
            return InitializeVendor();
        }

        public ModemError WaitSimReady(int timeoutMs)
        {
            ModemError r = ReinitIfRebooted();
            if (r != ModemError.Ok) return r;
            long deadline = Clock.NowMilliseconds + timeoutMs;
            while (true)
            {
                AtStatus s = Channel.Execute(MobileTerminationCommands.CpinRead, Result);
                if (s == AtStatus.Ok && Result.LineCount > 0)
                {
                    PinState p;
                    try
                    {
                        p = MobileTerminationCommands.ParseCpin(Result.Lines[0]);
                    }
                    catch (MalformedInputException)
                    {
                        return ModemError.MalformedResponse;
                    }
                    if (p == PinState.Ready) return ModemError.Ok;
                    if (p == PinState.SimPin) return ModemError.SimPinRequired;
                    if (p != PinState.NotReady) return ModemError.SimLocked;
                }
                else
                {
                    ModemError e = Map(s);
                    if (e != ModemError.SimBusy && e != ModemError.SimNotInserted && e != ModemError.Timeout) return e;
                    if (e == ModemError.SimNotInserted && Clock.NowMilliseconds >= deadline) return e;
                }
                if (Clock.NowMilliseconds >= deadline) return ModemError.Timeout;
                Delay.Sleep(SimBusyRetryDelayMs);
            }
        }

        public ModemError ReadImsi(out string imsi)
        {
            imsi = null;
            ModemError e = ReinitIfRebooted();
            if (e != ModemError.Ok) return e;
            e = RunSim(GeneralCommands.Cimi, null);
            if (e != ModemError.Ok) return e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            try
            {
                imsi = GeneralCommands.ParseImsi(Result.Lines[0]);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        public ModemError WaitRegistered(int timeoutMs, out RegistrationInfo info)
        {
            ModemError r = ReinitIfRebooted();
            if (r != ModemError.Ok)
            {
                info = _eps;
                return r;
            }
            long start = Clock.NowMilliseconds;
            long deadline = start + timeoutMs;
            long deniedSince = -1;
            long nextRead = start;
            while (true)
            {
                long now = Clock.NowMilliseconds;
                if (now >= nextRead)
                {
                    AtStatus s = Channel.Execute(NetworkCommands.CeregRead, Result);
                    if (s == AtStatus.Rebooted && !_initialized)
                    {
                        info = _eps;
                        return ModemError.Rebooted;
                    }
                    if (s == AtStatus.Rebooted || RebootedSinceInit)
                    {
                        // restarted while we wait: init script again, then keep waiting (the module re-attaches by itself)
                        ModemError e = ReinitIfRebooted();
                        if (e != ModemError.Ok)
                        {
                            info = _eps;
                            return e;
                        }
                        _eps.Stat = RegistrationState.Unknown;
                        nextRead = Clock.NowMilliseconds;
                        continue;
                    }
                    if (s == AtStatus.Ok && Result.LineCount > 0)
                    {
                        try
                        {
                            _eps = RegistrationParser.ParseRead(Result.Lines[0], RegistrationDomain.Eps);
                            _registrationSeen = true;
                        }
                        catch (MalformedInputException)
                        {
                            info = _eps;
                            return ModemError.MalformedResponse;
                        }
                    }
                    nextRead = Clock.NowMilliseconds + RegistrationPollMs;
                }

                if (_initialized ? RebootedSinceInit : _rebootSeen)
                {
                    if (!_initialized)
                    {
                        info = _eps;
                        return ModemError.Rebooted;
                    }
                    _eps.Stat = RegistrationState.Unknown;
                    nextRead = Clock.NowMilliseconds; // the next pass re-runs the init script and reads +CEREG? again
                    continue;
                }
                if (_eps.IsRegistered)
                {
                    info = _eps;
                    return ModemError.Ok;
                }
                if (_gprs.IsRegistered)
                {
                    info = _gprs;
                    return ModemError.Ok;
                }

                now = Clock.NowMilliseconds;
                if (_eps.Stat == RegistrationState.Denied)
                {
                    if (deniedSince < 0) deniedSince = now;
                    if (now - deniedSince >= DeniedGraceMs)
                    {
                        info = _eps;
                        return ModemError.RegistrationDenied;
                    }
                }
                else
                {
                    deniedSince = -1;
                }

                if (now >= deadline)
                {
                    info = _eps;
                    return ModemError.Timeout;
                }
                long wait = nextRead - now;
                if (deadline - now < wait) wait = deadline - now;
                if (wait > 1000) wait = 1000;
                if (wait > 0 && !Channel.Poll((int)wait))
                {
                    // nothing arrived; Poll returned early only if bytes were handled, otherwise the clock moved
                }
            }
        }

        public virtual ModemError SelectOperator(string plmn)
        {
            if (plmn == null || plmn.Length < 5 || plmn.Length > 6) return ModemError.CommandError;
            for (int i = 0; i < plmn.Length; i++)
            {
                if (plmn[i] < '0' || plmn[i] > '9') return ModemError.CommandError;
            }

            return Run(NetworkCommands.CopsSet, "1,2,\"" + plmn + "\""); // TS 27.007 §7.3: manual, numeric
        }

        public virtual ModemError RequestPsm(long periodicTauSeconds, long activeTimeSeconds)
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
            return Run(NetworkCommands.CpsmsSet, NetworkCommands.CpsmsArguments(tau, active));
        }

        /// <summary>
        /// The PSM timers the network assigned (TS 27.007 §10.1.22: +CEREG n=4 reports Active-Time and Periodic-TAU):
        /// a +CEREG? read, falling back to the last URC. Vendors with their own report override (SARA-R4 +UCPSMS?).
        /// </summary>
        public virtual ModemError ReadAssignedPsm(out PsmAssignment assigned)
        {
            assigned = new PsmAssignment();
            assigned.PeriodicTau = -1;
            assigned.ActiveTime = -1;
            ModemError e = Run(NetworkCommands.CeregRead, null);
            if (e != ModemError.Ok) return e;
            if (Result.LineCount > 0)
            {
                try
                {
                    _eps = RegistrationParser.ParseRead(Result.Lines[0], RegistrationDomain.Eps);
                }
                catch (MalformedInputException)
                {
                    return ModemError.MalformedResponse;
                }
            }
            assigned.PeriodicTau = _eps.PeriodicUpdate;
            assigned.ActiveTime = _eps.ActiveTime;
            assigned.Active = _eps.ActiveTime >= 0;
            return ModemError.Ok;
        }

        public ModemError ReadNetworkTime(out NetworkTime time)
        {
            time = new NetworkTime();
            ModemError e = Run(MobileTerminationCommands.CclkRead, null);
            if (e != ModemError.Ok) return e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            try
            {
                time = MobileTerminationCommands.ParseCclk(Result.Lines[0]);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        // ------------------------------------------------------------------ URCs

        /// <summary>Registration URCs and boot lines (IUrcHandler). Vendors override and call base for the rest.</summary>
        public virtual void OnUrc(string line)
        {
            if (line == "RDY" || line == "APP RDY")
            {
                _rebootSeen = true;
                OnReboot(line);
                return;
            }
            try
            {
                if (AtLineReader.HasPrefix(line, RegistrationParser.PrefixCereg))
                {
                    _eps = RegistrationParser.Parse(line, RegistrationDomain.Eps);
                    _registrationSeen = true;
                }
                else if (AtLineReader.HasPrefix(line, RegistrationParser.PrefixCgreg))
                {
                    _gprs = RegistrationParser.Parse(line, RegistrationDomain.Gprs);
                }
            }
            catch (MalformedInputException)
            {
                // a garbled URC is dropped; the next read (+CEREG?) restores the state
            }
        }

        /// <summary>Vendor hook for a boot line (sockets and contexts are gone after a reboot).</summary>
        protected virtual void OnReboot(string line)
        {
        }

        /// <summary>True once a registration report was parsed.</summary>
        public bool RegistrationSeen { get { return _registrationSeen; } }

        // ------------------------------------------------------------------ SIM access (delegated to Usim/UsimAccess)

        /// <summary>The USIM access layer this driver delegates to (probe result, AID source, paths).</summary>
        public UsimAccess Usim { get { return _usim; } }

        public ModemError ProbeCapabilities()
        {
            return _usim.ProbeCapabilities();
        }

        public ModemError Authenticate(byte[] rand, byte[] autn, AuthenticateResult result)
        {
            return _usim.Authenticate(rand, autn, result);
        }

        public ModemError ReadKeysPs(UsimKeys keys)
        {
            return _usim.ReadKeysPs(keys);
        }

        public ModemError ReadEfImsi(out string imsi)
        {
            return _usim.ReadEfImsi(out imsi);
        }

        public ModemError ReadAd(out AdministrativeData ad)
        {
            return _usim.ReadAd(out ad);
        }

        ModemError ISimCommandRunner.RunSim(AtCommand command, string arguments)
        {
            return RunSim(command, arguments);
        }

        AtResult ISimCommandRunner.Result { get { return Result; } }

        // ------------------------------------------------------------------ execution helpers

        /// <summary>Executes one command; maps the typed AT outcome to <see cref="ModemError"/>.</summary>
        protected ModemError Run(AtCommand command, string arguments)
        {
            AtStatus s = arguments == null ? Channel.Execute(command, Result) : Channel.Execute(command, arguments, Result);
            return Map(s);
        }

        /// <summary>Executes a SIM command, retrying +CME ERROR 14 "SIM busy" (modems.md §4 quirk 14).</summary>
        protected ModemError RunSim(AtCommand command, string arguments)
        {
            for (int i = 0; ; i++)
            {
                ModemError e = Run(command, arguments);
                if (e != ModemError.SimBusy || i >= SimBusyRetries) return e;
                Delay.Sleep(SimBusyRetryDelayMs);
            }
        }

        /// <summary>AtStatus → ModemError, recording the +CME code.</summary>
        protected ModemError Map(AtStatus s)
        {
            if (s == AtStatus.Ok)
            {
                return ModemError.Ok;
            }
            _lastCme = Result.ErrorCode;
            switch (s)
            {
                case AtStatus.Timeout: return ModemError.Timeout;
                case AtStatus.Rebooted:
                    _rebootSeen = true;
                    return ModemError.Rebooted;
                case AtStatus.CmeError:
                    switch (Result.ErrorCode)
                    {
                        case AtErrorCodes.SimNotInserted: return ModemError.SimNotInserted;
                        case AtErrorCodes.SimPinRequired: return ModemError.SimPinRequired;
                        case AtErrorCodes.SimPukRequired: return ModemError.SimLocked;
                        case AtErrorCodes.SimBusy: return ModemError.SimBusy;
                        case AtErrorCodes.SimFailure:
                        case AtErrorCodes.SimWrong: return ModemError.SimFailure;
                    }
                    return ModemError.CommandError;
            }
            return ModemError.CommandError;
        }
    }
}

using E2m.Hal;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Usim;

namespace E2m.Modem.Drivers
{
    /// <summary>
    /// The TS 27.007 behaviour shared by every dialect: init script, SIM readiness, registration wait with
    /// URCs, PSM, network time, SIM access probing and USIM AUTHENTICATE / READ BINARY. Vendors add the pin
    /// sequences, PDP activation and the socket API (<see cref="Bg9xModem"/>, <see cref="SaraR4Modem"/>).
    /// All waits use the injected <see cref="IMonotonicClock"/> / <see cref="IDelay"/>; buffers are preallocated.
    /// Untrusted modem text is parsed by the catalogue; a <see cref="MalformedInputException"/> becomes
    /// <see cref="ModemError.MalformedResponse"/> here (the trust boundary).
    /// </summary>
    public abstract class AtModemBase : ICellularModem, IUrcHandler
    {
        /// <summary>"SIM busy" retries: ubxlib sees +CME ERROR: SIM busy on early commands (modems.md §2.2, §4 quirk 14).</summary>
        public const int SimBusyRetries = 10;

        /// <summary>Wait between SIM-busy retries (engineering value; Particle retries CGDCONT 5×200 ms, modems.md §4 quirk 9).</summary>
        public const int SimBusyRetryDelayMs = 500;

        /// <summary>A denied registration may be a transient LTE reject: "set a reasonable timer (10 s)" (modems.md §2.3, U16 p50–51).</summary>
        public const int DeniedGraceMs = 10000;

        /// <summary>Interval between +CEREG? reads while waiting for registration (URCs usually arrive first).</summary>
        public const int RegistrationPollMs = 5000;

        /// <summary>Logical channel used for the +CCHO probe and AUTHENTICATE: the USIM AID prefix (TS 31.102 Annex A, 3gpp.md §3).</summary>
        protected readonly byte[] UsimAid = UsimApdu.UsimAidPrefix();

        protected readonly AtChannel Channel;
        protected readonly IMonotonicClock Clock;
        protected readonly IDelay Delay;
        protected readonly AtResult Result = new AtResult(8, 1500);

        private readonly byte[] _apdu = new byte[64];
        private readonly byte[] _response = new byte[300];
        private RegistrationInfo _eps;
        private RegistrationInfo _gprs;
        private bool _registrationSeen;
        private bool _rebootSeen;
        private int _simPaths;
        private int _lastCme = -1;
        private StatusWord _lastSw;
        private string _cchoSession;

        protected AtModemBase(AtChannel channel, IMonotonicClock clock, IDelay delay)
        {
            if (channel == null) throw new System.ArgumentNullException("channel");
            if (clock == null) throw new System.ArgumentNullException("clock");
            if (delay == null) throw new System.ArgumentNullException("delay");
            Channel = channel;
            Clock = clock;
            Delay = delay;
            _eps.Stat = RegistrationState.Unknown;
            _gprs.Stat = RegistrationState.Unknown;
            channel.RegisterUrc(RegistrationParser.PrefixCereg + ":", this);
            channel.RegisterUrc(RegistrationParser.PrefixCgreg + ":", this);
            channel.RegisterRebootHandler(this);
        }

        public int SimPaths { get { return _simPaths; } }

        public int LastCmeError { get { return _lastCme; } }

        public StatusWord LastStatusWord { get { return _lastSw; } }

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

        public ModemError Initialize()
        {
            ModemError e = ModemError.Rebooted;
            for (int pass = 0; pass < 2 && e == ModemError.Rebooted; pass++)
            {
                if (pass > 0)
                {
                    // The modem rebooted under the script (modems.md §1.2 / §4 quirk 2): resync and start over.
                    Channel.Resync();
                }
                _rebootSeen = false;
                e = InitializeOnce();
            }
            return e;
        }

        private ModemError InitializeOnce()
        {
            ModemError e = Run(GeneralCommands.Ate0, null);
            if (e != ModemError.Ok) return e;
            e = Run(GeneralCommands.Cmee, GeneralCommands.CmeeNumeric);
            if (e != ModemError.Ok) return e;
            e = Run(NetworkCommands.CeregSet, CeregMode);
            if (e != ModemError.Ok) return e;
            e = Run(NetworkCommands.CgregSet, NetworkCommands.RegUrcLocation);
            if (e == ModemError.CommandError) e = ModemError.Ok; // +CGREG is optional on LTE-only modules
            if (e != ModemError.Ok) return e;
            return InitializeVendor();
        }

        public ModemError WaitSimReady(int timeoutMs)
        {
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
            ModemError e = RunSim(GeneralCommands.Cimi, null);
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
                    if (s == AtStatus.Rebooted)
                    {
                        info = _eps;
                        return ModemError.Rebooted;
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

                if (_rebootSeen)
                {
                    info = _eps;
                    return ModemError.Rebooted;
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

        public ModemError RequestPsm(long periodicTauSeconds, long activeTimeSeconds)
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

        // ------------------------------------------------------------------ SIM access

        public ModemError ProbeCapabilities()
        {
            int paths = SimAccessPaths.None;

            // 1. Logical channel: open and close a real session to the USIM (the test form alone proves little, lpac).
            ModemError e = OpenLogicalChannel();
            if (e == ModemError.Rebooted || e == ModemError.Timeout) return e;
            if (e == ModemError.Ok)
            {
                CloseLogicalChannel();
                paths |= SimAccessPaths.LogicalChannel;
            }

            // 2. +CSIM: MANAGE CHANNEL open, then close (exactly what the fallback needs).
            int channel;
            e = CsimOpenChannel(out channel);
            if (e == ModemError.Rebooted || e == ModemError.Timeout) return e;
            if (e == ModemError.Ok)
            {
                CsimCloseChannel(channel);
                paths |= SimAccessPaths.Csim;
            }

            // 3. +CRSM: READ BINARY of EF_AD (4 octets, READ PIN access, TS 31.102 §4.2.18).
            AdministrativeData ad;
            e = ReadAd(out ad);
            if (e == ModemError.Rebooted || e == ModemError.Timeout) return e;
            if (e == ModemError.Ok) paths |= SimAccessPaths.Crsm;

            _simPaths = paths;
            return ModemError.Ok;
        }

        public ModemError Authenticate(byte[] rand, byte[] autn, AuthenticateResult result)
        {
            if (rand == null || rand.Length != UsimApdu.RandLength) throw new System.ArgumentException("rand");
            if (autn == null || autn.Length != UsimApdu.AutnLength) throw new System.ArgumentException("autn");
            if (result == null) throw new System.ArgumentNullException("result");
            result.Clear();
            bool triedAny = false;
            int refusedCode = int.MinValue;

            if ((_simPaths & SimAccessPaths.LogicalChannel) != 0)
            {
                triedAny = true;
                ModemError e = AuthenticateOverCgla(rand, autn, result);
                if (e != ModemError.Ok && e != ModemError.ModemRefused) return e;
                if (e == ModemError.Ok) return ModemError.Ok;
                refusedCode = _lastCme;
            }

            if ((_simPaths & SimAccessPaths.Csim) != 0)
            {
                triedAny = true;
                ModemError e = AuthenticateOverCsim(rand, autn, result);
                if (e != ModemError.Ok && e != ModemError.ModemRefused) return e;
                if (e == ModemError.Ok) return ModemError.Ok;
                refusedCode = _lastCme;
            }

            if (!triedAny)
            {
                result.SetNoAccessPath();
                return ModemError.Ok;
            }
            result.SetModemRefused(refusedCode == int.MinValue ? -1 : refusedCode);
            return ModemError.Ok;
        }

        private ModemError AuthenticateOverCgla(byte[] rand, byte[] autn, AuthenticateResult result)
        {
            ModemError e = OpenLogicalChannel();
            if (e != ModemError.Ok) return e == ModemError.CommandError ? ModemError.ModemRefused : e;
            try
            {
                // TS 27.007 §8.43: the MT manages the channel bits in CLA, so the command goes with CLA '00'.
                int n = UsimApdu.BuildAuthenticate3g(0, rand, 0, autn, 0, _apdu, 0);
                int len;
                e = TransmitCgla(n, out len);
                if (e != ModemError.Ok) return e;
                return ParseAuthenticate(len, result);
            }
            finally
            {
                CloseLogicalChannel();
            }
        }

        private ModemError AuthenticateOverCsim(byte[] rand, byte[] autn, AuthenticateResult result)
        {
            int channel;
            ModemError e = CsimOpenChannel(out channel);
            if (e != ModemError.Ok) return e == ModemError.CommandError || e == ModemError.SimRefused ? ModemError.ModemRefused : e;
            try
            {
                // SELECT the USIM ADF on the new channel (TS 102 221 §11.1.1).
                int n = UsimApdu.BuildSelectByAid(channel, UsimAid, 0, UsimAid.Length, _apdu, 0);
                int len;
                e = TransmitCsim(channel, n, false, out len);
                if (e != ModemError.Ok) return e;
                StatusWord sw = StatusWord.FromResponseTail(_response, 0, len);
                if (!(sw.IsSuccess || sw.Category == StatusCategory.MoreData))
                {
                    _lastSw = sw;
                    result.SetKind(AuthenticateKind.Refused, sw);
                    return ModemError.Ok;
                }

                n = UsimApdu.BuildAuthenticate3g(channel, rand, 0, autn, 0, _apdu, 0);
                e = TransmitCsim(channel, n, true, out len);
                if (e != ModemError.Ok) return e;
                return ParseAuthenticate(len, result);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            finally
            {
                CsimCloseChannel(channel);
            }
        }

        private ModemError ParseAuthenticate(int len, AuthenticateResult result)
        {
            try
            {
                AuthenticateResponse.Parse(_response, 0, len, result);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            finally
            {
                System.Array.Clear(_response, 0, _response.Length); // CK/IK copied out; do not keep them here
            }
            _lastSw = result.Status;
            return ModemError.Ok;
        }

        private ModemError OpenLogicalChannel()
        {
            _cchoSession = null;
            ModemError e = RunSim(SimAccessCommands.Ccho, SimAccessCommands.CchoArguments(UsimAid, 0, UsimAid.Length));
            if (e != ModemError.Ok) return e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            try
            {
                _cchoSession = SimAccessCommands.ParseCchoSession(Result.Lines[0]);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        private void CloseLogicalChannel()
        {
            if (_cchoSession == null) return;
            Run(SimAccessCommands.Cchc, _cchoSession);
            _cchoSession = null;
        }

        /// <summary>
        /// +CGLA exchange of _apdu[0..n) with the T=0 procedure bytes resolved here when the modem returns them
        /// (3gpp.md §3: some modems do GET RESPONSE inside the command, others return '61xx' to the TE).
        /// </summary>
        private ModemError TransmitCgla(int n, out int len)
        {
            len = 0;
            for (int round = 0; round < 4; round++)
            {
                ModemError e = RunSim(SimAccessCommands.Cgla, SimAccessCommands.CglaArguments(_cchoSession, _apdu, 0, n));
                if (e == ModemError.CommandError) return ModemError.ModemRefused;
                if (e != ModemError.Ok) return e;
                if (Result.LineCount == 0) return ModemError.MalformedResponse;
                try
                {
                    len = SimAccessCommands.ParseCgla(Result.Lines[0], _response, 0);
                }
                catch (MalformedInputException)
                {
                    return ModemError.MalformedResponse;
                }
                StatusWord sw = StatusWord.FromResponseTail(_response, 0, len);
                if (sw.Category == StatusCategory.MoreData && len == 2)
                {
                    n = UsimApdu.BuildGetResponse(0, sw.Sw2, _apdu, 0);
                    continue;
                }
                if (sw.Category == StatusCategory.WrongLe && len == 2)
                {
                    n = UsimApdu.ReissueWithLe(_apdu, 0, n, sw.Sw2, _apdu, 0);
                    continue;
                }
                return ModemError.Ok;
            }
            return ModemError.MalformedResponse;
        }

        /// <summary>+CSIM exchange of _apdu[0..n) on <paramref name="channel"/>; resolves '61xx' / '6Cxx' when <paramref name="fetch"/>.</summary>
        private ModemError TransmitCsim(int channel, int n, bool fetch, out int len)
        {
            len = 0;
            for (int round = 0; round < 4; round++)
            {
                ModemError e = RunSim(SimAccessCommands.Csim, SimAccessCommands.CsimArguments(_apdu, 0, n));
                if (e == ModemError.CommandError) return ModemError.ModemRefused;
                if (e != ModemError.Ok) return e;
                if (Result.LineCount == 0) return ModemError.MalformedResponse;
                try
                {
                    len = SimAccessCommands.ParseCsim(Result.Lines[0], _response, 0);
                }
                catch (MalformedInputException)
                {
                    return ModemError.MalformedResponse;
                }
                StatusWord sw = StatusWord.FromResponseTail(_response, 0, len);
                if (fetch && sw.Category == StatusCategory.MoreData && len == 2)
                {
                    n = UsimApdu.BuildGetResponse(channel, sw.Sw2, _apdu, 0); // TS 102 221 §7.3.1.1.4
                    continue;
                }
                if (fetch && sw.Category == StatusCategory.WrongLe && len == 2)
                {
                    n = UsimApdu.ReissueWithLe(_apdu, 0, n, sw.Sw2, _apdu, 0); // TS 102 221 §7.3.1.1.5
                    continue;
                }
                return ModemError.Ok;
            }
            return ModemError.MalformedResponse;
        }

        private ModemError CsimOpenChannel(out int channel)
        {
            channel = 0;
            int n = UsimApdu.BuildManageChannelOpen(_apdu, 0);
            int len;
            ModemError e = TransmitCsim(0, n, true, out len);
            if (e == ModemError.ModemRefused) return ModemError.CommandError;
            if (e != ModemError.Ok) return e;
            StatusWord sw = StatusWord.FromResponseTail(_response, 0, len);
            if (!sw.IsSuccess)
            {
                _lastSw = sw;
                return ModemError.SimRefused;
            }
            if (len != 3) return ModemError.MalformedResponse;
            channel = _response[0];
            if (channel < 1 || channel > UsimApdu.MaxLogicalChannel)
            {
                channel = 0;
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        private void CsimCloseChannel(int channel)
        {
            if (channel < 1) return;
            int n = UsimApdu.BuildManageChannelClose(channel, _apdu, 0);
            int len;
            TransmitCsim(0, n, false, out len);
        }

        public ModemError ReadKeysPs(UsimKeys keys)
        {
            if (keys == null) throw new System.ArgumentNullException("keys");
            keys.Clear();
            int len;
            ModemError e = ReadBinary(UsimFiles.EfKeysPs, UsimFiles.EfKeysLength, out len);
            if (e != ModemError.Ok) return e;
            try
            {
                keys.Decode(_response, 0, len);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            finally
            {
                System.Array.Clear(_response, 0, _response.Length);
            }
            return ModemError.Ok;
        }

        public ModemError ReadEfImsi(out string imsi)
        {
            imsi = null;
            int len;
            ModemError e = ReadBinary(UsimFiles.EfImsi, UsimFiles.EfImsiLength, out len);
            if (e != ModemError.Ok) return e;
            try
            {
                imsi = EfImsi.Decode(_response, 0, len);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        public ModemError ReadAd(out AdministrativeData ad)
        {
            ad = new AdministrativeData(0, 0);
            int len;
            ModemError e = ReadBinary(UsimFiles.EfAd, UsimFiles.EfAdReadLength, out len);
            if (e != ModemError.Ok) return e;
            try
            {
                ad = EfAd.Decode(_response, 0, len);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        /// <summary>+CRSM READ BINARY (TS 27.007 §8.18) into _response; SW other than 9000 → SimRefused.</summary>
        private ModemError ReadBinary(int fileId, int length, out int len)
        {
            len = 0;
            ModemError e = RunSim(SimAccessCommands.Crsm, SimAccessCommands.CrsmReadBinaryArguments(fileId, 0, length));
            if (e != ModemError.Ok) return e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            StatusWord sw;
            try
            {
                len = SimAccessCommands.ParseCrsm(Result.Lines[0], _response, 0, out sw);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            if (!sw.IsSuccess)
            {
                _lastSw = sw;
                return ModemError.SimRefused;
            }
            return ModemError.Ok;
        }

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

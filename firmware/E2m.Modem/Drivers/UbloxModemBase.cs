using E2m.Hal;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Usim;

namespace E2m.Modem.Drivers
{
    /// <summary>
    /// What SARA-R4 and SARA-R5 share (modems.md §2): PWR_ON / V_INT sequencing with per-model pulse widths, no boot
    /// greeting (readiness = an answered "AT"), +CPWROFF, HEX-mode UDP sockets (+USOCR=17 / +USOST / +UUSORF → +USORF /
    /// +USOCL / +UUSOCL, see <see cref="UbloxCommands"/>), the +UUPSMR PSM URC where the model has it, and the wait for
    /// a silent restart (+CFUN=15). Models add their timings, PDP activation and PSM sequence
    /// (<see cref="SaraR4Modem"/>, <see cref="SaraR5Modem"/>). Pins: <c>pwrOn</c> written true asserts PWR_ON (module pin
    /// low; inversion in the HAL adapter); <c>vInt</c> (optional) reads true while V_INT is high (module on).
    /// </summary>
    public abstract class UbloxModemBase : AtModemBase
    {
        /// <summary>Socket ids 0–6 (modems.md §2.5, U09 §18.3).</summary>
        public const int MaxSockets = 7;

        /// <summary>Interval of the blind "AT" probes during startup (Zephyr: 4× AT at 100 ms; old driver every 2 s; modems.md §2.1).</summary>
        public const int StartupProbeIntervalMs = 1000;

        /// <summary>
        /// After +CFUN=15's OK the module may still answer for a moment before it resets (no greeting tells the end):
        /// probe only after this pause (TinyGSM restart waits 10 s then 3 s, modems.md §2.1; engineering value).
        /// </summary>
        public const int RestartSettleMs = 1000;

        private readonly IDigitalOutput _pwrOn;
        private readonly IDigitalInput _vInt;
        private readonly bool[] _open = new bool[MaxSockets];
        private readonly int[] _pending = new int[MaxSockets];
        private readonly string[] _remoteIp = new string[MaxSockets];
        private readonly int[] _remotePort = new int[MaxSockets];
        private int _psmState = -1;

        protected UbloxModemBase(AtChannel channel, IMonotonicClock clock, IDelay delay, IDigitalOutput pwrOn, IDigitalInput vInt)
            : base(channel, clock, delay)
        {
            _pwrOn = pwrOn;
            _vInt = vInt;
            channel.RegisterUrc(UbloxCommands.UrcUusorf + ":", this);
            channel.RegisterUrc(UbloxCommands.UrcUusocl + ":", this);
            channel.RegisterUrc(UbloxPowerCommands.UrcUupsmr + ":", this);
        }

        /// <summary>Model: PWR_ON switch-on pulse.</summary>
        protected abstract int PowerOnPulse { get; }

        /// <summary>Model: PWR_ON switch-off pulse.</summary>
        protected abstract int PowerOffPulse { get; }

        /// <summary>Model: time from the switch-on pulse (or a restart) until AT must be answered.</summary>
        protected abstract int StartupTimeout { get; }

        /// <summary>Model: V_INT low after +CPWROFF / the switch-off pulse.</summary>
        protected abstract int ShutdownTimeout { get; }

        /// <summary>Last "+UUPSMR: &lt;state&gt;" (0 out of PSM, 1 entering PSM, 2/3 a client prevents it); -1 none seen.</summary>
        public int PsmState { get { return _psmState; } }

        public override ModemError PowerOn()
        {
            if (_vInt != null && _vInt.Read())
            {
                return Channel.Resync() ? ModemError.Ok : ModemError.PowerOnFailed;
            }
            if (_pwrOn == null) return ModemError.PowerOnFailed;
            _pwrOn.Write(true);
            Delay.Sleep(PowerOnPulse);
            _pwrOn.Write(false);
            if (!ProbeUntilAnswered(StartupTimeout)) return ModemError.PowerOnFailed;
            RebootSeen = false;
            return ModemError.Ok;
        }

        // No greeting (modems.md §2.2): "AT" until it is answered or the time is up.
        private bool ProbeUntilAnswered(int timeoutMs)
        {
            long deadline = Clock.NowMilliseconds + timeoutMs;
            while (true)
            {
                if (Channel.Resync()) return true;
                if (Clock.NowMilliseconds >= deadline) return false;
                Delay.Sleep(StartupProbeIntervalMs);
            }
        }

        /// <summary>A silent restart (no greeting): probe with AT until the module answers (<see cref="StartupTimeout"/>).</summary>
        protected override ModemError AwaitBootComplete()
        {
            return ProbeUntilAnswered(StartupTimeout) ? ModemError.Ok : ModemError.Timeout;
        }

        public override ModemError PowerOff()
        {
            ModemError e = Run(UbloxCommands.Cpwroff, null);
            if (e == ModemError.Ok && WaitVIntLow()) return ModemError.Ok;
            if (_pwrOn == null) return e == ModemError.Ok ? ModemError.Timeout : e;
            _pwrOn.Write(true);
            Delay.Sleep(PowerOffPulse);
            _pwrOn.Write(false);
            return WaitVIntLow() ? ModemError.Ok : ModemError.Timeout;
        }

        private bool WaitVIntLow()
        {
            if (_vInt == null) return true;
            long deadline = Clock.NowMilliseconds + ShutdownTimeout;
            while (_vInt.Read())
            {
                if (Clock.NowMilliseconds >= deadline) return false;
                Delay.Sleep(100);
            }
            return true;
        }

        /// <summary>
        /// +CFUN=15 (U16 p182) and the wait for the module to come back (AT answered), then the init script again and
        /// AT+CFUN=1 (whether a +CFUN=0 before the reset survives it is NOT ESTABLISHED: full functionality is asked
        /// for explicitly). Sockets and the PDP context are gone afterwards: the caller activates them again.
        /// </summary>
        protected ModemError RestartAndReinitialize()
        {
            ModemError e = Run(UbloxPowerCommands.CfunReset, null);
            if (e != ModemError.Ok && e != ModemError.Rebooted && e != ModemError.Timeout) return e;
            ClearSockets();
            Delay.Sleep(RestartSettleMs);
            if (!ProbeUntilAnswered(StartupTimeout)) return ModemError.Timeout;
            e = Initialize();
            if (e != ModemError.Ok) return e;
            return Run(MobileTerminationCommands.Cfun, MobileTerminationCommands.FunFull);
        }

        /// <summary>HEX mode for socket data, then the model's extra init commands.</summary>
        protected override ModemError InitializeVendor()
        {
            ModemError e = Run(UbloxCommands.UdconfHex, null);
            if (e != ModemError.Ok) return e;
            return InitializeModel();
        }

        /// <summary>Model: init commands after AT+UDCONF=1,1.</summary>
        protected virtual ModemError InitializeModel()
        {
            return ModemError.Ok;
        }

        protected override void OnReboot(string line)
        {
            ClearSockets();
        }

        private void ClearSockets()
        {
            for (int i = 0; i < MaxSockets; i++)
            {
                _open[i] = false;
                _pending[i] = 0;
            }
        }

        public override void OnUrc(string line)
        {
            try
            {
                if (AtLineReader.HasPrefix(line, UbloxCommands.UrcUusorf))
                {
                    int s;
                    int n;
                    UbloxCommands.ParseUusorf(line, out s, out n);
                    _pending[s] = n;
                    return;
                }
                if (AtLineReader.HasPrefix(line, UbloxCommands.UrcUusocl))
                {
                    AtLineReader r = new AtLineReader(line);
                    r.ExpectPrefix(UbloxCommands.UrcUusocl);
                    int s = r.ReadInt(0, MaxSockets - 1);
                    _open[s] = false;
                    _pending[s] = 0;
                    return;
                }
                if (AtLineReader.HasPrefix(line, UbloxPowerCommands.UrcUupsmr))
                {
                    _psmState = UbloxPowerCommands.ParseUupsmr(line);
                    return;
                }
            }
            catch (MalformedInputException)
            {
                return;
            }
            OnModelUrc(line);
        }

        /// <summary>Model URCs (registered by the model); the default passes the line to the 27.007 handler.</summary>
        protected virtual void OnModelUrc(string line)
        {
            base.OnUrc(line);
        }

        public override ModemError OpenUdpSocket(string remoteIp, int remotePort, out int socket)
        {
            socket = -1;
            QuectelCommands.CheckHost(remoteIp);
            if (remotePort < 1 || remotePort > 65535) throw new System.ArgumentOutOfRangeException("remotePort");
            ModemError e = Run(UbloxCommands.Usocr, "17"); // 17 = UDP (modems.md §2.5)
            if (e != ModemError.Ok) return e == ModemError.CommandError ? ModemError.SocketOpenFailed : e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            int s;
            try
            {
                s = UbloxCommands.ParseUsocr(Result.Lines[0]);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            _open[s] = true;
            _pending[s] = 0;
            _remoteIp[s] = remoteIp;
            _remotePort[s] = remotePort;
            socket = s;
            return ModemError.Ok;
        }

        public override ModemError SendDatagram(int socket, byte[] data, int offset, int count)
        {
            if (socket < 0 || socket >= MaxSockets || !_open[socket]) return ModemError.BadSocket;
            if (count < 1 || count > UbloxCommands.MaxHexSendLength) return ModemError.TooLarge;
            string args = socket.ToString() + ",\"" + _remoteIp[socket] + "\"," + _remotePort[socket].ToString() + ","
                + count.ToString() + ",\"" + HexString.Encode(data, offset, count) + "\"";
            if (UbloxCommands.Usost.Text.Length + args.Length > UbloxCommands.MaxCommandLine) return ModemError.TooLarge;
            ModemError e = Run(UbloxCommands.Usost, args);
            if (e == ModemError.CommandError) return ModemError.SendFailed;
            if (e != ModemError.Ok) return e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            try
            {
                if (UbloxCommands.ParseUsost(Result.Lines[0]) != count) return ModemError.SendFailed;
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        public override ModemError ReceiveDatagram(int socket, byte[] buffer, int offset, int timeoutMs, out int length)
        {
            length = 0;
            if (socket < 0 || socket >= MaxSockets || !_open[socket]) return ModemError.BadSocket;
            long deadline = Clock.NowMilliseconds + timeoutMs;
            while (_pending[socket] <= 0)
            {
                if (RebootSeen) return ModemError.Rebooted;
                long left = deadline - Clock.NowMilliseconds;
                if (left <= 0) return ModemError.NoData;
                Channel.Poll(left > 1000 ? 1000 : (int)left);
            }
            ModemError e = Run(UbloxCommands.Usorf, socket.ToString() + "," + UbloxCommands.MaxReadLength.ToString());
            if (e != ModemError.Ok) return e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            int n;
            try
            {
                n = UbloxCommands.ParseUsorfHex(Result.Lines[0], buffer, offset);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            // One datagram per read (U16 p220); no URC says when the rest is gone (UBX comment): keep what the
            // URC announced minus what we read, and let a "+USORF: <s>,0"-style empty read clear it.
            _pending[socket] = n == 0 ? 0 : _pending[socket] - n;
            if (n == 0) return ModemError.NoData;
            length = n;
            return ModemError.Ok;
        }

        public override ModemError CloseSocket(int socket)
        {
            if (socket < 0 || socket >= MaxSockets) return ModemError.BadSocket;
            _open[socket] = false;
            _pending[socket] = 0;
            return Run(UbloxCommands.Usocl, socket.ToString());
        }
    }
}

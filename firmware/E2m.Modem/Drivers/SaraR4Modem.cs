using E2m.Hal;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Usim;

namespace E2m.Modem.Drivers
{
    /// <summary>
    /// u-blox SARA-R410M/R412M (and, with the same commands, SARA-R5; R5-specific timings are not in modems.md)
    /// (modems.md §2). Pins: <c>pwrOn</c> written true asserts PWR_ON (module pin low; inversion in the HAL
    /// adapter); <c>vInt</c> (optional) reads true while V_INT is high (module on).
    /// No boot greeting is printed by default (modems.md §2.2): readiness = an answered "AT".
    /// Sockets: +USOCR=17 / +USOST / +USORF / +USOCL with the <c>+UUSORF: &lt;socket&gt;,&lt;length&gt;</c> URC, in
    /// HEX mode (see <see cref="UbloxCommands"/>). PDP: +CGDCONT then +CGACT (R4 has no +UPSD profile, modems.md §2.4).
    /// </summary>
    public sealed class SaraR4Modem : AtModemBase
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

        /// <summary>Interval of the blind "AT" probes during startup (Zephyr: 4× AT at 100 ms; old driver every 2 s; modems.md §2.1).</summary>
        public const int StartupProbeIntervalMs = 1000;

        /// <summary>V_INT low after +CPWROFF: response "&lt; 40 s" (modems.md §2.1, U16 p30).</summary>
        public const int ShutdownTimeoutMs = 40000;

        /// <summary>Socket ids 0–6 (modems.md §2.5, U09 §18.3).</summary>
        public const int MaxSockets = 7;

        /// <summary>PDP context id used with +CGDCONT / +CGACT.</summary>
        public const int ContextId = 1;

        private readonly IDigitalOutput _pwrOn;
        private readonly IDigitalInput _vInt;
        private readonly bool[] _open = new bool[MaxSockets];
        private readonly int[] _pending = new int[MaxSockets];
        private readonly string[] _remoteIp = new string[MaxSockets];
        private readonly int[] _remotePort = new int[MaxSockets];

        public SaraR4Modem(AtChannel channel, IMonotonicClock clock, IDelay delay, IDigitalOutput pwrOn, IDigitalInput vInt)
            : base(channel, clock, delay)
        {
            _pwrOn = pwrOn;
            _vInt = vInt;
            channel.RegisterUrc(UbloxCommands.UrcUusorf + ":", this);
            channel.RegisterUrc(UbloxCommands.UrcUusocl + ":", this);
        }

        /// <summary>R410M-02B accepts +CEREG n up to 3 only (modems.md §2.3): ask for n=2 (no PSM timers in URCs).</summary>
        protected override string CeregMode { get { return NetworkCommands.RegUrcLocation; } }

        public override ModemError PowerOn()
        {
            if (_vInt != null && _vInt.Read())
            {
                return Channel.Resync() ? ModemError.Ok : ModemError.PowerOnFailed;
            }
            if (_pwrOn == null) return ModemError.PowerOnFailed;
            _pwrOn.Write(true);
            Delay.Sleep(PowerOnPulseMs);
            _pwrOn.Write(false);

            long deadline = Clock.NowMilliseconds + StartupTimeoutMs;
            while (true)
            {
                if (Channel.Resync())
                {
                    RebootSeen = false;
                    return ModemError.Ok;
                }
                if (Clock.NowMilliseconds >= deadline) return ModemError.PowerOnFailed;
                Delay.Sleep(StartupProbeIntervalMs);
            }
        }

        public override ModemError PowerOff()
        {
            ModemError e = Run(UbloxCommands.Cpwroff, null);
            if (e == ModemError.Ok && WaitVIntLow()) return ModemError.Ok;
            if (_pwrOn == null) return e == ModemError.Ok ? ModemError.Timeout : e;
            _pwrOn.Write(true);
            Delay.Sleep(PowerOffPulseMs);
            _pwrOn.Write(false);
            return WaitVIntLow() ? ModemError.Ok : ModemError.Timeout;
        }

        private bool WaitVIntLow()
        {
            if (_vInt == null) return true;
            long deadline = Clock.NowMilliseconds + ShutdownTimeoutMs;
            while (_vInt.Read())
            {
                if (Clock.NowMilliseconds >= deadline) return false;
                Delay.Sleep(100);
            }
            return true;
        }

        protected override ModemError InitializeVendor()
        {
            return Run(UbloxCommands.UdconfHex, null);
        }

        protected override void OnReboot(string line)
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
            }
            catch (MalformedInputException)
            {
                return;
            }
            base.OnUrc(line);
        }

        public override ModemError ActivatePdp(string apn)
        {
            // modems.md §2.4: AT+CGDCONT=1,"IP","<apn>", then AT+CGACT=1,1 (150 s, TG-R4).
            ModemError e = RunSim(PacketDomainCommands.Cgdcont, PacketDomainCommands.CgdcontArguments(ContextId, apn));
            if (e != ModemError.Ok) return e;
            e = Run(PacketDomainCommands.Cgact, "1," + ContextId.ToString());
            if (e == ModemError.CommandError || e == ModemError.Timeout) return ModemError.PdpActivationFailed;
            return e;
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

using E2m.Hal;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Usim;

namespace E2m.Modem.Drivers
{
    /// <summary>
    /// Quectel BG95 / BG96 (modems.md §1). Pins: <c>pwrKey</c> is "key asserted" when written true (the board's
    /// transistor inverts the level: Mbed/Particle, modems.md §1.1 "board polarity" — the HAL pin adapter owns
    /// that inversion); <c>status</c> (optional, may be null) reads true while the module is on.
    /// Sockets: Quectel TCP/IP stack, UDP client (+QIOPEN/+QISEND/+QICLOSE, modems.md §1.5) in buffer access mode
    /// (default: <c>+QIURC: "recv",&lt;id&gt;</c> then +QIRD) or, selected in the constructor, direct push (access_mode 1:
    /// the datagram arrives inside <c>+QIURC: "recv",&lt;id&gt;,&lt;len&gt;&lt;CR&gt;&lt;LF&gt;&lt;data&gt;</c>, Q96-TCP p34–35, read by the
    /// channel's binary-URC path into a small preallocated receive queue).
    /// </summary>
    public sealed class Bg9xModem : AtModemBase, IBinaryUrcHandler
    {
        /// <summary>Datagrams a direct-push receive queue holds (all sockets together); a full queue drops the new datagram (UDP).</summary>
        public const int DirectPushQueueSlots = 4;

        /// <summary>
        /// PWRKEY power-on pulse: 500–1000 ms for BG95/BG96 (modems.md §1.1, PT-Q, Z-BG9X "500-1000 msec").
        /// 600 ms: inside the window and below the 650 ms power-off threshold (Particle uses 575 ms for the same reason).
        /// </summary>
        public const int PowerOnPulseMs = 600;

        /// <summary>PWRKEY power-off pulse: BG96 ≥650 ms, BG95 650–1500 ms (modems.md §1.1, Q-COMPAT §4.3.2, Q95-HW §3.6.2.1).</summary>
        public const int PowerOffPulseMs = 800;

        /// <summary>
        /// Wait for "APP RDY" after the power-on pulse: BG96 UART ready ≥4.9 s, BG95 ≥2.5 s (modems.md §1.1, PT-Q);
        /// Particle waits spec + 3 s = 7.9 s; Zephyr's startup is 5 s (Z-CELL). 10 s covers both with margin; BG95
        /// accepts commands only after APP RDY (modems.md §1.2, zephyr PR #57110).
        /// </summary>
        public const int StartupTimeoutMs = 10000;

        /// <summary>STATUS goes low ≥1.3 s after a BG95 power-off (modems.md §1.1, Q95-HW); BG96 PT-Q waits ≥2 s. Wait up to 30 s (PT-Q VINT wait).</summary>
        public const int ShutdownTimeoutMs = 30000;

        /// <summary>PDP context id used for the TCP/IP stack (+QICSGP/+QIACT, contextID 1–16, modems.md §1.5).</summary>
        public const int ContextId = 1;

        /// <summary>connectID range 0–11 (modems.md §1.5).</summary>
        public const int MaxSockets = 12;

        private readonly IDigitalOutput _pwrKey;
        private readonly IDigitalInput _status;
        private readonly bool[] _open = new bool[MaxSockets];
        private readonly bool[] _recvPending = new bool[MaxSockets];
        private int _qiopenId = -1;
        private int _qiopenError = -1;
        private bool _poweredDown;
        private string _lastBootLine;
        private readonly int _accessMode;

        // direct-push receive queue (allocated only in that mode): ring of DirectPushQueueSlots datagrams
        private readonly byte[][] _dpData;
        private readonly int[] _dpSocket;
        private readonly int[] _dpLength;
        private int _dpCount;
        private int _dpDropped;

        /// <summary>Buffer access mode (the default), see <see cref="Bg9xModem(AtChannel, IMonotonicClock, IDelay, IDigitalOutput, IDigitalInput, int)"/>.</summary>
        public Bg9xModem(AtChannel channel, IMonotonicClock clock, IDelay delay, IDigitalOutput pwrKey, IDigitalInput status)
            : this(channel, clock, delay, pwrKey, status, QuectelCommands.AccessModeBuffer)
        {
        }

        /// <param name="accessMode"><see cref="QuectelCommands.AccessModeBuffer"/> (0, default) or
        /// <see cref="QuectelCommands.AccessModeDirectPush"/> (1) for every UDP socket this driver opens.</param>
        public Bg9xModem(AtChannel channel, IMonotonicClock clock, IDelay delay, IDigitalOutput pwrKey, IDigitalInput status, int accessMode)
            : base(channel, clock, delay)
        {
            if (accessMode != QuectelCommands.AccessModeBuffer && accessMode != QuectelCommands.AccessModeDirectPush)
            {
                throw new System.ArgumentOutOfRangeException("accessMode");
            }
            _pwrKey = pwrKey;
            _status = status;
            _accessMode = accessMode;
            channel.RegisterUrc(QuectelCommands.UrcQiopen + ":", this);
            channel.RegisterUrc(QuectelCommands.UrcQiurc + ":", this);
            channel.RegisterUrc(QuectelCommands.PoweredDown, this);
            if (accessMode == QuectelCommands.AccessModeDirectPush)
            {
                _dpData = new byte[DirectPushQueueSlots][];
                for (int i = 0; i < DirectPushQueueSlots; i++) _dpData[i] = new byte[QuectelCommands.MaxReadLength];
                _dpSocket = new int[DirectPushQueueSlots];
                _dpLength = new int[DirectPushQueueSlots];
                channel.RegisterBinaryUrc(QuectelCommands.UrcQiurc + ":", this, QuectelCommands.MaxReadLength);
            }
        }

        /// <summary>&lt;access_mode&gt; of the sockets (0 buffer, 1 direct push).</summary>
        public int AccessMode { get { return _accessMode; } }

        /// <summary>Direct push: datagrams dropped because the queue was full, the socket unknown or the payload truncated.</summary>
        public int DroppedDatagrams { get { return _dpDropped; } }

        /// <summary>Quectel +COPS AcT 8 = LTE Cat-M1 (modems.md §1.3).</summary>
        public override RadioAccess MapAccess(int act)
        {
            return NetworkCommands.AccessFromQuectelCops(act);
        }

        public override ModemError PowerOn()
        {
            if (_status != null && _status.Read())
            {
                // Already on (e.g. MCU reset while the modem ran): just resynchronise.
                return Channel.Resync() ? ModemError.Ok : ModemError.PowerOnFailed;
            }
            if (_pwrKey == null) return ModemError.PowerOnFailed;
            RebootSeen = false;
            _appReady = false;
            _pwrKey.Write(true);
            Delay.Sleep(PowerOnPulseMs);
            _pwrKey.Write(false);

            long deadline = Clock.NowMilliseconds + StartupTimeoutMs;
            while (!_appReady && Clock.NowMilliseconds < deadline)
            {
                Channel.Poll((int)(deadline - Clock.NowMilliseconds > 500 ? 500 : deadline - Clock.NowMilliseconds));
            }
            // Older BG96 firmware may not print APP RDY (modems.md §1.2, FreeRTOS issue #17): fall back to AT probes.
            if (!Channel.Resync()) return ModemError.PowerOnFailed;
            RebootSeen = false;
            return ModemError.Ok;
        }

        public override ModemError PowerOff()
        {
            _poweredDown = false;
            ModemError e = Run(QuectelCommands.Qpowd, null);
            if (e == ModemError.Ok)
            {
                long deadline = Clock.NowMilliseconds + QuectelCommands.QpowdTimeoutMs;
                while (!_poweredDown && Clock.NowMilliseconds < deadline)
                {
                    Channel.Poll(500);
                }
                if (_poweredDown && WaitStatusLow()) return ModemError.Ok;
            }
            // Pin fallback: PWRKEY low 650–1500 ms (modems.md §1.1).
            if (_pwrKey == null) return e == ModemError.Ok ? ModemError.Timeout : e;
            _pwrKey.Write(true);
            Delay.Sleep(PowerOffPulseMs);
            _pwrKey.Write(false);
            return WaitStatusLow() ? ModemError.Ok : ModemError.Timeout;
        }

        private bool WaitStatusLow()
        {
            if (_status == null) return true;
            long deadline = Clock.NowMilliseconds + ShutdownTimeoutMs;
            while (_status.Read())
            {
                if (Clock.NowMilliseconds >= deadline) return false;
                Delay.Sleep(100);
            }
            return true;
        }

        private bool _appReady;

        protected override void OnReboot(string line)
        {
            _lastBootLine = line;
            if (line == "APP RDY") _appReady = true;
            for (int i = 0; i < MaxSockets; i++)
            {
                _open[i] = false;
                _recvPending[i] = false;
            }
            _dpCount = 0;
        }

        /// <summary>
        /// After a restart: a BG95 that printed RDY but not yet APP RDY answers ERROR until then (modems.md §1.2, §4
        /// quirk 1): wait for APP RDY up to <see cref="StartupTimeoutMs"/> (older BG96 firmware never prints it, FreeRTOS
        /// issue #17: the wait then ends by time), then resynchronise.
        /// </summary>
        protected override ModemError AwaitBootComplete()
        {
            if (_lastBootLine == "RDY")
            {
                long deadline = Clock.NowMilliseconds + StartupTimeoutMs;
                while (_lastBootLine == "RDY" && Clock.NowMilliseconds < deadline)
                {
                    long left = deadline - Clock.NowMilliseconds;
                    Channel.Poll(left > 500 ? 500 : (int)left);
                }
            }
            return Channel.Resync() ? ModemError.Ok : ModemError.Timeout;
        }

        // ------------------------------------------------------------------ direct push (IBinaryUrcHandler)

        /// <summary>Direct-push mode: "+QIURC: "recv",&lt;id&gt;,&lt;len&gt;" announces &lt;len&gt; raw bytes (Q96-TCP p34–35).</summary>
        public int PayloadLength(string line)
        {
            if (_accessMode != QuectelCommands.AccessModeDirectPush) return -1;
            int id;
            try
            {
                return QuectelCommands.ParseQiurcRecvLength(line, out id);
            }
            catch (MalformedInputException)
            {
                return -1;
            }
        }

        public void OnPayload(string line, byte[] data, int offset, int count, int declared)
        {
            int id;
            try
            {
                QuectelCommands.ParseQiurcRecvLength(line, out id);
            }
            catch (MalformedInputException)
            {
                _dpDropped++;
                return;
            }
            if (count < declared || id < 0 || id >= MaxSockets || !_open[id] || _dpCount == DirectPushQueueSlots)
            {
                _dpDropped++;
                return;
            }
            int slot = _dpCount;
            System.Array.Copy(data, offset, _dpData[slot], 0, count);
            _dpSocket[slot] = id;
            _dpLength[slot] = count;
            _dpCount++;
        }

        // Takes the oldest queued datagram of <socket> (keeps the order of the others): its length, -1 when none,
        // -2 when it does not fit the caller's buffer (it stays queued).
        private int TakeQueued(int socket, byte[] buffer, int offset)
        {
            for (int k = 0; k < _dpCount; k++)
            {
                if (_dpSocket[k] != socket) continue;
                int n = _dpLength[k];
                if (n > buffer.Length - offset) return -2;
                System.Array.Copy(_dpData[k], 0, buffer, offset, n);
                RemoveQueued(k);
                return n;
            }
            return -1;
        }

        // Removes entry k; the later entries move up one slot (the slot buffers are swapped, never reallocated).
        private void RemoveQueued(int k)
        {
            byte[] freed = _dpData[k];
            for (int j = k; j < _dpCount - 1; j++)
            {
                _dpData[j] = _dpData[j + 1];
                _dpSocket[j] = _dpSocket[j + 1];
                _dpLength[j] = _dpLength[j + 1];
            }
            _dpCount--;
            _dpData[_dpCount] = freed;
        }

        private void DropQueued(int socket)
        {
            for (int k = _dpCount - 1; k >= 0; k--)
            {
                if (_dpSocket[k] == socket) RemoveQueued(k);
            }
        }

        public override void OnUrc(string line)
        {
            try
            {
                if (AtLineReader.HasPrefix(line, QuectelCommands.UrcQiopen))
                {
                    int id;
                    int err;
                    QuectelCommands.ParseQiopenUrc(line, out id, out err);
                    _qiopenError = err;
                    _qiopenId = id;
                    return;
                }
                if (AtLineReader.HasPrefix(line, QuectelCommands.UrcQiurc))
                {
                    int id;
                    int kind = QuectelCommands.ParseQiurc(line, out id);
                    // direct push: the data came with this line (OnPayload); buffer mode: read it with +QIRD
                    if (kind == QuectelCommands.QiurcRecv && id >= 0 && id < MaxSockets && _accessMode == QuectelCommands.AccessModeBuffer) _recvPending[id] = true;
                    if (kind == QuectelCommands.QiurcClosed && id >= 0 && id < MaxSockets) _recvPending[id] = false;
                    return;
                }
            }
            catch (MalformedInputException)
            {
                return;
            }
            if (line == QuectelCommands.PoweredDown)
            {
                _poweredDown = true;
                return;
            }
            base.OnUrc(line);
        }

        public override ModemError ActivatePdp(string apn)
        {
            PacketDomainCommands.CheckApn(apn);
            // AT+QICSGP=1,1,"apn","","",0 (modems.md §1.4)
            ModemError e = RunSim(QuectelCommands.Qicsgp, ContextId.ToString() + ",1,\"" + apn + "\",\"\",\"\",0");
            if (e != ModemError.Ok) return e;
            e = Run(QuectelCommands.QiactRead, null);
            if (e != ModemError.Ok) return e;
            for (int i = 0; i < Result.LineCount; i++)
            {
                try
                {
                    if (QuectelCommands.ParseQiactActive(Result.Lines[i], ContextId)) return ModemError.Ok;
                }
                catch (MalformedInputException)
                {
                    return ModemError.MalformedResponse;
                }
            }
            e = Run(QuectelCommands.Qiact, ContextId.ToString());
            if (e == ModemError.CommandError || e == ModemError.Timeout) return ModemError.PdpActivationFailed;
            return e;
        }

        public override ModemError OpenUdpSocket(string remoteIp, int remotePort, out int socket)
        {
            socket = -1;
            int id = -1;
            for (int i = 0; i < MaxSockets; i++)
            {
                if (!_open[i])
                {
                    id = i;
                    break;
                }
            }
            if (id < 0) return ModemError.SocketOpenFailed;
            _qiopenId = -1;
            _qiopenError = -1;
            ModemError e = Run(QuectelCommands.Qiopen, QuectelCommands.QiopenUdpArguments(ContextId, id, remoteIp, remotePort, _accessMode));
            if (e != ModemError.Ok) return e == ModemError.CommandError ? ModemError.SocketOpenFailed : e;

            // The result comes as URC "+QIOPEN: <id>,<err>" within 150 s (modems.md §1.5).
            long deadline = Clock.NowMilliseconds + QuectelCommands.QiopenUrcTimeoutMs;
            while (_qiopenId != id)
            {
                if (RebootSeen) return ModemError.Rebooted;
                long left = deadline - Clock.NowMilliseconds;
                if (left <= 0)
                {
                    Run(QuectelCommands.Qiclose, id.ToString()); // "else AT+QICLOSE" (Q96-TCP p15)
                    return ModemError.Timeout;
                }
                Channel.Poll(left > 1000 ? 1000 : (int)left);
            }
            if (_qiopenError != 0)
            {
                _lastQiError = _qiopenError;
                return ModemError.SocketOpenFailed;
            }
            _open[id] = true;
            _recvPending[id] = false;
            socket = id;
            return ModemError.Ok;
        }

        private int _lastQiError = -1;

        /// <summary>The last +QIOPEN &lt;err&gt; (5xx, modems.md §1.5), -1 when none.</summary>
        public int LastQiError { get { return _lastQiError; } }

        public override ModemError SendDatagram(int socket, byte[] data, int offset, int count)
        {
            if (socket < 0 || socket >= MaxSockets || !_open[socket]) return ModemError.BadSocket;
            if (count < 1 || count > QuectelCommands.MaxSendLength) return ModemError.TooLarge;
            AtStatus s = Channel.Execute(QuectelCommands.Qisend, socket.ToString() + "," + count.ToString(), data, offset, count, Result);
            if (s == AtStatus.CommandFailed || s == AtStatus.Error) return ModemError.SendFailed;
            return Map(s);
        }

        public override ModemError ReceiveDatagram(int socket, byte[] buffer, int offset, int timeoutMs, out int length)
        {
            length = 0;
            if (socket < 0 || socket >= MaxSockets || !_open[socket]) return ModemError.BadSocket;
            long deadline = Clock.NowMilliseconds + timeoutMs;
            if (_accessMode == QuectelCommands.AccessModeDirectPush)
            {
                while (true)
                {
                    int n = TakeQueued(socket, buffer, offset);
                    if (n == -2) return ModemError.TooLarge;
                    if (n >= 0)
                    {
                        length = n;
                        return ModemError.Ok;
                    }
                    if (RebootSeen) return ModemError.Rebooted;
                    long left = deadline - Clock.NowMilliseconds;
                    if (left <= 0) return ModemError.NoData;
                    Channel.Poll(left > 1000 ? 1000 : (int)left);
                }
            }
            while (true)
            {
                while (!_recvPending[socket])
                {
                    if (RebootSeen) return ModemError.Rebooted;
                    long left = deadline - Clock.NowMilliseconds;
                    if (left <= 0) return ModemError.NoData;
                    Channel.Poll(left > 1000 ? 1000 : (int)left);
                }
                // Buffer mode: one URC until the buffer is drained (modems.md §1.5, §4 quirk 5): read one datagram,
                // keep the flag while more may remain (the next read returns "+QIRD: 0" when empty).
                AtStatus s = Channel.Execute(QuectelCommands.Qird, socket.ToString() + "," + QuectelCommands.MaxReadLength.ToString(), Result);
                ModemError e = Map(s);
                if (e != ModemError.Ok) return e;
                int n = Result.PayloadLength;
                if (n == 0)
                {
                    // "+QIRD: 0": drained (modems.md §4 quirk 6); wait for the next "recv" URC until the deadline
                    // instead of giving up before the caller's timeout.
                    _recvPending[socket] = false;
                    continue;
                }
                if (Result.PayloadTruncated || n > buffer.Length - offset) return ModemError.TooLarge;
                System.Array.Copy(Result.Payload, 0, buffer, offset, n);
                length = n;
                return ModemError.Ok;
            }
        }

        public override ModemError CloseSocket(int socket)
        {
            if (socket < 0 || socket >= MaxSockets) return ModemError.BadSocket;
            _open[socket] = false;
            _recvPending[socket] = false;
            if (_dpCount > 0) DropQueued(socket);
            return Run(QuectelCommands.Qiclose, socket.ToString());
        }
    }
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Text;
using System.Threading;
using E2m.Hal;
using E2m.Hal.Host;
using E2m.ModemSim.Faults;
using E2m.ModemSim.Traces;
using E2m.ModemSim.Usim;

namespace E2m.ModemSim.Modem
{
    /// <summary>
    /// A simulated cellular module (issue 5 §2): a V.250 / TS 27.007 DCE with a vendor <see cref="ModemDialect"/>,
    /// driven by bytes from the DTE (<see cref="Receive"/>) and by its own clock (<see cref="RunDue"/>). Every delay is
    /// an event on the injected <see cref="IMonotonicClock"/>; nothing sleeps. Host UDP traffic and other
    /// asynchronous inputs are posted (<see cref="Post"/>) and run under the same lock (<see cref="PumpExternal"/>).
    /// Transports (Transport/) move the bytes: in-process deterministic link, TCP, pseudo-terminal.
    /// </summary>
    public sealed class SimulatedModem : IDisposable
    {
        private readonly object _gate = new();
        private readonly PriorityQueue<Action, (long, long)> _events = new();
        private readonly ConcurrentQueue<Action> _external = new();
        private readonly AutoResetEvent _wake = new(false);
        private readonly StringBuilder _line = new();
        private readonly Queue<string> _pendingLines = new();
        private readonly List<string> _deferredUrcs = new();
        private readonly Dictionary<int, byte[]> _deferredPayloads = new(); // index in _deferredUrcs → raw bytes after that URC
        private readonly List<IModemTrace> _traces = new();
        private readonly ISimCard _card;
        private Action<byte[], int, int>? _sink;
        private long _seq;
        private bool _executing;
        private bool _suppressOutput;
        private DataModeState? _data;
        private long _keyDownAt = -1;
        private long _resetDownAt = -1;
        private bool _attaching;
        private bool _networkTimeKnown;
        private bool _disposed;

        public SimulatedModem(ModemDialect dialect, ISimCard card, IMonotonicClock clock, ModemOptions? options = null, IServingNetwork? network = null)
        {
            Dialect = dialect ?? throw new ArgumentNullException(nameof(dialect));
            _card = card ?? throw new ArgumentNullException(nameof(card));
            Clock = clock ?? throw new ArgumentNullException(nameof(clock));
            Options = options ?? new ModemOptions();
            Network = network ?? new AlwaysAttachNetwork();
            Sim = new MeSimAccess(() => _card);
            Commands = new CommandTable();
            Ts27007Core.Register(Commands);
            dialect.Apply(Commands);
            ResetState();
            if (Options.StartPoweredOn)
            {
                Generation++;
                Power = PowerState.On;
                SimBoot(immediate: true);
            }
        }

        // ------------------------------------------------------------------ configuration and state

        public ModemDialect Dialect { get; }

        public ModemOptions Options { get; }

        public IMonotonicClock Clock { get; }

        public CommandTable Commands { get; }

        public MeSimAccess Sim { get; }

        public IServingNetwork Network { get; set; }

        private FaultPlan _faults = new FaultPlan(0);

        /// <summary>The fault plan (seeded); setting it arms its timed faults on this modem's clock.</summary>
        public FaultPlan Faults
        {
            get => _faults;
            set
            {
                lock (_gate)
                {
                    _faults = value ?? throw new ArgumentNullException(nameof(value));
                    value.Arm(this);
                }
            }
        }

        /// <summary>Increments at every power-on / reboot: events scheduled in an earlier life are dropped.</summary>
        public int Generation { get; private set; }

        public PowerState Power { get; private set; }

        public bool Echo { get; set; }

        /// <summary>+CMEE &lt;n&gt; (TS 27.007 §9.1).</summary>
        public int Cmee { get; set; }

        /// <summary>+CFUN &lt;fun&gt; (TS 27.007 §8.2).</summary>
        public int Cfun { get; private set; }

        public int CeregN { get; set; }

        public int CgregN { get; set; }

        public int CregN { get; set; }

        /// <summary>EPS registration &lt;stat&gt; (TS 27.007 §10.1.22).</summary>
        public int EpsStat { get; private set; }

        /// <summary>GPRS registration &lt;stat&gt; (TS 27.007 §10.1.20).</summary>
        public int GprsStat { get; private set; }

        public AttachOutcome? Cell { get; private set; }

        public bool NetworkDown { get; private set; }

        public bool SimReady { get; private set; }

        public bool PinRequired { get; private set; }

        /// <summary>"SIM removed" fault: the card reader reports no card (TS 27.007 +CME ERROR: 10).</summary>
        public bool SimRemoved { get; set; }

        public bool CardPresent => !SimRemoved && _card.Present;

        public long SimBusyUntil { get; private set; }

        public int PsmMode { get; set; }

        public string? PsmTau { get; set; }

        public string? PsmActive { get; set; }

        /// <summary>
        /// The PSM request is in effect (the network "granted" it; reported by +CEREG n=4 / +UCPSMS). Core and SARA-R5: at once;
        /// SARA-R410M: only after the +CFUN=15 reboot (U16 p182, <see cref="ModemDialect.OnPsmRequested"/>). Kept over reboots (NVM).
        /// </summary>
        public bool PsmApplied { get; set; }

        /// <summary>A +CPSMS request waits for the next reboot (SARA-R410M). Kept over reboots.</summary>
        public bool PsmPendingReboot { get; set; }

        /// <summary>+CSGT greeting text printed when the module is ready after boot (null = none, the SARA default, modems.md §2.2). Kept over reboots.</summary>
        public string? Greeting { get; set; }

        public Dictionary<int, PdpContext> Contexts { get; } = new();

        public SortedDictionary<int, SimSocket> Sockets { get; } = new();

        /// <summary>Vendor state a dialect keeps per modem (e.g. SARA HEX mode).</summary>
        public Dictionary<string, object> DialectState { get; } = new(StringComparer.Ordinal);

        public SimulatedPin? StatusPin { get; private set; }

        public long Now => Clock.NowMilliseconds;

        public bool IsRegistered => EpsStat == 1 || EpsStat == 5 || GprsStat == 1 || GprsStat == 5;

        public object SyncRoot => _gate;

        /// <summary>Every byte the modem writes goes here (the current AT session); null = cable unplugged.</summary>
        public void AttachOutput(Action<byte[], int, int>? sink)
        {
            lock (_gate)
            {
                _sink = sink;
            }
        }

        public void AddTrace(IModemTrace trace)
        {
            lock (_gate)
            {
                _traces.Add(trace);
            }
        }

        public IReadOnlyList<IModemTrace> Traces
        {
            get
            {
                lock (_gate)
                {
                    return _traces.ToArray();
                }
            }
        }

        public void Note(string text)
        {
            foreach (IModemTrace t in _traces)
            {
                t.Note(Now, text);
            }
        }

        internal void TraceUdp(IPEndPoint source, IPEndPoint destination, byte[] payload)
        {
            foreach (IModemTrace t in _traces)
            {
                t.Udp(Now, source, destination, payload);
            }
        }

        // ------------------------------------------------------------------ scheduler

        public void Schedule(long delayMs, Action action)
        {
            lock (_gate)
            {
                _events.Enqueue(action, (Now + Math.Max(0, delayMs), _seq++));
            }

            _wake.Set();
        }

        /// <summary>Schedules <paramref name="action"/> unless the modem reboots or powers off before it is due.</summary>
        public void ScheduleInGeneration(long delayMs, Action action)
        {
            int g = Generation;
            Schedule(delayMs, () =>
            {
                if (Generation == g && Power != PowerState.Off)
                {
                    action();
                }
            });
        }

        /// <summary>Clock time of the next scheduled event, or null.</summary>
        public long? NextEventTime
        {
            get
            {
                lock (_gate)
                {
                    return _events.TryPeek(out _, out (long, long) p) ? p.Item1 : null;
                }
            }
        }

        /// <summary>Runs every event due at the current clock time (and host inputs posted meanwhile).</summary>
        public void RunDue()
        {
            lock (_gate)
            {
                PumpExternalLocked();
                while (_events.TryPeek(out _, out (long, long) p) && p.Item1 <= Now)
                {
                    Action a = _events.Dequeue();
                    a();
                }
            }
        }

        /// <summary>Queues work from another thread (host UDP receive); it runs at the next <see cref="RunDue"/>/<see cref="PumpExternal"/>.</summary>
        public void Post(Action action)
        {
            _external.Enqueue(action);
            _wake.Set();
        }

        public bool PumpExternal()
        {
            lock (_gate)
            {
                return PumpExternalLocked();
            }
        }

        private bool PumpExternalLocked()
        {
            bool any = false;
            while (_external.TryDequeue(out Action? a))
            {
                a();
                any = true;
            }

            return any;
        }

        /// <summary>Waits (real time) until something is posted or scheduled.</summary>
        public bool WaitForWork(int realMs) => _wake.WaitOne(realMs);

        public bool HasHostIo
        {
            get
            {
                lock (_gate)
                {
                    foreach (SimSocket s in Sockets.Values)
                    {
                        if (s.Bridge != null)
                        {
                            return true;
                        }
                    }

                    return false;
                }
            }
        }

        // ------------------------------------------------------------------ pins (PWRKEY / RESET / STATUS)

        /// <summary>
        /// Connects the module's pins: <paramref name="powerKey"/> (PWRKEY / PWR_ON, the driver writes true = asserted =
        /// module input low), optional <paramref name="reset"/> (RESET_N), optional <paramref name="status"/> (STATUS /
        /// V_INT, driven high while the module is on).
        /// </summary>
        public void AttachPins(SimulatedPin? powerKey, SimulatedPin? reset = null, SimulatedPin? status = null)
        {
            StatusPin = status;
            status?.Drive(Power != PowerState.Off);
            if (powerKey != null)
            {
                powerKey.Edge += (_, edge) =>
                {
                    lock (_gate)
                    {
                        if (edge == PinEdge.Rising)
                        {
                            _keyDownAt = Now;
                        }
                        else if (_keyDownAt >= 0)
                        {
                            long width = Now - _keyDownAt;
                            long start = _keyDownAt;
                            _keyDownAt = -1;
                            Note("PWRKEY pulse " + width + " ms");
                            Dialect.OnPowerKeyPulse(this, width, start);
                        }
                    }
                };
            }

            if (reset != null)
            {
                reset.Edge += (_, edge) =>
                {
                    lock (_gate)
                    {
                        if (edge == PinEdge.Rising)
                        {
                            _resetDownAt = Now;
                        }
                        else if (_resetDownAt >= 0)
                        {
                            long width = Now - _resetDownAt;
                            _resetDownAt = -1;
                            Note("RESET_N pulse " + width + " ms");
                            Dialect.OnResetPulse(this, width);
                        }
                    }
                };
            }
        }

        // ------------------------------------------------------------------ power

        /// <summary>Power-on: a new life; the dialect schedules its boot output relative to <paramref name="startedAt"/>.</summary>
        public void PowerOnNow(long startedAt, string reason)
        {
            lock (_gate)
            {
                Generation++;
                CloseAllSockets();
                ResetState();
                Power = PowerState.Booting;
                _line.Clear();
                _pendingLines.Clear();
                _executing = false;
                _suppressOutput = false;
                _data = null;
                _deferredUrcs.Clear();
                _deferredPayloads.Clear();
                try
                {
                    _card.Reset();
                }
                catch (SimNotPresentException)
                {
                }

                Note("power on (" + reason + ")");
                StatusPin?.Drive(true);
                Dialect.Boot(this, Math.Max(0, Now - startedAt));
            }
        }

        /// <summary>The module stops: optional last line (BG9x "POWERED DOWN"), STATUS low, nothing answers.</summary>
        public void PowerOffNow(string? lastLine, string reason)
        {
            lock (_gate)
            {
                if (lastLine != null && Power != PowerState.Off)
                {
                    EmitUrcNow(lastLine);
                }

                Generation++;
                CloseAllSockets();
                ResetState();
                Power = PowerState.Off;
                _executing = false;
                _pendingLines.Clear();
                _data = null;
                StatusPin?.Drive(false);
                Note("power off (" + reason + ")");
            }
        }

        /// <summary>Restart (CFUN=1,1 / CFUN=15 / pins): optional last line, power returns after <paramref name="delayMs"/>, then the full boot sequence.</summary>
        public void Reboot(string? lastLine, int delayMs, string reason)
        {
            lock (_gate)
            {
                PowerOffNow(lastLine, "reboot: " + reason);
                int g = Generation;
                Schedule(delayMs, () =>
                {
                    if (Generation == g)
                    {
                        PowerOnNow(Now, reason);
                    }
                });
            }
        }

        /// <summary>Spontaneous reboot (fault): no answer, the first boot line ("RDY") after <paramref name="firstLineMs"/>, the rest of the boot sequence after it.</summary>
        public void CrashReboot(int firstLineMs, string reason)
        {
            lock (_gate)
            {
                if (Power == PowerState.Off)
                {
                    Note("fault: reboot (" + reason + ") ignored: the modem is off"); // a switched-off modem does not crash on
                    return;
                }

                PowerOffNow(null, "crash: " + reason);
                PowerOnNow(Now - Math.Max(0, Dialect.FirstBootLineMs - firstLineMs), reason);
            }
        }

        /// <summary>Marks the modem ready for AT commands (after RDY/APP RDY or the silent SARA startup).</summary>
        public void SetPower(PowerState state)
        {
            Power = state;
        }

        private void ResetState()
        {
            Echo = Dialect.EchoAfterBoot;
            Cmee = Dialect.DefaultCmee;
            Cfun = 1;
            CeregN = 0;
            CgregN = 0;
            CregN = 0;
            EpsStat = 0;
            GprsStat = 0;
            Cell = null;
            SimReady = false;
            PinRequired = false;
            _attaching = false;
            _networkTimeKnown = false;
            Contexts.Clear();
            DialectState.Clear();
        }

        /// <summary>SIM initialisation after boot: busy for <see cref="ModemOptions.SimInitDelayMs"/>, then PIN state from the card.</summary>
        public void SimBoot(bool immediate = false)
        {
            int delay = immediate ? 0 : Options.SimInitDelayMs;
            SimBusyUntil = Now + delay;
            ScheduleInGeneration(delay, () => SimCheck(!immediate));
            if (immediate)
            {
                RunDue();
            }
        }

        private void SimCheck(bool urcs)
        {
            if (!CardPresent)
            {
                Note("no SIM card");
                return;
            }

            string? imsi;
            int sw;
            try
            {
                imsi = Sim.ReadImsi(out sw);
            }
            catch (SimBusyException)
            {
                SimBusyUntil = Now + 500;
                ScheduleInGeneration(500, () => SimCheck(urcs));
                return;
            }
            catch (SimNotPresentException)
            {
                Note("no SIM card");
                return;
            }

            if (imsi != null)
            {
                SimReady = true;
                PinRequired = false;
                if (urcs)
                {
                    Dialect.OnSimReady(this);
                }

                StartAttach();
            }
            else if (sw == 0x6982)
            {
                PinRequired = true;
                if (urcs)
                {
                    Urc("+CPIN: SIM PIN");
                }
            }
            else
            {
                Note("SIM check failed, SW " + sw.ToString("X4", CultureInfo.InvariantCulture));
            }
        }

        /// <summary>AT+CPIN=&lt;pin&gt; accepted by the card: SIM ready, URC, attach.</summary>
        public void PinVerified()
        {
            PinRequired = false;
            SimReady = true;
            Urc("+CPIN: READY");
            StartAttach();
        }

        public void SetCfun(int fun)
        {
            int old = Cfun;
            Cfun = fun;
            if (fun == 1 && old != 1)
            {
                StartAttach();
            }
            else if (fun != 1 && old == 1)
            {
                Detach(0, "CFUN=" + fun);
            }
        }

        // ------------------------------------------------------------------ network registration

        /// <summary>Starts an attach when CFUN=1, the SIM is ready and the network is reachable: searching, then the serving node's verdict.</summary>
        public void StartAttach()
        {
            if (Power != PowerState.On || Cfun != 1 || !SimReady || NetworkDown || !CardPresent || _attaching || IsRegistered || !PlmnSelectable)
            {
                return;
            }

            _attaching = true;
            int attempt = ++_attachAttempt;
            SetRegistration(2, null);
            ScheduleInGeneration(Options.AttachDelayMs, () =>
            {
                if (attempt != _attachAttempt)
                {
                    return; // a detach (AT+COPS=2, a refused manual selection, CFUN) ended this attempt
                }

                _attaching = false;
                if (Cfun != 1 || NetworkDown || !CardPresent || !PlmnSelectable)
                {
                    return;
                }

                AttachOutcome outcome;
                try
                {
                    string imsi = Sim.ReadImsi(out _) ?? string.Empty;
                    outcome = Network.Attach(_card, imsi, Options.Rat);
                }
                catch (Exception e)
                {
                    Note("attach failed: " + e.Message);
                    outcome = AttachOutcome.Denied(e.Message);
                }

                if (outcome.Note != null)
                {
                    Note("attach: " + outcome.Note);
                }

                SetRegistration(outcome.Stat, outcome);
                if (IsRegistered)
                {
                    _networkTimeKnown = true;
                }
            });
        }

        /// <summary>
        /// 27.007 §7.3 &lt;mode&gt; 1: the operator a manual selection named (numeric PLMN), null in automatic mode. While it
        /// is not the serving network's, the modem does not register.
        /// </summary>
        public string? ManualPlmn { get; set; }

        private bool PlmnSelectable => ManualPlmn == null || ManualPlmn == Network.Plmn;

        private int _attachAttempt;

        public void Detach(int stat, string reason)
        {
            _attachAttempt++;
            _attaching = false;
            Note("detach: " + reason);
            SetRegistration(stat, null);
            foreach (PdpContext c in Contexts.Values)
            {
                c.Active = false;
            }
        }

        /// <summary>Network loss (fault): +CEREG: &lt;stat&gt; (0 or 2), optional PDP deactivation; <see cref="NetworkRecovered"/> re-attaches.</summary>
        public void NetworkLost(int stat, bool dropPdp)
        {
            NetworkDown = true;
            _attaching = false;
            SetRegistration(stat, null);
            if (dropPdp)
            {
                foreach (PdpContext c in Contexts.Values)
                {
                    if (c.Active)
                    {
                        c.Active = false;
                        Dialect.OnPdpLost(this, c.Cid);
                    }
                }
            }
        }

        public void NetworkRecovered()
        {
            NetworkDown = false;
            StartAttach();
        }

        private bool IsEps => Options.Rat == SimRat.LteM || Options.Rat == SimRat.NbIot;

        private void SetRegistration(int stat, AttachOutcome? cell)
        {
            if (cell != null || stat != 1 && stat != 5)
            {
                Cell = stat == 1 || stat == 5 ? cell : null;
            }

            int eps = IsEps ? stat : 0;
            int gprs = IsEps ? 0 : stat;
            if (eps != EpsStat)
            {
                EpsStat = eps;
                if (CeregN > 0)
                {
                    Urc("+CEREG: " + RegistrationTail(CeregN, EpsStat, true));
                }
            }

            if (gprs != GprsStat)
            {
                GprsStat = gprs;
                if (CgregN > 0)
                {
                    Urc("+CGREG: " + RegistrationTail(CgregN, GprsStat, false));
                }
            }
        }

        /// <summary>&lt;stat&gt;[,"&lt;tac&gt;","&lt;ci&gt;",&lt;AcT&gt;[,,,"&lt;Active-Time&gt;","&lt;Periodic-TAU&gt;"]] (TS 27.007 §10.1.22 / §10.1.20).</summary>
        public string RegistrationTail(int n, int stat, bool eps)
        {
            var sb = new StringBuilder();
            sb.Append(stat.ToString(CultureInfo.InvariantCulture));
            if (n >= 2 && (stat == 1 || stat == 5) && Cell != null)
            {
                sb.Append(",\"").Append(Cell.AreaCode).Append("\",\"").Append(Cell.CellId).Append("\",");
                sb.Append(Dialect.RegistrationAct(Options.Rat).ToString(CultureInfo.InvariantCulture));
                if (eps && n >= 4 && PsmApplied && PsmMode == 1 && PsmActive != null && PsmTau != null)
                {
                    sb.Append(",,,\"").Append(PsmActive).Append("\",\"").Append(PsmTau).Append('"');
                }
            }

            return sb.ToString();
        }

        /// <summary>+CCLK value "yy/MM/dd,hh:mm:ss±zz" (TS 27.007 §8.15): network time once registered, else the dialect's power-on default.</summary>
        public string ClockText()
        {
            if (!_networkTimeKnown)
            {
                return Dialect.DefaultClock;
            }

            DateTimeOffset utc = (Options.NetworkTimeAtClockZero ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)).AddMilliseconds(Now);
            DateTime local = utc.UtcDateTime.AddMinutes(15 * Options.TimeZoneQuarters);
            int q = Options.TimeZoneQuarters;
            return local.ToString("yy/MM/dd,HH:mm:ss", CultureInfo.InvariantCulture) + (q < 0 ? "-" : "+") + Math.Abs(q).ToString("00", CultureInfo.InvariantCulture);
        }

        // ------------------------------------------------------------------ sockets

        public void CloseSocket(int id)
        {
            if (Sockets.TryGetValue(id, out SimSocket? s))
            {
                s.Close();
                Sockets.Remove(id);
            }
        }

        private void CloseAllSockets()
        {
            foreach (SimSocket s in Sockets.Values)
            {
                s.Close();
            }

            Sockets.Clear();
        }

        /// <summary>Opens a host UDP socket for simulated socket <paramref name="id"/> (bridge to the real network).</summary>
        public SimSocket OpenUdp(int id, int localPort, IPEndPoint? remote)
        {
            var s = new SimSocket(id, remote);
            s.Bridge = new UdpBridge(this, s, localPort);
            Sockets[id] = s;
            return s;
        }

        /// <summary>A datagram from the host network for <paramref name="socket"/> (runs under the modem lock).</summary>
        internal void DeliverDownlink(SimSocket socket, IPEndPoint from, byte[] data)
        {
            if (!Sockets.TryGetValue(socket.Id, out SimSocket? s) || !ReferenceEquals(s, socket) || socket.Closed)
            {
                return;
            }

            if (!Dialect.AcceptsDownlink(this, socket))
            {
                Note("downlink datagram dropped: socket " + socket.Id + " has not sent or listened yet");
                return;
            }

            socket.Rx.Enqueue(new Datagram(from, data));
            Dialect.OnDatagramQueued(this, socket);
        }

        // ------------------------------------------------------------------ DTE input

        /// <summary>Bytes from the DTE (UART RX of the module).</summary>
        public void Receive(byte[] data, int offset, int count)
        {
            lock (_gate)
            {
                RunDue(); // the clock may have moved (the DTE slept): earlier events happen first
                for (int i = offset; i < offset + count; i++)
                {
                    ReceiveByte(data[i]);
                }
            }
        }

        private void ReceiveByte(byte b)
        {
            if (Power == PowerState.Off || Power == PowerState.Booting)
            {
                return; // UART not ready: input is lost
            }

            if (_data != null)
            {
                _data.Add(this, b);
                return;
            }

            if (b == 0x1A && _line.Length == 0)
            {
                return; // stray Ctrl-Z after a fixed-length payload (Zephyr, modems.md §4 quirk 15)
            }

            if (Echo)
            {
                EmitRawUnfaulted(new[] { b });
            }

            if (b == (byte)'\r')
            {
                string line = _line.ToString();
                _line.Clear();
                HandleLine(line);
                return;
            }

            if (b == (byte)'\n')
            {
                return;
            }

            if (b == 8 || b == 127)
            {
                if (_line.Length > 0)
                {
                    _line.Length--;
                }

                return;
            }

            if (_line.Length < 2048)
            {
                _line.Append((char)b);
            }
        }

        private void HandleLine(string line)
        {
            string t = line.TrimStart(' ', '\t', '\0');
            if (t.Length < 2 || !(t[0] == 'A' || t[0] == 'a') || !(t[1] == 'T' || t[1] == 't'))
            {
                if (t.Length > 0)
                {
                    Note("ignored line without AT prefix");
                }

                return;
            }

            if (_executing)
            {
                _pendingLines.Enqueue(t);
                return;
            }

            ExecuteLine(t);
        }

        private void ExecuteLine(string line)
        {
            foreach (IModemTrace tr in _traces)
            {
                tr.DteToModem(Now, line);
            }

            if (Power == PowerState.Starting && Dialect.ErrorsBeforeAppReady)
            {
                EmitFinal("ERROR");
                return;
            }

            List<AtRequest> requests;
            try
            {
                requests = AtRequest.ParseLine(line);
            }
            catch (AtSyntaxException)
            {
                EmitFinal("ERROR");
                return;
            }

            if (requests.Count == 0)
            {
                EmitFinal("OK");
                return;
            }

            CommandFault fault = Faults.OnCommand(this, line);
            if (fault.Note != null)
            {
                Note("fault: " + fault.Note);
            }

            switch (fault.Kind)
            {
                case CommandFaultKind.Reboot:
                    CrashReboot(fault.DelayMs, "fault: spontaneous reboot");
                    return;
                case CommandFaultKind.Cme:
                    EmitFinal(FormatCme(fault.Code));
                    return;
                case CommandFaultKind.Ignore:
                    return;
            }

            _executing = true;
            _suppressOutput = fault.Kind == CommandFaultKind.Drop;
            RunRequest(requests, 0, fault.Kind == CommandFaultKind.Delay ? fault.DelayMs : 0);
        }

        private void RunRequest(List<AtRequest> requests, int index, int extraDelay)
        {
            AtRequest r = requests[index];
            var x = new AtExchange(this, r, Generation, (ex, text, ok) => Completed(requests, index, text, ok));
            if (!Commands.TryGet(r.Name, out CommandSpec spec) || spec.For(r.Form) == null)
            {
                x.Error();
                return;
            }

            AtHandler handler = spec.For(r.Form)!;
            int delay = spec.DelayMs + extraDelay;
            if (delay > 0)
            {
                x.Later(delay, () => handler(x));
            }
            else
            {
                RunGuarded(x, () => handler(x));
            }
        }

        internal void RunGuarded(AtExchange x, Action action)
        {
            try
            {
                action();
            }
            catch (AtSyntaxException)
            {
                x.Error();
            }
            catch (CmeException e)
            {
                x.Cme(e.Code);
            }
            catch (SimNotPresentException)
            {
                x.Cme(10);
            }
            catch (SimBusyException)
            {
                x.Cme(14);
            }
            catch (FormatException)
            {
                x.Error();
            }
            catch (ArgumentException)
            {
                // a parameter out of range for the host (e.g. a port above 65535 for a bridge socket): TS 27.007 §9.2 50
                // "incorrect parameters", never an exception on the session thread
                x.Cme(50);
            }
        }

        private void Completed(List<AtRequest> requests, int index, string? text, bool ok)
        {
            if (ok && text == null && index + 1 < requests.Count)
            {
                RunRequest(requests, index + 1, 0);
                return;
            }

            EmitFinal(text ?? "OK");
        }

        private void EmitFinal(string text)
        {
            EmitLine(text);
            _executing = false;
            _suppressOutput = false;
            FlushDeferredUrcs();
            if (_pendingLines.Count > 0)
            {
                string next = _pendingLines.Dequeue();
                int g = Generation;
                Schedule(0, () =>
                {
                    if (Generation == g && !_executing)
                    {
                        ExecuteLine(next);
                    }
                });
            }
        }

        /// <summary>+CME ERROR text per +CMEE (TS 27.007 §9.1; verbose texts §9.2.1).</summary>
        public string FormatCme(int code)
        {
            switch (Cmee)
            {
                case 0: return "ERROR";
                case 2: return "+CME ERROR: " + (Dialect.CmeVerboseText(code) ?? CmeTexts.Text(code) ?? code.ToString(CultureInfo.InvariantCulture));
                default: return "+CME ERROR: " + code.ToString(CultureInfo.InvariantCulture);
            }
        }

        // ------------------------------------------------------------------ data mode (prompt)

        internal void EnterDataMode(AtExchange x, string prompt, int count, Action<byte[]> onData)
        {
            EmitRaw(Encoding.ASCII.GetBytes(prompt), 0, prompt.Length);
            _data = new DataModeState(x, count, onData) { PromptAt = Now, MinGapMs = prompt == "@" ? 50 : 0 };
        }

        private sealed class DataModeState
        {
            private readonly AtExchange _x;
            private readonly int _count;
            private readonly Action<byte[]> _onData;
            private readonly List<byte> _buffer = new();

            public DataModeState(AtExchange x, int count, Action<byte[]> onData)
            {
                _x = x;
                _count = count;
                _onData = onData;
            }

            public long PromptAt { get; init; }

            /// <summary>SARA-R4: "after the @ prompt reception, wait for a minimum of 50 ms before sending data" (U16 p216).</summary>
            public int MinGapMs { get; init; }

            public void Add(SimulatedModem m, byte b)
            {
                if (_buffer.Count == 0 && MinGapMs > 0 && m.Now - PromptAt < MinGapMs)
                {
                    m.Note("DTE sent data " + (m.Now - PromptAt) + " ms after the prompt (manual: wait >= " + MinGapMs + " ms)");
                }

                if (_count < 0)
                {
                    if (b == 0x1B)
                    {
                        m._data = null;
                        m.Note("data mode cancelled (ESC)");
                        m.RunGuarded(_x, () => _x.Ok());
                        return;
                    }

                    if (b != 0x1A)
                    {
                        _buffer.Add(b);
                        return;
                    }
                }
                else
                {
                    _buffer.Add(b);
                    if (_buffer.Count < _count)
                    {
                        return;
                    }
                }

                m._data = null;
                byte[] payload = _buffer.ToArray();
                foreach (IModemTrace t in m._traces)
                {
                    t.DteToModem(m.Now, "[" + payload.Length + " data bytes]");
                }

                m.RunGuarded(_x, () => _onData(payload));
            }
        }

        // ------------------------------------------------------------------ output

        /// <summary>Unsolicited result code (CR LF line CR LF). Held back while the DTE is sending prompt data.</summary>
        public void Urc(string line)
        {
            lock (_gate)
            {
                if (Power == PowerState.Off || Power == PowerState.Booting && line != "RDY")
                {
                    return;
                }

                if (_data != null)
                {
                    _deferredUrcs.Add(line);
                    return;
                }

                EmitUrcNow(line);
            }
        }

        /// <summary>
        /// A URC line followed by raw bytes (BG9x direct push: <c>+QIURC: "recv",&lt;id&gt;,&lt;len&gt;</c> CR LF data, Q96-TCP
        /// p34–35); held back together while the DTE is in a data prompt, so the bytes never precede their header.
        /// </summary>
        public void UrcWithPayload(string line, byte[] payload)
        {
            lock (_gate)
            {
                if (Power == PowerState.Off || Power == PowerState.Booting)
                {
                    return;
                }

                if (_data != null)
                {
                    _deferredPayloads[_deferredUrcs.Count] = payload;
                    _deferredUrcs.Add(line);
                    return;
                }

                EmitUrcNow(line);
                EmitRawUnsuppressed(payload, 0, payload.Length);
            }
        }

        private void EmitUrcNow(string line)
        {
            byte[] b = Encoding.Latin1.GetBytes("\r\n" + line + "\r\n");
            EmitRawUnsuppressed(b, 0, b.Length);
        }

        private void FlushDeferredUrcs()
        {
            if (_data != null)
            {
                return;
            }

            for (int i = 0; i < _deferredUrcs.Count; i++)
            {
                EmitUrcNow(_deferredUrcs[i]);
                if (_deferredPayloads.TryGetValue(i, out byte[]? payload))
                {
                    EmitRawUnsuppressed(payload, 0, payload.Length);
                }
            }

            _deferredUrcs.Clear();
            _deferredPayloads.Clear();
        }

        internal void EmitLine(string text)
        {
            byte[] b = Encoding.Latin1.GetBytes("\r\n" + text + "\r\n");
            EmitRaw(b, 0, b.Length);
        }

        internal void EmitRaw(byte[] data, int offset, int count)
        {
            if (_suppressOutput)
            {
                Note("response dropped (" + count + " bytes)");
                return;
            }

            EmitRawUnsuppressed(data, offset, count);
        }

        private void EmitRawUnsuppressed(byte[] data, int offset, int count)
        {
            byte[] chunk = new byte[count];
            Array.Copy(data, offset, chunk, 0, count);
            string? note;
            chunk = Faults.OnOutput(chunk, out note);
            if (note != null)
            {
                Note("fault: " + note);
            }

            Write(chunk);
        }

        /// <summary>Command echo (V.250 §6.2.4): not faulted, not traced (the log shows the command as &gt;&gt;).</summary>
        private void EmitRawUnfaulted(byte[] data) => _sink?.Invoke(data, 0, data.Length);

        /// <summary>Unframed bytes outside a command (direct-push payload after its URC).</summary>
        public void EmitRawPublic(byte[] data)
        {
            lock (_gate)
            {
                EmitRawUnsuppressed(data, 0, data.Length);
            }
        }

        private void Write(byte[] data)
        {
            if (data.Length == 0)
            {
                return;
            }

            foreach (IModemTrace t in _traces)
            {
                t.ModemToDte(Now, data, 0, data.Length);
            }

            _sink?.Invoke(data, 0, data.Length);
        }

        public void Dispose()
        {
            lock (_gate)
            {
                if (_disposed)
                {
                    return;
                }

                _disposed = true;
                CloseAllSockets();
            }

            _wake.Dispose();
        }
    }

    /// <summary>A PDP context (TS 27.007 §10.1.1 / Quectel +QICSGP).</summary>
    public sealed class PdpContext
    {
        public int Cid { get; init; }

        public string Type { get; set; } = "IP";

        public string Apn { get; set; } = string.Empty;

        public bool Active { get; set; }

        public IPAddress? Address { get; set; }
    }

    /// <summary>A datagram waiting in a simulated socket's receive buffer.</summary>
    public sealed record Datagram(IPEndPoint From, byte[] Data);

    /// <summary>A socket of the simulated modem's IP stack, bridged to a real host UDP socket.</summary>
    public sealed class SimSocket
    {
        public SimSocket(int id, IPEndPoint? remote)
        {
            Id = id;
            Remote = remote;
        }

        public int Id { get; }

        /// <summary>Connected peer (BG9x "UDP" client); null for unconnected sockets (SARA +USOCR, UDP SERVICE).</summary>
        public IPEndPoint? Remote { get; set; }

        public UdpBridge? Bridge { get; set; }

        public Queue<Datagram> Rx { get; } = new();

        /// <summary>BG9x buffer mode: a "recv" URC may be sent (re-armed when a read drains the buffer, modems.md §1.5).</summary>
        public bool RecvUrcArmed { get; set; } = true;

        /// <summary>SARA: sent once or +USOLI-bound, so datagrams are accepted (modems.md §4 quirk 12).</summary>
        public bool HasSent { get; set; }

        public bool Listening { get; set; }

        /// <summary>BG9x access mode: 0 buffer, 1 direct push (Q96-TCP p19).</summary>
        public int AccessMode { get; set; }

        /// <summary>BG9x "UDP SERVICE" (unconnected, +QIRD reports the peer).</summary>
        public bool Service { get; set; }

        /// <summary>Context id the socket uses (BG9x).</summary>
        public int ContextId { get; set; } = 1;

        public long BytesSent { get; set; }

        public long BytesAcked { get; set; }

        public long BytesRead { get; set; }

        public bool Closed { get; private set; }

        public int PendingBytes
        {
            get
            {
                int n = 0;
                foreach (Datagram d in Rx)
                {
                    n += d.Data.Length;
                }

                return n;
            }
        }

        public void Close()
        {
            Closed = true;
            Bridge?.Dispose();
            Bridge = null;
        }
    }

    /// <summary>TS 27.007 §9.2.1 verbose +CME ERROR texts (the simulator's own table).</summary>
    public static class CmeTexts
    {
        private static readonly Dictionary<int, string> Texts = new()
        {
            [0] = "phone failure",
            [3] = "operation not allowed",
            [4] = "operation not supported",
            [10] = "SIM not inserted",
            [11] = "SIM PIN required",
            [12] = "SIM PUK required",
            [13] = "SIM failure",
            [14] = "SIM busy",
            [15] = "SIM wrong",
            [16] = "incorrect password",
            [22] = "not found",
            [23] = "memory failure",
            [30] = "no network service",
            [31] = "network timeout",
            [50] = "Incorrect parameters",
            [100] = "unknown",
        };

        public static string? Text(int code) => Texts.TryGetValue(code, out string? t) ? t : null;
    }
}

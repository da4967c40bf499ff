using System;
using System.Threading;
using E2m.Hal;

namespace E2m.Modem.At
{
    /// <summary>
    /// The AT channel (DESIGN.md §7 layer 2; the atat ingress/digest/response-slot/URC split and
    /// Zephyr modem_chat): line framing over arbitrary byte fragments, exactly one command in flight,
    /// per-command timeout and attempts, typed final results, URC routing by prefix, the data prompt,
    /// length-prefixed binary reads, resynchronisation after a timeout, and modem-reboot detection.
    /// <para>
    /// Threading: a caller-driven pump, no thread of its own (works the same on nanoFramework and the
    /// host, and is deterministic under a fake clock). The thread inside <see cref="Execute(AtCommand, AtResult)"/>
    /// reads the transport until the final result; when no command runs, the application calls
    /// <see cref="Poll"/> (e.g. after <see cref="ISerialTransport.DataAvailable"/>) to route URCs.
    /// URC handlers run on the pumping thread. Deadlines come from the injected clock only.
    /// </para>
    /// <para>Line classification while a command is in flight, in this order (README.md "AT channel"):
    /// boot line → echo of the command → final result code → binary header → response (prefix + shape +
    /// count) → registered URC prefix → raw response (RawResponse commands, lines not starting with '+')
    /// → stray. While idle: boot line → stale final result (dropped, counted) → URC → unhandled.</para>
    /// </summary>
    public sealed class AtChannel
    {
        /// <summary>Default longest line kept (SARA-R4 AT+USORF in HEX mode: 2 x 1024 hex digits + header).</summary>
        public const int DefaultMaxLineLength = 2200;

        /// <summary>Most URC subscriptions (prefix, handler) a channel holds.</summary>
        public const int MaxUrcSubscriptions = 24;

        private const byte Cr = 13; // V.250 §6.2.1 S3 default
        private const byte Lf = 10; // V.250 §6.2.2 S4 default
        private const int PollSliceMs = 200;
        private const int BusyWaitSliceMs = 50;

        private readonly ISerialTransport _transport;
        private readonly IMonotonicClock _clock;
        private readonly IDelay _delay;
        private readonly ILog _log;

        private readonly byte[] _rx = new byte[256];
        private readonly byte[] _tx = new byte[128];
        private readonly byte[] _line;
        private readonly char[] _chars;
        private int _lineLength;
        private bool _discarding;
        private int _rawRemaining;
        private bool _rawSkipLf;

        // raw bytes announced by a binary URC (direct push) go here instead of the command's AtResult
        private bool _rawToUrc;
        private byte[] _urcPayload;
        private int _urcPayloadLength;
        private int _urcPayloadDeclared;
        private string _urcPayloadLine;
        private IBinaryUrcHandler _urcPayloadHandler;
        private readonly string[] _binaryPrefixes = new string[4];
        private readonly IBinaryUrcHandler[] _binaryHandlers = new IBinaryUrcHandler[4];
        private int _binaryCount;

        // in-flight command (valid while _inFlight)
        private bool _inFlight;
        private bool _done;
        private bool _awaitingPrompt;
        private AtCommand _command;
        private string _arguments;
        private AtResult _result;
        private byte[] _payload;
        private int _payloadOffset;
        private int _payloadCount;

        // ownership: one pumping thread at a time
        private readonly object _sync = new object();
        private readonly AutoResetEvent _released = new AutoResetEvent(false);
        private int _ownerThread = -1;
        private int _waiters;

        private readonly string[] _urcPrefixes = new string[MaxUrcSubscriptions];
        private readonly IUrcHandler[] _urcHandlers = new IUrcHandler[MaxUrcSubscriptions];
        private int _urcCount;
        private readonly IUrcHandler[] _rebootHandlers = new IUrcHandler[4];
        private int _rebootHandlerCount;
        private readonly string[] _rebootLines = new string[8];
        private int _rebootLineCount;

        private readonly AtCommand _syncCommand;
        private readonly AtResult _syncResult = new AtResult(4, 0);
        private bool _inSync = true;
        private bool _syncing;
        private int _bootIndications;

        private int _linesHandled;
        private int _oversizeLines;
        private int _strayLines;
        private int _staleFinals;
        private int _unhandledUrcs;
        private int _reboots;
        private int _timeouts;
        private int _handlerFaults;

        public AtChannel(ISerialTransport transport, IMonotonicClock clock, IDelay delay)
            : this(transport, clock, delay, null, DefaultMaxLineLength)
        {
        }

        /// <param name="transport">the modem's AT port.</param>
        /// <param name="clock">deadlines (command timeouts, drain).</param>
        /// <param name="delay">the wait after a data prompt (<see cref="AtCommand.PromptDelayMs"/>).</param>
        /// <param name="log">null = no logging. Trace level logs every line, except those of Sensitive commands.</param>
        /// <param name="maxLineLength">longer lines are discarded up to their terminator and counted (<see cref="OversizeLines"/>).</param>
        public AtChannel(ISerialTransport transport, IMonotonicClock clock, IDelay delay, ILog log, int maxLineLength)
        {
            if (transport == null)
            {
                throw new ArgumentNullException("transport");
            }

            if (clock == null)
            {
                throw new ArgumentNullException("clock");
            }

            if (delay == null)
            {
                throw new ArgumentNullException("delay");
            }

            if (maxLineLength < 16)
            {
                throw new ArgumentOutOfRangeException("maxLineLength");
            }

            _transport = transport;
            _clock = clock;
            _delay = delay;
            _log = log;
            _line = new byte[maxLineLength];
            _chars = new char[maxLineLength];
            SyncTimeoutMs = 1000;
            SyncAttempts = 3;
            DrainQuietMs = 100;
            _syncCommand = new AtCommand("AT", 1000); // V.250 §5.2.1: "AT" alone answers OK

            // Quectel BG95/BG96 boot lines (modems.md §1.2: "RDY", later "APP RDY").
            AddRebootLine("RDY");
            AddRebootLine("APP RDY");
        }

        /// <summary>Timeout of each "AT" probe of a resynchronisation (default 1000 ms).</summary>
        public int SyncTimeoutMs { get; set; }

        /// <summary>"AT" probes per resynchronisation (default 3).</summary>
        public int SyncAttempts { get; set; }

        /// <summary>After the probe's OK, input is drained until it stays quiet this long (default 100 ms): a late OK of the timed-out command is eaten here.</summary>
        public int DrainQuietMs { get; set; }

        /// <summary>False after a timeout until a resynchronisation succeeded; Execute resynchronises first while false.</summary>
        public bool InSync
        {
            get { return _inSync; }
        }

        /// <summary>Lines longer than the maximum line length, discarded.</summary>
        public int OversizeLines
        {
            get { return _oversizeLines; }
        }

        /// <summary>Lines received while a command was in flight that were neither its echo, its response, a final result nor a registered URC.</summary>
        public int StrayLines
        {
            get { return _strayLines; }
        }

        /// <summary>Final result codes received while no command was in flight (late answers of timed-out commands), dropped.</summary>
        public int StaleFinals
        {
            get { return _staleFinals; }
        }

        /// <summary>Lines received while idle that matched no URC subscription.</summary>
        public int UnhandledUrcs
        {
            get { return _unhandledUrcs; }
        }

        /// <summary>Boot lines seen (each of RDY and APP RDY counts).</summary>
        public int Reboots
        {
            get { return _reboots; }
        }

        /// <summary>
        /// Every sign that the modem restarted: a boot line (RDY / APP RDY / <see cref="AddRebootLine"/>), an
        /// unsolicited "+CPIN: READY" while out of sync or resynchronising (after a timeout; Mbed's BG96 ready URC,
        /// modems.md §1.2), and the echo of a command after the driver declared echo off (<see cref="EchoOff"/>; the
        /// module lost its settings: ATE default 1 after boot, modems.md §1.3 / §2.3 — the only sign a SARA without
        /// greeting gives). Drivers compare it before and after a step: any change means "run the init script again".
        /// </summary>
        public int BootIndications
        {
            get { return _bootIndications; }
        }

        /// <summary>
        /// Set by the driver after ATE0 was answered OK (cleared before it sends ATE0): a command echo seen while true
        /// counts as a boot indication (once; the flag is cleared then).
        /// </summary>
        public bool EchoOff { get; set; }

        /// <summary>Command attempts that ended in a timeout.</summary>
        public int Timeouts
        {
            get { return _timeouts; }
        }

        /// <summary>Exceptions thrown by URC/reboot handlers (caught, logged, counted; the channel goes on).</summary>
        public int HandlerFaults
        {
            get { return _handlerFaults; }
        }

        /// <summary>Runs a command without arguments. See <see cref="Execute(AtCommand, string, byte[], int, int, AtResult)"/>.</summary>
        public AtStatus Execute(AtCommand command, AtResult result)
        {
            return Execute(command, null, null, 0, 0, result);
        }

        /// <summary>Runs a command whose line is <c>command.Text + arguments</c>.</summary>
        public AtStatus Execute(AtCommand command, string arguments, AtResult result)
        {
            return Execute(command, arguments, null, 0, 0, result);
        }

        /// <summary>
        /// Writes <c>command.Text + arguments + CR</c>, and for a prompt command the payload after the
        /// prompt, then pumps the transport until a final result, a boot line or the timeout.
        /// On timeout the channel resynchronises (discard input, "AT" until OK, drain) and, when the
        /// command is idempotent and has attempts left, writes it again. Returns result.Status.
        /// Busy when another thread holds the channel longer than the command's timeout, or when called
        /// from a URC handler.
        /// </summary>
        /// <exception cref="System.IO.IOException">the transport failed (not a modem error).</exception>
        public AtStatus Execute(AtCommand command, string arguments, byte[] payload, int offset, int count, AtResult result)
        {
            if (command == null)
            {
                throw new ArgumentNullException("command");
            }

            if (result == null)
            {
                throw new ArgumentNullException("result");
            }

            if (command.Prompt != '\0')
            {
                if (payload == null || offset < 0 || count < 0 || offset + count > payload.Length)
                {
                    throw new ArgumentException("payload");
                }
            }

            result.Reset();
            if (!Acquire(command.TimeoutMs))
            {
                result.Status = AtStatus.Busy;
                return AtStatus.Busy;
            }

            try
            {
                int attempts = command.Attempts < 1 ? 1 : command.Attempts;
                for (int attempt = 1; ; attempt++)
                {
                    result.Reset();
                    result.Attempts = attempt - 1;
                    if (!_inSync && !SyncLocked())
                    {
                        result.Status = AtStatus.Timeout; // the modem does not answer "AT": the command was not written
                        break;
                    }

                    result.Attempts = attempt;
                    RunOnce(command, arguments, payload, offset, count, result);
                    if (result.Status != AtStatus.Timeout)
                    {
                        break;
                    }

                    _timeouts++;
                    if (_log != null && _log.IsEnabled(LogLevel.Warning))
                    {
                        _log.Write(LogLevel.Warning, "at", "timeout: " + command.Text);
                    }

                    _inSync = false;
                    bool synced = SyncLocked();
                    if (!synced || !command.Idempotent || attempt >= attempts)
                    {
                        break;
                    }
                }

                return result.Status;
            }
            finally
            {
                Release();
            }
        }

        /// <summary>
        /// Pumps the transport while no command runs: waits up to <paramref name="timeoutMs"/> for bytes
        /// (0 = only what is already there), routes every complete line (URCs, boot lines), and returns
        /// once the bytes that arrived together are processed. Returns true when at least one line was
        /// handled; false at once when another thread holds the channel (it routes URCs itself) or when
        /// called from a URC handler.
        /// </summary>
        public bool Poll(int timeoutMs)
        {
            if (TryAcquire() != 0)
            {
                return false;
            }

            try
            {
                int before = _linesHandled;
                long deadline = _clock.NowMilliseconds + (timeoutMs < 0 ? 0 : timeoutMs);
                bool any = false;
                while (true)
                {
                    long remaining = deadline - _clock.NowMilliseconds;
                    int wait = 0;
                    if (!any && remaining > 0)
                    {
                        wait = remaining > PollSliceMs ? PollSliceMs : (int)remaining;
                    }

                    int n = _transport.Read(_rx, 0, _rx.Length, wait);
                    if (n > 0)
                    {
                        any = true;
                        Feed(_rx, 0, n);
                        if (Interlocked.CompareExchange(ref _waiters, 0, 0) > 0)
                        {
                            break;
                        }

                        continue;
                    }

                    if (any || wait == 0 || Interlocked.CompareExchange(ref _waiters, 0, 0) > 0)
                    {
                        break;
                    }
                }

                return _linesHandled != before;
            }
            finally
            {
                Release();
            }
        }

        /// <summary>
        /// Resynchronises now: discards input, sends "AT" until OK (<see cref="SyncAttempts"/> probes of
        /// <see cref="SyncTimeoutMs"/>), then drains. Returns <see cref="InSync"/>. Drivers call it after
        /// power-on and after a reboot once the modem is ready.
        /// </summary>
        public bool Resync()
        {
            if (!Acquire(SyncTimeoutMs))
            {
                return false;
            }

            try
            {
                return SyncLocked();
            }
            finally
            {
                Release();
            }
        }

        /// <summary>
        /// Routes lines starting with <paramref name="prefix"/> (e.g. "+CEREG:", "+QIURC:", "POWERED DOWN")
        /// to <paramref name="handler"/>. A line matching several subscriptions reaches each of them.
        /// </summary>
        public void RegisterUrc(string prefix, IUrcHandler handler)
        {
            if (prefix == null || prefix.Length == 0)
            {
                throw new ArgumentException("prefix");
            }

            if (handler == null)
            {
                throw new ArgumentNullException("handler");
            }

            lock (_sync)
            {
                if (_urcCount == _urcPrefixes.Length)
                {
                    throw new InvalidOperationException("too many URC subscriptions");
                }

                _urcPrefixes[_urcCount] = prefix;
                _urcHandlers[_urcCount] = handler;
                _urcCount++;
            }
        }

        /// <summary>Removes every subscription of <paramref name="handler"/> (URC and reboot).</summary>
        public void UnregisterUrc(IUrcHandler handler)
        {
            lock (_sync)
            {
                int j = 0;
                for (int i = 0; i < _urcCount; i++)
                {
                    if (_urcHandlers[i] != handler)
                    {
                        _urcPrefixes[j] = _urcPrefixes[i];
                        _urcHandlers[j] = _urcHandlers[i];
                        j++;
                    }
                }

                for (int i = j; i < _urcCount; i++)
                {
                    _urcPrefixes[i] = null;
                    _urcHandlers[i] = null;
                }

                _urcCount = j;

                j = 0;
                for (int i = 0; i < _rebootHandlerCount; i++)
                {
                    if (_rebootHandlers[i] != handler)
                    {
                        _rebootHandlers[j++] = _rebootHandlers[i];
                    }
                }

                for (int i = j; i < _rebootHandlerCount; i++)
                {
                    _rebootHandlers[i] = null;
                }

                _rebootHandlerCount = j;
            }
        }

        /// <summary>Receives every boot line (the line itself, e.g. "RDY" or "APP RDY").</summary>
        public void RegisterRebootHandler(IUrcHandler handler)
        {
            if (handler == null)
            {
                throw new ArgumentNullException("handler");
            }

            lock (_sync)
            {
                if (_rebootHandlerCount == _rebootHandlers.Length)
                {
                    throw new InvalidOperationException("too many reboot handlers");
                }

                _rebootHandlers[_rebootHandlerCount++] = handler;
            }
        }

        /// <summary>
        /// Declares one more exact line as a boot line (defaults: "RDY", "APP RDY" of BG95/BG96). SARA-R4
        /// prints no greeting by default (modems.md §2.2); a driver that sets one (AT+CSGT) adds it here.
        /// </summary>
        public void AddRebootLine(string line)
        {
            if (line == null || line.Length == 0)
            {
                throw new ArgumentException("line");
            }

            lock (_sync)
            {
                for (int i = 0; i < _rebootLineCount; i++)
                {
                    if (_rebootLines[i] == line)
                    {
                        return;
                    }
                }

                if (_rebootLineCount == _rebootLines.Length)
                {
                    throw new InvalidOperationException("too many reboot lines");
                }

                _rebootLines[_rebootLineCount++] = line;
            }
        }

        /// <summary>
        /// Lines starting with <paramref name="prefix"/> may be followed by raw bytes: the channel asks
        /// <see cref="IBinaryUrcHandler.PayloadLength"/> and, when it is ≥ 0, reads exactly that many bytes (they may
        /// contain CR, LF, NUL, "OK") into a buffer of <paramref name="maxPayload"/> bytes (allocated once, here) and
        /// hands them to <see cref="IBinaryUrcHandler.OnPayload"/>; the LF of the header's CR LF is not payload. This
        /// works while idle (Poll) and while a command is in flight. The line also reaches the ordinary URC
        /// subscribers of its prefix before the payload is read.
        /// </summary>
        public void RegisterBinaryUrc(string prefix, IBinaryUrcHandler handler, int maxPayload)
        {
            if (prefix == null || prefix.Length == 0)
            {
                throw new ArgumentException("prefix");
            }

            if (handler == null)
            {
                throw new ArgumentNullException("handler");
            }

            if (maxPayload < 1)
            {
                throw new ArgumentOutOfRangeException("maxPayload");
            }

            lock (_sync)
            {
                if (_binaryCount == _binaryPrefixes.Length)
                {
                    throw new InvalidOperationException("too many binary URC subscriptions");
                }

                if (_urcPayload == null || _urcPayload.Length < maxPayload)
                {
                    _urcPayload = new byte[maxPayload];
                }

                _binaryPrefixes[_binaryCount] = prefix;
                _binaryHandlers[_binaryCount] = handler;
                _binaryCount++;
            }
        }

        // ---------------------------------------------------------------- ownership

        // 0 = acquired, 1 = the calling thread already holds it (re-entry from a handler), 2 = held by another thread
        private int TryAcquire()
        {
            int id = Thread.CurrentThread.ManagedThreadId;
            lock (_sync)
            {
                if (_ownerThread == -1)
                {
                    _ownerThread = id;
                    return 0;
                }

                return _ownerThread == id ? 1 : 2;
            }
        }

        private bool Acquire(int waitMs)
        {
            int r = TryAcquire();
            if (r != 2)
            {
                return r == 0;
            }

            Interlocked.Increment(ref _waiters);
            try
            {
                // Real-time wait for another thread (its own pump is bounded by its command's timeout).
                int slices = waitMs / BusyWaitSliceMs + 1;
                for (int i = 0; i < slices; i++)
                {
                    _released.WaitOne(BusyWaitSliceMs, false);
                    if (TryAcquire() == 0)
                    {
                        return true;
                    }
                }

                return false;
            }
            finally
            {
                Interlocked.Decrement(ref _waiters);
            }
        }

        private void Release()
        {
            lock (_sync)
            {
                _ownerThread = -1;
            }

            if (Interlocked.CompareExchange(ref _waiters, 0, 0) > 0)
            {
                _released.Set(); // wake a thread waiting in Acquire (it also polls every 50 ms)
            }
        }

        // ---------------------------------------------------------------- one command

        private void RunOnce(AtCommand command, string arguments, byte[] payload, int offset, int count, AtResult result)
        {
            _command = command;
            _arguments = arguments;
            _result = result;
            _payload = payload;
            _payloadOffset = offset;
            _payloadCount = count;
            _done = false;
            _awaitingPrompt = command.Prompt != '\0';
            _inFlight = true;
            try
            {
                WriteCommandLine(command, arguments);
                long deadline = _clock.NowMilliseconds + command.TimeoutMs;
                while (!_done)
                {
                    long remaining = deadline - _clock.NowMilliseconds;
                    if (remaining <= 0)
                    {
                        break;
                    }

                    int n = _transport.Read(_rx, 0, _rx.Length, remaining > int.MaxValue ? int.MaxValue : (int)remaining);
                    if (n > 0)
                    {
                        Feed(_rx, 0, n);
                    }
                }

                if (!_done)
                {
                    result.Status = AtStatus.Timeout;
                }
            }
            finally
            {
                _inFlight = false;
                _awaitingPrompt = false;
                _command = null;
                _arguments = null;
                _result = null;
                _payload = null;
            }
        }

        private bool SyncLocked()
        {
            _syncing = true;
            try
            {
                return SyncProbes();
            }
            finally
            {
                _syncing = false;
            }
        }

        private bool SyncProbes()
        {
            int attempts = SyncAttempts < 1 ? 1 : SyncAttempts;
            _syncCommand.TimeoutMs = SyncTimeoutMs < 1 ? 1 : SyncTimeoutMs;
            for (int i = 0; i < attempts; i++)
            {
                _transport.DiscardInput();
                ResetFramer();
                _syncResult.Reset();
                long probeStarted = _clock.NowMilliseconds;
                RunOnce(_syncCommand, null, null, 0, 0, _syncResult);
                if (_syncResult.Status == AtStatus.Ok)
                {
                    Drain();
                    _inSync = true;
                    return true;
                }

                // A modem that answers but is not ready yet (a BG95 answers ERROR between "RDY" and "APP RDY",
                // modems.md §1.2 / quirk 1) must not use up every probe within milliseconds: pace the probes
                // one SyncTimeoutMs apart, processing what arrives meanwhile (boot lines, URCs).
                if (i + 1 < attempts)
                {
                    WaitFeeding(probeStarted + _syncCommand.TimeoutMs);
                }
            }

            if (_log != null && _log.IsEnabled(LogLevel.Error))
            {
                _log.Write(LogLevel.Error, "at", "modem does not answer AT");
            }

            _inSync = false;
            return false;
        }

        // Reads and processes input until the clock reaches untilMs.
        private void WaitFeeding(long untilMs)
        {
            while (true)
            {
                long left = untilMs - _clock.NowMilliseconds;
                if (left <= 0)
                {
                    return;
                }

                int n = _transport.Read(_rx, 0, _rx.Length, left > int.MaxValue ? int.MaxValue : (int)left);
                if (n > 0)
                {
                    Feed(_rx, 0, n);
                }
            }
        }

        // Reads until the input stays quiet for DrainQuietMs (bounded by SyncTimeoutMs in total):
        // late answers of the timed-out command (its OK, its response lines) are dropped as stale.
        private void Drain()
        {
            int quiet = DrainQuietMs < 0 ? 0 : DrainQuietMs;
            long hardDeadline = _clock.NowMilliseconds + (SyncTimeoutMs > quiet ? SyncTimeoutMs : quiet);
            while (true)
            {
                long left = hardDeadline - _clock.NowMilliseconds;
                if (left <= 0)
                {
                    break;
                }

                int wait = left < quiet ? (int)left : quiet;
                int n = _transport.Read(_rx, 0, _rx.Length, wait);
                if (n == 0)
                {
                    break;
                }

                Feed(_rx, 0, n);
            }
        }

        private void WriteCommandLine(AtCommand command, string arguments)
        {
            int n = 0;
            n = WriteText(command.Text, n);
            if (arguments != null)
            {
                n = WriteText(arguments, n);
            }

            if (n == _tx.Length)
            {
                _transport.Write(_tx, 0, n);
                n = 0;
            }

            _tx[n++] = Cr;
            _transport.Write(_tx, 0, n);
            if (_log != null && _log.IsEnabled(LogLevel.Trace))
            {
                _log.Write(LogLevel.Trace, "at", command.Sensitive ? ">> " + command.Text + "[redacted]" : ">> " + command.Text + arguments);
            }
        }

        // ASCII (V.250 §5.1: IA5); other characters are sent as '?'.
        private int WriteText(string text, int n)
        {
            for (int i = 0; i < text.Length; i++)
            {
                if (n == _tx.Length)
                {
                    _transport.Write(_tx, 0, n);
                    n = 0;
                }

                char c = text[i];
                _tx[n++] = c < (char)128 ? (byte)c : (byte)'?';
            }

            return n;
        }

        private void OnPrompt()
        {
            _awaitingPrompt = false;
            if (_command.PromptDelayMs > 0)
            {
                _delay.Sleep(_command.PromptDelayMs);
            }

            if (_payloadCount > 0)
            {
                _transport.Write(_payload, _payloadOffset, _payloadCount);
            }

            if (_command.PayloadTerminator >= 0)
            {
                _tx[0] = (byte)_command.PayloadTerminator;
                _transport.Write(_tx, 0, 1);
            }

            if (_log != null && _log.IsEnabled(LogLevel.Trace))
            {
                _log.Write(LogLevel.Trace, "at", "prompt; payload " + _payloadCount.ToString() + " bytes");
            }
        }

        // ---------------------------------------------------------------- framing

        private void ResetFramer()
        {
            _lineLength = 0;
            _discarding = false;
            _rawRemaining = 0;
            _rawSkipLf = false;
            _rawToUrc = false;
        }

        private void Feed(byte[] buffer, int offset, int count)
        {
            int end = offset + count;
            for (int i = offset; i < end; i++)
            {
                byte b = buffer[i];
                if (_rawSkipLf)
                {
                    _rawSkipLf = false;
                    if (b == Lf)
                    {
                        continue;
                    }
                }

                if (_rawRemaining > 0)
                {
                    // Binary payload (AT+QIRD): count bytes, interpret nothing.
                    int take = end - i;
                    if (take > _rawRemaining)
                    {
                        take = _rawRemaining;
                    }

                    if (_rawToUrc)
                    {
                        StoreUrcPayload(buffer, i, take);
                    }
                    else
                    {
                        StorePayload(buffer, i, take);
                    }

                    _rawRemaining -= take;
                    i += take - 1;
                    if (_rawRemaining == 0 && _rawToUrc)
                    {
                        CompleteUrcPayload();
                    }

                    continue;
                }

                if (b == Cr || b == Lf)
                {
                    if (_discarding)
                    {
                        _discarding = false;
                        continue;
                    }

                    if (_lineLength > 0)
                    {
                        int length = _lineLength;
                        _lineLength = 0;
                        HandleLine(length, b == Cr);
                    }

                    continue;
                }

                if (b == 0 || _discarding)
                {
                    continue; // NULs (line noise, modem wake-up) are dropped
                }

                if (_lineLength == 0)
                {
                    if (b == (byte)' ' || b == 9)
                    {
                        continue; // leading blanks (the space after a "> " prompt)
                    }

                    if (_awaitingPrompt && !_done && b == (byte)_command.Prompt)
                    {
                        OnPrompt();
                        continue;
                    }
                }

                if (_lineLength == _line.Length)
                {
                    _discarding = true;
                    _lineLength = 0;
                    _oversizeLines++;
                    if (_log != null && _log.IsEnabled(LogLevel.Warning))
                    {
                        _log.Write(LogLevel.Warning, "at", "oversize line discarded");
                    }

                    continue;
                }

                _line[_lineLength++] = b;
            }
        }

        private void StorePayload(byte[] buffer, int offset, int count)
        {
            AtResult r = _result;
            if (r == null || !_inFlight)
            {
                return;
            }

            int room = r.Payload.Length - r.PayloadLength;
            int n = count < room ? count : room;
            if (n > 0)
            {
                Array.Copy(buffer, offset, r.Payload, r.PayloadLength, n);
                r.PayloadLength += n;
            }

            if (n < count)
            {
                r.PayloadTruncated = true;
            }
        }

        private void StoreUrcPayload(byte[] buffer, int offset, int count)
        {
            int room = _urcPayload.Length - _urcPayloadLength;
            int n = count < room ? count : room;
            if (n > 0)
            {
                Array.Copy(buffer, offset, _urcPayload, _urcPayloadLength, n);
                _urcPayloadLength += n;
            }
        }

        private void CompleteUrcPayload()
        {
            _rawToUrc = false;
            IBinaryUrcHandler h = _urcPayloadHandler;
            string line = _urcPayloadLine;
            _urcPayloadHandler = null;
            _urcPayloadLine = null;
            if (_log != null && _log.IsEnabled(LogLevel.Trace))
            {
                _log.Write(LogLevel.Trace, "at", "urc payload " + _urcPayloadLength.ToString() + " of " + _urcPayloadDeclared.ToString() + " bytes");
            }

            try
            {
                h.OnPayload(line, _urcPayload, 0, _urcPayloadLength, _urcPayloadDeclared);
            }
            catch (Exception e)
            {
                _handlerFaults++;
                if (_log != null && _log.IsEnabled(LogLevel.Error))
                {
                    _log.Write(LogLevel.Error, "at", "binary URC handler failed: " + e.Message);
                }
            }
        }

        // A binary URC subscription for this line that announces raw bytes starts the raw read (true).
        private bool TryBinaryUrc(int length, string line, bool endedWithCr)
        {
            for (int i = 0; ; i++)
            {
                IBinaryUrcHandler h;
                lock (_sync)
                {
                    if (i >= _binaryCount)
                    {
                        return false;
                    }

                    if (!StartsWith(length, _binaryPrefixes[i]))
                    {
                        continue;
                    }

                    h = _binaryHandlers[i];
                }

                if (line == null)
                {
                    line = MakeString(0, length);
                }

                int n;
                try
                {
                    n = h.PayloadLength(line);
                }
                catch (Exception e)
                {
                    _handlerFaults++;
                    if (_log != null && _log.IsEnabled(LogLevel.Error))
                    {
                        _log.Write(LogLevel.Error, "at", "binary URC handler failed: " + e.Message);
                    }

                    continue;
                }

                if (n < 0)
                {
                    continue;
                }

                _urcPayloadHandler = h;
                _urcPayloadLine = line;
                _urcPayloadLength = 0;
                _urcPayloadDeclared = n;
                if (n == 0)
                {
                    CompleteUrcPayload();
                    return true;
                }

                _rawToUrc = true;
                _rawRemaining = n;
                _rawSkipLf = endedWithCr; // the LF of the header's CR LF is not payload
                return true;
            }
        }

        private void HandleLine(int length, bool endedWithCr)
        {
            while (length > 0 && (_line[length - 1] == (byte)' ' || _line[length - 1] == 9))
            {
                length--;
            }

            if (length == 0)
            {
                return;
            }

            _linesHandled++;
            if (IsRebootLine(length))
            {
                OnReboot(length);
                return;
            }

            if ((_syncing || !_inSync) && LineEquals(length, "+CPIN: READY"))
            {
                // after a timeout the SIM turning ready unasked means the module booted (modems.md §1.2, Mbed BG96)
                _bootIndications++;
                if (_log != null && _log.IsEnabled(LogLevel.Info))
                {
                    _log.Write(LogLevel.Info, "at", "unsolicited +CPIN: READY while resynchronising: modem restarted");
                }
            }

            if (_inFlight && !_done)
            {
                HandleInFlight(length, endedWithCr);
                return;
            }

            if (FinalKind(length) != 0)
            {
                _staleFinals++;
                Trace("<< (stale) ", length);
                return;
            }

            if (!DispatchUrc(length, endedWithCr))
            {
                _unhandledUrcs++;
                Trace("<< (unhandled) ", length);
            }
        }

        private void HandleInFlight(int length, bool endedWithCr)
        {
            AtCommand command = _command;
            AtResult result = _result;
            if (IsEcho(length))
            {
                if (EchoOff)
                {
                    // echo is back although ATE0 was answered: the module restarted with its defaults
                    EchoOff = false;
                    _bootIndications++;
                    if (_log != null && _log.IsEnabled(LogLevel.Info))
                    {
                        _log.Write(LogLevel.Info, "at", "command echo after ATE0: modem restarted");
                    }
                }

                return;
            }

            if (TryFinal(length))
            {
                return;
            }

            if (command.BinaryPrefix != null && StartsWith(length, command.BinaryPrefix))
            {
                AddResponseLine(length);
                int n = ParseFirstNumber(length, command.BinaryPrefix.Length);
                if (n > 0)
                {
                    _rawRemaining = n;
                    _rawSkipLf = endedWithCr; // the LF of the header's CR LF is not payload
                }

                return;
            }

            bool canTake = command.MaxResponseLines <= 0 || result.LineCount < command.MaxResponseLines;
            if (command.ResponsePrefix != null && canTake && StartsWith(length, command.ResponsePrefix)
                && HasShape(length, command.ResponsePrefix.Length, command.ResponseLeadingNumbers))
            {
                AddResponseLine(length);
                return;
            }

            if (DispatchUrc(length, endedWithCr))
            {
                return;
            }

            if (command.RawResponse && canTake && _line[0] != (byte)'+')
            {
                AddResponseLine(length);
                return;
            }

            _strayLines++;
            Trace("<< (stray) ", length);
        }

        private void AddResponseLine(int length)
        {
            AtResult r = _result;
            if (_log != null && _log.IsEnabled(LogLevel.Trace))
            {
                _log.Write(LogLevel.Trace, "at", _command.Sensitive ? "<< [redacted]" : "<< " + MakeString(0, length));
            }

            if (r.LineCount < r.Lines.Length)
            {
                r.Lines[r.LineCount] = MakeString(0, length);
                r.LineCount++;
            }
            else
            {
                r.LinesTruncated = true;
            }
        }

        private bool IsEcho(int length)
        {
            string text = _command.Text;
            string args = _arguments;
            int total = text.Length + (args == null ? 0 : args.Length);
            if (length != total)
            {
                return false;
            }

            for (int i = 0; i < text.Length; i++)
            {
                if (_line[i] != (byte)text[i])
                {
                    return false;
                }
            }

            for (int i = text.Length; i < total; i++)
            {
                if (_line[i] != (byte)args[i - text.Length])
                {
                    return false;
                }
            }

            return true;
        }

        // 0 = not a final result code; otherwise the AtStatus + 1 it would produce (V.250 §5.7.1, 27.007 §9.2).
        private int FinalKind(int length)
        {
            if (LineEquals(length, "OK"))
            {
                return 1 + (int)AtStatus.Ok;
            }

            if (LineEquals(length, "ERROR"))
            {
                return 1 + (int)AtStatus.Error;
            }

            if (StartsWith(length, "+CME ERROR:"))
            {
                return 1 + (int)AtStatus.CmeError;
            }

            if (StartsWith(length, "+CMS ERROR:"))
            {
                return 1 + (int)AtStatus.CmsError;
            }

            if (LineEquals(length, "NO CARRIER"))
            {
                return 1 + (int)AtStatus.NoCarrier;
            }

            if (LineEquals(length, "CONNECT") || StartsWith(length, "CONNECT "))
            {
                return 1 + (int)AtStatus.Connect;
            }

            if (LineEquals(length, "BUSY") || LineEquals(length, "NO ANSWER") || LineEquals(length, "NO DIALTONE"))
            {
                return 1 + (int)AtStatus.CallFailed;
            }

            return 0;
        }

        private bool TryFinal(int length)
        {
            AtCommand command = _command;
            AtResult result = _result;
            AtStatus status;
            if (command.SuccessLine != null && LineEquals(length, command.SuccessLine))
            {
                status = AtStatus.Ok;
            }
            else if (command.FailureLine != null && LineEquals(length, command.FailureLine))
            {
                status = AtStatus.CommandFailed;
                result.ErrorText = MakeString(0, length);
            }
            else
            {
                int kind = FinalKind(length);
                if (kind == 0)
                {
                    return false;
                }

                status = (AtStatus)(kind - 1);
                if (status == AtStatus.CmeError || status == AtStatus.CmsError)
                {
                    ParseErrorCode(length, status == AtStatus.CmeError);
                }
                else if (status == AtStatus.CallFailed)
                {
                    result.ErrorText = MakeString(0, length);
                }
            }

            result.Status = status;
            _done = true;
            _awaitingPrompt = false;
            if (_log != null && _log.IsEnabled(LogLevel.Trace))
            {
                _log.Write(LogLevel.Trace, "at", "<< " + MakeString(0, length));
            }

            return true;
        }

        // "+CME ERROR: 10" or "+CME ERROR: SIM not inserted" (27.007 §9.1 +CMEE=1 / =2).
        private void ParseErrorCode(int length, bool cme)
        {
            int i = 11; // "+CME ERROR:".Length == "+CMS ERROR:".Length
            while (i < length && _line[i] == (byte)' ')
            {
                i++;
            }

            int start = i;
            int value = 0;
            bool digits = i < length;
            for (; i < length; i++)
            {
                byte b = _line[i];
                if (b < (byte)'0' || b > (byte)'9' || i - start > 6)
                {
                    digits = false;
                    break;
                }

                value = value * 10 + (b - '0');
            }

            if (digits)
            {
                _result.ErrorCode = value;
                return;
            }

            string text = MakeString(start, length - start);
            _result.ErrorText = text;
            _result.ErrorCode = cme ? AtErrorCodes.CmeCodeFromText(text) : AtErrorCodes.CmsCodeFromText(text);
        }

        private bool IsRebootLine(int length)
        {
            for (int i = 0; i < _rebootLineCount; i++)
            {
                if (LineEquals(length, _rebootLines[i]))
                {
                    return true;
                }
            }

            return false;
        }

        private void OnReboot(int length)
        {
            _reboots++;
            _bootIndications++;
            _rawRemaining = 0;
            string line = MakeString(0, length);
            if (_log != null && _log.IsEnabled(LogLevel.Info))
            {
                _log.Write(LogLevel.Info, "at", "modem boot line: " + line);
            }

            if (_inFlight && !_done)
            {
                _result.Status = AtStatus.Rebooted;
                _done = true;
                _awaitingPrompt = false;
            }

            for (int i = 0; ; i++)
            {
                IUrcHandler h;
                lock (_sync)
                {
                    if (i >= _rebootHandlerCount)
                    {
                        break;
                    }

                    h = _rebootHandlers[i];
                }

                Invoke(h, line);
            }
        }

        private bool DispatchUrc(int length, bool endedWithCr)
        {
            string line = null;
            for (int i = 0; ; i++)
            {
                IUrcHandler h;
                lock (_sync)
                {
                    if (i >= _urcCount)
                    {
                        break;
                    }

                    if (!StartsWith(length, _urcPrefixes[i]))
                    {
                        continue;
                    }

                    h = _urcHandlers[i];
                }

                if (line == null)
                {
                    line = MakeString(0, length);
                    if (_log != null && _log.IsEnabled(LogLevel.Trace))
                    {
                        _log.Write(LogLevel.Trace, "at", "<< (urc) " + line);
                    }
                }

                Invoke(h, line);
            }

            if (_binaryCount > 0 && TryBinaryUrc(length, line, endedWithCr))
            {
                return true;
            }

            return line != null;
        }

        private void Invoke(IUrcHandler handler, string line)
        {
            try
            {
                handler.OnUrc(line);
            }
            catch (Exception e)
            {
                _handlerFaults++;
                if (_log != null && _log.IsEnabled(LogLevel.Error))
                {
                    _log.Write(LogLevel.Error, "at", "URC handler failed: " + e.Message);
                }
            }
        }

        // ---------------------------------------------------------------- line helpers

        private bool LineEquals(int length, string s)
        {
            return length == s.Length && StartsWith(length, s);
        }

        private bool StartsWith(int length, string prefix)
        {
            if (length < prefix.Length)
            {
                return false;
            }

            for (int i = 0; i < prefix.Length; i++)
            {
                if (_line[i] != (byte)prefix[i])
                {
                    return false;
                }
            }

            return true;
        }

        // Shape rule: the first `numbers` parameters after the prefix are unquoted decimal numbers.
        private bool HasShape(int length, int start, int numbers)
        {
            int i = start;
            for (int k = 0; k < numbers; k++)
            {
                while (i < length && _line[i] == (byte)' ')
                {
                    i++;
                }

                int digitStart = i;
                while (i < length && _line[i] >= (byte)'0' && _line[i] <= (byte)'9')
                {
                    i++;
                }

                if (i == digitStart)
                {
                    return false;
                }

                if (i < length && _line[i] == (byte)' ')
                {
                    while (i < length && _line[i] == (byte)' ')
                    {
                        i++;
                    }
                }

                if (k < numbers - 1)
                {
                    if (i >= length || _line[i] != (byte)',')
                    {
                        return false;
                    }

                    i++;
                }
                else if (i < length && _line[i] != (byte)',')
                {
                    return false;
                }
            }

            return true;
        }

        // First decimal parameter after the prefix; 0 when absent; bounded to 7 digits.
        private int ParseFirstNumber(int length, int start)
        {
            int i = start;
            while (i < length && _line[i] == (byte)' ')
            {
                i++;
            }

            int value = 0;
            int digits = 0;
            while (i < length && _line[i] >= (byte)'0' && _line[i] <= (byte)'9' && digits < 7)
            {
                value = value * 10 + (_line[i] - '0');
                i++;
                digits++;
            }

            return value;
        }

        // Bytes map 1:1 to chars (ISO 8859-1): AT responses are IA5; garbage stays visible.
        private string MakeString(int start, int length)
        {
            for (int i = 0; i < length; i++)
            {
                _chars[i] = (char)_line[start + i];
            }

            return new string(_chars, 0, length);
        }

        private void Trace(string tag, int length)
        {
            if (_log != null && _log.IsEnabled(LogLevel.Trace))
            {
                _log.Write(LogLevel.Trace, "at", tag + ((_inFlight && _command != null && _command.Sensitive) ? "[redacted]" : MakeString(0, length)));
            }
        }
    }
}

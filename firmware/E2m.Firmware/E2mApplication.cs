#nullable disable // portable code: nullable off (DESIGN.md §9)
using System;
using E2m.Coap;
using E2m.Hal;
using E2m.Modem.Commands;
using E2m.Modem.Drivers;
using E2m.Oscore;

namespace E2m.Firmware
{
    /// <summary>States of the application (DESIGN.md §7). Int-backed, stable.</summary>
    public enum AppState
    {
        Boot = 0,
        Sample = 1,
        PowerOn = 2,
        Initialize = 3,
        SimReady = 4,
        Imsi = 5,
        Register = 6,
        Pdp = 7,
        NetworkTime = 8,
        Keys = 9,
        Upload = 10,
        Psm = 11,
        PowerCycle = 12,
        Sleep = 13,
        /// <summary>Host only: DeepSleep returned (on the device the MCU resets instead).</summary>
        Stopped = 14,
    }

    /// <summary>Why readings left the queue without a 2.04 (typed; counted in <see cref="DeviceState.DroppedReadings"/>).</summary>
    public enum DropReason
    {
        None = 0,
        /// <summary>Ring full with readings an accepting EMSE still needs: the new sample is refused.</summary>
        QueueFull = 1,
        /// <summary>The EMSE rejected the batch permanently (inner 4.00, 4.02, 4.13, 4.15).</summary>
        PermanentRejection = 2,
        /// <summary>Ring full: the oldest reading was pending only for EMSEs that refuse the KID (evicted for them).</summary>
        EmseRefusesKey = 3,
    }

    /// <summary>
    /// The e2m device application (DESIGN.md §7): an explicit state machine with a <see cref="Step"/> function and a
    /// supervisor. One wake-up = one cycle:
    /// <code>
    /// Boot → Sample ─(no upload due)────────────────────────────────────────────────→ Sleep
    ///          └→ PowerOn → Initialize → SimReady → Imsi → Register → Pdp → NetworkTime → Keys → Upload → Psm → Sleep
    /// any failure → (every PowerCycleAfterFailures-th consecutive failure: PowerCycle →) Sleep with backoff
    /// modem rebooted (≤ 2 per cycle) → PowerOn (resync) → Initialize
    /// EMSE 4.01 to a key of this wake-up or one another EMSE accepted in it → "EMSE refuses KID" persisted, skipped until
    /// the KID changes; 4.01 to a reused key nobody confirmed (once per cycle) → forget keys → Keys → Upload
    /// (the cycle fails only if an EMSE refused and no batch was delivered)
    /// EMSE 4.01 "Replay detected" → the batch again at once with a fresh SSN; the same answer again → forget keys → Keys
    /// → Upload (once per cycle; never a refusal)
    /// network-only mode, EF_KeysPS stale (once per cycle) → modem off → PowerOn → ... → Register (new AKA) → Keys
    /// </code>
    /// Synchronous, no thread of its own; every wait is a modem call with its timeout on the injected clock. The
    /// supervisor counts a step that overran <see cref="FirmwareConfig.StepBudgetMs"/> as failed and bounds retries;
    /// every failure ends in a defined backoff sleep, never a hang. Storage exceptions (IOException) are not caught
    /// here: the device entry (<see cref="Run"/>) catches everything and deep-sleeps, which restarts from Boot.
    /// </summary>
    public sealed class E2mApplication
    {
        /// <summary>CoAP + OSCORE octets around the SenML pack (header, token, OSCORE option ≤ 15, inner code, Uri-Path,
        /// Content-Format, markers, tag; RFC 7252 §3, RFC 8613 §6.1), rounded up.</summary>
        public const int RequestOverhead = 48;
        private const int MaxRebootsPerCycle = 2;

        private readonly FirmwareConfig _config;
        private readonly FirmwarePlatform _p;
        private readonly ICellularModem _modem;
        private readonly IRecordStore _store;
        private readonly IMonotonicClock _mono;
        private readonly ILog _log;
        private readonly DeviceState _state = new DeviceState();
        private int _abortStreak; // cycles aborted by an unexpected exception in a row (AbortBackoff)
        private readonly DeviceClock _clock;
        private readonly ReadingQueue _queue;
        private readonly CoapUdpClient _client;
        private readonly CoapMessageIdSource _ids;
        private readonly CoapTokenSource _tokens;
        private readonly KeyManager _keys;

        // upload scratch (preallocated: the protect/send path allocates nothing)
        private readonly byte[] _pack;
        private readonly SenmlBatchWriter _senml;
        private readonly SenmlRecord _record = new SenmlRecord();
        private readonly CoapMessage _request = new CoapMessage(8, 16);
        private readonly CoapMessage _inner = new CoapMessage(16, 0);
        private readonly OscoreExchange _oscore = new OscoreExchange();
        private readonly byte[] _tx = new byte[CoapUdpClient.MaxDatagram];
        private readonly byte[] _plain = new byte[CoapUdpClient.MaxDatagram];
        private readonly byte[] _entropy = new byte[2];
        private string[] _baseName;
        private byte[][] _baseNameKid;

        private AppState _current = AppState.Boot;
        private FirmwareError _lastError;
        private ModemError _lastModemError;
        private string _imsi;
        private int _uploadEmse;
        private int _rebootsThisCycle;
        private bool _rekeyedThisCycle;
        private bool _reattachedThisCycle;
        private int _parkedThisCycle;
        private int _acceptedMask;      // EMSEs that answered a verified 2.04 with the current key in this wake-up
        private int _deferredMask;      // EMSEs that answered 4.01 to a reused key nobody confirmed yet in this wake-up
        private int _droppedThisCycle;
        private DropReason _lastDropReason;
        private bool _failedThisCycle;
        private int _batchesSent;
        private int _sleepSeconds;

        /// <summary>Entry API: builds the application over its config and platform seams (validates the config).</summary>
        public E2mApplication(FirmwareConfig config, FirmwarePlatform platform)
        {
            if (config == null) throw new ArgumentNullException("config");
            if (platform == null || platform.Modem == null || platform.Store == null || platform.Crypto == null
                || platform.Clock == null || platform.Entropy == null || platform.Sleep == null || platform.Sensors == null)
            {
                throw new ArgumentException("platform: Modem, Store, Crypto, Clock, Entropy, Sleep and Sensors are required");
            }
            config.Validate();
            if (platform.Sensors.Length != config.Readings.Length) throw new ArgumentException("platform: one sensor per reading");
            _config = config;
            _p = platform;
            _modem = platform.Modem;
            _store = platform.Store;
            _mono = platform.Clock;
            _log = platform.Log;
            _clock = new DeviceClock(_mono);
            _queue = new ReadingQueue(_store, config);
            CoapTransmissionParameters tp = new CoapTransmissionParameters();
            tp.AckTimeoutMs = config.AckTimeoutMs;
            tp.MaxRetransmit = config.MaxRetransmit;
            tp.AckRandomFactorNumerator = config.AckRandomFactorNumerator;
            tp.AckRandomFactorDenominator = config.AckRandomFactorDenominator;
            _client = new CoapUdpClient(_modem, _mono, platform.Entropy, tp);
            _ids = new CoapMessageIdSource(platform.Entropy);
            _tokens = new CoapTokenSource(platform.Entropy);
            _keys = new KeyManager(config, _store, platform.Crypto, _modem, _client, _ids, _tokens, _state, _log);
            int budget = SenmlBatchWriter.PayloadBudget(config.DatagramSize, RequestOverhead);
            if (budget < 32) throw new ArgumentException("config: datagram too small");
            _pack = new byte[budget + SenmlBatchWriter.BufferSlack];
            _senml = new SenmlBatchWriter(_pack, 0, budget);
            _baseName = new string[config.Emses.Length];
            _baseNameKid = new byte[config.Emses.Length][];
            for (int i = 0; i < _baseNameKid.Length; i++) _baseNameKid[i] = new byte[8];
        }

        // ------------------------------------------------------------------ observable state (tests, logs)

        public AppState State { get { return _current; } }
        public FirmwareError LastError { get { return _lastError; } }
        public ModemError LastModemError { get { return _lastModemError; } }
        public DeviceState DeviceState { get { return _state; } }
        public ReadingQueue Queue { get { return _queue; } }
        public KeyManager Keys { get { return _keys; } }
        public DeviceClock Clock { get { return _clock; } }
        /// <summary>Deep sleep chosen at the end of the cycle (seconds).</summary>
        public int SleepSeconds { get { return _sleepSeconds; } }
        /// <summary>Batches acknowledged by an EMSE in this cycle.</summary>
        public int BatchesSent { get { return _batchesSent; } }
        public bool FailedThisCycle { get { return _failedThisCycle; } }
        /// <summary>Readings dropped in this wake-up (refused sample, permanent rejection, eviction for a refusing EMSE).</summary>
        public int DroppedThisCycle { get { return _droppedThisCycle; } }
        /// <summary>Reason of the last drop in this wake-up.</summary>
        public DropReason LastDropReason { get { return _lastDropReason; } }

        // ------------------------------------------------------------------ entry points

        /// <summary>
        /// Device entry: runs cycles forever. On the device <see cref="ISleep.DeepSleep"/> does not return (wake-up =
        /// reset = Main again); if it returns (host) the next cycle starts from Boot. Any exception (storage, driver
        /// bug) is logged and followed by a backoff deep sleep (<see cref="AbortBackoff"/>), never a hang.
        /// </summary>
        public void Run()
        {
            while (true)
            {
                try
                {
                    RunCycle();
                    _abortStreak = 0;
                }
                catch (Exception ex)
                {
                    if (_log != null && _log.IsEnabled(LogLevel.Error)) _log.Write(LogLevel.Error, "app", "cycle aborted: " + ex.Message);
                    _p.Sleep.DeepSleep(AbortBackoff());
                }
                _current = AppState.Boot;
            }
        }

        /// <summary>One wake cycle: steps from the current state until Sleep has been done. Returns the final state.</summary>
        public AppState RunCycle()
        {
            for (int guard = 0; guard < 64 && _current != AppState.Stopped; guard++)
            {
                Step();
            }
            return _current;
        }

        /// <summary>Runs one state's action under the supervisor and moves to the next state.</summary>
        public AppState Step()
        {
            AppState running = _current;
            long start = _mono.NowMilliseconds;
            AppState next;
            try
            {
                next = Execute(running);
            }
            catch (OscoreException ex)
            {
                // SSN exhausted (RFC 8613 §7.2.1), SSN reservation unreadable (App. B.1.1) or a context misuse: for the
                // first two forget the keys (and their SSN records), re-key next time
                if (ex.OscoreError == OscoreError.SsnExhausted || ex.OscoreError == OscoreError.SsnStateLost) _keys.InvalidateAll();
                next = Fail(FirmwareError.BadResponse);
            }
            if (!_failedThisCycle && running != AppState.Sleep && running != AppState.Stopped
                && _mono.NowMilliseconds - start > _config.StepBudgetMs)
            {
                next = Fail(FirmwareError.StepOverrun);
            }
            _current = next;
            return next;
        }

        private AppState Execute(AppState s)
        {
            switch (s)
            {
                case AppState.Boot: return DoBoot();
                case AppState.Sample: return DoSample();
                case AppState.PowerOn: return Modem(_modem.PowerOn(), AppState.Initialize, FirmwareError.PowerOnFailed);
                case AppState.Initialize: return Modem(_modem.Initialize(), AppState.SimReady, FirmwareError.ModemInitFailed);
                case AppState.SimReady: return Modem(_modem.WaitSimReady(_config.SimReadyTimeoutMs), AppState.Imsi, FirmwareError.SimNotReady);
                case AppState.Imsi:
                    {
                        string imsi;
                        ModemError e = _modem.ReadImsi(out imsi);
                        if (e == ModemError.Ok) _imsi = imsi;
                        return Modem(e, AppState.Register, FirmwareError.ImsiUnavailable);
                    }
                case AppState.Register: return DoRegister();
                case AppState.Pdp: return Modem(_modem.ActivatePdp(_config.Apn), AppState.NetworkTime, FirmwareError.PdpFailed);
                case AppState.NetworkTime: return DoNetworkTime();
                case AppState.Keys: return DoKeys();
                case AppState.Upload: return DoUpload();
                case AppState.Psm:
                    if (_config.PsmPeriodicTauSeconds > 0)
                    {
                        _lastModemError = _modem.RequestPsm(_config.PsmPeriodicTauSeconds, _config.PsmActiveTimeSeconds);
                    }
                    return AppState.Sleep;
                case AppState.PowerCycle: return DoPowerCycle();
                case AppState.Sleep: return DoSleep();
                default: return AppState.Stopped;
            }
        }

        // ------------------------------------------------------------------ states

        private AppState DoBoot()
        {
            _state.Load(_store, _config.StateRecordId);
            _state.Boots++;
            _queue.Mount();
            // wake-up = reset: the sleep we asked for has passed. After a power cut the saved clock may be older than
            // the newest reading: never resume below it (reading times stay unique per name).
            long resume = _state.DeviceMilliseconds + 1000L * _state.SleepSeconds;
            if (resume < (_queue.LatestTime + 1) * 1000) resume = (_queue.LatestTime + 1) * 1000;
            _clock.Resume(resume);
            _keys.Load();
            _rebootsThisCycle = 0;
            _rekeyedThisCycle = false;
            _reattachedThisCycle = false;
            _parkedThisCycle = 0;
            _acceptedMask = 0;
            _deferredMask = 0;
            _droppedThisCycle = 0;
            _lastDropReason = DropReason.None;
            _failedThisCycle = false;
            _batchesSent = 0;
            _uploadEmse = 0;
            _lastError = FirmwareError.None;
            return AppState.Sample;
        }

        private AppState DoSample()
        {
            long now = _clock.NowSeconds;
            if (now >= _state.NextSampleSeconds)
            {
                // absolute time fixed at sample time when known (stable across re-sends: the EMSE's duplicate key),
                // strictly after every reading already queued
                long unix = 0;
                if (_state.HasUnixOffset)
                {
                    unix = now + _state.UnixOffset;
                    if (unix <= _queue.LatestUnixTime) unix = _queue.LatestUnixTime + 1;
                }
                for (int i = 0; i < _config.Readings.Length; i++)
                {
                    ISensor sensor = _p.Sensors[i];
                    bool isPulse = _config.Readings[i].Source == SensorKinds.Pulse;
                    long total = 0;
                    if (isPulse && !_queue.TryGetLatest(i, out total)) total = _state.PulseTotal;
                    long mantissa;
                    if (!sensor.Sample(total, out mantissa)) continue;
                    long seq;
                    if (_queue.IsFull && _queue.TryEvictOldest(_keys.RefusingMask()))
                    {
                        // the oldest reading was pending only for EMSEs refusing the KID: give it up for them so the
                        // accepting EMSEs keep receiving (README "Queue rules")
                        Dropped(1, DropReason.EmseRefusesKey);
                    }
                    if (_queue.Append(i, now, unix, mantissa, out seq))   // durable before the reading counts as taken
                    {
                        sensor.Commit();
                        if (isPulse) _state.PulseTotal = mantissa;
                    }
                    else
                    {
                        Dropped(1, DropReason.QueueFull); // ring full: nothing overwritten; a pulse counter keeps counting
                    }
                }
                _state.NextSampleSeconds = now + _config.SampleIntervalSeconds;
                _state.CyclesSinceUpload++;
            }
            bool due;
            int pending = _queue.PendingCountExcept(_keys.RefusingMask()); // readings for refusing EMSEs wake nobody
            if (_state.ConsecutiveFailures > 0) due = now >= _state.NextAttemptSeconds;
            else due = _state.CyclesSinceUpload >= _config.UploadEveryCycles || pending * 2 >= _queue.Capacity
                || !_keys.AllUsable(now + _config.SampleIntervalSeconds);
            return due && (pending > 0 || !_keys.AllUsable(now)) ? AppState.PowerOn : AppState.Sleep;
        }

        private AppState DoRegister()
        {
            RegistrationInfo info;
            ModemError e;
            if (_config.Plmn != null)
            {
                e = _modem.SelectOperator(_config.Plmn); // device-config network.plmn: manual selection
                if (e != ModemError.Ok) return Modem(e, AppState.Pdp, FirmwareError.RegistrationFailed);
            }

            e = _modem.WaitRegistered(_config.RegistrationTimeoutMs, out info);
            if (e == ModemError.RegistrationDenied) { _lastModemError = e; return Fail(FirmwareError.RegistrationDenied); }
            if (e != ModemError.Ok) return Modem(e, AppState.Pdp, FirmwareError.RegistrationFailed);
            if (!_config.Policy.IsAllowed(info.AcT))
            {
                // DESIGN.md §5: the policy forbids this RAT/cipher: send nothing
                if (_log != null && _log.IsEnabled(LogLevel.Warning)) _log.Write(LogLevel.Warning, "app", "policy forbids AcT " + info.AcT.ToString());
                return Fail(FirmwareError.PolicyForbidsRat);
            }
            return AppState.Pdp;
        }

        private AppState DoNetworkTime()
        {
            NetworkTime t;
            if (_modem.ReadNetworkTime(out t) == ModemError.Ok && t.IsPlausible)
            {
                long unix = (t.ToUtc().Ticks - new DateTime(1970, 1, 1).Ticks) / TimeSpan.TicksPerSecond;
                long offset = unix - _clock.NowSeconds;
                if (!_state.HasUnixOffset)
                {
                    _state.UnixOffset = offset;
                    _state.HasUnixOffset = true;
                    _state.Save(_store, _config.StateRecordId); // durable before any reading is sent with it
                }
                else
                {
                    long delta = offset - _state.UnixOffset;
                    // The mapping stays fixed once known: times of queued readings are the EMSE's duplicate key. A device
                    // clock found behind (power cut, sleep overrun) is moved forward instead; one found ahead by more
                    // than 2 s cannot go back (monotonic), so the offset takes the correction.
                    if (delta > 2) _clock.Resume(_clock.NowMilliseconds + delta * 1000);
                    else if (delta < -2)
                    {
                        _state.UnixOffset = offset;
                        _state.Save(_store, _config.StateRecordId);
                    }
                }
            }
            return AppState.Keys; // no network time is not an error (DESIGN.md §7: relative times)
        }

        private AppState DoKeys()
        {
            FirmwareError e = _keys.Ensure(_clock.NowSeconds, _imsi);
            if (e == FirmwareError.ModemRebooted) return Rebooted();
            if (e == FirmwareError.StaleNetworkKey && !_reattachedThisCycle)
            {
                // DESIGN.md §3 network mode only: EF_KeysPS still holds the key already used (expired, or refused with
                // 4.01) and only a new PS AKA refreshes it. Detach by powering the modem off, attach again (the serving
                // node authenticates the attach), once per wake-up (found by the demo scenario "key expiry").
                _reattachedThisCycle = true;
                _modem.PowerOff();
                return AppState.PowerOn;
            }
            if (e != FirmwareError.None) return Fail(e);
            for (int i = 0; i < _baseName.Length; i++) _baseName[i] = BaseNameFor(i);
            return AppState.Upload;
        }

        private AppState DoUpload()
        {
            while (_uploadEmse < _config.Emses.Length)
            {
                int emse = _uploadEmse;
                if (_keys.IsRefusing(emse)) { _uploadEmse++; continue; } // refused this KID before: skipped until it changes
                FirmwareError e = UploadTo(emse);
                if (e == FirmwareError.EmseReplay)
                {
                    // RFC 8613 §7.4: this EMSE holds our key (it checked the PIV against the key's replay window), so the
                    // key is alive and this EMSE does not refuse it: nothing is persisted. UploadTo already sent the batch
                    // again with a fresh SSN and got the same answer: our sequence number is behind the EMSE's window
                    // (e.g. an SSN record older than the EMSE's state). A new key starts a new sequence, once per wake-up.
                    if (!_rekeyedThisCycle)
                    {
                        _rekeyedThisCycle = true;
                        _acceptedMask = 0; // acceptances were of the old KID: no evidence about the new one
                        _deferredMask = 0;
                        _uploadEmse = 0;
                        _keys.InvalidateAll();
                        return AppState.Keys;
                    }
                    _lastError = FirmwareError.EmseReplay;
                    _parkedThisCycle++;
                    _uploadEmse++;
                    continue;
                }
                if (e == FirmwareError.EmseUnauthorized)
                {
                    // DESIGN.md §4/§5: 4.01 = this EMSE has no key for our KID. If another EMSE accepted the same KID in
                    // this wake-up, the key is good and this EMSE refuses it (e.g. the subscription does not allow it):
                    // remember that durably and keep serving the others, no re-key. Otherwise decide after the other
                    // EMSEs were tried (found by the demo scenario "EMSE not allowed").
                    if ((_acceptedMask & ~(1 << emse)) != 0) Refuse(emse);
                    else _deferredMask |= 1 << emse;
                    _uploadEmse++;
                    continue;
                }
                if (e == FirmwareError.ModemRebooted) return Rebooted();
                if (e != FirmwareError.None) return Fail(e);
                _uploadEmse++;
            }
            if (_deferredMask != 0)
            {
                if (_acceptedMask != 0)
                {
                    // another EMSE accepted this KID: the deferred ones refuse it
                    for (int i = 0; i < _config.Emses.Length; i++) if ((_deferredMask & (1 << i)) != 0) Refuse(i);
                }
                else if (!_rekeyedThisCycle && !_keys.EstablishedThisWake)
                {
                    // nobody confirmed the reused key: unknown/expired at the EMKS → re-establish it, once per wake-up
                    _rekeyedThisCycle = true;
                    _deferredMask = 0;
                    _uploadEmse = 0;
                    _keys.InvalidateAll();
                    return AppState.Keys;
                }
                else
                {
                    // the key of this wake-up refused by every EMSE tried: no evidence that one EMSE alone refuses it,
                    // so nothing is persisted; readings stay queued, the cycle backs off (next wake-up decides again)
                    _lastError = FirmwareError.EmseUnauthorized;
                    _parkedThisCycle++;
                }
                _deferredMask = 0;
            }
            if (_parkedThisCycle > 0 && _batchesSent == 0) return Fail(_lastError); // nothing delivered: back off (EmseUnauthorized or EmseReplay)
            _state.CyclesSinceUpload = 0;
            _state.ConsecutiveFailures = 0;
            _state.NextAttemptSeconds = 0;
            return AppState.Psm;
        }

        /// <summary>EMSE <paramref name="emse"/> refuses the current KID: persisted, skipped until the KID changes.</summary>
        private void Refuse(int emse)
        {
            _keys.MarkRefusing(emse);
            _lastError = FirmwareError.EmseUnauthorized;
            _parkedThisCycle++;
            if (_log != null && _log.IsEnabled(LogLevel.Warning)) _log.Write(LogLevel.Warning, "app", "EMSE " + _config.Emses[emse].EmseId + " refuses this KID: skipped until the next key");
        }

        private void Dropped(int count, DropReason reason)
        {
            _state.DroppedReadings += (uint)count;
            _droppedThisCycle += count;
            _lastDropReason = reason;
            if (_log != null && _log.IsEnabled(LogLevel.Warning)) _log.Write(LogLevel.Warning, "app", "dropped " + count.ToString() + " reading(s), reason " + ((int)reason).ToString());
        }

        private AppState DoPowerCycle()
        {
            _modem.PowerOff(); // AT power-down with the driver's pin fallback
            IDigitalOutput pin = _p.ModemPowerEnable;
            if (pin != null)
            {
                pin.Write(true);
                if (_p.Delay != null) _p.Delay.Sleep(_config.HardResetPulseMs);
                pin.Write(false);
            }
            return AppState.Sleep;
        }

        /// <summary>Saves the state with the clock and the sleep about to start (the next Boot resumes the clock from them).</summary>
        private void SaveForSleep(int seconds)
        {
            _state.DeviceMilliseconds = _clock.NowMilliseconds;
            _state.SleepSeconds = seconds;
            _state.Save(_store, _config.StateRecordId);
        }

        private AppState DoSleep()
        {
            long now = _clock.NowSeconds;
            long until = _state.NextSampleSeconds;
            if (_state.ConsecutiveFailures > 0 && _state.NextAttemptSeconds < until && _queue.PendingCountExcept(_keys.RefusingMask()) > 0) until = _state.NextAttemptSeconds;
            long d = until - now;
            if (d < 1) d = 1;
            if (d > 0x7FFFFFFF) d = 0x7FFFFFFF;
            _sleepSeconds = (int)d;
            SaveForSleep(_sleepSeconds);                 // everything that must survive is durable before the sleep
            _p.Sleep.DeepSleep(_sleepSeconds);           // device: does not return
            return AppState.Stopped;
        }

        // ------------------------------------------------------------------ supervisor helpers

        private AppState Modem(ModemError e, AppState onOk, FirmwareError onError)
        {
            _lastModemError = e;
            if (e == ModemError.Ok) return onOk;
            if (e == ModemError.Rebooted) return Rebooted();
            return Fail(onError);
        }

        private AppState Rebooted()
        {
            _lastModemError = ModemError.Rebooted;
            _rebootsThisCycle++;
            if (_rebootsThisCycle > MaxRebootsPerCycle) return Fail(FirmwareError.ModemRebooted);
            // The driver needs its init script again; the queue is untouched. Through PowerOn: the module may still be
            // booting (BG95 answers ERROR between "RDY" and "APP RDY", modems.md §1.2), and PowerOn with STATUS on
            // resynchronises with paced AT probes first (found by the demo scenario "modem reboot during an upload").
            return AppState.PowerOn;
        }

        /// <summary>
        /// Records the n-th consecutive failure and schedules the retry after BackoffBaseSeconds × 2^(n−1), at most
        /// BackoffMaxSeconds, plus up to 25 % jitter from the entropy source (a fleet that failed together does not retry
        /// together). Returns the wait in seconds.
        /// </summary>
        private long ScheduleRetry(int n)
        {
            _state.ConsecutiveFailures = n;
            long backoff = _config.BackoffBaseSeconds;
            for (int i = 1; i < n && backoff < _config.BackoffMaxSeconds; i++) backoff *= 2;
            if (backoff > _config.BackoffMaxSeconds) backoff = _config.BackoffMaxSeconds;
            _p.Entropy.Fill(_entropy, 0, 2);
            long jitter = (((_entropy[0] << 8) | _entropy[1]) * (backoff / 4 + 1)) >> 16; // up to +25 %: no synchronised retries
            _state.NextAttemptSeconds = _clock.NowSeconds + backoff + jitter;
            return backoff + jitter;
        }

        /// <summary>
        /// An unexpected exception ended the cycle (storage, a driver bug): it counts as a failure and the deep sleep backs
        /// off like one, so a fault that repeats at every wake-up does not wake the device every BackoffBaseSeconds and
        /// drain its battery. The count is saved with the state where the store still works (on the device a wake-up is a
        /// reset); where the store is what fails, the count lives only as long as this instance (host: Run's loop).
        /// </summary>
        private int AbortBackoff()
        {
            _abortStreak++;
            int n = _state.ConsecutiveFailures + 1;
            if (n < _abortStreak) n = _abortStreak;
            long backoff = ScheduleRetry(n);
            if (backoff > 0x7FFFFFFF) backoff = 0x7FFFFFFF;
            try
            {
                SaveForSleep((int)backoff);
            }
            catch (Exception)
            {
                // the store may be what failed: the count stays in memory
            }
            return (int)backoff;
        }

        /// <summary>Records the failure, schedules the retry with exponential backoff + jitter, power-cycles when due.</summary>
        private AppState Fail(FirmwareError e)
        {
            _lastError = e;
            _failedThisCycle = true;
            int n = _state.ConsecutiveFailures + 1;
            ScheduleRetry(n);
            if (_log != null && _log.IsEnabled(LogLevel.Warning)) _log.Write(LogLevel.Warning, "app", FirmwareErrors.Describe(e));
            if (_config.PowerCycleAfterFailures > 0 && n % _config.PowerCycleAfterFailures == 0) return AppState.PowerCycle;
            return AppState.Sleep;
        }

        // ------------------------------------------------------------------ upload (DESIGN.md §4)

        private FirmwareError UploadTo(int emse)
        {
            if (!_queue.HasPending(emse)) return FirmwareError.None;
            EmseConfig ec = _config.Emses[emse];
            int socket;
            ModemError me = _modem.OpenUdpSocket(ec.Host, ec.Port, out socket);
            _lastModemError = me;
            if (me != ModemError.Ok) return me == ModemError.Rebooted ? FirmwareError.ModemRebooted : FirmwareError.SocketFailed;
            try
            {
                bool replayRetried = false;
                for (int b = 0; b < _config.MaxBatchesPerCycle && _queue.HasPending(emse); b++)
                {
                    FirmwareError e = SendBatch(emse, socket);
                    if (e == FirmwareError.EmseReplay && !replayRetried)
                    {
                        // RFC 8613 §7.4: that PIV is spent at the EMSE (e.g. our retransmission came after its exchange
                        // lifetime). The batch is still queued: send it again now, protected under the next SSN.
                        replayRetried = true;
                        b--;
                        continue;
                    }
                    if (e != FirmwareError.None) return e;
                }
                return FirmwareError.None;
            }
            finally
            {
                _modem.CloseSocket(socket);
            }
        }

        /// <summary>One SenML batch → CoAP POST /r → OSCORE → CON; the queue cursor moves only on a verified 2.04.</summary>
        internal FirmwareError SendBatch(int emse, int socket)
        {
            long now = _clock.NowSeconds;
            long batchEnd;
            int count = BuildBatch(emse, now, out batchEnd);
            int packLength = _senml.Finish();
            if (count == 0)
            {
                _queue.Acknowledge(emse, batchEnd); // only corrupt/unrouted records in the range
                return FirmwareError.None;
            }

            OscoreSecurityContext ctx = _keys.GetContext(emse);
            _request.Reset();
            _request.Type = CoapType.Confirmable;
            _request.Code = CoapCode.Post;
            _request.MessageId = _ids.Next();
            _tokens.Assign(_request);
            _request.AddUriPath("r");
            _request.SetContentFormat(CoapContentFormat.SenmlCbor); // RFC 8428 §12.3 (112)
            _request.SetPayload(_pack, 0, packLength);
            int len = ctx.ProtectRequest(_request, _tx, 0, _oscore); // RFC 8613 §8.1; SSN durable before use (App. B.1.1)

            ExchangeOutcome o = _client.Exchange(socket, _tx, len, _request.MessageId, _request.Token, _request.TokenLength);
            if (o == ExchangeOutcome.ModemFailure)
            {
                _lastModemError = _client.LastModemError;
                return _lastModemError == ModemError.Rebooted ? FirmwareError.ModemRebooted : FirmwareError.SendFailed;
            }
            if (o != ExchangeOutcome.Response) return FirmwareError.UploadTimeout;

            CoapMessage outer = _client.Response;
            if (outer.FindOption(CoapOption.Oscore) < 0)
            {
                // unprotected error from the EMSE (DESIGN.md §4): 4.01 = unknown/expired KID, or replay (its diagnostic
                // payload "Replay detected", RFC 8613 §7.4 and §8.2 step 3: the EMSE found a context for our KID)
                if (outer.Code == CoapCode.Unauthorized) return IsReplayDiagnostic(outer) ? FirmwareError.EmseReplay : FirmwareError.EmseUnauthorized;
                if (CoapCode.ClassOf(outer.Code) == 5) return FirmwareError.EmseServerError;
                return FirmwareError.EmseRejected;
            }
            try
            {
                ctx.UnprotectResponse(_client.ReceiveBuffer, 0, _client.ReceiveLength, _oscore, _plain, 0, _inner); // §8.4
            }
            catch (MalformedInputException)
            {
                return FirmwareError.BadResponse; // OscoreException too: forged/garbled answer, the batch stays queued
            }
            byte code = _inner.Code;
            if (code == CoapCode.Changed || code == CoapCode.Created)
            {
                _queue.Acknowledge(emse, batchEnd); // stored by the EMSE: drop from the queue
                _batchesSent++;
                _acceptedMask |= 1 << emse;
                return FirmwareError.None;
            }
            if (code == CoapCode.Unauthorized) return FirmwareError.EmseUnauthorized;
            if (code == CoapCode.BadRequest || code == CoapCode.BadOption || code == CoapCode.RequestEntityTooLarge
                || code == CoapCode.UnsupportedContentFormat)
            {
                // permanent rejection of this content: re-sending cannot succeed and would block the queue forever
                _queue.Acknowledge(emse, batchEnd);
                Dropped(count, DropReason.PermanentRejection);
                return FirmwareError.None;
            }
            return CoapCode.ClassOf(code) == 5 ? FirmwareError.EmseServerError : FirmwareError.EmseRejected;
        }

        /// <summary>The diagnostic payload of a 4.01 for a replayed PIV (RFC 8613 §7.4), as the EMSE sends it (UTF-8).</summary>
        private static readonly byte[] ReplayDiagnostic = Utf8Bytes(OscoreException.DiagnosticFor(OscoreError.ReplayDetected));

        private static byte[] Utf8Bytes(string s)
        {
            var b = new byte[Utf8.GetByteCount(s)];
            Utf8.GetBytes(s, b, 0);
            return b;
        }

        /// <summary>True when the (unprotected) response's payload is exactly "Replay detected".</summary>
        private static bool IsReplayDiagnostic(CoapMessage m)
        {
            if (m.PayloadLength != ReplayDiagnostic.Length) return false;
            byte[] buffer = m.PayloadBuffer;
            int offset = m.PayloadOffset;
            for (int i = 0; i < ReplayDiagnostic.Length; i++)
            {
                if (buffer[offset + i] != ReplayDiagnostic[i]) return false;
            }
            return true;
        }

        /// <summary>Fills the SenML writer with the EMSE's pending readings in seq order; batchEnd = the cursor after a 2.04.</summary>
        private int BuildBatch(int emse, long now, out long batchEnd)
        {
            bool absolute = _state.HasUnixOffset;
            long bt = absolute ? now + _state.UnixOffset : 0;
            _senml.Begin(_baseName[emse], absolute, bt);
            long next = _queue.NextSequence;
            long s = _queue.FirstPending(emse, _queue.GetCursor(emse));
            int count = 0;
            while (s < next && count < _config.MaxBatchRecords)
            {
                int reading;
                long at, unix, mantissa;
                if (_queue.TryGet(emse, s, out reading, out at, out unix, out mantissa))
                {
                    ReadingConfig rc = _config.Readings[reading];
                    long t;
                    if (absolute) t = (unix > 0 ? unix : at + _state.UnixOffset) - bt; // relative to bt (RFC 8428 §4.5.3)
                    else t = at - now;                                                  // relative to arrival: negative = past
                    _record.Set(rc.Name, rc.Unit, mantissa, rc.Exponent, true, t);
                    if (!_senml.TryAdd(_record)) break;
                    count++;
                }
                s = _queue.FirstPending(emse, s + 1);
            }
            batchEnd = s;
            return count;
        }

        private string BaseNameFor(int emse)
        {
            if (_config.DeviceName != null) return _config.DeviceName;
            byte[] kid = _keys.GetKid(emse);
            if (_baseName[emse] != null && SameKid(_baseNameKid[emse], kid)) return _baseName[emse]; // no allocation per cycle
            // "urn:dev:kid:<hex>:" (RFC 8428 §4.5.1 characters; no IMSI on the wire)
            string hex = "";
            for (int i = 0; i < kid.Length; i++) hex += HexDigit(kid[i] >> 4).ToString() + HexDigit(kid[i] & 15).ToString();
            Array.Copy(kid, 0, _baseNameKid[emse], 0, 8);
            return "urn:dev:kid:" + hex + ":";
        }

        private static bool SameKid(byte[] a, byte[] b)
        {
            for (int i = 0; i < 8; i++) if (a[i] != b[i]) return false;
            return true;
        }

        private static char HexDigit(int v) { return (char)(v < 10 ? '0' + v : 'a' + v - 10); }
    }
}

using System;
using System.IO;
using System.Net;
using E2m.Firmware;
using E2m.Hal;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Drivers;
using E2m.ModemSim.Faults;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Transport;
using E2m.ModemSim.Usim;

namespace E2m.Demo
{
    /// <summary>
    /// One simulated device of the demo: a SimulatedUsim with the subscriber's K/OPc, a SimulatedModem (serving node =
    /// the shared ServingNode asking the real HSS; UDP bridged to the real EMSE/EMKS sockets) behind the deterministic
    /// in-process link, the firmware's own driver (Bg9xModem/SaraR4Modem over its AtChannel) and the firmware application
    /// (E2mApplication) on the host HAL. Device time is a FakeClock: deep sleep, modem delays and CoAP timers run
    /// accelerated; only the servers' answers take real time.
    /// </summary>
    public sealed class DemoDevice : IDisposable
    {
        private readonly FakeClock _clock = new(0);
        private readonly SimulatedModem _modem;
        private readonly FirmwarePlatform _platform;
        private readonly StoppableSensor[] _sensors;
        private E2mApplication? _app;

        public DemoDevice(int index, DemoSubscriber subscriber, FirmwareConfig config, ModemDialect dialect, SimRat rat,
            IServingNetwork network, FaultPlan faults, SharedPcap? pcap, TextWriter? atLog, ILog? firmwareLog, Action<UsimProfile>? usim = null)
        {
            Index = index;
            Name = "dev" + (index + 1).ToString("D2", System.Globalization.CultureInfo.InvariantCulture);
            Subscriber = subscriber;
            Config = config;
            DeviceAddress = IPAddress.Parse("10.45.0." + (2 + index % 250).ToString(System.Globalization.CultureInfo.InvariantCulture));
            var profile = new UsimProfile { K = subscriber.K, Opc = subscriber.Opc, Imsi = subscriber.Imsi };
            usim?.Invoke(profile); // scenario tests: e.g. a card whose SQN is ahead of the HSS
            var card = new SimulatedUsim(profile);
            var options = new ModemOptions
            {
                Rat = rat,
                DeviceAddress = DeviceAddress,
                NetworkTimeAtClockZero = DateTimeOffset.UtcNow,
                // While a bridged socket is open, an idle read of the AT channel (200 ms device time per poll slice) first waits this
                // long in real time for a datagram: device time then runs at about 2x real time, so a real server has ~2 s
                // of real time to answer before the demo's 4 s ACK_TIMEOUT fires (DemoRunner.DeviceConfig).
                RealIoWaitMs = 100,
                Imei = ModemOptions.ImeiWithCheckDigit("356938035" + (64300 + index).ToString("D5", System.Globalization.CultureInfo.InvariantCulture)),
            };
            Faults = faults;
            _modem = new SimulatedModem(dialect, card, _clock, options, network) { Faults = faults };
            Trace = new DeviceTrace(Name, DeviceAddress, pcap, atLog);
            _modem.AddTrace(Trace);
            var powerKey = new SimulatedPin("PWRKEY", _clock);
            var status = new ModemStatusPin(_modem);
            _modem.AttachPins(powerKey);
            var link = new InProcessModemLink(_modem, _clock);
            var channel = new AtChannel(link, _clock, _clock);
            ICellularModem driver = ModemModels.Create(dialect.Name, channel, _clock, _clock, powerKey, status);
            Recorder = new DeviceRecorder(new InMemoryRecordStore(256, 255), config);
            _sensors = new StoppableSensor[config.Readings.Length];
            for (int i = 0; i < _sensors.Length; i++)
            {
                _sensors[i] = new StoppableSensor(new SimulatedSensor((uint)(index * 31 + i + 1), 200, 0, 100000, 5));
            }

            _platform = new FirmwarePlatform
            {
                Modem = driver,
                Store = Recorder,
                Crypto = new PlatformCryptoProvider(),
                Clock = _clock,
                Delay = _clock,
                Entropy = new SystemEntropySource(),
                Sleep = new SimulatedSleep(_clock),
                Sensors = _sensors,
                Log = firmwareLog,
            };
        }

        public int Index { get; }

        public string Name { get; }

        public DemoSubscriber Subscriber { get; }

        public FirmwareConfig Config { get; }

        public IPAddress DeviceAddress { get; }

        public DeviceTrace Trace { get; }

        /// <summary>The modem's fault plan (Injected = faults that actually happened).</summary>
        public FaultPlan Faults { get; }

        public DeviceRecorder Recorder { get; }

        /// <summary>The simulated modem (scenario tests add traces or timed faults).</summary>
        public SimulatedModem Modem => _modem;

        /// <summary>The application instance of the last cycle (null before the first).</summary>
        public E2mApplication? App => _app;

        public int CyclesRun { get; private set; }

        public int FailedCycles { get; private set; }

        /// <summary>Current state (updated after every step; read by the progress printer).</summary>
        public volatile string StateText = "Boot";

        public volatile string KeyModeText = "-";

        public volatile string KidText = "-";

        public volatile string LastErrorText = "";

        public volatile int Pending;

        public long DeviceSeconds => _clock.NowMilliseconds / 1000;

        /// <summary>Stops sampling (the drain phase: pending readings are still uploaded).</summary>
        public void StopSampling()
        {
            foreach (StoppableSensor s in _sensors)
            {
                s.Stopped = true;
            }
        }

        /// <summary>One wake-up: a new application instance over the same flash (wake-up = reset), stepped until it sleeps.</summary>
        public void RunCycle()
        {
            CyclesRun++;
            try
            {
                _app = new E2mApplication(Config, _platform);
                for (int guard = 0; guard < 64 && _app.State != AppState.Stopped; guard++)
                {
                    AppState s = _app.Step();
                    Observe(_app, s);
                }

                if (_app.FailedThisCycle)
                {
                    FailedCycles++;
                    LastErrorText = FirmwareErrors.Describe(_app.LastError) + (_app.LastModemError != ModemError.Ok ? " (modem " + _app.LastModemError + ")" : "");
                }
                else
                {
                    LastErrorText = "";
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // the device entry (E2mApplication.Run) does the same: log, back-off deep sleep, restart from Boot
                FailedCycles++;
                LastErrorText = "cycle aborted: " + e.GetType().Name + ": " + e.Message;
                _platform.Sleep.DeepSleep(Config.BackoffBaseSeconds);
            }
        }

        private void Observe(E2mApplication app, AppState s)
        {
            StateText = s.ToString();
            Pending = app.Queue.PendingCount;
            if (app.Keys.IsValid(0))
            {
                KeyModeText = app.Keys.GetOrigin(0) switch
                {
                    KeyOrigins.Network => "network",
                    KeyOrigins.Home => "home",
                    _ => "-",
                };
                KidText = Convert.ToHexStringLower(app.Keys.GetKid(0));
            }
        }

        public int PendingReadings => _app?.Queue.PendingCount ?? 0;

        public void Dispose() => _modem.Dispose();
    }
}

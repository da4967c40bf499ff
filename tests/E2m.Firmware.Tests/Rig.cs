using E2m.Hal.Host;
using E2m.Hal;

namespace E2m.Firmware.Tests
{
    /// <summary>
    /// A complete host set-up: fake clock, flash (InMemoryRecordStore with power-cut hook), fake network with one or more
    /// EMSEs, scripted modem, simulated deep sleep and sensors. <see cref="Cycle"/> = one wake-up: a NEW application
    /// instance over the same flash (deep-sleep wake-up is a reset), run until it has gone to sleep.
    /// </summary>
    /// <summary>
    /// Delegating IRecordStore that records every queue record that became durable (also when the power cut hit right
    /// after the commit): the ground truth of the readings taken.
    /// </summary>
    public sealed class SpyStore : IRecordStore
    {
        private readonly InMemoryRecordStore _inner;
        public int QueueFirst = 32, QueueLast = 255;
        public List<(int Reading, long DeviceSeconds, long Unix, long Mantissa, uint Seq)> Taken { get; } = new();

        public SpyStore(InMemoryRecordStore inner) { _inner = inner; }
        public int MaxRecordSize => _inner.MaxRecordSize;
        public int MaxRecordId => _inner.MaxRecordId;
        public int Read(int recordId, byte[] buffer, int offset, int count) => _inner.Read(recordId, buffer, offset, count);
        public void Delete(int recordId) => _inner.Delete(recordId);

        /// <summary>Bytes allocated inside the host store (its copy of each record), not by the device code.</summary>
        public long AllocatedBytes;

        public void Write(int recordId, byte[] data, int offset, int count)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                _inner.Write(recordId, data, offset, count);
            }
            catch (PowerCutException e) when (e.Point == PowerCutPoint.AfterDurable)
            {
                Note(recordId, data, offset);
                throw;
            }
            Note(recordId, data, offset);
            AllocatedBytes += GC.GetAllocatedBytesForCurrentThread() - before;
        }

        private void Note(int recordId, byte[] d, int o)
        {
            if (recordId < QueueFirst || recordId > QueueLast || d[o] != 0x51) return;
            Taken.Add((d[o + 5], RecordCodec.GetInt64(d, o + 7), RecordCodec.GetInt64(d, o + 23), RecordCodec.GetInt64(d, o + 15), RecordCodec.GetUInt32(d, o + 1)));
        }
    }

    public sealed class Rig
    {
        public const string EmseHostA = "10.0.0.2", EmseHostB = "10.0.0.3";
        public int Seed { get; }
        public FakeClock Clock { get; } = new();
        public InMemoryRecordStore Store { get; } = new(256, 255);
        public FakeNetwork Net { get; }
        public ScriptedModem Modem { get; }
        public SimulatedSleep Sleep { get; }
        public FirmwareConfig Config { get; }
        public ISensor[] Sensors { get; set; }
        public SeededEntropy Entropy { get; }
        public SimulatedPin PowerPin { get; }
        public SpyStore Spy { get; }
        public E2mApplication? Last { get; private set; }
        public int Boots { get; private set; }

        public Rig(int seed = 1, int emses = 1, int keyMode = KeyModes.HomeOnly)
        {
            Seed = seed;
            Net = new FakeNetwork(Clock, seed);
            Modem = new ScriptedModem(Clock, Net);
            Sleep = new SimulatedSleep(Clock);
            Entropy = new SeededEntropy(seed);
            PowerPin = new SimulatedPin("MODEM_EN", Clock);
            Spy = new SpyStore(Store);
            Net.AddEmse("emse.example.org", EmseHostA);
            var emseConfigs = new List<EmseConfig> { new EmseConfig("emse.example.org", EmseHostA, 5683) };
            if (emses > 1)
            {
                Net.AddEmse("emse2.example.net", EmseHostB);
                emseConfigs.Add(new EmseConfig("emse2.example.net", EmseHostB, 5683));
            }
            Config = new FirmwareConfig
            {
                DeviceName = "urn:dev:meter1:",
                KeyMode = keyMode,
                EmksHost = FakeNetwork.EmksHost,
                EmksPort = FakeNetwork.EmksPort,
                Emses = emseConfigs.ToArray(),
                Readings = emses > 1
                    ? new[]
                    {
                        new ReadingConfig("temp", "Cel", -1, 1, SensorKinds.Simulated),
                        new ReadingConfig("energy", "Wh", 0, 2, SensorKinds.Simulated),
                        new ReadingConfig("battery", "%EL", 0, 3, SensorKinds.Simulated),
                    }
                    : new[]
                    {
                        new ReadingConfig("temp", "Cel", -1, 1, SensorKinds.Simulated),
                        new ReadingConfig("energy", "Wh", 0, 1, SensorKinds.Simulated),
                    },
                SampleIntervalSeconds = 900,
                UploadEveryCycles = 1,
                QueueCapacity = 32,
            };
            Sensors = Config.Readings.Select((r, i) => (ISensor)new SimulatedSensor((uint)(seed * 31 + i + 1), 200, 0, 100000, 5)).ToArray();
        }

        public FirmwarePlatform Platform() => new()
        {
            Modem = Modem,
            Store = Spy,
            Crypto = Net.Crypto,
            Clock = Clock,
            Delay = Clock,
            Entropy = Entropy,
            Sleep = Sleep,
            Sensors = Sensors,
            ModemPowerEnable = PowerPin,
        };

        public E2mApplication NewApp()
        {
            Boots++;
            Last = new E2mApplication(Config, Platform());
            return Last;
        }

        /// <summary>One wake-up cycle on a fresh application (reset semantics).</summary>
        public E2mApplication Cycle()
        {
            E2mApplication app = NewApp();
            AppState s = app.RunCycle();
            Assert.True(s == AppState.Stopped, "cycle did not reach sleep (seed " + Seed + "), state " + s);
            return app;
        }

        /// <summary>Steps a fresh application and records the states it went through.</summary>
        public List<AppState> Trace(out E2mApplication app)
        {
            app = NewApp();
            var states = new List<AppState> { app.State };
            for (int i = 0; i < 64 && app.State != AppState.Stopped; i++) states.Add(app.Step());
            return states;
        }

        public FakeEmse EmseA => Net.Emses[EmseHostA + ":5683"];
        public FakeEmse EmseB => Net.Emses[EmseHostB + ":5683"];
    }
}

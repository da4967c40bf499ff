using System;
using System.Device.Gpio;
using System.Threading;
using E2m.Crypto;
using E2m.Firmware;
using E2m.Firmware.Generated;
using E2m.Hal;
using E2m.Hal.NanoFramework;
using E2m.Modem.At;
using E2m.Modem.Drivers;

namespace E2m.Firmware.Device
{
    /// <summary>
    /// nanoFramework entry point (DESIGN.md §7): builds the device adapters (hal/E2m.Hal.NanoFramework) from the generated
    /// constants (Generated/DeviceConfig.g.cs, `e2m config gen device-config.json --out firmware/E2m.Firmware.Device/Generated`),
    /// maps those constants onto the application's <see cref="FirmwareConfig"/> and runs <see cref="E2mApplication"/>, which
    /// never returns: every cycle ends in deep sleep (wake-up = reset = Main again).
    /// Board: ESP32 by default; the .nfproj property E2mBoard=stm32 defines E2M_STM32 and swaps the board adapters.
    /// </summary>
    public static class Program
    {
        /// <summary>Largest record the application writes (device state: 68 octets + CRC) with headroom.</summary>
        private const int MaxRecordSize = 96;

        /// <summary>Record ids 0..127 cover the application's layout (queue slots start at 32, FirmwareConfig).</summary>
        private const int MaxRecordId = 127;

        public static void Main()
        {
            var log = new ConsoleLog(LogLevel.Info);
            try
            {
                FirmwareConfig config = BuildConfig();
                FirmwarePlatform platform = BuildPlatform(config, log);
                new E2mApplication(config, platform).Run();
            }
            catch (Exception ex)
            {
                // configuration/wiring error: nothing to retry; keep the message visible on the debug port
                log.Write(LogLevel.Error, "main", "start-up failed: " + ex.Message);
                Thread.Sleep(Timeout.Infinite);
            }
        }

        /// <summary>DeviceConfig (generated constants) → FirmwareConfig (the application's plain settings).</summary>
        public static FirmwareConfig BuildConfig()
        {
            var c = new FirmwareConfig();
            c.Apn = DeviceConfig.Apn;
            c.Plmn = DeviceConfig.Plmn.Length > 0 ? DeviceConfig.Plmn : null; // "" = automatic network selection
            c.KeyMode = DeviceConfig.KeyMode == DeviceConfig.KeyModeHome ? KeyModes.HomeOnly
                : DeviceConfig.KeyModeFallback == DeviceConfig.KeyModeHome ? KeyModes.Auto : KeyModes.NetworkOnly;
            c.EmksHost = DeviceConfig.EmksHost;
            c.EmksPort = DeviceConfig.EmksPort;

            c.Emses = new EmseConfig[DeviceConfig.EmseCount];
            for (int i = 0; i < DeviceConfig.EmseCount; i++)
            {
                var e = new EmseConfig(DeviceConfig.EmseIdTexts[i], DeviceConfig.EmseHosts[i], DeviceConfig.EmsePorts[i]);
                e.EmseIdUtf8 = DeviceConfig.EmseIds[i];
                c.Emses[i] = e;
            }

            c.Readings = BuildReadings();
            c.SampleIntervalSeconds = DeviceConfig.SamplingIntervalSeconds;
            c.UploadEveryCycles = (DeviceConfig.UploadIntervalSeconds + DeviceConfig.SamplingIntervalSeconds - 1) / DeviceConfig.SamplingIntervalSeconds;
            c.DatagramSize = DeviceConfig.MaxDatagram;
            c.AckTimeoutMs = DeviceConfig.CoapAckTimeoutMs;
            c.MaxRetransmit = DeviceConfig.CoapMaxRetransmit;
            c.AckRandomFactorNumerator = DeviceConfig.CoapAckRandomFactorNumerator;
            c.AckRandomFactorDenominator = DeviceConfig.CoapAckRandomFactorDenominator;
            c.MaxBatchRecords = DeviceConfig.MaxBatchRecords;
            c.RekeyMarginSeconds = DeviceConfig.RekeyBeforeExpirySeconds;
            c.PsmPeriodicTauSeconds = DeviceConfig.PsmEnabled ? DeviceConfig.PsmPeriodicTauSeconds : 0;
            c.PsmActiveTimeSeconds = DeviceConfig.PsmEnabled ? DeviceConfig.PsmActiveTimeSeconds : 0;
            c.Policy.AllowedAcTMask = AllowedAcTMask();
            c.Policy.MinimumGea = DeviceConfig.MinimumGea;
            return c;
        }

        /// <summary>
        /// Readings with a device sensor: "energy" (Wh from the meter's pulses; `e2m config check` guarantees pulsesPerKwh =
        /// 10^k, so Wh = pulses x 10^(3-k)) and "pulses" (raw count). "power" and "rsrp" have no device sensor yet: they are
        /// skipped (logged at start-up by <see cref="BuildPlatform"/>).
        /// </summary>
        private static ReadingConfig[] BuildReadings()
        {
            int energyMask = MaskFor(DeviceConfig.ReadingEnergy);
            int pulsesMask = MaskFor(DeviceConfig.ReadingPulses);
            int count = (energyMask != 0 ? 1 : 0) + (pulsesMask != 0 ? 1 : 0);
            var readings = new ReadingConfig[count];
            int i = 0;
            if (energyMask != 0)
            {
                int k = 0;
                for (int p = DeviceConfig.PulsesPerKwh; p >= 10; p /= 10)
                {
                    k++;
                }

                readings[i++] = new ReadingConfig("energy", "Wh", 3 - k, energyMask, SensorKinds.Pulse); // RFC 8428 §12.1 unit Wh
            }

            if (pulsesMask != 0)
            {
                readings[i++] = new ReadingConfig("pulses", null, 0, pulsesMask, SensorKinds.Pulse);
            }

            return readings;
        }

        /// <summary>Bit i set when EMSE i receives <paramref name="reading"/> (DeviceConfig.Reading* flag).</summary>
        private static int MaskFor(int reading)
        {
            int mask = 0;
            for (int i = 0; i < DeviceConfig.EmseCount; i++)
            {
                if ((DeviceConfig.EmseReadings[i] & reading) != 0)
                {
                    mask |= 1 << i;
                }
            }

            return mask;
        }

        /// <summary>TS 27.007 &lt;AcT&gt; values the policy allows: configured RATs not below the minimum RAT (DESIGN.md §5).</summary>
        private static int AllowedAcTMask() => AccessPolicy.AllowedAcTMaskFor(DeviceConfig.Rats, DeviceConfig.MinimumRat);

        /// <summary>The device adapters behind the application's seams (hal/README.md).</summary>
        public static FirmwarePlatform BuildPlatform(FirmwareConfig config, ILog log)
        {
            int routed = 0;
            for (int i = 0; i < DeviceConfig.EmseCount; i++)
            {
                routed |= DeviceConfig.EmseReadings[i];
            }

            if ((routed & (DeviceConfig.ReadingPower | DeviceConfig.ReadingRsrp)) != 0)
            {
                log.Write(LogLevel.Warning, "main", "readings power/rsrp have no device sensor yet: not sent");
            }

            var gpio = new GpioController();
            var clock = new TickCountClock();
            var delay = new ThreadDelay();

#if E2M_STM32
            // STM32 (ChibiOS): COMn = USARTn with pins fixed by the nanoCLR image.
            ICryptoProvider crypto = new PortableCryptoProvider();   // ST_NUCLEO144_F746ZG has no native crypto
            ISleep sleep = new RebootSleep();                        // Standby + RTC wake-up: not implemented (README)
            // No file system on F746ZG: the RTC backup registers (128 octets) hold a couple of SSN-sized records, not the
            // application's queue; E2mApplication rejects this store at start-up ("records too large"): README "Device build".
            IRecordStore store = new BackupMemoryRecordStore(28);
#else
            Esp32UartPins.Route(DeviceConfig.UartPort, DeviceConfig.UartTxPin, DeviceConfig.UartRxPin);
            ICryptoProvider crypto = new NativeCryptoProvider();
            ISleep sleep = new Esp32DeepSleep();
            IRecordStore store = new LittleFsRecordStore("I:\\", MaxRecordSize, MaxRecordId);
#endif

            var transport = new SerialPortTransport(DeviceConfig.UartPort, DeviceConfig.UartBaud, SerialPortTransport.DefaultReadBufferSize);
            var channel = new AtChannel(transport, clock, delay, log, AtChannel.DefaultMaxLineLength);
            var pwrKey = new GpioDigitalOutput(gpio, DeviceConfig.PwrkeyPin, DeviceConfig.OutputsInverted);
            var reset = new GpioDigitalOutput(gpio, DeviceConfig.ResetPin, DeviceConfig.OutputsInverted);
            var status = new GpioDigitalInput(gpio, DeviceConfig.StatusPin, PinMode.Input, false, 0);
            ICellularModem modem = DeviceConfig.ModemModel == DeviceConfig.ModemBg95 || DeviceConfig.ModemModel == DeviceConfig.ModemBg96
                ? (ICellularModem)new Bg9xModem(channel, clock, delay, pwrKey, status)
                : DeviceConfig.ModemModel == DeviceConfig.ModemSaraR5
                    ? (ICellularModem)new SaraR5Modem(channel, clock, delay, pwrKey, status) // +UPSD PDP, R5 timings
                    : new SaraR4Modem(channel, clock, delay, pwrKey, status); // SARA-R410M

            // the meter's S0/open-collector pulse output: pull-up, count falling edges, 5 ms debounce
            var pulseInput = new GpioDigitalInput(gpio, DeviceConfig.PulseInputPin, PinMode.InputPullUp, false, 5);
            var sensors = new ISensor[config.Readings.Length];
            for (int i = 0; i < sensors.Length; i++)
            {
                sensors[i] = new PulseCounter(pulseInput, PinEdge.Falling);
            }

            var p = new FirmwarePlatform();
            p.Modem = modem;
            p.Store = store;
            p.Crypto = crypto;
            p.Clock = clock;
            p.Delay = delay;
            p.Entropy = new HardwareEntropySource();
            p.Sleep = sleep;
            p.Sensors = sensors;
            p.Log = log;
            p.ModemPowerEnable = reset; // RESET_N: the supervisor's hard power cycle
            return p;
        }
    }
}

#nullable disable // portable code: nullable off (DESIGN.md §9)
using E2m.Crypto;
using E2m.Hal;
using E2m.Modem.Drivers;

namespace E2m.Firmware
{
    /// <summary>
    /// The hardware seams the application runs on (DESIGN.md §7), filled by the device Program.cs (nanoFramework
    /// adapters) or by a host runner/test (E2m.Hal.Host pieces, a fake or simulated modem). Required: Modem, Store,
    /// Crypto, Clock, Entropy, Sleep, Sensors (one per <see cref="FirmwareConfig.Readings"/> entry, same order).
    /// Optional: Log, ModemPowerEnable (a load switch / RESET_N line for the hard power cycle).
    /// </summary>
    public sealed class FirmwarePlatform
    {
        public ICellularModem Modem;
        public IRecordStore Store;
        public ICryptoProvider Crypto;
        public IMonotonicClock Clock;
        public IDelay Delay;
        public IEntropySource Entropy;
        public ISleep Sleep;
        public ISensor[] Sensors;
        public ILog Log;
        /// <summary>Optional: asserted = modem supply cut / held in reset (board polarity in the adapter).</summary>
        public IDigitalOutput ModemPowerEnable;
    }
}

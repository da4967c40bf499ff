using E2m.Hal;
using E2m.Modem.At;
using E2m.Modem.Commands;

namespace E2m.Modem.Drivers
{
    /// <summary>
    /// Model name → driver, one place for the host tools (e2m device, the demo, the HIL suite) and any firmware that
    /// carries the model as text. Names as in device-config.json "modem.model" plus the simulator's dialect names.
    /// </summary>
    public static class ModemModels
    {
        /// <summary>
        /// "bg95", "bg95-m3", "bg96" → <see cref="Bg9xModem"/> (receive mode <paramref name="bg9xAccessMode"/>: 0 buffer, 1 direct
        /// push); "sara-r4", "sara-r410m", "sara-r412m" → <see cref="SaraR4Modem"/>; "sara-r5", "sara-r500s", "sara-r510s",
        /// "sara-r510m8s" → <see cref="SaraR5Modem"/>. Case-insensitive.
        /// </summary>
        /// <exception cref="System.ArgumentException">unknown model (a configuration error).</exception>
        public static AtModemBase Create(string model, AtChannel channel, IMonotonicClock clock, IDelay delay,
            IDigitalOutput powerKey, IDigitalInput status, int bg9xAccessMode)
        {
            if (model == null) throw new System.ArgumentNullException("model");
            string m = model.ToLower();
            if (m == "bg95" || m == "bg95-m3" || m == "bg96")
            {
                return new Bg9xModem(channel, clock, delay, powerKey, status, bg9xAccessMode);
            }
            if (m == "sara-r4" || m == "sara-r410m" || m == "sara-r412m")
            {
                return new SaraR4Modem(channel, clock, delay, powerKey, status);
            }
            if (m == "sara-r5" || m == "sara-r500s" || m == "sara-r510s" || m == "sara-r510m8s")
            {
                return new SaraR5Modem(channel, clock, delay, powerKey, status);
            }
            throw new System.ArgumentException("unknown modem model (bg95, bg96, sara-r4/sara-r410m, sara-r5)");
        }

        /// <summary><see cref="Create(string, AtChannel, IMonotonicClock, IDelay, IDigitalOutput, IDigitalInput, int)"/> with BG9x buffer mode.</summary>
        public static AtModemBase Create(string model, AtChannel channel, IMonotonicClock clock, IDelay delay,
            IDigitalOutput powerKey, IDigitalInput status)
        {
            return Create(model, channel, clock, delay, powerKey, status, QuectelCommands.AccessModeBuffer);
        }

        /// <summary>True for a name <see cref="Create(string, AtChannel, IMonotonicClock, IDelay, IDigitalOutput, IDigitalInput)"/> accepts.</summary>
        public static bool IsKnown(string model)
        {
            if (model == null) return false;
            string m = model.ToLower();
            return m == "bg95" || m == "bg95-m3" || m == "bg96" || m == "sara-r4" || m == "sara-r410m" || m == "sara-r412m"
                || m == "sara-r5" || m == "sara-r500s" || m == "sara-r510s" || m == "sara-r510m8s";
        }
    }
}

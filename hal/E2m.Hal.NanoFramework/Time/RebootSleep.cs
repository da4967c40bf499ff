using System.Threading;
using E2m.Hal;
using nanoFramework.Runtime.Native;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// <see cref="ISleep"/> for targets without a deep-sleep adapter here (STM32: Standby with an RTC wake-up through
    /// nanoFramework.Hardware.Stm32 is not implemented - documented limitation). Keeps the device contract
    /// "DeepSleep never returns, wake-up = reset" by waiting with Thread.Sleep and then rebooting
    /// (Power.RebootDevice), so the firmware's persisted-state path is the same as on the ESP32. Saves no power.
    /// </summary>
    public sealed class RebootSleep : ISleep
    {
        public void DeepSleep(int seconds)
        {
            Thread.Sleep(seconds * 1000);
            Power.RebootDevice();
            Thread.Sleep(Timeout.Infinite);
        }
    }
}

using System;
using System.Threading;
using E2m.Hal;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// <see cref="IMonotonicClock"/> from System.Environment.TickCount64 (package nanoFramework.Runtime.Native: milliseconds
    /// since boot, never set from network time). Not DateTime.UtcNow, which jumps when the RTC is set from NITZ/AT+CCLK.
    /// Restarts at 0 after every deep sleep (wake-up is a reset): nothing persistent may hold these values.
    /// </summary>
    public sealed class TickCountClock : IMonotonicClock
    {
        public long NowMilliseconds
        {
            get { return Environment.TickCount64; }
        }
    }

    /// <summary><see cref="IDelay"/> as Thread.Sleep.</summary>
    public sealed class ThreadDelay : IDelay
    {
        public void Sleep(int ms)
        {
            Thread.Sleep(ms);
        }
    }
}

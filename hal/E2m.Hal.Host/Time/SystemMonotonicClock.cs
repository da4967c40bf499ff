using System.Diagnostics;
using System.Threading;
using E2m.Hal;

namespace E2m.Hal.Host
{
    /// <summary>Real time: Stopwatch milliseconds since construction, and Thread.Sleep.</summary>
    public sealed class SystemMonotonicClock : IMonotonicClock, IDelay
    {
        private readonly long _origin = Stopwatch.GetTimestamp();

        public long NowMilliseconds => (long)Stopwatch.GetElapsedTime(_origin).TotalMilliseconds;

        public void Sleep(int ms) => Thread.Sleep(ms < 0 ? 0 : ms);
    }
}

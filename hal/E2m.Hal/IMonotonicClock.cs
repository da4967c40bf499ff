namespace E2m.Hal
{
    /// <summary>
    /// A monotonic millisecond clock: <see cref="NowMilliseconds"/> counts milliseconds since an
    /// arbitrary origin (boot, process start, a test's zero) and never goes backwards, not even when
    /// the wall clock is set from network time (NITZ / AT+CCLK?). Only differences between two
    /// readings are meaningful. Used for protocol timers (CoAP retransmission, RFC 7252 §4.8) so
    /// that tests can drive them with a fake clock instead of waiting.
    /// Host: Stopwatch; nanoFramework: Environment.TickCount64 / native ticks.
    /// </summary>
    public interface IMonotonicClock
    {
        long NowMilliseconds { get; }
    }
}

namespace E2m.Hal
{
    /// <summary>
    /// Deep sleep of the microcontroller. ESP32: Sleep.EnableWakeupByTimer + StartDeepSleep; STM32:
    /// Power.EnterStandbyMode with the RTC wake-up. On the device the call never returns: wake-up is a
    /// reset and the firmware starts again from Main, so everything that must survive is in
    /// <see cref="IRecordStore"/> before the call. Host implementations return after advancing a
    /// fake clock (or after a real wait) so a test can run several cycles in one process.
    /// </summary>
    public interface ISleep
    {
        /// <summary>Sleeps <paramref name="seconds"/> seconds (&gt; 0). Device: does not return.</summary>
        void DeepSleep(int seconds);
    }
}

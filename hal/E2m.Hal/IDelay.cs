namespace E2m.Hal
{
    /// <summary>
    /// Blocking wait for the calling thread (device: Thread.Sleep; host tests: a fake clock that
    /// advances by <paramref name="ms"/> at once). Used for datasheet pulse widths and guard times,
    /// together with <see cref="IMonotonicClock"/> for deadlines.
    /// </summary>
    public interface IDelay
    {
        /// <summary>Waits at least <paramref name="ms"/> milliseconds (0 = yield).</summary>
        void Sleep(int ms);
    }
}

namespace E2m.Hal
{
    /// <summary>
    /// One GPIO output, e.g. the modem's PWRKEY / RESET_N (through the board's transistor: the
    /// adapter applies the board polarity, callers write the logical level "asserted = true").
    /// </summary>
    public interface IDigitalOutput
    {
        /// <summary>Drives the pin: true = asserted (logical high), false = released.</summary>
        void Write(bool level);
    }
}

namespace E2m.Hal
{
    /// <summary>Which transition an input saw (values match nanoFramework PinEventTypes).</summary>
    public enum PinEdge
    {
        Rising = 1,
        Falling = 2,
    }

    /// <summary>Edge callback (non-generic delegate: nanoFramework has no Action&lt;T&gt;).</summary>
    public delegate void PinEdgeHandler(object sender, PinEdge edge);

    /// <summary>
    /// One GPIO input, e.g. the modem's STATUS / VINT line or a meter's pulse output counted by
    /// interrupt. The adapter applies debouncing and polarity.
    /// </summary>
    public interface IDigitalInput
    {
        /// <summary>Current logical level.</summary>
        bool Read();

        /// <summary>Raised from the interrupt/event thread on every edge. Handlers must be short (count, set a flag).</summary>
        event PinEdgeHandler Edge;
    }
}

using System;

namespace E2m.ModemSim.Usim
{
    /// <summary>Thrown by <see cref="ISimCard.Transmit"/> when the card is removed (the modem maps it to +CME ERROR: 10).</summary>
    public sealed class SimNotPresentException : InvalidOperationException
    {
        public SimNotPresentException() : base("SIM not inserted") { }
    }
}

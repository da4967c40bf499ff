using System;

namespace E2m.ModemSim.Usim
{
    /// <summary>
    /// Thrown by <see cref="SimulatedUsim.Transmit"/> while the card is <see cref="SimulatedUsim.Busy"/> (fault injection):
    /// the card did not process the command; the simulated modem answers +CME ERROR: 14 "SIM busy" (TS 27.007 §9.2.1).
    /// </summary>
    public sealed class SimBusyException : InvalidOperationException
    {
        public SimBusyException() : base("SIM busy") { }
    }
}

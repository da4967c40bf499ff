using System;
using E2m.Hal;

namespace E2m.ModemSim.Modem
{
    /// <summary>
    /// The module's STATUS (BG9x) / V_INT (SARA) output as the firmware's <see cref="IDigitalInput"/>: high while the
    /// module is powered. Reading it first runs the modem's due events, so a driver that polls the pin while sleeping
    /// on a fake clock sees the power-off happen at the right simulated time.
    /// </summary>
    public sealed class ModemStatusPin : IDigitalInput
    {
        private readonly SimulatedModem _modem;
        private bool _last;

        public ModemStatusPin(SimulatedModem modem)
        {
            _modem = modem;
            _last = modem.Power != PowerState.Off;
        }

        public event PinEdgeHandler? Edge;

        public bool Read()
        {
            _modem.RunDue();
            bool level = _modem.Power != PowerState.Off;
            if (level != _last)
            {
                _last = level;
                Edge?.Invoke(this, level ? PinEdge.Rising : PinEdge.Falling);
            }

            return level;
        }
    }
}

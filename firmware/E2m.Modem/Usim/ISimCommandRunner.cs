using E2m.Modem.At;
using E2m.Modem.Drivers;

namespace E2m.Modem.Usim
{
    /// <summary>
    /// What <see cref="UsimAccess"/> needs from the layer below it: execute one catalogue command
    /// (<see cref="E2m.Modem.Commands.SimAccessCommands"/>) on the AT channel with the driver's SIM-busy retry
    /// policy, and expose the response lines and the +CME code. Implemented by the modem driver
    /// (<see cref="AtModemBase"/>) so that reboot detection, +CME bookkeeping and retries stay in one place.
    /// <see cref="ModemError"/> is the modem-level outcome vocabulary shared by this layer and the drivers.
    /// </summary>
    public interface ISimCommandRunner
    {
        /// <summary>Executes a SIM command, retrying +CME ERROR 14 "SIM busy"; typed outcome.</summary>
        ModemError RunSim(AtCommand command, string arguments);

        /// <summary>Response lines of the last command (owned by the runner, reused).</summary>
        AtResult Result { get; }

        /// <summary>+CME/+CMS code of the last failed command (-1 for a plain ERROR).</summary>
        int LastCmeError { get; }
    }
}

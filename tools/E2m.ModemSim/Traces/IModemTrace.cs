using System.Net;

namespace E2m.ModemSim.Traces
{
    /// <summary>Observer of a simulated modem: AT traffic both ways, fault notes, and the device's UDP datagrams.</summary>
    public interface IModemTrace
    {
        /// <summary>A command line (or data-mode payload description) the DTE sent.</summary>
        void DteToModem(long timeMs, string text);

        /// <summary>Bytes the modem wrote to the DTE (already framed, after output faults).</summary>
        void ModemToDte(long timeMs, byte[] data, int offset, int count);

        /// <summary>An annotation: injected fault, state change.</summary>
        void Note(long timeMs, string text);

        /// <summary>A UDP datagram crossing the bridge (device address as seen by the network).</summary>
        void Udp(long timeMs, IPEndPoint source, IPEndPoint destination, byte[] payload);
    }
}

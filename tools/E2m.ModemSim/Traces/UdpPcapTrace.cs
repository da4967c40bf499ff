using System;
using System.IO;
using System.Net;
using E2m.Hal.Host.Traces;

namespace E2m.ModemSim.Traces
{
    /// <summary>
    /// The device's UDP traffic as a pcap (LINKTYPE_RAW IPv4, hal PcapWriter): source/destination as the network
    /// sees them (device address, e.g. 10.45.0.2, and the real remote), timestamps = <see cref="Epoch"/> + modem clock.
    /// Readable by tshark/Wireshark (CoAP on 5683 is dissected).
    /// </summary>
    public sealed class UdpPcapTrace : IModemTrace, IDisposable
    {
        private readonly PcapWriter _writer;

        public UdpPcapTrace(Stream stream, DateTimeOffset? epoch = null)
        {
            _writer = new PcapWriter(stream, ownsStream: true);
            Epoch = epoch ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        }

        public static UdpPcapTrace Create(string path, DateTimeOffset? epoch = null) =>
            new(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read), epoch);

        public DateTimeOffset Epoch { get; }

        public int Datagrams { get; private set; }

        public void Udp(long timeMs, IPEndPoint source, IPEndPoint destination, byte[] payload)
        {
            _writer.WriteUdp(Epoch.AddMilliseconds(timeMs), source, destination, payload);
            Datagrams++;
        }

        public void DteToModem(long timeMs, string text)
        {
        }

        public void ModemToDte(long timeMs, byte[] data, int offset, int count)
        {
        }

        public void Note(long timeMs, string text)
        {
        }

        public void Dispose() => _writer.Dispose();
    }
}

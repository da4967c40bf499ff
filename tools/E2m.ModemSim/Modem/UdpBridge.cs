using System;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using E2m.ModemSim.Faults;

namespace E2m.ModemSim.Modem
{
    /// <summary>
    /// Bridges one simulated UDP socket to a real host UDP socket (issue 5 §2: "so real servers receive the device's
    /// datagrams"). Uplink and downlink pass the fault plan's UDP rules (loss, duplication, reordering, delay) on the
    /// modem clock, and every datagram actually crossing is traced with the device address
    /// (<see cref="ModemOptions.DeviceAddress"/>) in place of the host's.
    /// </summary>
    public sealed class UdpBridge : IDisposable
    {
        private readonly SimulatedModem _modem;
        private readonly SimSocket _socket;
        private readonly Socket _host;
        private readonly Thread _reader;
        private volatile bool _disposed;

        public UdpBridge(SimulatedModem modem, SimSocket socket, int localPort)
        {
            _modem = modem;
            _socket = socket;
            _host = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            _host.Bind(new IPEndPoint(IPAddress.Any, localPort));
            LocalPort = ((IPEndPoint)_host.LocalEndPoint!).Port;
            _reader = new Thread(ReadLoop) { IsBackground = true, Name = "ModemSim UDP " + socket.Id };
            _reader.Start();
        }

        /// <summary>Host port of the bridge; also the device's source port in traces.</summary>
        public int LocalPort { get; }

        public IPEndPoint DeviceEndPoint => new(_modem.Options.DeviceAddress, LocalPort);

        /// <summary>Sends a datagram from the device to <paramref name="remote"/> through the UDP fault rules (call under the modem lock).</summary>
        public void Send(IPEndPoint remote, byte[] data)
        {
            foreach (UdpDelivery d in _modem.Faults.OnDatagram(_modem, true, data, _socket.Id + ">" + remote))
            {
                if (d.Note != null)
                {
                    _modem.Note("fault: uplink " + d.Note);
                }

                if (d.Data == null)
                {
                    continue;
                }

                byte[] payload = d.Data;
                _modem.Schedule(d.DelayMs, () =>
                {
                    if (_disposed)
                    {
                        return;
                    }

                    _modem.TraceUdp(DeviceEndPoint, remote, payload);
                    try
                    {
                        _host.SendTo(payload, remote);
                    }
                    catch (SocketException e)
                    {
                        _modem.Note("host sendto failed: " + e.SocketErrorCode);
                    }
                });
            }
        }

        private void ReadLoop()
        {
            byte[] buffer = new byte[65536];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            while (!_disposed)
            {
                int n;
                try
                {
                    n = _host.ReceiveFrom(buffer, ref from);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
                {
                    continue; // ICMP port unreachable from an earlier send
                }
                catch (Exception)
                {
                    return;
                }

                byte[] data = buffer.AsSpan(0, n).ToArray();
                IPEndPoint source = (IPEndPoint)from;
                _modem.Post(() => Downlink(source, data));
            }
        }

        private void Downlink(IPEndPoint source, byte[] data)
        {
            if (_disposed)
            {
                return;
            }

            foreach (UdpDelivery d in _modem.Faults.OnDatagram(_modem, false, data, _socket.Id + "<" + source))
            {
                if (d.Note != null)
                {
                    _modem.Note("fault: downlink " + d.Note);
                }

                if (d.Data == null)
                {
                    continue;
                }

                byte[] payload = d.Data;
                _modem.Schedule(d.DelayMs, () =>
                {
                    if (_disposed)
                    {
                        return;
                    }

                    _modem.TraceUdp(source, DeviceEndPoint, payload);
                    _modem.DeliverDownlink(_socket, source, payload);
                });
            }
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _host.Dispose();
        }
    }
}

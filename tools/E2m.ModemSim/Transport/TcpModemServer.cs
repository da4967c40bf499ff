using System;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using E2m.ModemSim.Modem;

namespace E2m.ModemSim.Transport
{
    /// <summary>
    /// Serves one simulated modem on 127.0.0.1:port, one AT session per TCP connection (issue 5 §7). A new connection
    /// takes the modem over from the previous one (like re-opening a USB serial port); the modem keeps its state.
    /// </summary>
    public sealed class TcpModemServer : IDisposable
    {
        private readonly SimulatedModem _modem;
        private readonly TcpListener _listener;
        private readonly Thread _accept;
        private readonly object _gate = new();
        private StreamSession? _session;
        private volatile bool _stop;

        public TcpModemServer(SimulatedModem modem, int port, IPAddress? address = null)
        {
            _modem = modem;
            _listener = new TcpListener(address ?? IPAddress.Loopback, port);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _accept = new Thread(AcceptLoop) { IsBackground = true, Name = "ModemSim TCP accept" };
            _accept.Start();
        }

        /// <summary>The bound port (useful with port 0).</summary>
        public int Port { get; }

        public int Sessions { get; private set; }

        private void AcceptLoop()
        {
            while (!_stop)
            {
                TcpClient client;
                try
                {
                    client = _listener.AcceptTcpClient();
                }
                catch (Exception) when (_stop)
                {
                    return;
                }
                catch (SocketException)
                {
                    continue;
                }

                client.NoDelay = true;
                lock (_gate)
                {
                    _session?.Dispose();
                    Sessions++;
                    _modem.Note("TCP session " + Sessions + " from " + client.Client.RemoteEndPoint);
                    _session = new StreamSession(_modem, client.GetStream(), "tcp#" + Sessions);
                }
            }
        }

        public void Dispose()
        {
            _stop = true;
            _listener.Stop();
            lock (_gate)
            {
                _session?.Dispose();
            }

            _accept.Join(1000);
        }
    }
}

using System;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emks.Bootstrap
{
    /// <summary>
    /// UDP transport of the bootstrap (DESIGN.md §3): binds in <see cref="StartAsync"/> (so <see cref="LocalEndPoint"/>
    /// is known once the host has started, also with port 0), receives datagrams and hands each to
    /// <see cref="BootstrapCoapHandler"/> with at most <see cref="BootstrapOptions.MaxConcurrentRequests"/> in flight.
    /// </summary>
    public sealed class BootstrapUdpServer : BackgroundService
    {
        public const int MaxDatagram = 1152; // RFC 7252 §4.6: messages fit 1152 octets of payload in practice

        private readonly BootstrapCoapHandler _handler;
        private readonly EmksOptions _options;
        private readonly ILogger<BootstrapUdpServer> _log;
        private Socket? _socket;
        private SemaphoreSlim? _slots;

        public BootstrapUdpServer(BootstrapCoapHandler handler, EmksOptions options, ILogger<BootstrapUdpServer> log)
        {
            _handler = handler;
            _options = options;
            _log = log;
        }

        /// <summary>The bound endpoint (after start).</summary>
        public IPEndPoint? LocalEndPoint { get; private set; }

        public override Task StartAsync(CancellationToken cancellationToken)
        {
            IPAddress address = IPAddress.Parse(_options.ListenAddress);
            _socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            _socket.Bind(new IPEndPoint(address, _options.Bootstrap.UdpPort));
            LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
            _slots = new SemaphoreSlim(_options.Bootstrap.MaxConcurrentRequests);
            _log.LogInformation("bootstrap: coap://{Endpoint}/bs", LocalEndPoint);
            return base.StartAsync(cancellationToken);
        }

        public override async Task StopAsync(CancellationToken cancellationToken)
        {
            _socket?.Close();
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
        }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            Socket socket = _socket!;
            EndPoint any = new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
            while (!stoppingToken.IsCancellationRequested)
            {
                var buffer = new byte[MaxDatagram + 1]; // one octet more: a longer datagram is seen as such, not silently truncated
                SocketReceiveFromResult r;
                try
                {
                    r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                catch (ObjectDisposedException)
                {
                    break;
                }
                catch (SocketException e)
                {
                    // e.g. ICMP port unreachable reported on a later receive (ConnectionReset): keep serving
                    _log.LogDebug("bootstrap: receive error {Code}", e.SocketErrorCode);
                    continue;
                }

                var remote = (IPEndPoint)r.RemoteEndPoint;
                int length = r.ReceivedBytes;
                if (length > MaxDatagram)
                {
                    // Linux delivers the first bytes of a longer datagram without an error: never process a truncated
                    // read. A CON (RFC 7252 §3: version 1, type 0) gets RST with its Message ID (§4.2), else it is dropped.
                    _log.LogDebug("bootstrap: datagram larger than {Max} octets from {Remote} dropped", MaxDatagram, remote);
                    if ((buffer[0] & 0xF0) == 0x40)
                    {
                        byte[] rst = { 0x70, 0x00, buffer[2], buffer[3] };
                        try
                        {
                            await socket.SendToAsync(rst, SocketFlags.None, remote, stoppingToken).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                        {
                        }
                    }

                    continue;
                }

                await _slots!.WaitAsync(stoppingToken).ConfigureAwait(false);
                _ = Task.Run(async () =>
                {
                    try
                    {
                        byte[]? response = await _handler.HandleAsync(buffer, length, remote, stoppingToken).ConfigureAwait(false);
                        if (response != null) await socket.SendToAsync(response, SocketFlags.None, remote, stoppingToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                    {
                    }
                    catch (Exception e)
                    {
                        _log.LogError("bootstrap: unexpected {Error}", e.GetType().Name);
                    }
                    finally
                    {
                        _slots.Release();
                    }
                }, CancellationToken.None);
            }
        }

        public override void Dispose()
        {
            _socket?.Dispose();
            _slots?.Dispose();
            base.Dispose();
        }
    }
}

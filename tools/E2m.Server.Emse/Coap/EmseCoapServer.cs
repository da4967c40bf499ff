using System;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Crypto;
using E2m.Hal;
using E2m.Oscore;
using E2m.Server.Emse.Keys;
using E2m.Server.Emse.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace E2m.Server.Emse.Coap
{
    /// <summary>Counters of the CoAP side (tests, benchmark, logs). Fields are updated with Interlocked.</summary>
    public sealed class EmseCoapStats
    {
        public long Received;
        public long Dropped;
        /// <summary>Datagrams a shard handed to the shard that handles their kid (UdpSocketPerWorker: the device's address or port changed).</summary>
        public long HandedOver;
        public long Oversized;
        public long Malformed;
        public long Errors;
        public long Accepted;
        public long Retransmissions;
        public long Replays;
        public long Rejected;
        public long UnknownKid;
        /// <summary>Key revalidations done (<see cref="EmseOptions.KeyRevalidateInterval"/>, counted once their outcome is set), and contexts dropped because the EMKS no longer gave the key.</summary>
        public long Revalidations;
        public long Revoked;
        public long BadSenml;
        public long ReadingsStored;
        public long CommitFailures;
        public long InternalErrors;
        /// <summary>Datagrams the EMSE sent (responses, RSTs, errors), counted once the kernel took them.</summary>
        public long Sent;
        /// <summary>
        /// Datagrams fully handled (answered, dropped or stored; a parked one counts once re-processed). Counted after the
        /// answer, if any, was handed to the kernel and counted in <see cref="Sent"/>.
        /// </summary>
        public long Handled;
        /// <summary>Transactions committed, and time spent verifying/handling vs committing (Stopwatch ticks).</summary>
        public long Commits;
        /// <summary>SQLite, synchronous=FULL: fsyncs of the write-ahead log by the group-commit writer (one per group).</summary>
        public long WalSyncs;
        public long ProcessTicks;
        public long CommitTicks;
        /// <summary>Journal folds (SQLite: emse_journal into the readings file) by the folder thread, by the idle timer, failed folds, folder time.</summary>
        public long Folds;
        public long IdleFolds;
        public long FoldFailures;
        public long FoldTicks;

        public override string ToString() =>
            $"received={Interlocked.Read(ref Received)} accepted={Interlocked.Read(ref Accepted)} retransmissions={Interlocked.Read(ref Retransmissions)} " +
            $"replays={Interlocked.Read(ref Replays)} rejected={Interlocked.Read(ref Rejected)} unknownKid={Interlocked.Read(ref UnknownKid)} " +
            $"revalidations={Interlocked.Read(ref Revalidations)} revoked={Interlocked.Read(ref Revoked)} " +
            $"badSenml={Interlocked.Read(ref BadSenml)} malformed={Interlocked.Read(ref Malformed)} oversized={Interlocked.Read(ref Oversized)} " +
            $"dropped={Interlocked.Read(ref Dropped)} handedOver={Interlocked.Read(ref HandedOver)} errors={Interlocked.Read(ref Errors)} readings={Interlocked.Read(ref ReadingsStored)} " +
            $"commitFailures={Interlocked.Read(ref CommitFailures)} internalErrors={Interlocked.Read(ref InternalErrors)} commits={Interlocked.Read(ref Commits)} walSyncs={Interlocked.Read(ref WalSyncs)} " +
            $"processMs={Interlocked.Read(ref ProcessTicks) * 1000 / System.Diagnostics.Stopwatch.Frequency} commitMs={Interlocked.Read(ref CommitTicks) * 1000 / System.Diagnostics.Stopwatch.Frequency} " +
            $"folds={Interlocked.Read(ref Folds)} idleFolds={Interlocked.Read(ref IdleFolds)} foldFailures={Interlocked.Read(ref FoldFailures)} foldMs={Interlocked.Read(ref FoldTicks) * 1000 / System.Diagnostics.Stopwatch.Frequency}";
    }

    /// <summary>
    /// The EMSE's CoAP/OSCORE endpoint on UDP (RFC 7252 over UDP, RFC 8613; DESIGN.md §4). One receive thread reads
    /// datagrams, peeks the OSCORE 'kid' (OscoreOptionValue) and queues each datagram to the shard that owns that
    /// kid (bounded queues: when full the datagram is dropped and the device retransmits); shards verify, store and
    /// answer (<see cref="EmseShard"/>). Datagrams above MaxDatagramSize are answered 4.13 (CON) or dropped.
    /// </summary>
    public sealed class EmseCoapServer : IHostedService, IDisposable
    {
        private readonly EmseOptions _options;
        private readonly EmseStore _store;
        private readonly IEmksKeySource _keys;
        private readonly TimeProvider _time;
        private readonly ILogger<EmseCoapServer> _log;
        private readonly CancellationTokenSource _stop = new();
        private Socket? _socket;
        private Socket[] _shardSockets = Array.Empty<Socket>();
        private Thread? _receiver;
        private EmseShard[] _shards = Array.Empty<EmseShard>();
        private Task[] _shardTasks = Array.Empty<Task>();
        private ContextCache? _cache;
        private ITimer? _purge;
        private ITimer? _fold;
        private Sender? _sender;
        private GroupCommitWriter? _writer;

        /// <summary>Test seam (<see cref="GroupCommitWriter.BeforeAnswer"/>): called before each response of a committed group.</summary>
        internal Action<ExchangeWrite>? BeforeAnswer
        {
            set => _writer!.BeforeAnswer = value;
        }
        private DatagramPool _datagrams = null!;

        public EmseCoapServer(IOptions<EmseOptions> options, EmseStore store, IEmksKeySource keys, TimeProvider time, ILogger<EmseCoapServer> log)
        {
            _options = options.Value;
            _store = store;
            _keys = keys;
            _time = time;
            _log = log;
        }

        /// <summary>The bound UDP endpoint (the real port when UdpPort = 0), null before start.</summary>
        public IPEndPoint? LocalEndPoint { get; private set; }

        public EmseCoapStats Stats { get; } = new();

        /// <summary>Number of cached kid entries (contexts and negative results).</summary>
        public int CachedContexts => _cache?.Count ?? 0;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _store.EnsureSchema();

            IPAddress address = IPAddress.Parse(_options.UdpBindAddress);
            Socket socket = OpenSocket(address);

            int n = _options.EffectiveWorkers;
            bool perShard = _options.UdpSocketPerWorker && DatagramReceiveBatch.IsSupported;
            if (perShard && n > 1)
            {
                if (_options.UdpPort != 0)
                {
                    // SO_REUSEPORT would also let a second EMSE (of this user) bind the same port and silently take a
                    // share of the devices. A plain bind first fails, as without the option, when anything holds the port.
                    using Socket probe = OpenSocket(address);
                    probe.Bind(new IPEndPoint(address, _options.UdpPort));
                }

                SetReusePort(socket);
            }

            socket.Bind(new IPEndPoint(address, _options.UdpPort));
            _socket = socket;
            LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
            _sender = new Sender(socket);
            _shardSockets = perShard ? new Socket[n] : Array.Empty<Socket>();
            if (perShard)
            {
                _shardSockets[0] = socket;
                for (int i = 1; i < n; i++)
                {
                    _shardSockets[i] = OpenSocket(address);
                    SetReusePort(_shardSockets[i]);
                    _shardSockets[i].Bind(LocalEndPoint); // the same port (the real one when UdpPort = 0)
                }
            }

            _cache = new ContextCache(_keys, new E2m.Hal.Host.PlatformCryptoProvider(), _store, _time, _options, _log, Stats);
            _shards = new EmseShard[n];
            _shardTasks = new Task[n];
            _writer = new GroupCommitWriter(_store, _sender, _time, _options, Stats, _log);
            _writer.Start();
            // Idle datagrams kept for reuse: about what the shards' queues hold, at most 1 << 14 (MaxDatagramSize each).
            _datagrams = new DatagramPool(_options.MaxDatagramSize, Math.Min(1 << 14, n * _options.QueueCapacityPerWorker));
            for (int i = 0; i < n; i++)
            {
                _shards[i] = new EmseShard(i, _cache, _store, _sender, _time, _options, Stats, _log, _writer, _datagrams);
            }

            for (int i = 0; i < n; i++)
            {
                _shards[i].Peers = _shards;
            }

            for (int i = 0; i < n; i++)
            {
                EmseShard shard = _shards[i];
                Socket? own = perShard ? _shardSockets[i] : null;
                _shardTasks[i] = Task.Factory.StartNew(() =>
                {
                    Thread.CurrentThread.Name = "emse-shard-" + shard.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (own != null)
                    {
                        shard.RunReceiving(own, this, _stop.Token);
                    }
                    else
                    {
                        shard.Run(_stop.Token);
                    }
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            }

            if (!perShard)
            {
                _receiver = new Thread(() => ReceiveLoop(socket)) { IsBackground = true, Name = "emse-udp-receive" };
                _receiver.Start();
            }

            TimeSpan period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, Math.Min(TimeSpan.FromSeconds(60).Ticks, _options.ExchangeLifetime.Ticks / 4)));
            _purge = _time.CreateTimer(_ => Purge(), null, period, period);
            if (_store.UsesJournal && _options.JournalIdleFold > TimeSpan.Zero)
            {
                _fold = _time.CreateTimer(_ => FoldWhenIdle(), null, _options.JournalIdleFold, _options.JournalIdleFold);
            }

            _log.LogInformation("EMSE {EmseId}: CoAP/OSCORE on udp://{Endpoint}, {Workers} shards ({Receive}; {Commit}), storage {Storage}",
                _options.EmseId, LocalEndPoint, n, perShard ? (n > 1 ? "a socket each, SO_REUSEPORT" : "reading the socket itself") : "one socket, a receive thread",
                _options.InlineCommit ? "the shard commits its batches" : "group-commit thread", _store.Database.Describe());
            return Task.CompletedTask;
        }

        /// <summary>
        /// The EMKS revoked this key (<c>DELETE /v1/keys/{kid}</c>, push variant): a ready context of the kid is flagged, so
        /// its owner shard drops it at the kid's next request (4.01, the device re-keys), as after a revalidation that found
        /// the key gone. True when a context was flagged. <paramref name="kid"/>: the 8-octet KID or the 7-octet wire kid.
        /// </summary>
        public bool RevokeKid(byte[] kid)
        {
            if (_cache == null || kid.Length < OscoreConstants.MaxIdLength
                || !KidKey.TryPack(kid, 0, OscoreConstants.MaxIdLength, out ulong key)
                || !_cache.TryGet(key, out ContextEntry entry) || entry.State != ContextState.Ready)
            {
                return false;
            }

            entry.Revoked = true;
            return true;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            // Once: the host may stop this service more than once (and concurrently, from Dispose).
            Socket? socket = Interlocked.Exchange(ref _socket, null);
            if (socket == null)
            {
                return;
            }

            _purge?.Dispose();
            _fold?.Dispose();
            _stop.Cancel();
            socket.Close();
            foreach (Socket other in _shardSockets)
            {
                other.Close();
            }

            foreach (EmseShard s in _shards)
            {
                s.Complete();
            }

            try
            {
                await Task.WhenAll(_shardTasks).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _log.LogWarning("EMSE shards did not stop within 10 s");
            }

            _receiver?.Join(TimeSpan.FromSeconds(5));
            _writer?.Complete(TimeSpan.FromSeconds(10)); // what the shards queued is committed (its responses may not leave)
            _cache?.Dispose();
        }

        public void Dispose()
        {
            _purge?.Dispose();
            _fold?.Dispose();
            _stop.Cancel();
            _socket?.Dispose();
            foreach (Socket other in _shardSockets)
            {
                other.Dispose();
            }

            _cache?.Dispose();
        }

        private static Socket OpenSocket(IPAddress address)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            try
            {
                socket.ReceiveBufferSize = 8 * 1024 * 1024;
                socket.SendBufferSize = 4 * 1024 * 1024;
            }
            catch (SocketException)
            {
                // the kernel caps the sizes; the defaults still work
            }

            return socket;
        }

        /// <summary>
        /// socket(7) SO_REUSEPORT (Linux 3.9 and later; SOL_SOCKET = 1, SO_REUSEPORT = 15): several sockets of this user
        /// on one port, each datagram delivered to one of them chosen by a hash of its addresses and ports (so a device
        /// keeps reaching the same socket while its address and port stay).
        /// </summary>
        private static void SetReusePort(Socket socket) => socket.SetRawSocketOption(1, 15, BitConverter.GetBytes(1));

        private long _commitsAtLastFoldCheck = -1;

        /// <summary>
        /// Every JournalIdleFold (1 s): when no group was committed since the last look (the writer is idle), fold what the
        /// journal holds and delete the rows the folder thread already folded (the writer would have deleted them with its
        /// next group), so the journal does not linger after a burst; one cheap query when it is empty. Under load the
        /// folder thread folds once JournalFoldEntries wait.
        /// </summary>
        private void FoldWhenIdle()
        {
            long commits = Interlocked.Read(ref Stats.Commits);
            if (commits != Interlocked.Exchange(ref _commitsAtLastFoldCheck, commits))
            {
                return;
            }

            try
            {
                if (_store.FoldJournal() > 0)
                {
                    Interlocked.Increment(ref Stats.IdleFolds);
                }
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref Stats.FoldFailures);
                _log.LogWarning("EMSE journal fold failed: {Error}", e.Message);
            }
        }

        private void Purge()
        {
            try
            {
                long cutoff = _time.GetUtcNow().ToUnixTimeMilliseconds() - (long)_options.ExchangeLifetime.TotalMilliseconds;
                _store.PurgeExchanges(cutoff);
            }
            catch (Exception e)
            {
                _log.LogWarning("EMSE exchange purge failed: {Error}", e.Message);
            }
        }

        // Entered once per thread (or rarely) and loops a long time: optimised at once instead of tier 0 + OSR.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private void ReceiveLoop(Socket socket)
        {
            var rx = new SocketAddress(socket.AddressFamily);
            byte[] buffer = new byte[65536];
            var scratch = new CoapMessage(OscoreSecurityContext.DefaultMaxOptions, 0);
            var option = new OscoreOptionValue();
            while (!_stop.IsCancellationRequested)
            {
                int n;
                try
                {
                    n = socket.ReceiveFrom(buffer, SocketFlags.None, rx);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset || e.SocketErrorCode == SocketError.MessageSize)
                {
                    continue; // ICMP unreachable of an earlier send / truncated datagram
                }
                catch (Exception e) when (e is SocketException || e is ObjectDisposedException)
                {
                    if (!_stop.IsCancellationRequested)
                    {
                        _log.LogError("EMSE UDP receive failed: {Error}", e.Message);
                    }

                    break;
                }

                InboundDatagram? d = Admit(buffer, n, rx);
                if (d == null)
                {
                    continue;
                }

                // Route by kid so one kid is processed by one shard; anything without a readable kid by source.
                ulong route;
                try
                {
                    route = option.ReadFrom(buffer, 0, n, scratch) && option.HasKid && KidKey.TryPack(option.Kid, 0, option.KidLength, out ulong k)
                        ? k
                        : HashAddress(d.Remote);
                }
                catch (MalformedInputException)
                {
                    route = HashAddress(d.Remote);
                }

                EmseShard shard = _shards[(int)((route * 0x9E3779B97F4A7C15UL) >> 33) % _shards.Length];
                if (!shard.TryEnqueue(d))
                {
                    Interlocked.Increment(ref Stats.Dropped);
                    Interlocked.Increment(ref Stats.Handled);
                    _datagrams.Return(d);
                }
            }
        }

        /// <summary>
        /// A received datagram (any receiving thread): counted; one larger than MaxDatagramSize is answered 4.13 here and
        /// null returned; else a pooled copy with its own copy of the sender's address.
        /// </summary>
        private InboundDatagram? Admit(byte[] buffer, int n, SocketAddress rx) =>
            Admit(buffer.AsSpan(0, n), n, rx.Buffer.Span.Slice(0, rx.Size), rx.Family);

        /// <summary>
        /// As <see cref="Admit(byte[], int, SocketAddress)"/> from a batch receive: <paramref name="data"/> holds the first
        /// octets (all of them up to MaxDatagramSize), <paramref name="length"/> is the datagram's real length and
        /// <paramref name="address"/> the sender's sockaddr.
        /// </summary>
        internal InboundDatagram? Admit(ReadOnlySpan<byte> data, int length, ReadOnlySpan<byte> address, AddressFamily family)
        {
            Interlocked.Increment(ref Stats.Received);
            var remote = new SocketAddress(family, address.Length);
            address.CopyTo(remote.Buffer.Span);
            if (length > _options.MaxDatagramSize)
            {
                Interlocked.Increment(ref Stats.Oversized);
                AnswerTooLarge(data.Slice(0, Math.Min(data.Length, 4 + CoapMessage.MaxTokenLength)).ToArray(), length, remote);
                Interlocked.Increment(ref Stats.Handled);
                return null;
            }

            InboundDatagram d = _datagrams.Rent(); // length <= MaxDatagramSize = its buffer's length
            data.Slice(0, length).CopyTo(d.Buffer);
            d.Length = length;
            d.Remote = remote;
            return d;
        }

        private static ulong HashAddress(SocketAddress a)
        {
            ulong h = 14695981039346656037UL; // FNV-1a
            foreach (byte b in a.Buffer.Span.Slice(0, a.Size))
            {
                h = (h ^ b) * 1099511628211UL;
            }

            return h;
        }

        /// <summary>RFC 7252 §5.9.2.9: 4.13 with Size1 = the largest size accepted (§5.10.9), only for a readable CON header.</summary>
        private void AnswerTooLarge(byte[] datagram, int length, SocketAddress remote)
        {
            int tkl = datagram[0] & 0x0F;
            if (length < 4 || (datagram[0] >> 6) != CoapCodec.Version || ((datagram[0] >> 4) & 0x03) != CoapType.Confirmable
                || tkl > CoapMessage.MaxTokenLength || length < 4 + tkl || !CoapCode.IsRequest(datagram[1]))
            {
                return;
            }

            var m = new CoapMessage(4, 16)
            {
                Type = CoapType.Acknowledgement,
                Code = CoapCode.RequestEntityTooLarge,
                MessageId = (datagram[2] << 8) | datagram[3],
            };
            m.SetToken(datagram, 4, tkl);
            m.AddOptionUInt(CoapOption.Size1, (uint)_options.MaxDatagramSize);
            byte[] out1 = new byte[CoapCodec.GetEncodedLength(m)];
            int w = CoapCodec.Encode(m, out1, 0);
            try
            {
                _sender!.Send(out1, 0, w, remote);
                Interlocked.Increment(ref Stats.Sent);
            }
            catch (SocketException)
            {
            }
        }

        private sealed class Sender : IDatagramSender
        {
            private readonly Socket _socket;

            public Sender(Socket socket) => _socket = socket;

            public void Send(byte[] buffer, int offset, int length, SocketAddress remote) =>
                _socket.SendTo(buffer.AsSpan(offset, length), SocketFlags.None, remote);

            public DatagramBatch? CreateBatch() => new DatagramBatch(_socket);
        }
    }
}

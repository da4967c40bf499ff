using System;
using System.Collections.Generic;
using System.Data.Common;
using System.IO.Hashing;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Hal;
using E2m.Oscore;
using E2m.Server.Emse.Keys;
using E2m.Server.Emse.Storage;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emse.Coap
{
    /// <summary>A received datagram (from the server's <see cref="DatagramPool"/>, given back once handled).</summary>
    internal sealed class InboundDatagram
    {
        public byte[] Buffer = Array.Empty<byte>();
        public int Length;
        public SocketAddress Remote = null!;
        public int Attempts;
        public bool Parked;
        /// <summary>Handed to the group commit: counted as handled once its response is sent (or its group failed).</summary>
        public bool Deferred;
    }

    /// <summary>
    /// Received datagrams with their buffers (MaxDatagramSize octets), reused: the receiving thread (the receive thread,
    /// or a shard reading its own socket) takes them, the shard that handled them gives them back. ArrayPool.Shared keeps
    /// its arrays per thread and per core, so a buffer rented on the receive thread and returned on a shard thread was,
    /// under load, mostly a new allocation (measured with the GC's allocation
    /// events: 9 % of the EMSE's allocated bytes were these buffers). Holds at most <c>capacity</c> idle datagrams.
    /// </summary>
    internal sealed class DatagramPool
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<InboundDatagram> _free = new();
        private readonly int _bufferLength;
        private readonly int _capacity;
        private int _idle;

        public DatagramPool(int bufferLength, int capacity)
        {
            _bufferLength = bufferLength;
            _capacity = capacity;
        }

        /// <summary>A datagram whose buffer holds the pool's buffer length (MaxDatagramSize) in octets, its state reset.</summary>
        public InboundDatagram Rent()
        {
            if (_free.TryDequeue(out InboundDatagram? d))
            {
                Interlocked.Decrement(ref _idle);
                return d;
            }

            return new InboundDatagram { Buffer = new byte[_bufferLength] };
        }

        /// <summary>Gives a handled datagram back; nothing may use it (or its buffer) afterwards.</summary>
        public void Return(InboundDatagram d)
        {
            d.Length = 0;
            d.Remote = null!;
            d.Attempts = 0;
            d.Parked = false;
            d.Deferred = false;
            if (d.Buffer.Length != _bufferLength)
            {
                return;
            }

            if (Interlocked.Increment(ref _idle) <= _capacity)
            {
                _free.Enqueue(d);
            }
            else
            {
                Interlocked.Decrement(ref _idle); // full: left to the garbage collector
            }
        }
    }

    /// <summary>
    /// One shard's strings of the SenML names and units it decoded lately, by their UTF-8 octets: devices send the same
    /// few names in every batch, so a reading shares its name's string instead of allocating one (names and units were
    /// 8 % of the EMSE's allocated bytes under load, and they live on in the journal copies until the fold). A slot per
    /// hash (process-randomised <see cref="HashCode"/>); a collision only replaces the slot. Not thread-safe.
    /// </summary>
    internal sealed class Utf8StringCache
    {
        private const int MaxKeyLength = 128;
        private readonly byte[]?[] _keys;
        private readonly string[] _values;
        private readonly int _mask;

        /// <param name="slots">A power of two.</param>
        public Utf8StringCache(int slots)
        {
            if (slots <= 0 || (slots & (slots - 1)) != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(slots), "a power of two");
            }

            _keys = new byte[]?[slots];
            _values = new string[slots];
            _mask = slots - 1;
        }

        /// <summary>The string of the UTF-8 octets (as Encoding.UTF8.GetString gives it).</summary>
        public string Get(byte[] buffer, int offset, int length)
        {
            ReadOnlySpan<byte> key = buffer.AsSpan(offset, length);
            if (length > MaxKeyLength)
            {
                return Encoding.UTF8.GetString(key);
            }

            var h = new HashCode();
            h.AddBytes(key);
            int slot = h.ToHashCode() & _mask;
            byte[]? k = _keys[slot];
            if (k != null && key.SequenceEqual(k))
            {
                return _values[slot];
            }

            string value = Encoding.UTF8.GetString(key);
            _keys[slot] = key.ToArray();
            _values[slot] = value;
            return value;
        }
    }

    /// <summary>A verified request on its way through the group commit, with what is needed to answer it.</summary>
    internal sealed class PendingWrite : ExchangeWrite
    {
        public ContextEntry Entry = null!;
        public RecentExchange Recent = null!;
        public SocketAddress Remote = null!;
        public EmseShard Shard = null!;
        /// <summary>Outer header of the request, for an unprotected 4.01 "Replay detected" (RFC 8613 §8.2, §7.4).</summary>
        public int MessageId;
        public bool Confirmable;
        public byte[] Token = Array.Empty<byte>();
        /// <summary>True when the group failed (nothing stored): the shard forgets the exchange, reloads the window.</summary>
        public bool Failed;
    }

    internal interface IDatagramSender
    {
        void Send(byte[] buffer, int offset, int length, SocketAddress remote);

        /// <summary>A batch for the group-commit writer's responses (one system call for many datagrams where the platform has one), or null.</summary>
        DatagramBatch? CreateBatch();
    }

    /// <summary>
    /// One processing shard: every datagram of a kid goes to the same shard (the receive loop hashes the kid), so a
    /// kid's OSCORE context, replay window snapshot and recent-exchange ring are touched by one task only. A shard
    /// drains up to MaxBatch queued datagrams, verifies them (RFC 8613 §8.2), handles POST /r (SenML, RFC 8428) and
    /// protects the responses (§8.3, request nonce), then writes all exchanges, readings and replay windows in ONE
    /// transaction (group commit) and only then sends the protected responses (DESIGN.md §4: the 2.04 acknowledges a
    /// stored batch). Unprotected errors (RFC 8613 §8.2) are sent at once. A failed commit rolls the in-memory
    /// replay windows back and sends nothing: the device retransmits.
    /// </summary>
    internal sealed class EmseShard
    {
        private const int HashLength = 16;

        private static readonly byte[] DiagNotFound = Encoding.UTF8.GetBytes("Resource not found: POST /r only");
        private static readonly byte[] DiagMethod = Encoding.UTF8.GetBytes("Method not allowed: POST /r only");
        private static readonly byte[] DiagFormat = Encoding.UTF8.GetBytes("Content-Format 112 (application/senml+cbor) required");
        private static readonly byte[] DiagSenml = Encoding.UTF8.GetBytes("Bad SenML");
        private static readonly byte[] DiagBadOption = Encoding.UTF8.GetBytes("Unrecognized critical option");
        private static readonly byte[] DiagUnavailable = Encoding.UTF8.GetBytes("Key server unavailable");
        private static readonly byte[] DiagNoOscore = Encoding.UTF8.GetBytes("OSCORE required");
        private static readonly byte[] DiagExpired = Encoding.UTF8.GetBytes("Security context not found");
        private static readonly Dictionary<OscoreError, byte[]> OscoreDiagnostics = BuildOscoreDiagnostics();

        private readonly int _index;

        /// <summary>The shard number (its thread is named after it).</summary>
        public int Index => _index;
        private readonly Channel<InboundDatagram> _channel;
        private readonly ContextCache _cache;
        private readonly EmseStore _store;
        private readonly IDatagramSender _sender;
        private readonly TimeProvider _time;
        private readonly EmseOptions _options;
        private readonly EmseCoapStats _stats;
        private readonly ILogger _log;

        // Scratch, owned by this shard's task.
        private readonly CoapMessage _outer;
        private readonly CoapMessage _inner;
        private readonly CoapMessage _response;
        private readonly OscoreOptionValue _option = new();
        private readonly OscoreExchange _exchange = new();
        private readonly SenmlBatchReader _senml;
        private readonly byte[] _plain;
        private readonly byte[] _out;
        private readonly List<InboundDatagram?> _batch = new();
        private readonly List<PendingWrite> _pending = new();
        private readonly GroupCommitWriter _writer;
        private readonly DatagramPool _datagrams;
        private readonly Utf8StringCache _strings = new(4096);
        private readonly System.Collections.Concurrent.ConcurrentQueue<PendingWrite> _completions = new();
        private ushort _nextMessageId = (ushort)Random.Shared.Next(65536);
        private CancellationToken _ct;
        private DbConnection? _db; // reads only (stored exchanges, replay windows); writes go through the group commit

        public EmseShard(int index, ContextCache cache, EmseStore store, IDatagramSender sender, TimeProvider time, EmseOptions options,
            EmseCoapStats stats, ILogger log, GroupCommitWriter writer, DatagramPool datagrams)
        {
            _index = index;
            _datagrams = datagrams;
            _writer = writer;
            _cache = cache;
            _store = store;
            _sender = sender;
            _time = time;
            _options = options;
            _stats = stats;
            _log = log;
            _channel = Channel.CreateBounded<InboundDatagram>(new BoundedChannelOptions(options.QueueCapacityPerWorker)
            {
                SingleReader = true,
                SingleWriter = false,
                FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: the caller drops
                // The reader is this shard's thread blocked on WaitToReadAsync: the writer that completes the wait wakes
                // it directly. Otherwise the completion is queued to the thread pool, whose worker then wakes the
                // shard: two thread switches per wake-up instead of one (measured: 170-240 ms of thread-pool CPU per
                // 307 200 requests in the issue 6 bench, for the shards' and the writer's waits).
                AllowSynchronousContinuations = true,
            });
            _outer = new CoapMessage(OscoreSecurityContext.DefaultMaxOptions, 0);
            _inner = new CoapMessage(OscoreSecurityContext.DefaultMaxOptions, 0);
            _response = new CoapMessage(8, 64);
            _senml = new SenmlBatchReader(options.MaxRecordsPerBatch, options.MaxDatagramSize);
            _plain = new byte[options.MaxDatagramSize];
            _out = new byte[options.MaxDatagramSize + 128];
        }

        public bool TryEnqueue(InboundDatagram d) => _channel.Writer.TryWrite(d);

        public void Complete() => _channel.Writer.TryComplete();

        /// <summary>
        /// The shard's loop on a thread of its own (like the writer and the folder: the thread pool is left to the
        /// sockets and the HTTP side): waits for datagrams, processes what is queued as one batch, hands the verified
        /// requests to the writer.
        /// </summary>
        // Entered once per thread and loops a long time: optimised at once instead of tier 0 + OSR.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void Run(CancellationToken ct)
        {
            ChannelReader<InboundDatagram> reader = _channel.Reader;
            _ct = ct;
            try
            {
                while (Wait(reader.WaitToReadAsync(ct)))
                {
                    while (_batch.Count < _options.MaxBatch && reader.TryRead(out InboundDatagram? d))
                    {
                        _batch.Add(d);
                    }

                    ProcessQueued();
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                Stopped(reader);
            }
        }

        /// <summary>How long an idle shard waits on its socket before it looks at its queue (handed-over and re-queued datagrams).</summary>
        private const int IdlePollMicroseconds = 5000;

        /// <summary>
        /// The shard's loop when it has a socket of its own (<see cref="EmseOptions.UdpSocketPerWorker"/>): takes what its
        /// queue holds (datagrams handed over by another shard, or re-queued after a key pull), then what its socket
        /// holds (recvmmsg(2) batches, <see cref="DatagramReceiveBatch"/>), up to MaxBatch, and processes them as one batch.
        /// Idle, it waits on the socket (poll(2)) for at most <see cref="IdlePollMicroseconds"/>. The server's
        /// <c>Admit</c> counts each datagram and copies it (null: answered already, too large).
        /// </summary>
        // Entered once per thread and loops a long time: optimised at once instead of tier 0 + OSR.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void RunReceiving(System.Net.Sockets.Socket socket, EmseCoapServer server, CancellationToken ct)
        {
            ChannelReader<InboundDatagram> reader = _channel.Reader;
            _ct = ct;
            System.Net.Sockets.AddressFamily family = socket.AddressFamily;
            using var receive = new DatagramReceiveBatch(socket, _options.MaxDatagramSize);
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    while (_batch.Count < _options.MaxBatch && reader.TryRead(out InboundDatagram? queued))
                    {
                        _batch.Add(queued);
                    }

                    if (_batch.Count == 0 && !socket.Poll(IdlePollMicroseconds, System.Net.Sockets.SelectMode.SelectRead))
                    {
                        continue;
                    }

                    while (_batch.Count < _options.MaxBatch)
                    {
                        int want = Math.Min(DatagramReceiveBatch.Capacity, _options.MaxBatch - _batch.Count);
                        int got = receive.Receive(want);
                        for (int i = 0; i < got; i++)
                        {
                            InboundDatagram? d = server.Admit(receive.Data(i), receive.Length(i), receive.Address(i), family);
                            if (d != null)
                            {
                                _batch.Add(d);
                            }
                        }

                        if (got < want)
                        {
                            break; // the socket is empty for now
                        }
                    }

                    if (_batch.Count > 0)
                    {
                        ProcessQueued();
                    }
                }
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException || e is ObjectDisposedException || e is OperationCanceledException)
            {
                if (!ct.IsCancellationRequested)
                {
                    _log.LogError("shard {Shard}: UDP receive failed: {Error}", _index, e.Message);
                }
            }
            finally
            {
                Stopped(reader);
            }
        }

        /// <summary>Processes <see cref="_batch"/>, gives back what is done with, hands the verified requests to the writer.</summary>
        private void ProcessQueued()
        {
            try
            {
                ProcessBatch();
            }
            catch (Exception e)
            {
                _log.LogError(e, "shard {Shard}: batch failed", _index);
            }
            finally
            {
                foreach (InboundDatagram? d in _batch)
                {
                    if (d != null && !d.Parked) // null: handed over to its kid's shard
                    {
                        if (!d.Deferred)
                        {
                            Interlocked.Increment(ref _stats.Handled);
                        }

                        _datagrams.Return(d);
                    }
                }

                _batch.Clear();
            }

            SubmitPending();
        }

        private void Stopped(ChannelReader<InboundDatagram> reader)
        {
            _db?.Dispose();
            _db = null;
            while (reader.TryRead(out InboundDatagram? d))
            {
                _datagrams.Return(d);
            }
        }

        /// <summary>All shards (index = shard number), to hand a datagram to its kid's shard.</summary>
        public EmseShard[] Peers { get; set; } = Array.Empty<EmseShard>();

        // Set by HandOver for the datagram ProcessOne is looking at: ProcessBatch then drops it from the batch.
        private bool _handedOver;

        /// <summary>
        /// A datagram of a kid another shard handles goes to that shard's queue, untouched. Once queued it is the other
        /// shard's (it may be processed and given back at once), so this batch forgets it; if that queue is full it is
        /// dropped (the device retransmits).
        /// </summary>
        private void HandOver(InboundDatagram d, int owner)
        {
            if (owner < Peers.Length && Peers[owner].TryEnqueue(d))
            {
                _handedOver = true;
                Interlocked.Increment(ref _stats.HandedOver);
                return;
            }

            Interlocked.Increment(ref _stats.Dropped);
        }

        /// <summary>
        /// Verified requests are handed to the writer every this many, not only at the end of a batch (up to MaxBatch):
        /// the writer's next group starts while the shard verifies the rest, instead of a whole batch waiting for its
        /// last datagram. Measured (issue 6, 1024 devices): less idle CPU and a higher rate in 6 of 6 paired runs.
        /// </summary>
        private const int SubmitEvery = 32;

        /// <summary>Verified requests go to the single writer (group commit); their responses leave after the commit.</summary>
        private void SubmitPending()
        {
            if (_options.InlineCommit)
            {
                _writer.CommitInline(_pending); // this thread commits, syncs and answers (EmseOptions.InlineCommit)
                _pending.Clear();
                return;
            }

            foreach (PendingWrite p in _pending)
            {
                ValueTask submitted = _writer.SubmitAsync(p, _ct);
                if (!submitted.IsCompletedSuccessfully)
                {
                    submitted.AsTask().GetAwaiter().GetResult(); // the writer's queue is full: back-pressure
                }
            }

            _pending.Clear();
        }

        private static bool Wait(ValueTask<bool> ready) => ready.IsCompletedSuccessfully ? ready.Result : ready.AsTask().GetAwaiter().GetResult();

        // ------------------------------------------------------------------------------------------------------

        private void ProcessBatch()
        {
            _pending.Clear();
            DrainCompletions();
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            DateTimeOffset now = _time.GetUtcNow();
            for (int i = 0; i < _batch.Count; i++)
            {
                InboundDatagram d = _batch[i]!; // nulls appear only behind i
                try
                {
                    _handedOver = false;
                    ProcessOne(d, now);
                    if (_handedOver)
                    {
                        _batch[i] = null; // another shard's now
                    }

                    if (_pending.Count >= SubmitEvery && !_options.InlineCommit)
                    {
                        SubmitPending();
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Never let one datagram take the server down; it is dropped (the device retransmits).
                    Interlocked.Increment(ref _stats.InternalErrors);
                    _log.LogError("shard {Shard}: datagram from {Remote} failed: {Error}", _index, d.Remote, e.GetType().Name + ": " + e.Message);
                }
            }

            Interlocked.Add(ref _stats.ProcessTicks, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
        }

        /// <summary>Called by the writer (any thread) for a request whose group failed or that the database called a replay.</summary>
        public void Complete(PendingWrite p) => _completions.Enqueue(p);

        /// <summary>
        /// On this shard's thread, before a batch: a failed group's exchanges are forgotten (their retransmissions are
        /// processed afresh) and the kid's in-memory window is reloaded from the database (the authority) before its
        /// next request; a database-detected replay merges the persisted window into the in-memory one.
        /// </summary>
        private void DrainCompletions()
        {
            while (_completions.TryDequeue(out PendingWrite? p))
            {
                p.Entry.RemoveRecent(p.Recent);
                if (p.Failed)
                {
                    p.Entry.WindowStale = true;
                }
                else if (p.Entry.Context != null)
                {
                    p.Entry.Context.GetReplayWindow(out long h, out uint m);
                    ReplayMath.Union(ref h, ref m, p.WindowHighest, p.WindowMask);
                    p.Entry.Context.RestoreReplayWindow(h, m);
                }
            }
        }

        private void ProcessOne(InboundDatagram d, DateTimeOffset now)
        {
            d.Parked = false;
            try
            {
                CoapCodec.Decode(d.Buffer, 0, d.Length, _outer);
            }
            catch (MalformedInputException)
            {
                // RFC 7252 §4.2/§4.3: a CON with a message format error is rejected with RST; anything else ignored.
                Interlocked.Increment(ref _stats.Malformed);
                RejectIfConfirmable(d);
                return;
            }

            byte type = _outer.Type;
            if (type == CoapType.Acknowledgement || type == CoapType.Reset)
            {
                return; // RFC 7252 §4.2: the EMSE has no CON of its own outstanding
            }

            if (_outer.Code == CoapCode.Empty || !CoapCode.IsRequest(_outer.Code))
            {
                // CoAP ping (Empty CON, RFC 7252 §4.3) or a response we never asked for: RST for CON, else ignore.
                RejectIfConfirmable(d);
                return;
            }

            bool hasOscore;
            if (_outer.Code != CoapCode.Post && _outer.FindOption(CoapOption.Oscore) >= 0)
            {
                // RFC 8613 §4.2: the Outer Code of an OSCORE request is POST (FETCH only for Observe, not offered here).
                // The outer code is not integrity-protected; refusing others keeps tampering visible.
                SendError(d, CoapCode.MethodNotAllowed, DiagMethod);
                return;
            }

            try
            {
                hasOscore = _option.ReadFrom(_outer);
            }
            catch (OscoreException e)
            {
                SendError(d, e.CoapCode, Diagnostic(e.OscoreError));
                return;
            }

            if (!hasOscore)
            {
                // RFC 8613 §8.2: a resource that requires OSCORE answers an unprotected request with 4.01.
                SendError(d, CoapCode.Unauthorized, DiagNoOscore);
                return;
            }

            if (!_option.HasKid || !_option.HasPiv)
            {
                SendError(d, CoapCode.BadOption, Diagnostic(OscoreError.MalformedOption)); // RFC 8613 §5: both SHALL be present
                return;
            }

            // DESIGN.md §4: the kid on the wire is the first 7 octets of the e2m KID (RFC 8613 §5.2: an ID is at most nonce
            // length - 6 = 7 octets with AES-CCM-16-64-128), so no other length can name a key: 4.01 at once, no EMKS pull.
            if (_option.KidLength != OscoreConstants.MaxIdLength || !KidKey.TryPack(_option.Kid, 0, _option.KidLength, out ulong key))
            {
                Interlocked.Increment(ref _stats.UnknownKid);
                SendError(d, CoapCode.Unauthorized, Diagnostic(OscoreError.UnknownKid));
                return;
            }

            long piv = _option.PivValue;

            // Context for the kid (RFC 8613 §8.2 step 2): cached, or pulled from the EMKS (datagram parked meanwhile).
            // A stale entry (the EMKS now names another device id for the key, ContextCache.Revalidate) is pulled again by
            // its owner shard, the only thread that uses its context.
            if (!_cache.TryGet(key, out ContextEntry entry) || (entry.State != ContextState.Ready && now >= entry.RetryAfter)
                || (entry.Stale && Volatile.Read(ref entry.Owner) == _index))
            {
                if (entry != null)
                {
                    _cache.Evict(entry);
                }

                Task<ContextEntry> pull = _cache.PullAsync(key);
                if (!pull.IsCompleted)
                {
                    Park(d, pull);
                    return;
                }

                entry = pull.Result;
            }

            // One shard per kid (ContextEntry.Owner): the first to get here keeps it; the others hand its datagrams over.
            int owner = entry.Claim(_index);
            if (owner != _index)
            {
                HandOver(d, owner);
                return;
            }

            if (entry.State == ContextState.Unavailable)
            {
                SendError(d, CoapCode.ServiceUnavailable, DiagUnavailable, maxAge: 5);
                return;
            }

            if (entry.State == ContextState.Unknown)
            {
                Interlocked.Increment(ref _stats.UnknownKid);
                SendError(d, CoapCode.Unauthorized, Diagnostic(OscoreError.UnknownKid));
                return;
            }

            // DESIGN.md §5: the EMSE rejects expired keys, and keys the EMKS no longer gives this EMSE (ContextCache.Revalidate,
            // or the EMKS's revocation: the HSS removed this EMSE from the subscription or revoked it); the device re-keys on 4.01.
            bool expired = entry.Expires <= now;
            if (expired || entry.Revoked)
            {
                Interlocked.Increment(ref _stats.UnknownKid);
                if (!expired)
                {
                    Interlocked.Increment(ref _stats.Revoked);
                }

                _cache.MarkExpired(entry);
                SendError(d, CoapCode.Unauthorized, DiagExpired);
                return;
            }

            if (now.UtcTicks >= Volatile.Read(ref entry.RevalidateAtTicks))
            {
                Volatile.Write(ref entry.RevalidateAtTicks, long.MaxValue); // set again by the revalidation's outcome
                _cache.Revalidate(entry);
            }

            OscoreSecurityContext context = entry.Context!;
            long nowMs = now.ToUnixTimeMilliseconds();
            byte[] hash = HashRequest(d);

            // RFC 7252 §4.5 deduplication: a retransmission (same bytes, same PIV) within EXCHANGE_LIFETIME gets the
            // same protected response; the batch is not stored again and the replay window is not consulted.
            RecentExchange? recent = entry.FindRecent(piv);
            if (recent != null && recent.RequestHash.AsSpan().SequenceEqual(hash))
            {
                if (recent.Response == null)
                {
                    return; // still being committed in this batch: its response follows
                }

                if (nowMs - recent.CreatedMs <= (long)_options.ExchangeLifetime.TotalMilliseconds)
                {
                    Interlocked.Increment(ref _stats.Retransmissions);
                    Send(recent.Response, recent.Response.Length, d.Remote);
                    return;
                }
            }

            if (entry.WindowStale)
            {
                // A group holding this kid failed: its in-memory window may hold PIVs that were never stored.
                try
                {
                    _db ??= _store.Open();
                    if (!_store.TryLoadReplay(_db, entry.KidHex, out long h, out uint m))
                    {
                        h = -1;
                        m = 0;
                    }

                    context.RestoreReplayWindow(h, m);
                    entry.WindowStale = false;
                }
                catch (Exception e) when (e is DbException || e is InvalidOperationException)
                {
                    _log.LogError("shard {Shard}: replay window reload failed: {Error}", _index, e.Message);
                    _db?.Dispose();
                    _db = null;
                    SendError(d, CoapCode.ServiceUnavailable, DiagUnavailable, maxAge: 5);
                    return;
                }
            }

            try
            {
                context.UnprotectRequest(d.Buffer, 0, d.Length, _plain, 0, _exchange, _inner);
            }
            catch (OscoreException e)
            {
                if (e.OscoreError == OscoreError.ReplayDetected && TryStoredResponse(entry, piv, hash, nowMs, d))
                {
                    return;
                }

                if (e.OscoreError == OscoreError.ReplayDetected)
                {
                    Interlocked.Increment(ref _stats.Replays);
                }
                else
                {
                    Interlocked.Increment(ref _stats.Rejected);
                }

                _log.LogInformation("kid {Kid}: request rejected: {Error}", entry.KidHex, OscoreException.Describe(e.OscoreError));
                SendError(d, e.CoapCode, Diagnostic(e.OscoreError));
                return;
            }
            catch (MalformedInputException)
            {
                Interlocked.Increment(ref _stats.Rejected);
                SendError(d, CoapCode.BadRequest, Diagnostic(OscoreError.MalformedPlaintext));
                return;
            }

            // The request verified: everything from here is answered with a protected response (RFC 8613 §8.3) and
            // goes through the transaction (exchange row + replay window, readings when valid).
            List<StoredReading>? readings = null;
            byte[]? diagnostic = null;
            byte code = HandleRequest(entry, piv, now, ref readings, ref diagnostic);

            _response.Reset();
            bool confirmable = _inner.Type == CoapType.Confirmable;
            _response.Type = confirmable ? CoapType.Acknowledgement : CoapType.NonConfirmable; // RFC 7252 §5.2.1 piggybacked
            _response.MessageId = confirmable ? _inner.MessageId : _nextMessageId++;
            _response.SetToken(_inner.Token, 0, _inner.TokenLength);
            _response.Code = code;
            if (diagnostic != null)
            {
                _response.SetPayload(diagnostic, 0, diagnostic.Length); // RFC 7252 §5.5.2 diagnostic payload
            }

            int n = context.ProtectResponse(_response, _exchange, false, _out, 0); // RFC 8613 §8.3, request nonce
            _response.Reset();
            byte[] protectedResponse = _out.AsSpan(0, n).ToArray();
            var rec = new RecentExchange { Piv = piv, RequestHash = hash, Response = null, CreatedMs = nowMs };
            entry.AddRecent(rec);
            d.Deferred = true;
            _pending.Add(new PendingWrite
            {
                Kid = entry.KidHex,
                Piv = piv,
                RequestHash = hash,
                Response = protectedResponse,
                DeviceId = entry.DeviceId,
                Readings = readings,
                Entry = entry,
                Recent = rec,
                Remote = d.Remote,
                Shard = this,
                MessageId = _outer.MessageId,
                Confirmable = _outer.Type == CoapType.Confirmable,
                Token = _outer.TokenLength == 0 ? Array.Empty<byte>() : _outer.Token.AsSpan(0, _outer.TokenLength).ToArray(),
            });
        }

        /// <summary>POST /r with Content-Format 112 (DESIGN.md §4); returns the response code.</summary>
        private byte HandleRequest(ContextEntry entry, long piv, DateTimeOffset now, ref List<StoredReading>? readings, ref byte[]? diagnostic)
        {
            int paths = 0;
            bool pathOk = true;
            for (int i = 0; i < _inner.OptionCount; i++)
            {
                int number = _inner.GetOptionNumber(i);
                if (number == CoapOption.UriPath)
                {
                    paths++;
                    pathOk &= _inner.GetOptionLength(i) == 1 && _inner.GetOptionBuffer(i)[_inner.GetOptionOffset(i)] == (byte)'r';
                }
                else if (number == CoapOption.UriQuery)
                {
                    pathOk = false;
                }
                else if (number == CoapOption.Accept)
                {
                    // RFC 7252 §5.10.4: a recognised (critical) option; the 2.04 carries no representation, so any is met
                }
                else if (CoapOption.IsCritical(number) && number != CoapOption.UriHost && number != CoapOption.UriPort
                    && number != CoapOption.Oscore)
                {
                    // RFC 7252 §5.4.1: unrecognized critical option in a request → 4.02.
                    diagnostic = DiagBadOption;
                    return CoapCode.BadOption;
                }
            }

            if (paths != 1 || !pathOk)
            {
                diagnostic = DiagNotFound;
                return CoapCode.NotFound;
            }

            if (_inner.Code != CoapCode.Post)
            {
                diagnostic = DiagMethod;
                return CoapCode.MethodNotAllowed;
            }

            int format;
            try
            {
                format = _inner.GetContentFormat();
            }
            catch (MalformedInputException)
            {
                format = -1;
            }

            if (format != CoapContentFormat.SenmlCbor)
            {
                diagnostic = DiagFormat;
                return CoapCode.UnsupportedContentFormat;
            }

            try
            {
                readings = DecodeSenml(entry, piv, now);
                return CoapCode.Changed;
            }
            catch (MalformedInputException e)
            {
                Interlocked.Increment(ref _stats.BadSenml);
                _log.LogInformation("kid {Kid}: bad SenML ({Error})", entry.KidHex, e.Message);
                diagnostic = DiagSenml;
                readings = null;
                return CoapCode.BadRequest;
            }
        }

        private List<StoredReading> DecodeSenml(ContextEntry entry, long piv, DateTimeOffset now)
        {
            if (_inner.PayloadLength == 0)
            {
                throw new SenmlFormatException(InputError.SenmlNotAnArray, 0);
            }

            int count = _senml.Read(_inner.PayloadBuffer, _inner.PayloadOffset, _inner.PayloadLength);
            long nowMs = now.ToUnixTimeMilliseconds();
            var list = new List<StoredReading>(count);
            for (int i = 0; i < count; i++)
            {
                var s = new StoredReading
                {
                    DeviceId = entry.DeviceId,
                    Kid = entry.KidHex,
                    Piv = piv,
                    Index = i,
                    Name = _strings.Get(_senml.NameBuffer, _senml.GetNameOffset(i), _senml.GetNameLength(i)),
                    Unit = _senml.GetUnitLength(i) >= 0 ? _strings.Get(_senml.Input, _senml.GetUnitOffset(i), _senml.GetUnitLength(i)) : null,
                    ValueKind = (int)_senml.GetValueKind(i),
                    ReceivedMs = nowMs,
                };
                switch (_senml.GetValueKind(i))
                {
                    case SenmlValueKind.Integer:
                        s.Integer = _senml.GetInteger(i);
                        s.Number = s.Integer.Value;
                        break;
                    case SenmlValueKind.Float:
                        double v = BitConverter.UInt64BitsToDouble(_senml.GetDoubleBits(i));
                        if (!double.IsFinite(v))
                        {
                            throw new SenmlFormatException(InputError.SenmlUnsupportedField, 0); // not representable in JSON
                        }

                        s.Number = v;
                        break;
                    case SenmlValueKind.String:
                        s.Text = Encoding.UTF8.GetString(_senml.Input, _senml.GetDataOffset(i), _senml.GetDataLength(i));
                        break;
                    case SenmlValueKind.Boolean:
                        s.Boolean = _senml.GetBool(i);
                        break;
                    case SenmlValueKind.Data:
                        s.Text = Convert.ToBase64String(_senml.Input, _senml.GetDataOffset(i), _senml.GetDataLength(i));
                        break;
                    default:
                        throw new SenmlFormatException(InputError.SenmlUnsupportedField, 0);
                }

                // RFC 8428 §4.5.3 / DESIGN.md §7: relative times (< 2^28) are stamped on arrival.
                long t = _senml.GetTime(i);
                if (t > MaxSenmlSeconds || t < -MaxSenmlSeconds)
                {
                    throw new SenmlFormatException(InputError.SenmlTimeOutOfRange, 0);
                }

                if (_senml.IsRelativeTime(i))
                {
                    s.TimeMs = nowMs + t * 1000;
                    s.TimeSource = "arrival";
                    if (s.TimeMs < MinTimeMs || s.TimeMs > MaxSenmlSeconds * 1000)
                    {
                        throw new SenmlFormatException(InputError.SenmlTimeOutOfRange, 0); // before year 1 or after 9999 once stamped
                    }
                }
                else
                {
                    s.TimeMs = t * 1000;
                    s.TimeSource = "device";
                }

                list.Add(s);
            }

            return list;
        }

        // 9999-12-31T23:59:59Z: keeps time_ms in range and DateTimeOffset printable.
        private const long MaxSenmlSeconds = 253402300799;

        // 0001-01-01T00:00:00Z, the earliest DateTimeOffset: a relative time (RFC 8428 §4.5.3, any value below 2^28, negative
        // without bound) stamped on arrival must land in the printable range as well.
        private const long MinTimeMs = -62135596800000;

        private bool TryStoredResponse(ContextEntry entry, long piv, byte[] hash, long nowMs, InboundDatagram d)
        {
            if (_store.DeferredWalSync && (_store.DurabilityLost || _store.HasUnsyncedJournalRows))
            {
                // The stored exchange may not be on the disk yet (committed, its fsync still to come or failed), and a
                // 2.04 promises it is: sync first (it covers everything committed before it). Failing, or refused after an
                // earlier fsync failure (EmseStore.DurabilityLost) → dropped, the device retransmits.
                bool lostBefore = _store.DurabilityLost;
                try
                {
                    _store.SyncWal();
                }
                catch (Exception e) when (e is System.IO.IOException || e is UnauthorizedAccessException)
                {
                    Interlocked.Increment(ref _stats.Dropped);
                    // After the loss of durability (logged once, critical, by the store) every retransmission lands here.
                    _log.Log(lostBefore ? Microsoft.Extensions.Logging.LogLevel.Debug : Microsoft.Extensions.Logging.LogLevel.Error, "shard {Shard}: write-ahead log sync failed, retransmission of kid {Kid} not answered: {Error}",
                        _index, entry.KidHex, e.Message);
                    return true;
                }
            }

            try
            {
                _db ??= _store.Open();
                if (_store.TryLoadExchange(_db, entry.KidHex, piv, nowMs - (long)_options.ExchangeLifetime.TotalMilliseconds,
                    out byte[] storedHash, out byte[] response)
                    && (storedHash.AsSpan().SequenceEqual(hash) || MatchesLegacyHash(d, storedHash)))
                {
                    Interlocked.Increment(ref _stats.Retransmissions);
                    entry.AddRecent(new RecentExchange { Piv = piv, RequestHash = hash, Response = response, CreatedMs = nowMs });
                    Send(response, response.Length, d.Remote);
                    return true;
                }
            }
            catch (Exception e) when (e is DbException || e is InvalidOperationException)
            {
                _log.LogError("shard {Shard}: exchange lookup failed: {Error}", _index, e.Message);
                _db?.Dispose();
                _db = null;
            }

            return false;
        }

        private void Park(InboundDatagram d, Task<ContextEntry> pull)
        {
            if (++d.Attempts > 3)
            {
                return; // dropped (buffer returned by the batch loop)
            }

            d.Parked = true;
            // Parked stays true until this shard dequeues the datagram again (ProcessOne resets it): the batch loop of
            // this shard must not return the buffer even when the continuation already queued it.
            pull.ContinueWith(_ =>
            {
                if (!_channel.Writer.TryWrite(d))
                {
                    Interlocked.Increment(ref _stats.Dropped);
                    Interlocked.Increment(ref _stats.Handled);
                    _datagrams.Return(d);
                }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        /// <summary>
        /// The request's fingerprint: XXH128 of the whole datagram (16 octets): a retransmission has the same bytes.
        /// Not a security function: it only tells a retransmission (answered again from the stored response) from
        /// another datagram with an accepted PIV (4.01 "Replay detected"). The comparison runs before decryption, so the
        /// other datagram is not authenticated; but a datagram crafted to collide with a stored fingerprint gets only
        /// what a copy of the original datagram (which the crafter needs to know the target) gets anyway: the stored
        /// protected response, which it cannot read. Until this version it was the first 16 octets of SHA-256, through OpenSSL: ≈ 0.5 µs
        /// per request in the shard (two native calls, each clearing OpenSSL's error queue), ≈ 12 % of its CPU;
        /// XXH128 is computed in managed code in ≈ 30 ns.
        /// </summary>
        private static byte[] HashRequest(InboundDatagram d) => XxHash128.Hash(d.Buffer.AsSpan(0, d.Length));

        /// <summary>
        /// The fingerprint an EMSE before XXH128 stored (first 16 octets of SHA-256), compared only when a stored
        /// exchange's fingerprint differs: a retransmission of a request answered just before an upgrade is still
        /// recognised. Exchanges older than ExchangeLifetime are never compared, so this can go once no such EMSE runs.
        /// </summary>
        private static bool MatchesLegacyHash(InboundDatagram d, byte[] storedHash)
        {
            if (storedHash.Length != HashLength)
            {
                return false;
            }

            Span<byte> full = stackalloc byte[32];
            SHA256.HashData(d.Buffer.AsSpan(0, d.Length), full);
            return full.Slice(0, HashLength).SequenceEqual(storedHash);
        }

        private void RejectIfConfirmable(InboundDatagram d)
        {
            // RFC 7252 §3: Ver (2 bits) = 1, T = CON (0); the RST echoes the Message ID, has no token (§4.2).
            if (d.Length >= 4 && (d.Buffer[0] >> 6) == CoapCodec.Version && ((d.Buffer[0] >> 4) & 0x03) == CoapType.Confirmable)
            {
                Span<byte> rst = stackalloc byte[4];
                rst[0] = (byte)((CoapCodec.Version << 6) | (CoapType.Reset << 4));
                rst[1] = CoapCode.Empty;
                rst[2] = d.Buffer[2];
                rst[3] = d.Buffer[3];
                byte[] b = rst.ToArray();
                Send(b, 4, d.Remote);
            }
        }

        /// <summary>Unprotected error response (RFC 8613 §8.2 steps 2/3/6; Max-Age 0 so no proxy caches it).</summary>
        private void SendError(InboundDatagram d, byte code, byte[] diagnostic, uint maxAge = 0)
        {
            Interlocked.Increment(ref _stats.Errors);
            _response.Reset();
            bool confirmable = _outer.Type == CoapType.Confirmable;
            _response.Type = confirmable ? CoapType.Acknowledgement : CoapType.NonConfirmable;
            _response.MessageId = confirmable ? _outer.MessageId : _nextMessageId++;
            _response.SetToken(_outer.Token, 0, _outer.TokenLength);
            _response.Code = code;
            _response.AddOptionUInt(CoapOption.MaxAge, maxAge);
            _response.SetPayload(diagnostic, 0, diagnostic.Length);
            int n = CoapCodec.Encode(_response, _out, 0);
            _response.Reset();
            Send(_out, n, d.Remote);
        }

        private void Send(byte[] buffer, int length, SocketAddress remote)
        {
            try
            {
                _sender.Send(buffer, 0, length, remote);
                Interlocked.Increment(ref _stats.Sent);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException || e is ObjectDisposedException)
            {
                _log.LogDebug("send to {Remote} failed: {Error}", remote, e.Message);
            }
        }

        private static byte[] Diagnostic(OscoreError e) => OscoreDiagnostics.TryGetValue(e, out byte[]? b) ? b : DiagNoOscore;

        private static Dictionary<OscoreError, byte[]> BuildOscoreDiagnostics()
        {
            var d = new Dictionary<OscoreError, byte[]>();
            foreach (OscoreError e in Enum.GetValues<OscoreError>())
            {
                d[e] = Encoding.UTF8.GetBytes(OscoreException.DiagnosticFor(e) ?? OscoreException.Describe(e));
            }

            return d;
        }

    }
}

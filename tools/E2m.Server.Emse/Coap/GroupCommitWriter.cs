using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Oscore;
using E2m.Server.Emse.Storage;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emse.Coap
{
    /// <summary>Window arithmetic of RFC 8613 §7.4 (32-entry sliding window: highest PIV + mask, bit i = highest − i).</summary>
    internal static class ReplayMath
    {
        /// <summary>The union of two windows into (<paramref name="h"/>, <paramref name="m"/>): every PIV either marks.</summary>
        public static void Union(ref long h, ref uint m, long h2, uint m2)
        {
            if (h2 < 0)
            {
                return;
            }

            if (h < 0)
            {
                h = h2;
                m = m2;
                return;
            }

            long top = Math.Max(h, h2);
            m = Shift(m, top - h) | Shift(m2, top - h2);
            h = top;
        }

        private static uint Shift(uint mask, long by) => by >= OscoreConstants.ReplayWindowSize ? 0u : mask << (int)by;
    }

    /// <summary>
    /// The single writer of the EMSE process (group commit, issue 6 points 3 and 6). Shards verify requests in parallel
    /// and queue them here; one thread drains everything queued (up to <see cref="EmseOptions.MaxBatch"/>), commits it
    /// in ONE transaction (<see cref="EmseStore.CommitGroup"/>: authoritative replay check, exchanges, readings, replay
    /// windows), makes it durable (SQLite FULL: ONE fsync of the write-ahead log, <see cref="EmseStore.SyncWal"/>) and
    /// only then sends the responses (DESIGN.md §4: the 2.04 acknowledges a durable batch). While a group commits,
    /// syncs and is answered, the next one accumulates in the queue: one commit and one fsync per group, shared by all
    /// the requests that arrived meanwhile. A failed group sends nothing and tells the shards to forget it (the devices
    /// retransmit).
    /// <para>
    /// Until session 12 a separate responder thread synced and answered while the writer committed the next group:
    /// the writer then committed two or three small groups per fsync (each ≈ 45-70 µs of BEGIN, WAL frames, locks and
    /// COMMIT) for the same acknowledgement time, plus a thread hop per group. Doing the three in turn on one thread
    /// measured 20-30 % more requests per second at 64 lock-step devices with 20 % less CPU per request, and the same
    /// or better at 256-4096 (README, "Throughput").
    /// </para>
    /// </summary>
    internal sealed class GroupCommitWriter
    {
        private static readonly byte[] DiagReplay = System.Text.Encoding.UTF8.GetBytes(
            OscoreException.DiagnosticFor(OscoreError.ReplayDetected) ?? OscoreException.Describe(OscoreError.ReplayDetected));

        private readonly Channel<PendingWrite> _queue;
        private readonly EmseStore _store;
        private readonly IDatagramSender _sender;
        private readonly TimeProvider _time;
        private readonly EmseOptions _options;
        private readonly EmseCoapStats _stats;
        private readonly ILogger _log;
        private readonly List<ExchangeWrite> _group = new();
        private readonly CoapMessage _error = new(4, 16);
        private readonly byte[] _errorBuffer = new byte[128];
        private readonly Thread _thread;
        private readonly Thread _folder;

        private readonly AutoResetEvent _foldWake = new(false);

        private volatile bool _stopping;
        private bool _settled; // the writer's: the current group was answered or forgotten (Run's last-resort catch)

        /// <summary>Test seam: called before each response of a committed group; throwing stands for a fault while answering it.</summary>
        internal Action<ExchangeWrite>? BeforeAnswer { get; set; }
        private EmseStore.WriteSession? _session;
        private DatagramBatch? _batch; // the writer thread's (created there, sendmmsg batches of the responses)
        private Action<int, int>? _batchFailed;
        private ushort _nextMessageId = (ushort)Random.Shared.Next(65536);

        public GroupCommitWriter(EmseStore store, IDatagramSender sender, TimeProvider time, EmseOptions options, EmseCoapStats stats, ILogger log)
        {
            _store = store;
            _sender = sender;
            _time = time;
            _options = options;
            _stats = stats;
            _log = log;
            _store.TrackUnsyncedJournalRows = _store.DeferredWalSync; // the writer's fsync guards the folds (EmseStore.FoldCap)
            // Bounded: when the database falls behind, the shards wait, their queues fill and new datagrams are dropped
            // (the devices retransmit, RFC 7252 §4.2) instead of memory growing without limit.
            _queue = Channel.CreateBounded<PendingWrite>(new BoundedChannelOptions(Math.Max(1024, options.MaxBatch * 8))
            {
                SingleReader = true,
                SingleWriter = false,
                FullMode = BoundedChannelFullMode.Wait,
                AllowSynchronousContinuations = true, // see EmseShard's queue
            });
            _thread = new Thread(Run) { IsBackground = true, Name = "emse-group-commit" };
            _folder = new Thread(FoldLoop) { IsBackground = true, Name = "emse-journal-fold" };
        }

        public void Start()
        {
            _thread.Start();
            if (_store.UsesJournal)
            {
                _folder.Start();
            }
        }

        public ValueTask SubmitAsync(PendingWrite p, CancellationToken ct) =>
            _queue.Writer.TryWrite(p) ? default : _queue.Writer.WriteAsync(p, ct);

        /// <summary>No more submissions: the writer commits what is queued and stops.</summary>
        public void Complete(TimeSpan wait)
        {
            _queue.Writer.TryComplete();
            if (_thread.IsAlive && !_thread.Join(wait))
            {
                _log.LogWarning("EMSE group commit did not finish within {Wait}", wait);
            }
        }

        // Entered once per thread (or rarely) and loops a long time: optimised at once instead of tier 0 + OSR.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private void Run()
        {
            ChannelReader<PendingWrite> reader = _queue.Reader;
            try
            {
                while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                {
                    lock (_inlineGate) // the group's state is shared with CommitInline
                    {
                        while (_group.Count < _options.MaxBatch && reader.TryRead(out PendingWrite? p))
                        {
                            _group.Add(p);
                        }

                        CommitGroup();
                    }
                }

                _stopping = true;
                _foldWake.Set();
                if (_folder.IsAlive)
                {
                    _folder.Join();
                }

                Fold(); // stopping: leave an empty journal behind
            }
            finally
            {
                lock (_inlineGate) // a shard that did not stop in time may still be committing inline
                {
                    _session?.Dispose();
                    _session = null;
                    _batch?.Dispose();
                    _batch = null;
                }
            }
        }

        /// <summary>Commits, syncs and answers <see cref="_group"/>, then empties it (the caller holds <see cref="_inlineGate"/>).</summary>
        private void CommitGroup()
        {
            _settled = false;
            try
            {
                CommitAndAnswer();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Interlocked.Increment(ref _stats.InternalErrors);
                _log.LogError("EMSE group commit: {Error}", e.GetType().Name + ": " + e.Message);
                if (!_settled)
                {
                    ForgetGroup(); // neither answered nor forgotten: the shards would drop every retransmission
                }
            }
            finally
            {
                _group.Clear();
            }

            if (_store.JournalBacklog >= _options.JournalFoldEntries)
            {
                _foldWake.Set(); // the folder thread works beside the writer (its own database file)
            }
        }

        /// <summary>
        /// <see cref="EmseOptions.InlineCommit"/> (one shard): the shard's verified requests are committed, synced and
        /// answered on the shard's own thread. The group's state, session and send batch are this object's, shared with the
        /// (then idle) writer thread, hence the lock.
        /// </summary>
        public void CommitInline(List<PendingWrite> writes)
        {
            if (writes.Count == 0)
            {
                return;
            }

            lock (_inlineGate)
            {
                foreach (PendingWrite p in writes)
                {
                    _group.Add(p);
                }

                CommitGroup();
            }
        }

        private readonly object _inlineGate = new();

        /// <summary>
        /// The folder thread (SQLite, <see cref="EmseStore.UsesJournal"/>): woken once <see cref="EmseOptions.JournalFoldEntries"/>
        /// exchanges wait in the journal, it folds the journal into the readings file (<see cref="EmseStore.FoldJournal()"/>).
        /// The readings file has its own write lock, so the writer goes on committing groups meanwhile.
        /// </summary>
        // Entered once per thread (or rarely) and loops a long time: optimised at once instead of tier 0 + OSR.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private void FoldLoop()
        {
            while (true)
            {
                _foldWake.WaitOne();
                if (_stopping)
                {
                    return;
                }

                Fold(deleteFolded: false); // the writer deletes the folded journal rows in its next group transaction
            }
        }

        private void Fold(bool deleteFolded = true)
        {
            if (!_store.UsesJournal)
            {
                return;
            }

            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            long rejected = _store.RejectedJournalRows;
            long unreadable = _store.Readings?.UndecodableBlocks ?? 0;
            try
            {
                _store.FoldJournal(deleteFolded);
                Interlocked.Increment(ref _stats.Folds);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Nothing is lost: the rows stay in the journal and are folded by the next attempt or the next read.
                Interlocked.Increment(ref _stats.FoldFailures);
                _log.LogError("EMSE journal fold failed: {Error}", e.GetType().Name + ": " + e.Message);
            }

            if (_store.RejectedJournalRows != rejected)
            {
                _log.LogError("EMSE journal: {Count} row(s) did not decode and were moved to emse_journal_rejected", _store.RejectedJournalRows - rejected);
            }

            if ((_store.Readings?.UndecodableBlocks ?? 0) != unreadable)
            {
                _log.LogError("EMSE readings: {Count} block(s) of emse-readings.db did not decode and were skipped (their readings are not served)",
                    (_store.Readings?.UndecodableBlocks ?? 0) - unreadable);
            }

            Interlocked.Add(ref _stats.FoldTicks, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
        }

        private void CommitAndAnswer()
        {
            if (_store.DurabilityLost)
            {
                // An earlier fsync of the log failed (EmseStore.DurabilityLost): nothing can be acknowledged any more, so
                // nothing more is committed either; the devices retransmit to the restarted EMSE.
                Interlocked.Add(ref _stats.Dropped, _group.Count);
                ForgetGroup();
                return;
            }

            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            long nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
            try
            {
                _session ??= _store.OpenSession();
                _store.CommitGroup(_session, _group, nowMs, nowMs - (long)_options.ExchangeLifetime.TotalMilliseconds);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Nothing was stored: no response; the shards forget these exchanges and reload the kids' windows.
                Interlocked.Increment(ref _stats.CommitFailures);
                _log.LogError("EMSE group commit of {Count} requests failed, no response sent: {Error}", _group.Count,
                    e.GetType().Name + ": " + e.Message);
                _session?.Dispose();
                _session = null;
                ForgetGroup();
                return;
            }

            Interlocked.Increment(ref _stats.Commits);
            Interlocked.Add(ref _stats.CommitTicks, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
            // SQLite FULL: the fsync that makes this group durable, then its responses (DESIGN.md §4: after COMMIT).
            if (_store.DeferredWalSync && !SyncWal())
            {
                return;
            }

            _batch ??= _sender.CreateBatch();
            try
            {
                Answer();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Interlocked.Increment(ref _stats.InternalErrors);
                _log.LogError("EMSE responses: {Error}", e.GetType().Name + ": " + e.Message);
            }
            finally
            {
                FlushBatch();
                Interlocked.Add(ref _stats.Handled, _group.Count); // after the answers are sent (Stats.Handled)
            }
        }

        /// <summary>
        /// The fsync of the write-ahead log that makes the group durable (<see cref="EmseStore.SyncWal"/>):
        /// only then are its responses sent. If the sync fails, the group is not acknowledged (an error is logged) and the
        /// shards forget the exchanges; nothing is acknowledged after it until the EMSE restarts (EmseStore.DurabilityLost).
        /// The transaction did commit, so after the restart a device's retransmission finds its exchange stored (if the
        /// disk kept it) and gets the stored response; nothing is stored twice.
        /// </summary>
        private bool SyncWal()
        {
            try
            {
                _store.SyncWal();
                Interlocked.Increment(ref _stats.WalSyncs);
                return true;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Interlocked.Increment(ref _stats.CommitFailures);
                _log.LogError("EMSE write-ahead log sync failed, a group of {Count} request(s) not acknowledged: {Error}", _group.Count, e.Message);
                ForgetGroup();
                return false;
            }
        }

        /// <summary>The group is not acknowledged: its shards forget the exchanges (the devices retransmit).</summary>
        private void ForgetGroup()
        {
            _settled = true;
            foreach (ExchangeWrite w in _group)
            {
                var p = (PendingWrite)w;
                p.Failed = true;
                p.Shard.Complete(p);
                Interlocked.Increment(ref _stats.Handled);
            }
        }

        private void Answer()
        {
            _settled = true; // each request is answered or forgotten below, whatever happens to another
            foreach (ExchangeWrite w in _group)
            {
                var p = (PendingWrite)w;
                try
                {
                    BeforeAnswer?.Invoke(p);
                    AnswerOne(p);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Interlocked.Increment(ref _stats.InternalErrors);
                    _log.LogError("EMSE response: {Error}", e.GetType().Name + ": " + e.Message);
                    if (p.Outcome != WriteOutcome.Replay && p.Recent.Response == null)
                    {
                        p.Failed = true; // not recorded as answered: the shard forgets it, a retransmission is looked up afresh
                        p.Shard.Complete(p);
                    }
                }
            }
        }

        private void AnswerOne(PendingWrite p)
        {
            switch (p.Outcome)
            {
                case WriteOutcome.Stored:
                    p.Recent.Response = p.Response;
                    if (p.Readings != null)
                    {
                        Interlocked.Add(ref _stats.ReadingsStored, p.Readings.Count);
                    }

                    Interlocked.Increment(ref _stats.Accepted);
                    Send(p.Response, p.Response.Length, p);
                    break;
                case WriteOutcome.Duplicate:
                    // RFC 7252 §4.5: the same request again (another group, or another EMSE instance stored it first).
                    p.Recent.Response = p.StoredResponse!;
                    Interlocked.Increment(ref _stats.Retransmissions);
                    Send(p.StoredResponse!, p.StoredResponse!.Length, p);
                    break;
                default:
                    // RFC 8613 §7.4: the persisted window (maybe moved by another instance) already holds this PIV.
                    Interlocked.Increment(ref _stats.Replays);
                    p.Shard.Complete(p);
                    SendReplay(p);
                    break;
            }
        }

        private void FlushBatch()
        {
            if (_batch == null || _batch.Count == 0)
            {
                return;
            }

            try
            {
                int sent = _batch.Flush(_batchFailed ??= (i, errno) => _log.LogDebug("send of a batched response failed: errno {Errno}", errno));
                Interlocked.Add(ref _stats.Sent, sent);
            }
            catch (ObjectDisposedException)
            {
                _log.LogDebug("responses not sent: the socket is closed"); // stopping
            }
        }

        /// <summary>Unprotected 4.01 "Replay detected" (RFC 8613 §8.2 step 3, §7.4), Max-Age 0.</summary>
        private void SendReplay(PendingWrite p)
        {
            Interlocked.Increment(ref _stats.Errors);
            _error.Reset();
            _error.Type = p.Confirmable ? CoapType.Acknowledgement : CoapType.NonConfirmable;
            _error.MessageId = p.Confirmable ? p.MessageId : _nextMessageId++;
            _error.SetToken(p.Token, 0, p.Token.Length);
            _error.Code = CoapCode.Unauthorized;
            _error.AddOptionUInt(CoapOption.MaxAge, 0);
            _error.SetPayload(DiagReplay, 0, DiagReplay.Length);
            int n = CoapCodec.Encode(_error, _errorBuffer, 0);
            _error.Reset();
            Send(_errorBuffer, n, p);
        }

        private void Send(byte[] buffer, int length, PendingWrite p)
        {
            if (_batch != null)
            {
                if (_batch.TryAdd(buffer.AsSpan(0, length), p.Remote))
                {
                    return;
                }

                FlushBatch();
                if (_batch.TryAdd(buffer.AsSpan(0, length), p.Remote))
                {
                    return;
                }
            }

            try
            {
                _sender.Send(buffer, 0, length, p.Remote);
                Interlocked.Increment(ref _stats.Sent);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException || e is ObjectDisposedException)
            {
                _log.LogDebug("send to {Remote} failed: {Error}", p.Remote, e.Message);
            }
        }
    }
}

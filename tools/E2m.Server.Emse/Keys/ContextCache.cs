using System;
using System.Collections.Concurrent;
using System.Data.Common;
using System.Threading;
using System.Threading.Tasks;
using E2m.Crypto;
using E2m.Oscore;
using E2m.Server.Emse.Storage;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emse.Keys
{
    /// <summary>OSCORE 'kid' (≤ 7 octets, RFC 8613 §3.3) packed into a 64-bit dictionary key: length in the top octet.</summary>
    internal static class KidKey
    {
        public static bool TryPack(byte[] kid, int offset, int length, out ulong key)
        {
            key = 0;
            if (length < 0 || length > OscoreConstants.MaxIdLength)
            {
                return false;
            }

            ulong v = 0;
            for (int i = 0; i < length; i++)
            {
                v = (v << 8) | kid[offset + i];
            }

            key = ((ulong)length << 56) | v;
            return true;
        }

        public static byte[] Unpack(ulong key)
        {
            int length = (int)(key >> 56);
            var kid = new byte[length];
            for (int i = length - 1; i >= 0; i--)
            {
                kid[i] = (byte)key;
                key >>= 8;
            }

            return kid;
        }
    }

    internal enum ContextState
    {
        Ready,
        /// <summary>EMKS 404/403 or expired key: 4.01 until <see cref="ContextEntry.RetryAfter"/>.</summary>
        Unknown,
        /// <summary>EMKS unreachable: 5.03 until <see cref="ContextEntry.RetryAfter"/>.</summary>
        Unavailable,
    }

    /// <summary>A responded exchange kept in memory for retransmissions (RFC 7252 §4.5); the database holds the rest.</summary>
    internal sealed class RecentExchange
    {
        public long Piv;
        public byte[] RequestHash = Array.Empty<byte>();
        public volatile byte[]? Response;   // null while the group holding it is not committed yet (set by the writer)
        public long CreatedMs;
    }

    /// <summary>
    /// One kid's entry: its OSCORE context (e2m profile, ForEmse) with the key's expiry and device id, or a negative
    /// result. Owned by the shard the kid hashes to: only that shard's thread touches <see cref="Recent"/>,
    /// <see cref="Context"/> processing and eviction.
    /// </summary>
    internal sealed class ContextEntry
    {
        public const int RecentSize = 4;

        public ContextEntry(ulong key, string kidHex, ContextState state, OscoreSecurityContext? context, DateTimeOffset expires,
            string deviceId, DateTimeOffset retryAfter)
        {
            Key = key;
            KidHex = kidHex;
            State = state;
            Context = context;
            Expires = expires;
            DeviceId = deviceId;
            RetryAfter = retryAfter;
        }

        public ulong Key { get; }
        public string KidHex { get; }
        public ContextState State { get; }
        public OscoreSecurityContext? Context { get; }
        public DateTimeOffset Expires { get; }
        public string DeviceId { get; }
        public DateTimeOffset RetryAfter { get; }
        public readonly RecentExchange?[] Recent = new RecentExchange?[RecentSize];
        /// <summary>Set when a group holding this kid failed: reload the window from the database before the next request.</summary>
        public volatile bool WindowStale;

        /// <summary>The KID as the EMKS named it at the pull (8 octets, or the 7-octet kid), for revalidations.</summary>
        public byte[] FullKid = Array.Empty<byte>();

        /// <summary>When the owner shard next has the EMKS asked whether it still gives this key (UTC ticks; MaxValue: never).</summary>
        public long RevalidateAtTicks = long.MaxValue;

        /// <summary>A revalidation found that the EMKS no longer gives the key: the owner shard drops the context (4.01).</summary>
        public volatile bool Revoked;

        /// <summary>A revalidation found another device id (external id changed): the owner shard pulls the key again.</summary>
        public volatile bool Stale;

        /// <summary>1 while a revalidation of this entry is under way.</summary>
        public int Revalidating;

        /// <summary>
        /// The shard that handles this kid (-1: none yet). The first shard to look at the entry claims it; the others hand
        /// the kid's datagrams to it, so the context, window and recent exchanges stay with one thread. A replacing entry
        /// (new pull, expiry) keeps the owner.
        /// </summary>
        public int Owner = -1;

        /// <summary>The owner after <paramref name="shard"/>'s claim (itself when the entry had none).</summary>
        public int Claim(int shard)
        {
            int owner = Volatile.Read(ref Owner);
            if (owner >= 0)
            {
                return owner;
            }

            owner = Interlocked.CompareExchange(ref Owner, shard, -1);
            return owner < 0 ? shard : owner;
        }
        public int RecentNext;

        public RecentExchange? FindRecent(long piv)
        {
            foreach (RecentExchange? r in Recent)
            {
                if (r != null && r.Piv == piv)
                {
                    return r;
                }
            }

            return null;
        }

        public void AddRecent(RecentExchange r)
        {
            Recent[RecentNext] = r;
            RecentNext = (RecentNext + 1) % RecentSize;
        }

        public void RemoveRecent(RecentExchange r)
        {
            for (int i = 0; i < Recent.Length; i++)
            {
                if (ReferenceEquals(Recent[i], r))
                {
                    Recent[i] = null;
                }
            }
        }
    }

    /// <summary>
    /// The EMSE's OSCORE contexts by kid (DESIGN.md §4): unknown kid → one pull from the EMKS per kid however many
    /// datagrams wait for it (concurrent pulls deduplicated), context derived with OscoreSecurityContext.ForEmse and
    /// the persisted replay window restored (RFC 8613 §7.5); cached until the key expires. Negative results are
    /// cached for <see cref="EmseOptions.NegativeCacheTime"/> so an unknown-kid flood does not flood the EMKS.
    /// </summary>
    internal sealed class ContextCache : IDisposable
    {
        private static readonly TimeSpan UnavailableRetry = TimeSpan.FromSeconds(1);

        private readonly ConcurrentDictionary<ulong, ContextEntry> _entries = new();
        private readonly ConcurrentDictionary<ulong, Lazy<Task<ContextEntry>>> _pulls = new();
        private readonly IEmksKeySource _source;
        private readonly ICryptoProvider _crypto;
        private readonly EmseStore _store;
        private readonly TimeProvider _time;
        private readonly EmseOptions _options;
        private readonly ILogger _log;
        private readonly SemaphoreSlim _pullSlots;
        private readonly CancellationTokenSource _stopping = new();
        private readonly E2m.Server.Emse.Coap.EmseCoapStats? _stats;

        public ContextCache(IEmksKeySource source, ICryptoProvider crypto, EmseStore store, TimeProvider time, EmseOptions options, ILogger log,
            E2m.Server.Emse.Coap.EmseCoapStats? stats = null)
        {
            _stats = stats;
            _source = source;
            _crypto = crypto;
            _store = store;
            _time = time;
            _options = options;
            _log = log;
            _pullSlots = new SemaphoreSlim(options.MaxConcurrentPulls, options.MaxConcurrentPulls);
            _lastSweepTicks = time.GetUtcNow().UtcTicks;
        }

        public int Count => _entries.Count;

        public bool TryGet(ulong key, out ContextEntry entry) => _entries.TryGetValue(key, out entry!);

        /// <summary>Removes an entry (expired key or negative result past its retry time) and zeroises its context.</summary>
        public void Evict(ContextEntry entry)
        {
            if (_entries.TryRemove(new System.Collections.Generic.KeyValuePair<ulong, ContextEntry>(entry.Key, entry)))
            {
                entry.Context?.Dispose();
            }
        }

        /// <summary>Replaces a ready entry whose key expired with a negative one (4.01 until the retry time).</summary>
        public void MarkExpired(ContextEntry entry)
        {
            var negative = new ContextEntry(entry.Key, entry.KidHex, ContextState.Unknown, null, entry.Expires, "",
                _time.GetUtcNow() + _options.NegativeCacheTime) { Owner = Volatile.Read(ref entry.Owner) };
            if (_entries.TryUpdate(entry.Key, negative, entry))
            {
                entry.Context?.Dispose();
            }
        }

        /// <summary>The pull for <paramref name="key"/>, started if none is in flight. The task never faults.</summary>
        public Task<ContextEntry> PullAsync(ulong key)
        {
            Lazy<Task<ContextEntry>> lazy = _pulls.GetOrAdd(key, k => new Lazy<Task<ContextEntry>>(() => RunPullAsync(k)));
            return lazy.Value;
        }

        private async Task<ContextEntry> RunPullAsync(ulong key)
        {
            try
            {
                ContextEntry entry = await PullCoreAsync(key).ConfigureAwait(false);
                if (_entries.TryGetValue(key, out ContextEntry? old) && !ReferenceEquals(old, entry))
                {
                    entry.Owner = Volatile.Read(ref old.Owner); // before the entry is published
                    old.Context?.Dispose();
                }

                _entries[key] = entry;
                if (entry.State != ContextState.Ready)
                {
                    NoteNegative();
                }

                return entry;
            }
            finally
            {
                _pulls.TryRemove(key, out _);
            }
        }

        /// <summary>Negative results between two sweeps of <see cref="NoteNegative"/>.</summary>
        internal const int NegativeSweepEvery = 10_000;

        private long _negativesSinceSweep;
        private long _lastSweepTicks;

        /// <summary>
        /// A negative entry (unknown kid, EMKS unavailable) is evicted by its owner shard when the kid comes again after its
        /// retry time; a kid that never comes again (a flood of made-up kids) would stay for ever. So every
        /// <see cref="NegativeSweepEvery"/> negative results (at most once a second) the cache drops the negative entries
        /// past their retry time: memory stays at about the negatives of one <see cref="EmseOptions.NegativeCacheTime"/>,
        /// which the EMKS pull rate (<see cref="EmseOptions.MaxConcurrentPulls"/>) bounds.
        /// </summary>
        private void NoteNegative()
        {
            if (Interlocked.Increment(ref _negativesSinceSweep) < NegativeSweepEvery)
            {
                return;
            }

            DateTimeOffset now = _time.GetUtcNow();
            long last = Interlocked.Read(ref _lastSweepTicks);
            if (now.UtcTicks - last < TimeSpan.TicksPerSecond || Interlocked.CompareExchange(ref _lastSweepTicks, now.UtcTicks, last) != last)
            {
                return;
            }

            Interlocked.Exchange(ref _negativesSinceSweep, 0);
            foreach (System.Collections.Generic.KeyValuePair<ulong, ContextEntry> kv in _entries)
            {
                if (kv.Value.State != ContextState.Ready && kv.Value.RetryAfter <= now)
                {
                    Evict(kv.Value);
                }
            }
        }

        /// <summary>One EMKS request within the pull cap (<see cref="EmseOptions.MaxConcurrentPulls"/>); a failure is Unavailable.</summary>
        private async Task<EmksKeyLookup> LookupAsync(byte[] kid)
        {
            await _pullSlots.WaitAsync(_stopping.Token).ConfigureAwait(false);
            try
            {
                return await _source.GetKeyAsync(kid, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return EmksKeyLookup.Unavailable(e.GetType().Name);
            }
            finally
            {
                _pullSlots.Release();
            }
        }

        private async Task<ContextEntry> PullCoreAsync(ulong key)
        {
            byte[] kid = KidKey.Unpack(key);
            string kidHex = Convert.ToHexStringLower(kid);
            EmksKeyLookup lookup = await LookupAsync(kid).ConfigureAwait(false);
            DateTimeOffset now = _time.GetUtcNow();
            if (lookup.Status == EmksLookupStatus.Unavailable || (lookup.Status == EmksLookupStatus.Found && lookup.Key == null))
            {
                _log.LogWarning("EMKS unavailable for kid {Kid}: {Detail}", kidHex, lookup.Detail);
                return new ContextEntry(key, kidHex, ContextState.Unavailable, null, now, "", now + UnavailableRetry);
            }

            if (lookup.Status != EmksLookupStatus.Found)
            {
                _log.LogInformation("EMKS has no key for kid {Kid} ({Status})", kidHex, lookup.Status);
                return new ContextEntry(key, kidHex, ContextState.Unknown, null, now, "", now + _options.NegativeCacheTime);
            }

            EmksKey k = lookup.Key!;
            try
            {
                // The EMKS answers a pull by the 7-octet prefix with the full KID: it must extend what was asked.
                if (k.Kid.Length < kid.Length || !k.Kid.AsSpan(0, kid.Length).SequenceEqual(kid)
                    || k.E2mKey.Length != OscoreSecurityContext.E2mKeyLength || string.IsNullOrEmpty(k.DeviceId))
                {
                    _log.LogWarning("EMKS answer for kid {Kid} is inconsistent (kid, key length or device id): ignored", kidHex);
                    return new ContextEntry(key, kidHex, ContextState.Unknown, null, now, "", now + _options.NegativeCacheTime);
                }

                if (k.Expires <= now)
                {
                    _log.LogInformation("key for kid {Kid} expired at {Expires}", kidHex, k.Expires);
                    return new ContextEntry(key, kidHex, ContextState.Unknown, null, k.Expires, "", now + _options.NegativeCacheTime);
                }

                // DESIGN.md §4: Master Secret = e2m_key, Recipient ID = kid as received (SenderIdFromKid of the KID).
                OscoreSecurityContext context = OscoreSecurityContext.ForEmse(_crypto, k.E2mKey, kid, null);
                try
                {
                    // RFC 8613 §7.5: never start a used context with an empty window.
                    await Task.Run(() =>
                    {
                        using DbConnection c = _store.Open();
                        if (_store.TryLoadReplay(c, kidHex, out long highest, out uint mask))
                        {
                            context.RestoreReplayWindow(highest, mask);
                        }
                    }).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    context.Dispose();
                    _log.LogError("cannot load the replay window of kid {Kid}: {Error}", kidHex, e.Message);
                    return new ContextEntry(key, kidHex, ContextState.Unavailable, null, now, "", now + UnavailableRetry);
                }

                return new ContextEntry(key, kidHex, ContextState.Ready, context, k.Expires, k.DeviceId, DateTimeOffset.MaxValue)
                {
                    RevalidateAtTicks = RevalidateAt(now),
                    FullKid = (byte[])k.Kid.Clone(),
                };
            }
            finally
            {
                Array.Clear(k.E2mKey); // the context holds the derived keys only
            }
        }

        private long RevalidateAt(DateTimeOffset now) =>
            _options.KeyRevalidateInterval > TimeSpan.Zero && _source.CanRevalidate ? (now + _options.KeyRevalidateInterval).UtcTicks : long.MaxValue;

        /// <summary>How soon an unreachable EMKS is asked again by a revalidation (the key stays in use meanwhile).</summary>
        private static readonly TimeSpan RevalidateRetry = TimeSpan.FromMinutes(1);

        /// <summary>
        /// Asks the EMKS again for a ready entry's key, in the background (<see cref="EmseOptions.KeyRevalidateInterval"/>;
        /// DESIGN.md §5: e2m_key only while the subscription allows this EMSE). The same key and device id: used for
        /// another interval. No key (404 / 403, expired, another key): <see cref="ContextEntry.Revoked"/>. Another device
        /// id: <see cref="ContextEntry.Stale"/>. EMKS unreachable: asked again after <see cref="RevalidateRetry"/>. Only
        /// flags are set here; the owner shard acts on them on its own thread. At most one revalidation per entry at a time.
        /// </summary>
        public void Revalidate(ContextEntry entry)
        {
            if (Interlocked.CompareExchange(ref entry.Revalidating, 1, 0) != 0)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                try
                {
                    await RevalidateCoreAsync(entry).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Volatile.Write(ref entry.RevalidateAtTicks, (_time.GetUtcNow() + RevalidateRetry).UtcTicks);
                    if (e is not OperationCanceledException)
                    {
                        _log.LogWarning("revalidation of kid {Kid} failed: {Error}", entry.KidHex, e.GetType().Name + ": " + e.Message);
                    }
                }
                finally
                {
                    Volatile.Write(ref entry.Revalidating, 0);
                    if (_stats != null)
                    {
                        Interlocked.Increment(ref _stats.Revalidations); // after the outcome is set (tests wait for it)
                    }
                }
            });
        }

        private async Task RevalidateCoreAsync(ContextEntry entry)
        {
            EmksKeyLookup lookup = await LookupAsync(KidKey.Unpack(entry.Key)).ConfigureAwait(false);

            DateTimeOffset now = _time.GetUtcNow();
            EmksKey? k = lookup.Key;
            try
            {
                if (lookup.Status == EmksLookupStatus.Unavailable || (lookup.Status == EmksLookupStatus.Found && k == null))
                {
                    _log.LogWarning("EMKS unavailable for the revalidation of kid {Kid}: {Detail}; the key stays in use", entry.KidHex, lookup.Detail);
                    Volatile.Write(ref entry.RevalidateAtTicks, (now + RevalidateRetry).UtcTicks);
                    return;
                }

                // The same key: the same full KID as the first pull named (the KID is derived from e2m_int_key, and e2m_key
                // from e2m_int_key and this EMSE's id, DESIGN.md §2), still live.
                bool sameKey = k != null && k.Expires > now && k.Kid.AsSpan().SequenceEqual(entry.FullKid);
                if (!sameKey)
                {
                    _log.LogInformation("EMKS no longer gives the key of kid {Kid} ({Status}): context dropped, the device must re-key",
                        entry.KidHex, lookup.Status);
                    entry.Revoked = true;
                    return;
                }

                if (!string.Equals(k!.DeviceId, entry.DeviceId, StringComparison.Ordinal))
                {
                    _log.LogInformation("device id of kid {Kid} changed at the EMKS: key pulled again on its next request", entry.KidHex);
                    entry.Stale = true;
                    return;
                }

                Volatile.Write(ref entry.RevalidateAtTicks, RevalidateAt(now));
            }
            finally
            {
                if (k != null)
                {
                    Array.Clear(k.E2mKey);
                }
            }
        }

        public void Dispose()
        {
            _stopping.Cancel();
            foreach (ContextEntry e in _entries.Values)
            {
                e.Context?.Dispose();
            }

            _entries.Clear();
        }
    }
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;

namespace E2m.Server.Emks.Storage
{
    /// <summary>Options of the in-memory key cache (section <c>Emks:KeyCache</c>).</summary>
    public sealed class KeyCacheOptions
    {
        /// <summary>How long a row read from the database is served from memory. Bounds how stale this instance can be about
        /// changes made by another instance on the same database (a re-push changing the allowed EMSEs, a resync deleting
        /// a key); changes made through this instance invalidate at once. Expiry itself is always checked on the clock.
        /// Zero disables the cache.</summary>
        public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary>Maximum number of 7-octet kid prefixes held.</summary>
        public int Capacity { get; set; } = 100_000;
    }

    /// <summary>
    /// Hot-key cache of the pull path (issue 6 point 6: pulls/s). Holds database rows of <c>emks_key</c> by 7-octet kid
    /// prefix (so a pull by the 8-octet KID and by the OSCORE 7-octet kid share one entry), bounded and with a
    /// time-to-live. Decision: the rows are kept <b>sealed</b> (the AES-256-GCM blob of <c>AtRestProtector</c>), and are
    /// unsealed per request: unsealing 32 octets costs about a microsecond (measured by <c>e2m bench --emks-load</c>),
    /// so no plaintext e2m_int_key lives in memory between requests and nothing needs zeroising on eviction; the caller
    /// zeroises the unsealed copy after the derivation as before. No negative caching: an unknown KID is asked of the
    /// database every time, so a key pushed through another instance is visible at once.
    /// </summary>
    public sealed class KeyCache
    {
        private readonly ConcurrentDictionary<ulong, Entry> _entries = new();
        private readonly long _ttlMs;
        private readonly int _capacity;
        private long _generation;
        private long _hits;
        private long _misses;

        public KeyCache(KeyCacheOptions options)
        {
            _ttlMs = (long)options.Ttl.TotalMilliseconds;
            _capacity = Math.Max(1, options.Capacity);
        }

        public bool Enabled => _ttlMs > 0;

        public int Count => _entries.Count;

        public long Hits => Interlocked.Read(ref _hits);

        public long Misses => Interlocked.Read(ref _misses);

        /// <summary>Read before a database load and passed to <see cref="Put"/>: a load that raced with an invalidation is not cached.</summary>
        public long Generation => Interlocked.Read(ref _generation);

        /// <summary>Rows with this 7-octet prefix, or null when not cached (or too old).</summary>
        public IReadOnlyList<SealedKeyRow>? TryGet(ReadOnlySpan<byte> kid7)
        {
            if (!Enabled) return null;
            ulong k = Key(kid7);
            if (_entries.TryGetValue(k, out Entry? e))
            {
                if (Environment.TickCount64 - e.LoadedMs < _ttlMs)
                {
                    Interlocked.Increment(ref _hits);
                    return e.Rows;
                }

                _entries.TryRemove(new KeyValuePair<ulong, Entry>(k, e));
            }

            Interlocked.Increment(ref _misses);
            return null;
        }

        /// <summary>Caches a database read of one prefix, unless something was invalidated since <paramref name="generation"/>.</summary>
        public void Put(ReadOnlySpan<byte> kid7, SealedKeyRow[] rows, long generation)
        {
            if (!Enabled || rows.Length == 0 || generation != Generation) return;
            if (_entries.Count >= _capacity) Shrink();
            _entries[Key(kid7)] = new Entry(rows, Environment.TickCount64);
        }

        /// <summary>Replaces the row of <paramref name="kid"/> with <paramref name="update"/> applied, if cached (used flag).</summary>
        public void Update(byte[] kid, Func<SealedKeyRow, SealedKeyRow> update)
        {
            if (!Enabled) return;
            ulong k = Key(kid.AsSpan(0, 7));
            if (!_entries.TryGetValue(k, out Entry? e)) return;
            var rows = (SealedKeyRow[])e.Rows.Clone();
            for (int i = 0; i < rows.Length; i++)
            {
                if (rows[i].Kid.AsSpan().SequenceEqual(kid)) rows[i] = update(rows[i]);
            }

            _entries.TryUpdate(k, new Entry(rows, e.LoadedMs), e);
        }

        /// <summary>Drops the entry of this KID's prefix (after a write through this instance).</summary>
        public void Invalidate(ReadOnlySpan<byte> kid)
        {
            Interlocked.Increment(ref _generation);
            _entries.TryRemove(Key(kid[..7]), out _);
        }

        public void Clear()
        {
            Interlocked.Increment(ref _generation);
            _entries.Clear();
        }

        // Bounded: first drop entries past their TTL; if still at capacity, drop an arbitrary quarter (the entries are
        // only a copy of the database, so any choice is correct; hot keys come back on their next pull).
        private void Shrink()
        {
            long now = Environment.TickCount64;
            foreach (KeyValuePair<ulong, Entry> kv in _entries)
            {
                if (now - kv.Value.LoadedMs >= _ttlMs) _entries.TryRemove(kv);
            }

            int excess = _entries.Count - (_capacity * 3 / 4);
            foreach (KeyValuePair<ulong, Entry> kv in _entries)
            {
                if (excess-- <= 0) break;
                _entries.TryRemove(kv);
            }
        }

        private static ulong Key(ReadOnlySpan<byte> kid7)
        {
            ulong v = 0;
            for (int i = 0; i < 7; i++) v = (v << 8) | kid7[i];
            return v;
        }

        private sealed record Entry(SealedKeyRow[] Rows, long LoadedMs);
    }

    /// <summary>One <c>emks_key</c> row as stored: the e2m_int_key still sealed.</summary>
    public sealed record SealedKeyRow(
        byte[] Kid,
        byte[] SealedKey,
        DateTimeOffset Expires,
        DateTimeOffset? GraceDeadline,
        bool Used,
        string SubscriptionId,
        string? ExternalId,
        string[] AllowedEmseIds,
        byte[]? Rand,
        DateTimeOffset Created,
        long? MaxMessages);
}

using System;
using System.Collections.Generic;

namespace E2m.Server.Emks.Bootstrap
{
    /// <summary>
    /// Token buckets keyed by a string (an IMSI, a source address), on an injected <see cref="TimeProvider"/>
    /// so tests drive time. Each key starts full (<see cref="Capacity"/> tokens) and refills one token every
    /// <see cref="RefillInterval"/>. Thread-safe. Memory is bounded: when <see cref="MaxKeys"/> keys are tracked,
    /// buckets that have refilled completely are dropped (they carry no information; looked for at most once a second,
    /// so a flood does not buy a pass over the table per request), and if that is not enough a NEW key is refused
    /// until some bucket is full again. Never a bucket that is not full: forgetting one would hand a limited key a
    /// fresh burst, so a flood of distinct keys (spoofed sources, made-up IMSIs) can delay new keys but never lift
    /// the limit of a key already limited.
    /// </summary>
    public sealed class TokenBucketRateLimiter
    {
        private readonly object _lock = new();
        private readonly Dictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
        private readonly TimeProvider _time;
        private long _lastCompact;

        public TokenBucketRateLimiter(int capacity, TimeSpan refillInterval, TimeProvider time, int maxKeys = 100_000)
        {
            if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity));
            if (refillInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(refillInterval));
            Capacity = capacity;
            RefillInterval = refillInterval;
            MaxKeys = maxKeys;
            _time = time;
            _lastCompact = time.GetTimestamp() - (long)(2 * time.TimestampFrequency);
        }

        public int Capacity { get; }

        public TimeSpan RefillInterval { get; }

        public int MaxKeys { get; }

        public int TrackedKeys
        {
            get { lock (_lock) { return _buckets.Count; } }
        }

        /// <summary>Takes one token for <paramref name="key"/>. False = limited; <paramref name="retryAfter"/> = when one token is back.</summary>
        public bool TryAcquire(string key, out TimeSpan retryAfter)
        {
            long now = _time.GetTimestamp();
            lock (_lock)
            {
                if (!_buckets.TryGetValue(key, out Bucket? b))
                {
                    if (_buckets.Count >= MaxKeys)
                    {
                        if (_time.GetElapsedTime(_lastCompact, now) >= TimeSpan.FromSeconds(1))
                        {
                            _lastCompact = now;
                            Compact(now);
                        }

                        if (_buckets.Count >= MaxKeys)
                        {
                            retryAfter = RefillInterval; // table full of keys still limiting: no room for a new one
                            return false;
                        }
                    }

                    b = new Bucket { Tokens = Capacity, Stamp = now };
                    _buckets[key] = b;
                }
                else
                {
                    Refill(b, now);
                }

                if (b.Tokens > 0)
                {
                    b.Tokens--;
                    retryAfter = TimeSpan.Zero;
                    return true;
                }

                TimeSpan since = _time.GetElapsedTime(b.Stamp, now);
                retryAfter = RefillInterval - since;
                if (retryAfter < TimeSpan.Zero) retryAfter = TimeSpan.Zero;
                return false;
            }
        }

        private void Refill(Bucket b, long now)
        {
            TimeSpan elapsed = _time.GetElapsedTime(b.Stamp, now);
            long add = elapsed.Ticks / RefillInterval.Ticks;
            if (add <= 0) return;
            if (b.Tokens + add >= Capacity)
            {
                b.Tokens = Capacity;
                b.Stamp = now;
            }
            else
            {
                b.Tokens += (int)add;
                // keep the fractional part of the refill: advance the stamp by whole intervals only
                b.Stamp += (long)(add * RefillInterval.Ticks * (double)_time.TimestampFrequency / TimeSpan.TicksPerSecond);
            }
        }

        private void Compact(long now)
        {
            var full = new List<string>();
            foreach (KeyValuePair<string, Bucket> kv in _buckets)
            {
                Refill(kv.Value, now);
                if (kv.Value.Tokens >= Capacity) full.Add(kv.Key);
            }

            foreach (string k in full) _buckets.Remove(k);
        }

        private sealed class Bucket
        {
            public int Tokens;
            public long Stamp;
        }
    }
}

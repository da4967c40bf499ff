using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using E2m.Oscore;

namespace E2m.Server.Emse.Keys
{
    /// <summary>Outcome of offering a pushed key to <see cref="PushedKeyStore"/>.</summary>
    public enum PushedKeyOutcome
    {
        /// <summary>Stored: the first datagram under its kid is served without an EMKS pull.</summary>
        Added,
        /// <summary>Already stored (same KID and key) or already handed to the OSCORE layer: nothing changed (at-least-once delivery).</summary>
        Duplicate,
        /// <summary>Another key is stored under the same 7-octet kid (RFC 8613 §3.3 prefix): refused, the first one stays.</summary>
        Conflict,
        /// <summary>The key's expiry is not in the future.</summary>
        Expired,
        /// <summary>The store is full of live keys (bounded memory): the EMKS retries later, the EMSE can still pull.</summary>
        Full,
    }

    /// <summary>
    /// Keys pushed by the EMKS (push variant, EMKS README "Push variant") waiting for their first datagram: by the 7-octet
    /// OSCORE 'kid' (first 7 octets of the KID, RFC 8613 §3.3, OscoreSecurityContext.SenderIdFromKid) with the full KID,
    /// e2m_key, expiry and device id. <see cref="PushedKeySource"/> hands a key out once (ownership passes to the context
    /// cache, which zeroises it after deriving the OSCORE context); the entry then stays without key material until the
    /// expiry so that a repeated delivery is recognised as a duplicate. Expired entries are zeroised and dropped.
    /// In memory only: after a restart the EMSE pulls (the EMKS marked the key used, a pull still works).
    /// </summary>
    public sealed class PushedKeyStore : IDisposable
    {
        /// <summary>How often expired entries are zeroised and dropped when nothing else touches them.</summary>
        public static readonly TimeSpan PurgeInterval = TimeSpan.FromMinutes(1);

        private sealed class Entry
        {
            public Entry(byte[] kid, byte[] key, DateTimeOffset expires, string deviceId)
            {
                Kid = kid;
                Key = key;
                Expires = expires;
                DeviceId = deviceId;
            }

            public byte[] Kid { get; }
            public byte[]? Key { get; set; }
            public DateTimeOffset Expires { get; }
            public string DeviceId { get; }
        }

        private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
        private readonly object _sync = new();
        private readonly TimeProvider _time;
        private readonly int _capacity;
        private readonly ITimer _purge;
        private long _served;

        public PushedKeyStore(TimeProvider time, int capacity = 100_000)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
            _time = time;
            _capacity = capacity;
            _purge = time.CreateTimer(_ => PurgeExpired(), null, PurgeInterval, PurgeInterval);
        }

        /// <summary>Entries held (with or without key material).</summary>
        public int Count
        {
            get
            {
                lock (_sync)
                {
                    return _entries.Count;
                }
            }
        }

        /// <summary>Keys handed out to the OSCORE layer instead of an EMKS pull.</summary>
        public long Served => Interlocked.Read(ref _served);

        /// <summary>
        /// Offers a pushed key. <paramref name="kid"/> is the full 8-octet KID, <paramref name="key"/> the 32-octet e2m_key; both are
        /// copied (the caller zeroises its own). Idempotent: the same key again is <see cref="PushedKeyOutcome.Duplicate"/>.
        /// </summary>
        public PushedKeyOutcome Add(byte[] kid, byte[] key, DateTimeOffset expires, string deviceId)
        {
            ArgumentNullException.ThrowIfNull(kid);
            ArgumentNullException.ThrowIfNull(key);
            ArgumentNullException.ThrowIfNull(deviceId);
            if (kid.Length != 8 || key.Length != OscoreSecurityContext.E2mKeyLength)
            {
                throw new ArgumentException("KID of 8 octets and e2m_key of 32 octets expected");
            }

            DateTimeOffset now = _time.GetUtcNow();
            if (expires <= now)
            {
                return PushedKeyOutcome.Expired;
            }

            string wireKid = Convert.ToHexStringLower(kid, 0, OscoreConstants.MaxIdLength); // RFC 8613 §3.3: kid on the wire = 7 octets
            lock (_sync)
            {
                if (_entries.TryGetValue(wireKid, out Entry? existing))
                {
                    if (existing.Expires <= now)
                    {
                        Drop(wireKid, existing);
                    }
                    else if (!existing.Kid.AsSpan().SequenceEqual(kid))
                    {
                        return PushedKeyOutcome.Conflict;
                    }
                    else if (existing.Key == null || CryptographicOperations.FixedTimeEquals(existing.Key, key))
                    {
                        return PushedKeyOutcome.Duplicate;
                    }
                    else
                    {
                        return PushedKeyOutcome.Conflict;
                    }
                }

                if (_entries.Count >= _capacity)
                {
                    PurgeExpiredLocked(now);
                    if (_entries.Count >= _capacity)
                    {
                        return PushedKeyOutcome.Full;
                    }
                }

                _entries[wireKid] = new Entry((byte[])kid.Clone(), (byte[])key.Clone(), expires, deviceId);
                return PushedKeyOutcome.Added;
            }
        }

        /// <summary>
        /// The pushed key for the 'kid' as received (≤ 7 octets), handed out once: the returned <see cref="EmksKey.E2mKey"/>
        /// belongs to the caller (who zeroises it). False when none is pending or it expired.
        /// </summary>
        public bool TryTake(byte[] wireKid, out EmksKey? key)
        {
            key = null;
            if (wireKid.Length != OscoreConstants.MaxIdLength)
            {
                return false; // e2m kids are always 7 octets on the wire (DESIGN.md §4)
            }

            string hex = Convert.ToHexStringLower(wireKid);
            DateTimeOffset now = _time.GetUtcNow();
            lock (_sync)
            {
                if (!_entries.TryGetValue(hex, out Entry? e) || e.Key == null)
                {
                    return false;
                }

                if (e.Expires <= now)
                {
                    Drop(hex, e);
                    return false;
                }

                key = new EmksKey((byte[])e.Kid.Clone(), e.Key, e.Expires, e.DeviceId);
                e.Key = null; // ownership passed; the entry remains (no key material) to recognise repeated deliveries
            }

            Interlocked.Increment(ref _served);
            return true;
        }

        /// <summary>
        /// The EMKS revoked this key (policy sync, <c>DELETE /v1/keys/{kid}</c>): a pending key is zeroised; the entry stays
        /// without key material until expiry, so a late re-delivery of the same key is not taken again. True when a key
        /// was pending. <paramref name="kid"/>: the 8-octet KID or the 7-octet wire kid.
        /// </summary>
        public bool Revoke(byte[] kid)
        {
            if (kid.Length < OscoreConstants.MaxIdLength)
            {
                return false;
            }

            string hex = Convert.ToHexStringLower(kid, 0, OscoreConstants.MaxIdLength);
            lock (_sync)
            {
                if (!_entries.TryGetValue(hex, out Entry? e) || e.Key == null)
                {
                    return false;
                }

                System.Security.Cryptography.CryptographicOperations.ZeroMemory(e.Key);
                e.Key = null;
                return true;
            }
        }

        /// <summary>Drops (and zeroises) entries past their expiry; returns how many.</summary>
        public int PurgeExpired()
        {
            lock (_sync)
            {
                return PurgeExpiredLocked(_time.GetUtcNow());
            }
        }

        private int PurgeExpiredLocked(DateTimeOffset now)
        {
            var expired = new List<string>();
            foreach (KeyValuePair<string, Entry> kv in _entries)
            {
                if (kv.Value.Expires <= now)
                {
                    expired.Add(kv.Key);
                }
            }

            foreach (string k in expired)
            {
                Drop(k, _entries[k]);
            }

            return expired.Count;
        }

        /// <summary>Stops the purge timer and zeroises every pending key.</summary>
        public void Dispose()
        {
            _purge.Dispose();
            lock (_sync)
            {
                foreach (Entry e in _entries.Values)
                {
                    if (e.Key != null)
                    {
                        CryptographicOperations.ZeroMemory(e.Key);
                        e.Key = null;
                    }
                }

                _entries.Clear();
            }
        }

        private void Drop(string wireKid, Entry e)
        {
            if (e.Key != null)
            {
                CryptographicOperations.ZeroMemory(e.Key);
                e.Key = null;
            }

            _entries.Remove(wireKid);
        }
    }

    /// <summary>
    /// The key source the CoAP server uses when the push variant is wired in: a key the EMKS pushed is served from
    /// <see cref="PushedKeyStore"/> (no pull), any other kid goes to the configured source (EMKS pull or a test fake).
    /// </summary>
    public sealed class PushedKeySource : IEmksKeySource
    {
        private readonly PushedKeyStore _pushed;
        private readonly IEmksKeySource _inner;

        public PushedKeySource(PushedKeyStore pushed, IEmksKeySource inner)
        {
            _pushed = pushed ?? throw new ArgumentNullException(nameof(pushed));
            _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        }

        public Task<EmksKeyLookup> GetKeyAsync(byte[] kid, CancellationToken cancellationToken) =>
            _pushed.TryTake(kid, out EmksKey? key) ? Task.FromResult(EmksKeyLookup.Found(key!)) : _inner.GetKeyAsync(kid, cancellationToken);

        /// <summary>A revalidation asks the EMKS behind the pushed keys (a pushed key is taken once).</summary>
        public bool CanRevalidate => _inner.CanRevalidate;
    }
}

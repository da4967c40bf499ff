using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace E2m.Server.Emks.Storage
{
    /// <summary>
    /// Persistence of the EMKS: keys (sealed at rest), outstanding bootstrap challenges (XRES sealed) and EMSE
    /// callback registrations. The EMKS process keeps no other state, so several instances can share one
    /// PostgreSQL database (DESIGN.md §6).
    /// </summary>
    public interface IEmksStore
    {
        /// <summary>Inserts or replaces the key with this KID (a KID names one e2m_int_key, so a re-push is idempotent).</summary>
        Task UpsertKeyAsync(KeyRecord key, CancellationToken ct = default);

        /// <summary>Inserts or replaces all keys in one transaction (a push is stored entirely or not at all).</summary>
        Task UpsertKeysAsync(IReadOnlyList<KeyRecord> keys, CancellationToken ct = default);

        /// <summary>The key with this 8-octet KID, whatever its expiry (callers check <see cref="KeyRecord.IsLive"/>).</summary>
        Task<KeyRecord?> FindKeyAsync(byte[] kid, CancellationToken ct = default);

        /// <summary>All keys whose KID starts with these 7 octets (the OSCORE 'kid', RFC 8613 §3.3 limit).</summary>
        Task<IReadOnlyList<KeyRecord>> FindKeysByPrefixAsync(byte[] kid7, CancellationToken ct = default);

        /// <summary>The key pushed for the vector with this RAND, if the push carried the RAND.</summary>
        Task<KeyRecord?> FindKeyByRandAsync(byte[] rand, CancellationToken ct = default);

        /// <summary>Marks a key confirmed/pulled: clears its grace deadline. No write if already used.</summary>
        Task MarkUsedAsync(byte[] kid, CancellationToken ct = default);

        /// <summary>Sets the early-expiry deadline of an unused key (the bootstrap handed it out).</summary>
        Task SetGraceDeadlineAsync(byte[] kid, DateTimeOffset deadline, CancellationToken ct = default);

        Task<bool> DeleteKeyAsync(byte[] kid, CancellationToken ct = default);

        /// <summary>Deletes expired keys (policy expiry or passed grace deadline) and expired challenges. Returns keys deleted.</summary>
        Task<int> PurgeAsync(DateTimeOffset now, CancellationToken ct = default);

        Task SaveChallengeAsync(ChallengeRecord challenge, CancellationToken ct = default);

        Task<ChallengeRecord?> FindChallengeAsync(byte[] kid, CancellationToken ct = default);

        Task<ChallengeRecord?> FindChallengeByRandAsync(byte[] rand, CancellationToken ct = default);

        /// <summary>Counts a wrong RES; returns the new count.</summary>
        Task<int> CountFailedAttemptAsync(byte[] kid, CancellationToken ct = default);

        Task DeleteChallengeAsync(byte[] kid, CancellationToken ct = default);

        Task UpsertCallbackAsync(CallbackRegistration registration, CancellationToken ct = default);

        Task<bool> DeleteCallbackAsync(string emseId, CancellationToken ct = default);

        Task<CallbackRegistration?> FindCallbackAsync(string emseId, CancellationToken ct = default);
    }
}

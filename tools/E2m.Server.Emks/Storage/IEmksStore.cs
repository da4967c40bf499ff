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

        /// <summary>
        /// Inserts or replaces all keys in one transaction (a push is stored entirely or not at all), together with the
        /// device index entries (<paramref name="devices"/>) and one outbox row per push registration of an allowed EMSE
        /// for the key's subscription (push variant: a restart loses no pending delivery). Returns the outbox rows written.
        /// Policy versions: see <see cref="ApplySubscriptionPolicyAsync"/> (throws <see cref="SubscriptionRevokedException"/>).
        /// </summary>
        Task<int> UpsertKeysAsync(IReadOnlyList<KeyRecord> keys, IReadOnlyList<DeviceIndexEntry>? devices = null, CancellationToken ct = default);

        /// <summary>
        /// Policy sync from the HSS (DESIGN.md §5, <c>PUT /v1/hss/subscriptions/{id}</c>), in one transaction: ignored
        /// (<see cref="PolicyApplyResult.Applied"/> false) when the subscription's known policy version is the same or
        /// newer; else stored, and e2m off deletes the subscription's keys, device index entries, push registrations and
        /// outbox rows, while e2m on gives its keys the new allowed EMSEs / external id / message limit, replaces its device
        /// index with <paramref name="devices"/> and drops registrations and outbox rows of EMSEs no longer allowed.
        /// Key pushes (<see cref="UpsertKeysAsync"/>) take part: an older push is stored under the newer known policy, or
        /// refused with <see cref="SubscriptionRevokedException"/> when that policy revoked the subscription.
        /// </summary>
        Task<PolicyApplyResult> ApplySubscriptionPolicyAsync(SubscriptionPolicy policy, IReadOnlyList<DeviceIndexEntry> devices, DateTimeOffset now, CancellationToken ct = default);

        /// <summary>The subscription's known policy (from a sync or a push), or null.</summary>
        Task<SubscriptionPolicy?> FindSubscriptionPolicyAsync(string subscriptionId, CancellationToken ct = default);

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

        /// <summary>Deletes expired keys (policy expiry or passed grace deadline), expired challenges and revoked subscriptions'
        /// tombstones older than <see cref="SqlEmksStore.TombstoneRetention"/>. Returns keys deleted.</summary>
        Task<int> PurgeAsync(DateTimeOffset now, CancellationToken ct = default);

        Task SaveChallengeAsync(ChallengeRecord challenge, CancellationToken ct = default);

        Task<ChallengeRecord?> FindChallengeAsync(byte[] kid, CancellationToken ct = default);

        Task<ChallengeRecord?> FindChallengeByRandAsync(byte[] rand, CancellationToken ct = default);

        /// <summary>Counts a wrong RES; returns the new count.</summary>
        Task<int> CountFailedAttemptAsync(byte[] kid, CancellationToken ct = default);

        Task DeleteChallengeAsync(byte[] kid, CancellationToken ct = default);

        /// <summary>The subscription that <paramref name="deviceId"/> names for <paramref name="emseId"/> (lowercase), if a push
        /// allowing that EMSE has been seen; else null.</summary>
        Task<string?> FindSubscriptionOfDeviceAsync(string emseId, string deviceId, CancellationToken ct = default);

        /// <summary>Inserts or updates (URL) the registrations in one transaction.</summary>
        Task UpsertPushRegistrationsAsync(IReadOnlyList<PushRegistration> registrations, CancellationToken ct = default);

        /// <summary>Deletes the registration of <paramref name="emseId"/> for one subscription, or all of its registrations
        /// (<paramref name="subscriptionId"/> null). Returns the number deleted.</summary>
        Task<int> DeletePushRegistrationsAsync(string emseId, string? subscriptionId, CancellationToken ct = default);

        Task<PushRegistration?> FindPushRegistrationAsync(string emseId, string subscriptionId, CancellationToken ct = default);

        Task<IReadOnlyList<PushRegistration>> ListPushRegistrationsAsync(string emseId, CancellationToken ct = default);

        /// <summary>Outbox rows due at <paramref name="nowMs"/> (oldest first), at most <paramref name="max"/>.</summary>
        Task<IReadOnlyList<OutboxItem>> DueOutboxAsync(long nowMs, int max, CancellationToken ct = default);

        /// <summary>
        /// Claims a due row for one delivery attempt: counts the attempt and leases the row until
        /// <paramref name="leaseUntilMs"/>, only if nobody (another instance) claimed it since it was read. True = ours.
        /// </summary>
        Task<bool> ClaimOutboxAsync(OutboxItem item, long leaseUntilMs, CancellationToken ct = default);

        Task RescheduleOutboxAsync(long id, long nextAttemptMs, CancellationToken ct = default);

        Task DeleteOutboxAsync(long id, CancellationToken ct = default);

        /// <summary>Earliest next attempt of any row (unix ms), or null when the outbox is empty.</summary>
        Task<long?> NextOutboxDueAsync(CancellationToken ct = default);

        Task<int> CountOutboxAsync(CancellationToken ct = default);
    }
}

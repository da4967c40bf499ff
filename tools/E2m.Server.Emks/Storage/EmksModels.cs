using System;
using System.Collections.Generic;

namespace E2m.Server.Emks.Storage
{
    /// <summary>
    /// One pushed <c>e2m_int_key</c> with its policy (DESIGN.md §2, §5). <see cref="IntKey"/> is plaintext in memory
    /// only; the store seals it with the AtRestProtector. No IMSI: the EMKS never needs it after the bootstrap.
    /// </summary>
    public sealed class KeyRecord
    {
        /// <summary>8-octet KID (DESIGN.md §2).</summary>
        public required byte[] Kid { get; init; }

        /// <summary>32-octet e2m_int_key. Zeroise when done.</summary>
        public required byte[] IntKey { get; init; }

        /// <summary>Policy expiry (DESIGN.md §5 key lifetime).</summary>
        public required DateTimeOffset Expires { get; init; }

        /// <summary>
        /// Early expiry for a key handed out by the home-mode bootstrap and neither confirmed nor pulled yet
        /// (DESIGN.md §3 grace period); null = none (network-mode keys, used keys).
        /// </summary>
        public DateTimeOffset? GraceDeadline { get; init; }

        /// <summary>True once confirmed by the device or pulled by (or pushed to) an EMSE.</summary>
        public bool Used { get; init; }

        /// <summary>Opaque subscription id from the HSS (input of the per-EMSE pseudonym; never the IMSI).</summary>
        public required string SubscriptionId { get; init; }

        /// <summary>The subscription's external id (given to EMSEs instead of a pseudonym when set).</summary>
        public string? ExternalId { get; init; }

        /// <summary>EMSE_Ids allowed by the subscription (FQDNs, compared case-insensitively as the push contract says;
        /// the key is derived from the EMSE_Id exactly as written in the EMSE's certificate).</summary>
        public required IReadOnlyList<string> AllowedEmseIds { get; init; }

        /// <summary>RAND of the vector this key belongs to, when the push carried it (home-mode correlation).</summary>
        public byte[]? Rand { get; init; }

        /// <summary>Optional maximum OSCORE messages per key (DESIGN.md §5), passed on to the EMSE.</summary>
        public long? MaxMessages { get; init; }

        public DateTimeOffset Created { get; init; }

        /// <summary>
        /// The subscription's policy version at the HSS when the key was pushed (<c>policy_version</c>). Not stored per
        /// key: the store compares it with the subscription's row (<see cref="SubscriptionPolicy"/>) and a newer policy
        /// there wins.
        /// </summary>
        public long PolicyVersion { get; init; }

        /// <summary>A copy with the policy fields of <paramref name="policy"/> (the key material array is shared, not copied).</summary>
        public KeyRecord WithPolicy(SubscriptionPolicy policy) => new()
        {
            Kid = Kid,
            IntKey = IntKey,
            Expires = Expires,
            GraceDeadline = GraceDeadline,
            Used = Used,
            SubscriptionId = SubscriptionId,
            ExternalId = policy.ExternalId,
            AllowedEmseIds = policy.AllowedEmseIds,
            Rand = Rand,
            MaxMessages = policy.MaxMessages,
            Created = Created,
            PolicyVersion = policy.PolicyVersion,
        };

        public bool IsLive(DateTimeOffset now) => Expires > now && (GraceDeadline is null || GraceDeadline > now);

        public bool Allows(string emseId)
        {
            foreach (string id in AllowedEmseIds)
            {
                if (string.Equals(id, emseId, StringComparison.OrdinalIgnoreCase)) return true;
            }

            return false;
        }
    }

    /// <summary>An outstanding home-mode challenge (DESIGN.md §3): XRES kept sealed until RES arrives or it expires.</summary>
    public sealed class ChallengeRecord
    {
        public required byte[] Kid { get; init; }

        public required byte[] Rand { get; init; }

        /// <summary>XRES, 4..16 octets (TS 33.102 §6.3.2). Plaintext in memory only.</summary>
        public required byte[] Xres { get; init; }

        public required DateTimeOffset Expires { get; init; }

        public int FailedAttempts { get; init; }
    }

    /// <summary>
    /// Push variant (issue 6 point 2): the EMSE <see cref="EmseId"/> (lowercase) wants every new key of subscription
    /// <see cref="SubscriptionId"/> POSTed to <see cref="Url"/>. Accepted only while that subscription allows the EMSE.
    /// </summary>
    public sealed record PushRegistration(string EmseId, string SubscriptionId, string Url, DateTimeOffset Created);

    /// <summary>
    /// Which subscription a device identifier names for one EMSE (the id that EMSE receives: the external id or its
    /// per-EMSE pseudonym). Written at each push for every allowed EMSE; lets an EMSE register by the ids it knows.
    /// </summary>
    public sealed record DeviceIndexEntry(string EmseId, string DeviceId, string SubscriptionId);

    /// <summary>
    /// One pending delivery of the push variant (durable outbox, written in the transaction that stores the key): no key
    /// material, only which KID goes to which EMSE registration. Times are unix milliseconds.
    /// </summary>
    /// <param name="RevokeUrl">Null: deliver the key to the EMSE's registration. Set: a revocation (policy sync) to send as
    /// <c>DELETE {RevokeUrl}/{kid}</c> to the callback the EMSE had registered.</param>
    public sealed record OutboxItem(long Id, byte[] Kid, string EmseId, string SubscriptionId, int Attempts, long NextAttemptMs, string? RevokeUrl = null);

    /// <summary>
    /// A subscription's e2m policy as the HSS last sent it (DESIGN.md §5; <c>emks_subscription</c>): from a policy sync
    /// (<c>PUT /v1/hss/subscriptions/{id}</c>) or a key push, whichever carried the higher <see cref="PolicyVersion"/>.
    /// <see cref="E2m"/> false: disabled or deleted at the HSS, every key of the subscription revoked (a tombstone
    /// that refuses pushes of older versions).
    /// </summary>
    public sealed record SubscriptionPolicy(
        string SubscriptionId, long PolicyVersion, bool E2m, string? ExternalId, IReadOnlyList<string> AllowedEmseIds, long? MaxMessages)
    {
        public bool Allows(string emseId)
        {
            foreach (string id in AllowedEmseIds)
            {
                if (string.Equals(id, emseId, StringComparison.OrdinalIgnoreCase)) return true;
            }

            return false;
        }
    }

    /// <summary>What a policy sync did (<see cref="IEmksStore.ApplySubscriptionPolicyAsync"/>).</summary>
    /// <param name="RevocationsQueued">Revocation rows written for push-registered EMSEs that lost the subscription (one per key).</param>
    public readonly record struct PolicyApplyResult(bool Applied, int KeysUpdated, int KeysRevoked, int RevocationsQueued);

    /// <summary>
    /// A key push whose <c>policy_version</c> is older than a policy with e2m off that the EMKS already has (the HSS
    /// disabled e2m for the subscription or deleted it while the AIR was under way): nothing stored, answered 409.
    /// </summary>
    public sealed class SubscriptionRevokedException : Exception
    {
        public SubscriptionRevokedException(string subscriptionId, long knownVersion)
            : base($"subscription {subscriptionId}: e2m is off since policy version {knownVersion}; the push is older")
        {
            SubscriptionId = subscriptionId;
            KnownVersion = knownVersion;
        }

        public string SubscriptionId { get; }

        public long KnownVersion { get; }
    }
}

using System.Collections.Generic;
using System.Text.Json.Serialization;

namespace E2m.Server.Common.Contracts
{
    /// <summary>
    /// HSS → EMKS push of <c>e2m_int_key</c>s (DESIGN.md §3 network mode, §6). Owner: HSS engineer (S1).
    /// <para><c>POST {EmksBaseUrl}/v1/keys</c> over HTTPS with mutual TLS; the EMKS accepts it only from a client
    /// certificate of role <c>hss</c> (<see cref="CertificateIdentity.IsHss"/>). Body <see cref="E2mKeyPushRequest"/>
    /// (JSON, snake_case names as below, hex lowercase). One request carries all keys of one AIR (atomically: the EMKS
    /// stores all or none). Any 2xx = stored durably; anything else (or no answer within the HSS timeout) = failed,
    /// and the HSS fails the AIR (issue 6: no vector whose key the EMKS lacks). Idempotent: re-pushing the same KID
    /// with the same key is a success.</para>
    /// </summary>
    public static class HssEmksContract
    {
        public const string PushPath = "/v1/keys";

        /// <summary>Upper bound on keys per push (the HSS caps numVectors at the same value).</summary>
        public const int MaxKeysPerPush = 32;

        /// <summary>Most EMSE_Ids a subscription may allow: the EMKS refuses pushes and policy syncs with more, so the HSS
        /// refuses such a profile up front (else every AIR of the subscriber, and every policy change, would fail).</summary>
        public const int MaxAllowedEmseIds = 32;

        /// <summary>
        /// Policy sync (DESIGN.md §5: the EMKS serves e2m_key "only if the subscription allows that EMSE"; keys live up
        /// to the key lifetime, e.g. 30 days, so the EMKS must learn a policy change or a deletion when it happens, not
        /// at the subscriber's next AIR). <c>PUT {EmksBaseUrl}/v1/hss/subscriptions/{subscription_id}</c>, role
        /// <c>hss</c> only, body <see cref="E2mSubscriptionPolicy"/>. The EMKS applies it to every key it holds for the
        /// subscription at once: e2m off (disabled or subscriber deleted) deletes those keys, their device index entries,
        /// push registrations and queued deliveries; otherwise the allowed EMSEs, external id and message limit of each
        /// key are replaced. 204 = applied, or the EMKS already had this or a newer <c>policy_version</c> (idempotent);
        /// 400 malformed; 401/403 not the HSS. Anything else: the HSS keeps the change queued and retries.
        /// </summary>
        public const string SubscriptionPolicyRoute = "/v1/hss/subscriptions/{subscriptionId}";

        /// <summary>The policy-sync path of one subscription (<see cref="SubscriptionPolicyRoute"/>).</summary>
        public static string SubscriptionPolicyPath(string subscriptionId) => "/v1/hss/subscriptions/" + subscriptionId;
    }

    /// <summary>
    /// Body of <c>PUT /v1/hss/subscriptions/{subscription_id}</c> (<see cref="HssEmksContract.SubscriptionPolicyRoute"/>):
    /// the subscription's e2m policy as of <see cref="PolicyVersion"/>. Never carries the IMSI or key material.
    /// </summary>
    public sealed class E2mSubscriptionPolicy
    {
        /// <summary>The subscription's policy version at the HSS: starts at 0, +1 with every change (PATCH, delete).
        /// The EMKS keeps the highest version it has seen per subscription and ignores anything older, also in key
        /// pushes (<see cref="E2mSubscriberRef.PolicyVersion"/>): an AIR that read the old policy just before a change
        /// cannot bring it back.</summary>
        [JsonPropertyName("policy_version")]
        public long PolicyVersion { get; set; }

        /// <summary>False: e2m disabled or the subscriber deleted; the EMKS revokes every key of the subscription and
        /// refuses pushes of older policy versions (409).</summary>
        [JsonPropertyName("e2m")]
        public bool E2m { get; set; }

        /// <summary>External device id given to EMSEs instead of a pseudonym; null = pseudonyms.</summary>
        [JsonPropertyName("external_id")]
        public string? ExternalId { get; set; }

        /// <summary>EMSE_Ids allowed to obtain e2m_key for this subscription (exact, case-insensitive FQDN match).</summary>
        [JsonPropertyName("allowed_emse_ids")]
        public List<string> AllowedEmseIds { get; set; } = new();

        /// <summary>Optional maximum OSCORE messages per key (DESIGN.md §5); null = unlimited.</summary>
        [JsonPropertyName("max_messages")]
        public long? MaxMessages { get; set; }
    }

    /// <summary>Body of <c>POST /v1/keys</c>.</summary>
    public sealed class E2mKeyPushRequest
    {
        [JsonPropertyName("keys")]
        public List<E2mKeyPush> Keys { get; set; } = new();
    }

    /// <summary>One pushed key: one per authentication vector of an e2m subscriber.</summary>
    public sealed class E2mKeyPush
    {
        /// <summary>KID, 8 octets as 16 lowercase hex digits: first 8 octets of KDF(e2m_int_key, FC_E2M_KID, "e2m-kid") (DESIGN.md §2).
        /// The OSCORE kid on the wire is its first 7 octets: the EMKS indexes both.</summary>
        [JsonPropertyName("kid")]
        public string Kid { get; set; } = string.Empty;

        /// <summary>e2m_int_key = KDF(CK || IK, FC_E2M_INT, "e2m_CIoT"), 32 octets as 64 lowercase hex digits. SECRET.</summary>
        [JsonPropertyName("e2m_int_key")]
        public string E2mIntKey { get; set; } = string.Empty;

        /// <summary>Expiry of the key, Unix time in seconds (UTC): issue time + the subscription's key lifetime.</summary>
        [JsonPropertyName("expiry")]
        public long Expiry { get; set; }

        /// <summary>RAND of the vector (16 octets hex; not secret): lets the EMKS match a home-mode challenge to its key.</summary>
        [JsonPropertyName("rand")]
        public string? Rand { get; set; }

        /// <summary>Policy of the subscription the key belongs to.</summary>
        [JsonPropertyName("subscriber")]
        public E2mSubscriberRef Subscriber { get; set; } = new();
    }

    /// <summary>Subscriber reference for the EMKS policy (DESIGN.md §5). Never carries the IMSI.</summary>
    public sealed class E2mSubscriberRef
    {
        /// <summary>Stable opaque subscription id (32 lowercase hex digits, random at provisioning, never derived from the
        /// IMSI): the EMKS derives per-EMSE pseudonyms from it.</summary>
        [JsonPropertyName("subscription_id")]
        public string SubscriptionId { get; set; } = string.Empty;

        /// <summary>External device id given to EMSEs instead of a pseudonym, if the operator configured one.</summary>
        [JsonPropertyName("external_id")]
        public string? ExternalId { get; set; }

        /// <summary>EMSE_Ids allowed to obtain e2m_key for this subscription (exact, case-insensitive FQDN match).</summary>
        [JsonPropertyName("allowed_emse_ids")]
        public List<string> AllowedEmseIds { get; set; } = new();

        /// <summary>Optional maximum OSCORE messages per key (DESIGN.md §5); null = unlimited.</summary>
        [JsonPropertyName("max_messages")]
        public long? MaxMessages { get; set; }

        /// <summary>The subscription's policy version at the HSS when the AIR read it (<see cref="E2mSubscriptionPolicy.PolicyVersion"/>).
        /// Older than the version the EMKS knows: the key is stored under the newer policy it knows, or refused with 409
        /// when that policy has e2m off (the AIR then fails). Absent (0): as old as possible.</summary>
        [JsonPropertyName("policy_version")]
        public long PolicyVersion { get; set; }
    }
}

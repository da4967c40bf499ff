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
    }
}

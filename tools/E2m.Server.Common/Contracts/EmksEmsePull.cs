using System.Text.Json.Serialization;

namespace E2m.Server.Common.Contracts
{
    /// <summary>
    /// EMKS → EMSE key delivery (DESIGN.md §4, §6; issue 6 point 2). Owner: EMKS engineer (S2).
    /// <para><b>Pull</b>: <c>GET {EmksBaseUrl}/v1/keys/{kid}</c> over HTTPS with mutual TLS, client certificate of role
    /// <c>emse</c>; <c>{kid}</c> = 16 hex digits (8-octet KID) or 14 hex digits (the 7-octet OSCORE 'kid' on the wire,
    /// RFC 8613 §3.3). 200 + <see cref="E2mKeyPullResponse"/>; 404 when the KID is unknown, expired, or not allowed for
    /// the calling EMSE (deliberately indistinguishable); 409 when a 7-octet prefix matches more than one live key
    /// allowed for this EMSE (retry with the 8-octet KID is impossible for an EMSE, so treat 409 like 404: the device
    /// re-keys); 400 malformed kid; 401 without certificate; 403 for a certificate that is not an EMSE's.
    /// <c>e2m_key</c> is derived for the EMSE_Id in the client certificate (its DNS SAN) and no other.</para>
    /// <para><b>Push variant</b> (per subscriber): an EMSE registers <c>POST {EmksBaseUrl}/v1/subscriptions</c> with
    /// <see cref="EmseCallbackRegistration"/> (mTLS, role <c>emse</c>): a callback URL and the device ids it serves — the ids
    /// the EMKS gives that EMSE (the subscription's external id, or the EMSE's pseudonym learnt from a pull). 204 = all
    /// registered; 403 when any id does not name a subscription that allows this EMSE (unknown ids alike; nothing is
    /// registered); 400 malformed. <c>DELETE /v1/subscriptions/{device_id}</c> withdraws one, <c>DELETE /v1/subscriptions</c>
    /// all (204, or 404 when there was none). Afterwards the EMKS POSTs one <see cref="E2mKeyPullResponse"/> per new key of
    /// those subscriptions (while they allow the EMSE) to the URL over HTTPS, presenting its own certificate (role
    /// <c>emks</c>); any 2xx acknowledges. Failed deliveries are retried with exponential backoff from a durable outbox
    /// (a restart of the EMKS loses none) up to a bounded number of attempts; the EMSE can always pull.</para>
    /// </summary>
    public static class EmksEmseContract
    {
        public const string PullRoute = "/v1/keys/{kid}";

        public const string SubscriptionsPath = "/v1/subscriptions";

        public static string PullPath(string kidHex) => "/v1/keys/" + kidHex;

        /// <summary>Route of <c>DELETE</c> for one device id.</summary>
        public const string SubscriptionRoute = "/v1/subscriptions/{deviceId}";

        public static string SubscriptionPath(string deviceId) => "/v1/subscriptions/" + System.Uri.EscapeDataString(deviceId);

        /// <summary>At most this many device ids per registration request.</summary>
        public const int MaxDeviceIdsPerRegistration = 100;
    }

    /// <summary>Body of a successful pull (and of a callback push).</summary>
    public sealed class E2mKeyPullResponse
    {
        /// <summary>The full 8-octet KID, 16 lowercase hex digits (also when pulled by the 7-octet prefix).</summary>
        [JsonPropertyName("kid")]
        public string Kid { get; set; } = string.Empty;

        /// <summary>e2m_key = KDF(e2m_int_key, FC_E2M_KEY, EMSE_Id, "e2m_CIoT") for the calling EMSE, 64 lowercase hex digits. SECRET:
        /// the OSCORE Master Secret (DESIGN.md §4).</summary>
        [JsonPropertyName("e2m_key")]
        public string E2mKey { get; set; } = string.Empty;

        /// <summary>Expiry, Unix time in seconds (UTC). The EMSE drops the key then (DESIGN.md §5).</summary>
        [JsonPropertyName("expires")]
        public long Expires { get; set; }

        /// <summary>The subscription's external id, or a per-EMSE pseudonym <c>p-&lt;26 base32&gt;</c>; never the IMSI.</summary>
        [JsonPropertyName("device_id")]
        public string DeviceId { get; set; } = string.Empty;

        /// <summary>Optional maximum OSCORE messages per key (DESIGN.md §5); absent = unlimited.</summary>
        [JsonPropertyName("max_messages")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public long? MaxMessages { get; set; }
    }

    /// <summary>Body of <c>POST /v1/subscriptions</c> (push variant registration of the calling EMSE, per subscriber).</summary>
    public sealed class EmseCallbackRegistration
    {
        /// <summary>Absolute https URL the EMKS POSTs new keys to.</summary>
        [JsonPropertyName("callback_url")]
        public string CallbackUrl { get; set; } = string.Empty;

        /// <summary>Device ids (as this EMSE receives them in <see cref="E2mKeyPullResponse.DeviceId"/>) whose new keys are
        /// wanted; 1..<see cref="EmksEmseContract.MaxDeviceIdsPerRegistration"/>.</summary>
        [JsonPropertyName("device_ids")]
        public System.Collections.Generic.List<string>? DeviceIds { get; set; }
    }
}

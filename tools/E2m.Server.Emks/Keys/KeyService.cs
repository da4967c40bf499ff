using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks.Callbacks;
using E2m.Server.Emks.Storage;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emks.Keys
{
    /// <summary>Outcome of a pull (issue 6 point 2). Unknown, expired and not-allowed are one outcome on purpose.</summary>
    public enum PullOutcome
    {
        Ok = 0,

        /// <summary>Unknown KID, expired key, or a subscription that does not allow this EMSE: all 404, indistinguishable.</summary>
        NotFound = 1,

        /// <summary>A 7-octet kid matches more than one live key allowed for this EMSE (409).</summary>
        Ambiguous = 2,
    }

    /// <summary>Thrown for a push that violates the contract (answered 400 with this message; never contains key material).</summary>
    public sealed class PushRejectedException : Exception
    {
        public PushRejectedException(string message)
            : base(message)
        {
        }
    }

    /// <summary>
    /// The key logic of the EMKS: accepting pushes, serving pulls with the per-EMSE derivation (DESIGN.md §2) and the
    /// device id rule (external id or per-EMSE pseudonym, never the IMSI), and the callback push variant.
    /// </summary>
    public sealed class KeyService
    {
        private readonly IEmksStore _store;
        private readonly DevicePseudonym _pseudonym;
        private readonly TimeProvider _time;
        private readonly ICallbackNotifier _callbacks;
        private readonly ILogger<KeyService> _log;

        public KeyService(IEmksStore store, DevicePseudonym pseudonym, TimeProvider time, ICallbackNotifier callbacks, ILogger<KeyService> log)
        {
            _store = store;
            _pseudonym = pseudonym;
            _time = time;
            _callbacks = callbacks;
            _log = log;
        }

        /// <summary>
        /// Validates and stores one HSS push atomically. Checks per key: KID = 16 hex digits and equal to the KID derived
        /// from e2m_int_key (a push whose KID does not name its key is rejected), key = 64 hex digits, expiry in the
        /// future, subscription id present, 1..32 allowed EMSE_Ids (FQDN syntax), RAND 32 hex digits when present.
        /// </summary>
        public async Task<int> AcceptPushAsync(E2mKeyPushRequest push, CancellationToken ct)
        {
            if (push.Keys is null || push.Keys.Count == 0) throw new PushRejectedException("keys: at least one key required");
            if (push.Keys.Count > HssEmksContract.MaxKeysPerPush) throw new PushRejectedException($"keys: at most {HssEmksContract.MaxKeysPerPush} per push");
            DateTimeOffset now = _time.GetUtcNow();
            var records = new List<KeyRecord>(push.Keys.Count);
            try
            {
                for (int i = 0; i < push.Keys.Count; i++)
                {
                    records.Add(Validate(push.Keys[i], i, now));
                }

                var devices = new List<DeviceIndexEntry>();
                foreach (KeyRecord r in records)
                {
                    foreach (string emse in r.AllowedEmseIds)
                    {
                        devices.Add(new DeviceIndexEntry(emse.ToLowerInvariant(), _pseudonym.DeviceIdFor(emse, r.SubscriptionId, r.ExternalId), r.SubscriptionId));
                    }
                }

                int outbox = await _store.UpsertKeysAsync(records, devices, ct).ConfigureAwait(false);
                foreach (KeyRecord r in records)
                {
                    _log.LogDebug("stored key kid={Kid} subscription={SubscriptionId} expires={Expires:O} emses={EmseCount}",
                        KidText.Format(r.Kid), r.SubscriptionId, r.Expires, r.AllowedEmseIds.Count);
                }

                if (_log.IsEnabled(LogLevel.Information))
                {
                    _log.LogInformation("stored {Count} key(s) from the HSS, first kid={Kid}, {Outbox} push deliveries queued",
                        records.Count, KidText.Format(records[0].Kid), outbox);
                }

                _callbacks.OutboxWritten(outbox);
                foreach (KeyRecord r in records) CryptographicOperations.ZeroMemory(r.IntKey);
                return records.Count;
            }
            catch
            {
                foreach (KeyRecord r in records) CryptographicOperations.ZeroMemory(r.IntKey);
                throw;
            }
        }

        private static KeyRecord Validate(E2mKeyPush k, int i, DateTimeOffset now)
        {
            string at = $"keys[{i}]";
            if (k is null) throw new PushRejectedException(at + ": null");
            if (k.Kid is null || k.Kid.Length != 16 || !KidText.TryParse(k.Kid, out byte[] kid)) throw new PushRejectedException(at + ".kid: 16 hex digits required");
            if (k.E2mIntKey is null || k.E2mIntKey.Length != 64 || !IsHex(k.E2mIntKey)) throw new PushRejectedException(at + ".e2m_int_key: 64 hex digits required");
            byte[] intKey = Convert.FromHexString(k.E2mIntKey);
            byte[] derivedKid = E2mKeyDerivation.DeriveKid(intKey);
            if (!CryptographicOperations.FixedTimeEquals(derivedKid, kid))
            {
                CryptographicOperations.ZeroMemory(intKey);
                throw new PushRejectedException(at + ".kid: does not match the KID of e2m_int_key (DESIGN.md §2)");
            }

            DateTimeOffset expires;
            try
            {
                expires = DateTimeOffset.FromUnixTimeSeconds(k.Expiry);
            }
            catch (ArgumentOutOfRangeException)
            {
                CryptographicOperations.ZeroMemory(intKey);
                throw new PushRejectedException(at + ".expiry: out of range");
            }

            string? problem = null;
            if (expires <= now) problem = at + ".expiry: already expired";
            else if (k.Subscriber is null) problem = at + ".subscriber: required";
            else if (k.Rand is not null && (k.Rand.Length != 32 || !IsHex(k.Rand))) problem = at + ".rand: 32 hex digits";
            else problem = PolicyProblem(at + ".subscriber.", k.Subscriber.SubscriptionId, k.Subscriber.PolicyVersion, k.Subscriber.ExternalId,
                k.Subscriber.AllowedEmseIds, k.Subscriber.MaxMessages);

            if (problem != null)
            {
                CryptographicOperations.ZeroMemory(intKey);
                throw new PushRejectedException(problem);
            }

            return new KeyRecord
            {
                Kid = kid,
                IntKey = intKey,
                Expires = expires,
                SubscriptionId = k.Subscriber!.SubscriptionId,
                ExternalId = string.IsNullOrEmpty(k.Subscriber.ExternalId) ? null : k.Subscriber.ExternalId,
                AllowedEmseIds = (k.Subscriber.AllowedEmseIds ?? new List<string>()).ToArray(),
                MaxMessages = k.Subscriber.MaxMessages,
                Rand = k.Rand is null ? null : Convert.FromHexString(k.Rand),
                Created = now,
                PolicyVersion = k.Subscriber.PolicyVersion,
            };
        }

        /// <summary>
        /// The subscription policy fields of a push or a policy sync (same rules): subscription id 1..128 characters,
        /// policy version ≥ 0, external id ≤ 256 characters, 0..32 allowed EMSE_Ids in FQDN syntax, message limit &gt; 0
        /// when given. Null when valid, else the problem (prefixed with <paramref name="at"/>).
        /// </summary>
        private static string? PolicyProblem(string at, string? subscriptionId, long policyVersion, string? externalId, List<string>? allowed, long? maxMessages)
        {
            if (string.IsNullOrWhiteSpace(subscriptionId) || subscriptionId.Length > 128) return at + "subscription_id: required (1..128 characters)";
            if (policyVersion < 0) return at + "policy_version: 0 or more";
            if (allowed is null || allowed.Count > HssEmksContract.MaxAllowedEmseIds) return at + "allowed_emse_ids: 0.." + HssEmksContract.MaxAllowedEmseIds + " EMSE_Ids";
            if (externalId is { Length: > 256 }) return at + "external_id: at most 256 characters";
            if (maxMessages is <= 0) return at + "max_messages: positive or null";
            foreach (string id in allowed)
            {
                try
                {
                    DevPki.ValidateEmseId(id);
                }
                catch (ArgumentException)
                {
                    return at + "allowed_emse_ids: not an FQDN";
                }
            }

            return null;
        }

        /// <summary>
        /// Policy sync from the HSS (<c>PUT /v1/hss/subscriptions/{id}</c>, DESIGN.md §5): validates and applies the
        /// subscription's policy to every key the EMKS holds for it (<see cref="IEmksStore.ApplySubscriptionPolicyAsync"/>).
        /// Throws <see cref="PushRejectedException"/> for a malformed body. Logs the subscription id, version and counts only.
        /// </summary>
        public async Task<PolicyApplyResult> ApplyPolicyAsync(string subscriptionId, E2mSubscriptionPolicy body, CancellationToken ct)
        {
            if (body is null) throw new PushRejectedException("body required");
            string? problem = PolicyProblem("", subscriptionId, body.PolicyVersion, body.ExternalId, body.AllowedEmseIds, body.MaxMessages);
            if (problem != null) throw new PushRejectedException(problem);
            var policy = new SubscriptionPolicy(subscriptionId, body.PolicyVersion, body.E2m,
                string.IsNullOrEmpty(body.ExternalId) ? null : body.ExternalId, body.AllowedEmseIds!.ToArray(), body.MaxMessages);
            var devices = new List<DeviceIndexEntry>();
            if (policy.E2m)
            {
                foreach (string emse in policy.AllowedEmseIds)
                {
                    devices.Add(new DeviceIndexEntry(emse.ToLowerInvariant(), _pseudonym.DeviceIdFor(emse, subscriptionId, policy.ExternalId), subscriptionId));
                }
            }

            PolicyApplyResult result = await _store.ApplySubscriptionPolicyAsync(policy, devices, _time.GetUtcNow(), ct).ConfigureAwait(false);
            _callbacks.OutboxWritten(result.RevocationsQueued); // registered EMSEs that lost the subscription are told at once
            if (!result.Applied)
            {
                _log.LogInformation("policy of subscription {SubscriptionId} version {Version}: already applied (same or newer version known)",
                    subscriptionId, policy.PolicyVersion);
            }
            else if (policy.E2m)
            {
                _log.LogInformation("policy of subscription {SubscriptionId} version {Version} applied to {Keys} key(s), {EmseCount} EMSE(s) allowed, {Revocations} revocation(s) queued",
                    subscriptionId, policy.PolicyVersion, result.KeysUpdated, policy.AllowedEmseIds.Count, result.RevocationsQueued);
            }
            else
            {
                _log.LogInformation("subscription {SubscriptionId} revoked at policy version {Version}: {Keys} key(s) deleted, {Revocations} revocation(s) queued",
                    subscriptionId, policy.PolicyVersion, result.KeysRevoked, result.RevocationsQueued);
            }

            return result;
        }

        /// <summary>
        /// Pull by an EMSE authenticated as <paramref name="emseId"/> (from its client certificate only). The key is
        /// derived for that EMSE_Id: an EMSE cannot obtain another EMSE's e2m_key whatever it asks for.
        /// </summary>
        public async Task<(PullOutcome Outcome, E2mKeyPullResponse? Response)> PullAsync(byte[] kid, string emseId, CancellationToken ct)
        {
            DateTimeOffset now = _time.GetUtcNow();
            KeyRecord? found = null;
            if (kid.Length == KidText.KidLength)
            {
                KeyRecord? k = await _store.FindKeyAsync(kid, ct).ConfigureAwait(false);
                if (k != null && k.IsLive(now) && k.Allows(emseId)) found = k;
                else if (k != null) CryptographicOperations.ZeroMemory(k.IntKey);
            }
            else
            {
                IReadOnlyList<KeyRecord> list = await _store.FindKeysByPrefixAsync(kid, ct).ConfigureAwait(false);
                int matches = 0;
                foreach (KeyRecord k in list)
                {
                    if (k.IsLive(now) && k.Allows(emseId))
                    {
                        matches++;
                        if (found != null) CryptographicOperations.ZeroMemory(found.IntKey);
                        found = k;
                    }
                    else
                    {
                        CryptographicOperations.ZeroMemory(k.IntKey);
                    }
                }

                if (matches > 1)
                {
                    CryptographicOperations.ZeroMemory(found!.IntKey);
                    _log.LogWarning("pull by {EmseId}: 7-octet kid {Kid} is ambiguous ({Count} live keys)", emseId, KidText.Format(kid), matches);
                    return (PullOutcome.Ambiguous, null);
                }
            }

            if (found == null)
            {
                // Debug, not Information: the pull path must not be bound by the log sink (issue 6 point 6), and a
                // scanning client must not be able to flood the log. Counted in the logs of the HTTP layer at Debug too.
                if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("pull by {EmseId}: kid {Kid} not found, expired or not allowed", emseId, KidText.Format(kid));
                return (PullOutcome.NotFound, null);
            }

            E2mKeyPullResponse response = BuildResponse(found, emseId);
            CryptographicOperations.ZeroMemory(found.IntKey);
            if (!found.Used) await _store.MarkUsedAsync(found.Kid, ct).ConfigureAwait(false);
            if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("pull by {EmseId}: kid {Kid} delivered", emseId, KidText.Format(found.Kid));
            return (PullOutcome.Ok, response);
        }

        /// <summary>
        /// The pull/callback body for <paramref name="emseId"/>. e2m_key is derived over the EMSE_Id in lowercase: a DNS
        /// name's case carries no meaning (RFC 4343) while the EMSE_Id's octets enter the KDF (DESIGN.md §2), and devices
        /// are configured with the lowercase FQDN (device-config.schema.json), so a certificate naming
        /// <c>EMSE.Example.org</c> must get the key a device derives for <c>emse.example.org</c>. (A dNSName is an
        /// IA5String, RFC 5280 §4.2.1.6: ASCII lowercase.) Pseudonyms and registrations keep the certificate's spelling.
        /// </summary>
        public E2mKeyPullResponse BuildResponse(KeyRecord key, string emseId)
        {
            byte[] e2mKey = E2mKeyDerivation.DeriveKey(key.IntKey, emseId.ToLowerInvariant());
            var response = new E2mKeyPullResponse
            {
                Kid = KidText.Format(key.Kid),
                E2mKey = Convert.ToHexStringLower(e2mKey),
                Expires = key.Expires.ToUnixTimeSeconds(),
                DeviceId = _pseudonym.DeviceIdFor(emseId, key.SubscriptionId, key.ExternalId),
                MaxMessages = key.MaxMessages,
            };
            CryptographicOperations.ZeroMemory(e2mKey);
            return response;
        }

        private static bool IsHex(string s)
        {
            foreach (char c in s)
            {
                if (!Uri.IsHexDigit(c)) return false;
            }

            return true;
        }
    }
}

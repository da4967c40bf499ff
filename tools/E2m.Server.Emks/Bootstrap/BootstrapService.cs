using System;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Server.Common;
using E2m.Server.Emks.Hss;
using E2m.Server.Emks.Keys;
using E2m.Server.Emks.Storage;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emks.Bootstrap
{
    /// <summary>A CoAP answer of the bootstrap: code, optional CBOR payload, optional Max-Age (4.29), optional diagnostic text.</summary>
    public readonly record struct BootstrapReply(byte Code, byte[]? Payload = null, uint? MaxAgeSeconds = null, string? Diagnostic = null);

    /// <summary>CoAP codes used by the bootstrap beyond <see cref="CoapCode"/>.</summary>
    public static class BootstrapCodes
    {
        /// <summary>4.29 Too Many Requests (RFC 8516 §3).</summary>
        public const byte TooManyRequests = 0x9D;

        /// <summary>4.06 Not Acceptable (RFC 7252 §5.9.2.7).</summary>
        public const byte NotAcceptable = 0x86;

        /// <summary>application/cbor (RFC 7049 / RFC 8949 §9.5, CoAP Content-Format 60).</summary>
        public const int ContentFormatCbor = 60;
    }

    /// <summary>
    /// The home-mode bootstrap of DESIGN.md §3, transport-free:
    /// <list type="bullet">
    /// <item><c>{1: imsi}</c> → AIR at the HSS (one UTRAN vector; the HSS has pushed e2m_int_key with the RAND) →
    /// 2.01 <c>{2: rand, 3: autn, 6: kid, 7: lifetime_s}</c>; XRES kept sealed in the store until confirmation or expiry;
    /// the key gets a grace deadline (expires early unless confirmed or pulled).</item>
    /// <item><c>{1: imsi, 2: rand, 9: auts}</c> → AIR with resync at the HSS (TS 33.102 §6.3.5) → a fresh 2.01 challenge;
    /// the key of the failed challenge (never usable by the device) is deleted.</item>
    /// <item><c>{6: kid, 5: res}</c> → RES = XRES (constant time) → 2.04 <c>{8: mac}</c>,
    /// mac = first 8 octets of HMAC-SHA-256(e2m_int_key, "e2m-bs-ok" || kid); the key is marked used.</item>
    /// </list>
    /// Rate limits: per source address for every request, per IMSI for challenge/resync (4.29 + Max-Age).
    /// Error codes: 4.04 unknown IMSI / unknown or expired challenge; 4.03 not an e2m subscriber or HSS refused
    /// (e.g. AUTS MAC-S failure); 4.01 wrong RES; 5.03 HSS unavailable.
    /// </summary>
    public sealed class BootstrapService
    {
        private readonly IEmksStore _store;
        private readonly IHssAirClient _hss;
        private readonly TimeProvider _time;
        private readonly BootstrapOptions _options;
        private readonly ILogger<BootstrapService> _log;
        private readonly SemaphoreSlim _hssSlots;

        public BootstrapService(IEmksStore store, IHssAirClient hss, TimeProvider time, EmksOptions options, ILogger<BootstrapService> log)
        {
            _store = store;
            _hss = hss;
            _time = time;
            _options = options.Bootstrap;
            _log = log;
            PerImsi = new TokenBucketRateLimiter(_options.ImsiBurst, _options.ImsiRefill, time);
            PerAddress = new TokenBucketRateLimiter(_options.AddressBurst, _options.AddressRefill, time);
            _hssSlots = new SemaphoreSlim(_options.HssRequestSlots, _options.HssRequestSlots);
        }

        /// <summary>Max-Age of the 5.03 answers (HSS unavailable or busy): when the device may try again.</summary>
        internal const uint HssRetrySeconds = 30;

        public TokenBucketRateLimiter PerImsi { get; }

        public TokenBucketRateLimiter PerAddress { get; }

        public async Task<BootstrapReply> HandleAsync(BootstrapRequest request, string sourceAddress, CancellationToken ct)
        {
            if (!PerAddress.TryAcquire(sourceAddress, out TimeSpan retry))
            {
                _log.LogWarning("bootstrap: rate limited source {Source}", sourceAddress);
                return Limited(retry);
            }

            switch (request.Kind)
            {
                case BootstrapRequestKind.Challenge:
                case BootstrapRequestKind.Resync:
                    // The HSS slot before the IMSI's token: a challenge shed while the HSS is busy spends none, so a
                    // device that retries through a slow spell is not rate limited for it afterwards.
                    if (!_hssSlots.Wait(0))
                    {
                        // Bootstrap:MaxConcurrentHssRequests wait for the HSS already: shed this one rather than queue it
                        // behind them (it would hold a handler slot up to Hss:Timeout).
                        _log.LogWarning("bootstrap: {Count} requests wait for the HSS, challenge for {Imsi} answered 5.03", _options.HssRequestSlots, Redact.Imsi(request.Imsi));
                        return new BootstrapReply(CoapCode.ServiceUnavailable, MaxAgeSeconds: HssRetrySeconds, Diagnostic: "HSS busy");
                    }

                    try
                    {
                        if (!PerImsi.TryAcquire(request.Imsi!, out retry))
                        {
                            _log.LogWarning("bootstrap: rate limited IMSI {Imsi}", Redact.Imsi(request.Imsi));
                            return Limited(retry);
                        }

                        return await ChallengeAsync(request, ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        _hssSlots.Release();
                    }
                default:
                    return await ConfirmAsync(request.Kid!, request.Res!, ct).ConfigureAwait(false);
            }
        }

        private static BootstrapReply Limited(TimeSpan retry) =>
            new(BootstrapCodes.TooManyRequests, MaxAgeSeconds: (uint)Math.Max(1, Math.Ceiling(retry.TotalSeconds)), Diagnostic: "rate limited");

        private async Task<BootstrapReply> ChallengeAsync(BootstrapRequest request, CancellationToken ct)
        {
            bool resync = request.Kind == BootstrapRequestKind.Resync;
            AuthVector v;
            try
            {
                v = await _hss.GetVectorAsync(request.Imsi!, resync ? request.Rand : null, resync ? request.Auts : null, ct).ConfigureAwait(false);
            }
            catch (AirException e)
            {
                _log.LogWarning("bootstrap: AIR for {Imsi} failed ({Failure}, resync={Resync})", Redact.Imsi(request.Imsi), e.Failure, resync);
                return e.Failure switch
                {
                    AirFailure.UnknownSubscriber => new BootstrapReply(CoapCode.NotFound, Diagnostic: "unknown subscriber"),
                    AirFailure.Refused => new BootstrapReply(CoapCode.Forbidden, Diagnostic: resync ? "resync refused" : "refused"),
                    _ => new BootstrapReply(CoapCode.ServiceUnavailable, MaxAgeSeconds: HssRetrySeconds, Diagnostic: "HSS unavailable"),
                };
            }

            try
            {
                (BootstrapReply reply, string? subscriptionId) = await IssueAsync(request.Imsi!, v, ct).ConfigureAwait(false);
                if (resync && subscriptionId != null)
                {
                    await DropFailedChallengeAsync(request.Rand!, subscriptionId, ct).ConfigureAwait(false);
                }

                return reply;
            }
            finally
            {
                CryptographicOperations.ZeroMemory(v.Ck);
                CryptographicOperations.ZeroMemory(v.Ik);
                CryptographicOperations.ZeroMemory(v.Xres);
            }
        }

        // The device could not use the challenge with this RAND (sync failure): its key will never be used. Only a challenge of
        // the same subscription as the resync's new vector: the RAND travels in clear, and an AUTS that verifies proves the
        // sender's own K, not that the RAND was its challenge (another subscriber must not be able to delete a challenge).
        private async Task DropFailedChallengeAsync(byte[] rand, string subscriptionId, CancellationToken ct)
        {
            ChallengeRecord? old = await _store.FindChallengeByRandAsync(rand, ct).ConfigureAwait(false);
            if (old == null) return;
            CryptographicOperations.ZeroMemory(old.Xres);
            KeyRecord? key = await _store.FindKeyAsync(old.Kid, ct).ConfigureAwait(false);
            if (key != null)
            {
                CryptographicOperations.ZeroMemory(key.IntKey);
                if (!string.Equals(key.SubscriptionId, subscriptionId, StringComparison.Ordinal))
                {
                    _log.LogWarning("bootstrap: resync named the RAND of another subscription's challenge (kid {Kid}): kept", KidText.Format(old.Kid));
                    return;
                }

                if (!key.Used) await _store.DeleteKeyAsync(old.Kid, ct).ConfigureAwait(false);
            }

            await _store.DeleteChallengeAsync(old.Kid, ct).ConfigureAwait(false);
        }

        private async Task<(BootstrapReply Reply, string? SubscriptionId)> IssueAsync(string imsi, AuthVector v, CancellationToken ct)
        {
            DateTimeOffset now = _time.GetUtcNow();
            // The HSS pushed e2m_int_key before answering (issue 6 point 1): find it by the KID the HSS gives an emks
            // client, else by the RAND the push carried, else by the KID derived from CK/IK (valid when the HSS hands
            // CK/IK, not CK'/IK', to this client).
            KeyRecord? key = v.Kid is null ? null : await _store.FindKeyAsync(v.Kid, ct).ConfigureAwait(false);
            key ??= await _store.FindKeyByRandAsync(v.Rand, ct).ConfigureAwait(false);
            if (key == null)
            {
                byte[] intKey = E2mKeyDerivation.DeriveIntKey(v.Ck, v.Ik);
                byte[] kid = E2mKeyDerivation.DeriveKid(intKey);
                CryptographicOperations.ZeroMemory(intKey);
                key = await _store.FindKeyAsync(kid, ct).ConfigureAwait(false);
            }

            if (key == null || !key.IsLive(now))
            {
                _log.LogWarning("bootstrap: no pushed key for the vector of {Imsi} (not an e2m subscriber?)", Redact.Imsi(imsi));
                return (new BootstrapReply(CoapCode.Forbidden, Diagnostic: "not an e2m subscriber"), null);
            }

            CryptographicOperations.ZeroMemory(key.IntKey);
            await _store.SaveChallengeAsync(new ChallengeRecord
            {
                Kid = key.Kid,
                Rand = v.Rand,
                Xres = v.Xres,
                Expires = now + _options.ChallengeLifetime,
            }, ct).ConfigureAwait(false);
            if (!key.Used)
            {
                DateTimeOffset grace = now + _options.GracePeriod;
                if (grace < key.Expires) await _store.SetGraceDeadlineAsync(key.Kid, grace, ct).ConfigureAwait(false);
            }

            long lifetime = (long)Math.Floor((key.Expires - now).TotalSeconds);
            _log.LogInformation("bootstrap: challenge for {Imsi}, kid {Kid}, lifetime {Lifetime} s", Redact.Imsi(imsi), KidText.Format(key.Kid), lifetime);
            return (new BootstrapReply(CoapCode.Created, BootstrapResponses.EncodeChallenge(v.Rand, v.Autn, key.Kid, lifetime)), key.SubscriptionId);
        }

        private async Task<BootstrapReply> ConfirmAsync(byte[] kid, byte[] res, CancellationToken ct)
        {
            DateTimeOffset now = _time.GetUtcNow();
            ChallengeRecord? c = await _store.FindChallengeAsync(kid, ct).ConfigureAwait(false);
            if (c == null || c.Expires <= now)
            {
                if (c != null) CryptographicOperations.ZeroMemory(c.Xres);
                return new BootstrapReply(CoapCode.NotFound, Diagnostic: "no such challenge");
            }

            // TS 33.102 §6.3.3: the network compares RES with XRES (constant time; a length mismatch is a mismatch).
            bool ok = CryptographicOperations.FixedTimeEquals(c.Xres, res);
            CryptographicOperations.ZeroMemory(c.Xres);
            if (!ok)
            {
                int attempts = await _store.CountFailedAttemptAsync(kid, ct).ConfigureAwait(false);
                if (attempts >= _options.MaxConfirmAttempts) await _store.DeleteChallengeAsync(kid, ct).ConfigureAwait(false);
                _log.LogWarning("bootstrap: wrong RES for kid {Kid} (attempt {Attempts})", KidText.Format(kid), attempts);
                return new BootstrapReply(CoapCode.Unauthorized, Diagnostic: "RES mismatch");
            }

            KeyRecord? key = await _store.FindKeyAsync(kid, ct).ConfigureAwait(false);
            if (key == null || !key.IsLive(now))
            {
                if (key != null) CryptographicOperations.ZeroMemory(key.IntKey);
                await _store.DeleteChallengeAsync(kid, ct).ConfigureAwait(false);
                return new BootstrapReply(CoapCode.NotFound, Diagnostic: "key expired");
            }

            byte[] mac = E2mKeyDerivation.ConfirmationMac(key.IntKey, key.Kid);
            CryptographicOperations.ZeroMemory(key.IntKey);
            await _store.MarkUsedAsync(kid, ct).ConfigureAwait(false);
            await _store.DeleteChallengeAsync(kid, ct).ConfigureAwait(false);
            _log.LogInformation("bootstrap: kid {Kid} confirmed", KidText.Format(kid));
            return new BootstrapReply(CoapCode.Changed, BootstrapResponses.EncodeConfirmation(mac));
        }
    }
}

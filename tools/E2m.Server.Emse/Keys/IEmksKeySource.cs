using System;
using System.Threading;
using System.Threading.Tasks;

namespace E2m.Server.Emse.Keys
{
    /// <summary>Outcome of asking the EMKS for the e2m_key of a kid.</summary>
    public enum EmksLookupStatus
    {
        /// <summary>Key returned (it may still be expired: the EMSE checks).</summary>
        Found,
        /// <summary>The EMKS has no key for this kid (404): the device must re-establish a key → 4.01.</summary>
        NotFound,
        /// <summary>The EMKS refused this EMSE (403: subscription does not allow it) → 4.01.</summary>
        Forbidden,
        /// <summary>The EMKS could not be asked (network, 5xx, TLS): transient → 5.03, nothing cached.</summary>
        Unavailable,
    }

    /// <summary>An e2m_key handed to this EMSE (DESIGN.md §2: e2m_key = KDF(e2m_int_key, EMSE_Id, "e2m_CIoT")).</summary>
    public sealed class EmksKey
    {
        public EmksKey(byte[] kid, byte[] e2mKey, DateTimeOffset expires, string deviceId)
        {
            Kid = kid ?? throw new ArgumentNullException(nameof(kid));
            E2mKey = e2mKey ?? throw new ArgumentNullException(nameof(e2mKey));
            Expires = expires;
            DeviceId = deviceId ?? throw new ArgumentNullException(nameof(deviceId));
        }

        /// <summary>KID as the EMKS names it (8 octets, or the 7-octet prefix asked for).</summary>
        public byte[] Kid { get; }

        /// <summary>The 32-octet OSCORE Master Secret; the EMSE zeroises its copy after deriving the context.</summary>
        public byte[] E2mKey { get; }

        public DateTimeOffset Expires { get; }

        /// <summary>External id or per-EMSE pseudonym (never the IMSI, DESIGN.md §6).</summary>
        public string DeviceId { get; }

        /// <summary>No key material in logs.</summary>
        public override string ToString() => "EmksKey(kid=" + Convert.ToHexStringLower(Kid) + ", expires=" + Expires.ToString("O") + ")";
    }

    public sealed class EmksKeyLookup
    {
        private EmksKeyLookup(EmksLookupStatus status, EmksKey? key, string? detail)
        {
            Status = status;
            Key = key;
            Detail = detail;
        }

        public EmksLookupStatus Status { get; }
        public EmksKey? Key { get; }
        /// <summary>Diagnostic text for logs (never key material).</summary>
        public string? Detail { get; }

        public static EmksKeyLookup Found(EmksKey key) => new(EmksLookupStatus.Found, key, null);
        public static EmksKeyLookup NotFound(string? detail = null) => new(EmksLookupStatus.NotFound, null, detail);
        public static EmksKeyLookup Forbidden(string? detail = null) => new(EmksLookupStatus.Forbidden, null, detail);
        public static EmksKeyLookup Unavailable(string? detail = null) => new(EmksLookupStatus.Unavailable, null, detail);
    }

    /// <summary>
    /// Where the EMSE gets e2m_keys: the EMKS pull API over mTLS (<see cref="EmksHttpKeySource"/>), or a fake in tests.
    /// Called with the 'kid' exactly as received in the OSCORE option (the first 7 octets of the 8-octet KID,
    /// OscoreSecurityContext.SenderIdFromKid). Must not throw for EMKS-side failures: return Unavailable.
    /// </summary>
    public interface IEmksKeySource
    {
        Task<EmksKeyLookup> GetKeyAsync(byte[] kid, CancellationToken cancellationToken);

        /// <summary>
        /// True when asking again can tell that the EMKS no longer gives a key (Emse:KeyRevalidateInterval): a real EMKS or
        /// a stand-in of one. False when there is nothing to ask (<see cref="NoEmksKeySource"/>: keys only by push), so
        /// contexts are never revalidated.
        /// </summary>
        bool CanRevalidate => true;
    }

    /// <summary>Used when no EMKS is configured: every kid is unknown (4.01).</summary>
    public sealed class NoEmksKeySource : IEmksKeySource
    {
        public bool CanRevalidate => false;

        public Task<EmksKeyLookup> GetKeyAsync(byte[] kid, CancellationToken cancellationToken) =>
            Task.FromResult(EmksKeyLookup.NotFound("no EMKS configured (Emse:EmksBaseUrl)"));
    }
}

using System;
using System.Collections.Generic;
using System.IO;

namespace E2m.Server.Emks
{
    /// <summary>
    /// EMKS configuration (section "Emks"; environment <c>Emks__HttpsPort=...</c>). Only non-secret defaults live here:
    /// the KEK and the pseudonym secret come from files in the data directory (created by <c>e2m pki init</c> / first
    /// run in dev mode) or from configuration supplied by the operator's secret store.
    /// </summary>
    public sealed class EmksOptions
    {
        public const string SectionName = "Emks";

        /// <summary>Data directory: SQLite file, dev PKI (<c>pki/</c>), dev KEK, pseudonym secret. Created on first run.</summary>
        public string DataDirectory { get; set; } = "data";

        /// <summary>Listen address of the HTTPS API and of the CoAP bootstrap (loopback by default).</summary>
        public string ListenAddress { get; set; } = "127.0.0.1";

        /// <summary>HTTPS port of the push/pull API (mTLS). 0 = any free port (tests, <c>e2m stack</c>).</summary>
        public int HttpsPort { get; set; } = 7444;

        /// <summary>Storage provider: "sqlite" (default) or "postgres"; see E2mDatabase.Create.</summary>
        public string? StorageProvider { get; set; }

        /// <summary>Connection string (PostgreSQL <c>Host=...</c>, or a SQLite path); empty = <c>DATA_DIR/emks.db</c>.</summary>
        public string? ConnectionString { get; set; }

        /// <summary>KEK (64 hex or base64 of 32 octets). Empty = the file <see cref="KekFile"/> or <c>DATA_DIR/dev-kek.hex</c>.</summary>
        public string? Kek { get; set; }

        public string? KekFile { get; set; }

        /// <summary>Secret of the per-EMSE device pseudonyms (64 hex). Empty = <c>DATA_DIR/emks-pseudonym.hex</c>, created on first run.
        /// Changing it changes every pseudonym.</summary>
        public string? PseudonymSecret { get; set; }

        /// <summary>Name of the dev PKI leaf used as server certificate (and as client certificate towards EMSE callbacks).</summary>
        public string CertificateName { get; set; } = "emks";

        /// <summary>Create the dev PKI and KEK in the data directory when missing (development only; never in production).</summary>
        public bool DevMode { get; set; } = true;

        /// <summary>How often expired keys are purged.</summary>
        public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromMinutes(1);

        /// <summary>The HSS serving-node API (home-mode bootstrap only).</summary>
        public HssClientOptions Hss { get; set; } = new();

        public BootstrapOptions Bootstrap { get; set; } = new();

        /// <summary>In-memory cache of sealed key rows on the pull path (<c>KeyCache:Ttl</c>, <c>KeyCache:Capacity</c>).</summary>
        public Storage.KeyCacheOptions KeyCache { get; set; } = new();

        /// <summary>Push variant delivery: retries, backoff, polling (<c>Push:MaxAttempts</c>, ...).</summary>
        public Callbacks.PushOptions Push { get; set; } = new();

        public IEnumerable<string> Validate()
        {
            if (string.IsNullOrWhiteSpace(DataDirectory)) yield return "DataDirectory: required";
            if (!System.Net.IPAddress.TryParse(ListenAddress, out _)) yield return "ListenAddress: must be an IP address";
            if (HttpsPort is < 0 or > 65535) yield return "HttpsPort: 0..65535";
            if (string.IsNullOrWhiteSpace(CertificateName)) yield return "CertificateName: required";
            if (PurgeInterval <= TimeSpan.Zero) yield return "PurgeInterval: must be positive";
            if (!string.IsNullOrEmpty(PseudonymSecret) && !IsHex(PseudonymSecret, 64)) yield return "PseudonymSecret: must be 64 hex digits (32 octets)";
            if (KeyCache.Ttl < TimeSpan.Zero) yield return "KeyCache:Ttl: must not be negative (0 disables the cache)";
            if (KeyCache.Capacity < 1) yield return "KeyCache:Capacity: at least 1";
            foreach (string p in Push.Validate()) yield return p;
            if (Bootstrap.Enabled)
            {
                if (Bootstrap.UdpPort is < 0 or > 65535) yield return "Bootstrap:UdpPort: 0..65535";
                if (Bootstrap.ChallengeLifetime <= TimeSpan.Zero) yield return "Bootstrap:ChallengeLifetime: must be positive";
                if (Bootstrap.GracePeriod <= TimeSpan.Zero) yield return "Bootstrap:GracePeriod: must be positive";
                if (Bootstrap.ImsiBurst < 1 || Bootstrap.AddressBurst < 1) yield return "Bootstrap:ImsiBurst/AddressBurst: at least 1";
                if (Bootstrap.ImsiRefill <= TimeSpan.Zero || Bootstrap.AddressRefill <= TimeSpan.Zero) yield return "Bootstrap:ImsiRefill/AddressRefill: must be positive";
                if (Bootstrap.MaxConfirmAttempts < 1) yield return "Bootstrap:MaxConfirmAttempts: at least 1";
                if (Bootstrap.MaxConcurrentRequests < 2) yield return "Bootstrap:MaxConcurrentRequests: at least 2";
                if (Bootstrap.HssRequestSlots < 1 || Bootstrap.HssRequestSlots >= Bootstrap.MaxConcurrentRequests)
                {
                    yield return "Bootstrap:MaxConcurrentHssRequests: at least 1 and fewer than Bootstrap:MaxConcurrentRequests (confirmations need slots of their own)";
                }
                if (!Uri.TryCreate(Hss.BaseUrl, UriKind.Absolute, out Uri? u) || (u.Scheme != "https" && u.Scheme != "http"))
                {
                    yield return "Hss:BaseUrl: an absolute https URL of the HSS is required when Bootstrap:Enabled (the EMKS asks it for vectors)";
                }
            }
        }

        internal string ResolvedDataDirectory => Path.GetFullPath(DataDirectory);

        private static bool IsHex(string s, int digits)
        {
            if (s.Length != digits) return false;
            foreach (char c in s)
            {
                if (!Uri.IsHexDigit(c)) return false;
            }

            return true;
        }
    }

    /// <summary>How the EMKS reaches the HSS serving-node API (home-mode bootstrap).</summary>
    public sealed class HssClientOptions
    {
        /// <summary>e.g. <c>https://127.0.0.1:7441</c>. Required when the bootstrap is enabled.</summary>
        public string? BaseUrl { get; set; }

        /// <summary>Dev PKI leaf presented to the HSS (the HSS accepts roles <c>serving-node</c> and <c>emks</c> for <c>POST /v1/air</c>,
        /// and adds the KID to each vector for <c>emks</c>).</summary>
        public string ClientCertificateName { get; set; } = "emks";

        /// <summary>Radio access type asked for ("utran": CK/IK as the USIM returns them, DESIGN.md §3 home mode).</summary>
        public string Rat { get; set; } = "utran";

        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
    }

    /// <summary>Home-mode bootstrap over CoAP/UDP (DESIGN.md §3).</summary>
    public sealed class BootstrapOptions
    {
        public bool Enabled { get; set; }

        /// <summary>UDP port (0 = any free port). Default 5694 (the EMSE uses 5683).</summary>
        public int UdpPort { get; set; } = 5694;

        /// <summary>How long an outstanding challenge (its XRES) is kept.</summary>
        public TimeSpan ChallengeLifetime { get; set; } = TimeSpan.FromMinutes(5);

        /// <summary>A key handed out by the bootstrap and neither confirmed nor pulled within this period expires early (DESIGN.md §3).</summary>
        public TimeSpan GracePeriod { get; set; } = TimeSpan.FromMinutes(10);

        /// <summary>Token bucket per IMSI: burst and one token back per refill interval.</summary>
        public int ImsiBurst { get; set; } = 5;

        public TimeSpan ImsiRefill { get; set; } = TimeSpan.FromSeconds(60);

        /// <summary>Token bucket per source address (IP, port ignored).</summary>
        public int AddressBurst { get; set; } = 20;

        public TimeSpan AddressRefill { get; set; } = TimeSpan.FromSeconds(1);

        /// <summary>Wrong RES values accepted for one challenge before it is dropped.</summary>
        public int MaxConfirmAttempts { get; set; } = 3;

        /// <summary>Datagrams processed at once (the rest wait in the socket buffer).</summary>
        public int MaxConcurrentRequests { get; set; } = 64;

        /// <summary>
        /// Challenges and resyncs waiting for the HSS at once; fewer than <see cref="MaxConcurrentRequests"/>, so that a slow
        /// or unreachable HSS (each AIR may take up to Hss:Timeout) never takes every slot: confirmations, which need no
        /// HSS, are still processed. A challenge beyond it gets 5.03 with Max-Age (RFC 7252 §5.9.3.4) at once.
        /// Unset: half of <see cref="MaxConcurrentRequests"/>.
        /// </summary>
        public int? MaxConcurrentHssRequests { get; set; }

        /// <summary><see cref="MaxConcurrentHssRequests"/>, or half of <see cref="MaxConcurrentRequests"/> when unset.</summary>
        public int HssRequestSlots => MaxConcurrentHssRequests ?? Math.Max(1, MaxConcurrentRequests / 2);

        /// <summary>RFC 7252 §4.5 deduplication: responses to CON requests are replayed for this long (EXCHANGE_LIFETIME).</summary>
        public TimeSpan DeduplicationLifetime { get; set; } = TimeSpan.FromSeconds(247);
    }
}

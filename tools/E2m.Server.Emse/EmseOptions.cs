using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.Extensions.Options;

namespace E2m.Server.Emse
{
    /// <summary>
    /// EMSE configuration (section "Emse" of the configuration, or EmseApp.Build(EmseOptions, ...)). Non-secret
    /// values only: the client key lives in a file of the dev PKI (or a deployment secret store), never here.
    /// </summary>
    public sealed class EmseOptions
    {
        public const string SectionName = "Emse";

        /// <summary>EMSE_Id (DESIGN.md §2): FQDN-like identifier, also the DNS SAN/CN of the EMSE's client certificate.</summary>
        public string EmseId { get; set; } = "";

        /// <summary>UDP port of the CoAP/OSCORE server (RFC 7252 §6.1 default 5683; 0 = ephemeral, for tests).</summary>
        public int UdpPort { get; set; } = 5683;

        /// <summary>Address the UDP socket binds to ("0.0.0.0", "::", "127.0.0.1").</summary>
        public string UdpBindAddress { get; set; } = "0.0.0.0";

        /// <summary>Largest CoAP datagram accepted (RFC 7252 §4.6: 1152 octets fits an IPv6 MTU of 1280).</summary>
        public int MaxDatagramSize { get; set; } = 1152;

        /// <summary>
        /// Processing shards (a kid always goes to the same shard); 0 = the processor count, or ONE on a host of one or two
        /// processors. One shard commits, syncs and answers its batches itself (<see cref="InlineCommit"/>); several hand
        /// them to the group-commit thread, which merges theirs into one transaction and one fsync. Measured on a
        /// 2-core VM (README "Throughput", session 14): one shard 18-23 % more requests/s at 64 lock-step devices, the
        /// same or better at 1024.
        /// </summary>
        public int Workers { get; set; }

        /// <summary>
        /// 64-bit Linux: each shard receives on a socket of its own (recvmmsg batches), with more than one shard all
        /// bound to the UDP port with SO_REUSEPORT (the kernel spreads the devices over them by address and port),
        /// instead of one socket read by a receive thread that hands every datagram to a shard. A kid is then handled by the shard that first received
        /// it; a datagram of that kid arriving at another shard (the device's address changed) is handed over. False,
        /// or other systems: the receive thread.
        /// </summary>
        public bool UdpSocketPerWorker { get; set; } = true;

        /// <summary>Datagrams queued per shard before new ones are dropped (the device retransmits, RFC 7252 §4.2).</summary>
        public int QueueCapacityPerWorker { get; set; } = 4096;

        /// <summary>Largest number of datagrams committed in one database transaction (group commit).</summary>
        public int MaxBatch { get; set; } = 512;

        /// <summary>
        /// SQLite: journalled exchanges (emse_journal, one row per group commit) after which the folder thread moves
        /// their readings into the readings file (emse-readings.db). Larger = fewer, bigger folds (each device's index
        /// page is rewritten once per fold rather than once per request); reads fold first anyway, and the journal is
        /// folded within JournalIdleFold of the EMSE going idle.
        /// </summary>
        public int JournalFoldEntries { get; set; } = 16384;

        /// <summary>
        /// SQLite: folded exchanges after which the group commit applies the journal rows' replay state to
        /// <c>emse_replay</c> and deletes the rows. Each apply writes one row per kid in them (with 1024 devices about
        /// 1024 upserts, whatever the number of exchanges), so applying every few folds rather than after each one
        /// costs the writer less; the rows wait in the journal meanwhile. Zero applies after every fold.
        /// </summary>
        public int JournalApplyEntries { get; set; } = 65536;

        /// <summary>
        /// SQLite: how often an idle EMSE (no group committed since the last look) folds what is left in the journal;
        /// zero turns the idle fold off (reads and the writer's threshold still fold).
        /// </summary>
        public TimeSpan JournalIdleFold { get; set; } = TimeSpan.FromSeconds(1);

        /// <summary>Largest number of SenML records per batch (RFC 8428; bounded to bound memory).</summary>
        public int MaxRecordsPerBatch { get; set; } = 64;

        /// <summary>
        /// How long a response is kept for retransmitted requests (RFC 7252 §4.8.2 EXCHANGE_LIFETIME). With the
        /// NB-IoT ACK_TIMEOUT 15 s, MAX_RETRANSMIT 4: MAX_TRANSMIT_SPAN 337.5 s + 2·MAX_LATENCY 200 s + 15 s = 552.5 s.
        /// </summary>
        public TimeSpan ExchangeLifetime { get; set; } = TimeSpan.FromSeconds(600);

        /// <summary>How long a kid the EMKS does not know is answered 4.01 without asking the EMKS again.</summary>
        public TimeSpan NegativeCacheTime { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary>
        /// How long a pulled key is used before the EMSE asks the EMKS again whether it still gives it (in the background,
        /// on the kid's next request; the request is not held up). The EMKS no longer giving it (the HSS removed this EMSE
        /// from the subscription or revoked it) drops the context: 4.01, the device re-keys. EMKS unreachable: the key
        /// stays in use and the question is asked again after a minute. A changed device id (external id) makes the
        /// EMSE pull the key again. Keys live up to the key lifetime (days, DESIGN.md §5); 0 = never ask again.
        /// </summary>
        public TimeSpan KeyRevalidateInterval { get; set; } = TimeSpan.FromHours(1);

        /// <summary>Largest number of EMKS pulls in flight (unknown-kid floods must not flood the EMKS).</summary>
        public int MaxConcurrentPulls { get; set; } = 32;

        /// <summary>EMKS base URL, e.g. https://127.0.0.1:7443 (pull API GET /v1/keys/{kid}).</summary>
        public string EmksBaseUrl { get; set; } = "";

        /// <summary>Client certificate (PFX, or PEM certificate with <see cref="ClientKeyPath"/>) carrying the EMSE_Id.</summary>
        public string ClientCertificatePath { get; set; } = "";

        /// <summary>PEM private key of the client certificate when <see cref="ClientCertificatePath"/> is PEM.</summary>
        public string ClientKeyPath { get; set; } = "";

        /// <summary>
        /// PEM CA certificate (dev PKI CA; default DataDir/pki/ca.crt): the EMKS server certificate must chain to it, and so
        /// must the client certificates of the readings API (roles <c>reader</c> or <c>admin</c>).
        /// </summary>
        public string CaCertificatePath { get; set; } = "";

        /// <summary>
        /// Server certificate of the readings API on https:// URLs (PFX, or PEM with <see cref="ServerKeyPath"/>); default the
        /// dev PKI's <c>localhost</c> certificate DataDir/pki/localhost.pfx.
        /// </summary>
        public string ServerCertificatePath { get; set; } = "";

        /// <summary>PEM private key of <see cref="ServerCertificatePath"/> when it is PEM.</summary>
        public string ServerKeyPath { get; set; } = "";

        /// <summary>Data directory (SQLite file emse.db lives here; created on first run).</summary>
        public string DataDir { get; set; } = "data";

        /// <summary>Database: empty = SQLite file in DataDir; "Data Source=..." = SQLite; "Host=..." = PostgreSQL.</summary>
        public string Database { get; set; } = "";

        /// <summary>
        /// SQLite PRAGMA synchronous for the WAL journal: FULL (default: a 2.04 means the batch survived a power cut)
        /// or NORMAL (survives a process crash only; faster).
        /// </summary>
        public string SqliteSynchronous { get; set; } = "FULL";

        /// <summary>
        /// Kestrel URLs of the readings API for EmseApp.Build(EmseOptions, ...), e.g. "https://127.0.0.1:0"; empty = ASP.NET
        /// defaults. The readings API needs a client certificate, so only https:// URLs can serve it (http:// serves /health).
        /// </summary>
        public string HttpUrls { get; set; } = "";

        /// <summary>Largest number of readings one HTTP query returns.</summary>
        public int MaxReadingsPerQuery { get; set; } = 10000;

        /// <summary>
        /// Readings API per reader (several applications on one EMSE): reader name (its certificate's CN, e2m pki init
        /// --reader NAME) → the device ids it may see (exact, or a prefix ending in '*'). Empty (default): every reader
        /// sees every device. Not empty: a reader not named here gets 403, another reader's device is a 404 like an
        /// unknown one; admin certificates see every device. E.g. --Emse:ReaderDevices:acme:0=acme-*.
        /// </summary>
        public Dictionary<string, string[]> ReaderDevices { get; set; } = new(StringComparer.OrdinalIgnoreCase);

        /// <summary>Push variant (README "Key push from the EMKS"): accept keys the EMKS POSTs to /v1/keys (role emks only).</summary>
        public bool PushEnabled { get; set; }

        /// <summary>Device ids (external ids or this EMSE's pseudonyms) to register with the EMKS for key push at start (≤ 100).</summary>
        public string[] PushDeviceIds { get; set; } = Array.Empty<string>();

        /// <summary>Callback URL registered with the EMKS; empty = the first https:// listener address + /v1/keys.</summary>
        public string PushCallbackUrl { get; set; } = "";

        /// <summary>
        /// How often device ids the EMKS refused to register for push (403: not known for this EMSE yet, e.g. before the
        /// device's first AIR) are tried again; also the retry period after 4 failed attempts of an unreachable EMKS.
        /// </summary>
        public TimeSpan PushRegistrationRetry { get; set; } = TimeSpan.FromMinutes(10);

        internal int EffectiveWorkers => Workers > 0 ? Workers : Environment.ProcessorCount > 2 ? Environment.ProcessorCount : 1;

        /// <summary>
        /// One shard: it commits, syncs and answers each batch on its own thread (<see cref="Coap.GroupCommitWriter.CommitInline"/>),
        /// no hand-off to the group-commit thread and back (two thread switches per group, the cost that dominates at low
        /// concurrency). With several shards the group-commit thread merges their batches into one fsync.
        /// </summary>
        internal bool InlineCommit => EffectiveWorkers == 1;
    }

    /// <summary>Start-up validation of <see cref="EmseOptions"/> (clear messages, no secrets in them).</summary>
    public sealed class EmseOptionsValidator : IValidateOptions<EmseOptions>
    {
        public ValidateOptionsResult Validate(string? name, EmseOptions o)
        {
            var errors = new List<string>();
            if (string.IsNullOrWhiteSpace(o.EmseId))
            {
                errors.Add("Emse:EmseId is required (the EMSE_Id of DESIGN.md §2, e.g. emse.example.org).");
            }
            else if (o.EmseId.Length > 253 || o.EmseId.Trim() != o.EmseId)
            {
                errors.Add("Emse:EmseId must be a host name of at most 253 characters without surrounding spaces.");
            }

            if (o.UdpPort < 0 || o.UdpPort > 65535)
            {
                errors.Add("Emse:UdpPort must be 0..65535 (0 = ephemeral).");
            }

            if (!System.Net.IPAddress.TryParse(o.UdpBindAddress, out _))
            {
                errors.Add("Emse:UdpBindAddress must be an IP address.");
            }

            if (o.MaxDatagramSize < 64 || o.MaxDatagramSize > 65507)
            {
                errors.Add("Emse:MaxDatagramSize must be 64..65507.");
            }

            if (o.Workers < 0 || o.Workers > 256)
            {
                errors.Add("Emse:Workers must be 0..256 (0 = processor count).");
            }

            if (o.QueueCapacityPerWorker < 1 || o.MaxBatch < 1 || o.MaxRecordsPerBatch < 1 || o.MaxConcurrentPulls < 1 || o.MaxReadingsPerQuery < 1
                || o.JournalFoldEntries < 1 || o.JournalApplyEntries < 0)
            {
                errors.Add("Emse:QueueCapacityPerWorker, MaxBatch, MaxRecordsPerBatch, MaxConcurrentPulls, MaxReadingsPerQuery and JournalFoldEntries must be positive, JournalApplyEntries zero or more.");
            }

            if (o.JournalIdleFold < TimeSpan.Zero || o.JournalIdleFold > TimeSpan.FromHours(1))
            {
                errors.Add("Emse:JournalIdleFold must be 00:00:00 (off) .. 01:00:00.");
            }

            foreach (KeyValuePair<string, string[]> r in o.ReaderDevices ?? new Dictionary<string, string[]>())
            {
                if (r.Value == null || r.Value.Length == 0 || Array.Exists(r.Value, p => string.IsNullOrEmpty(p) || p.IndexOf('*') is >= 0 and var i && i != p.Length - 1))
                {
                    errors.Add("Emse:ReaderDevices:" + r.Key + ": one or more device ids, '*' only at the end (a prefix).");
                }
            }

            if (o.KeyRevalidateInterval < TimeSpan.Zero || o.KeyRevalidateInterval > TimeSpan.FromDays(366))
            {
                errors.Add("Emse:KeyRevalidateInterval must be 0 (off) .. 366 days.");
            }

            // Upper bounds keep "now + span" representable (a span of millennia would make every pull fail).
            if (o.ExchangeLifetime <= TimeSpan.Zero || o.ExchangeLifetime > TimeSpan.FromDays(1)
                || o.NegativeCacheTime < TimeSpan.Zero || o.NegativeCacheTime > TimeSpan.FromDays(1))
            {
                errors.Add("Emse:ExchangeLifetime must be positive and Emse:NegativeCacheTime not negative, both at most 1 day.");
            }

            if (o.SqliteSynchronous != "FULL" && o.SqliteSynchronous != "NORMAL")
            {
                errors.Add("Emse:SqliteSynchronous must be FULL or NORMAL.");
            }

            if (string.IsNullOrEmpty(o.CaCertificatePath) || !File.Exists(o.CaCertificatePath))
            {
                errors.Add("Emse:CaCertificatePath must name the CA certificate that readings-API clients and the EMKS chain to " +
                    "(default DataDir/pki/ca.crt: run `e2m pki init --data-dir DIR`).");
            }

            bool https = o.HttpUrls.Contains("https://", StringComparison.OrdinalIgnoreCase);
            if (https && (string.IsNullOrEmpty(o.ServerCertificatePath) || !File.Exists(o.ServerCertificatePath)))
            {
                errors.Add("Emse:ServerCertificatePath must name the readings API's server certificate for the https:// URLs " +
                    "(default DataDir/pki/localhost.pfx: run `e2m pki init --data-dir DIR`).");
            }
            else if (https && !string.IsNullOrEmpty(o.ServerKeyPath) && !File.Exists(o.ServerKeyPath))
            {
                errors.Add("Emse:ServerKeyPath names a file that does not exist.");
            }

            if (!string.IsNullOrEmpty(o.EmksBaseUrl))
            {
                if (!Uri.TryCreate(o.EmksBaseUrl, UriKind.Absolute, out Uri? u) || u.Scheme != Uri.UriSchemeHttps)
                {
                    errors.Add("Emse:EmksBaseUrl must be an absolute https:// URL (the pull API is mTLS only).");
                }

                if (string.IsNullOrEmpty(o.ClientCertificatePath) || !File.Exists(o.ClientCertificatePath))
                {
                    errors.Add("Emse:ClientCertificatePath must name an existing certificate file (dev PKI: e2m pki init).");
                }

                if (!string.IsNullOrEmpty(o.ClientKeyPath) && !File.Exists(o.ClientKeyPath))
                {
                    errors.Add("Emse:ClientKeyPath names a file that does not exist.");
                }
            }

            if (string.IsNullOrWhiteSpace(o.Database) && string.IsNullOrWhiteSpace(o.DataDir))
            {
                errors.Add("Emse:DataDir or Emse:Database is required.");
            }

            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}

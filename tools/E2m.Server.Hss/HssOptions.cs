using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace E2m.Server.Hss
{
    /// <summary>
    /// Configuration section "Hss" (appsettings, environment <c>Hss__Emks__BaseUrl=...</c>, or command line
    /// <c>--Hss:Emks:BaseUrl=...</c>). Only non-secret defaults live in files; the KEK comes from <see cref="Kek"/>
    /// (environment/secret store), <see cref="KekFile"/>, or the dev KEK of <c>e2m pki init</c>.
    /// </summary>
    public sealed class HssOptions
    {
        public const string SectionName = "Hss";

        /// <summary>Data directory (SQLite file <c>hss.db</c>, dev PKI, dev KEK). Created on first run.</summary>
        public string DataDirectory { get; set; } = "e2m-data";

        /// <summary>Key-encryption key for K/OPc at rest: 64 hex digits or base64 of 32 octets. SECRET: environment only.</summary>
        public string? Kek { get; set; }

        /// <summary>File holding the KEK (hex/base64). Default when neither is set: DATA_DIR/dev-kek.hex (dev mode).</summary>
        public string? KekFile { get; set; }

        public StorageSection Storage { get; set; } = new();

        public ListenSection Listen { get; set; } = new();

        public PkiSection Pki { get; set; } = new();

        public EmksSection Emks { get; set; } = new();

        public AucSection Auc { get; set; } = new();

        public SqnSection Sqn { get; set; } = new();

        /// <summary>TS 33.102 Annex C parameters (the USIM population's; defaults = Annex C.3.2 profile).</summary>
        public sealed class SqnSection
        {
            /// <summary>IND length in bits (Annex C.3.2 recommends 5: a = 32). Must match the USIMs' array size.</summary>
            public int IndBits { get; set; } = Subscribers.SqnPolicy.DefaultIndBits;

            /// <summary>Δ: the largest SEQ step the USIM accepts over its SEQ_MS (Annex C.2.1; C.3 profiles: 2^28).</summary>
            public long Delta { get; set; } = Subscribers.SqnPolicy.DefaultDelta;

            /// <summary>L: the USIM's age limit (Annex C.2.2), 0 = not applied. When set, numVectors ≤ L.</summary>
            public long AgeLimit { get; set; }

            /// <summary>Highest SEQ the HSS issues; 0 = SEQmax = 2^(48 − IndBits) − 1 (Annex C.2.1: never wrap).</summary>
            public long SeqCeiling { get; set; }
        }

        /// <summary>The validated <see cref="Sqn"/> section as a policy object.</summary>
        public Subscribers.SqnPolicy SqnPolicy => new(Sqn.IndBits, Sqn.Delta, Sqn.AgeLimit, Sqn.SeqCeiling);

        public sealed class StorageSection
        {
            /// <summary>"sqlite" (default) or "postgres".</summary>
            public string? Provider { get; set; }

            /// <summary>Empty: DATA_DIR/hss.db. "Host=..." selects PostgreSQL.</summary>
            public string? ConnectionString { get; set; }
        }

        public sealed class ListenSection
        {
            public string Address { get; set; } = "127.0.0.1";

            /// <summary>HTTPS port; 0 = any free port (printed at start).</summary>
            public int Port { get; set; } = 7443;
        }

        public sealed class PkiSection
        {
            /// <summary>Directory with ca.crt and hss.pfx; default DATA_DIR/pki.</summary>
            public string? Directory { get; set; }

            /// <summary>Generate the dev PKI in DATA_DIR when it is missing (development default).</summary>
            public bool AutoInit { get; set; } = true;
        }

        public sealed class EmksSection
        {
            /// <summary>Base URL of the EMKS push API, e.g. https://127.0.0.1:7444. Required to serve e2m subscribers.</summary>
            public string? BaseUrl { get; set; }

            public int TimeoutSeconds { get; set; } = 5;
        }

        public sealed class AucSection
        {
            /// <summary>AMF e2m bit mask (DESIGN.md §5: default bit 1 = 0x4000), 4 hex digits, one bit, not 0x8000.</summary>
            public string E2mAmfMask { get; set; } = "4000";

            /// <summary>Upper bound of numVectors per AIR.</summary>
            public int MaxVectorsPerRequest { get; set; } = 5;

            /// <summary>Maximum AIR body size in octets.</summary>
            public int MaxRequestBytes { get; set; } = 4096;
        }

        public string PkiDirectory => string.IsNullOrEmpty(Pki.Directory) ? Path.Combine(DataDirectory, "pki") : Pki.Directory;

        public ushort ParsedE2mAmfMask => ushort.Parse(Auc.E2mAmfMask, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

        /// <summary>Validation at start (messages name the setting, never a secret value).</summary>
        public static IEnumerable<string> Validate(HssOptions o)
        {
            if (string.IsNullOrWhiteSpace(o.DataDirectory))
            {
                yield return "DataDirectory: required";
            }

            if (!string.IsNullOrEmpty(o.Kek))
            {
                string? err = null;
                try
                {
                    E2m.Server.Common.AtRestProtector.ParseKek(o.Kek);
                }
                catch (FormatException e)
                {
                    err = "Kek: " + e.Message;
                }

                if (err != null)
                {
                    yield return err;
                }
            }

            if (o.Listen.Port < 0 || o.Listen.Port > 65535)
            {
                yield return "Listen:Port: 0..65535";
            }

            if (!System.Net.IPAddress.TryParse(o.Listen.Address, out _))
            {
                yield return "Listen:Address: an IP address (e.g. 127.0.0.1)";
            }

            if (!string.IsNullOrEmpty(o.Emks.BaseUrl)
                && (!Uri.TryCreate(o.Emks.BaseUrl, UriKind.Absolute, out Uri? u) || u.Scheme != Uri.UriSchemeHttps))
            {
                yield return "Emks:BaseUrl: an absolute https:// URL";
            }

            if (o.Emks.TimeoutSeconds < 1 || o.Emks.TimeoutSeconds > 120)
            {
                yield return "Emks:TimeoutSeconds: 1..120";
            }

            if (!ushort.TryParse(o.Auc.E2mAmfMask, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ushort mask)
                || o.Auc.E2mAmfMask.Length != 4 || mask == 0 || (mask & (mask - 1)) != 0 || mask == 0x8000)
            {
                yield return "Auc:E2mAmfMask: 4 hex digits with exactly one bit set, not the separation bit 8000 (default 4000)";
            }

            if (o.Auc.MaxVectorsPerRequest < 1 || o.Auc.MaxVectorsPerRequest > E2m.Server.Common.Contracts.HssEmksContract.MaxKeysPerPush)
            {
                yield return $"Auc:MaxVectorsPerRequest: 1..{E2m.Server.Common.Contracts.HssEmksContract.MaxKeysPerPush}";
            }

            if (o.Auc.MaxRequestBytes < 256 || o.Auc.MaxRequestBytes > 1 << 20)
            {
                yield return "Auc:MaxRequestBytes: 256..1048576";
            }

            string? sqnError = null;
            try
            {
                Subscribers.SqnPolicy p = o.SqnPolicy;
                if (o.Auc.MaxVectorsPerRequest > p.Delta)
                {
                    sqnError = "Sqn:Delta: must be ≥ Auc:MaxVectorsPerRequest (one AIR steps SEQ by numVectors, TS 33.102 Annex C.2.1)";
                }
                else if (p.AgeLimit != 0 && o.Auc.MaxVectorsPerRequest > p.AgeLimit)
                {
                    sqnError = "Sqn:AgeLimit: must be 0 or ≥ Auc:MaxVectorsPerRequest (a batch must not span L SEQ values, TS 33.102 Annex C.2.2)";
                }
            }
            catch (ArgumentOutOfRangeException e)
            {
                sqnError = "Sqn:" + e.ParamName switch
                {
                    "indBits" => "IndBits",
                    "delta" => "Delta",
                    "ageLimit" => "AgeLimit",
                    _ => "SeqCeiling",
                } + ": " + e.Message.Split(" (Parameter", StringSplitOptions.None)[0];
            }

            if (sqnError != null)
            {
                yield return sqnError;
            }

            string provider = (o.Storage.Provider ?? string.Empty).ToLowerInvariant();
            if (provider.Length > 0 && provider != "sqlite" && provider != "postgres" && provider != "postgresql")
            {
                yield return "Storage:Provider: 'sqlite' or 'postgres'";
            }

            if ((provider == "postgres" || provider == "postgresql") && string.IsNullOrWhiteSpace(o.Storage.ConnectionString))
            {
                yield return "Storage:ConnectionString: required for postgres";
            }
        }
    }
}

using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Hss.Api;
using E2m.Server.Hss.Auc;
using E2m.Server.Hss.Emks;
using E2m.Server.Hss.Subscribers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace E2m.Server.Hss
{
    /// <summary>
    /// Composition root of the HSS/AuC (also used in-process by <c>e2m stack</c> and the tests).
    /// HTTPS only (Kestrel, dev PKI by default), client certificates requested on every connection; the APIs check the
    /// role of the certificate: <c>POST /v1/air</c> serving-node/emks, <c>/v1/admin/subscribers</c> admin; <c>/health</c> open.
    /// </summary>
    public static class HssApp
    {
        public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
        {
            WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
            builder.Logging.AddE2mLogging();
            configure?.Invoke(builder);

            // Options, storage, keys, PKI
            builder.Services.AddHss();

            // Kestrel: one HTTPS listener with the HSS certificate; client certificates validated against the CA only.
            builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<HssOptions>, HssPki>((kestrel, o, pki) =>
            {
                kestrel.AddServerHeader = false;
                kestrel.Limits.MaxRequestBodySize = 64 * 1024;
                kestrel.Listen(IPAddress.Parse(o.Value.Listen.Address), o.Value.Listen.Port,
                    listen => listen.UseE2mHttps(pki.ServerCertificate, pki.Trust, ClientCertificateMode.AllowCertificate));
            });

            WebApplication app = builder.Build();
            app.MapHss();
            return app;
        }

        /// <summary>Registers the HSS services (options validated at start).</summary>
        public static IServiceCollection AddHss(this IServiceCollection services)
        {
            services.AddValidatedOptions<HssOptions>(HssOptions.SectionName, HssOptions.Validate);
            services.TryAddSingleton(TimeProvider.System);
            services.AddSingleton(sp => HssPki.Load(sp.GetRequiredService<IOptions<HssOptions>>().Value));
            services.AddSingleton(sp => sp.GetRequiredService<HssPki>().Trust);
            services.AddSingleton(sp => CreateDatabase(sp.GetRequiredService<IOptions<HssOptions>>().Value));
            services.AddSingleton(sp => CreateProtector(sp.GetRequiredService<IOptions<HssOptions>>().Value, sp.GetRequiredService<HssPki>()));
            services.AddSingleton(sp =>
            {
                HssOptions o = sp.GetRequiredService<IOptions<HssOptions>>().Value;
                return new SubscriberStore(sp.GetRequiredService<E2mDatabase>(), sp.GetRequiredService<AtRestProtector>(),
                    sp.GetRequiredService<TimeProvider>(), o.SqnPolicy, emksPolicySync: !string.IsNullOrEmpty(o.Emks.BaseUrl));
            });
            services.AddSingleton(sp => new AucEngine(sp.GetRequiredService<IOptions<HssOptions>>().Value.ParsedE2mAmfMask));
            services.AddHttpClient(EmksPushClient.HttpClientName, (sp, http) =>
                {
                    http.Timeout = TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<HssOptions>>().Value.Emks.TimeoutSeconds);
                })
                .ConfigurePrimaryHttpMessageHandler(sp =>
                {
                    HssPki pki = sp.GetRequiredService<HssPki>();
                    return Mtls.CreateClientHandler(pki.ClientCertificate, pki.Trust);
                });
            services.TryAddSingleton(sp =>
            {
                string? url = sp.GetRequiredService<IOptions<HssOptions>>().Value.Emks.BaseUrl;
                return new EmksPushClient(sp.GetRequiredService<IHttpClientFactory>(), string.IsNullOrEmpty(url) ? null : new Uri(url));
            });
            services.TryAddSingleton<IEmksPushClient>(sp => sp.GetRequiredService<EmksPushClient>());
            services.TryAddSingleton<IEmksPolicyClient>(sp => sp.GetRequiredService<EmksPushClient>());
            services.AddSingleton<AirService>();
            services.AddE2mHealth();
            services.AddHostedService<HssStartup>(); // before the policy dispatcher: creates/migrates the schema
            services.AddEmksPolicySync();
            return services;
        }

        public static WebApplication MapHss(this WebApplication app)
        {
            app.MapE2mHealth("hss");
            app.MapAir();
            app.MapSubscriberAdmin();
            return app;
        }

        /// <summary>The HTTPS URL Kestrel bound (after start), e.g. https://127.0.0.1:7443.</summary>
        public static string? GetListenUrl(WebApplication app) =>
            app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();

        internal static E2mDatabase CreateDatabase(HssOptions o) =>
            E2mDatabase.Create(o.Storage.Provider, o.Storage.ConnectionString, o.DataDirectory, "hss.db");

        internal static AtRestProtector CreateProtector(HssOptions o, HssPki pkiEnsured)
        {
            _ = pkiEnsured; // resolving the PKI first creates the dev KEK in dev mode
            if (!string.IsNullOrEmpty(o.Kek))
            {
                return new AtRestProtector(AtRestProtector.ParseKek(o.Kek));
            }

            string file = string.IsNullOrEmpty(o.KekFile) ? DevPki.DevKekPath(o.DataDirectory) : o.KekFile;
            return new AtRestProtector(AtRestProtector.ReadKekFile(file));
        }

        /// <summary>Creates the schema at start and logs where the HSS stores and listens (no secrets).</summary>
        private sealed class HssStartup : IHostedService
        {
            private readonly SubscriberStore _store;
            private readonly IOptions<HssOptions> _options;
            private readonly IEmksPushClient _emks;
            private readonly ILogger<SubscriberStore> _log;

            public HssStartup(SubscriberStore store, IOptions<HssOptions> options, IEmksPushClient emks, ILogger<SubscriberStore> log)
            {
                _store = store;
                _options = options;
                _emks = emks;
                _log = log;
            }

            public Task StartAsync(CancellationToken cancellationToken)
            {
                _store.EnsureSchema();
                _log.LogInformation("HSS storage {Db}; e2m push target {Emks}", _store.Database.Describe(), _options.Value.Emks.BaseUrl ?? "(none: e2m subscribers will fail AIR)");
                if (!_emks.Configured)
                {
                    _log.LogWarning("Hss:Emks:BaseUrl is not set: AIR for e2m subscribers fails until it is");
                }

                return Task.CompletedTask;
            }

            public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        }
    }

    /// <summary>Certificates of the HSS: trust anchor (CA), server/client certificate (hss.pfx, used for both).</summary>
    public sealed class HssPki
    {
        public HssPki(E2mTrustAnchor trust, X509Certificate2 serverCertificate, X509Certificate2 clientCertificate)
        {
            Trust = trust;
            ServerCertificate = serverCertificate;
            ClientCertificate = clientCertificate;
        }

        public E2mTrustAnchor Trust { get; }

        public X509Certificate2 ServerCertificate { get; }

        public X509Certificate2 ClientCertificate { get; }

        /// <summary>Loads PKI_DIR/ca.crt and PKI_DIR/hss.pfx; generates the dev PKI (and dev KEK) first when allowed and missing.</summary>
        public static HssPki Load(HssOptions o)
        {
            string dir = o.PkiDirectory;
            bool defaultDir = string.IsNullOrEmpty(o.Pki.Directory);
            if (defaultDir && o.Pki.AutoInit && (!DevPki.Exists(o.DataDirectory) || !File.Exists(DevPki.PfxPath(o.DataDirectory, DevPki.Hss))
                || (string.IsNullOrEmpty(o.Kek) && string.IsNullOrEmpty(o.KekFile) && !File.Exists(DevPki.DevKekPath(o.DataDirectory)))))
            {
                DevPki.Init(o.DataDirectory, Array.Empty<string>());
            }

            string ca = Path.Combine(dir, DevPki.Ca + ".crt"), hss = Path.Combine(dir, DevPki.Hss + ".pfx");
            if (!File.Exists(ca) || !File.Exists(hss))
            {
                throw new InvalidOperationException($"HSS PKI not found: need {ca} and {hss} (run `e2m pki init --data-dir {o.DataDirectory}` or set Hss:Pki:Directory)");
            }

            X509Certificate2 cert = X509CertificateLoader.LoadPkcs12FromFile(hss, password: null);
            return new HssPki(E2mTrustAnchor.Load(ca), cert, cert); // + the CA's revocation list beside it
        }
    }
}

using System;
using System.IO;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using E2m.Server.Common;
using E2m.Server.Emks.Api;
using E2m.Server.Emks.Bootstrap;
using E2m.Server.Emks.Callbacks;
using E2m.Server.Emks.Hss;
using E2m.Server.Emks.Keys;
using E2m.Server.Emks.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace E2m.Server.Emks
{
    /// <summary>
    /// Composition root of the EMKS (issue 6 point 2). <c>Program.cs</c>, <c>e2m stack</c>, <c>e2m demo</c> and the tests
    /// all host what <see cref="Build(EmksOptions, Action{IServiceCollection}?)"/> returns.
    /// </summary>
    public static class EmksApp
    {
        /// <summary>From command line/environment/appsettings (section <see cref="EmksOptions.SectionName"/>).</summary>
        public static WebApplication Build(string[] args)
        {
            WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
            EmksOptions options = builder.Configuration.GetSection(EmksOptions.SectionName).Get<EmksOptions>() ?? new EmksOptions();
            return Build(builder, options, null);
        }

        /// <summary>In-process hosting: <paramref name="overrides"/> runs after the EMKS registrations (swap storage, clock, HSS client).</summary>
        public static WebApplication Build(EmksOptions options, Action<IServiceCollection>? overrides = null)
        {
            WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions
            {
                ApplicationName = typeof(EmksApp).Assembly.GetName().Name,
                ContentRootPath = AppContext.BaseDirectory,
            });
            return Build(builder, options, overrides);
        }

        private static WebApplication Build(WebApplicationBuilder builder, EmksOptions options, Action<IServiceCollection>? overrides)
        {
            // Options: validated before anything else (clear messages, no secret values)
            ValidateOrThrow(options);
            builder.Logging.AddE2mLogging();

            // Material: dev PKI and KEK (dev mode only), certificates, trust anchor
            EmksMaterial material = EmksMaterial.Load(options);
            builder.Services.AddSingleton(options);
            builder.Services.AddSingleton(material);
            var trust = new E2mTrustAnchor(material.Ca, E2mTrustAnchor.CrlPathFor(material.CaCertificatePath)); // + pki/ca.crl
            builder.Services.AddSingleton(trust);
            builder.Services.TryAddSingleton(TimeProvider.System);

            // HTTPS with mutual TLS (client certificates requested; each endpoint requires its role, validated once per
            // connection by Common's Mtls.RequireClientRole). HTTP/1.1 and HTTP/2 (ALPN).
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse(options.ListenAddress), options.HttpsPort,
                l => l.UseE2mHttps(material.ServerCertificate, trust, ClientCertificateMode.AllowCertificate)));

            // Storage, key logic, purge, callbacks, bootstrap, health
            builder.Services.AddEmksKeyStore(options, material);
            builder.Services.AddEmksCallbacks(options, material);
            builder.Services.AddEmksBootstrap(options, material);
            builder.Services.AddE2mHealth();

            overrides?.Invoke(builder.Services);

            WebApplication app = builder.Build();
            app.MapE2mHealth("emks");
            app.MapEmksPush();
            app.MapEmksPolicySync();
            app.MapEmksPull();
            app.MapEmksSubscriptions();
            return app;
        }

        /// <summary>Database (SQLite/PostgreSQL, schema ensured at start), sealed key store, pseudonyms, key logic, purge service.</summary>
        public static IServiceCollection AddEmksKeyStore(this IServiceCollection services, EmksOptions options, EmksMaterial material)
        {
            services.TryAddSingleton(_ => E2mDatabase.Create(options.StorageProvider, options.ConnectionString, options.ResolvedDataDirectory, "emks.db"));
            services.TryAddSingleton(_ => new AtRestProtector(material.Kek));
            services.TryAddSingleton(_ => new KeyCache(options.KeyCache));
            services.TryAddSingleton<IEmksStore>(sp =>
            {
                var store = new SqlEmksStore(sp.GetRequiredService<E2mDatabase>(), sp.GetRequiredService<AtRestProtector>(), sp.GetRequiredService<KeyCache>());
                store.EnsureSchema();
                return store;
            });
            services.AddHostedService<StoreInitializer>();
            services.TryAddSingleton(_ => new DevicePseudonym(material.PseudonymSecret));
            services.TryAddSingleton<KeyService>();
            services.TryAddSingleton<KeyPurgeService>();
            services.AddHostedService(sp => sp.GetRequiredService<KeyPurgeService>());
            return services;
        }

        /// <summary>Push variant: per-subscriber registrations, durable outbox dispatcher with retry (mTLS client = the EMKS certificate).</summary>
        public static IServiceCollection AddEmksCallbacks(this IServiceCollection services, EmksOptions options, EmksMaterial material)
        {
            services.AddHttpClient(PushDispatcher.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(10))
                .ConfigurePrimaryHttpMessageHandler(sp => Mtls.CreateClientHandler(material.ServerCertificate, sp.GetRequiredService<E2mTrustAnchor>()));
            services.TryAddSingleton(options.Push);
            services.TryAddSingleton<PushDispatcher>();
            services.TryAddSingleton<ICallbackNotifier>(sp => sp.GetRequiredService<PushDispatcher>());
            services.AddHostedService(sp => sp.GetRequiredService<PushDispatcher>());
            return services;
        }

        /// <summary>Home-mode bootstrap over CoAP/UDP (only when <see cref="BootstrapOptions.Enabled"/>).</summary>
        public static IServiceCollection AddEmksBootstrap(this IServiceCollection services, EmksOptions options, EmksMaterial material)
        {
            services.AddHttpClient(HttpHssAirClient.HttpClientName, c => c.Timeout = options.Hss.Timeout)
                .ConfigurePrimaryHttpMessageHandler(sp => Mtls.CreateClientHandler(material.LoadHssClientCertificate(), sp.GetRequiredService<E2mTrustAnchor>()));
            services.TryAddSingleton<IHssAirClient, HttpHssAirClient>();
            services.TryAddSingleton<BootstrapService>();
            services.TryAddSingleton<BootstrapCoapHandler>();
            if (options.Bootstrap.Enabled)
            {
                services.TryAddSingleton<BootstrapUdpServer>();
                services.AddHostedService(sp => sp.GetRequiredService<BootstrapUdpServer>());
            }

            return services;
        }

        private static void ValidateOrThrow(EmksOptions options)
        {
            var problems = new System.Collections.Generic.List<string>();
            foreach (string p in options.Validate()) problems.Add(EmksOptions.SectionName + ": " + p);
            if (problems.Count > 0) throw new OptionsValidationException(EmksOptions.SectionName, typeof(EmksOptions), problems);
        }

        // Resolves the store at start so the schema exists (and a bad connection string fails) before the first request.
        private sealed class StoreInitializer : IHostedService
        {
            private readonly IServiceProvider _sp;

            public StoreInitializer(IServiceProvider sp) => _sp = sp;

            public System.Threading.Tasks.Task StartAsync(System.Threading.CancellationToken cancellationToken)
            {
                _sp.GetRequiredService<IEmksStore>();
                return System.Threading.Tasks.Task.CompletedTask;
            }

            public System.Threading.Tasks.Task StopAsync(System.Threading.CancellationToken cancellationToken) => System.Threading.Tasks.Task.CompletedTask;
        }
    }

    /// <summary>
    /// Secrets and certificates the EMKS starts with: KEK (configuration, KEK file, or the dev KEK), pseudonym secret
    /// (configuration or <c>DATA_DIR/emks-pseudonym.hex</c>, created on first run), server certificate and CA from the
    /// dev PKI in <c>DATA_DIR/pki</c> (created in dev mode when missing).
    /// </summary>
    public sealed class EmksMaterial
    {
        public const string PseudonymFileName = "emks-pseudonym.hex";

        private readonly EmksOptions _options;

        private EmksMaterial(EmksOptions options, byte[] kek, byte[] pseudonymSecret, X509Certificate2 server, X509Certificate2 ca)
        {
            _options = options;
            Kek = kek;
            PseudonymSecret = pseudonymSecret;
            ServerCertificate = server;
            Ca = ca;
        }

        public byte[] Kek { get; }

        public byte[] PseudonymSecret { get; }

        public X509Certificate2 ServerCertificate { get; }

        public X509Certificate2 Ca { get; }

        /// <summary>The CA certificate's file (its revocation list is the <c>.crl</c> beside it).</summary>
        public string CaCertificatePath => DevPki.CertificatePath(_options.ResolvedDataDirectory, DevPki.Ca);

        public static EmksMaterial Load(EmksOptions options)
        {
            string dir = options.ResolvedDataDirectory;
            Directory.CreateDirectory(dir);
            if (options.DevMode && !DevPki.Exists(dir)) DevPki.Init(dir, Array.Empty<string>());

            byte[] kek = !string.IsNullOrWhiteSpace(options.Kek) ? AtRestProtector.ParseKek(options.Kek)
                : !string.IsNullOrWhiteSpace(options.KekFile) ? AtRestProtector.ReadKekFile(options.KekFile)
                : AtRestProtector.ReadKekFile(DevPki.DevKekPath(dir));

            byte[] pseudonym;
            if (!string.IsNullOrWhiteSpace(options.PseudonymSecret))
            {
                pseudonym = Convert.FromHexString(options.PseudonymSecret);
            }
            else
            {
                string path = Path.Combine(dir, PseudonymFileName);
                if (!File.Exists(path))
                {
                    try
                    {
                        AtRestProtector.WriteNewKekFile(path); // 32 CSPRNG octets as hex, mode 0600
                    }
                    catch (IOException) when (File.Exists(path))
                    {
                        // another process created it first
                    }
                }

                pseudonym = AtRestProtector.ReadKekFile(path);
            }

            return new EmksMaterial(options, kek, pseudonym,
                DevPki.LoadCertificate(dir, options.CertificateName), DevPki.LoadCaCertificate(dir));
        }

        /// <summary>The client certificate presented to the HSS AIR API.</summary>
        public X509Certificate2 LoadHssClientCertificate() => DevPki.LoadCertificate(_options.ResolvedDataDirectory, _options.Hss.ClientCertificateName);
    }
}

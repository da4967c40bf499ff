using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using E2m.Server.Common;
using E2m.Server.Emse.Coap;
using E2m.Server.Emse.Http;
using E2m.Server.Emse.Keys;
using E2m.Server.Emse.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace E2m.Server.Emse
{
    /// <summary>
    /// Builds the EMSE (issue 6 point 3, DESIGN.md §4, §6): the CoAP/OSCORE UDP server (hosted service
    /// <see cref="EmseCoapServer"/>), the readings HTTP/JSON API and /health on Kestrel. Options come from section
    /// "Emse" (Build(args)) or from an <see cref="EmseOptions"/> object, and are validated at start.
    /// </summary>
    public static class EmseApp
    {
        /// <summary>From the command line / configuration (section "Emse"; e.g. --Emse:EmseId=emse.example.org).</summary>
        public static WebApplication Build(string[] args)
        {
            WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
            builder.Services.AddOptions<EmseOptions>().BindConfiguration(EmseOptions.SectionName);
            builder.Services.AddEmse();
            return Finish(builder);
        }

        /// <summary>
        /// From an options object (tests, `e2m stack`): <paramref name="overrides"/> runs last (e.g. replace
        /// <see cref="IEmksKeySource"/> or TimeProvider). HTTP listens on <see cref="EmseOptions.HttpUrls"/> when set.
        /// </summary>
        public static WebApplication Build(EmseOptions options, Action<IServiceCollection>? overrides)
        {
            ArgumentNullException.ThrowIfNull(options);
            // Content root = the binaries, not the working directory (as the EMKS does): the host watches its content
            // root for appsettings changes, recursively, and a data directory below the working directory would turn
            // every database write into file-watcher events (seen in the bench run from /tmp: a busy watcher thread).
            WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions
            {
                Args = Array.Empty<string>(),
                ApplicationName = typeof(EmseApp).Assembly.GetName().Name,
                ContentRootPath = AppContext.BaseDirectory,
            });
            if (!string.IsNullOrEmpty(options.HttpUrls))
            {
                builder.WebHost.UseUrls(options.HttpUrls);
            }

            builder.Services.AddOptions<EmseOptions>().Configure(o => Copy(options, o));
            builder.Services.AddEmse();
            overrides?.Invoke(builder.Services);
            return Finish(builder);
        }

        /// <summary>Registers the EMSE services (options validation, storage, EMKS client, CoAP server, health).</summary>
        public static IServiceCollection AddEmse(this IServiceCollection services)
        {
            services.AddSingleton<IValidateOptions<EmseOptions>, EmseOptionsValidator>();
            services.AddOptions<EmseOptions>().PostConfigure(ApplyDevPkiDefaults).ValidateOnStart();
            // Readings API authentication (README "HTTP API"): mutual TLS with the dev PKI, roles reader/admin.
            // The CA's revocation list beside it (CA_NAME.crl, `e2m pki revoke`) is honoured, re-read within a second.
            services.TryAddSingleton(sp => E2mTrustAnchor.Load(sp.GetRequiredService<IOptions<EmseOptions>>().Value.CaCertificatePath));
            services.AddOptions<KestrelServerOptions>().Configure<IServiceProvider>((k, sp) => k.ConfigureHttpsDefaults(h =>
            {
                EmseOptions o = sp.GetRequiredService<IOptions<EmseOptions>>().Value;
                E2mTrustAnchor trust = sp.GetRequiredService<E2mTrustAnchor>();
                try
                {
                    h.ServerCertificate = EmksHttpKeySource.LoadClientCertificate(o.ServerCertificatePath, o.ServerKeyPath);
                }
                catch (Exception e) when (e is System.Security.Cryptography.CryptographicException || e is System.IO.IOException || e is ArgumentException)
                {
                    // an https:// listener from --urls or ASPNETCORE_URLS, which the options validator does not see
                    throw new InvalidOperationException($"Emse:ServerCertificatePath '{o.ServerCertificatePath}' (the readings API's https:// certificate) " +
                        "cannot be loaded: " + (e.InnerException ?? e).Message + " (dev PKI: e2m pki init --data-dir DIR)", e);
                }
                // Allow (not Require): a client without a certificate completes the handshake and gets 401 from the
                // endpoint filter, /health stays reachable; a certificate of another CA fails the handshake.
                h.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                h.CheckCertificateRevocation = false;
                h.ClientCertificateValidation = (cert, chain, errors) => trust.Validate(cert, DevPki.ClientAuthOid);
                h.SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
            }));
            services.TryAddSingleton(TimeProvider.System);
            services.TryAddSingleton(sp =>
            {
                EmseOptions o = sp.GetRequiredService<IOptions<EmseOptions>>().Value;
                return E2mDatabase.Create(null, o.Database, o.DataDir, "emse.db");
            });
            services.TryAddSingleton(sp =>
            {
                EmseOptions o = sp.GetRequiredService<IOptions<EmseOptions>>().Value;
                return new EmseStore(sp.GetRequiredService<E2mDatabase>(), o.SqliteSynchronous, sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<EmseStore>>())
                {
                    JournalApplyEntries = o.JournalApplyEntries,
                };
            });
            services.TryAddSingleton<IEmksKeySource>(sp =>
            {
                IOptions<EmseOptions> o = sp.GetRequiredService<IOptions<EmseOptions>>();
                return string.IsNullOrEmpty(o.Value.EmksBaseUrl) ? new NoEmksKeySource() : new EmksHttpKeySource(o);
            });
            services.AddEmseKeyPush(); // push variant; before EmseCoapServer: puts PushedKeySource in front of the key source
            services.TryAddSingleton<EmseCoapServer>();
            services.AddHostedService(sp => sp.GetRequiredService<EmseCoapServer>());
            services.AddE2mHealth();
            // SQLite FULL: after a failed fsync of the write-ahead log the EMSE acknowledges nothing until restarted.
            services.AddHealthChecks().AddCheck<WalFsyncHealthCheck>("wal-fsync");
            return services;
        }

        /// <summary>Maps the readings API and /health.</summary>
        public static WebApplication MapEmse(this WebApplication app)
        {
            app.MapEmseReadings();
            app.MapEmseKeyPush();
            app.MapE2mHealth("emse");
            return app;
        }

        /// <summary>The CoAP endpoint once the app has started (the real port when Emse:UdpPort = 0).</summary>
        public static IPEndPoint GetCoapEndPoint(WebApplication app) =>
            app.Services.GetRequiredService<EmseCoapServer>().LocalEndPoint
            ?? throw new InvalidOperationException("the EMSE has not started");

        /// <summary>The HTTP addresses Kestrel listens on once started.</summary>
        public static IReadOnlyList<string> GetHttpAddresses(WebApplication app) =>
            app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? new List<string>();

        private static WebApplication Finish(WebApplicationBuilder builder)
        {
            WebApplication app = builder.Build();
            app.MapEmse();
            return app;
        }

        /// <summary>Client certificate and CA default to the dev PKI in DataDir (`e2m pki init`).</summary>
        private static void ApplyDevPkiDefaults(EmseOptions o)
        {
            if (string.IsNullOrEmpty(o.CaCertificatePath))
            {
                o.CaCertificatePath = DevPki.CertificatePath(o.DataDir, DevPki.Ca);
            }

            if (string.IsNullOrEmpty(o.ServerCertificatePath))
            {
                o.ServerCertificatePath = DevPki.PfxPath(o.DataDir, DevPki.Localhost);
            }

            if (string.IsNullOrEmpty(o.EmksBaseUrl) || string.IsNullOrEmpty(o.EmseId))
            {
                return;
            }

            if (string.IsNullOrEmpty(o.ClientCertificatePath))
            {
                o.ClientCertificatePath = DevPki.PfxPath(o.DataDir, DevPki.EmseName(o.EmseId));
            }
        }

        private static void Copy(EmseOptions from, EmseOptions to)
        {
            foreach (System.Reflection.PropertyInfo p in typeof(EmseOptions).GetProperties())
            {
                if (p.CanRead && p.CanWrite)
                {
                    p.SetValue(to, p.GetValue(from));
                }
            }
        }
    }

    /// <summary>/health: Unhealthy once an fsync of the write-ahead log has failed (<see cref="EmseStore.DurabilityLost"/>).</summary>
    internal sealed class WalFsyncHealthCheck : Microsoft.Extensions.Diagnostics.HealthChecks.IHealthCheck
    {
        private readonly EmseStore _store;

        public WalFsyncHealthCheck(EmseStore store) => _store = store;

        public System.Threading.Tasks.Task<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult> CheckHealthAsync(
            Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext context, System.Threading.CancellationToken cancellationToken = default) =>
            System.Threading.Tasks.Task.FromResult(_store.DurabilityLost
                ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Unhealthy("an fsync of the write-ahead log failed: restart the EMSE")
                : Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy());
    }
}

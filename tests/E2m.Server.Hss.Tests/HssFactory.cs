using System;
using System.Collections.Generic;
using System.Net.Http;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Hss.Emks;
using E2m.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace E2m.Server.Hss.Tests
{
    /// <summary>
    /// The HSS under TestServer: a temp data directory (dev PKI + dev KEK generated on start), SQLite or PostgreSQL
    /// storage, a fake EMKS push client. TestServer has no TLS: a test-only startup filter puts the certificate named by
    /// header <see cref="ClientHeader"/> into Connection.ClientCertificate; the HSS then validates it exactly as behind
    /// Kestrel (chain to the dev CA + role). Real TLS is covered by <see cref="RealSocketTests"/>.
    /// </summary>
    public sealed class HssFactory : WebApplicationFactory<HssOptions> // any type of the HSS entry-point assembly (Program is ambiguous once EMKS/EMSE are referenced)
    {
        public const string ClientHeader = "X-Test-Client-Cert";

        private readonly Dictionary<string, X509Certificate2> _certs = new();

        private readonly PostgresTestDatabase? _pg;

        public HssFactory(PostgresTestDatabase? pg = null)
        {
            _pg = pg;
            Postgres = pg?.ConnectionString;
        }

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (disposing)
            {
                _pg?.Dispose();
            }
        }

        public string DataDir { get; } = TestDb.NewTempDir();

        public string? Postgres { get; }

        public FakeEmks Emks { get; } = new();

        /// <summary>The EMKS at the HTTP level for the policy sync (<c>PUT /v1/hss/subscriptions/{id}</c>): the primary handler of
        /// the HSS's "emks" HttpClient (the key push stays on <see cref="Emks"/>).</summary>
        public FakeEmksHttp EmksHttp { get; } = new();

        /// <summary>Log lines of the HSS (all categories, Debug and up).</summary>
        public CapturingLoggerProvider Logs { get; } = new();

        /// <summary>The HSS's clock when <see cref="UseFakeClock"/> was called before the host was built; else the system clock.</summary>
        public FakeTimeProvider? Clock { get; private set; }

        /// <summary>Gives the HSS a fake clock (call before the first client).</summary>
        public FakeTimeProvider UseFakeClock()
        {
            Clock ??= new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 8, 0, 0, TimeSpan.Zero));
            return Clock;
        }

        /// <summary>Extra configuration (e.g. "Hss:Sqn:Delta"), applied when the host is built (set before the first client).</summary>
        public Dictionary<string, string> Settings { get; } = new();

        /// <summary>A certificate from another CA, with role serving-node: must be refused.</summary>
        public X509Certificate2 ForeignServingNode { get; } = DevPki.IssueFixed(DevPki.CreateCa("foreign CA"), DevPki.ServingNode);

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseSetting("Hss:DataDirectory", DataDir);
            builder.UseSetting("Hss:Emks:BaseUrl", "https://emks.invalid");
            if (Postgres != null)
            {
                builder.UseSetting("Hss:Storage:ConnectionString", Postgres);
            }

            foreach (KeyValuePair<string, string> kv in Settings)
            {
                builder.UseSetting(kv.Key, kv.Value);
            }

            builder.ConfigureTestServices(services =>
            {
                services.AddSingleton<IEmksPushClient>(Emks);
                services.AddHttpClient(EmksPushClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => EmksHttp);
                services.AddSingleton<ILoggerProvider>(Logs);
                if (Clock != null)
                {
                    services.AddSingleton<TimeProvider>(Clock);
                }

                services.AddSingleton<IStartupFilter>(new ClientCertFilter(this));
            });
        }

        /// <summary>An HttpClient whose requests present the dev PKI certificate <paramref name="name"/> ("serving-node", "admin", "emse-…", "foreign", or null = none).</summary>
        public HttpClient Client(string? name)
        {
            HttpClient c = CreateClient();
            if (name != null)
            {
                c.DefaultRequestHeaders.Add(ClientHeader, name);
            }

            return c;
        }

        /// <summary>A handler into the test server that presents certificate <paramref name="name"/> (for clients that take a handler).</summary>
        public HttpMessageHandler Handler(string name) => new CertHeaderHandler(name) { InnerHandler = Server.CreateHandler() };

        internal X509Certificate2? Certificate(string name)
        {
            lock (_certs)
            {
                if (!_certs.TryGetValue(name, out X509Certificate2? cert))
                {
                    cert = name == "foreign" ? ForeignServingNode : DevPki.LoadCertificate(DataDir, name);
                    _certs[name] = cert;
                }

                return cert;
            }
        }

        private sealed class CertHeaderHandler : DelegatingHandler
        {
            private readonly string _name;

            public CertHeaderHandler(string name) => _name = name;

            protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                request.Headers.Add(ClientHeader, _name);
                return base.SendAsync(request, cancellationToken);
            }
        }

        private sealed class ClientCertFilter : IStartupFilter
        {
            private readonly HssFactory _f;

            public ClientCertFilter(HssFactory f) => _f = f;

            public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
            {
                app.Use(async (ctx, nxt) =>
                {
                    if (ctx.Request.Headers.TryGetValue(ClientHeader, out var name) && name.Count == 1)
                    {
                        ctx.Connection.ClientCertificate = _f.Certificate(name[0]!);
                    }

                    await nxt(ctx);
                });
                next(app);
            };
        }
    }

    /// <summary>Fake EMKS push endpoint: records pushes; can fail, or hold the push until released.</summary>
    public sealed class FakeEmks : IEmksPushClient
    {
        private readonly List<E2mKeyPushRequest> _pushes = new();

        public bool Configured => true;

        public bool Fail { get; set; }

        /// <summary>Called inside the push (before it returns to the HSS).</summary>
        public Func<E2mKeyPushRequest, Task>? OnPush { get; set; }

        public IReadOnlyList<E2mKeyPushRequest> Pushes
        {
            get
            {
                lock (_pushes)
                {
                    return _pushes.ToArray();
                }
            }
        }

        public async Task PushAsync(E2mKeyPushRequest request, CancellationToken ct)
        {
            lock (_pushes)
            {
                _pushes.Add(request);
            }

            if (OnPush != null)
            {
                await OnPush(request);
            }

            if (Fail)
            {
                throw new EmksPushException("EMKS push rejected: HTTP 503 (fake)");
            }
        }
    }

    /// <summary>
    /// Fake EMKS at the HTTP level: records every request (method, path, body) and answers <see cref="Status"/> (0 = no answer:
    /// connection error). <see cref="Gate"/> holds requests until released. Never disposed by the HttpClientFactory.
    /// </summary>
    public sealed class FakeEmksHttp : HttpMessageHandler
    {
        private readonly Channel<Recorded> _arrived = Channel.CreateUnbounded<Recorded>();
        private readonly List<Recorded> _requests = new();

        public sealed record Recorded(string Method, string Path, string Body);

        /// <summary>HTTP status to answer; 0 = throw HttpRequestException (EMKS down).</summary>
        public int Status { get; set; } = 204;

        /// <summary>When set, each request waits for it after being recorded (and after <see cref="Arrived"/> saw it).</summary>
        public Func<Recorded, Task>? Gate { get; set; }

        public IReadOnlyList<Recorded> Requests
        {
            get
            {
                lock (_requests)
                {
                    return _requests.ToArray();
                }
            }
        }

        /// <summary>The next request that arrives (a safety bound, not a timing assumption: it fails the test after 30 s).</summary>
        public async Task<Recorded> NextAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            return await _arrived.Reader.ReadAsync(cts.Token);
        }

        /// <summary>True when no request arrived that <see cref="NextAsync"/> has not returned yet.</summary>
        public bool NoneWaiting => !_arrived.Reader.TryPeek(out _);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string body = request.Content == null ? string.Empty : await request.Content.ReadAsStringAsync(cancellationToken);
            var r = new Recorded(request.Method.Method, request.RequestUri!.AbsolutePath, body);
            int status = Status;
            lock (_requests)
            {
                _requests.Add(r);
            }

            _arrived.Writer.TryWrite(r);
            if (Gate != null)
            {
                await Gate(r);
                status = Status;
            }

            if (status == 0)
            {
                throw new HttpRequestException("connection refused (fake EMKS down)");
            }

            return new HttpResponseMessage((System.Net.HttpStatusCode)status) { RequestMessage = request };
        }

        protected override void Dispose(bool disposing)
        {
            // shared by every handler chain the factory builds: never disposed
        }
    }
}

using System;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// The EMKS through its real entry point (Program → EmksApp.Build(args)) under WebApplicationFactory/TestServer.
    /// TestServer has no TLS: a test-only startup filter puts the dev PKI certificate named in header X-Test-Client-Cert
    /// into Connection.ClientCertificate; the EMKS validates it exactly as behind Kestrel (chain + role).
    /// </summary>
    public sealed class EmksFactory : WebApplicationFactory<Program>
    {
        public const string ClientHeader = "X-Test-Client-Cert";

        public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "e2m-emks-waf-" + Guid.NewGuid().ToString("N"));

        public EmksFactory()
        {
            DevPki.Init(DataDirectory, EmksTestHost.EmseIds);
        }

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseSetting("Emks:DataDirectory", DataDirectory);
            builder.ConfigureTestServices(services => services.AddSingleton<IStartupFilter>(new ClientCertFilter(DataDirectory)));
        }

        public HttpClient Client(string? certificateName)
        {
            HttpClient c = CreateClient();
            if (certificateName != null) c.DefaultRequestHeaders.Add(ClientHeader, certificateName);
            return c;
        }

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            try
            {
                Directory.Delete(DataDirectory, true);
            }
            catch (IOException)
            {
            }
        }

        private sealed class ClientCertFilter : IStartupFilter
        {
            private readonly string _dir;

            public ClientCertFilter(string dir) => _dir = dir;

            public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
            {
                app.Use(async (ctx, n) =>
                {
                    if (ctx.Request.Headers.TryGetValue(ClientHeader, out var name))
                    {
                        ctx.Connection.ClientCertificate = DevPki.LoadCertificate(_dir, name.ToString());
                    }

                    await n(ctx);
                });
                next(app);
            };
        }
    }

    public sealed class WebApplicationFactoryTests : IClassFixture<EmksFactory>
    {
        private readonly EmksFactory _factory;

        public WebApplicationFactoryTests(EmksFactory factory) => _factory = factory;

        [Fact]
        public async Task Entry_point_uses_the_configured_data_directory_and_serves_health()
        {
            using HttpClient c = _factory.Client(null);
            using HttpResponseMessage r = await c.GetAsync(E2mHealth.Path);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.True(File.Exists(Path.Combine(_factory.DataDirectory, "emks.db")));
        }

        [Fact]
        public async Task Push_and_pull_through_TestServer()
        {
            (string intKey, string kid) = PushPullApiTests.Case0();
            long expiry = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 600;
            using (HttpClient hss = _factory.Client(DevPki.Hss))
            using (HttpResponseMessage r = await hss.PostAsJsonAsync(HssEmksContract.PushPath, EmksTestHost.Push(intKey, kid, expiry, "s", null, "emse.example.org")))
            {
                Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            }

            using (HttpClient emse = _factory.Client(DevPki.EmseName("emse.example.org")))
            {
                E2mKeyPullResponse? k = await emse.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(kid));
                Assert.Equal("add14c3c84c098f6d4852901b89ffeed596ff3542da81b7f5518e8499567af40", k!.E2mKey); // e2m-kdf.json case 0
            }

            using (HttpClient emse = _factory.Client(DevPki.EmseName("other.example")))
            {
                Assert.Equal(HttpStatusCode.NotFound, (await emse.GetAsync(EmksEmseContract.PullPath(kid))).StatusCode);
            }
        }
    }
}

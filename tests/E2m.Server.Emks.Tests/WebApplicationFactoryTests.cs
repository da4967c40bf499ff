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
using Microsoft.Extensions.DependencyInjection.Extensions;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// The EMKS through its real entry point (Program → EmksApp.Build(args)) under WebApplicationFactory/TestServer.
    /// TestServer has no TLS: a test-only startup filter puts the dev PKI certificate named in header X-Test-Client-Cert
    /// into Connection.ClientCertificate; the EMKS validates it exactly as behind Kestrel (chain + role).
    /// </summary>
    public class EmksFactory : WebApplicationFactory<Program>
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
            builder.UseSetting("Emks:HttpsPort", "0");
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

    /// <summary>The EMKS entry point with a fake clock and fast push retries (configuration as an operator would set it).</summary>
    public sealed class PushEmksFactory : EmksFactory
    {
        public Microsoft.Extensions.Time.Testing.FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 28, 8, 0, 0, TimeSpan.Zero));

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Emks:Push:InitialBackoff", "00:00:02");
            builder.UseSetting("Emks:Push:PollInterval", "00:10:00");
            builder.ConfigureTestServices(services =>
            {
                services.RemoveAll<TimeProvider>();
                services.AddSingleton<TimeProvider>(Clock);
            });
        }
    }

    /// <summary>
    /// Push variant through the real entry point (WebApplicationFactory/TestServer) and a fake EMSE callback endpoint on a
    /// real mTLS socket: registration per device, 403 for an EMSE the subscription does not allow, delivery after two
    /// failures with backoff on the injected clock, nothing for the not-allowed EMSE.
    /// </summary>
    public sealed class WebApplicationFactoryPushTests : IClassFixture<PushEmksFactory>
    {
        private readonly PushEmksFactory _factory;

        public WebApplicationFactoryPushTests(PushEmksFactory factory) => _factory = factory;

        [Fact]
        public async Task Fake_emse_fails_twice_then_gets_the_key_not_allowed_emse_gets_nothing()
        {
            using System.Text.Json.JsonDocument doc = E2m.TestSupport.Vectors.Load("e2m-kdf.json");
            System.Text.Json.JsonElement c0 = CallbackTests.Case(doc, 0), c2 = CallbackTests.Case(doc, 2);
            long expiry = _factory.Clock.GetUtcNow().ToUnixTimeSeconds() + 3600;
            using HttpClient hss = _factory.Client(DevPki.Hss);
            using (HttpResponseMessage r = await hss.PostAsJsonAsync(HssEmksContract.PushPath,
                EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, c0.GetProperty("kid").GetString()!, expiry, "sub-waf", "meter-waf", "emse.example.org")))
            {
                Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            }

            await using FakeEmseEndpoint allowed = await FakeEmseEndpoint.StartAsync(_factory.DataDirectory, _factory.Clock);
            await using FakeEmseEndpoint other = await FakeEmseEndpoint.StartAsync(_factory.DataDirectory, _factory.Clock);
            using (HttpClient emse = _factory.Client(DevPki.EmseName("other.example")))
            using (HttpResponseMessage r = await emse.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath,
                new EmseCallbackRegistration { CallbackUrl = other.Url, DeviceIds = new System.Collections.Generic.List<string> { "meter-waf" } }))
            {
                Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            }

            using (HttpClient emse = _factory.Client(DevPki.EmseName("emse.example.org")))
            using (HttpResponseMessage r = await emse.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath,
                new EmseCallbackRegistration { CallbackUrl = allowed.Url, DeviceIds = new System.Collections.Generic.List<string> { "meter-waf" } }))
            {
                Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            }

            allowed.FailNext(503, 503);
            using (HttpResponseMessage r = await hss.PostAsJsonAsync(HssEmksContract.PushPath,
                EmksTestHost.Push(c2.GetProperty("e2m_int_key").GetString()!, c2.GetProperty("kid").GetString()!, expiry, "sub-waf", "meter-waf", "emse.example.org")))
            {
                Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            }

            var dispatcher = _factory.Services.GetRequiredService<E2m.Server.Emks.Callbacks.PushDispatcher>();
            await CallbackTests.AdvanceUntilAsync(_factory.Clock, () => dispatcher.Delivered >= 1);
            var got = allowed.Received.ToArray();
            Assert.Equal(new[] { 503, 503, 204 }, System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Select(got, g => g.Status)));
            Assert.Equal(c2.GetProperty("e2m_key").GetString(), got[2].Body.E2mKey);
            Assert.Equal("meter-waf", got[2].Body.DeviceId);
            Assert.True(got[1].At - got[0].At >= TimeSpan.FromSeconds(2));
            Assert.True(got[2].At - got[1].At >= TimeSpan.FromSeconds(4));
            Assert.Empty(other.Received);
        }
    }
}

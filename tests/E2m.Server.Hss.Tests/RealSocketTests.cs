using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace E2m.Server.Hss.Tests
{
    /// <summary>
    /// The HSS on a real loopback socket with TLS: dev PKI client certificates at the handshake, and the e2m push to a fake
    /// EMKS over HTTPS with mutual TLS (the fake EMKS requires a client certificate of the dev CA and records its role).
    /// </summary>
    public sealed class RealSocketTests : IAsyncLifetime
    {
        private const string Imsi = "001010000000001";
        private readonly string _dir = TestDb.NewTempDir();
        private readonly List<(string? Role, E2mKeyPushRequest Body)> _pushes = new();
        private readonly List<(string? Role, string SubscriptionId, E2mSubscriptionPolicy Body)> _policies = new();
        private WebApplication? _emks;
        private WebApplication? _hss;
        private E2mTrustAnchor _trust = null!;
        private int _emksStatus = 204;

        public string HssUrl { get; private set; } = string.Empty;

        public async Task InitializeAsync()
        {
            DevPki.Init(_dir, new[] { "emse.example.org" });
            _trust = new E2mTrustAnchor(DevPki.LoadCaCertificate(_dir));
            _emks = await StartFakeEmks(DevPki.LoadCertificate(_dir, DevPki.Emks));
            _hss = await StartHss(new Uri(Url(_emks)));
            HssUrl = Url(_hss);
            HttpResponseMessage r = await Client(DevPki.Admin).PostAsJsonAsync(HssUrl + "/v1/admin/subscribers",
                new { imsi = Imsi, k = Hex.Encode(Set1.K), opc = Hex.Encode(Set1.Opc), e2m = true, emseIds = new[] { "emse.example.org" } });
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        }

        public async Task DisposeAsync()
        {
            if (_hss != null)
            {
                await _hss.DisposeAsync();
            }

            if (_emks != null)
            {
                await _emks.DisposeAsync();
            }
        }

        [Fact]
        public async Task ServingNodeGetsVectorsAfterTheMutualTlsPushToTheEmks()
        {
            HttpResponseMessage r = await Client(DevPki.ServingNode).PostAsJsonAsync(HssUrl + "/v1/air", new { imsi = Imsi, numVectors = 2, rat = "eutran", plmn = "00101" });
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            JsonElement vs = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("vectors");
            Assert.Equal(2, vs.GetArrayLength());
            lock (_pushes)
            {
                (string? role, E2mKeyPushRequest body) = Assert.Single(_pushes);
                Assert.Equal(CertificateIdentity.RoleHss, role); // the HSS presented its client certificate
                Assert.Equal(2, body.Keys.Count);
                Assert.Equal(vs[0].GetProperty("rand").GetString(), body.Keys[0].Rand);
            }
        }

        /// <summary>The policy sync goes over the key push's mutual TLS: the EMKS sees the HSS certificate, the route and the body.</summary>
        [Fact]
        public async Task PolicyChangesArePutToTheEmksOverMutualTls()
        {
            HttpClient admin = Client(DevPki.Admin);
            HttpResponseMessage r = await admin.PatchAsJsonAsync(HssUrl + "/v1/admin/subscribers/" + Imsi, new { emseIds = Array.Empty<string>(), maxMessages = 9 });
            JsonElement p = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("done", p.GetProperty("emksPolicySync").GetString());
            string sid = p.GetProperty("subscriptionId").GetString()!;
            r = await admin.DeleteAsync(HssUrl + "/v1/admin/subscribers/" + Imsi);
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            Assert.Equal("done", Assert.Single(r.Headers.GetValues("E2m-Emks-Policy-Sync")));
            lock (_policies)
            {
                Assert.Equal(2, _policies.Count);
                Assert.All(_policies, x => Assert.Equal((CertificateIdentity.RoleHss, sid), (x.Role, x.SubscriptionId)));
                Assert.Equal((1L, true, 9L), (_policies[0].Body.PolicyVersion, _policies[0].Body.E2m, _policies[0].Body.MaxMessages!.Value));
                Assert.Empty(_policies[0].Body.AllowedEmseIds);
                Assert.Equal((2L, false), (_policies[1].Body.PolicyVersion, _policies[1].Body.E2m));
            }
        }

        [Fact]
        public async Task AirFailsWhenTheEmksRefusesThePush()
        {
            _emksStatus = 503;
            HttpResponseMessage r = await Client(DevPki.ServingNode).PostAsJsonAsync(HssUrl + "/v1/air", new { imsi = Imsi, rat = "utran" });
            Assert.Equal(HttpStatusCode.BadGateway, r.StatusCode);
            Assert.Contains("503", await r.Content.ReadAsStringAsync());
        }

        [Fact]
        public async Task AirFailsWhenTheEmksCertificateIsNotFromTheDevCa()
        {
            // An "EMKS" with a certificate of another CA: the HSS refuses the TLS session, hence the push, hence the AIR.
            X509Certificate2 rogue = DevPki.IssueFixed(DevPki.CreateCa("rogue"), DevPki.Emks);
            await using WebApplication rogueEmks = await StartFakeEmks(rogue);
            await using WebApplication hss = await StartHss(new Uri(Url(rogueEmks)));
            HttpResponseMessage r = await Client(DevPki.ServingNode).PostAsJsonAsync(Url(hss) + "/v1/air", new { imsi = Imsi, rat = "utran" });
            Assert.Equal(HttpStatusCode.BadGateway, r.StatusCode);
            lock (_pushes)
            {
                Assert.Empty(_pushes);
            }
        }

        [Fact]
        public async Task ClientCertificateOfAnotherCaIsRejectedAtTheHandshake()
        {
            X509Certificate2 foreign = DevPki.IssueFixed(DevPki.CreateCa("foreign"), DevPki.ServingNode);
            using var http = new HttpClient(Mtls.CreateClientHandler(foreign, _trust));
            await Assert.ThrowsAsync<HttpRequestException>(() => http.PostAsJsonAsync(HssUrl + "/v1/air", new { imsi = Imsi, rat = "utran" }));
        }

        [Fact]
        public async Task NoClientCertificateIs401AndWrongRoleIs403()
        {
            using var none = new HttpClient(Mtls.CreateClientHandler(null, _trust));
            Assert.Equal(HttpStatusCode.Unauthorized, (await none.PostAsJsonAsync(HssUrl + "/v1/air", new { imsi = Imsi, rat = "utran" })).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await none.GetAsync(HssUrl + "/health")).StatusCode);
            HttpResponseMessage r = await Client(DevPki.EmseName("emse.example.org")).PostAsJsonAsync(HssUrl + "/v1/air", new { imsi = Imsi, rat = "utran" });
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        }

        /// <summary>
        /// `e2m pki revoke` of the serving node's certificate: its open keep-alive connection gets 403 at the next request
        /// (the per-connection judgement is redone under the new list), a new connection fails the TLS handshake, and the
        /// certificate `pki init` issues afterwards works.
        /// </summary>
        [Fact]
        public async Task RevokedServingNodeIsRefusedOnItsOpenConnectionAndAtTheHandshake()
        {
            X509Certificate2 revoked = DevPki.LoadCertificate(_dir, DevPki.ServingNode);
            using var open = new HttpClient(Mtls.CreateClientHandler(revoked, _trust));
            var air = new { imsi = Imsi, rat = "utran" };
            Assert.Equal(HttpStatusCode.OK, (await open.PostAsJsonAsync(HssUrl + "/v1/air", air)).StatusCode);

            DevPki.Revoke(_dir, DevPki.ServingNode);
            E2mTrustAnchor hssTrust = _hss!.Services.GetRequiredService<E2mTrustAnchor>();
            Assert.True(hssTrust.RefreshRevocations(force: true)); // what the HSS does by itself within a second
            Assert.Equal(HttpStatusCode.Forbidden, (await open.PostAsJsonAsync(HssUrl + "/v1/air", air)).StatusCode);

            using var fresh = new HttpClient(Mtls.CreateClientHandler(revoked, _trust));
            await Assert.ThrowsAsync<HttpRequestException>(() => fresh.PostAsJsonAsync(HssUrl + "/v1/air", air));

            DevPki.Init(_dir, Array.Empty<string>());
            Assert.Equal(HttpStatusCode.OK, (await Client(DevPki.ServingNode).PostAsJsonAsync(HssUrl + "/v1/air", air)).StatusCode);
        }

        private HttpClient Client(string name) => new(Mtls.CreateClientHandler(DevPki.LoadCertificate(_dir, name), _trust));

        private static string Url(WebApplication app) => HssApp.GetListenUrl(app)!.Replace("[::]", "127.0.0.1", StringComparison.Ordinal);

        private async Task<WebApplication> StartHss(Uri emks)
        {
            WebApplication hss = HssApp.Build(new[]
            {
                "--Hss:DataDirectory=" + _dir, "--Hss:Listen:Port=0", "--Hss:Emks:BaseUrl=" + emks,
                "--Hss:Storage:ConnectionString=" + System.IO.Path.Combine(_dir, "hss.db"),
            }, b => b.Logging.SetMinimumLevel(LogLevel.Warning));
            await hss.StartAsync();
            return hss;
        }

        private async Task<WebApplication> StartFakeEmks(X509Certificate2 serverCert)
        {
            WebApplicationBuilder b = WebApplication.CreateBuilder();
            b.Logging.ClearProviders();
            b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0,
                l => l.UseE2mHttps(serverCert, _trust, ClientCertificateMode.RequireCertificate)));
            WebApplication app = b.Build();
            app.MapPost(HssEmksContract.PushPath, async (HttpContext ctx) =>
            {
                E2mKeyPushRequest? body = await ctx.Request.ReadFromJsonAsync<E2mKeyPushRequest>();
                if (_emksStatus != 204)
                {
                    return Results.StatusCode(_emksStatus);
                }

                lock (_pushes)
                {
                    _pushes.Add((CertificateIdentity.GetRole(ctx.Connection.ClientCertificate), body!));
                }

                return Results.NoContent();
            });
            app.MapPut(HssEmksContract.SubscriptionPolicyRoute, async (string subscriptionId, HttpContext ctx) =>
            {
                E2mSubscriptionPolicy? body = await ctx.Request.ReadFromJsonAsync<E2mSubscriptionPolicy>();
                lock (_policies)
                {
                    _policies.Add((CertificateIdentity.GetRole(ctx.Connection.ClientCertificate), subscriptionId, body!));
                }

                return Results.NoContent();
            });
            await app.StartAsync();
            return app;
        }
    }
}

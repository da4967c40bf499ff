using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// Push variant (issue 6 point 2): an EMSE registers a callback; the EMKS POSTs new keys of subscriptions allowing it,
    /// over mTLS (the receiving test server requires the EMKS client certificate, role emks).
    /// </summary>
    public sealed class CallbackTests : IAsyncLifetime
    {
        private readonly EmksTestHost _host = new();
        private WebApplication _emse = null!;
        private readonly ConcurrentQueue<(string? ClientRole, E2mKeyPullResponse Body)> _received = new();
        private string _callbackUrl = string.Empty;

        public async Task InitializeAsync()
        {
            await _host.InitializeAsync();
            var builder = WebApplication.CreateSlimBuilder();
            var trust = new E2mTrustAnchor(DevPki.LoadCaCertificate(_host.DataDirectory));
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0,
                l => l.UseE2mHttps(_host.Certificate(DevPki.Localhost), trust, ClientCertificateMode.RequireCertificate)));
            _emse = builder.Build();
            _emse.MapPost("/keys", async (HttpContext ctx) =>
            {
                var body = await ctx.Request.ReadFromJsonAsync<E2mKeyPullResponse>();
                _received.Enqueue((CertificateIdentity.GetRole(ctx.Connection.ClientCertificate), body!));
                return Results.NoContent();
            });
            await _emse.StartAsync();
            string address = _emse.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            _callbackUrl = address.TrimEnd('/') + "/keys";
        }

        public async Task DisposeAsync()
        {
            await _emse.DisposeAsync();
            await _host.DisposeAsync();
        }

        [Fact]
        public async Task Registered_emse_receives_its_own_key_over_mtls()
        {
            using (HttpClient emse = _host.EmseClient("emse.example.org"))
            using (HttpResponseMessage r = await emse.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath, new EmseCallbackRegistration { CallbackUrl = _callbackUrl }))
            {
                Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            }

            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = doc.RootElement.GetProperty("cases")[0];
            string kid = c0.GetProperty("kid").GetString()!;
            // allowed for two EMSEs, only one registered
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, kid, _host.Now + 600, "sub-1", "meter-1",
                "emse.example.org", "meters.utility.example"));

            for (int i = 0; i < 1000 && _received.IsEmpty; i++) await Task.Delay(10);
            Assert.True(_received.TryDequeue(out var got), "no callback within 10 s");
            Assert.Equal(CertificateIdentity.RoleEmks, got.ClientRole);
            Assert.Equal(kid, got.Body.Kid);
            Assert.Equal(c0.GetProperty("e2m_key").GetString(), got.Body.E2mKey);
            Assert.Equal("meter-1", got.Body.DeviceId);
            await Task.Delay(200);
            Assert.True(_received.IsEmpty); // nothing for the unregistered EMSE
            for (int i = 0; i < 200 && !(await _host.Store.FindKeyAsync(Convert.FromHexString(kid)))!.Used; i++) await Task.Delay(10);
            Assert.True((await _host.Store.FindKeyAsync(Convert.FromHexString(kid)))!.Used); // delivered = used (no grace expiry)
        }

        [Fact]
        public async Task Registration_rules()
        {
            using HttpClient emse = _host.EmseClient("emse.example.org");
            using (HttpResponseMessage r = await emse.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath, new EmseCallbackRegistration { CallbackUrl = "http://insecure.example/keys" }))
            {
                Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            }

            using (HttpClient hss = _host.HssClient())
            using (HttpResponseMessage r = await hss.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath, new EmseCallbackRegistration { CallbackUrl = _callbackUrl }))
            {
                Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            }

            Assert.Equal(HttpStatusCode.NotFound, (await emse.DeleteAsync(EmksEmseContract.SubscriptionsPath)).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await emse.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath, new EmseCallbackRegistration { CallbackUrl = _callbackUrl })).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await emse.DeleteAsync(EmksEmseContract.SubscriptionsPath)).StatusCode);
        }
    }
}

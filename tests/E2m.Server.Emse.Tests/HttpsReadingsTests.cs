using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using E2m.Server.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>The readings API on a real Kestrel HTTPS socket with the dev PKI (handshake + roles).</summary>
    public sealed class HttpsReadingsTests : IAsyncLifetime
    {
        private readonly TempDir _dir = new();
        private WebApplication? _app;
        private string _url = "";
        private E2mTrustAnchor? _trust;

        public async Task InitializeAsync()
        {
            TestPki.CopyTo(_dir.Path);
            _app = EmseApp.Build(new EmseOptions
            {
                EmseId = "emse.test.example", DataDir = _dir.Path, UdpPort = 0, UdpBindAddress = "127.0.0.1", HttpUrls = "https://127.0.0.1:0",
            }, s => s.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning)));
            await _app.StartAsync();
            _url = EmseApp.GetHttpAddresses(_app).First().TrimEnd('/');
            _trust = new E2mTrustAnchor(DevPki.LoadCaCertificate(_dir.Path));
        }

        public async Task DisposeAsync()
        {
            if (_app != null)
            {
                await _app.StopAsync();
                await _app.DisposeAsync();
            }

            _dir.Dispose();
        }

        private HttpClient Client(X509Certificate2? cert) => new(Mtls.CreateClientHandler(cert, _trust!));

        [Theory]
        [InlineData("reader", HttpStatusCode.OK)]
        [InlineData("admin", HttpStatusCode.OK)]
        [InlineData(null, HttpStatusCode.Unauthorized)]
        [InlineData("hss", HttpStatusCode.Forbidden)]
        [InlineData("serving-node", HttpStatusCode.Forbidden)]
        public async Task Roles_OverRealTls(string? name, HttpStatusCode status)
        {
            using HttpClient c = Client(name == null ? null : DevPki.LoadCertificate(_dir.Path, name));
            Assert.Equal(status, (await c.GetAsync(_url + "/v1/devices")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await c.GetAsync(_url + "/health")).StatusCode);
        }

        /// <summary>`e2m pki revoke --reader`: 403 on the reader's open connection, handshake failure on a new one.</summary>
        [Fact]
        public async Task RevokedReader_IsRefusedOnItsOpenConnectionAndAtTheHandshake()
        {
            X509Certificate2 reader = DevPki.LoadCertificate(_dir.Path, DevPki.Reader);
            using HttpClient open = Client(reader);
            Assert.Equal(HttpStatusCode.OK, (await open.GetAsync(_url + "/v1/devices")).StatusCode);

            DevPki.Revoke(_dir.Path, DevPki.Reader);
            Assert.True(_app!.Services.GetRequiredService<E2mTrustAnchor>().RefreshRevocations(force: true)); // within a second by itself
            Assert.Equal(HttpStatusCode.Forbidden, (await open.GetAsync(_url + "/v1/devices")).StatusCode);
            using HttpClient fresh = Client(reader);
            await Assert.ThrowsAsync<HttpRequestException>(() => fresh.GetAsync(_url + "/v1/devices"));
            using HttpClient admin = Client(DevPki.LoadCertificate(_dir.Path, DevPki.Admin));
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(_url + "/v1/devices")).StatusCode);
        }

        [Fact]
        public async Task CertificateOfAnotherCa_FailsTheHandshake()
        {
            using X509Certificate2 ca = DevPki.CreateCa("another CA");
            using X509Certificate2 foreign = DevPki.IssueFixed(ca, DevPki.Reader);
            using HttpClient c = Client(foreign);
            await Assert.ThrowsAsync<HttpRequestException>(() => c.GetAsync(_url + "/v1/devices"));
        }
    }
}

using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Emse.Storage;
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

        /// <summary>
        /// External ids are any 1..256 characters (HSS), so a device id may hold a '/' or a '%': the path segment is the id
        /// escaped once (RFC 3986 §2.1) — "%2F" a '/' of the id, "%252F" a literal "%2F" — read from Kestrel's raw target.
        /// </summary>
        [Fact]
        public async Task DeviceIdsWithSlashOrPercent_AreFound()
        {
            EmseStore store = _app!.Services.GetRequiredService<EmseStore>();
            using (EmseStore.WriteSession c = store.OpenSession())
            {
                int piv = 10;
                foreach (string id in new[] { "acme/meter-1", "odd%2Fid", "acme" })
                {
                    string kid = "001122334455" + piv.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    store.CommitBatch(c, new System.Collections.Generic.List<ExchangeWrite>
                    {
                        new()
                        {
                            Kid = kid, Piv = piv, RequestHash = new byte[16], Response = new byte[4], DeviceId = id,
                            Readings = new System.Collections.Generic.List<StoredReading>
                            {
                                new() { DeviceId = id, Kid = kid, Piv = piv, Name = "n" + piv, ValueKind = 1, Integer = piv, Number = piv, TimeMs = 1_764_316_800_000, TimeSource = "device", ReceivedMs = 1_764_317_000_000 },
                            },
                        },
                    }, new System.Collections.Generic.List<ReplayState>(), 1_764_317_000_000);
                    piv++;
                }
            }

            using HttpClient reader = Client(DevPki.LoadCertificate(_dir.Path, DevPki.Reader));
            foreach ((string segment, string id, string name) in new[]
            {
                ("acme%2Fmeter-1", "acme/meter-1", "n10"), ("acme%2fmeter-1", "acme/meter-1", "n10"), ("odd%252Fid", "odd%2Fid", "n11"), ("acme", "acme", "n12"),
            })
            {
                HttpResponseMessage r = await reader.GetAsync(_url + "/v1/devices/" + segment + "/readings");
                Assert.True(r.StatusCode == HttpStatusCode.OK, segment + ": " + r.StatusCode);
                System.Text.Json.JsonElement body = System.Text.Json.JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
                Assert.Equal(id, body.GetProperty("deviceId").GetString());
                Assert.Equal(name, Assert.Single(body.GetProperty("readings").EnumerateArray()).GetProperty("name").GetString());
            }

            Assert.Equal(HttpStatusCode.NotFound, (await reader.GetAsync(_url + "/v1/devices/acme/meter-1/readings")).StatusCode); // unescaped '/': another path
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

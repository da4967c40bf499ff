using System;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>Tests reading the process-wide validation counter of Common's Mtls run alone.</summary>
    [CollectionDefinition(Name, DisableParallelization = true)]
    public sealed class SerialCollection
    {
        public const string Name = "serial (process-wide counters)";
    }

    /// <summary>
    /// Issue 6 point 5, EMKS side: wrong client certificates (expired or not yet valid from the right CA, a server-only
    /// certificate, an EMSE certificate naming two EMSEs, a foreign CA in PushPullApiTests), oversized path input, and the
    /// per-connection client certificate validation of Common's <see cref="Mtls.RequireClientRole{TBuilder}"/>.
    /// </summary>
    [Collection(SerialCollection.Name)]
    public sealed class NegativeTests : IAsyncLifetime
    {
        private readonly EmksTestHost _host = new(o => o.Bootstrap.Enabled = false);

        public Task InitializeAsync() => _host.InitializeAsync();

        public Task DisposeAsync() => _host.DisposeAsync();

        // A client certificate from the EMKS's own dev CA with chosen validity, role, EKU and SANs.
        private X509Certificate2 Issue(DateTimeOffset notBefore, DateTimeOffset notAfter, string role, bool clientAuth, params string[] dns)
        {
            using X509Certificate2 ca = _host.Certificate(DevPki.Ca);
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var req = new CertificateRequest($"CN={dns[0]}, OU={role}, O=e2m dev", key, HashAlgorithmName.SHA256);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                new OidCollection { new Oid(clientAuth ? DevPki.ClientAuthOid : DevPki.ServerAuthOid) }, false));
            var san = new SubjectAlternativeNameBuilder();
            foreach (string d in dns) san.AddDnsName(d);
            req.CertificateExtensions.Add(san.Build());
            req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
            using X509Certificate2 pub = req.Create(ca, notBefore, notAfter, RandomNumberGenerator.GetBytes(8));
            using X509Certificate2 withKey = pub.CopyWithPrivateKey(key);
            return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        }

        private HttpClient ClientWith(X509Certificate2 cert) =>
            new(Mtls.CreateClientHandler(cert, _host.Trust)) { BaseAddress = _host.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

        private async Task PushCase0Async()
        {
            (string intKey, string kid) = PushPullApiTests.Case0();
            await _host.PushAsync(EmksTestHost.Push(intKey, kid, _host.Now + 3600, "sub-1", null, "emse.example.org"));
        }

        [Fact]
        public async Task Expired_or_not_yet_valid_emse_certificate_from_the_right_ca_is_refused()
        {
            await PushCase0Async();
            (_, string kid) = PushPullApiTests.Case0();
            DateTimeOffset now = DateTimeOffset.UtcNow; // X509 validity is checked against the real clock by the TLS stack
            DateTimeOffset caFrom;
            using (X509Certificate2 ca = _host.Certificate(DevPki.Ca)) caFrom = new DateTimeOffset(ca.NotBefore.ToUniversalTime());
            foreach (var (from, to) in new[] { (caFrom, now.AddSeconds(-5)), (now.AddDays(1), now.AddDays(10)) })
            {
                using X509Certificate2 cert = Issue(from, to, CertificateIdentity.RoleEmse, true, "emse.example.org");
                using HttpClient c = ClientWith(cert);
                await Assert.ThrowsAnyAsync<HttpRequestException>(() => c.GetAsync(EmksEmseContract.PullPath(kid)));
            }
        }

        /// <summary>`e2m pki revoke` of an EMSE's certificate: no key for it, on its open connection (403) or a new one (handshake).</summary>
        [Fact]
        public async Task Revoked_emse_certificate_gets_no_key_on_its_open_connection_nor_a_new_one()
        {
            await PushCase0Async();
            (_, string kid) = PushPullApiTests.Case0();
            X509Certificate2 revoked = _host.EmseCertificate("emse.example.org");
            using HttpClient open = ClientWith(revoked);
            Assert.Equal(HttpStatusCode.OK, (await open.GetAsync(EmksEmseContract.PullPath(kid))).StatusCode);

            DevPki.Revoke(_host.DataDirectory, DevPki.EmseName("emse.example.org"));
            Assert.True(_host.App.Services.GetRequiredService<E2mTrustAnchor>().RefreshRevocations(force: true)); // within a second by itself
            using HttpResponseMessage r = await open.GetAsync(EmksEmseContract.PullPath(kid));
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            Assert.DoesNotContain("e2m_key", await r.Content.ReadAsStringAsync());

            using HttpClient fresh = ClientWith(revoked);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => fresh.GetAsync(EmksEmseContract.PullPath(kid)));
        }

        [Fact]
        public async Task Certificate_without_client_auth_eku_is_refused()
        {
            await PushCase0Async();
            (_, string kid) = PushPullApiTests.Case0();
            using X509Certificate2 serverOnly = Issue(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), CertificateIdentity.RoleEmse, false, "emse.example.org");
            using HttpClient c = ClientWith(serverOnly);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => c.GetAsync(EmksEmseContract.PullPath(kid)));
        }

        [Fact]
        public async Task Emse_certificate_naming_two_emses_gets_no_key()
        {
            await PushCase0Async();
            (_, string kid) = PushPullApiTests.Case0();
            using X509Certificate2 two = Issue(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), CertificateIdentity.RoleEmse, true, "emse.example.org", "other.example");
            using HttpClient c = ClientWith(two);
            using HttpResponseMessage r = await c.GetAsync(EmksEmseContract.PullPath(kid));
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            Assert.DoesNotContain("e2m_key", await r.Content.ReadAsStringAsync());
        }

        [Theory]
        [InlineData(100)]
        [InlineData(4000)]
        public async Task Oversized_kid_is_rejected_without_a_lookup(int hexDigits)
        {
            using HttpClient emse = _host.EmseClient("emse.example.org");
            using HttpResponseMessage r = await emse.GetAsync(EmksEmseContract.PullPath(new string('a', hexDigits)));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        }

        [Fact]
        public async Task Oversized_request_line_is_refused_by_kestrel()
        {
            using HttpClient emse = _host.EmseClient("emse.example.org");
            using HttpResponseMessage r = await emse.GetAsync(EmksEmseContract.PullPath(new string('a', 20_000)));
            Assert.Equal(HttpStatusCode.RequestUriTooLong, r.StatusCode);
        }

        [Fact]
        public async Task Client_chain_is_validated_once_per_connection_not_per_request()
        {
            await PushCase0Async();
            (_, string kid) = PushPullApiTests.Case0();
            using var handler = Mtls.CreateClientHandler(_host.EmseCertificate("emse.example.org"), _host.Trust);
            handler.MaxConnectionsPerServer = 1;
            using (var c = new HttpClient(handler, disposeHandler: false) { BaseAddress = _host.BaseAddress })
            {
                long before = Mtls.ClientValidations;
                for (int i = 0; i < 20; i++)
                {
                    using HttpResponseMessage r = await c.GetAsync(EmksEmseContract.PullPath(kid));
                    Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                }

                Assert.Equal(1, Mtls.ClientValidations - before);
            }

            // a new connection validates again; the other role's certificate on it is still refused (403, not cached as emse)
            using (var hss = new HttpClient(Mtls.CreateClientHandler(_host.Certificate(DevPki.Hss), _host.Trust)) { BaseAddress = _host.BaseAddress })
            {
                long before = Mtls.ClientValidations;
                for (int i = 0; i < 3; i++)
                {
                    using HttpResponseMessage r = await hss.GetAsync(EmksEmseContract.PullPath(kid));
                    Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
                }

                Assert.Equal(1, Mtls.ClientValidations - before);
            }
        }
    }
}

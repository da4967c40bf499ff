using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// HSS push and EMSE pull over real HTTPS with mutual TLS (issue 6 point 2 and point 5 negative tests). Oracle for the
    /// keys: tests/vectors/e2m-kdf.json (computed independently with Python hmac).
    /// </summary>
    public sealed class PushPullApiTests : IAsyncLifetime
    {
        private readonly EmksTestHost _host = new(o => o.KeyCache.Ttl = TimeSpan.FromMinutes(10)); // long TTL: cache assertions must not depend on machine speed

        public Task InitializeAsync() => _host.InitializeAsync();

        public Task DisposeAsync() => _host.DisposeAsync();

        public static IEnumerable<object[]> KdfCases()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            int i = 0;
            foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
            {
                yield return new object[]
                {
                    $"e2m-kdf.json case {i++} ({c.GetProperty("emse_id").GetString()})",
                    c.GetProperty("e2m_int_key").GetString()!, c.GetProperty("kid").GetString()!,
                    c.GetProperty("emse_id").GetString()!, c.GetProperty("e2m_key").GetString()!,
                };
            }
        }

        [Theory]
        [MemberData(nameof(KdfCases))]
        public async Task Pull_by_allowed_emse_returns_the_vector_e2m_key(string label, string intKey, string kid, string emseId, string e2mKey)
        {
            _ = label;
            await _host.PushAsync(EmksTestHost.Push(intKey, kid, _host.Now + 3600, "sub-1", null, emseId));
            using HttpClient emse = _host.EmseClient(emseId);
            foreach (string asked in new[] { kid, kid.Substring(0, 14), kid.ToUpperInvariant() })
            {
                E2mKeyPullResponse? r = await emse.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(asked));
                Assert.NotNull(r);
                Assert.Equal(e2mKey, r!.E2mKey);
                Assert.Equal(kid, r.Kid);
                Assert.Equal(_host.Now + 3600, r.Expires);
            }
        }

        [Fact]
        public async Task Push_from_hss_accepted_from_emse_403_without_certificate_401()
        {
            (string intKey, string kid) = Case0();
            E2mKeyPushRequest push = EmksTestHost.Push(intKey, kid, _host.Now + 60, "sub-1", null, "emse.example.org");
            using (HttpClient hss = _host.HssClient())
            using (HttpResponseMessage r = await hss.PostAsJsonAsync(HssEmksContract.PushPath, push))
            {
                Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            }

            foreach (string? cert in new[] { DevPki.EmseName("emse.example.org"), DevPki.ServingNode, DevPki.Admin, DevPki.Emks })
            {
                using HttpClient other = _host.Client(cert);
                using HttpResponseMessage r = await other.PostAsJsonAsync(HssEmksContract.PushPath, push);
                Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            }

            using (HttpClient none = _host.Client(null))
            using (HttpResponseMessage r = await none.PostAsJsonAsync(HssEmksContract.PushPath, push))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            }
        }

        [Fact]
        public async Task Certificate_from_another_ca_is_refused_in_the_handshake()
        {
            using X509Ca foreign = new();
            using var handler = Mtls.CreateClientHandler(DevPki.Issue(foreign.Ca, "hss", CertificateIdentity.RoleHss, false, true, new[] { "hss" }), _host.Trust);
            using var http = new HttpClient(handler) { BaseAddress = _host.BaseAddress };
            (string intKey, string kid) = Case0();
            await Assert.ThrowsAnyAsync<HttpRequestException>(() =>
                http.PostAsJsonAsync(HssEmksContract.PushPath, EmksTestHost.Push(intKey, kid, _host.Now + 60, "s", null, "emse.example.org")));
        }

        [Fact]
        public async Task Push_contract_violations_are_400_and_store_nothing()
        {
            (string intKey, string kid) = Case0();
            var bad = new List<E2mKeyPushRequest>
            {
                EmksTestHost.Push(intKey, "0000000000000000", _host.Now + 60, "s", null, "emse.example.org"), // KID does not name the key
                EmksTestHost.Push(intKey.Substring(2), kid, _host.Now + 60, "s", null, "emse.example.org"),
                EmksTestHost.Push(intKey, kid, _host.Now - 1, "s", null, "emse.example.org"),                // already expired
                EmksTestHost.Push(intKey, kid, _host.Now + 60, "", null, "emse.example.org"),
                EmksTestHost.Push(intKey, kid, _host.Now + 60, "s", null, "not an fqdn!"),
                new E2mKeyPushRequest(),
            };
            using HttpClient hss = _host.HssClient();
            foreach (E2mKeyPushRequest push in bad)
            {
                using HttpResponseMessage r = await hss.PostAsJsonAsync(HssEmksContract.PushPath, push);
                Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
                string body = await r.Content.ReadAsStringAsync();
                Assert.DoesNotContain(intKey, body, StringComparison.OrdinalIgnoreCase);
            }

            using (var raw = new StringContent("{\"keys\": [", Encoding.UTF8, "application/json"))
            using (HttpResponseMessage r = await hss.PostAsync(HssEmksContract.PushPath, raw))
            {
                Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            }

            Assert.Null(await _host.Store.FindKeyAsync(Convert.FromHexString(kid)));
        }

        [Fact]
        public async Task Oversized_push_is_413()
        {
            using var big = new StringContent("{\"keys\": [], \"pad\": \"" + new string('x', 100_000) + "\"}", Encoding.UTF8, "application/json");
            using HttpResponseMessage r = await _host.PostOversizedAsync(DevPki.Hss, HssEmksContract.PushPath, big);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        }

        [Fact]
        public async Task Emse_not_allowed_gets_404_identical_to_unknown_kid()
        {
            (string intKey, string kid) = Case0();
            await _host.PushAsync(EmksTestHost.Push(intKey, kid, _host.Now + 600, "sub-1", null, "emse.example.org"));
            using HttpClient other = _host.EmseClient("other.example");
            using HttpResponseMessage notAllowed = await other.GetAsync(EmksEmseContract.PullPath(kid));
            using HttpResponseMessage unknown = await other.GetAsync(EmksEmseContract.PullPath("0102030405060708"));
            Assert.Equal(HttpStatusCode.NotFound, notAllowed.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Equal(await unknown.Content.ReadAsStringAsync(), await notAllowed.Content.ReadAsStringAsync());
            Assert.Equal(unknown.Content.Headers.ContentType?.ToString(), notAllowed.Content.Headers.ContentType?.ToString());
        }

        /// <summary>
        /// A certificate whose DNS SAN spells the EMSE_Id in mixed case names the same host (RFC 4343): it gets the key
        /// derived over the lowercase EMSE_Id, the one devices use (their config requires a lowercase FQDN), not a key
        /// over its own spelling that no device could match. The subscription allows it case-insensitively.
        /// </summary>
        [Fact]
        public async Task A_mixed_case_emse_certificate_gets_the_key_of_the_lowercase_emse_id()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = doc.RootElement.GetProperty("cases")[0];
            Assert.Equal("emse.example.org", c0.GetProperty("emse_id").GetString());
            string kid = c0.GetProperty("kid").GetString()!;
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, kid, _host.Now + 600, "sub-1", null, "emse.example.org"));
            X509Certificate2 ca = DevPki.LoadCertificate(_host.DataDirectory, DevPki.Ca);
            X509Certificate2 mixed = DevPki.Issue(ca, "EMSE.Example.ORG", CertificateIdentity.RoleEmse, server: false, client: true, dnsNames: new[] { "EMSE.Example.ORG" }, ipSans: false);
            Assert.Equal("EMSE.Example.ORG", CertificateIdentity.GetEmseId(mixed)); // as written; only the KDF input is lowercase
            using var emse = new HttpClient(Mtls.CreateClientHandler(mixed, _host.Trust)) { BaseAddress = _host.BaseAddress };
            E2mKeyPullResponse? r = await emse.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(kid));
            Assert.Equal(c0.GetProperty("e2m_key").GetString(), r!.E2mKey);
        }

        [Fact]
        public async Task An_emse_only_ever_gets_the_key_derived_for_its_own_certificate()
        {
            // The KID allows both EMSEs; each receives its own e2m_key (e2m-kdf.json cases 0 and 1), never the other's,
            // whatever it asks: the EMSE_Id comes from the client certificate, not from the request.
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = doc.RootElement.GetProperty("cases")[0], c1 = doc.RootElement.GetProperty("cases")[1];
            string kid = c0.GetProperty("kid").GetString()!;
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, kid, _host.Now + 600, "sub-1", null,
                "emse.example.org", "meters.utility.example"));
            using HttpClient meters = _host.EmseClient("meters.utility.example");
            E2mKeyPullResponse? r = await meters.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(kid) + "?emse_id=emse.example.org");
            Assert.Equal(c1.GetProperty("e2m_key").GetString(), r!.E2mKey);
            Assert.NotEqual(c0.GetProperty("e2m_key").GetString(), r.E2mKey);
            using var req = new HttpRequestMessage(HttpMethod.Get, EmksEmseContract.PullPath(kid));
            req.Headers.Add("X-Emse-Id", "emse.example.org");
            using HttpResponseMessage resp = await meters.SendAsync(req);
            Assert.Equal(c1.GetProperty("e2m_key").GetString(), (await resp.Content.ReadFromJsonAsync<E2mKeyPullResponse>())!.E2mKey);
        }

        [Fact]
        public async Task Pull_requires_an_emse_certificate()
        {
            (string intKey, string kid) = Case0();
            await _host.PushAsync(EmksTestHost.Push(intKey, kid, _host.Now + 600, "sub-1", null, "emse.example.org"));
            foreach (string cert in new[] { DevPki.Hss, DevPki.ServingNode, DevPki.Emks })
            {
                using HttpClient c = _host.Client(cert);
                using HttpResponseMessage r = await c.GetAsync(EmksEmseContract.PullPath(kid));
                Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            }

            using HttpClient none = _host.Client(null);
            using HttpResponseMessage r2 = await none.GetAsync(EmksEmseContract.PullPath(kid));
            Assert.Equal(HttpStatusCode.Unauthorized, r2.StatusCode);
        }

        [Theory]
        [InlineData("73ffcbb15a4f80")]   // 7 octets: fine
        [InlineData("73ffcbb15a4f8029")] // 8 octets: fine
        public async Task Pull_kid_forms(string asked)
        {
            (string intKey, string kid) = Case0();
            await _host.PushAsync(EmksTestHost.Push(intKey, kid, _host.Now + 600, "sub-1", null, "emse.example.org"));
            using HttpClient emse = _host.EmseClient("emse.example.org");
            using HttpResponseMessage r = await emse.GetAsync(EmksEmseContract.PullPath(asked));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("no-store", r.Headers.CacheControl?.ToString());
        }

        [Theory]
        [InlineData("73ffcbb15a4f")]       // 6 octets
        [InlineData("73ffcbb15a4f802900")] // 9 octets
        [InlineData("73ffcbb15a4f80zz")]   // not hex
        public async Task Malformed_kid_is_400(string asked)
        {
            using HttpClient emse = _host.EmseClient("emse.example.org");
            using HttpResponseMessage r = await emse.GetAsync(EmksEmseContract.PullPath(asked));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        }

        [Fact]
        public async Task Device_id_is_the_external_id_or_a_per_emse_pseudonym_never_the_imsi()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = doc.RootElement.GetProperty("cases")[0], c2 = doc.RootElement.GetProperty("cases")[2];
            const string imsi = "001010123456789";
            const string subscriptionId = "9f0e1d2c3b4a59687766554433221100";
            string kid0 = c0.GetProperty("kid").GetString()!, kid2 = c2.GetProperty("kid").GetString()!;
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, kid0, _host.Now + 600, subscriptionId, null,
                "emse.example.org", "meters.utility.example"));
            await _host.PushAsync(EmksTestHost.Push(c2.GetProperty("e2m_int_key").GetString()!, kid2, _host.Now + 600, "other-sub", "meter-4711",
                "emse.example.org", "meters.utility.example"));

            using HttpClient a = _host.EmseClient("emse.example.org");
            using HttpClient b = _host.EmseClient("meters.utility.example");
            string idA = (await a.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(kid0)))!.DeviceId;
            string idB = (await b.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(kid0)))!.DeviceId;
            Assert.StartsWith("p-", idA);
            Assert.Equal(28, idA.Length); // "p-" + 26 base32 characters of 16 octets
            Assert.NotEqual(idA, idB);
            foreach (string id in new[] { idA, idB })
            {
                Assert.DoesNotContain(imsi, id);
                Assert.DoesNotContain(subscriptionId, id);
            }

            // independent recomputation of the pseudonym with System HMACSHA256 and the secret file
            byte[] secret = AtRestProtector.ReadKekFile(System.IO.Path.Combine(_host.DataDirectory, EmksMaterial.PseudonymFileName));
            byte[] e = Encoding.UTF8.GetBytes("emse.example.org");
            byte[] msg = new byte[2 + e.Length + subscriptionId.Length];
            msg[1] = (byte)e.Length;
            e.CopyTo(msg, 2);
            Encoding.UTF8.GetBytes(subscriptionId).CopyTo(msg, 2 + e.Length);
            byte[] mac = HMACSHA256.HashData(secret, msg);
            Assert.Equal("p-" + Base32(mac.AsSpan(0, 16).ToArray()), idA);

            // stable across pulls, and the external id wins when set
            Assert.Equal(idA, (await a.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(kid0)))!.DeviceId);
            Assert.Equal("meter-4711", (await a.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(kid2)))!.DeviceId);
            Assert.Equal("meter-4711", (await b.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(kid2)))!.DeviceId);
        }

        [Fact]
        public async Task Expired_key_is_404_and_purged()
        {
            (string intKey, string kid) = Case0();
            // purge interval 60 s on the fake clock (first tick at +60 s); the key expires at +30 s
            await _host.PushAsync(EmksTestHost.Push(intKey, kid, _host.Now + 30, "sub-1", null, "emse.example.org"));
            using HttpClient emse = _host.EmseClient("emse.example.org");
            Assert.Equal(HttpStatusCode.OK, (await emse.GetAsync(EmksEmseContract.PullPath(kid))).StatusCode);

            _host.Clock.Advance(TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.NotFound, (await emse.GetAsync(EmksEmseContract.PullPath(kid))).StatusCode);
            Assert.NotNull(await _host.Store.FindKeyAsync(Convert.FromHexString(kid))); // still in the table until the purge

            // the background purge runs on the fake clock's timer
            var purge = _host.App.Services.GetService(typeof(E2m.Server.Emks.Keys.KeyPurgeService)) as E2m.Server.Emks.Keys.KeyPurgeService;
            int runs = purge!.Runs;
            _host.Clock.Advance(TimeSpan.FromSeconds(30));
            for (int i = 0; i < 3000 && purge.Runs == runs; i++) await Task.Delay(10); // guard only (30 s): a loaded CI host
            Assert.True(purge.Runs > runs, "purge did not run after the fake clock advanced one interval");
            Assert.Null(await _host.Store.FindKeyAsync(Convert.FromHexString(kid)));
        }

        [Fact]
        public async Task Repeated_pulls_are_served_from_the_sealed_row_cache()
        {
            (string intKey, string kid) = Case0();
            await _host.PushAsync(EmksTestHost.Push(intKey, kid, _host.Now + 600, "sub-1", null, "emse.example.org"));
            var cache = (E2m.Server.Emks.Storage.KeyCache)_host.App.Services.GetService(typeof(E2m.Server.Emks.Storage.KeyCache))!;
            using HttpClient emse = _host.EmseClient("emse.example.org");
            Assert.Equal(HttpStatusCode.OK, (await emse.GetAsync(EmksEmseContract.PullPath(kid.Substring(0, 14)))).StatusCode);
            long hits = cache.Hits, misses = cache.Misses;
            for (int i = 0; i < 10; i++)
            {
                E2mKeyPullResponse? r = await emse.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(i % 2 == 0 ? kid : kid.Substring(0, 14)));
                Assert.Equal("add14c3c84c098f6d4852901b89ffeed596ff3542da81b7f5518e8499567af40", r!.E2mKey); // e2m-kdf.json case 0
            }

            Assert.True(cache.Hits - hits >= 10, $"cache hits {cache.Hits - hits} of 10 pulls");
            Assert.Equal(misses, cache.Misses);
        }

        [Fact]
        public async Task Health_is_reachable_without_client_certificate()
        {
            using HttpClient none = _host.Client(null);
            using HttpResponseMessage r = await none.GetAsync(E2mHealth.Path);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Contains("\"service\":\"emks\"", await r.Content.ReadAsStringAsync());
        }

        internal static (string IntKey, string Kid) Case0()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c = doc.RootElement.GetProperty("cases")[0];
            return (c.GetProperty("e2m_int_key").GetString()!, c.GetProperty("kid").GetString()!);
        }

        // RFC 4648 §6 base32, lowercase, no padding — written independently of the implementation under test.
        private static string Base32(byte[] data)
        {
            var bits = new StringBuilder();
            foreach (byte b in data) bits.Append(Convert.ToString(b, 2).PadLeft(8, '0'));
            while (bits.Length % 5 != 0) bits.Append('0');
            var sb = new StringBuilder();
            for (int i = 0; i < bits.Length; i += 5) sb.Append("abcdefghijklmnopqrstuvwxyz234567"[Convert.ToInt32(bits.ToString(i, 5), 2)]);
            return sb.ToString();
        }
    }

    /// <summary>A throwaway CA that the EMKS does not trust.</summary>
    internal sealed class X509Ca : IDisposable
    {
        public System.Security.Cryptography.X509Certificates.X509Certificate2 Ca { get; } = DevPki.CreateCa("foreign CA");

        public void Dispose() => Ca.Dispose();
    }
}

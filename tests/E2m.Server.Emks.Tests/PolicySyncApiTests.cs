using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// HSS → EMKS policy sync (<c>PUT /v1/hss/subscriptions/{id}</c>, issue 6 point 2: e2m_key "only if the subscription
    /// allows it", DESIGN.md §5) over real HTTPS with mutual TLS. The cache TTL is long, so every change seen by a pull
    /// here was made visible by the sync itself, not by the TTL. Oracle for the derived key: tests/vectors/e2m-kdf.json.
    /// </summary>
    public sealed class PolicySyncApiTests : IAsyncLifetime
    {
        private const string A = "emse.example.org";
        private const string B = "meters.utility.example";
        private const string Sub = "5e1f0c2d9a8b7c6d5e4f3a2b1c0d9e8f";

        private readonly EmksTestHost _host = new(o => o.KeyCache.Ttl = TimeSpan.FromMinutes(10));

        public Task InitializeAsync() => _host.InitializeAsync();

        public Task DisposeAsync() => _host.DisposeAsync();

        private static E2mSubscriptionPolicy Policy(long version, bool e2m, string? externalId, params string[] emses) => new()
        {
            PolicyVersion = version,
            E2m = e2m,
            ExternalId = externalId,
            AllowedEmseIds = new List<string>(emses),
        };

        private async Task<HttpStatusCode> PutAsync(string? certificate, E2mSubscriptionPolicy policy, string subscription = Sub)
        {
            using HttpClient c = _host.Client(certificate);
            using HttpResponseMessage r = await c.PutAsJsonAsync(HssEmksContract.SubscriptionPolicyPath(subscription), policy);
            return r.StatusCode;
        }

        private async Task<(HttpStatusCode Status, E2mKeyPullResponse? Body)> PullAsync(string emseId, string kid)
        {
            using HttpClient c = _host.EmseClient(emseId);
            using HttpResponseMessage r = await c.GetAsync(EmksEmseContract.PullPath(kid));
            return (r.StatusCode, r.IsSuccessStatusCode ? await r.Content.ReadFromJsonAsync<E2mKeyPullResponse>() : null);
        }

        private async Task<HttpStatusCode> PushAsync(string intKey, string kid, long version, params string[] emses)
        {
            E2mKeyPushRequest push = EmksTestHost.Push(intKey, kid, _host.Now + 30 * 86400, Sub, null, emses);
            push.Keys[0].Subscriber.PolicyVersion = version;
            using HttpClient hss = _host.HssClient();
            using HttpResponseMessage r = await hss.PostAsJsonAsync(HssEmksContract.PushPath, push);
            return r.StatusCode;
        }

        [Fact]
        public async Task Removing_an_emse_stops_its_pulls_at_once_and_revocation_stops_all_and_refuses_older_pushes()
        {
            (string intKey, string kid) = PushPullApiTests.Case0();
            Assert.Equal(HttpStatusCode.NoContent, await PushAsync(intKey, kid, 0, A, B));
            Assert.Equal(HttpStatusCode.OK, (await PullAsync(A, kid)).Status);
            Assert.Equal(HttpStatusCode.OK, (await PullAsync(B, kid)).Status); // both cached now (TTL 10 min)

            // version 1: B removed, an external id given
            Assert.Equal(HttpStatusCode.NoContent, await PutAsync(DevPki.Hss, Policy(1, true, "meter-0042", A)));
            Assert.Equal(HttpStatusCode.NotFound, (await PullAsync(B, kid)).Status);
            (HttpStatusCode status, E2mKeyPullResponse? a) = await PullAsync(A, kid);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("meter-0042", a!.DeviceId);

            // the same version again and an older one: 204, nothing changes
            Assert.Equal(HttpStatusCode.NoContent, await PutAsync(DevPki.Hss, Policy(1, true, null, A, B)));
            Assert.Equal(HttpStatusCode.NoContent, await PutAsync(DevPki.Hss, Policy(0, true, null, A, B)));
            Assert.Equal(HttpStatusCode.NotFound, (await PullAsync(B, kid)).Status);

            // an AIR that read the policy before version 1 cannot give B its key back
            Assert.Equal(HttpStatusCode.NoContent, await PushAsync(intKey, kid, 0, A, B));
            Assert.Equal(HttpStatusCode.NotFound, (await PullAsync(B, kid)).Status);
            Assert.Equal("meter-0042", (await PullAsync(A, kid)).Body!.DeviceId);

            // version 2: e2m off (or the subscriber deleted): no EMSE gets the key, pushes of version ≤ 2 are refused
            Assert.Equal(HttpStatusCode.NoContent, await PutAsync(DevPki.Hss, Policy(2, false, null)));
            Assert.Equal(HttpStatusCode.NotFound, (await PullAsync(A, kid)).Status);
            Assert.Equal(HttpStatusCode.Conflict, await PushAsync(intKey, kid, 1, A));
            Assert.Equal(HttpStatusCode.Conflict, await PushAsync(intKey, kid, 2, A));
            Assert.Equal(HttpStatusCode.NotFound, (await PullAsync(A, kid)).Status);

            // version 3: e2m on again at the HSS; its next AIR's keys are served
            Assert.Equal(HttpStatusCode.NoContent, await PushAsync(intKey, kid, 3, A));
            Assert.Equal(HttpStatusCode.OK, (await PullAsync(A, kid)).Status);

            string logs = string.Join("\n", _host.Logs.Lines);
            Assert.Contains("revoked at policy version 2", logs);
            Assert.DoesNotContain(intKey, logs, StringComparison.OrdinalIgnoreCase);
        }

        [Fact]
        public async Task A_newer_push_narrows_the_cached_keys_of_the_subscription_at_once()
        {
            using System.Text.Json.JsonDocument doc = E2m.TestSupport.Vectors.Load("e2m-kdf.json");
            System.Text.Json.JsonElement c2 = doc.RootElement.GetProperty("cases")[2];
            (string intKey, string kid) = PushPullApiTests.Case0();
            Assert.Equal(HttpStatusCode.NoContent, await PushAsync(intKey, kid, 0, A, B));
            Assert.Equal(HttpStatusCode.OK, (await PullAsync(B, kid)).Status); // cached now (TTL 10 min)

            // the next AIR's key carries version 1 (B removed) before the sync of version 1 arrives
            Assert.Equal(HttpStatusCode.NoContent, await PushAsync(c2.GetProperty("e2m_int_key").GetString()!, c2.GetProperty("kid").GetString()!, 1, A));
            Assert.Equal(HttpStatusCode.NotFound, (await PullAsync(B, kid)).Status);
            Assert.Equal(HttpStatusCode.OK, (await PullAsync(A, kid)).Status);
        }

        [Fact]
        public async Task Only_the_hss_may_sync_a_policy()
        {
            foreach (string cert in new[] { DevPki.EmseName(A), DevPki.ServingNode, DevPki.Admin, DevPki.Emks })
            {
                Assert.Equal(HttpStatusCode.Forbidden, await PutAsync(cert, Policy(1, false, null)));
            }

            Assert.Equal(HttpStatusCode.Unauthorized, await PutAsync(null, Policy(1, false, null)));
            Assert.Null(await _host.Store.FindSubscriptionPolicyAsync(Sub)); // nothing applied
            Assert.Equal(HttpStatusCode.NoContent, await PutAsync(DevPki.Hss, Policy(1, false, null)));
            Assert.False((await _host.Store.FindSubscriptionPolicyAsync(Sub))!.E2m);
        }

        public static IEnumerable<object[]> MalformedBodies() => new[]
        {
            new object[] { "not JSON", "{\"policy_version\": 1," },
            new object[] { "array", "[]" },
            new object[] { "negative version", "{\"policy_version\": -1, \"e2m\": true, \"allowed_emse_ids\": []}" },
            new object[] { "version not a number", "{\"policy_version\": true, \"e2m\": true, \"allowed_emse_ids\": []}" },
            new object[] { "allowed ids missing", "{\"policy_version\": 1, \"e2m\": true, \"allowed_emse_ids\": null}" },
            new object[] { "not an FQDN", "{\"policy_version\": 1, \"e2m\": true, \"allowed_emse_ids\": [\"not a name\"]}" },
            new object[] { "33 EMSEs", "{\"policy_version\": 1, \"e2m\": true, \"allowed_emse_ids\": [" + string.Join(",", Repeat("\"e.example\"", 33)) + "]}" },
            new object[] { "external id too long", "{\"policy_version\": 1, \"e2m\": true, \"allowed_emse_ids\": [], \"external_id\": \"" + new string('x', 257) + "\"}" },
            new object[] { "zero message limit", "{\"policy_version\": 1, \"e2m\": true, \"allowed_emse_ids\": [], \"max_messages\": 0}" },
        };

        private static IEnumerable<string> Repeat(string s, int n)
        {
            for (int i = 0; i < n; i++) yield return s;
        }

        [Theory]
        [MemberData(nameof(MalformedBodies))]
        public async Task Malformed_policy_is_400_and_changes_nothing(string label, string json)
        {
            _ = label;
            (string intKey, string kid) = PushPullApiTests.Case0();
            Assert.Equal(HttpStatusCode.NoContent, await PushAsync(intKey, kid, 0, A));
            using HttpClient hss = _host.HssClient();
            using HttpResponseMessage r = await hss.PutAsync(HssEmksContract.SubscriptionPolicyPath(Sub), new StringContent(json, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await PullAsync(A, kid)).Status);
            Assert.Equal(0, (await _host.Store.FindSubscriptionPolicyAsync(Sub))!.PolicyVersion);
        }

        [Fact]
        public async Task Subscription_id_too_long_is_400_and_oversized_body_is_413()
        {
            Assert.Equal(HttpStatusCode.BadRequest, await PutAsync(DevPki.Hss, Policy(1, false, null), new string('a', 129)));
            using var big = new StringContent("{\"policy_version\": 1, \"e2m\": true, \"allowed_emse_ids\": [], \"external_id\": \"" + new string('x', 20000) + "\"}",
                Encoding.UTF8, "application/json");
            SocketsHttpHandler handler = Mtls.CreateClientHandler(_host.Certificate(DevPki.Hss), _host.Trust);
            handler.Expect100ContinueTimeout = TimeSpan.FromSeconds(30);
            using var client = new HttpClient(handler) { BaseAddress = _host.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            using var request = new HttpRequestMessage(HttpMethod.Put, HssEmksContract.SubscriptionPolicyPath(Sub)) { Content = big };
            request.Headers.ExpectContinue = true;
            using HttpResponseMessage r = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        }
    }
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks.Callbacks;
using E2m.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// A fake EMSE callback endpoint over real HTTPS requiring a client certificate of the dev CA. Answers from a script of
    /// status codes (then 204), records what it got: the caller's role, the body, and the EMKS's fake clock at receipt.
    /// </summary>
    public sealed class FakeEmseEndpoint : IAsyncDisposable
    {
        private readonly ConcurrentQueue<int> _script = new();
        private WebApplication _app = null!;

        public ConcurrentQueue<(string? ClientRole, E2mKeyPullResponse Body, int Status, DateTimeOffset At)> Received { get; } = new();

        /// <summary>Revocations received: <c>DELETE /keys/{kid}</c> (policy sync).</summary>
        public ConcurrentQueue<(string? ClientRole, string Kid, int Status)> Revoked { get; } = new();

        public string Url { get; private set; } = string.Empty;

        /// <summary>Answer the next requests with these status codes (e.g. 503, 503), then 204.</summary>
        public void FailNext(params int[] statuses)
        {
            foreach (int s in statuses) _script.Enqueue(s);
        }

        public static Task<FakeEmseEndpoint> StartAsync(EmksTestHost host) => StartAsync(host.DataDirectory, host.Clock);

        public static async Task<FakeEmseEndpoint> StartAsync(string dataDirectory, TimeProvider clock)
        {
            var e = new FakeEmseEndpoint();
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            var trust = new E2mTrustAnchor(DevPki.LoadCaCertificate(dataDirectory));
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0,
                l => l.UseE2mHttps(DevPki.LoadCertificate(dataDirectory, DevPki.Localhost), trust, ClientCertificateMode.RequireCertificate)));
            e._app = builder.Build();
            e._app.MapPost("/keys", async (HttpContext ctx) =>
            {
                E2mKeyPullResponse body = (await ctx.Request.ReadFromJsonAsync<E2mKeyPullResponse>())!;
                int status = e._script.TryDequeue(out int s) ? s : 204;
                e.Received.Enqueue((CertificateIdentity.GetRole(ctx.Connection.ClientCertificate), body, status, clock.GetUtcNow()));
                return Results.StatusCode(status);
            });
            e._app.MapDelete("/keys/{kid}", (HttpContext ctx, string kid) =>
            {
                int status = e._script.TryDequeue(out int s) ? s : 204;
                e.Revoked.Enqueue((CertificateIdentity.GetRole(ctx.Connection.ClientCertificate), kid, status));
                return Results.StatusCode(status);
            });
            await e._app.StartAsync();
            string address = e._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            e.Url = address.TrimEnd('/') + "/keys";
            return e;
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }

    /// <summary>
    /// Push variant per subscriber (issue 6 point 2): an EMSE registers a callback for the devices it serves (only those of
    /// subscriptions allowing it: else 403); every new key of such a subscription is POSTed over mTLS from a durable
    /// outbox, retried with exponential backoff on the injected clock, given up after N attempts with a log line
    /// carrying no key material, and not lost across a restart of the EMKS. Keys: tests/vectors/e2m-kdf.json.
    /// </summary>
    public sealed class CallbackTests : IAsyncLifetime
    {
        private const string Emse = "emse.example.org";
        private const string Other = "other.example";
        private readonly EmksTestHost _host = new(o =>
        {
            o.Bootstrap.Enabled = false;
            o.Push.MaxAttempts = 4;
            o.Push.InitialBackoff = TimeSpan.FromSeconds(2);
            o.Push.PollInterval = TimeSpan.FromMinutes(10);
        });

        private FakeEmseEndpoint _emse = null!;

        public async Task InitializeAsync()
        {
            await _host.InitializeAsync();
            _emse = await FakeEmseEndpoint.StartAsync(_host);
        }

        public async Task DisposeAsync()
        {
            await _emse.DisposeAsync();
            await _host.DisposeAsync();
        }

        private PushDispatcher Dispatcher => _host.App.Services.GetRequiredService<PushDispatcher>();

        internal static JsonElement Case(JsonDocument doc, int i) => doc.RootElement.GetProperty("cases")[i];

        private static async Task<HttpStatusCode> RegisterAsync(EmksTestHost host, string emseId, string url, params string[] deviceIds)
        {
            using HttpClient c = host.EmseClient(emseId);
            using HttpResponseMessage r = await c.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath,
                new EmseCallbackRegistration { CallbackUrl = url, DeviceIds = deviceIds.ToList() });
            return r.StatusCode;
        }

        /// <summary>Advances the fake clock one second at a time (real 20 ms between steps) until <paramref name="done"/>.</summary>
        internal static async Task AdvanceUntilAsync(FakeTimeProvider clock, Func<bool> done, int maxSteps = 400)
        {
            for (int i = 0; i < maxSteps && !done(); i++)
            {
                await Task.Delay(20);
                if (!done()) clock.Advance(TimeSpan.FromSeconds(1));
            }

            Assert.True(done(), "condition not reached within the fake-time budget");
        }

        [Fact]
        public async Task Registered_emse_gets_the_key_after_two_failures_with_backoff_over_mtls()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = Case(doc, 0), c2 = Case(doc, 2);
            string kid0 = c0.GetProperty("kid").GetString()!, kid2 = c2.GetProperty("kid").GetString()!;

            // first key of the subscription: the EMKS learns the device (external id) and who may register for it
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, kid0, _host.Now + 3600, "sub-1", "meter-1", Emse));
            Assert.Equal(HttpStatusCode.NoContent, await RegisterAsync(_host, Emse, _emse.Url, "meter-1"));

            _emse.FailNext(503, 500);
            long expiry = _host.Now + 3600;
            await _host.PushAsync(EmksTestHost.Push(c2.GetProperty("e2m_int_key").GetString()!, kid2, expiry, "sub-1", "meter-1", Emse));
            await AdvanceUntilAsync(_host.Clock, () => Dispatcher.Delivered == 1);

            var got = _emse.Received.ToArray();
            Assert.Equal(3, got.Length);
            Assert.Equal(new[] { 503, 500, 204 }, got.Select(g => g.Status).ToArray());
            Assert.All(got, g => Assert.Equal(CertificateIdentity.RoleEmks, g.ClientRole));
            Assert.All(got, g => Assert.Equal(kid2, g.Body.Kid));
            Assert.Equal(c2.GetProperty("e2m_key").GetString(), got[2].Body.E2mKey); // e2m-kdf.json case 2 (emse.example.org)
            Assert.Equal("meter-1", got[2].Body.DeviceId);
            Assert.Equal(expiry, got[2].Body.Expires);

            // exponential backoff on the injected clock: >= 2 s after the first failure, >= 4 s after the second
            Assert.True(got[1].At - got[0].At >= TimeSpan.FromSeconds(2), $"second attempt after {(got[1].At - got[0].At).TotalSeconds} s");
            Assert.True(got[2].At - got[1].At >= TimeSpan.FromSeconds(4), $"third attempt after {(got[2].At - got[1].At).TotalSeconds} s");
            Assert.Equal(2, Dispatcher.FailedAttempts);
            Assert.Equal(0, await _host.Store.CountOutboxAsync());
            Assert.True((await _host.Store.FindKeyAsync(Convert.FromHexString(kid2)))!.Used); // delivered = used
        }

        [Fact]
        public async Task Not_allowed_emse_cannot_register_and_gets_nothing()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = Case(doc, 0), c2 = Case(doc, 2);
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, c0.GetProperty("kid").GetString()!, _host.Now + 3600, "sub-1", "meter-1", Emse));
            await using FakeEmseEndpoint otherEndpoint = await FakeEmseEndpoint.StartAsync(_host);

            // not allowed and unknown: the same 403, nothing registered (all or nothing)
            using HttpClient other = _host.EmseClient(Other);
            using HttpResponseMessage notAllowed = await other.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath,
                new EmseCallbackRegistration { CallbackUrl = otherEndpoint.Url, DeviceIds = new List<string> { "meter-1" } });
            using HttpResponseMessage unknown = await other.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath,
                new EmseCallbackRegistration { CallbackUrl = otherEndpoint.Url, DeviceIds = new List<string> { "meter-unknown" } });
            Assert.Equal(HttpStatusCode.Forbidden, notAllowed.StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, unknown.StatusCode);
            Assert.Equal((await unknown.Content.ReadAsStringAsync()).Replace("meter-unknown", "X"), (await notAllowed.Content.ReadAsStringAsync()).Replace("meter-1", "X"));
            Assert.Equal(HttpStatusCode.Forbidden, await RegisterAsync(_host, Emse, _emse.Url, "meter-1", "meter-unknown"));
            Assert.Empty(await _host.Store.ListPushRegistrationsAsync(Emse));

            // the allowed EMSE registers; a new key of the subscription goes to it only
            Assert.Equal(HttpStatusCode.NoContent, await RegisterAsync(_host, Emse, _emse.Url, "meter-1"));
            await _host.PushAsync(EmksTestHost.Push(c2.GetProperty("e2m_int_key").GetString()!, c2.GetProperty("kid").GetString()!, _host.Now + 3600, "sub-1", "meter-1", Emse));
            await AdvanceUntilAsync(_host.Clock, () => Dispatcher.Delivered == 1);
            Assert.Single(_emse.Received);
            Assert.Empty(otherEndpoint.Received);
            Assert.Equal(0, await _host.Store.CountOutboxAsync());
        }

        [Fact]
        public async Task Policy_change_stops_pushes_and_registrations_for_an_emse_no_longer_allowed()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = Case(doc, 0), c2 = Case(doc, 2);
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, c0.GetProperty("kid").GetString()!, _host.Now + 3600, "sub-1", "meter-1", Emse, Other));
            Assert.Equal(HttpStatusCode.NoContent, await RegisterAsync(_host, Other, _emse.Url, "meter-1"));

            // the next key of sub-1 no longer allows other.example: no outbox row, and it may not register again
            await _host.PushAsync(EmksTestHost.Push(c2.GetProperty("e2m_int_key").GetString()!, c2.GetProperty("kid").GetString()!, _host.Now + 3600, "sub-1", "meter-1", Emse));
            Assert.Equal(0, await _host.Store.CountOutboxAsync());
            Assert.Equal(HttpStatusCode.Forbidden, await RegisterAsync(_host, Other, _emse.Url, "meter-1"));
            _host.Clock.Advance(TimeSpan.FromMinutes(1));
            await Task.Delay(200);
            Assert.Empty(_emse.Received);
        }

        [Fact]
        public async Task Policy_sync_removing_a_registered_emse_sends_it_a_revocation_of_each_key()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = Case(doc, 0), c2 = Case(doc, 2);
            string kid0 = c0.GetProperty("kid").GetString()!, kid2 = c2.GetProperty("kid").GetString()!;
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, kid0, _host.Now + 3600, "sub-1", "meter-1", Emse, Other));
            await using FakeEmseEndpoint otherEndpoint = await FakeEmseEndpoint.StartAsync(_host);
            Assert.Equal(HttpStatusCode.NoContent, await RegisterAsync(_host, Other, otherEndpoint.Url, "meter-1"));
            Assert.Equal(HttpStatusCode.NoContent, await RegisterAsync(_host, Emse, _emse.Url, "meter-1"));
            await _host.PushAsync(EmksTestHost.Push(c2.GetProperty("e2m_int_key").GetString()!, kid2, _host.Now + 3600, "sub-1", "meter-1", Emse, Other));
            await AdvanceUntilAsync(_host.Clock, () => Dispatcher.Delivered == 2);

            // the HSS removes other.example: it is told to drop both keys (the first attempt fails and is retried)
            otherEndpoint.FailNext(503);
            using (HttpClient hss = _host.HssClient())
            using (HttpResponseMessage r = await hss.PutAsJsonAsync(HssEmksContract.SubscriptionPolicyPath("sub-1"),
                new E2mSubscriptionPolicy { PolicyVersion = 1, E2m = true, ExternalId = "meter-1", AllowedEmseIds = new List<string> { Emse } }))
            {
                Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            }

            await AdvanceUntilAsync(_host.Clock, () => Dispatcher.Revocations == 2);
            var revoked = otherEndpoint.Revoked.ToArray();
            Assert.Equal(3, revoked.Length);
            Assert.All(revoked, g => Assert.Equal(CertificateIdentity.RoleEmks, g.ClientRole));
            Assert.Equal(new[] { kid0, kid2 }.OrderBy(k => k), revoked.Where(g => g.Status == 204).Select(g => g.Kid).OrderBy(k => k));
            Assert.Empty(_emse.Revoked);                                                   // still allowed: nothing revoked
            Assert.Null(await _host.Store.FindPushRegistrationAsync(Other, "sub-1"));
            Assert.NotNull(await _host.Store.FindPushRegistrationAsync(Emse, "sub-1"));
            Assert.Equal(0, await _host.Store.CountOutboxAsync());

            // then e2m off: the remaining registered EMSE is told too
            using (HttpClient hss = _host.HssClient())
            using (HttpResponseMessage r = await hss.PutAsJsonAsync(HssEmksContract.SubscriptionPolicyPath("sub-1"),
                new E2mSubscriptionPolicy { PolicyVersion = 2, E2m = false }))
            {
                Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            }

            await AdvanceUntilAsync(_host.Clock, () => Dispatcher.Revocations == 4);
            Assert.Equal(new[] { kid0, kid2 }.OrderBy(k => k), _emse.Revoked.Select(g => g.Kid).OrderBy(k => k));
            Assert.Equal(0, await _host.Store.CountOutboxAsync());
            string logs = string.Join("\n", _host.Logs.Lines);
            Assert.DoesNotContain(c0.GetProperty("e2m_int_key").GetString()!, logs, StringComparison.OrdinalIgnoreCase);
        }

        [Fact]
        public async Task Registration_by_pseudonym_learnt_from_a_pull()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = Case(doc, 0), c2 = Case(doc, 2);
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, c0.GetProperty("kid").GetString()!, _host.Now + 3600, "sub-p", null, Emse, Other));
            using HttpClient emse = _host.EmseClient(Emse);
            string pseudonym = (await emse.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(c0.GetProperty("kid").GetString()!)))!.DeviceId;
            Assert.StartsWith("p-", pseudonym);
            Assert.Equal(HttpStatusCode.Forbidden, await RegisterAsync(_host, Other, _emse.Url, pseudonym)); // another EMSE's pseudonym
            Assert.Equal(HttpStatusCode.NoContent, await RegisterAsync(_host, Emse, _emse.Url, pseudonym));

            await _host.PushAsync(EmksTestHost.Push(c2.GetProperty("e2m_int_key").GetString()!, c2.GetProperty("kid").GetString()!, _host.Now + 3600, "sub-p", null, Emse, Other));
            await AdvanceUntilAsync(_host.Clock, () => Dispatcher.Delivered == 1);
            var got = Assert.Single(_emse.Received);
            Assert.Equal(pseudonym, got.Body.DeviceId);
            Assert.Equal(c2.GetProperty("kid").GetString(), got.Body.Kid);

            Assert.Equal(HttpStatusCode.NoContent, (await emse.DeleteAsync(EmksEmseContract.SubscriptionPath(pseudonym))).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await emse.DeleteAsync(EmksEmseContract.SubscriptionPath(pseudonym))).StatusCode);
        }

        [Fact]
        public async Task Gives_up_after_max_attempts_with_a_log_line_without_key_material()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = Case(doc, 0), c2 = Case(doc, 2);
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, c0.GetProperty("kid").GetString()!, _host.Now + 3600, "sub-1", "meter-1", Emse));
            Assert.Equal(HttpStatusCode.NoContent, await RegisterAsync(_host, Emse, _emse.Url, "meter-1"));
            _emse.FailNext(500, 500, 500, 500, 500);
            string intKey = c2.GetProperty("e2m_int_key").GetString()!, kid = c2.GetProperty("kid").GetString()!;
            await _host.PushAsync(EmksTestHost.Push(intKey, kid, _host.Now + 3600, "sub-1", "meter-1", Emse));
            await AdvanceUntilAsync(_host.Clock, () => Dispatcher.Abandoned == 1);

            Assert.Equal(4, _emse.Received.Count); // MaxAttempts = 4
            Assert.Equal(0, await _host.Store.CountOutboxAsync());
            string[] lines = _host.Logs.Lines.ToArray();
            Assert.Contains(lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("gave up", StringComparison.Ordinal) && l.Contains(kid, StringComparison.Ordinal));
            string e2mKey = ExpectedKey(intKey, Emse);
            foreach (string l in lines)
            {
                Assert.DoesNotContain(intKey, l, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain(e2mKey, l, StringComparison.OrdinalIgnoreCase);
            }

            // the EMSE can still pull it
            using HttpClient emse = _host.EmseClient(Emse);
            Assert.Equal(e2mKey, (await emse.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(kid)))!.E2mKey);
        }

        [Fact]
        public async Task Registration_input_rules()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = Case(doc, 0);
            await _host.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, c0.GetProperty("kid").GetString()!, _host.Now + 3600, "sub-1", "meter-1", Emse));
            using HttpClient emse = _host.EmseClient(Emse);
            Assert.Equal(HttpStatusCode.BadRequest, await RegisterAsync(_host, Emse, "http://insecure.example/keys", "meter-1"));
            Assert.Equal(HttpStatusCode.BadRequest, await RegisterAsync(_host, Emse, "not a url", "meter-1"));
            Assert.Equal(HttpStatusCode.BadRequest, await RegisterAsync(_host, Emse, _emse.Url));
            Assert.Equal(HttpStatusCode.BadRequest, await RegisterAsync(_host, Emse, _emse.Url, new string('m', 257)));
            Assert.Equal(HttpStatusCode.BadRequest, await RegisterAsync(_host, Emse, _emse.Url, Enumerable.Range(0, 101).Select(i => "d" + i).ToArray()));
            foreach (string raw in new[] { "{", "[]", "{\"callback_url\": 5}", "null" })
            {
                using var content = new StringContent(raw, Encoding.UTF8, "application/json");
                using HttpResponseMessage r = await emse.PostAsync(EmksEmseContract.SubscriptionsPath, content);
                Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            }

            using (var big = new StringContent("{\"callback_url\": \"" + new string('x', 40_000) + "\"}", Encoding.UTF8, "application/json"))
            using (HttpResponseMessage r = await _host.PostOversizedAsync(DevPki.EmseName(Emse), EmksEmseContract.SubscriptionsPath, big))
            {
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
            }

            foreach (string cert in new[] { DevPki.Hss, DevPki.ServingNode, DevPki.Emks })
            {
                using HttpClient c = _host.Client(cert);
                using HttpResponseMessage r = await c.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath,
                    new EmseCallbackRegistration { CallbackUrl = _emse.Url, DeviceIds = new List<string> { "meter-1" } });
                Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            }

            using (HttpClient none = _host.Client(null))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, (await none.DeleteAsync(EmksEmseContract.SubscriptionsPath)).StatusCode);
            }

            Assert.Equal(HttpStatusCode.NotFound, (await emse.DeleteAsync(EmksEmseContract.SubscriptionsPath)).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, await RegisterAsync(_host, Emse, _emse.Url, "meter-1"));
            Assert.Equal(HttpStatusCode.NoContent, await RegisterAsync(_host, Emse, _emse.Url, "meter-1")); // idempotent
            Assert.Equal(HttpStatusCode.NoContent, (await emse.DeleteAsync(EmksEmseContract.SubscriptionsPath)).StatusCode);
            Assert.Empty(await _host.Store.ListPushRegistrationsAsync(Emse));
        }

        internal static string ExpectedKey(string intKeyHex, string emseId)
        {
            // e2m_key = HMAC-SHA-256(e2m_int_key, 0xE1 || EMSE_Id || len || "e2m_CIoT" || len) (DESIGN.md §2), System HMAC
            byte[] id = Encoding.UTF8.GetBytes(emseId), label = Encoding.UTF8.GetBytes("e2m_CIoT");
            var s = new List<byte> { 0xE1 };
            s.AddRange(id);
            s.Add((byte)(id.Length >> 8));
            s.Add((byte)id.Length);
            s.AddRange(label);
            s.Add(0);
            s.Add((byte)label.Length);
            return Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(Convert.FromHexString(intKeyHex), s.ToArray()));
        }
    }

    /// <summary>The outbox survives a restart: a delivery pending when the EMKS stops is made by the next process on the same database.</summary>
    public sealed class CallbackRestartTests
    {
        [Fact]
        public async Task Pending_push_is_delivered_after_a_restart()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c0 = CallbackTests.Case(doc, 0), c2 = CallbackTests.Case(doc, 2);
            string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "e2m-emks-restart-" + Guid.NewGuid().ToString("N"));
            var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 8, 0, 0, TimeSpan.Zero));
            Action<E2m.Server.Emks.EmksOptions> configure = o =>
            {
                o.Bootstrap.Enabled = false;
                o.Push.InitialBackoff = TimeSpan.FromSeconds(30);
                o.Push.PollInterval = TimeSpan.FromMinutes(10);
            };
            try
            {
                string url;
                await using (var first = new EmksTestHost(configure, null, dir, clock))
                {
                    await first.InitializeAsync();
                    await using FakeEmseEndpoint endpoint = await FakeEmseEndpoint.StartAsync(first);
                    url = endpoint.Url;
                    await first.PushAsync(EmksTestHost.Push(c0.GetProperty("e2m_int_key").GetString()!, c0.GetProperty("kid").GetString()!, first.Now + 3600, "sub-1", "meter-1", "emse.example.org"));
                    using HttpClient emse = first.EmseClient("emse.example.org");
                    Assert.Equal(HttpStatusCode.NoContent, (await emse.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath,
                        new EmseCallbackRegistration { CallbackUrl = url, DeviceIds = new List<string> { "meter-1" } })).StatusCode);
                    endpoint.FailNext(503);
                    await first.PushAsync(EmksTestHost.Push(c2.GetProperty("e2m_int_key").GetString()!, c2.GetProperty("kid").GetString()!, first.Now + 3600, "sub-1", "meter-1", "emse.example.org"));
                    for (int i = 0; i < 3000 && endpoint.Received.IsEmpty; i++) await Task.Delay(10); // guard only (30 s)
                    Assert.Single(endpoint.Received); // the failed attempt; next one 30 s later on the fake clock
                    Assert.Equal(1, await first.Store.CountOutboxAsync());
                }

                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                await using var second = new EmksTestHost(configure, null, dir, clock);
                await second.InitializeAsync();
                await using FakeEmseEndpoint again = await FakeEmseEndpoint.StartAsync(second);
                // the EMSE came back on another port and re-registered its URL
                using (HttpClient emse = second.EmseClient("emse.example.org"))
                {
                    Assert.Equal(HttpStatusCode.NoContent, (await emse.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath,
                        new EmseCallbackRegistration { CallbackUrl = again.Url, DeviceIds = new List<string> { "meter-1" } })).StatusCode);
                }

                PushDispatcher dispatcher = second.App.Services.GetRequiredService<PushDispatcher>();
                await CallbackTests.AdvanceUntilAsync(clock, () => dispatcher.Delivered == 1);
                var got = Assert.Single(again.Received);
                Assert.Equal(c2.GetProperty("kid").GetString(), got.Body.Kid);
                Assert.Equal(0, await second.Store.CountOutboxAsync());
            }
            finally
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                try
                {
                    System.IO.Directory.Delete(dir, true);
                }
                catch (System.IO.IOException)
                {
                }
            }
        }
    }
}

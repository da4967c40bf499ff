using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common.Contracts;
using E2m.Server.Hss.Emks;
using E2m.Server.Hss.Subscribers;
using E2m.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace E2m.Server.Hss.Tests
{
    /// <summary>
    /// HSS → EMKS policy sync through the admin API, the CLI and the background dispatcher (WebApplicationFactory, fake EMKS at
    /// the HTTP level, fake clock), on SQLite and PostgreSQL.
    /// </summary>
    public abstract class PolicySyncApiSuite
    {
        private const string Imsi = "001010000000001";

        protected abstract HssFactory NewFactory();

        private static object E2mBody(bool e2m = true) => new
        {
            imsi = Imsi, k = Hex.Encode(Set1.K), opc = Hex.Encode(Set1.Opc), e2m,
            emseIds = new[] { "emse.example.org", "b.example.org" }, externalId = "meter-42", maxMessages = 1000,
        };

        private static async Task<JsonElement> AddAsync(HssFactory f, object body)
        {
            HttpResponseMessage r = await f.Client("admin").PostAsJsonAsync("/v1/admin/subscribers", body);
            string text = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == HttpStatusCode.Created, text);
            return JsonDocument.Parse(text).RootElement;
        }

        private static async Task<JsonElement> PatchAsync(HssFactory f, object body)
        {
            HttpResponseMessage r = await f.Client("admin").PatchAsJsonAsync("/v1/admin/subscribers/" + Imsi, body);
            string text = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == HttpStatusCode.OK, text);
            return JsonDocument.Parse(text).RootElement;
        }

        private static async Task<string> DeleteAsync(HssFactory f)
        {
            HttpResponseMessage r = await f.Client("admin").DeleteAsync("/v1/admin/subscribers/" + Imsi);
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
            return Assert.Single(r.Headers.GetValues("E2m-Emks-Policy-Sync"));
        }

        private static EmksPolicyOutbox Outbox(HssFactory f) => f.Services.GetRequiredService<EmksPolicyOutbox>();

        /// <summary>Waits for a condition the HSS reaches on its own after a step (a safety bound of 30 s, not a timing assumption).</summary>
        private static async Task Eventually(Func<bool> condition, string what)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!condition())
            {
                Assert.True(DateTime.UtcNow < deadline, "not reached: " + what);
                await Task.Delay(10);
            }
        }

        private static void AssertPolicyBody(FakeEmksHttp.Recorded put, string sid, long version, bool e2m, string? externalId, string[] emseIds, long? maxMessages)
        {
            Assert.Equal("PUT", put.Method);
            Assert.Equal("/v1/hss/subscriptions/" + sid, put.Path);
            JsonElement b = JsonDocument.Parse(put.Body).RootElement;
            Assert.Equal(new[] { "allowed_emse_ids", "e2m", "external_id", "max_messages", "policy_version" }, b.EnumerateObject().Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal).ToArray());
            Assert.Equal(version, b.GetProperty("policy_version").GetInt64());
            Assert.Equal(e2m, b.GetProperty("e2m").GetBoolean());
            if (externalId == null)
            {
                Assert.Equal(JsonValueKind.Null, b.GetProperty("external_id").ValueKind);
            }
            else
            {
                Assert.Equal(externalId, b.GetProperty("external_id").GetString());
            }

            Assert.Equal(emseIds, b.GetProperty("allowed_emse_ids").EnumerateArray().Select(e => e.GetString()!).ToArray());
            if (maxMessages == null)
            {
                Assert.Equal(JsonValueKind.Null, b.GetProperty("max_messages").ValueKind);
            }
            else
            {
                Assert.Equal(maxMessages, b.GetProperty("max_messages").GetInt64());
            }

            Assert.DoesNotContain(Imsi, put.Body);
            Assert.DoesNotContain(Hex.Encode(Set1.K), put.Body);
        }

        /// <summary>Every key push carries the policy version the AIR read; the admin API shows it.</summary>
        [SkippableFact]
        public async Task KeyPushesCarryThePolicyVersion()
        {
            using HssFactory f = NewFactory();
            Assert.Equal(0, (await AddAsync(f, E2mBody())).GetProperty("policyVersion").GetInt64());
            HttpClient sn = f.Client("serving-node");
            Assert.Equal(HttpStatusCode.OK, (await sn.PostAsJsonAsync("/v1/air", new { imsi = Imsi, numVectors = 2, rat = "utran" })).StatusCode);
            Assert.All(Assert.Single(f.Emks.Pushes).Keys, k => Assert.Equal(0, k.Subscriber.PolicyVersion));

            Assert.Equal(1, (await PatchAsync(f, new { maxMessages = 50 })).GetProperty("policyVersion").GetInt64());
            Assert.Equal(HttpStatusCode.OK, (await sn.PostAsJsonAsync("/v1/air", new { imsi = Imsi, numVectors = 1, rat = "utran" })).StatusCode);
            E2mKeyPush k = Assert.Single(f.Emks.Pushes[1].Keys);
            Assert.Equal(1, k.Subscriber.PolicyVersion);
            Assert.Equal(50, k.Subscriber.MaxMessages);
            Assert.Contains("\"policy_version\":1", JsonSerializer.Serialize(f.Emks.Pushes[1]));

            JsonElement show = JsonDocument.Parse(await f.Client("admin").GetStringAsync("/v1/admin/subscribers/" + Imsi)).RootElement;
            Assert.Equal(1, show.GetProperty("policyVersion").GetInt64());
            Assert.False(show.TryGetProperty("emksPolicySync", out _)); // only in the answer of a change
            JsonElement list = JsonDocument.Parse(await f.Client("admin").GetStringAsync("/v1/admin/subscribers")).RootElement;
            Assert.Equal(1, list.GetProperty("subscribers")[0].GetProperty("policyVersion").GetInt64());
        }

        /// <summary>PATCH removing an EMSE: one PUT with the new policy before the answer, which says "done"; nothing left queued.</summary>
        [SkippableFact]
        public async Task PatchRemovingAnEmseSendsTheNewPolicyToTheEmks()
        {
            using HssFactory f = NewFactory();
            string sid = (await AddAsync(f, E2mBody())).GetProperty("subscriptionId").GetString()!;
            JsonElement p = await PatchAsync(f, new { emseIds = new[] { "b.example.org" } });
            Assert.Equal("done", p.GetProperty("emksPolicySync").GetString());
            Assert.Equal(1, p.GetProperty("policyVersion").GetInt64());
            FakeEmksHttp.Recorded put = Assert.Single(f.EmksHttp.Requests);
            AssertPolicyBody(put, sid, 1, true, "meter-42", new[] { "b.example.org" }, 1000);
            Assert.Equal(0, Outbox(f).Count());

            // e2m off, external id and limit cleared
            p = await PatchAsync(f, new { e2m = false, externalId = "", maxMessages = 0 });
            Assert.Equal("done", p.GetProperty("emksPolicySync").GetString());
            AssertPolicyBody(f.EmksHttp.Requests[1], sid, 2, false, null, new[] { "b.example.org" }, null);
        }

        /// <summary>
        /// EMKS down: the PATCH answers "pending", the row stays; the dispatcher retries on the (fake) clock after 1 s, 2 s, 4 s;
        /// the EMKS comes back and gets the policy; the row is deleted. One warning per failure, subscription id and status only.
        /// </summary>
        [SkippableFact]
        public async Task EmksDownIsPendingAndRetriedWithBackoffUntilDelivered()
        {
            using HssFactory f = NewFactory();
            FakeTimeProvider clock = f.UseFakeClock();
            string sid = (await AddAsync(f, E2mBody())).GetProperty("subscriptionId").GetString()!;
            f.EmksHttp.Status = 503;
            JsonElement p = await PatchAsync(f, new { emseIds = new[] { "b.example.org" } });
            Assert.Equal("pending", p.GetProperty("emksPolicySync").GetString());
            await f.EmksHttp.NextAsync();                                          // the immediate attempt
            EmksPolicyOutbox outbox = Outbox(f);
            PolicyOutboxRow row = Assert.Single(outbox.All());
            Assert.Equal((1L, 1), (row.Policy.PolicyVersion, row.Attempts));
            Assert.Equal((clock.GetUtcNow() + TimeSpan.FromSeconds(1)).ToUnixTimeMilliseconds(), row.NextAttemptMs);

            // 1 s, then 2 s, later: the loop retries (still 503); the attempt count says each retry was rescheduled.
            foreach ((int wait, int attempts) in new[] { (1, 2), (2, 3) })
            {
                clock.Advance(TimeSpan.FromSeconds(wait) - TimeSpan.FromMilliseconds(1));
                Assert.Equal(attempts - 1, Assert.Single(outbox.All()).Attempts);
                clock.Advance(TimeSpan.FromMilliseconds(1));
                await f.EmksHttp.NextAsync();
                await Eventually(() => outbox.Find(sid)?.Attempts == attempts, "attempt " + attempts + " rescheduled");
            }

            f.EmksHttp.Status = 204;
            clock.Advance(TimeSpan.FromSeconds(4));
            AssertPolicyBody(await f.EmksHttp.NextAsync(), sid, 1, true, "meter-42", new[] { "b.example.org" }, 1000);
            await Eventually(() => outbox.Count() == 0, "row deleted after the 2xx");
            Assert.Equal(4, f.EmksHttp.Requests.Count);

            string[] warnings = f.Logs.Lines.Where(l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("policy sync", StringComparison.Ordinal)).ToArray();
            Assert.Equal(3, warnings.Length);
            Assert.All(warnings, w => Assert.Contains($"subscription {sid} failed: HTTP 503", w));
            Assert.All(f.Logs.Lines, l =>
            {
                Assert.DoesNotContain(Imsi, l);
                Assert.DoesNotContain(Hex.Encode(Set1.K), l, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain(Hex.Encode(Set1.Opc), l, StringComparison.OrdinalIgnoreCase);
            });
        }

        /// <summary>DELETE: 204 with the header; the EMKS gets e2m=false at the old version + 1 (also after an outage).</summary>
        [SkippableFact]
        public async Task DeleteSendsE2mOffWithTheNextVersion()
        {
            using HssFactory f = NewFactory();
            FakeTimeProvider clock = f.UseFakeClock();
            string sid = (await AddAsync(f, E2mBody())).GetProperty("subscriptionId").GetString()!;
            await PatchAsync(f, new { maxMessages = 5 });                         // v1, delivered
            f.EmksHttp.Status = 0;                                                 // EMKS unreachable
            Assert.Equal("pending", await DeleteAsync(f));
            PolicyOutboxRow row = Assert.Single(Outbox(f).All());
            Assert.Equal((sid, 2L, false), (row.SubscriptionId, row.Policy.PolicyVersion, row.Policy.E2m));
            Assert.Contains(f.Logs.Lines, l => l.Contains($"subscription {sid} failed: connection error", StringComparison.Ordinal));

            f.EmksHttp.Status = 204;
            clock.Advance(TimeSpan.FromSeconds(1));
            await Eventually(() => Outbox(f).Count() == 0, "revocation delivered");
            FakeEmksHttp.Recorded[] puts = f.EmksHttp.Requests.ToArray();
            Assert.Equal(3, puts.Length);
            AssertPolicyBody(puts[1], sid, 2, false, null, Array.Empty<string>(), null);
            AssertPolicyBody(puts[2], sid, 2, false, null, Array.Empty<string>(), null);

            // with the EMKS up: "done" at once
            string sid2 = (await AddAsync(f, E2mBody())).GetProperty("subscriptionId").GetString()!;
            Assert.Equal("done", await DeleteAsync(f));
            AssertPolicyBody(f.EmksHttp.Requests.Last(), sid2, 1, false, null, Array.Empty<string>(), null);
        }

        [SkippableFact]
        public async Task NonE2mSubscriberHasNothingToSync()
        {
            using HssFactory f = NewFactory();
            await AddAsync(f, E2mBody(e2m: false));
            JsonElement p = await PatchAsync(f, new { minGea = 3, emseIds = new[] { "b.example.org" } });
            Assert.Equal("none", p.GetProperty("emksPolicySync").GetString());
            Assert.Equal(1, p.GetProperty("policyVersion").GetInt64());
            Assert.Equal("none", await DeleteAsync(f));
            Assert.Empty(f.EmksHttp.Requests);
            Assert.Equal(0, Outbox(f).Count());
        }

        [SkippableFact]
        public async Task WithoutAnEmksNothingIsQueued()
        {
            using HssFactory f = NewFactory();
            f.Settings["Hss:Emks:BaseUrl"] = string.Empty;
            await AddAsync(f, E2mBody());
            Assert.Equal("none", (await PatchAsync(f, new { e2m = false })).GetProperty("emksPolicySync").GetString());
            Assert.Equal(0, Outbox(f).Count());
            Assert.Empty(f.EmksHttp.Requests);
        }

        /// <summary>`e2m subscriber update` (offline, on the database) queues the change; the HSS started afterwards sends it.</summary>
        [SkippableFact]
        public async Task CliUpdateQueuesARowThatAStartedHssDelivers()
        {
            using HssFactory f = NewFactory();
            string[] db = f.Postgres == null ? Array.Empty<string>() : new[] { "--db", f.Postgres };
            (int rc, string output) = Cli(new[] { "subscriber", "add", "--data-dir", f.DataDir, "--imsi", Imsi, "--k", Hex.Encode(Set1.K), "--opc", Hex.Encode(Set1.Opc),
                "--e2m", "--emse-id", "emse.example.org", "--emse-id", "b.example.org", "--json" }.Concat(db).ToArray());
            Assert.True(rc == 0, output);
            string sid = JsonDocument.Parse(output).RootElement.GetProperty("subscriptionId").GetString()!;
            (rc, output) = Cli(new[] { "subscriber", "update", "--data-dir", f.DataDir, "--imsi", Imsi, "--emse-id", "emse.example.org", "--max-messages", "7" }.Concat(db).ToArray());
            Assert.True(rc == 0, output);
            Assert.Contains("policy_version: 1\n", output.Replace("\r", string.Empty, StringComparison.Ordinal));
            Assert.Contains("emks policy sync: queued\n", output.Replace("\r", string.Empty, StringComparison.Ordinal));

            _ = f.Server;                                                          // start the HSS: it sends the queued row at start
            AssertPolicyBody(await f.EmksHttp.NextAsync(), sid, 1, true, null, new[] { "emse.example.org" }, 7);
            await Eventually(() => Outbox(f).Count() == 0, "row deleted after the 2xx");
        }

        private static (int Rc, string Output) Cli(string[] args)
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int rc = E2m.Cli.CliApp.Run(args, o, e);
            return (rc, rc == 0 ? o.ToString() : o + e.ToString()); // stderr may say "created development KEK"
        }
    }

    public sealed class PolicySyncApiSqliteTests : PolicySyncApiSuite
    {
        protected override HssFactory NewFactory() => new();
    }

    public sealed class PolicySyncApiPostgresTests : PolicySyncApiSuite
    {
        protected override HssFactory NewFactory() => new(PostgresTestDatabase.Create("hsssync"));
    }
}

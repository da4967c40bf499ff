using System;
using System.Threading;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Emse.Http;
using E2m.Server.Emse.Keys;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// EMSE side of the EMKS push variant (POST /v1/keys): the body is built with the contract type the EMKS's
    /// PushDispatcher posts (<see cref="E2mKeyPullResponse"/> through PostAsJsonAsync); the fake EMKS key source is set
    /// unavailable, so a pull would be answered 5.03 and counted.
    /// </summary>
    public sealed class KeyPushTests : IDisposable
    {
        private static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);
        private readonly TempDir _dir = new();
        private readonly FakeEmks _emks = new() { Unavailable = true };
        private readonly ManualTimeProvider _time = new(T0);
        private readonly EmseHost _host;

        public KeyPushTests()
        {
            _host = new EmseHost(_dir.Path, _emks, _time, settings: s => s["Emse:PushEnabled"] = "true");
        }

        public void Dispose()
        {
            _host.Dispose();
            _dir.Dispose();
        }

        private static E2mKeyPullResponse Body(byte[] kid, byte[] key, DateTimeOffset expires, string deviceId = "meter-7") => new()
        {
            Kid = Convert.ToHexStringLower(kid),
            E2mKey = Convert.ToHexStringLower(key),
            Expires = expires.ToUnixTimeSeconds(),
            DeviceId = deviceId,
        };

        private Task<HttpResponseMessage> Push(object body, string? role = DevPki.Emks) =>
            _host.HttpAs(role).PostAsJsonAsync(KeyPushApi.Path, body);

        private Task<HttpResponseMessage> PushRaw(string json, string? role = DevPki.Emks, string contentType = "application/json") =>
            _host.HttpAs(role).PostAsync(KeyPushApi.Path, new StringContent(json, Encoding.UTF8, contentType));

        private static async Task<string> ErrorCode(HttpResponseMessage r) =>
            JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()!;

        [Fact]
        public async Task Push_Accepted_FirstDatagramIsAnsweredWithoutPull()
        {
            var (kid, key) = TestDevice.NewKey(new Random(71));
            HttpResponseMessage r = await Push(Body(kid, key, T0.AddDays(1)));
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);

            using var dev = new TestDevice(_host.CoapEndPoint, kid, key, 71);
            Protected p = dev.Build(new long[] { 5 });
            byte[] response = dev.Exchange(p);
            Assert.Equal(CoapCode.Changed, Coap.Decode(response).Code);
            Assert.Equal(CoapCode.Changed, dev.Verify(p, response));       // OSCORE context from the pushed e2m_key
            Assert.Equal(0, _emks.Calls);                                  // no pull (the fake would have answered 5.03)
            Assert.Equal(1, _host.Server.Stats.Accepted);

            JsonElement devices = await _host.Http.GetFromJsonAsync<JsonElement>("/v1/devices");
            Assert.Equal("meter-7", devices.GetProperty("devices")[0].GetProperty("deviceId").GetString());
        }

        [Fact]
        public async Task Push_Duplicate_IsIdempotent_BeforeAndAfterUse()
        {
            var (kid, key) = TestDevice.NewKey(new Random(72));
            E2mKeyPullResponse body = Body(kid, key, T0.AddDays(1));
            Assert.Equal(HttpStatusCode.NoContent, (await Push(body)).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await Push(body)).StatusCode);   // at-least-once delivery
            using var dev = new TestDevice(_host.CoapEndPoint, kid, key, 72);
            Protected p = dev.Build(new long[] { 1 });
            Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));
            Assert.Equal(HttpStatusCode.NoContent, (await Push(body)).StatusCode);   // after the key was used: still 204
            Protected p2 = dev.Build(new long[] { 2 });
            Assert.Equal(CoapCode.Changed, dev.Verify(p2, dev.Exchange(p2)));       // the context is unchanged (no reset of the window)
            Assert.Equal(0, _emks.Calls);

            var (_, otherKey) = TestDevice.NewKey(new Random(73));
            HttpResponseMessage conflict = await Push(Body(kid, otherKey, T0.AddDays(1)));  // same KID, another key
            Assert.Equal(HttpStatusCode.NoContent, conflict.StatusCode);                     // already handed out: recognised by KID
            var (kid3, key3) = TestDevice.NewKey(new Random(74));
            Assert.Equal(HttpStatusCode.NoContent, (await Push(Body(kid3, key3, T0.AddDays(1)))).StatusCode);
            HttpResponseMessage c2 = await Push(Body(kid3, otherKey, T0.AddDays(1)));        // pending, other key → 409
            Assert.Equal(HttpStatusCode.Conflict, c2.StatusCode);
            Assert.Equal("conflict", await ErrorCode(c2));
        }

        private Task<HttpResponseMessage> Revoke(string kidHex, string? role = DevPki.Emks) =>
            _host.HttpAs(role).DeleteAsync(KeyPushApi.Path + "/" + kidHex);

        [Fact]
        public async Task Revocation_by_the_emks_drops_the_context_in_use_and_a_pending_key()
        {
            // a key in use: the kid's next request is refused (4.01 "Security context not found"), the device re-keys
            var (kid, key) = TestDevice.NewKey(new Random(75));
            Assert.Equal(HttpStatusCode.NoContent, (await Push(Body(kid, key, T0.AddDays(1)))).StatusCode);
            using var dev = new TestDevice(_host.CoapEndPoint, kid, key, 75);
            Protected p = dev.Build(new long[] { 1 });
            Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));
            Assert.Equal(HttpStatusCode.NoContent, (await Revoke(Convert.ToHexStringLower(kid))).StatusCode);
            CoapMessage refused = Coap.Decode(dev.Exchange(dev.Build(new long[] { 2 })));
            Assert.Equal(CoapCode.Unauthorized, refused.Code);
            Assert.Equal(1, Interlocked.Read(ref _host.Server.Stats.Revoked));
            Assert.Equal(1, _host.Store.CountReadings());

            // a pending key (pushed, not used yet; revoked by its 7-octet kid): not used, the kid is pulled (the fake EMKS
            // answers 5.03), and a late re-delivery of the same key is not taken either
            var (kid2, key2) = TestDevice.NewKey(new Random(76));
            Assert.Equal(HttpStatusCode.NoContent, (await Push(Body(kid2, key2, T0.AddDays(1)))).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await Revoke(Convert.ToHexStringLower(kid2, 0, 7))).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await Push(Body(kid2, key2, T0.AddDays(1)))).StatusCode);
            using var dev2 = new TestDevice(_host.CoapEndPoint, kid2, key2, 76);
            Assert.Equal(CoapCode.ServiceUnavailable, Coap.Decode(dev2.Exchange(dev2.Build(new long[] { 1 }))).Code);
            Assert.Equal(1, _emks.Calls);

            // idempotent, typed errors, roles
            Assert.Equal(HttpStatusCode.NoContent, (await Revoke(Convert.ToHexStringLower(kid))).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await Revoke("00112233445566")).StatusCode);
            foreach (string bad in new[] { "0011", "001122334455667", "zz112233445566", new string('0', 40) })
            {
                HttpResponseMessage r = await Revoke(bad);
                Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
                Assert.Equal("malformed", await ErrorCode(r));
            }

            Assert.Equal(HttpStatusCode.Forbidden, (await Revoke("00112233445566", DevPki.Hss)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await Revoke("00112233445566", DevPki.Reader)).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await Revoke("00112233445566", null)).StatusCode);
        }

        [Fact]
        public async Task Push_ExpiredKey_IsRefused_AndTheKidIsPulled()
        {
            var (kid, key) = TestDevice.NewKey(new Random(75));
            HttpResponseMessage r = await Push(Body(kid, key, T0.AddSeconds(-1)));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Equal("expired", await ErrorCode(r));
            Assert.Equal(HttpStatusCode.BadRequest, (await Push(Body(kid, key, T0))).StatusCode);   // expires == now is expired

            // Pushed while live, expired before the first datagram: not used, the EMSE asks the EMKS instead.
            var (kid2, key2) = TestDevice.NewKey(new Random(76));
            Assert.Equal(HttpStatusCode.NoContent, (await Push(Body(kid2, key2, T0.AddMinutes(1)))).StatusCode);
            _time.Advance(TimeSpan.FromMinutes(2));
            using var dev = new TestDevice(_host.CoapEndPoint, kid2, key2, 76);
            Protected p = dev.Build(new long[] { 1 });
            Assert.Equal(CoapCode.ServiceUnavailable, Coap.Decode(dev.Exchange(p)).Code);   // the (unavailable) fake EMKS was asked
            Assert.Equal(1, _emks.Calls);
        }

        [Theory]
        [InlineData(null, HttpStatusCode.Unauthorized)]
        [InlineData(DevPki.Hss, HttpStatusCode.Forbidden)]
        [InlineData(DevPki.Reader, HttpStatusCode.Forbidden)]
        [InlineData(DevPki.Admin, HttpStatusCode.Forbidden)]
        [InlineData("emse-emse.test.example", HttpStatusCode.Forbidden)]
        [InlineData(TestPki.Foreign, HttpStatusCode.Forbidden)]
        public async Task Push_WrongRole_IsRefused_AndNothingStored(string? role, HttpStatusCode status)
        {
            var (kid, key) = TestDevice.NewKey(new Random(77));
            HttpResponseMessage r = await Push(Body(kid, key, T0.AddDays(1)), role);
            Assert.Equal(status, r.StatusCode);
            using var dev = new TestDevice(_host.CoapEndPoint, kid, key, 77);
            Protected p = dev.Build(new long[] { 1 });
            Assert.Equal(CoapCode.ServiceUnavailable, Coap.Decode(dev.Exchange(p)).Code);   // nothing stored: the kid is pulled
            Assert.Equal(1, _emks.Calls);
        }

        public static IEnumerable<object[]> MalformedBodies()
        {
            string kid = new string('a', 16), key = new string('b', 64);
            long exp = T0.AddDays(1).ToUnixTimeSeconds();
            string ok = "\"kid\":\"" + kid + "\",\"e2m_key\":\"" + key + "\",\"expires\":" + exp + ",\"device_id\":\"d\"";
            yield return new object[] { "empty", "" };
            yield return new object[] { "not json", "kid=" + kid };
            yield return new object[] { "array", "[{" + ok + "}]" };
            yield return new object[] { "truncated", "{" + ok };
            yield return new object[] { "trailing", "{" + ok + "}{}" };
            yield return new object[] { "unknown member", "{" + ok + ",\"x\":1}" };
            yield return new object[] { "repeated kid", "{" + ok + ",\"kid\":\"" + kid + "\"}" };
            yield return new object[] { "missing device_id", "{\"kid\":\"" + kid + "\",\"e2m_key\":\"" + key + "\",\"expires\":" + exp + "}" };
            yield return new object[] { "7-octet kid", "{" + ok.Replace(kid, kid.Substring(2), StringComparison.Ordinal) + "}" };
            yield return new object[] { "short key", "{" + ok.Replace(key, key.Substring(2), StringComparison.Ordinal) + "}" };
            yield return new object[] { "non-hex key", "{" + ok.Replace(key, "zz" + key.Substring(2), StringComparison.Ordinal) + "}" };
            yield return new object[] { "escaped hex", "{" + ok.Replace(kid, "\\u0061" + kid.Substring(1), StringComparison.Ordinal) + "}" };
            yield return new object[] { "expires string", "{" + ok.Replace(exp.ToString(System.Globalization.CultureInfo.InvariantCulture), "\"1\"", StringComparison.Ordinal) + "}" };
            yield return new object[] { "expires fraction", "{" + ok.Replace(exp.ToString(System.Globalization.CultureInfo.InvariantCulture), "1.5", StringComparison.Ordinal) + "}" };
            yield return new object[] { "expires huge", "{" + ok.Replace(exp.ToString(System.Globalization.CultureInfo.InvariantCulture), "99999999999999999999", StringComparison.Ordinal) + "}" };
            yield return new object[] { "empty device_id", "{" + ok.Replace("\"d\"", "\"\"", StringComparison.Ordinal) + "}" };
            yield return new object[] { "long device_id", "{" + ok.Replace("\"d\"", "\"" + new string('d', 257) + "\"", StringComparison.Ordinal) + "}" };
            yield return new object[] { "max_messages 0", "{" + ok + ",\"max_messages\":0}" };
            yield return new object[] { "comment", "{" + ok + "/* c */}" };
        }

        [Theory]
        [MemberData(nameof(MalformedBodies))]
        public async Task Push_Malformed_Is400_Typed(string label, string json)
        {
            HttpResponseMessage r = await PushRaw(json);
            Assert.True(r.StatusCode == HttpStatusCode.BadRequest, label + ": " + r.StatusCode);
            Assert.Equal("malformed", await ErrorCode(r));
        }

        [Fact]
        public async Task Push_Oversized_Is413_NotJson_Is415_OptionalMembers_Accepted()
        {
            var (kid, key) = TestDevice.NewKey(new Random(78));
            string ok = "\"kid\":\"" + Convert.ToHexStringLower(kid) + "\",\"e2m_key\":\"" + Convert.ToHexStringLower(key) + "\",\"expires\":"
                + T0.AddDays(1).ToUnixTimeSeconds() + ",\"device_id\":\"d\"";
            HttpResponseMessage big = await PushRaw("{" + ok + ",\"pad\":\"" + new string(' ', KeyPushApi.MaxBodyBytes) + "\"}");
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
            Assert.Equal("too_large", await ErrorCode(big));
            HttpResponseMessage text = await PushRaw("{" + ok + "}", contentType: "text/plain");
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);

            HttpResponseMessage other = await PushRaw("{" + ok + ",\"emse_id\":\"other.example.org\"}");
            Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
            Assert.Equal("not_for_this_emse", await ErrorCode(other));

            HttpResponseMessage mine = await PushRaw("{" + ok + ",\"emse_id\":\"EMSE.test.example\",\"max_messages\":null}");
            Assert.Equal(HttpStatusCode.NoContent, mine.StatusCode);                // EMSE_Id compared case-insensitively
        }

        [Fact]
        public void PushStore_TakeOnce_Bounded_ExpiredPurged()
        {
            var time = new ManualTimeProvider(T0);
            using var store = new PushedKeyStore(time, capacity: 2);
            var rng = new Random(81);
            var (k1, key1) = TestDevice.NewKey(rng);
            var (k2, key2) = TestDevice.NewKey(rng);
            var (k3, key3) = TestDevice.NewKey(rng);
            Assert.Equal(PushedKeyOutcome.Added, store.Add(k1, key1, T0.AddMinutes(1), "a"));
            Assert.Equal(PushedKeyOutcome.Added, store.Add(k2, key2, T0.AddMinutes(10), "b"));
            Assert.Equal(PushedKeyOutcome.Full, store.Add(k3, key3, T0.AddMinutes(10), "c"));
            time.Advance(TimeSpan.FromMinutes(2));
            Assert.Equal(PushedKeyOutcome.Added, store.Add(k3, key3, T0.AddMinutes(10), "c"));   // the expired k1 made room
            Assert.False(store.TryTake(k1[..7], out _));
            Assert.False(store.TryTake(k2, out _));                                              // 8 octets: not a wire kid
            Assert.True(store.TryTake(k2[..7], out EmksKey? taken));
            Assert.Equal(key2, taken!.E2mKey);
            Assert.Equal(k2, taken.Kid);
            Assert.Equal("b", taken.DeviceId);
            Assert.False(store.TryTake(k2[..7], out _));                                         // handed out once
            Assert.Equal(PushedKeyOutcome.Duplicate, store.Add(k2, key2, T0.AddMinutes(10), "b"));
            Assert.Equal(1, store.Served);
            time.Advance(TimeSpan.FromMinutes(20));
            Assert.Equal(2, store.PurgeExpired());
            Assert.Equal(0, store.Count);
        }

        [Fact]
        public async Task Push_Disabled_Is404_AndStartValidatesPushOptions()
        {
            using var dir = new TempDir();
            using (var off = new EmseHost(dir.Path, new FakeEmks(), _time))
            {
                var (kid, key) = TestDevice.NewKey(new Random(79));
                HttpResponseMessage r = await off.HttpAs(DevPki.Emks).PostAsJsonAsync(KeyPushApi.Path, Body(kid, key, T0.AddDays(1)));
                Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
                Assert.Equal("disabled", await ErrorCode(r));
                HttpResponseMessage d = await off.HttpAs(DevPki.Emks).DeleteAsync(KeyPushApi.Path + "/" + Convert.ToHexStringLower(kid));
                Assert.Equal(HttpStatusCode.NotFound, d.StatusCode);
                Assert.Equal("disabled", await ErrorCode(d));
            }

            var v = new KeyPushOptionsValidator();
            ValidateOptionsResult bad = v.Validate(null, new EmseOptions
            {
                PushDeviceIds = new[] { "meter-1", "meter-1", " x" }, PushCallbackUrl = "http://e/", PushRegistrationRetry = TimeSpan.Zero,
            });
            Assert.True(bad.Failed);
            string all = string.Join("\n", bad.Failures!);
            Assert.Contains("PushEnabled", all, StringComparison.Ordinal);
            Assert.Contains("EmksBaseUrl", all, StringComparison.Ordinal);
            Assert.Contains("PushCallbackUrl", all, StringComparison.Ordinal);
            Assert.Contains("PushRegistrationRetry", all, StringComparison.Ordinal);
            Assert.True(v.Validate(null, new EmseOptions { PushEnabled = true, EmksBaseUrl = "https://e:1", PushDeviceIds = new[] { "meter-1" } }).Succeeded);
        }

        [Fact]
        public async Task Push_OverRealTls_LikeThePushDispatcher_AndRegistrationFailureIsNotFatal()
        {
            using var dir = new TempDir();
            TestPki.CopyTo(dir.Path);
            var source = new FakeEmks { Unavailable = true };
            WebApplication app = EmseApp.Build(new EmseOptions
            {
                EmseId = "emse.test.example", DataDir = dir.Path, UdpPort = 0, UdpBindAddress = "127.0.0.1", HttpUrls = "https://127.0.0.1:0",
                PushEnabled = true, PushDeviceIds = new[] { "meter-1" },
                EmksBaseUrl = "https://127.0.0.1:1", // nothing listens: registration fails, the EMSE runs
            }, s =>
            {
                s.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
                s.AddSingleton<IEmksKeySource>(source);
            });
            await app.StartAsync();
            try
            {
                string url = EmseApp.GetHttpAddresses(app).First().TrimEnd('/');
                var trust = new E2mTrustAnchor(DevPki.LoadCaCertificate(dir.Path));
                HttpClient Client(string? name) => new(Mtls.CreateClientHandler(name == null ? null : DevPki.LoadCertificate(dir.Path, name), trust));
                var (kid, key) = TestDevice.NewKey(new Random(80));
                E2mKeyPullResponse body = Body(kid, key, DateTimeOffset.UtcNow.AddDays(1));
                using (HttpClient none = Client(null))
                {
                    Assert.Equal(HttpStatusCode.Unauthorized, (await none.PostAsJsonAsync(url + KeyPushApi.Path, body)).StatusCode);
                }

                using (HttpClient hss = Client(DevPki.Hss))
                {
                    Assert.Equal(HttpStatusCode.Forbidden, (await hss.PostAsJsonAsync(url + KeyPushApi.Path, body)).StatusCode);
                }

                using (HttpClient emks = Client(DevPki.Emks))
                {
                    Assert.Equal(HttpStatusCode.NoContent, (await emks.PostAsJsonAsync(url + KeyPushApi.Path, body)).StatusCode);
                }

                using var dev = new TestDevice(EmseApp.GetCoapEndPoint(app), kid, key, 80);
                Protected p = dev.Build(new long[] { 9 });
                Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));
                Assert.Equal(0, source.Calls);

                EmksPushRegistration reg = app.Services.GetRequiredService<EmksPushRegistration>();
                Assert.True(reg.Configured);
                int status = await reg.RegisterAsync(new[] { "meter-1" }, default);
                Assert.Equal(0, status);                                        // connection refused: logged, not fatal
            }
            finally
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
    }
}

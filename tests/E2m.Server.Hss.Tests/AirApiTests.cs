using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Hss.Subscribers;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Hss.Tests
{
    /// <summary>POST /v1/air and the admin API through WebApplicationFactory, on SQLite (and PostgreSQL in the subclass).</summary>
    public abstract class AirApiSuite
    {
        protected const string Imsi = "001010000000001";

        protected abstract HssFactory NewFactory();

        protected static async Task AddSubscriber(HssFactory f, object body)
        {
            HttpResponseMessage r = await f.Client("admin").PostAsJsonAsync("/v1/admin/subscribers", body);
            Assert.True(r.StatusCode == HttpStatusCode.Created, await r.Content.ReadAsStringAsync());
        }

        protected static object Set1Body(bool e2m = false, bool aks = false, string sqn = "0") => new
        {
            imsi = Imsi, k = Hex.Encode(Set1.K), opc = Hex.Encode(Set1.Opc), sqn, amf = "b9b9", e2m,
            emseIds = new[] { "emse.example.org" }, accessKeySeparation = aks, externalId = e2m ? "meter-42" : null,
        };

        protected static async Task<JsonElement[]> Air(HttpClient c, object body)
        {
            HttpResponseMessage r = await c.PostAsJsonAsync("/v1/air", body);
            string text = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == HttpStatusCode.OK, $"{(int)r.StatusCode}: {text}");
            Assert.Equal("no-store", r.Headers.CacheControl?.ToString());
            return JsonDocument.Parse(text).RootElement.GetProperty("vectors").EnumerateArray().ToArray();
        }

        /// <summary>SQN from AUTN with K/OPc (USIM side, E2m.Crypto), or fails when MAC-A is wrong.</summary>
        protected static ulong VerifyAutn(JsonElement v)
        {
            var m = new Milenage(new PlatformAes128());
            m.SetKey(Set1.K, Set1.Opc);
            byte[] sqn = new byte[6];
            Assert.True(Aka.TryVerifyAutn(m, Hex.Decode(v.GetProperty("rand").GetString()), Hex.Decode(v.GetProperty("autn").GetString()), sqn), "MAC-A");
            return SqnMath.FromBytes(sqn);
        }

        private static string S(JsonElement v, string name) => v.GetProperty(name).GetString()!;

        [SkippableFact]
        public async Task UtranAirReturnsVerifiableLowercaseVectorsWithoutKasme()
        {
            using HssFactory f = NewFactory();
            await AddSubscriber(f, Set1Body());
            JsonElement[] vs = await Air(f.Client("serving-node"), new { imsi = Imsi, numVectors = 3, rat = "utran" });
            Assert.Equal(3, vs.Length);
            ulong? previous = null;
            foreach (JsonElement v in vs)
            {
                Assert.Equal(new[] { "rand", "xres", "autn", "ck", "ik" }, v.EnumerateObject().Select(p => p.Name).ToArray());
                foreach (JsonProperty p in v.EnumerateObject())
                {
                    Assert.Equal(p.Value.GetString()!.ToLowerInvariant(), p.Value.GetString());
                }

                Assert.Equal(32, S(v, "rand").Length);
                Assert.Equal(16, S(v, "xres").Length);
                ulong sqn = VerifyAutn(v);
                Assert.Equal("39b9", S(v, "autn").Substring(12, 4)); // UTRAN: separation bit cleared from AMF b9b9 (TS 33.102 Annex H)
                if (previous != null)
                {
                    Assert.Equal(SqnMath.Seq(previous.Value) + 1, SqnMath.Seq(sqn)); // one batch: SEQ+1, same IND
                    Assert.Equal(SqnMath.Ind(previous.Value), SqnMath.Ind(sqn));
                }

                previous = sqn;
            }
        }

        [SkippableFact]
        public async Task EutranAirCarriesKasmeForThePlmnAndTheSeparationBit()
        {
            using HssFactory f = NewFactory();
            await AddSubscriber(f, Set1Body());
            JsonElement v = (await Air(f.Client("serving-node"), new { imsi = Imsi, numVectors = 1, rat = "eutran", plmn = "00101" }))[0];
            Assert.Equal("b9b9", S(v, "autn").Substring(12, 4));
            VerifyAutn(v);
            byte[] s = Hex.Decode("1000f1100003" + S(v, "autn").Substring(0, 12) + "0006"); // TS 33.401 A.2 with SN id 00 f1 10
            byte[] kasme = HMACSHA256.HashData(Hex.Decode(S(v, "ck") + S(v, "ik")), s);
            Assert.Equal(Hex.Encode(kasme), S(v, "kasme"));
        }

        /// <summary>e2m subscriber: the HSS pushes e2m_int_key/KID/policy and answers only after the EMKS accepted.</summary>
        [SkippableFact]
        public async Task E2mPushHappensBeforeTheAnswerAndMatchesTheVectors()
        {
            using HssFactory f = NewFactory();
            await AddSubscriber(f, Set1Body(e2m: true));
            var pushed = new TaskCompletionSource();
            var release = new TaskCompletionSource();
            f.Emks.OnPush = async _ =>
            {
                pushed.SetResult();
                await release.Task;
            };
            Task<HttpResponseMessage> air = f.Client("serving-node").PostAsJsonAsync("/v1/air", new { imsi = Imsi, numVectors = 2, rat = "utran" });
            await pushed.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.False(air.IsCompleted, "the AIR answered before the EMKS push completed");
            release.SetResult();
            HttpResponseMessage resp = await air;
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
            JsonElement[] vs = JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement.GetProperty("vectors").EnumerateArray().ToArray();

            E2mKeyPushRequest push = Assert.Single(f.Emks.Pushes);
            Assert.Equal(2, push.Keys.Count);
            for (int i = 0; i < 2; i++)
            {
                JsonElement v = vs[i];
                Assert.Equal("79b9", S(v, "autn").Substring(12, 4)); // e2m bit 0x4000 set, separation bit clear (UTRAN)
                Assert.False(v.TryGetProperty("kid", out _), "serving nodes do not get the KID");
                byte[] intKey = HMACSHA256.HashData(Hex.Decode(S(v, "ck") + S(v, "ik")), new byte[] { 0xE0 }.Concat(Encoding.ASCII.GetBytes("e2m_CIoT")).Concat(new byte[] { 0, 8 }).ToArray());
                E2mKeyPush k = push.Keys[i];
                Assert.Equal(Hex.Encode(intKey), k.E2mIntKey);
                Assert.Equal(16, k.Kid.Length);
                Assert.Equal(S(v, "rand"), k.Rand);
                Assert.Equal(32, k.Subscriber.SubscriptionId.Length);
                Assert.Equal("meter-42", k.Subscriber.ExternalId);
                Assert.Equal(new[] { "emse.example.org" }, k.Subscriber.AllowedEmseIds);
                long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
                Assert.InRange(k.Expiry, now + E2mProfile.DefaultKeyLifetimeSeconds - 600, now + E2mProfile.DefaultKeyLifetimeSeconds + 600);
            }

            Assert.DoesNotContain(Imsi, JsonSerializer.Serialize(push)); // never the IMSI
        }

        [SkippableFact]
        public async Task AirFailsWithoutVectorsWhenTheEmksPushFails()
        {
            using HssFactory f = NewFactory();
            await AddSubscriber(f, Set1Body(e2m: true));
            f.Emks.Fail = true;
            HttpResponseMessage r = await f.Client("serving-node").PostAsJsonAsync("/v1/air", new { imsi = Imsi, numVectors = 2, rat = "eutran", plmn = "00101" });
            string body = await r.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadGateway, r.StatusCode);
            Assert.False(JsonDocument.Parse(body).RootElement.TryGetProperty("vectors", out _), body);
            Assert.Contains("EMKS", body);

            // The SQNs of the failed AIR are skipped, never reissued.
            f.Emks.Fail = false;
            JsonElement v = (await Air(f.Client("serving-node"), new { imsi = Imsi, numVectors = 1, rat = "utran" }))[0];
            Assert.Equal(3, SqnMath.Seq(VerifyAutn(v)));
        }

        [SkippableFact]
        public async Task AccessKeySeparationGivesCkPrimeIkPrimeAndPushesTheKeyOfTheRealCkIk()
        {
            using HssFactory f = NewFactory();
            await AddSubscriber(f, Set1Body(e2m: true, aks: true));
            JsonElement v = (await Air(f.Client("serving-node"), new { imsi = Imsi, numVectors = 1, rat = "utran" }))[0];
            var m = new Milenage(new PlatformAes128());
            m.SetKey(Set1.K, Set1.Opc);
            byte[] ck = new byte[16], ik = new byte[16];
            m.F2345(Hex.Decode(S(v, "rand")), null, ck, ik, null);
            byte[] ckIk = ck.Concat(ik).ToArray();
            byte[] access = HMACSHA256.HashData(ckIk, new byte[] { 0xE3 }.Concat(Encoding.ASCII.GetBytes("e2m_access")).Concat(new byte[] { 0, 10 }).ToArray());
            Assert.Equal(Hex.Encode(access.Take(16).ToArray()), S(v, "ck"));
            Assert.Equal(Hex.Encode(access.Skip(16).ToArray()), S(v, "ik"));
            byte[] intKey = HMACSHA256.HashData(ckIk, new byte[] { 0xE0 }.Concat(Encoding.ASCII.GetBytes("e2m_CIoT")).Concat(new byte[] { 0, 8 }).ToArray());
            Assert.Equal(Hex.Encode(intKey), Assert.Single(Assert.Single(f.Emks.Pushes).Keys).E2mIntKey);
        }

        /// <summary>Resync with an AUTS made by E2m.Crypto (USIM side): the next vector continues at SEQ_MS + 1; a bad MAC-S is refused.</summary>
        [SkippableFact]
        public async Task ResyncFromRandAndAutsContinuesAfterSqnMs()
        {
            using HssFactory f = NewFactory();
            await AddSubscriber(f, Set1Body());
            HttpClient c = f.Client("serving-node");
            JsonElement first = (await Air(c, new { imsi = Imsi, numVectors = 1, rat = "utran" }))[0];
            byte[] rand = Hex.Decode(S(first, "rand"));
            var m = new Milenage(new PlatformAes128());
            m.SetKey(Set1.K, Set1.Opc);
            byte[] sqnMs = new byte[6], auts = new byte[14];
            SqnMath.ToBytes(SqnMath.Compose(4242, 12), sqnMs);
            Aka.BuildAuts(m, rand, sqnMs, auts);
            JsonElement[] vs = await Air(c, new { imsi = Imsi, numVectors = 2, rat = "utran", resync = new { rand = Hex.Encode(rand), auts = Hex.Encode(auts) } });
            Assert.Equal(4243, SqnMath.Seq(VerifyAutn(vs[0])));
            Assert.Equal(4244, SqnMath.Seq(VerifyAutn(vs[1])));

            auts[10] ^= 0x40;
            HttpResponseMessage bad = await c.PostAsJsonAsync("/v1/air", new { imsi = Imsi, numVectors = 1, rat = "utran", resync = new { rand = Hex.Encode(rand), auts = Hex.Encode(auts) } });
            Assert.Equal(HttpStatusCode.Forbidden, bad.StatusCode);
            Assert.Contains("MAC-S", await bad.Content.ReadAsStringAsync());
        }

        [SkippableTheory]
        [InlineData("truncated JSON", "{\"imsi\":\"00101", "malformed JSON")]
        [InlineData("not an object", "[1,2]", "malformed JSON")]
        [InlineData("unknown member", "{\"imsi\":\"001010000000001\",\"rat\":\"utran\",\"bogus\":1}", "malformed JSON")]
        [InlineData("numVectors as string", "{\"imsi\":\"001010000000001\",\"rat\":\"utran\",\"numVectors\":\"2\"}", "malformed JSON")]
        [InlineData("empty body", "", "empty")]
        [InlineData("missing imsi", "{\"rat\":\"utran\"}", "imsi is required")]
        [InlineData("IMSI with letters", "{\"imsi\":\"00101abc\",\"rat\":\"utran\"}", "imsi must be")]
        [InlineData("bad rat", "{\"imsi\":\"001010000000001\",\"rat\":\"gsm\"}", "rat must be")]
        [InlineData("numVectors 0", "{\"imsi\":\"001010000000001\",\"rat\":\"utran\",\"numVectors\":0}", "numVectors must be")]
        [InlineData("numVectors 1000", "{\"imsi\":\"001010000000001\",\"rat\":\"utran\",\"numVectors\":1000}", "numVectors must be")]
        [InlineData("eutran without plmn", "{\"imsi\":\"001010000000001\",\"rat\":\"eutran\"}", "plmn must be")]
        [InlineData("short AUTS", "{\"imsi\":\"001010000000001\",\"rat\":\"utran\",\"resync\":{\"rand\":\"00000000000000000000000000000000\",\"auts\":\"00\"}}", "resync.auts")]
        [InlineData("deep nesting", "{\"resync\":{\"rand\":[[[[[[[[[[1]]]]]]]]]]}}", "malformed JSON")]
        public async Task MalformedRequestsAre400WithAClearError(string source, string body, string expected)
        {
            using HssFactory f = NewFactory();
            HttpResponseMessage r = await f.Client("serving-node").PostAsync("/v1/air", new StringContent(body, Encoding.UTF8, "application/json"));
            string text = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == HttpStatusCode.BadRequest, $"{source}: {(int)r.StatusCode} {text}");
            Assert.True(text.Contains(expected, StringComparison.Ordinal), $"{source}: {text}");
        }

        [SkippableFact]
        public async Task OversizedAndWrongContentTypeAre400()
        {
            using HssFactory f = NewFactory();
            HttpClient c = f.Client("serving-node");
            string big = "{\"imsi\":\"001010000000001\",\"rat\":\"utran\",\"plmn\":\"" + new string('0', 10000) + "\"}";
            HttpResponseMessage r = await c.PostAsync("/v1/air", new StringContent(big, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains("too large", await r.Content.ReadAsStringAsync());
            r = await c.PostAsync("/v1/air", new StringContent("imsi=1", Encoding.UTF8, "application/x-www-form-urlencoded"));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains("Content-Type", await r.Content.ReadAsStringAsync());
        }

        [SkippableFact]
        public async Task UnknownSubscriberIs404()
        {
            using HssFactory f = NewFactory();
            HttpResponseMessage r = await f.Client("serving-node").PostAsJsonAsync("/v1/air", new { imsi = "001019999999999", rat = "utran" });
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
            Assert.DoesNotContain("001019999999999", await r.Content.ReadAsStringAsync());
        }

        [SkippableFact]
        public async Task ClientCertificatesAreCheckedPerApi()
        {
            using HssFactory f = NewFactory();
            await AddSubscriber(f, Set1Body(e2m: true));
            DevPki.Init(f.DataDir, new[] { "emse.example.org" });
            object air = new { imsi = Imsi, rat = "utran" };
            Assert.Equal(HttpStatusCode.Unauthorized, (await f.Client(null).PostAsJsonAsync("/v1/air", air)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await f.Client("foreign").PostAsJsonAsync("/v1/air", air)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await f.Client("emse-emse.example.org").PostAsJsonAsync("/v1/air", air)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await f.Client("admin").PostAsJsonAsync("/v1/air", air)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await f.Client("serving-node").GetAsync("/v1/admin/subscribers")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await f.Client(null).GetAsync("/v1/admin/subscribers")).StatusCode);
            Assert.Empty(f.Emks.Pushes);

            // The EMKS (home-mode bootstrap) may call the AIR and additionally receives the KID of each vector.
            JsonElement v = (await Air(f.Client("emks"), air))[0];
            Assert.Equal(Assert.Single(Assert.Single(f.Emks.Pushes).Keys).Kid, S(v, "kid"));
        }

        [SkippableFact]
        public async Task AdminApiAddListShowUpdateDeleteWithoutSecrets()
        {
            using HssFactory f = NewFactory();
            HttpClient admin = f.Client("admin");
            await AddSubscriber(f, Set1Body(e2m: true));
            HttpResponseMessage dup = await admin.PostAsJsonAsync("/v1/admin/subscribers", Set1Body());
            Assert.Equal(HttpStatusCode.Conflict, dup.StatusCode);
            HttpResponseMessage bad = await admin.PostAsJsonAsync("/v1/admin/subscribers", new { imsi = "001010000000002", k = "00", opc = Hex.Encode(Set1.Opc) });
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            // a null inside emseIds (valid JSON for a list of strings) is a 400 problem, never a 500, on add and on update
            var withNull = new StringContent("{\"imsi\":\"001010000000002\",\"k\":\"" + Hex.Encode(Set1.K) + "\",\"opc\":\"" + Hex.Encode(Set1.Opc)
                + "\",\"emseIds\":[\"a.example.org\",null]}", System.Text.Encoding.UTF8, "application/json");
            HttpResponseMessage nullId = await admin.PostAsync("/v1/admin/subscribers", withNull);
            Assert.Equal(HttpStatusCode.BadRequest, nullId.StatusCode);
            Assert.Contains("emseIds", await nullId.Content.ReadAsStringAsync());
            HttpResponseMessage nullPatch = await admin.PatchAsync("/v1/admin/subscribers/" + Imsi,
                new StringContent("{\"emseIds\":[null]}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, nullPatch.StatusCode);

            string list = await admin.GetStringAsync("/v1/admin/subscribers");
            string show = await admin.GetStringAsync("/v1/admin/subscribers/" + Imsi);
            foreach (string text in new[] { list, show })
            {
                Assert.DoesNotContain(Hex.Encode(Set1.K), text);
                Assert.DoesNotContain(Hex.Encode(Set1.Opc), text);
                Assert.DoesNotContain("\"k\"", text);
                Assert.DoesNotContain("\"opc\"", text);
            }

            JsonElement s = JsonDocument.Parse(show).RootElement;
            Assert.True(s.GetProperty("e2m").GetBoolean());
            Assert.Equal("b9b9", s.GetProperty("amf").GetString());

            HttpResponseMessage patched = await admin.PatchAsJsonAsync("/v1/admin/subscribers/" + Imsi, new { e2m = false, emseIds = new[] { "b.example.org" }, minGea = 4, externalId = "" });
            Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
            JsonElement p = JsonDocument.Parse(await patched.Content.ReadAsStringAsync()).RootElement;
            Assert.False(p.GetProperty("e2m").GetBoolean());
            Assert.Equal("b.example.org", p.GetProperty("emseIds")[0].GetString());
            Assert.Equal(4, p.GetProperty("minGea").GetInt32());
            Assert.False(p.TryGetProperty("externalId", out _));

            Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/v1/admin/subscribers/" + Imsi)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync("/v1/admin/subscribers/" + Imsi)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/v1/admin/subscribers/" + Imsi)).StatusCode);
        }

        /// <summary>
        /// DESIGN.md §5: the GPRS minimum cipher (and access-key separation) travels in the AIR answer as
        /// <c>"policy"</c> next to the unchanged <c>"vectors"</c>; the simulator's HSS client (an independent parser) reads it.
        /// </summary>
        [SkippableFact]
        public async Task AirAnswerCarriesTheSubscriptionPolicyForTheServingNode()
        {
            using HssFactory f = NewFactory();
            await AddSubscriber(f, new { imsi = Imsi, k = Hex.Encode(Set1.K), opc = Hex.Encode(Set1.Opc), minGea = 3, accessKeySeparation = true });
            foreach (string rat in new[] { "utran", "eutran" })
            {
                HttpResponseMessage r = await f.Client("serving-node").PostAsJsonAsync("/v1/air", new { imsi = Imsi, numVectors = 2, rat, plmn = "00101" });
                string text = await r.Content.ReadAsStringAsync();
                Assert.True(r.StatusCode == HttpStatusCode.OK, text);
                JsonElement root = JsonDocument.Parse(text).RootElement;
                Assert.Equal(new[] { "vectors", "policy" }, root.EnumerateObject().Select(p => p.Name).ToArray());
                Assert.Equal(3, root.GetProperty("policy").GetProperty("minGea").GetInt32());
                Assert.True(root.GetProperty("policy").GetProperty("accessKeySeparation").GetBoolean());
                var domain = rat == "eutran" ? E2m.ModemSim.Network.VectorDomain.Eutran : E2m.ModemSim.Network.VectorDomain.Utran;
                E2m.ModemSim.Network.AuthInfo info = E2m.ModemSim.Network.HssAuthVectorSource.ParseResponse(text, domain);
                Assert.Equal(2, info.Vectors.Length);
                Assert.Equal(E2m.ModemSim.Network.GeaAlgorithm.Gea3, info.Policy!.MinimumGea);
                Assert.True(info.Policy.AccessKeySeparation);
            }

            HttpResponseMessage patched = await f.Client("admin").PatchAsJsonAsync("/v1/admin/subscribers/" + Imsi, new { minGea = 0, accessKeySeparation = false });
            Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
            HttpResponseMessage again = await f.Client("serving-node").PostAsJsonAsync("/v1/air", new { imsi = Imsi, rat = "utran" });
            JsonElement policy = JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement.GetProperty("policy");
            Assert.Equal(0, policy.GetProperty("minGea").GetInt32());
            Assert.False(policy.GetProperty("accessKeySeparation").GetBoolean());
        }

        /// <summary>
        /// The simulated SGSN (tools/E2m.ModemSim ServingNode over its HSS client) attaches a simulated USIM on GPRS through
        /// this HSS: it takes the GEA minimum from the AIR answer — GEA4 required, ME offers GEA1..3 → refused (#7) before any
        /// challenge; policy changed to GEA3 → registered with GEA3.
        /// </summary>
        [SkippableFact]
        public async Task SimulatedSgsnEnforcesTheGeaMinimumFromTheAirAnswer()
        {
            using HssFactory f = NewFactory();
            await AddSubscriber(f, new { imsi = Imsi, k = Hex.Encode(Set1.K), opc = Hex.Encode(Set1.Opc), minGea = 4 });
            using var source = new E2m.ModemSim.Network.HssAuthVectorSource(new Uri("http://localhost/"), f.Handler("serving-node"));
            var node = new E2m.ModemSim.Network.ServingNode(source);
            var card = new E2m.ModemSim.Usim.SimulatedUsim(new E2m.ModemSim.Usim.UsimProfile { K = Set1.K.ToArray(), Opc = Set1.Opc.ToArray(), Imsi = Imsi });
            E2m.ModemSim.Network.AttachResult r = await node.AttachAsync(new E2m.ModemSim.Network.SimulatedUe(card), E2m.ModemSim.Modem.SimRat.Gprs);
            Assert.True(r.Status == E2m.ModemSim.Network.AttachStatus.Denied, r.ToString());
            Assert.Equal(E2m.ModemSim.Network.DenyReason.CipheringBelowPolicy, r.DenyReason);
            Assert.Equal(0, r.AuthAttempts);

            Assert.Equal(HttpStatusCode.OK, (await f.Client("admin").PatchAsJsonAsync("/v1/admin/subscribers/" + Imsi, new { minGea = 3 })).StatusCode);
            r = await node.AttachAsync(new E2m.ModemSim.Network.SimulatedUe(card), E2m.ModemSim.Modem.SimRat.Gprs);
            Assert.True(r.Status == E2m.ModemSim.Network.AttachStatus.RegisteredHome, r.ToString());
            Assert.Equal(E2m.ModemSim.Network.GeaAlgorithm.Gea3, r.Gea);
        }

        /// <summary>
        /// TS 33.102 Annex C.2.1 end to end with the simulated USIM (Δ = 8 on both sides): 8 vectors lost in the network are
        /// still within Δ; the 9th AIR is refused with 409 and a clear detail instead of a vector the USIM would reject; a USIM
        /// that is ahead (SEQ_MS 700) gets resynchronised by RAND+AUTS and then accepts.
        /// </summary>
        [SkippableFact]
        public async Task DeltaWindowAndResyncAgainstTheSimulatedUsim()
        {
            using HssFactory f = NewFactory();
            f.Settings["Hss:Sqn:Delta"] = "8";
            await AddSubscriber(f, Set1Body());
            HttpClient c = f.Client("serving-node");
            for (int i = 0; i < 8; i++)
            {
                await Air(c, new { imsi = Imsi, numVectors = 1, rat = "utran" }); // lost: never presented to the USIM
            }

            HttpResponseMessage refused = await c.PostAsJsonAsync("/v1/air", new { imsi = Imsi, numVectors = 1, rat = "utran" });
            string detail = await refused.Content.ReadAsStringAsync();
            Assert.True(refused.StatusCode == HttpStatusCode.Conflict, detail);
            Assert.Contains("Annex C.2.1", detail);
            Assert.Contains("Δ = 8", detail);

            // A USIM that accepted SEQ 700 in every IND slot elsewhere: first challenge → sync failure → resync → accepted.
            using HssFactory g = NewFactory();
            g.Settings["Hss:Sqn:Delta"] = "8";
            await AddSubscriber(g, Set1Body());
            using var source = new E2m.ModemSim.Network.HssAuthVectorSource(new Uri("http://localhost/"), g.Handler("serving-node"));
            var profile = new E2m.ModemSim.Usim.UsimProfile { K = Set1.K.ToArray(), Opc = Set1.Opc.ToArray(), Imsi = Imsi, Delta = 8, AcceptedSqns = Enumerable.Range(0, 32).Select(i => (700UL << 5) | (uint)i).ToArray() };
            var card = new E2m.ModemSim.Usim.SimulatedUsim(profile);
            E2m.ModemSim.Network.AttachResult r = await new E2m.ModemSim.Network.ServingNode(source).AttachAsync(new E2m.ModemSim.Network.SimulatedUe(card), E2m.ModemSim.Modem.SimRat.Umts);
            Assert.True(r.Status == E2m.ModemSim.Network.AttachStatus.RegisteredHome, r.ToString());
            Assert.True(r.Resynchronised);
            JsonElement show = JsonDocument.Parse(await g.Client("admin").GetStringAsync("/v1/admin/subscribers/" + Imsi)).RootElement;
            Assert.Equal(700, show.GetProperty("seqMs").GetInt64());
            Assert.Equal(701, show.GetProperty("seq").GetInt64());
        }

        /// <summary>
        /// DESIGN.md §5 access-key separation end to end with the simulator's e2m-aware ME: the simulated MME gets CK'/IK'-based
        /// KASME from this HSS; an ME that also derives CK'/IK' completes the LTE-M attach, an ME that uses the plain CK/IK
        /// does not agree on KASME (security mode failure). The EMKS received e2m_int_key of the real CK/IK either way.
        /// </summary>
        [SkippableFact]
        public async Task AccessKeySeparationAgreesWithTheSimulatedE2mAwareMe()
        {
            using HssFactory f = NewFactory();
            await AddSubscriber(f, Set1Body(e2m: true, aks: true));
            using var source = new E2m.ModemSim.Network.HssAuthVectorSource(new Uri("http://localhost/"), f.Handler("serving-node"));
            var node = new E2m.ModemSim.Network.ServingNode(source, new E2m.ModemSim.Network.ServingNodeOptions { Plmn = "00101" });
            var card = new E2m.ModemSim.Usim.SimulatedUsim(new E2m.ModemSim.Usim.UsimProfile { K = Set1.K.ToArray(), Opc = Set1.Opc.ToArray(), Imsi = Imsi });
            var aware = new E2m.ModemSim.Network.SimulatedUe(card) { AccessKeySeparation = true };
            E2m.ModemSim.Network.AttachResult r = await node.AttachAsync(aware, E2m.ModemSim.Modem.SimRat.LteM);
            Assert.True(r.Status == E2m.ModemSim.Network.AttachStatus.RegisteredHome, r.ToString());
            r = await node.AttachAsync(new E2m.ModemSim.Network.SimulatedUe(card), E2m.ModemSim.Modem.SimRat.LteM);
            Assert.True(r.Status == E2m.ModemSim.Network.AttachStatus.SecurityModeFailure, r.ToString());
            Assert.Equal(2, f.Emks.Pushes.Count);
            byte[] realCkIk = aware.UsimCk!.Concat(aware.UsimIk!).ToArray();
            byte[] intKey = HMACSHA256.HashData(realCkIk, new byte[] { 0xE0 }.Concat(Encoding.ASCII.GetBytes("e2m_CIoT")).Concat(new byte[] { 0, 8 }).ToArray());
            Assert.Equal(Hex.Encode(intKey), Assert.Single(f.Emks.Pushes[0].Keys).E2mIntKey);
        }

        [SkippableFact]
        public async Task HealthIsOpenAndReportsTheDatabase()
        {
            using HssFactory f = NewFactory();
            HttpResponseMessage r = await f.Client(null).GetAsync("/health");
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            JsonElement h = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("Healthy", h.GetProperty("status").GetString());
            Assert.Equal("hss", h.GetProperty("service").GetString());
            Assert.Equal("Healthy", h.GetProperty("checks").GetProperty("database").GetString());
        }
    }

    public sealed class AirApiSqliteTests : AirApiSuite
    {
        protected override HssFactory NewFactory() => new();
    }

    public sealed class AirApiPostgresTests : AirApiSuite
    {
        protected override HssFactory NewFactory() => new(PostgresTestDatabase.Create("hssapi"));
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Network;
using E2m.ModemSim.Usim;
using Xunit;
using static E2m.ModemSim.Tests.Usim.CardHelper;

namespace E2m.ModemSim.Tests.Network
{
    /// <summary>The HSS client against an in-memory HSS that speaks the issue-6 contract (backed by a LocalAuc).</summary>
    public class HssAuthVectorSourceTests
    {
        private const string Imsi = "001010000000077";

        /// <summary>POST /v1/air per issue 6; records the request bodies; can be told to misbehave.</summary>
        private sealed class FakeHss : HttpMessageHandler
        {
            private readonly LocalAuc _auc;

            public FakeHss(LocalAuc auc) => _auc = auc;

            public List<JsonDocument> Requests { get; } = new();
            public HttpStatusCode? ForceStatus { get; set; }
            public string? ForceBody { get; set; }
            public string? PolicyJson { get; set; }

            protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                Assert.Equal(HttpMethod.Post, request.Method);
                Assert.Equal("/v1/air", request.RequestUri!.AbsolutePath);
                Assert.Equal("application/json", request.Content!.Headers.ContentType!.MediaType);
                JsonDocument doc = JsonDocument.Parse(await request.Content.ReadAsStringAsync(cancellationToken));
                Requests.Add(doc);
                if (ForceStatus.HasValue) return new HttpResponseMessage(ForceStatus.Value);
                if (ForceBody != null) return Json(ForceBody);
                JsonElement r = doc.RootElement;
                byte[]? rand = null, auts = null;
                if (r.TryGetProperty("resync", out JsonElement rs))
                {
                    rand = Convert.FromHexString(rs.GetProperty("rand").GetString()!);
                    auts = Convert.FromHexString(rs.GetProperty("auts").GetString()!);
                }

                AuthInfo info;
                try
                {
                    info = await _auc.GetAuthInfoAsync(new AuthInfoRequest
                    {
                        Imsi = r.GetProperty("imsi").GetString()!,
                        NumVectors = r.GetProperty("numVectors").GetInt32(),
                        Domain = r.GetProperty("rat").GetString() == "eutran" ? VectorDomain.Eutran : VectorDomain.Utran,
                        Plmn = r.GetProperty("plmn").GetString()!,
                        ResyncRand = rand,
                        ResyncAuts = auts,
                    }, cancellationToken);
                }
                catch (AuthInfoException e) when (e.Error == AuthInfoError.UnknownSubscriber)
                {
                    return new HttpResponseMessage(HttpStatusCode.NotFound);
                }

                string vectors = string.Join(",", info.Vectors.Select(v =>
                    "{" + $"\"rand\":\"{H(v.Rand)}\",\"xres\":\"{H(v.Xres)}\",\"autn\":\"{H(v.Autn)}\",\"ck\":\"{H(v.Ck)}\",\"ik\":\"{H(v.Ik)}\"" +
                    (v.Kasme != null ? $",\"kasme\":\"{H(v.Kasme)}\"" : "") + "}"));
                return Json("{\"vectors\":[" + vectors + "]" + (PolicyJson != null ? ",\"policy\":" + PolicyJson : "") + "}");
            }

            private static string H(byte[] b) => Convert.ToHexStringLower(b);

            private static HttpResponseMessage Json(string body) =>
                new(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        }

        private static (SimulatedUsim Card, FakeHss Hss, HssAuthVectorSource Source) Rig(int seed, ulong[]? accepted = null)
        {
            UsimProfile p = RandomProfile(new Random(seed));
            p.Imsi = Imsi;
            p.AcceptedSqns = accepted ?? Array.Empty<ulong>();
            var auc = new LocalAuc(seed);
            auc.AddSubscriber(new AucSubscriber { Imsi = Imsi, K = p.K, Opc = p.Opc });
            var hss = new FakeHss(auc);
            return (new SimulatedUsim(p), hss, new HssAuthVectorSource(new Uri("https://hss.test:8443/"), hss));
        }

        [Fact]
        public void Attach_through_the_hss_api_sends_the_contract_request()
        {
            (SimulatedUsim card, FakeHss hss, HssAuthVectorSource source) = Rig(21);
            AttachResult r = new ServingNode(source, new ServingNodeOptions { Plmn = "00101" }).Attach(new SimulatedUe(card), SimRat.LteM);
            Assert.Equal(AttachStatus.RegisteredHome, r.Status);
            JsonElement req = Assert.Single(hss.Requests).RootElement;
            Assert.Equal(Imsi, req.GetProperty("imsi").GetString());
            Assert.Equal(1, req.GetProperty("numVectors").GetInt32());
            Assert.Equal("eutran", req.GetProperty("rat").GetString());
            Assert.Equal("00101", req.GetProperty("plmn").GetString());
            Assert.False(req.TryGetProperty("resync", out _));
        }

        [Fact]
        public void Resync_goes_to_the_hss_with_rand_and_auts()
        {
            (SimulatedUsim card, FakeHss hss, HssAuthVectorSource source) = Rig(22, new[] { (700UL << 5) | 0 });
            AttachResult r = new ServingNode(source).Attach(new SimulatedUe(card), SimRat.Umts);
            Assert.Equal(AttachStatus.RegisteredHome, r.Status);
            Assert.True(r.Resynchronised);
            Assert.Equal(2, hss.Requests.Count);
            JsonElement first = hss.Requests[0].RootElement, second = hss.Requests[1].RootElement;
            Assert.Equal("utran", first.GetProperty("rat").GetString());
            JsonElement resync = second.GetProperty("resync");
            Assert.Equal(32, resync.GetProperty("rand").GetString()!.Length);
            Assert.Equal(28, resync.GetProperty("auts").GetString()!.Length);
            Assert.Equal(resync.GetProperty("rand").GetString(), resync.GetProperty("rand").GetString()!.ToLowerInvariant());
            Assert.Equal(701, card.Sqn.SeqMsMax);
        }

        [Fact]
        public void Hss_errors_and_malformed_answers_are_typed()
        {
            (SimulatedUsim card, FakeHss hss, HssAuthVectorSource source) = Rig(23);
            var node = new ServingNode(source);
            hss.ForceStatus = HttpStatusCode.NotFound;
            AttachResult r = node.Attach(new SimulatedUe(card), SimRat.Umts);
            Assert.Equal(AttachStatus.Denied, r.Status);
            Assert.Equal(DenyReason.UnknownSubscriber, r.DenyReason);
            hss.ForceStatus = HttpStatusCode.InternalServerError;
            Assert.Equal(AttachStatus.NetworkFailure, node.Attach(new SimulatedUe(card), SimRat.Umts).Status);
            hss.ForceStatus = null;
            foreach (string bad in new[] { "{", "{}", "{\"vectors\":[]}", "{\"vectors\":[{\"rand\":\"00\"}]}",
                "{\"vectors\":[{\"rand\":\"zz\",\"xres\":\"00\",\"autn\":\"00\",\"ck\":\"00\",\"ik\":\"00\"}]}" })
            {
                hss.ForceBody = bad;
                Assert.Equal(AttachStatus.NetworkFailure, node.Attach(new SimulatedUe(card), SimRat.Umts).Status);
            }

            // EPS answer without kasme is malformed.
            hss.ForceBody = null;
            Assert.Throws<AuthInfoException>(() => HssAuthVectorSource.ParseResponse(
                "{\"vectors\":[{\"rand\":\"" + new string('0', 32) + "\",\"xres\":\"" + new string('0', 16) + "\",\"autn\":\"" + new string('0', 32) +
                "\",\"ck\":\"" + new string('0', 32) + "\",\"ik\":\"" + new string('0', 32) + "\"}]}", VectorDomain.Eutran));
            Assert.All(SeqArray(card), s => Assert.Equal(0, s));
        }

        [Fact]
        public void Policy_extension_in_the_answer_is_enforced()
        {
            (SimulatedUsim card, FakeHss hss, HssAuthVectorSource source) = Rig(24);
            hss.PolicyJson = "{\"minGea\":4}";
            AttachResult r = new ServingNode(source).Attach(new SimulatedUe(card), SimRat.Gprs);
            Assert.Equal(DenyReason.CipheringBelowPolicy, r.DenyReason);
            hss.PolicyJson = "{\"psAllowed\":false}";
            Assert.Equal(DenyReason.PsNotAllowed, new ServingNode(source).Attach(new SimulatedUe(card), SimRat.Umts).DenyReason);
        }

        [Fact]
        public void Request_json_shape()
        {
            string json = HssAuthVectorSource.BuildRequestJson(new AuthInfoRequest
            {
                Imsi = Imsi, NumVectors = 2, Domain = VectorDomain.Utran, Plmn = "310410",
                ResyncRand = new byte[16], ResyncAuts = Enumerable.Repeat((byte)0xAB, 14).ToArray(),
            });
            Assert.Equal("{\"imsi\":\"001010000000077\",\"numVectors\":2,\"rat\":\"utran\",\"plmn\":\"310410\",\"resync\":{\"rand\":\"" +
                new string('0', 32) + "\",\"auts\":\"" + string.Concat(Enumerable.Repeat("ab", 14)) + "\"}}", json);
        }
    }
}

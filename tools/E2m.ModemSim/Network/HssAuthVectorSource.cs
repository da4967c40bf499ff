using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace E2m.ModemSim.Network
{
    /// <summary>
    /// Vectors from our HSS (issue 6 contract): <c>POST /v1/air</c> with JSON
    /// <c>{"imsi","numVectors","rat":"utran"|"eutran","plmn"[,"resync":{"rand","auts"}]}</c> →
    /// <c>{"vectors":[{"rand","xres","autn","ck","ik"[,"kasme"]}]}</c>, lowercase hex. An optional
    /// <c>"policy":{"minGea":0..5,"accessKeySeparation":bool,"psAllowed":bool}</c> in the answer is honoured (the HSS's
    /// extension of the contract, sent with every AIR answer; absent = the serving node's default policy). The caller's <see cref="HttpMessageHandler"/> carries the
    /// mutual-TLS client certificate (e.g. a SocketsHttpHandler with SslOptions.ClientCertificates).
    /// </summary>
    public sealed class HssAuthVectorSource : IAuthVectorSource, IDisposable
    {
        private readonly HttpClient _http;

        public HssAuthVectorSource(Uri baseAddress, HttpMessageHandler handler, bool disposeHandler = true)
        {
            ArgumentNullException.ThrowIfNull(baseAddress);
            ArgumentNullException.ThrowIfNull(handler);
            _http = new HttpClient(handler, disposeHandler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(10) };
        }

        public async Task<AuthInfo> GetAuthInfoAsync(AuthInfoRequest request, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            string body = BuildRequestJson(request);
            HttpResponseMessage response;
            try
            {
                using var content = new StringContent(body, Encoding.UTF8, "application/json");
                response = await _http.PostAsync("v1/air", content, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new AuthInfoException(AuthInfoError.Unavailable, "HSS unreachable: " + e.Message, e);
            }
            catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new AuthInfoException(AuthInfoError.Unavailable, "HSS timeout", e);
            }

            using (response)
            {
                string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    AuthInfoError error = response.StatusCode switch
                    {
                        HttpStatusCode.NotFound => AuthInfoError.UnknownSubscriber,
                        HttpStatusCode.BadRequest when request.ResyncAuts != null => AuthInfoError.ResyncRejected,
                        HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity => AuthInfoError.BadRequest,
                        _ => AuthInfoError.Unavailable,
                    };
                    throw new AuthInfoException(error, $"HSS answered {(int)response.StatusCode}");
                }

                return ParseResponse(text, request.Domain);
            }
        }

        /// <summary>The request body of the issue-6 contract.</summary>
        public static string BuildRequestJson(AuthInfoRequest request)
        {
            var o = new Dictionary<string, object>
            {
                ["imsi"] = request.Imsi,
                ["numVectors"] = request.NumVectors,
                ["rat"] = request.Domain == VectorDomain.Eutran ? "eutran" : "utran",
                ["plmn"] = request.Plmn,
            };
            if (request.ResyncRand != null && request.ResyncAuts != null)
            {
                o["resync"] = new Dictionary<string, string>
                {
                    ["rand"] = Convert.ToHexStringLower(request.ResyncRand),
                    ["auts"] = Convert.ToHexStringLower(request.ResyncAuts),
                };
            }

            return JsonSerializer.Serialize(o);
        }

        /// <summary>Parses and validates an AIR answer (lengths per TS 33.102 §6.3.2 / TS 33.401 A.2); malformed → Unavailable.</summary>
        public static AuthInfo ParseResponse(string json, VectorDomain domain)
        {
            try
            {
                using JsonDocument doc = JsonDocument.Parse(json);
                JsonElement vectors = doc.RootElement.GetProperty("vectors");
                var list = new List<AuthVector>();
                foreach (JsonElement v in vectors.EnumerateArray())
                {
                    list.Add(new AuthVector
                    {
                        Rand = Field(v, "rand", 16, 16),
                        Xres = Field(v, "xres", 4, 16),
                        Autn = Field(v, "autn", 16, 16),
                        Ck = Field(v, "ck", 16, 16),
                        Ik = Field(v, "ik", 16, 16),
                        Kasme = domain == VectorDomain.Eutran ? Field(v, "kasme", 32, 32) :
                            v.TryGetProperty("kasme", out JsonElement k) && k.ValueKind == JsonValueKind.String ? Convert.FromHexString(k.GetString()!) : null,
                    });
                }

                if (list.Count == 0) throw new AuthInfoException(AuthInfoError.Unavailable, "HSS answered no vectors");
                SubscriptionPolicy? policy = null;
                if (doc.RootElement.TryGetProperty("policy", out JsonElement p) && p.ValueKind == JsonValueKind.Object)
                {
                    int minGea = p.TryGetProperty("minGea", out JsonElement g) ? g.GetInt32() : 0;
                    if (minGea < 0 || minGea > 5) throw new AuthInfoException(AuthInfoError.Unavailable, "policy minGea 0..5");
                    policy = new SubscriptionPolicy
                    {
                        MinimumGea = (GeaAlgorithm)minGea,
                        AccessKeySeparation = p.TryGetProperty("accessKeySeparation", out JsonElement a) && a.GetBoolean(),
                        PsAllowed = !p.TryGetProperty("psAllowed", out JsonElement ps) || ps.GetBoolean(),
                    };
                }

                return new AuthInfo { Vectors = list.ToArray(), Policy = policy };
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or FormatException or InvalidOperationException)
            {
                throw new AuthInfoException(AuthInfoError.Unavailable, "malformed HSS answer: " + e.Message, e);
            }
        }

        private static byte[] Field(JsonElement v, string name, int min, int max)
        {
            byte[] b = Convert.FromHexString(v.GetProperty(name).GetString() ?? throw new FormatException(name));
            if (b.Length < min || b.Length > max) throw new FormatException($"{name}: {b.Length} octets");
            return b;
        }

        public void Dispose() => _http.Dispose();
    }
}

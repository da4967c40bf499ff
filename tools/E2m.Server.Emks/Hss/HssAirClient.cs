using System;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using System.Threading;
using System.Threading.Tasks;

namespace E2m.Server.Emks.Hss
{
    /// <summary>One UMTS authentication vector as the EMKS needs it (TS 33.102 §6.3.2): RAND, XRES, AUTN, CK, IK.</summary>
    /// <remarks><see cref="Kid"/>: the KID of the pushed e2m_int_key, which the HSS adds for an <c>emks</c> client.</remarks>
    public sealed record AuthVector(byte[] Rand, byte[] Xres, byte[] Autn, byte[] Ck, byte[] Ik, byte[]? Kid = null);

    /// <summary>Why the HSS gave no vector.</summary>
    public enum AirFailure
    {
        /// <summary>No such subscriber (HSS 404) — answered 4.04 to the device.</summary>
        UnknownSubscriber = 1,

        /// <summary>The HSS refused (400/403/409/422, e.g. AUTS MAC-S failure) — answered 4.03.</summary>
        Refused = 2,

        /// <summary>Network error, timeout, 5xx, or an unusable answer — answered 5.03.</summary>
        Unavailable = 3,
    }

    public sealed class AirException : Exception
    {
        public AirException(AirFailure failure, string message, Exception? inner = null)
            : base(message, inner)
        {
            Failure = failure;
        }

        public AirFailure Failure { get; }
    }

    /// <summary>
    /// The EMKS as a serving-node-like client of the HSS AIR API (issue 6 point 1: <c>POST /v1/air</c>). For an e2m
    /// subscriber the HSS pushes <c>e2m_int_key</c> (with the RAND) to the EMKS before it answers.
    /// </summary>
    public interface IHssAirClient
    {
        /// <summary>One vector; with <paramref name="resyncRand"/>/<paramref name="auts"/> the HSS first resynchronises SQN (TS 33.102 §6.3.5).</summary>
        Task<AuthVector> GetVectorAsync(string imsi, byte[]? resyncRand, byte[]? auts, CancellationToken ct);
    }

    /// <summary>HTTP implementation over an mTLS HttpClient (named client "hss-air").</summary>
    public sealed class HttpHssAirClient : IHssAirClient
    {
        public const string HttpClientName = "hss-air";
        public const string AirPath = "/v1/air";

        private readonly IHttpClientFactory _factory;
        private readonly EmksOptions _options;

        public HttpHssAirClient(IHttpClientFactory factory, EmksOptions options)
        {
            _factory = factory;
            _options = options;
        }

        public async Task<AuthVector> GetVectorAsync(string imsi, byte[]? resyncRand, byte[]? auts, CancellationToken ct)
        {
            var request = new AirRequest
            {
                Imsi = imsi,
                NumVectors = 1,
                Rat = _options.Hss.Rat,
                Resync = resyncRand is null || auts is null ? null : new AirResync { Rand = Convert.ToHexStringLower(resyncRand), Auts = Convert.ToHexStringLower(auts) },
            };
            HttpClient http = _factory.CreateClient(HttpClientName);
            HttpResponseMessage response;
            try
            {
                response = await http.PostAsJsonAsync(new Uri(new Uri(_options.Hss.BaseUrl!), AirPath), request, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                throw new AirException(AirFailure.Unavailable, "HSS not reachable: " + e.GetType().Name, e);
            }

            using (response)
            {
                if (response.StatusCode == HttpStatusCode.NotFound) throw new AirException(AirFailure.UnknownSubscriber, "HSS: unknown subscriber");
                int code = (int)response.StatusCode;
                if (code is 400 or 403 or 409 or 422) throw new AirException(AirFailure.Refused, "HSS refused the AIR: " + code);
                if (!response.IsSuccessStatusCode) throw new AirException(AirFailure.Unavailable, "HSS answered " + code);
                AirResponse? body;
                try
                {
                    body = await response.Content.ReadFromJsonAsync<AirResponse>(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is System.Text.Json.JsonException or NotSupportedException)
                {
                    throw new AirException(AirFailure.Unavailable, "HSS answer is not the AIR JSON", e);
                }

                if (body?.Vectors is not { Length: > 0 } v) throw new AirException(AirFailure.Unavailable, "HSS answered no vector");
                try
                {
                    AirVector x = v[0];
                    var vector = new AuthVector(Hex(x.Rand, 16, 16), Hex(x.Xres, 4, 16), Hex(x.Autn, 16, 16), Hex(x.Ck, 16, 16), Hex(x.Ik, 16, 16),
                        x.Kid is null ? null : Hex(x.Kid, 8, 8));
                    return vector;
                }
                catch (FormatException e)
                {
                    throw new AirException(AirFailure.Unavailable, "HSS vector malformed", e);
                }
            }
        }

        private static byte[] Hex(string? s, int min, int max)
        {
            byte[] b = Convert.FromHexString(s ?? throw new FormatException("missing field"));
            if (b.Length < min || b.Length > max) throw new FormatException("bad length");
            return b;
        }

        // issue 6 point 1 contract (JSON, lowercase hex).
        private sealed class AirRequest
        {
            [JsonPropertyName("imsi")] public string Imsi { get; set; } = string.Empty;
            [JsonPropertyName("numVectors")] public int NumVectors { get; set; }
            [JsonPropertyName("rat")] public string Rat { get; set; } = "utran";
            [JsonPropertyName("resync")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public AirResync? Resync { get; set; }
        }

        private sealed class AirResync
        {
            [JsonPropertyName("rand")] public string Rand { get; set; } = string.Empty;
            [JsonPropertyName("auts")] public string Auts { get; set; } = string.Empty;
        }

        private sealed class AirResponse
        {
            [JsonPropertyName("vectors")] public AirVector[]? Vectors { get; set; }
        }

        private sealed class AirVector
        {
            [JsonPropertyName("rand")] public string? Rand { get; set; }
            [JsonPropertyName("xres")] public string? Xres { get; set; }
            [JsonPropertyName("autn")] public string? Autn { get; set; }
            [JsonPropertyName("ck")] public string? Ck { get; set; }
            [JsonPropertyName("ik")] public string? Ik { get; set; }
            [JsonPropertyName("kid")] public string? Kid { get; set; }
        }
    }
}

using System;
using System.Collections.Generic;
using System.Text.Json.Serialization;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Hss.Auc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace E2m.Server.Hss.Api
{
    /// <summary>Body of <c>POST /v1/air</c> (issue 6 contract; camelCase).</summary>
    public sealed class AirRequestDto
    {
        [JsonPropertyName("imsi")]
        public string? Imsi { get; set; }

        [JsonPropertyName("numVectors")]
        public int? NumVectors { get; set; }

        [JsonPropertyName("rat")]
        public string? Rat { get; set; }

        [JsonPropertyName("plmn")]
        public string? Plmn { get; set; }

        [JsonPropertyName("resync")]
        public ResyncDto? Resync { get; set; }
    }

    public sealed class ResyncDto
    {
        [JsonPropertyName("rand")]
        public string? Rand { get; set; }

        [JsonPropertyName("auts")]
        public string? Auts { get; set; }
    }

    /// <summary>Answer of <c>POST /v1/air</c>: the issue-6 contract <c>{"vectors": [...]}</c>, extended by <c>policy</c>.</summary>
    public sealed class AirResponseDto
    {
        [JsonPropertyName("vectors")]
        public List<VectorDto> Vectors { get; set; } = new();

        /// <summary>Subscription policy for the serving node (DESIGN.md §5); a node that does not understand it ignores it.</summary>
        [JsonPropertyName("policy")]
        public AirPolicyDto Policy { get; set; } = new();
    }

    /// <summary>
    /// Authentication/key-usage policy of the subscription as the serving node needs it (DESIGN.md §5, "travels in the
    /// subscriber profile"): <c>minGea</c> = minimum GPRS ciphering algorithm n of GEAn (TS 43.020, GEA1..GEA5; 0 = no
    /// minimum) that an SGSN serving this subscriber over GERAN must negotiate or refuse the attach; <c>accessKeySeparation</c>
    /// = the vectors carry CK'/IK' (KASME from CK'/IK') instead of CK/IK.
    /// </summary>
    public sealed class AirPolicyDto
    {
        [JsonPropertyName("minGea")]
        public int MinGea { get; set; }

        [JsonPropertyName("accessKeySeparation")]
        public bool AccessKeySeparation { get; set; }
    }

    /// <summary>One vector, lowercase hex. <c>kasme</c> only for eutran; <c>kid</c> only for e2m subscribers and only
    /// when the caller is the EMKS (home-mode bootstrap needs it; serving nodes do not get it).</summary>
    public sealed class VectorDto
    {
        [JsonPropertyName("rand")]
        public string Rand { get; set; } = string.Empty;

        [JsonPropertyName("xres")]
        public string Xres { get; set; } = string.Empty;

        [JsonPropertyName("autn")]
        public string Autn { get; set; } = string.Empty;

        [JsonPropertyName("ck")]
        public string Ck { get; set; } = string.Empty;

        [JsonPropertyName("ik")]
        public string Ik { get; set; } = string.Empty;

        [JsonPropertyName("kasme")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Kasme { get; set; }

        [JsonPropertyName("kid")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Kid { get; set; }
    }

    /// <summary>
    /// Serving-node API: <c>POST /v1/air</c>, mutual TLS with a client certificate of role <c>serving-node</c> (or
    /// <c>emks</c>, for the home-mode bootstrap).
    /// </summary>
    public static class AirApi
    {
        public const string Path = "/v1/air";

        public static IEndpointConventionBuilder MapAir(this IEndpointRouteBuilder endpoints)
        {
            return endpoints.MapPost(Path, HandleAsync)
                .RequireClientRole(CertificateIdentity.RoleServingNode, CertificateIdentity.RoleEmks)
                .WithName("Air")
                .WithSummary("Authentication Information Request: N UTRAN or EPS vectors, optional resync");
        }

        private static async Task<IResult> HandleAsync(HttpContext http, AirService air, IOptions<HssOptions> options, CancellationToken ct)
        {
            HssOptions o = options.Value;
            var body = await JsonBody.ReadAsync<AirRequestDto>(http.Request, o.Auc.MaxRequestBytes, ct).ConfigureAwait(false);
            if (body.Error != null)
            {
                return Bad(body.Error);
            }

            string? error = TryBuild(body.Value!, o.Auc.MaxVectorsPerRequest, out AirCommand? cmd);
            if (error != null)
            {
                return Bad(error);
            }

            AirResult result;
            try
            {
                result = await air.HandleAsync(cmd!, ct).ConfigureAwait(false);
            }
            catch (AirException e)
            {
                return e.Failure switch
                {
                    AirFailure.UnknownSubscriber => Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "unknown subscriber", detail: "no subscriber with this IMSI"),
                    AirFailure.ResyncMacFailure => Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "resync rejected", detail: e.Message),
                    AirFailure.SqnExhausted => Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "SQN exhausted", detail: e.Message),
                    AirFailure.SqnOutOfWindow => Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "SQN outside the USIM window (TS 33.102 Annex C.2.1)", detail: e.Message),
                    _ => Results.Problem(statusCode: StatusCodes.Status502BadGateway, title: "e2m key push to the EMKS failed", detail: "no vectors issued: " + e.Message),
                };
            }

            // Role from the identity RequireClientRole validated (once per TLS connection), not a new parse of the subject.
            bool includeKid = http.GetE2mClient()?.Role == CertificateIdentity.RoleEmks;
            var resp = new AirResponseDto
            {
                Policy = new AirPolicyDto { MinGea = result.Profile.MinGea, AccessKeySeparation = result.Profile.AccessKeySeparation },
            };
            foreach (AuthVector v in result.Vectors)
            {
                using (v)
                {
                    resp.Vectors.Add(new VectorDto
                    {
                        Rand = Convert.ToHexStringLower(v.Rand),
                        Xres = Convert.ToHexStringLower(v.Xres),
                        Autn = Convert.ToHexStringLower(v.Autn),
                        Ck = Convert.ToHexStringLower(v.Ck),
                        Ik = Convert.ToHexStringLower(v.Ik),
                        Kasme = v.Kasme == null ? null : Convert.ToHexStringLower(v.Kasme),
                        Kid = includeKid && v.Kid != null ? Convert.ToHexStringLower(v.Kid) : null,
                    });
                }
            }

            http.Response.Headers.CacheControl = "no-store";
            return Results.Json(resp, JsonBody.Options);
        }

        internal static string? TryBuild(AirRequestDto d, int maxVectors, out AirCommand? cmd)
        {
            cmd = null;
            if (d.Imsi == null)
            {
                return "imsi is required";
            }

            if (!IsDigits(d.Imsi, 6, 15))
            {
                return "imsi must be 6..15 decimal digits";
            }

            int n = d.NumVectors ?? 1;
            if (n < 1 || n > maxVectors)
            {
                return $"numVectors must be 1..{maxVectors}";
            }

            Rat rat;
            switch (d.Rat)
            {
                case "utran":
                    rat = Rat.Utran;
                    break;
                case "eutran":
                    rat = Rat.Eutran;
                    break;
                case null:
                    return "rat is required: \"utran\" or \"eutran\"";
                default:
                    return "rat must be \"utran\" or \"eutran\"";
            }

            byte[]? snId = null;
            if (d.Plmn != null || rat == Rat.Eutran)
            {
                if (!PlmnId.IsValid(d.Plmn))
                {
                    return "plmn must be MCC+MNC, 5 or 6 decimal digits (required for eutran)";
                }

                snId = PlmnId.Encode(d.Plmn!);
            }

            byte[]? rand = null, auts = null;
            if (d.Resync != null)
            {
                rand = ParseHex(d.Resync.Rand, 16);
                auts = ParseHex(d.Resync.Auts, 14);
                if (rand == null)
                {
                    return "resync.rand must be 32 hex digits (16 octets)";
                }

                if (auts == null)
                {
                    return "resync.auts must be 28 hex digits (14 octets, TS 33.102 §6.3.3)";
                }
            }

            cmd = new AirCommand { Imsi = d.Imsi, NumVectors = n, Rat = rat, SnId = snId, ResyncRand = rand, ResyncAuts = auts };
            return null;
        }

        internal static IResult Bad(string detail) =>
            Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "invalid request", detail: detail);

        internal static bool IsDigits(string s, int min, int max)
        {
            if (s.Length < min || s.Length > max)
            {
                return false;
            }

            foreach (char c in s)
            {
                if (c < '0' || c > '9')
                {
                    return false;
                }
            }

            return true;
        }

        internal static byte[]? ParseHex(string? hex, int octets)
        {
            if (hex == null || hex.Length != 2 * octets)
            {
                return null;
            }

            try
            {
                return Convert.FromHexString(hex);
            }
            catch (FormatException)
            {
                return null;
            }
        }
    }
}

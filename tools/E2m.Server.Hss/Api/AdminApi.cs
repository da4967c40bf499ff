using System;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Hss.Emks;
using E2m.Server.Hss.Subscribers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Hss.Api
{
    /// <summary>Subscriber as returned by the admin API (no K, no OPc).</summary>
    public sealed class SubscriberDto
    {
        [JsonPropertyName("imsi")]
        public string Imsi { get; set; } = string.Empty;

        [JsonPropertyName("subscriptionId")]
        public string SubscriptionId { get; set; } = string.Empty;

        /// <summary>SEQ_HE, the highest SEQ issued (decimal).</summary>
        [JsonPropertyName("seq")]
        public long Seq { get; set; }

        [JsonPropertyName("indNext")]
        public int IndNext { get; set; }

        /// <summary>Last SEQ_MS known authentically (provisioning or resync): the base of the Δ window (TS 33.102 Annex C.2.1).</summary>
        [JsonPropertyName("seqMs")]
        public long SeqMs { get; set; }

        [JsonPropertyName("amf")]
        public string Amf { get; set; } = "0000";

        [JsonPropertyName("e2m")]
        public bool E2m { get; set; }

        [JsonPropertyName("emseIds")]
        public List<string> EmseIds { get; set; } = new();

        [JsonPropertyName("keyLifetimeSeconds")]
        public long KeyLifetimeSeconds { get; set; }

        [JsonPropertyName("minGea")]
        public int MinGea { get; set; }

        [JsonPropertyName("accessKeySeparation")]
        public bool AccessKeySeparation { get; set; }

        [JsonPropertyName("externalId")]
        public string? ExternalId { get; set; }

        [JsonPropertyName("maxMessages")]
        public long? MaxMessages { get; set; }

        [JsonPropertyName("createdAt")]
        public DateTimeOffset CreatedAt { get; set; }

        [JsonPropertyName("updatedAt")]
        public DateTimeOffset UpdatedAt { get; set; }

        /// <summary>Policy version: 0 at provisioning, + 1 per update; carried in key pushes and EMKS policy syncs.</summary>
        [JsonPropertyName("policyVersion")]
        public long PolicyVersion { get; set; }

        /// <summary>Only in the answer of a change (PATCH; CLI update): "done" = the EMKS has it, "pending" = queued and retried,
        /// "none" = nothing to sync (not an e2m subscriber, or no EMKS configured); the CLI says "queued".</summary>
        [JsonPropertyName("emksPolicySync")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? EmksPolicySync { get; set; }

        public static SubscriberDto From(SubscriberInfo s) => new()
        {
            Imsi = s.Imsi,
            SubscriptionId = s.SubscriptionId,
            Seq = s.Seq,
            IndNext = s.IndNext,
            SeqMs = s.SeqMs,
            Amf = s.Amf.ToString("x4", CultureInfo.InvariantCulture),
            E2m = s.E2m.Enabled,
            EmseIds = s.E2m.AllowedEmseIds,
            KeyLifetimeSeconds = s.E2m.KeyLifetimeSeconds,
            MinGea = s.E2m.MinGea,
            AccessKeySeparation = s.E2m.AccessKeySeparation,
            ExternalId = s.E2m.ExternalId,
            MaxMessages = s.E2m.MaxMessages,
            CreatedAt = s.CreatedAt,
            UpdatedAt = s.UpdatedAt,
            PolicyVersion = s.PolicyVersion,
        };
    }

    public sealed class SubscriberListDto
    {
        [JsonPropertyName("subscribers")]
        public List<SubscriberDto> Subscribers { get; set; } = new();
    }

    /// <summary>The subscription policy fields shared by add and update (absent = default on add, unchanged on update).</summary>
    public class SubscriberPolicyDto
    {
        /// <summary>4 hex digits (default 0000).</summary>
        [JsonPropertyName("amf")]
        public string? Amf { get; set; }

        [JsonPropertyName("e2m")]
        public bool? E2m { get; set; }

        [JsonPropertyName("emseIds")]
        public List<string>? EmseIds { get; set; }

        [JsonPropertyName("keyLifetimeSeconds")]
        public long? KeyLifetimeSeconds { get; set; }

        [JsonPropertyName("minGea")]
        public int? MinGea { get; set; }

        [JsonPropertyName("accessKeySeparation")]
        public bool? AccessKeySeparation { get; set; }

        [JsonPropertyName("externalId")]
        public string? ExternalId { get; set; }

        [JsonPropertyName("maxMessages")]
        public long? MaxMessages { get; set; }
    }

    /// <summary>Body of <c>POST /v1/admin/subscribers</c>.</summary>
    public sealed class AddSubscriberDto : SubscriberPolicyDto
    {
        [JsonPropertyName("imsi")]
        public string? Imsi { get; set; }

        [JsonPropertyName("k")]
        public string? K { get; set; }

        [JsonPropertyName("opc")]
        public string? Opc { get; set; }

        /// <summary>Initial SQN_HE, up to 12 hex digits (default 0).</summary>
        [JsonPropertyName("sqn")]
        public string? Sqn { get; set; }
    }

    /// <summary>Body of <c>PATCH /v1/admin/subscribers/{imsi}</c>: absent = unchanged; externalId "" clears; maxMessages 0 clears.</summary>
    public sealed class UpdateSubscriberDto : SubscriberPolicyDto
    {
    }

    /// <summary>
    /// Subscriber administration: <c>/v1/admin/subscribers</c> (GET list, POST add, GET/PATCH/DELETE by IMSI),
    /// mutual TLS with a client certificate of role <c>admin</c> (dev PKI <c>pki/admin.pfx</c>).
    /// </summary>
    public static class AdminApi
    {
        public const string Path = "/v1/admin/subscribers";

        /// <summary>Header of the DELETE answer (204): whether the EMKS has the revocation.</summary>
        public const string PolicySyncHeader = "E2m-Emks-Policy-Sync";

        public const string SyncDone = "done", SyncPending = "pending", SyncNone = "none";
        private const int MaxBodyBytes = 8192;

        public static RouteGroupBuilder MapSubscriberAdmin(this IEndpointRouteBuilder endpoints)
        {
            RouteGroupBuilder g = endpoints.MapGroup(Path).RequireClientRole(CertificateIdentity.RoleAdmin);
            g.MapGet("/", (SubscriberStore store) =>
            {
                var list = new SubscriberListDto();
                foreach (SubscriberInfo s in store.List())
                {
                    list.Subscribers.Add(SubscriberDto.From(s));
                }

                return Results.Json(list, JsonBody.Options);
            });
            g.MapGet("/{imsi}", (string imsi, SubscriberStore store) => Guard(() =>
            {
                SubscriberInfo? s = store.Get(imsi);
                return s == null ? NotFound() : Results.Json(SubscriberDto.From(s), JsonBody.Options);
            }));
            g.MapPost("/", AddAsync);
            g.MapPatch("/{imsi}", UpdateAsync);
            g.MapDelete("/{imsi}", DeleteAsync);
            return g;
        }

        private static async Task<IResult> DeleteAsync(string imsi, HttpContext http, SubscriberStore store, EmksPolicyDispatcher sync, ILogger<SubscriberStore> log, CancellationToken ct)
        {
            SubscriberDeleteResult? deleted;
            try
            {
                deleted = store.DeleteSubscriber(imsi);
            }
            catch (SubscriberStoreException e) when (Problem(e) is IResult problem)
            {
                return problem;
            }

            if (deleted == null)
            {
                return NotFound();
            }

            string state = await SyncNowAsync(sync, deleted.Queued, ct).ConfigureAwait(false);
            log.LogInformation("subscriber {Imsi} deleted (EMKS policy sync {Sync})", Redact.Imsi(imsi), state);
            http.Response.Headers[PolicySyncHeader] = state;
            return Results.NoContent();
        }

        /// <summary>The one immediate attempt after a commit: "done", "pending" (queued, retried) or "none" (nothing queued).</summary>
        private static async Task<string> SyncNowAsync(EmksPolicyDispatcher sync, QueuedPolicySync? queued, CancellationToken ct)
        {
            if (queued == null)
            {
                return SyncNone;
            }

            return await sync.SendNowAsync(queued, ct).ConfigureAwait(false) ? SyncDone : SyncPending;
        }

        private static async Task<IResult> AddAsync(HttpContext http, SubscriberStore store, ILogger<SubscriberStore> log, CancellationToken ct)
        {
            var body = await JsonBody.ReadAsync<AddSubscriberDto>(http.Request, MaxBodyBytes, ct).ConfigureAwait(false);
            if (body.Error != null)
            {
                return AirApi.Bad(body.Error);
            }

            AddSubscriberDto d = body.Value!;
            byte[]? k = AirApi.ParseHex(d.K, 16), opc = AirApi.ParseHex(d.Opc, 16);
            try
            {
                if (d.Imsi == null)
                {
                    return AirApi.Bad("imsi is required");
                }

                if (k == null || opc == null)
                {
                    return AirApi.Bad("k and opc are required, 32 hex digits each");
                }

                if (!TryParseSqn(d.Sqn, out ulong sqn))
                {
                    return AirApi.Bad("sqn must be 1..12 hex digits");
                }

                if (!TryParseAmf(d.Amf, out ushort amf))
                {
                    return AirApi.Bad("amf must be 4 hex digits");
                }

                var profile = new E2mProfile
                {
                    Enabled = d.E2m ?? false,
                    AllowedEmseIds = d.EmseIds ?? new List<string>(),
                    KeyLifetimeSeconds = d.KeyLifetimeSeconds ?? E2mProfile.DefaultKeyLifetimeSeconds,
                    MinGea = d.MinGea ?? 0,
                    AccessKeySeparation = d.AccessKeySeparation ?? false,
                    ExternalId = d.ExternalId,
                    MaxMessages = d.MaxMessages,
                };
                return Guard(() =>
                {
                    SubscriberInfo s = store.Add(new NewSubscriber { Imsi = d.Imsi, K = k, Opc = opc, Sqn = sqn, Amf = amf, E2m = profile });
                    log.LogInformation("subscriber {Imsi} added (e2m {E2m})", Redact.Imsi(s.Imsi), s.E2m.Enabled);
                    return Results.Json(SubscriberDto.From(s), JsonBody.Options, statusCode: StatusCodes.Status201Created);
                });
            }
            finally
            {
                if (k != null)
                {
                    CryptographicOperations.ZeroMemory(k);
                }

                if (opc != null)
                {
                    CryptographicOperations.ZeroMemory(opc);
                }
            }
        }

        private static async Task<IResult> UpdateAsync(string imsi, HttpContext http, SubscriberStore store, EmksPolicyDispatcher sync, ILogger<SubscriberStore> log, CancellationToken ct)
        {
            var body = await JsonBody.ReadAsync<UpdateSubscriberDto>(http.Request, MaxBodyBytes, ct).ConfigureAwait(false);
            if (body.Error != null)
            {
                return AirApi.Bad(body.Error);
            }

            UpdateSubscriberDto d = body.Value!;
            ushort? amf = null;
            if (d.Amf != null)
            {
                if (!TryParseAmf(d.Amf, out ushort a))
                {
                    return AirApi.Bad("amf must be 4 hex digits");
                }

                amf = a;
            }

            SubscriberUpdateResult updated;
            try
            {
                updated = store.UpdateSubscriber(imsi, new SubscriberUpdate
                {
                    E2mEnabled = d.E2m,
                    AllowedEmseIds = d.EmseIds,
                    KeyLifetimeSeconds = d.KeyLifetimeSeconds,
                    MinGea = d.MinGea,
                    AccessKeySeparation = d.AccessKeySeparation,
                    ExternalId = d.ExternalId,
                    MaxMessages = d.MaxMessages,
                    Amf = amf,
                });
            }
            catch (SubscriberStoreException e) when (Problem(e) is IResult problem)
            {
                return problem;
            }

            string state = await SyncNowAsync(sync, updated.Queued, ct).ConfigureAwait(false);
            log.LogInformation("subscriber {Imsi} policy updated to version {Version} (EMKS policy sync {Sync})",
                Redact.Imsi(imsi), updated.Subscriber.PolicyVersion, state);
            SubscriberDto dto = SubscriberDto.From(updated.Subscriber);
            dto.EmksPolicySync = state;
            return Results.Json(dto, JsonBody.Options);
        }

        public static bool TryParseSqn(string? hex, out ulong sqn)
        {
            sqn = 0;
            return hex == null || (hex.Length >= 1 && hex.Length <= 12 && ulong.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out sqn));
        }

        public static bool TryParseAmf(string? hex, out ushort amf)
        {
            amf = 0;
            return hex == null || (hex.Length == 4 && ushort.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out amf));
        }

        private static IResult NotFound() =>
            Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "unknown subscriber", detail: "no subscriber with this IMSI");

        private static IResult Guard(Func<IResult> f)
        {
            try
            {
                return f();
            }
            catch (SubscriberStoreException e) when (Problem(e) is IResult problem)
            {
                return problem;
            }
        }

        /// <summary>The answer for a typed store error (null: not one the admin API maps).</summary>
        private static IResult? Problem(SubscriberStoreException e) => e switch
        {
            SubscriberValidationException => AirApi.Bad(e.Message),
            DuplicateSubscriberException => Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "subscriber exists", detail: e.Message),
            PolicySyncPendingException => Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "policy sync pending", detail: e.Message),
            SubscriberNotFoundException => NotFound(),
            _ => null,
        };
    }
}

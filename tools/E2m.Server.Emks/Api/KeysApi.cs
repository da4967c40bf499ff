using System;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks.Keys;
using E2m.Server.Emks.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace E2m.Server.Emks.Api
{
    /// <summary>
    /// HTTP API of the EMKS (all over HTTPS with mutual TLS; roles from the client certificate, <see cref="CertificateIdentity"/>):
    /// <list type="bullet">
    /// <item><c>POST /v1/keys</c> — HSS push (<see cref="E2mKeyPushRequest"/>), role <c>hss</c> only: 204 stored, 400 contract violation.</item>
    /// <item><c>GET /v1/keys/{kid}</c> — EMSE pull (<see cref="E2mKeyPullResponse"/>), role <c>emse</c>: 200, 404 (unknown, expired
    /// or not allowed — indistinguishable on purpose), 409 ambiguous 7-octet kid, 400 malformed kid.</item>
    /// <item><c>POST /v1/subscriptions</c> <c>{"callback_url": "https://..."}</c> / <c>DELETE /v1/subscriptions</c> — push-variant
    /// registration of the calling EMSE.</item>
    /// </list>
    /// Without a client certificate: 401; with a certificate of another role or CA: 403 (<see cref="ClientRoleFilter"/>, the rule of Mtls.RequireClientRole with per-connection caching).
    /// </summary>
    public static class KeysApi
    {
        public const int MaxPushBodyBytes = 64 * 1024;

        public static IEndpointConventionBuilder MapEmksPush(this IEndpointRouteBuilder app)
        {
            return app.MapPost(HssEmksContract.PushPath, PushAsync)
                .RequireEmksClientRole(CertificateIdentity.RoleHss)
                .WithName("EmksPush")
                .WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(MaxPushBodyBytes));
        }

        public static IEndpointConventionBuilder MapEmksPull(this IEndpointRouteBuilder app)
        {
            return app.MapGet(EmksEmseContract.PullRoute, PullAsync)
                .RequireEmksClientRole(CertificateIdentity.RoleEmse)
                .WithName("EmksPull");
        }

        public static IEndpointRouteBuilder MapEmksSubscriptions(this IEndpointRouteBuilder app)
        {
            app.MapPost(EmksEmseContract.SubscriptionsPath, RegisterAsync).RequireEmksClientRole(CertificateIdentity.RoleEmse).WithName("EmksRegisterCallback");
            app.MapDelete(EmksEmseContract.SubscriptionsPath, UnregisterAsync).RequireEmksClientRole(CertificateIdentity.RoleEmse).WithName("EmksUnregisterCallback");
            return app;
        }

        internal static async Task<Results<NoContent, ProblemHttpResult>> PushAsync(E2mKeyPushRequest? body, KeyService keys, CancellationToken ct)
        {
            if (body is null) return TypedResults.Problem(statusCode: 400, title: "body required");
            try
            {
                await keys.AcceptPushAsync(body, ct).ConfigureAwait(false);
                return TypedResults.NoContent();
            }
            catch (PushRejectedException e)
            {
                return TypedResults.Problem(statusCode: 400, title: "push rejected", detail: e.Message);
            }
        }

        internal static async Task<Results<Ok<E2mKeyPullResponse>, NotFound, Conflict, ProblemHttpResult>> PullAsync(
            string kid, HttpContext http, KeyService keys, CancellationToken ct)
        {
            string? emseId = CertificateIdentity.GetEmseId(http.Connection.ClientCertificate);
            if (emseId is null) return TypedResults.Problem(statusCode: 403, title: "EMSE certificate without a single EMSE_Id");
            if (!KidText.TryParse(kid, out byte[] kidBytes)) return TypedResults.Problem(statusCode: 400, title: "kid: 14 or 16 hex digits");
            http.Response.Headers.CacheControl = "no-store";
            (PullOutcome outcome, E2mKeyPullResponse? response) = await keys.PullAsync(kidBytes, emseId, ct).ConfigureAwait(false);
            return outcome switch
            {
                PullOutcome.Ok => TypedResults.Ok(response!),
                PullOutcome.Ambiguous => TypedResults.Conflict(),
                _ => TypedResults.NotFound(),
            };
        }

        internal static async Task<Results<NoContent, ProblemHttpResult>> RegisterAsync(
            EmseCallbackRegistration? body, HttpContext http, IEmksStore store, TimeProvider time, CancellationToken ct)
        {
            string? emseId = CertificateIdentity.GetEmseId(http.Connection.ClientCertificate);
            if (emseId is null) return TypedResults.Problem(statusCode: 403, title: "EMSE certificate without a single EMSE_Id");
            if (body is null || !Uri.TryCreate(body.CallbackUrl, UriKind.Absolute, out Uri? url) || url.Scheme != Uri.UriSchemeHttps || body.CallbackUrl.Length > 2048)
            {
                return TypedResults.Problem(statusCode: 400, title: "callback_url: an absolute https URL is required");
            }

            await store.UpsertCallbackAsync(new CallbackRegistration(emseId, url.ToString(), time.GetUtcNow()), ct).ConfigureAwait(false);
            return TypedResults.NoContent();
        }

        internal static async Task<Results<NoContent, NotFound, ProblemHttpResult>> UnregisterAsync(HttpContext http, IEmksStore store, CancellationToken ct)
        {
            string? emseId = CertificateIdentity.GetEmseId(http.Connection.ClientCertificate);
            if (emseId is null) return TypedResults.Problem(statusCode: 403, title: "EMSE certificate without a single EMSE_Id");
            return await store.DeleteCallbackAsync(emseId, ct).ConfigureAwait(false) ? TypedResults.NoContent() : TypedResults.NotFound();
        }
    }
}

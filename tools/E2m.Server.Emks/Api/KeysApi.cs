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
    /// <item><c>PUT /v1/hss/subscriptions/{subscription_id}</c> — HSS policy sync (<see cref="E2mSubscriptionPolicy"/>), role <c>hss</c>
    /// only: 204 applied (or a same/newer version known), 400 malformed. A push older than a revocation: 409.</item>
    /// <item><c>POST /v1/subscriptions</c> <c>{"callback_url": "https://...", "device_ids": [...]}</c>, <c>DELETE /v1/subscriptions[/{device_id}]</c>
    /// — push-variant registration of the calling EMSE per subscriber (403 for a device whose subscription does not allow it).</item>
    /// </list>
    /// Without a client certificate: 401; with a certificate of another role or CA: 403 (Common's <see cref="Mtls.RequireClientRole{TBuilder}"/>,
    /// chain validated once per TLS connection).
    /// </summary>
    public static class KeysApi
    {
        public const int MaxPushBodyBytes = 64 * 1024;

        public const int MaxRegistrationBodyBytes = 32 * 1024;

        public const int MaxDeviceIdLength = 256;

        public static IEndpointConventionBuilder MapEmksPush(this IEndpointRouteBuilder app)
        {
            return app.MapPost(HssEmksContract.PushPath, PushAsync)
                .RequireClientRole(CertificateIdentity.RoleHss)
                .WithName("EmksPush")
                .WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(MaxPushBodyBytes));
        }

        public static IEndpointConventionBuilder MapEmksPull(this IEndpointRouteBuilder app)
        {
            return app.MapGet(EmksEmseContract.PullRoute, PullAsync)
                .RequireClientRole(CertificateIdentity.RoleEmse)
                .WithName("EmksPull");
        }

        public static IEndpointRouteBuilder MapEmksSubscriptions(this IEndpointRouteBuilder app)
        {
            app.MapPost(EmksEmseContract.SubscriptionsPath, RegisterAsync).RequireClientRole(CertificateIdentity.RoleEmse).WithName("EmksRegisterCallback")
                .WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(MaxRegistrationBodyBytes));
            app.MapDelete(EmksEmseContract.SubscriptionsPath, UnregisterAllAsync).RequireClientRole(CertificateIdentity.RoleEmse).WithName("EmksUnregisterCallbacks");
            app.MapDelete(EmksEmseContract.SubscriptionRoute, UnregisterAsync).RequireClientRole(CertificateIdentity.RoleEmse).WithName("EmksUnregisterCallback");
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
            catch (SubscriptionRevokedException e)
            {
                // The HSS revoked the subscription after this AIR read its policy: no key of it is stored (the AIR fails).
                return TypedResults.Problem(statusCode: 409, title: "subscription revoked", detail: e.Message);
            }
        }

        /// <summary>Policy sync from the HSS: <c>PUT /v1/hss/subscriptions/{subscriptionId}</c> (<see cref="HssEmksContract.SubscriptionPolicyRoute"/>), role <c>hss</c> only.</summary>
        public static IEndpointConventionBuilder MapEmksPolicySync(this IEndpointRouteBuilder app)
        {
            return app.MapPut(HssEmksContract.SubscriptionPolicyRoute, PutPolicyAsync)
                .RequireClientRole(CertificateIdentity.RoleHss)
                .WithName("EmksPolicySync")
                .WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(MaxPolicyBodyBytes));
        }

        public const int MaxPolicyBodyBytes = 16 * 1024;

        internal static async Task<Results<NoContent, ProblemHttpResult>> PutPolicyAsync(string subscriptionId, E2mSubscriptionPolicy? body, KeyService keys, CancellationToken ct)
        {
            if (body is null) return TypedResults.Problem(statusCode: 400, title: "body required");
            try
            {
                await keys.ApplyPolicyAsync(subscriptionId, body, ct).ConfigureAwait(false);
                return TypedResults.NoContent(); // applied, or this or a newer version was applied already
            }
            catch (PushRejectedException e)
            {
                return TypedResults.Problem(statusCode: 400, title: "policy rejected", detail: e.Message);
            }
        }

        internal static async Task<Results<Ok<E2mKeyPullResponse>, NotFound, Conflict, ProblemHttpResult>> PullAsync(
            string kid, HttpContext http, KeyService keys, CancellationToken ct)
        {
            string? emseId = http.GetE2mClient()?.EmseId;
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
            string? emseId = http.GetE2mClient()?.EmseId;
            if (emseId is null) return TypedResults.Problem(statusCode: 403, title: "EMSE certificate without a single EMSE_Id");
            if (body is null || body.CallbackUrl is null || body.CallbackUrl.Length > 2048
                || !Uri.TryCreate(body.CallbackUrl, UriKind.Absolute, out Uri? url) || url.Scheme != Uri.UriSchemeHttps)
            {
                return TypedResults.Problem(statusCode: 400, title: "callback_url: an absolute https URL is required");
            }

            if (body.DeviceIds is null || body.DeviceIds.Count == 0 || body.DeviceIds.Count > EmksEmseContract.MaxDeviceIdsPerRegistration)
            {
                return TypedResults.Problem(statusCode: 400, title: $"device_ids: 1..{EmksEmseContract.MaxDeviceIdsPerRegistration} device ids required");
            }

            var registrations = new System.Collections.Generic.List<PushRegistration>(body.DeviceIds.Count);
            DateTimeOffset now = time.GetUtcNow();
            for (int i = 0; i < body.DeviceIds.Count; i++)
            {
                string? deviceId = body.DeviceIds[i];
                if (string.IsNullOrEmpty(deviceId) || deviceId.Length > MaxDeviceIdLength)
                {
                    return TypedResults.Problem(statusCode: 400, title: $"device_ids[{i}]: 1..{MaxDeviceIdLength} characters");
                }

                // Unknown and not allowed are one answer: an EMSE learns nothing about subscriptions that do not allow it.
                string? subscription = await store.FindSubscriptionOfDeviceAsync(emseId.ToLowerInvariant(), deviceId, ct).ConfigureAwait(false);
                if (subscription is null)
                {
                    return TypedResults.Problem(statusCode: 403, title: $"device_ids[{i}]: not a device of a subscription that allows this EMSE");
                }

                registrations.Add(new PushRegistration(emseId, subscription, url.AbsoluteUri, now));
            }

            await store.UpsertPushRegistrationsAsync(registrations, ct).ConfigureAwait(false);
            return TypedResults.NoContent();
        }

        internal static async Task<Results<NoContent, NotFound, ProblemHttpResult>> UnregisterAllAsync(HttpContext http, IEmksStore store, CancellationToken ct)
        {
            string? emseId = http.GetE2mClient()?.EmseId;
            if (emseId is null) return TypedResults.Problem(statusCode: 403, title: "EMSE certificate without a single EMSE_Id");
            return await store.DeletePushRegistrationsAsync(emseId, null, ct).ConfigureAwait(false) > 0 ? TypedResults.NoContent() : TypedResults.NotFound();
        }

        internal static async Task<Results<NoContent, NotFound, ProblemHttpResult>> UnregisterAsync(string deviceId, HttpContext http, IEmksStore store, CancellationToken ct)
        {
            string? emseId = http.GetE2mClient()?.EmseId;
            if (emseId is null) return TypedResults.Problem(statusCode: 403, title: "EMSE certificate without a single EMSE_Id");
            if (deviceId.Length > MaxDeviceIdLength) return TypedResults.Problem(statusCode: 400, title: $"device id: 1..{MaxDeviceIdLength} characters");
            string? subscription = await store.FindSubscriptionOfDeviceAsync(emseId.ToLowerInvariant(), deviceId, ct).ConfigureAwait(false);
            if (subscription is null) return TypedResults.NotFound();
            return await store.DeletePushRegistrationsAsync(emseId, subscription, ct).ConfigureAwait(false) > 0 ? TypedResults.NoContent() : TypedResults.NotFound();
        }
    }
}

using System;
using System.Collections.Generic;
using System.Security.Cryptography.X509Certificates;
using E2m.Server.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace E2m.Server.Emks.Api
{
    /// <summary>
    /// Same rule as <see cref="Mtls.RequireClientRole{TBuilder}"/> (401 without a certificate; 403 unless it chains to the
    /// trust anchor with clientAuth and has one of the roles), but the chain validation (~4 ms on this machine) is done
    /// once per TLS connection and remembered in the connection's items: a TLS connection keeps its client certificate
    /// (Kestrel allows no renegotiation), so keep-alive pulls skip it. Under TestServer (no connection items) it
    /// validates every time.
    /// </summary>
    public static class ClientRoleFilter
    {
        private const string ItemKey = "e2m.emks.validated-client-certificate";

        public static TBuilder RequireEmksClientRole<TBuilder>(this TBuilder builder, string role)
            where TBuilder : IEndpointConventionBuilder
        {
            builder.AddEndpointFilter(async (ctx, next) =>
            {
                HttpContext http = ctx.HttpContext;
                X509Certificate2? cert = http.Connection.ClientCertificate;
                if (cert == null)
                {
                    return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "client certificate required");
                }

                if (!IsValid(http, cert) || !string.Equals(CertificateIdentity.GetRole(cert), role, StringComparison.Ordinal))
                {
                    return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "client certificate not allowed for this API");
                }

                return await next(ctx).ConfigureAwait(false);
            });
            return builder;
        }

        private static bool IsValid(HttpContext http, X509Certificate2 cert)
        {
            IDictionary<object, object?>? items = http.Features.Get<IConnectionItemsFeature>()?.Items;
            if (items != null && items.TryGetValue(ItemKey, out object? seen) && seen is X509Certificate2 ok
                && ok.RawDataMemory.Span.SequenceEqual(cert.RawDataMemory.Span))
            {
                return DateTime.Now < ok.NotAfter; // still check expiry on long-lived connections
            }

            bool valid = http.RequestServices.GetRequiredService<E2mTrustAnchor>().Validate(cert, DevPki.ClientAuthOid);
            if (valid && items != null) items[ItemKey] = cert;
            return valid;
        }
    }
}

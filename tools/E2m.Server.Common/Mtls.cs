using System;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace E2m.Server.Common
{
    /// <summary>
    /// The trust anchor of the service (the dev CA, or an operator CA): validates peer certificates with a custom
    /// root store only (X509ChainTrustMode.CustomRootTrust: the OS store is ignored), no revocation (dev PKI has no CRL).
    /// Register one per service as a singleton.
    /// </summary>
    public sealed class E2mTrustAnchor
    {
        public E2mTrustAnchor(X509Certificate2 ca)
        {
            Ca = ca ?? throw new ArgumentNullException(nameof(ca));
        }

        public X509Certificate2 Ca { get; }

        /// <summary>True when <paramref name="cert"/> chains to <see cref="Ca"/>, is in its validity period and allows
        /// <paramref name="ekuOid"/> (<see cref="DevPki.ClientAuthOid"/> or <see cref="DevPki.ServerAuthOid"/>).</summary>
        public bool Validate(X509Certificate2? cert, string ekuOid)
        {
            if (cert == null)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(Ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(ekuOid));
            chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
            if (!chain.Build(cert))
            {
                return false;
            }

            X509Certificate2 root = chain.ChainElements[chain.ChainElements.Count - 1].Certificate;
            return root.RawDataMemory.Span.SequenceEqual(Ca.RawDataMemory.Span);
        }
    }

    /// <summary>Kestrel and HttpClient helpers for mutual TLS inside the e2m stack.</summary>
    public static class Mtls
    {
        /// <summary>
        /// HTTPS on this listener with <paramref name="serverCertificate"/>; client certificates are
        /// <paramref name="mode"/> (RequireCertificate for service-to-service APIs) and, when presented, must chain to the
        /// trust anchor with the clientAuth EKU, otherwise the TLS handshake fails.
        /// </summary>
        public static ListenOptions UseE2mHttps(this ListenOptions listen, X509Certificate2 serverCertificate, E2mTrustAnchor trust, ClientCertificateMode mode)
        {
            return listen.UseHttps(new HttpsConnectionAdapterOptions
            {
                ServerCertificate = serverCertificate,
                ClientCertificateMode = mode,
                CheckCertificateRevocation = false,
                ClientCertificateValidation = (cert, chain, errors) => trust.Validate(cert, DevPki.ClientAuthOid),
                SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
            });
        }

        /// <summary>
        /// An HttpClient handler presenting <paramref name="clientCertificate"/> (may be null for server-auth only) and
        /// trusting only servers whose certificate chains to <paramref name="trust"/> with the serverAuth EKU and whose
        /// name matches the URL host. Keep-alive pooling on.
        /// </summary>
        public static SocketsHttpHandler CreateClientHandler(X509Certificate2? clientCertificate, E2mTrustAnchor trust)
        {
            var ssl = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (sender, cert, chain, errors) =>
                {
                    if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0 || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
                    {
                        return false;
                    }

                    return cert is X509Certificate2 c2 && trust.Validate(c2, DevPki.ServerAuthOid);
                },
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            };
            if (clientCertificate != null)
            {
                ssl.ClientCertificates = new X509CertificateCollection { clientCertificate };
                ssl.LocalCertificateSelectionCallback = (sender, host, local, remote, issuers) => clientCertificate;
            }

            return new SocketsHttpHandler
            {
                SslOptions = ssl,
                PooledConnectionLifetime = TimeSpan.FromMinutes(10),
                EnableMultipleHttp2Connections = true,
            };
        }

        /// <summary>
        /// Endpoint filter: the request must carry a client certificate that chains to the registered
        /// <see cref="E2mTrustAnchor"/> and whose role (<see cref="CertificateIdentity.GetRole"/>) is one of
        /// <paramref name="roles"/>; otherwise 403 (401 without a certificate). Re-validates the chain even when Kestrel
        /// already did (defence in depth, and TestServer has no TLS).
        /// </summary>
        public static TBuilder RequireClientRole<TBuilder>(this TBuilder builder, params string[] roles)
            where TBuilder : IEndpointConventionBuilder
        {
            builder.AddEndpointFilter(async (ctx, next) =>
            {
                X509Certificate2? cert = ctx.HttpContext.Connection.ClientCertificate;
                if (cert == null)
                {
                    return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "client certificate required");
                }

                E2mTrustAnchor trust = ctx.HttpContext.RequestServices.GetRequiredService<E2mTrustAnchor>();
                string? role = CertificateIdentity.GetRole(cert);
                if (!trust.Validate(cert, DevPki.ClientAuthOid) || role == null || Array.IndexOf(roles, role) < 0)
                {
                    return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "client certificate not allowed for this API");
                }

                return await next(ctx).ConfigureAwait(false);
            });
            return builder;
        }
    }
}

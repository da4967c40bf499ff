using System;
using System.IO;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace E2m.Server.Common
{
    /// <summary>
    /// The trust anchor of the service (the dev CA, or an operator CA): validates peer certificates with a custom
    /// root store only (X509ChainTrustMode.CustomRootTrust: the OS store is ignored) and against the CA's revocation
    /// list when there is one (<see cref="RevocationList"/>, RFC 5280 §5): by convention the file beside the CA
    /// certificate with the extension <c>.crl</c> (<c>pki/ca.crl</c>, written by <c>e2m pki revoke</c>). A list present at
    /// start must verify (else the service does not start); the file is looked at again at most once a second
    /// (<see cref="RefreshRevocations"/>), a valid newer list replaces the one in use at once (<see cref="CrlGeneration"/>
    /// changes, so connections validated before are validated again at their next request), an invalid one, an older one
    /// (rollback) or a deleted file keeps the one in use (<see cref="LastCrlError"/>). No online revocation (OCSP, CRL
    /// distribution points): the list is a local file. Register one per service as a singleton.
    /// </summary>
    public sealed class E2mTrustAnchor
    {
        private static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);

        private readonly object _gate = new();
        private readonly TimeProvider _time;
        private RevocationList? _crl;
        private int _generation;
        private long _lastLookTimestamp;
        private (long Length, DateTime WriteUtc) _fileStamp;
        private string? _lastError;

        /// <summary>A trust anchor without revocation list (tests, in-memory PKIs).</summary>
        public E2mTrustAnchor(X509Certificate2 ca)
            : this(ca, crlPath: null)
        {
        }

        /// <summary>
        /// A trust anchor whose revocation list is <paramref name="crlPath"/> (null: none). A file there must verify against
        /// <paramref name="ca"/>, else <see cref="CrlFormatException"/>.
        /// </summary>
        public E2mTrustAnchor(X509Certificate2 ca, string? crlPath, TimeProvider? time = null)
        {
            Ca = ca ?? throw new ArgumentNullException(nameof(ca));
            CrlPath = crlPath;
            _time = time ?? TimeProvider.System;
            if (crlPath != null && File.Exists(crlPath))
            {
                _fileStamp = Stamp(crlPath);
                _crl = RevocationList.Load(crlPath, ca);
            }

            _lastLookTimestamp = _time.GetTimestamp();
        }

        /// <summary>The CA certificate at <paramref name="caCertificatePath"/> and its revocation list beside it (<see cref="CrlPathFor"/>).</summary>
        public static E2mTrustAnchor Load(string caCertificatePath, TimeProvider? time = null) =>
            new(X509CertificateLoader.LoadCertificateFromFile(caCertificatePath), CrlPathFor(caCertificatePath), time);

        /// <summary>The revocation list's path for a CA certificate file: same name, extension <c>.crl</c>.</summary>
        public static string CrlPathFor(string caCertificatePath) => Path.ChangeExtension(caCertificatePath, ".crl");

        public X509Certificate2 Ca { get; }

        /// <summary>Where the revocation list is looked for, or null (none).</summary>
        public string? CrlPath { get; }

        /// <summary>The revocation list in use, or null.</summary>
        public RevocationList? Revocations => Volatile.Read(ref _crl);

        /// <summary>Changes whenever another revocation list comes into use.</summary>
        public int CrlGeneration => Volatile.Read(ref _generation);

        /// <summary>Why the last replacement list was not taken (null when the last look found nothing wrong).</summary>
        public string? LastCrlError => Volatile.Read(ref _lastError);

        /// <summary>
        /// Looks at <see cref="CrlPath"/> again (at most once per second unless <paramref name="force"/>): a changed file
        /// that verifies and whose CRL number is higher than the one in use replaces it. Returns true when it did.
        /// </summary>
        public bool RefreshRevocations(bool force = false)
        {
            if (CrlPath == null)
            {
                return false;
            }

            // Per request and handshake: no lock unless a look is due.
            if (!force && _time.GetElapsedTime(Volatile.Read(ref _lastLookTimestamp)) < RefreshInterval)
            {
                return false;
            }

            lock (_gate)
            {
                if (!force && _time.GetElapsedTime(_lastLookTimestamp) < RefreshInterval)
                {
                    return false; // another thread looked meanwhile
                }

                Volatile.Write(ref _lastLookTimestamp, _time.GetTimestamp());
                if (!File.Exists(CrlPath))
                {
                    if (_crl != null)
                    {
                        Volatile.Write(ref _lastError, $"{CrlPath} is gone: the revocation list loaded before stays in use");
                    }

                    return false;
                }

                (long, DateTime) stamp;
                try
                {
                    stamp = Stamp(CrlPath);
                    if (stamp == _fileStamp && _crl != null)
                    {
                        return false;
                    }

                    RevocationList next = RevocationList.Load(CrlPath, Ca);
                    RevocationList? current = _crl;
                    if (current != null && (next.CrlNumber < current.CrlNumber
                        || (next.CrlNumber == current.CrlNumber && !next.Der.AsSpan().SequenceEqual(current.Der))))
                    {
                        throw new CrlFormatException(CrlError.Rollback,
                            $"CRL number {next.CrlNumber} does not follow {current.CrlNumber} of the list in use (RFC 5280 §5.2.3)");
                    }

                    _fileStamp = stamp;
                    Volatile.Write(ref _lastError, null);
                    if (current != null && next.CrlNumber == current.CrlNumber)
                    {
                        return false; // same list, file touched
                    }

                    Volatile.Write(ref _crl, next);
                    Interlocked.Increment(ref _generation);
                    return true;
                }
                catch (Exception e) when (e is CrlFormatException || e is IOException || e is UnauthorizedAccessException)
                {
                    // Half-written or tampered: keep what is in use; the next look tries again.
                    Volatile.Write(ref _lastError, e.Message);
                    return false;
                }
            }
        }

        private static (long Length, DateTime WriteUtc) Stamp(string path)
        {
            var info = new FileInfo(path);
            return (info.Length, info.LastWriteTimeUtc);
        }

        /// <summary>True when <paramref name="cert"/> is on the revocation list in use (after <see cref="RefreshRevocations"/>).</summary>
        public bool IsRevoked(X509Certificate2 cert)
        {
            RefreshRevocations();
            RevocationList? crl = Revocations;
            return crl != null && crl.IsRevoked(cert);
        }

        /// <summary>True when <paramref name="cert"/> chains to <see cref="Ca"/>, is in its validity period, allows
        /// <paramref name="ekuOid"/> (<see cref="DevPki.ClientAuthOid"/> or <see cref="DevPki.ServerAuthOid"/>) and is not
        /// revoked (<see cref="IsRevoked"/>).</summary>
        public bool Validate(X509Certificate2? cert, string ekuOid)
        {
            if (cert == null)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(Ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // our own list below: no CDP fetch
            chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(ekuOid));
            chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
            if (!chain.Build(cert))
            {
                return false;
            }

            X509Certificate2 root = chain.ChainElements[chain.ChainElements.Count - 1].Certificate;
            return root.RawDataMemory.Span.SequenceEqual(Ca.RawDataMemory.Span) && !IsRevoked(cert);
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
        /// <see cref="E2mTrustAnchor"/> with the clientAuth EKU and whose role (<see cref="CertificateIdentity.GetRole"/>) is
        /// one of <paramref name="roles"/>; otherwise 403 (401 without a certificate). Re-validates the chain even when
        /// Kestrel already did in the handshake (defence in depth, and TestServer has no TLS) — but only once per TLS
        /// connection: the result is remembered in the connection's items (<see cref="IConnectionItemsFeature"/>) together
        /// with the certificate it was computed for, because a TLS connection keeps its client certificate (Kestrel allows
        /// no renegotiation). Keep-alive requests then cost a byte comparison and an expiry check instead of a chain build
        /// (~4 ms on the 2-core build machine), unless the CA's revocation list changed since (<see cref="E2mTrustAnchor.CrlGeneration"/>):
        /// then the connection's certificate is judged again, so a certificate revoked while its connection is open gets
        /// 403 at its next request. Without connection items (TestServer) it validates every request.
        /// The validated identity is available to the endpoint as <see cref="GetE2mClient"/>.
        /// </summary>
        public static TBuilder RequireClientRole<TBuilder>(this TBuilder builder, params string[] roles)
            where TBuilder : IEndpointConventionBuilder
        {
            string[] allowed = (string[])roles.Clone();
            builder.AddEndpointFilter(async (ctx, next) =>
            {
                HttpContext http = ctx.HttpContext;
                E2mClientIdentity? client = ValidatedClient(http);
                if (client == null)
                {
                    return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "client certificate required");
                }

                if (!client.ChainValid || client.Role == null || Array.IndexOf(allowed, client.Role) < 0)
                {
                    return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "client certificate not allowed for this API");
                }

                return await next(ctx).ConfigureAwait(false);
            });
            return builder;
        }

        /// <summary>
        /// The client identity of this request as validated by <see cref="RequireClientRole{TBuilder}"/> (chain, role, EMSE_Id),
        /// from the per-connection cache; null without a client certificate. Use it in endpoints behind
        /// <see cref="RequireClientRole{TBuilder}"/> instead of parsing the certificate again. Check <see cref="E2mClientIdentity.ChainValid"/>
        /// when calling it elsewhere.
        /// </summary>
        public static E2mClientIdentity? GetE2mClient(this HttpContext http) => ValidatedClient(http);

        private const string ConnectionItemKey = "e2m.validated-client";

        /// <summary>Chain validations done by <see cref="RequireClientRole{TBuilder}"/>/<see cref="GetE2mClient"/> in this process (tests check the per-connection cache).</summary>
        public static long ClientValidations => Interlocked.Read(ref s_clientValidations);

        private static long s_clientValidations;

        private static E2mClientIdentity? ValidatedClient(HttpContext http)
        {
            X509Certificate2? cert = http.Connection.ClientCertificate;
            if (cert == null)
            {
                return null;
            }

            if (http.Items.TryGetValue(ConnectionItemKey, out object? perRequest) && perRequest is E2mClientIdentity r && ReferenceEquals(r.Certificate, cert)
                && r.CrlGeneration == http.RequestServices.GetRequiredService<E2mTrustAnchor>().CrlGeneration)
            {
                return r;
            }

            // HTTP/2 streams of one connection run concurrently and the connection items are a plain dictionary: lock it.
            IDictionary<object, object?>? items = http.Features.Get<IConnectionItemsFeature>()?.Items;
            object? seen = null;
            if (items != null)
            {
                lock (items)
                {
                    items.TryGetValue(ConnectionItemKey, out seen);
                }
            }

            E2mTrustAnchor trust = http.RequestServices.GetRequiredService<E2mTrustAnchor>();
            trust.RefreshRevocations(); // at most one look at the file per second
            if (seen is E2mClientIdentity known && known.CrlGeneration == trust.CrlGeneration
                && (ReferenceEquals(known.Certificate, cert) || known.Certificate.RawDataMemory.Span.SequenceEqual(cert.RawDataMemory.Span)))
            {
                // Same certificate on the same connection, same revocation list: only its validity period can have changed since.
                E2mClientIdentity still = known.ChainValid && DateTime.Now > cert.NotAfter ? known.Expired() : known;
                http.Items[ConnectionItemKey] = still;
                return still;
            }

            Interlocked.Increment(ref s_clientValidations);
            int generation = trust.CrlGeneration; // before the check: a list arriving meanwhile makes the next request look again
            var identity = new E2mClientIdentity(cert, trust.Validate(cert, DevPki.ClientAuthOid), generation);
            if (items != null)
            {
                lock (items)
                {
                    items[ConnectionItemKey] = identity;
                }
            }

            http.Items[ConnectionItemKey] = identity;
            return identity;
        }
    }

    /// <summary>
    /// A client certificate as judged by <see cref="Mtls.RequireClientRole{TBuilder}"/>: whether it chains to the trust anchor with
    /// clientAuth, its role (subject OU) and, for an <c>emse</c> certificate, its EMSE_Id (single DNS SAN). Computed once per
    /// TLS connection.
    /// </summary>
    public sealed class E2mClientIdentity
    {
        internal E2mClientIdentity(X509Certificate2 certificate, bool chainValid, int crlGeneration)
        {
            Certificate = certificate;
            ChainValid = chainValid;
            CrlGeneration = crlGeneration;
            Role = CertificateIdentity.GetRole(certificate);
            EmseId = CertificateIdentity.GetEmseId(certificate);
        }

        private E2mClientIdentity(E2mClientIdentity other)
        {
            Certificate = other.Certificate;
            ChainValid = false;
            CrlGeneration = other.CrlGeneration;
            Role = other.Role;
            EmseId = other.EmseId;
        }

        public X509Certificate2 Certificate { get; }

        /// <summary>True when the certificate chains to the trust anchor with the clientAuth EKU, is within its validity period
        /// and is not revoked.</summary>
        public bool ChainValid { get; }

        /// <summary><see cref="E2mTrustAnchor.CrlGeneration"/> the judgement was made under (another list: judged again).</summary>
        internal int CrlGeneration { get; }

        /// <summary>Subject OU (<see cref="CertificateIdentity.GetRole"/>), or null.</summary>
        public string? Role { get; }

        /// <summary>EMSE_Id of an <c>emse</c> certificate (<see cref="CertificateIdentity.GetEmseId"/>), or null.</summary>
        public string? EmseId { get; }

        internal E2mClientIdentity Expired() => new(this);
    }
}

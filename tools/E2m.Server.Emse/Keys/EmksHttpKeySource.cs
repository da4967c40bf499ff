using System;
using System.Globalization;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using Microsoft.Extensions.Options;

namespace E2m.Server.Emse.Keys
{
    /// <summary>
    /// The EMKS pull API (Common/Contracts EmksEmsePull: <c>GET /v1/keys/{kid}</c>) over HTTPS with mutual TLS: the
    /// EMSE presents its dev-PKI client certificate (EMSE_Id as DNS SAN/CN) and trusts only EMKS certificates that
    /// chain to the configured CA. 404/409 → NotFound (the device re-keys), 403 → Forbidden, anything else
    /// (network, TLS, 5xx, malformed body) → Unavailable. The e2m_key is never logged.
    /// </summary>
    public sealed class EmksHttpKeySource : IEmksKeySource, IDisposable
    {
        private readonly HttpClient _http;

        public EmksHttpKeySource(IOptions<EmseOptions> options)
        {
            EmseOptions o = options.Value;
            X509Certificate2 client = LoadClientCertificate(o.ClientCertificatePath, o.ClientKeyPath);
            _http = new HttpClient(Mtls.CreateClientHandler(client, E2mTrustAnchor.Load(o.CaCertificatePath)), disposeHandler: true)
            {
                BaseAddress = new Uri(o.EmksBaseUrl.TrimEnd('/') + "/"),
                Timeout = TimeSpan.FromSeconds(10),
            };
        }

        /// <summary>For tests and `e2m stack`: an explicit handler (e.g. from Mtls.CreateClientHandler).</summary>
        public EmksHttpKeySource(HttpMessageHandler handler, Uri baseAddress)
        {
            _http = new HttpClient(handler, disposeHandler: true) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(10) };
        }

        public static X509Certificate2 LoadClientCertificate(string certificatePath, string keyPath)
        {
            if (certificatePath.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || certificatePath.EndsWith(".p12", StringComparison.OrdinalIgnoreCase))
            {
                return X509CertificateLoader.LoadPkcs12FromFile(certificatePath, password: null);
            }

            string key = string.IsNullOrEmpty(keyPath) ? Path.ChangeExtension(certificatePath, ".key") : keyPath;
            return X509Certificate2.CreateFromPemFile(certificatePath, key);
        }

        public async Task<EmksKeyLookup> GetKeyAsync(byte[] kid, CancellationToken cancellationToken)
        {
            string kidHex = Convert.ToHexStringLower(kid);
            HttpResponseMessage response;
            try
            {
                response = await _http.GetAsync(EmksEmseContract.PullPath(kidHex).TrimStart('/'), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException || e is TaskCanceledException || e is IOException)
            {
                return EmksKeyLookup.Unavailable("EMKS request failed: " + e.GetType().Name);
            }

            using (response)
            {
                switch (response.StatusCode)
                {
                    case HttpStatusCode.OK:
                        break;
                    case HttpStatusCode.NotFound:
                    case HttpStatusCode.Conflict:
                    case HttpStatusCode.BadRequest: // the EMKS calls the kid malformed: no key can have it
                        return EmksKeyLookup.NotFound("EMKS " + ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
                    case HttpStatusCode.Forbidden:
                    case HttpStatusCode.Unauthorized:
                        return EmksKeyLookup.Forbidden("EMKS " + ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
                    default:
                        return EmksKeyLookup.Unavailable("EMKS " + ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
                }

                E2mKeyPullResponse? body;
                try
                {
                    body = await response.Content.ReadFromJsonAsync<E2mKeyPullResponse>(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is System.Text.Json.JsonException || e is NotSupportedException || e is HttpRequestException)
                {
                    return EmksKeyLookup.Unavailable("EMKS body unreadable");
                }

                if (body == null || body.Kid.Length is not (14 or 16) || body.E2mKey.Length != 64 || string.IsNullOrEmpty(body.DeviceId))
                {
                    return EmksKeyLookup.Unavailable("EMKS body incomplete");
                }

                if (body.Expires < -62135596800L || body.Expires > 253402300799L)
                {
                    return EmksKeyLookup.Unavailable("EMKS expiry out of range");
                }

                byte[] fullKid;
                byte[] key;
                try
                {
                    fullKid = Convert.FromHexString(body.Kid);
                    key = Convert.FromHexString(body.E2mKey);
                }
                catch (FormatException)
                {
                    return EmksKeyLookup.Unavailable("EMKS body not hex");
                }

                return EmksKeyLookup.Found(new EmksKey(fullKid, key, DateTimeOffset.FromUnixTimeSeconds(body.Expires), body.DeviceId));
            }
        }

        public void Dispose() => _http.Dispose();
    }
}

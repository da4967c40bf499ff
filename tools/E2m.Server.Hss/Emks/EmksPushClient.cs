using System;
using System.Net.Http;
using System.Net.Http.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common.Contracts;

namespace E2m.Server.Hss.Emks
{
    /// <summary>Pushes e2m_int_keys to the EMKS (<see cref="HssEmksContract"/>). Throws <see cref="EmksPushException"/> on any failure.</summary>
    public interface IEmksPushClient
    {
        bool Configured { get; }

        Task PushAsync(E2mKeyPushRequest request, CancellationToken ct);
    }

    public sealed class EmksPushException : Exception
    {
        public EmksPushException(string message, Exception? inner = null)
            : base(message, inner)
        {
        }
    }

    /// <summary>
    /// HTTPS client with mutual TLS (the HSS client certificate, server trusted only via the dev/operator CA), keep-alive
    /// pooling; the HttpClient comes from IHttpClientFactory ("emks"). A non-2xx answer, a TLS or socket error or a timeout
    /// is a failure. Messages carry no key material.
    /// </summary>
    public sealed class EmksPushClient : IEmksPushClient
    {
        public const string HttpClientName = "emks";

        private readonly IHttpClientFactory _factory;

        public EmksPushClient(IHttpClientFactory factory, Uri? baseUrl)
        {
            _factory = factory;
            BaseUrl = baseUrl;
        }

        public Uri? BaseUrl { get; }

        public bool Configured => BaseUrl != null;

        public async Task PushAsync(E2mKeyPushRequest request, CancellationToken ct)
        {
            if (BaseUrl == null)
            {
                throw new EmksPushException("no EMKS configured (Hss:Emks:BaseUrl)");
            }

            HttpClient http = _factory.CreateClient(HttpClientName);
            var uri = new Uri(BaseUrl, HssEmksContract.PushPath);
            HttpResponseMessage resp;
            try
            {
                resp = await http.PostAsJsonAsync(uri, request, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new EmksPushException("EMKS push failed: " + e.Message, e);
            }
            catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
            {
                throw new EmksPushException("EMKS push timed out", e);
            }

            using (resp)
            {
                if (!resp.IsSuccessStatusCode)
                {
                    throw new EmksPushException($"EMKS push rejected: HTTP {(int)resp.StatusCode}");
                }
            }
        }
    }
}

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

    /// <summary>Sends one subscription policy to the EMKS (<see cref="HssEmksContract.SubscriptionPolicyRoute"/>).</summary>
    public interface IEmksPolicyClient
    {
        bool Configured { get; }

        /// <summary><c>PUT {BaseUrl}/v1/hss/subscriptions/{subscriptionId}</c>. Never throws for a failed delivery: the result says
        /// what happened (cancellation of <paramref name="ct"/> still throws).</summary>
        Task<EmksPolicyPutResult> PutPolicyAsync(string subscriptionId, E2mSubscriptionPolicy policy, CancellationToken ct);
    }

    /// <summary>Outcome of one policy PUT: <see cref="Status"/> = the HTTP status, or null when no answer came (connection or TLS
    /// error, timeout); <see cref="Failure"/> = a short text for logs ("HTTP 503", "connection error", "timeout"), null on 2xx.</summary>
    public sealed record EmksPolicyPutResult(int? Status, string? Failure)
    {
        public bool Delivered => Failure == null;

        public static EmksPolicyPutResult Ok(int status) => new(status, null);
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
    public sealed class EmksPushClient : IEmksPushClient, IEmksPolicyClient
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

        /// <summary>Policy sync over the same mTLS client as the key push (the HSS client certificate).</summary>
        public async Task<EmksPolicyPutResult> PutPolicyAsync(string subscriptionId, E2mSubscriptionPolicy policy, CancellationToken ct)
        {
            if (BaseUrl == null)
            {
                return new EmksPolicyPutResult(null, "no EMKS configured");
            }

            HttpClient http = _factory.CreateClient(HttpClientName);
            var uri = new Uri(BaseUrl, HssEmksContract.SubscriptionPolicyPath(Uri.EscapeDataString(subscriptionId)));
            try
            {
                using HttpResponseMessage resp = await http.PutAsJsonAsync(uri, policy, ct).ConfigureAwait(false);
                int status = (int)resp.StatusCode;
                return resp.IsSuccessStatusCode ? EmksPolicyPutResult.Ok(status) : new EmksPolicyPutResult(status, "HTTP " + status);
            }
            catch (HttpRequestException)
            {
                return new EmksPolicyPutResult(null, "connection error"); // never the message: it may carry the URL
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                return new EmksPolicyPutResult(null, "timeout");
            }
        }
    }
}

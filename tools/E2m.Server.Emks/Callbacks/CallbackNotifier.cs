using System;
using System.Collections.Generic;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks.Keys;
using E2m.Server.Emks.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emks.Callbacks
{
    /// <summary>Push variant (issue 6 point 2): told about every stored key; delivers it to registered EMSEs.</summary>
    public interface ICallbackNotifier
    {
        /// <summary>Called after a push was stored. Must not block (the HSS is waiting).</summary>
        void KeysStored(IReadOnlyList<KeyRecord> keys);
    }

    /// <summary>
    /// Queues (KID, EMSE_Id) pairs for allowed EMSEs and POSTs <see cref="E2mKeyPullResponse"/> to each EMSE's registered
    /// callback URL over mTLS (the EMKS certificate as client certificate; the EMSE's server certificate must chain to
    /// the same CA). The key is re-read from the store when sent, so nothing secret sits in the queue. Best effort: one
    /// attempt, failures logged; a full queue drops (the EMSE can still pull). Delivery marks the key used.
    /// </summary>
    public sealed class CallbackNotifier : BackgroundService, ICallbackNotifier
    {
        public const string HttpClientName = "emse-callback";

        private readonly Channel<(byte[] Kid, string EmseId)> _queue =
            Channel.CreateBounded<(byte[], string)>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite });

        private readonly IServiceProvider _services;
        private readonly ILogger<CallbackNotifier> _log;

        public CallbackNotifier(IServiceProvider services, ILogger<CallbackNotifier> log)
        {
            _services = services;
            _log = log;
        }

        /// <summary>Deliveries attempted so far (tests).</summary>
        public int Delivered => _delivered;

        private int _delivered;

        public void KeysStored(IReadOnlyList<KeyRecord> keys)
        {
            foreach (KeyRecord k in keys)
            {
                foreach (string emse in k.AllowedEmseIds)
                {
                    if (!_queue.Writer.TryWrite(((byte[])k.Kid.Clone(), emse)))
                    {
                        _log.LogWarning("callback queue full: kid {Kid} not pushed to {EmseId}", KidText.Format(k.Kid), emse);
                    }
                }
            }
        }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                await foreach ((byte[] kid, string emseId) in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
                {
                    try
                    {
                        await DeliverAsync(kid, emseId, stoppingToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        _log.LogWarning("callback of kid {Kid} to {EmseId} failed: {Error}", KidText.Format(kid), emseId, e.GetType().Name);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        private async Task DeliverAsync(byte[] kid, string emseId, CancellationToken ct)
        {
            var store = _services.GetRequiredService<IEmksStore>();
            CallbackRegistration? reg = await store.FindCallbackAsync(emseId, ct).ConfigureAwait(false);
            if (reg == null) return;
            KeyRecord? key = await store.FindKeyAsync(kid, ct).ConfigureAwait(false);
            if (key == null) return;
            E2mKeyPullResponse body;
            try
            {
                if (!key.IsLive(_services.GetRequiredService<TimeProvider>().GetUtcNow()) || !key.Allows(emseId)) return;
                body = _services.GetRequiredService<KeyService>().BuildResponse(key, emseId);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key.IntKey);
            }

            HttpClient http = _services.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName);
            using HttpResponseMessage r = await http.PostAsJsonAsync(reg.Url, body, ct).ConfigureAwait(false);
            Interlocked.Increment(ref _delivered);
            if (r.IsSuccessStatusCode)
            {
                await store.MarkUsedAsync(kid, ct).ConfigureAwait(false);
                _log.LogInformation("pushed kid {Kid} to {EmseId}", KidText.Format(kid), emseId);
            }
            else
            {
                _log.LogWarning("callback of kid {Kid} to {EmseId}: HTTP {Status}", KidText.Format(kid), emseId, (int)r.StatusCode);
            }
        }
    }
}

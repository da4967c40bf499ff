using System;
using System.Collections.Generic;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks.Keys;
using E2m.Server.Emks.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emks.Callbacks
{
    /// <summary>Options of the push variant (section <c>Emks:Push</c>).</summary>
    public sealed class PushOptions
    {
        /// <summary>Delivery attempts per (key, EMSE) before the EMKS gives up (the EMSE can still pull).</summary>
        public int MaxAttempts { get; set; } = 6;

        /// <summary>Wait after the first failed attempt; doubled after each further failure.</summary>
        public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

        /// <summary>Upper bound of the wait between attempts.</summary>
        public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

        /// <summary>How often the outbox is looked at when nothing signals new rows (rows written by other instances).</summary>
        public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary>How long a claimed row is reserved for one attempt (an instance that dies mid-attempt frees it then).</summary>
        public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(1);

        /// <summary>Deliveries in flight at once.</summary>
        public int Parallelism { get; set; } = 8;

        public IEnumerable<string> Validate()
        {
            if (MaxAttempts is < 1 or > 100) yield return "Push:MaxAttempts: 1..100";
            if (InitialBackoff <= TimeSpan.Zero || MaxBackoff < InitialBackoff) yield return "Push:InitialBackoff/MaxBackoff: 0 < InitialBackoff <= MaxBackoff";
            if (PollInterval <= TimeSpan.Zero) yield return "Push:PollInterval: must be positive";
            if (Lease <= TimeSpan.Zero) yield return "Push:Lease: must be positive";
            if (Parallelism is < 1 or > 256) yield return "Push:Parallelism: 1..256";
        }

        /// <summary>Wait after <paramref name="failedAttempts"/> failures: InitialBackoff · 2^(n−1), at most MaxBackoff.</summary>
        public TimeSpan BackoffAfter(int failedAttempts) => Backoff.After(failedAttempts, InitialBackoff, MaxBackoff);
    }

    /// <summary>Told when a push wrote outbox rows, so the dispatcher does not wait for its next poll.</summary>
    public interface ICallbackNotifier
    {
        /// <summary>Must not block (the HSS is waiting for its push to be answered).</summary>
        void OutboxWritten(int rows);
    }

    /// <summary>
    /// Push variant (issue 6 point 2): delivers the rows of the durable outbox <c>emks_outbox</c> — one per (new key, EMSE
    /// registered for that key's subscription and allowed by it), written in the transaction that stored the key — by
    /// POSTing <see cref="E2mKeyPullResponse"/> to the EMSE's registered URL over mTLS (client certificate: the EMKS's).
    /// Each attempt claims its row (attempt counted, row leased), re-reads the key and the registration (a key expired or
    /// no longer allowed, or a registration withdrawn, drops the row), and on failure reschedules it with exponential
    /// backoff on the injected clock; after <see cref="PushOptions.MaxAttempts"/> it gives up with one warning line (KID and
    /// EMSE_Id, no key material). A 2xx marks the key used. Several instances may share the outbox (claims are atomic).
    /// </summary>
    public sealed class PushDispatcher : BackgroundService, ICallbackNotifier
    {
        public const string HttpClientName = "emse-callback";

        private readonly IServiceProvider _services;
        private readonly PushOptions _options;
        private readonly TimeProvider _time;
        private readonly ILogger<PushDispatcher> _log;
        private readonly OutboxWake _wake;
        private int _delivered;
        private int _revocations;
        private int _failed;
        private int _abandoned;

        public PushDispatcher(IServiceProvider services, PushOptions options, TimeProvider time, ILogger<PushDispatcher> log)
        {
            _services = services;
            _options = options;
            _time = time;
            _log = log;
            _wake = new OutboxWake(time);
        }

        /// <summary>Successful deliveries (tests).</summary>
        public int Delivered => Volatile.Read(ref _delivered);

        /// <summary>Revocations (DELETE {callback}/{kid}) the EMSEs acknowledged.</summary>
        public int Revocations => Volatile.Read(ref _revocations);

        /// <summary>Failed attempts (tests).</summary>
        public int FailedAttempts => Volatile.Read(ref _failed);

        /// <summary>Deliveries given up after MaxAttempts (tests).</summary>
        public int Abandoned => Volatile.Read(ref _abandoned);

        public void OutboxWritten(int rows)
        {
            if (rows <= 0) return;
            _wake.Wake();
        }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            IEmksStore store = _services.GetRequiredService<IEmksStore>();
            while (!stoppingToken.IsCancellationRequested)
            {
                TimeSpan wait = _options.PollInterval;
                try
                {
                    int n = await DispatchDueAsync(store, stoppingToken).ConfigureAwait(false);
                    if (n > 0) continue; // more may be due
                    long? next = await store.NextOutboxDueAsync(stoppingToken).ConfigureAwait(false);
                    if (next is long due)
                    {
                        TimeSpan until = TimeSpan.FromMilliseconds(Math.Max(0, due - _time.GetUtcNow().ToUnixTimeMilliseconds()));
                        if (until < wait) wait = until;
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    _log.LogWarning("push outbox: {Error}", e.GetType().Name);
                }

                if (wait <= TimeSpan.Zero) continue;
                await _wake.WaitUntilAsync(_time.GetUtcNow() + wait, stoppingToken).ConfigureAwait(false);
            }
        }

        /// <summary>One pass over the due rows; returns how many rows were attempted.</summary>
        public async Task<int> DispatchDueAsync(IEmksStore store, CancellationToken ct)
        {
            long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            IReadOnlyList<OutboxItem> due = await store.DueOutboxAsync(now, 64, ct).ConfigureAwait(false);
            if (due.Count == 0) return 0;
            await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = _options.Parallelism, CancellationToken = ct },
                async (item, token) =>
                {
                    if (!await store.ClaimOutboxAsync(item, now + (long)_options.Lease.TotalMilliseconds, token).ConfigureAwait(false)) return;
                    await AttemptAsync(store, item with { Attempts = item.Attempts + 1 }, token).ConfigureAwait(false);
                }).ConfigureAwait(false);
            return due.Count;
        }

        private async Task AttemptAsync(IEmksStore store, OutboxItem item, CancellationToken ct)
        {
            string kid = KidText.Format(item.Kid);
            string? error;
            try
            {
                error = item.RevokeUrl != null
                    ? await RevokeAsync(store, item, kid, ct).ConfigureAwait(false)
                    : await DeliverAsync(store, item, kid, ct).ConfigureAwait(false);
                if (error == null)
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw; // the lease runs out and another pass (or instance) retries
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.IO.IOException)
            {
                error = e.GetType().Name; // never the message: it could carry a URL with credentials
            }

            Interlocked.Increment(ref _failed);
            if (item.Attempts >= _options.MaxAttempts)
            {
                await store.DeleteOutboxAsync(item.Id, ct).ConfigureAwait(false);
                Interlocked.Increment(ref _abandoned);
                if (item.RevokeUrl != null)
                {
                    _log.LogWarning("gave up revoking kid {Kid} at {EmseId} after {Attempts} attempts (last: {Error}); the EMSE drops it at its next revalidation",
                        kid, item.EmseId, item.Attempts, error);
                }
                else
                {
                    _log.LogWarning("gave up pushing kid {Kid} to {EmseId} after {Attempts} attempts (last: {Error}); the EMSE can still pull it",
                        kid, item.EmseId, item.Attempts, error);
                }

                return;
            }

            TimeSpan backoff = _options.BackoffAfter(item.Attempts);
            await store.RescheduleOutboxAsync(item.Id, _time.GetUtcNow().ToUnixTimeMilliseconds() + (long)backoff.TotalMilliseconds, ct).ConfigureAwait(false);
            _log.LogInformation("push of kid {Kid} to {EmseId} failed ({Error}), attempt {Attempt}/{Max}, next in {Backoff}",
                kid, item.EmseId, error, item.Attempts, _options.MaxAttempts, backoff);
        }

        /// <summary>Delivers a key to the EMSE's registration; null when done (or dropped: key gone, not allowed, registration withdrawn), else the error.</summary>
        private async Task<string?> DeliverAsync(IEmksStore store, OutboxItem item, string kid, CancellationToken ct)
        {
            PushRegistration? reg = await store.FindPushRegistrationAsync(item.EmseId, item.SubscriptionId, ct).ConfigureAwait(false);
            E2mKeyPullResponse? body = reg is null ? null : await BuildBodyAsync(store, item, ct).ConfigureAwait(false);
            if (reg is null || body is null)
            {
                await store.DeleteOutboxAsync(item.Id, ct).ConfigureAwait(false);
                _log.LogDebug("push of kid {Kid} to {EmseId} dropped: key gone, expired or no longer allowed, or registration withdrawn", kid, item.EmseId);
                return null;
            }

            HttpClient http = _services.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName);
            using HttpResponseMessage r = await http.PostAsJsonAsync(reg.Url, body, ct).ConfigureAwait(false);
            if (!r.IsSuccessStatusCode)
            {
                return "HTTP " + (int)r.StatusCode;
            }

            await store.DeleteOutboxAsync(item.Id, ct).ConfigureAwait(false);
            await store.MarkUsedAsync(item.Kid, ct).ConfigureAwait(false);
            Interlocked.Increment(ref _delivered);
            _log.LogInformation("pushed kid {Kid} to {EmseId} (attempt {Attempt})", kid, item.EmseId, item.Attempts);
            return null;
        }

        /// <summary>
        /// A revocation (policy sync): <c>DELETE {callback}/{kid}</c> to the callback the EMSE had registered. Null when done
        /// (2xx, or 404: the EMSE holds no such key), else the error.
        /// </summary>
        private async Task<string?> RevokeAsync(IEmksStore store, OutboxItem item, string kid, CancellationToken ct)
        {
            HttpClient http = _services.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName);
            using HttpResponseMessage r = await http.DeleteAsync(item.RevokeUrl!.TrimEnd('/') + "/" + kid, ct).ConfigureAwait(false);
            if (!r.IsSuccessStatusCode && r.StatusCode != System.Net.HttpStatusCode.NotFound)
            {
                return "HTTP " + (int)r.StatusCode;
            }

            await store.DeleteOutboxAsync(item.Id, ct).ConfigureAwait(false);
            Interlocked.Increment(ref _revocations);
            _log.LogInformation("revoked kid {Kid} at {EmseId} (attempt {Attempt})", kid, item.EmseId, item.Attempts);
            return null;
        }

        private async Task<E2mKeyPullResponse?> BuildBodyAsync(IEmksStore store, OutboxItem item, CancellationToken ct)
        {
            KeyRecord? key = await store.FindKeyAsync(item.Kid, ct).ConfigureAwait(false);
            if (key is null) return null;
            try
            {
                if (!key.IsLive(_time.GetUtcNow()) || !key.Allows(item.EmseId) || key.SubscriptionId != item.SubscriptionId) return null;
                return _services.GetRequiredService<KeyService>().BuildResponse(key, item.EmseId);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key.IntKey);
            }
        }

        public override void Dispose()
        {
            _wake.Dispose();
            base.Dispose();
        }
    }
}

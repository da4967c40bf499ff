using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Hss.Subscribers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace E2m.Server.Hss.Emks
{
    /// <summary>Options of the EMKS policy sync (section <c>Hss:Emks:PolicySync</c>, validated at start).</summary>
    public sealed class EmksPolicySyncOptions
    {
        public const string SectionName = "Hss:Emks:PolicySync";

        /// <summary>How often the outbox is looked at when nothing signals a change (rows written by the CLI or another HSS instance).</summary>
        public int PollIntervalSeconds { get; set; } = 5;

        /// <summary>Wait after the first failed attempt of a policy; doubled after each further failure.</summary>
        public int InitialBackoffSeconds { get; set; } = 1;

        /// <summary>Upper bound of the wait between attempts. There is no last attempt: a revocation is never dropped.</summary>
        public int MaxBackoffSeconds { get; set; } = 300;

        /// <summary>Rows read per pass (sent one after the other).</summary>
        public int BatchSize { get; set; } = 64;

        public static IEnumerable<string> Validate(EmksPolicySyncOptions o)
        {
            if (o.PollIntervalSeconds < 1 || o.PollIntervalSeconds > 3600)
            {
                yield return "PollIntervalSeconds: 1..3600";
            }

            if (o.InitialBackoffSeconds < 1 || o.InitialBackoffSeconds > 3600)
            {
                yield return "InitialBackoffSeconds: 1..3600";
            }

            if (o.MaxBackoffSeconds < o.InitialBackoffSeconds || o.MaxBackoffSeconds > 86400)
            {
                yield return "MaxBackoffSeconds: InitialBackoffSeconds..86400";
            }

            if (o.BatchSize < 1 || o.BatchSize > 10000)
            {
                yield return "BatchSize: 1..10000";
            }
        }

        /// <summary>Wait after <paramref name="failedAttempts"/> failures: InitialBackoff · 2^(n−1), at most MaxBackoff (1 s, 2 s, 4 s … 5 min).</summary>
        public TimeSpan BackoffAfter(int failedAttempts) =>
            Backoff.After(failedAttempts, TimeSpan.FromSeconds(InitialBackoffSeconds), TimeSpan.FromSeconds(MaxBackoffSeconds));
    }

    /// <summary>
    /// Sends the rows of <see cref="EmksPolicyOutbox"/> to the EMKS: <c>PUT {Hss:Emks:BaseUrl}/v1/hss/subscriptions/{id}</c>
    /// (<see cref="HssEmksContract.SubscriptionPolicyRoute"/>) over the key push's mTLS client. A 2xx removes the row only if it
    /// still holds the version sent (a newer change queued meanwhile is sent next); anything else (non-2xx, connection error,
    /// timeout) reschedules it with exponential backoff on the injected clock, without end, with one warning line naming the
    /// subscription id and the status. Runs at start, when signalled (<see cref="SendNowAsync"/>), when a row falls due, and
    /// every <see cref="EmksPolicySyncOptions.PollIntervalSeconds"/> (rows of the CLI or another instance). Several HSS
    /// instances may send the same row: the PUT is idempotent and the EMKS ignores versions older than it has.
    /// </summary>
    public sealed class EmksPolicyDispatcher : BackgroundService
    {
        private readonly EmksPolicyOutbox _outbox;
        private readonly IEmksPolicyClient _client;
        private readonly EmksPolicySyncOptions _options;
        private readonly TimeProvider _time;
        private readonly ILogger<EmksPolicyDispatcher> _log;
        private readonly OutboxWake _wake;
        private readonly Dictionary<string, int> _inFlight = new(StringComparer.Ordinal);
        private int _delivered;
        private int _failed;

        public EmksPolicyDispatcher(EmksPolicyOutbox outbox, IEmksPolicyClient client, IOptions<EmksPolicySyncOptions> options, TimeProvider time, ILogger<EmksPolicyDispatcher> log)
        {
            _outbox = outbox;
            _client = client;
            _options = options.Value;
            _time = time;
            _log = log;
            _wake = new OutboxWake(time);
        }

        /// <summary>Policies the EMKS accepted (tests, monitoring).</summary>
        public int Delivered => Volatile.Read(ref _delivered);

        /// <summary>Failed attempts (tests, monitoring).</summary>
        public int FailedAttempts => Volatile.Read(ref _failed);

        /// <summary>
        /// One immediate attempt for a change just committed (admin API): true when the EMKS accepted it ("done"); false when it
        /// stays queued ("pending": rescheduled with backoff, the background loop retries). Never throws for a failed delivery.
        /// </summary>
        public async Task<bool> SendNowAsync(QueuedPolicySync queued, CancellationToken ct)
        {
            try
            {
                return await AttemptAsync(queued.SubscriptionId, queued.Policy, failedBefore: 0, ct).ConfigureAwait(false);
            }
            catch (DbException e)
            {
                _log.LogWarning("EMKS policy sync of subscription {SubscriptionId}: outbox update failed ({Error}); the dispatcher retries", queued.SubscriptionId, e.GetType().Name);
                return false;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return false; // the row stays due; the dispatcher sends it
            }
            finally
            {
                Wake();
            }
        }

        /// <summary>Makes the loop look at the outbox now (e.g. after a row was rescheduled).</summary>
        public void Wake() => _wake.Wake();

        /// <summary>One pass over the rows due now (in-flight ones skipped); returns how many were attempted.</summary>
        public Task<int> DispatchDueAsync(CancellationToken ct) => DispatchDueAsync(_time.GetUtcNow(), ct);

        private async Task<int> DispatchDueAsync(DateTimeOffset now, CancellationToken ct)
        {
            IReadOnlyList<PolicyOutboxRow> due = _outbox.Due(now.ToUnixTimeMilliseconds(), _options.BatchSize);
            int attempted = 0;
            foreach (PolicyOutboxRow row in due)
            {
                lock (_inFlight)
                {
                    if (_inFlight.ContainsKey(row.SubscriptionId))
                    {
                        continue; // an immediate attempt is on it and wakes us when done
                    }
                }

                attempted++;
                await AttemptAsync(row.SubscriptionId, row.Policy, row.Attempts, ct).ConfigureAwait(false);
            }

            return attempted;
        }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Yield(); // off the host's start path
            if (!_client.Configured)
            {
                int queued = SafeCount();
                if (queued > 0)
                {
                    _log.LogWarning("{Count} EMKS policy change(s) queued but Hss:Emks:BaseUrl is not set: they are sent once it is", queued);
                }

                return;
            }

            while (!stoppingToken.IsCancellationRequested)
            {
                // One 'now' for the pass and for the wait: a row due at or before it that the pass did not attempt is in flight
                // (an immediate attempt wakes us when done) or was written after the pass read the outbox (next poll).
                DateTimeOffset now = _time.GetUtcNow();
                DateTimeOffset target = now + TimeSpan.FromSeconds(_options.PollIntervalSeconds);
                try
                {
                    if (await DispatchDueAsync(now, stoppingToken).ConfigureAwait(false) > 0)
                    {
                        continue; // more may be due (a newer version re-queued, a full batch)
                    }

                    if (_outbox.NextDueMs() is long due && due > now.ToUnixTimeMilliseconds())
                    {
                        DateTimeOffset at = DateTimeOffset.FromUnixTimeMilliseconds(due);
                        if (at < target)
                        {
                            target = at;
                        }
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    _log.LogWarning("EMKS policy outbox: {Error}; next look in {Poll} s", e.GetType().Name, _options.PollIntervalSeconds);
                }

                await _wake.WaitUntilAsync(target, stoppingToken).ConfigureAwait(false);
            }
        }

        public override void Dispose()
        {
            _wake.Dispose();
            base.Dispose();
        }

        private async Task<bool> AttemptAsync(string subscriptionId, E2mSubscriptionPolicy policy, int failedBefore, CancellationToken ct)
        {
            lock (_inFlight)
            {
                _inFlight[subscriptionId] = _inFlight.TryGetValue(subscriptionId, out int n) ? n + 1 : 1;
            }

            try
            {
                EmksPolicyPutResult r = await _client.PutPolicyAsync(subscriptionId, policy, ct).ConfigureAwait(false);
                if (r.Delivered)
                {
                    bool removed = _outbox.DeleteIfVersion(subscriptionId, policy.PolicyVersion);
                    Interlocked.Increment(ref _delivered);
                    _log.LogInformation("EMKS has policy version {Version} of subscription {SubscriptionId} (e2m {E2m}){Newer}",
                        policy.PolicyVersion, subscriptionId, policy.E2m, removed ? string.Empty : "; a newer version is queued");
                    return true;
                }

                Interlocked.Increment(ref _failed);
                int attempts = failedBefore + 1;
                TimeSpan backoff = _options.BackoffAfter(attempts);
                bool rescheduled = _outbox.Reschedule(subscriptionId, policy.PolicyVersion, attempts, (_time.GetUtcNow() + backoff).ToUnixTimeMilliseconds());
                _log.LogWarning("EMKS policy sync of subscription {SubscriptionId} failed: {Status}; retry in {Backoff} s",
                    subscriptionId, r.Failure, rescheduled ? (long)backoff.TotalSeconds : 0);
                return false;
            }
            finally
            {
                lock (_inFlight)
                {
                    if (_inFlight[subscriptionId] <= 1)
                    {
                        _inFlight.Remove(subscriptionId);
                    }
                    else
                    {
                        _inFlight[subscriptionId]--;
                    }
                }
            }
        }

        private int SafeCount()
        {
            try
            {
                return _outbox.Count();
            }
            catch (DbException)
            {
                return 0;
            }
        }
    }

    public static class EmksPolicySyncServiceCollectionExtensions
    {
        /// <summary>
        /// Registers the EMKS policy sync: options <see cref="EmksPolicySyncOptions"/> (section <c>Hss:Emks:PolicySync</c>,
        /// validated at start), the outbox and the <see cref="EmksPolicyDispatcher"/> background service. Needs an
        /// <see cref="E2mDatabase"/>, an <see cref="IEmksPolicyClient"/> and a <see cref="TimeProvider"/> (defaults to the system clock).
        /// </summary>
        public static IServiceCollection AddEmksPolicySync(this IServiceCollection services)
        {
            services.AddValidatedOptions<EmksPolicySyncOptions>(EmksPolicySyncOptions.SectionName, EmksPolicySyncOptions.Validate);
            services.TryAddSingleton(TimeProvider.System);
            services.TryAddSingleton(sp => new EmksPolicyOutbox(sp.GetRequiredService<E2mDatabase>()));
            services.TryAddSingleton<EmksPolicyDispatcher>();
            services.AddHostedService(sp => sp.GetRequiredService<EmksPolicyDispatcher>());
            return services;
        }
    }
}

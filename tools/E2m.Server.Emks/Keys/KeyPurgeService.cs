using System;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Emks.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emks.Keys
{
    /// <summary>
    /// Deletes expired keys (policy expiry, DESIGN.md §5) and bootstrap keys past their grace deadline (DESIGN.md §3),
    /// plus expired challenges, every <see cref="EmksOptions.PurgeInterval"/> on the injected <see cref="TimeProvider"/>
    /// (tests advance a fake clock). Lookups treat such keys as absent even before the purge runs.
    /// </summary>
    public sealed class KeyPurgeService : BackgroundService
    {
        private readonly IEmksStore _store;
        private readonly TimeProvider _time;
        private readonly EmksOptions _options;
        private readonly ILogger<KeyPurgeService> _log;

        public KeyPurgeService(IEmksStore store, TimeProvider time, EmksOptions options, ILogger<KeyPurgeService> log)
        {
            _store = store;
            _time = time;
            _options = options;
            _log = log;
        }

        /// <summary>Completed purge runs (tests wait on it).</summary>
        public int Runs => _runs;

        private int _runs;

        /// <summary>One purge now; returns the number of keys deleted.</summary>
        public async Task<int> PurgeOnceAsync(CancellationToken ct = default)
        {
            int n = await _store.PurgeAsync(_time.GetUtcNow(), ct).ConfigureAwait(false);
            if (n > 0) _log.LogInformation("purged {Count} expired keys", n);
            Interlocked.Increment(ref _runs);
            return n;
        }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(_options.PurgeInterval, _time);
            try
            {
                do
                {
                    try
                    {
                        await PurgeOnceAsync(stoppingToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        _log.LogWarning("purge failed: {Error}", e.GetType().Name);
                    }
                }
                while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}

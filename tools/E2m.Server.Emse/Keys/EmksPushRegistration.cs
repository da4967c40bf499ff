using System;
using System.Collections.Generic;
using System.Net.Http;
using System.Net.Http.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Emse.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace E2m.Server.Emse.Keys
{
    /// <summary>
    /// Registers this EMSE's callback with the EMKS at start (push variant): <c>POST {EmksBaseUrl}/v1/subscriptions</c>
    /// <c>{"callback_url","device_ids"}</c> (Common/Contracts EmseCallbackRegistration) over mTLS with the EMSE's client
    /// certificate, for <see cref="EmseOptions.PushDeviceIds"/>, once the HTTPS listener is up. The callback URL is
    /// <see cref="EmseOptions.PushCallbackUrl"/>, else the first https:// address Kestrel listens on + <c>/v1/keys</c>.
    /// Failure is logged, never fatal (the EMSE pulls meanwhile), and the registration is tried until it holds:
    /// <list type="bullet">
    /// <item>403 (the EMKS registers all ids or none, and refuses ids it does not know for this EMSE: typically devices whose
    /// first AIR has not happened yet) → each id is registered on its own, so the ids the EMKS knows are registered now;
    /// the refused ones are tried again every <see cref="EmseOptions.PushRegistrationRetry"/> (10 min).</item>
    /// <item>Network errors and 5xx → retried after 2, 4, 8, 16 s, then every <see cref="EmseOptions.PushRegistrationRetry"/>.</item>
    /// <item>Other 4xx (400, 413: a configuration the EMKS will never accept) → logged as an error, not retried.</item>
    /// </list>
    /// </summary>
    public sealed class EmksPushRegistration : BackgroundService
    {
        private const int Attempts = 5;

        private readonly IServiceProvider _services;
        private readonly EmseOptions _options;
        private readonly TimeProvider _time;
        private readonly ILogger<EmksPushRegistration> _log;
        private HttpClient? _http;
        private int _lastStatus = -1;

        public EmksPushRegistration(IServiceProvider services, IOptions<EmseOptions> options, TimeProvider time, ILogger<EmksPushRegistration> log)
        {
            _services = services;
            _options = options.Value;
            _time = time;
            _log = log;
        }

        /// <summary>HTTP status of the last registration attempt; 0 = network error; -1 = none yet.</summary>
        public int LastStatus => Volatile.Read(ref _lastStatus);

        /// <summary>True when push is enabled and device ids and an EMKS are configured.</summary>
        public bool Configured => _options.PushEnabled && _options.PushDeviceIds.Length > 0 && !string.IsNullOrEmpty(_options.EmksBaseUrl);

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            if (!Configured)
            {
                return;
            }

            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (_services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() => started.TrySetResult()))
            {
                await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
            }

            var pending = new List<string>(_options.PushDeviceIds);
            int transient = 0;
            while (true)
            {
                int status = await TryRegisterAsync(pending, LogLevel.Warning, stoppingToken).ConfigureAwait(false);
                if (status == 403 && pending.Count > 1)
                {
                    // all or nothing at the EMKS: one id at a time registers those it knows now
                    var refused = new List<string>();
                    foreach (string id in pending)
                    {
                        if (await TryRegisterAsync(new[] { id }, LogLevel.Debug, stoppingToken).ConfigureAwait(false) is < 200 or >= 300)
                        {
                            refused.Add(id);
                        }
                    }

                    _log.LogInformation("EMKS push registration: {Registered} of {Count} device ids registered one by one, {Refused} to be tried again in {Retry}",
                        pending.Count - refused.Count, pending.Count, refused.Count, _options.PushRegistrationRetry);
                    pending = refused;
                    status = refused.Count == 0 ? 204 : 403;
                }

                Volatile.Write(ref _pending, pending.ToArray());
                if (status is >= 200 and < 300 || status == -1)
                {
                    return; // registered, or no callback URL (logged)
                }

                if (status is >= 400 and < 500 && status != 403)
                {
                    _log.LogError("EMKS push registration refused with HTTP {Status}: not tried again (check Emse:PushDeviceIds and the callback URL)", status);
                    return;
                }

                TimeSpan wait = status != 403 && transient < Attempts - 1
                    ? TimeSpan.FromSeconds(1 << ++transient) // 2, 4, 8, 16 s for network errors and 5xx
                    : _options.PushRegistrationRetry;
                if (status == 403)
                {
                    transient = 0;
                }

                await Task.Delay(wait, _time, stoppingToken).ConfigureAwait(false);
            }
        }

        private string[] _pending = Array.Empty<string>();

        /// <summary>Device ids not registered yet (tried again every <see cref="EmseOptions.PushRegistrationRetry"/>); empty once all are.</summary>
        public IReadOnlyList<string> PendingDeviceIds => Volatile.Read(ref _pending);

        /// <summary>
        /// One registration attempt for <paramref name="deviceIds"/>: the HTTP status (204 registered), 0 on a network error,
        /// -1 when no callback URL is known. Logged; never throws for EMKS-side failures.
        /// </summary>
        public Task<int> RegisterAsync(IReadOnlyList<string> deviceIds, CancellationToken ct) => TryRegisterAsync(deviceIds, LogLevel.Warning, ct);

        private async Task<int> TryRegisterAsync(IReadOnlyList<string> deviceIds, LogLevel refusedLevel, CancellationToken ct)
        {
            string? callback = CallbackUrl();
            if (callback == null)
            {
                _log.LogWarning("EMKS push registration skipped: no https listener address usable as callback (set Emse:PushCallbackUrl)");
                Volatile.Write(ref _lastStatus, -1);
                return -1;
            }

            int status;
            try
            {
                HttpClient http = _http ??= CreateClient();
                var body = new EmseCallbackRegistration { CallbackUrl = callback, DeviceIds = new List<string>(deviceIds) };
                using HttpResponseMessage r = await http.PostAsJsonAsync(EmksEmseContract.SubscriptionsPath.TrimStart('/'), body, ct).ConfigureAwait(false);
                status = (int)r.StatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.IO.IOException && !ct.IsCancellationRequested)
            {
                _log.LogWarning("EMKS push registration failed: {Error}; keys are pulled", e.GetType().Name);
                Volatile.Write(ref _lastStatus, 0);
                return 0;
            }

            Volatile.Write(ref _lastStatus, status);
            if (status is >= 200 and < 300)
            {
                _log.LogInformation("registered with the EMKS for key push of {Count} device ids at {Callback}", deviceIds.Count, callback);
            }
            else
            {
                _log.Log(refusedLevel, "EMKS refused the push registration of {Count} device ids: HTTP {Status}; keys are pulled", deviceIds.Count, status);
            }

            return status;
        }

        private HttpClient CreateClient()
        {
            var cert = EmksHttpKeySource.LoadClientCertificate(_options.ClientCertificatePath, _options.ClientKeyPath);
            return new HttpClient(Mtls.CreateClientHandler(cert, _services.GetRequiredService<E2mTrustAnchor>()), disposeHandler: true)
            {
                BaseAddress = new Uri(_options.EmksBaseUrl.TrimEnd('/') + "/"),
                Timeout = TimeSpan.FromSeconds(10),
            };
        }

        private string? CallbackUrl()
        {
            if (!string.IsNullOrEmpty(_options.PushCallbackUrl))
            {
                return _options.PushCallbackUrl;
            }

            ICollection<string>? addresses = _services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses;
            if (addresses == null)
            {
                return null;
            }

            foreach (string a in addresses)
            {
                if (Uri.TryCreate(a, UriKind.Absolute, out Uri? u) && u.Scheme == Uri.UriSchemeHttps && u.Port > 0
                    && u.Host is not ("0.0.0.0" or "[::]" or "+" or "*"))
                {
                    return u.GetLeftPart(UriPartial.Authority) + KeyPushApi.Path;
                }
            }

            return null;
        }

        public override void Dispose()
        {
            _http?.Dispose();
            base.Dispose();
        }
    }

    /// <summary>Start-up validation of the push options (in addition to <see cref="EmseOptionsValidator"/>).</summary>
    public sealed class KeyPushOptionsValidator : IValidateOptions<EmseOptions>
    {
        public ValidateOptionsResult Validate(string? name, EmseOptions o)
        {
            var errors = new List<string>();
            string[] ids = o.PushDeviceIds ?? Array.Empty<string>();
            if (ids.Length > 0)
            {
                if (!o.PushEnabled)
                {
                    errors.Add("Emse:PushDeviceIds needs Emse:PushEnabled=true (the callback endpoint).");
                }

                if (string.IsNullOrEmpty(o.EmksBaseUrl))
                {
                    errors.Add("Emse:PushDeviceIds needs Emse:EmksBaseUrl (registration with the EMKS).");
                }

                if (ids.Length > EmksEmseContract.MaxDeviceIdsPerRegistration)
                {
                    errors.Add("Emse:PushDeviceIds: at most " + EmksEmseContract.MaxDeviceIdsPerRegistration + " device ids.");
                }

                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (string? id in ids)
                {
                    if (string.IsNullOrWhiteSpace(id) || id.Length > KeyPushApi.MaxDeviceIdLength || id.Trim() != id)
                    {
                        errors.Add("Emse:PushDeviceIds: each id must be 1.." + KeyPushApi.MaxDeviceIdLength + " characters without surrounding spaces.");
                        break;
                    }

                    if (!seen.Add(id))
                    {
                        errors.Add("Emse:PushDeviceIds: duplicate id.");
                        break;
                    }
                }
            }

            if (o.PushRegistrationRetry <= TimeSpan.Zero)
            {
                errors.Add("Emse:PushRegistrationRetry must be positive.");
            }

            if (!string.IsNullOrEmpty(o.PushCallbackUrl)
                && (o.PushCallbackUrl.Length > 2048 || !Uri.TryCreate(o.PushCallbackUrl, UriKind.Absolute, out Uri? u) || u.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add("Emse:PushCallbackUrl must be an absolute https:// URL of at most 2048 characters (the EMKS pushes over mTLS).");
            }

            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}

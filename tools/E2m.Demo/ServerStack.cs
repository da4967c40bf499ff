using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Emks;
using E2m.Server.Emse;
using E2m.Server.Hss;
using E2m.Server.Hss.Subscribers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace E2m.Demo
{
    /// <summary>A subscriber the demo provisioned (fresh K/OPc from the CSPRNG; the keys stay in this process).</summary>
    public sealed record DemoSubscriber(string Imsi, byte[] K, byte[] Opc);

    /// <summary>One EMSE of the stack: its EMSE_Id, CoAP endpoint and readings API.</summary>
    public sealed record EmseEndpoint(string EmseId, IPEndPoint Coap, string HttpBase, string DataDirectory = "");

    /// <summary>One reading as the EMSE's HTTP API returns it.</summary>
    public sealed record ApiReading(string DeviceId, string Name, double? Value, long TimeUnixMs, string TimeSource, string Kid, long Piv, int Index, string? Unit = null);

    /// <summary>
    /// HSS, EMKS (with the home-mode CoAP bootstrap) and EMSEs in this process on loopback, sharing one data directory
    /// (SQLite files, dev PKI, dev KEK) — the same composition as `e2m stack`, with one EMSE per EMSE_Id.
    /// </summary>
    public sealed class ServerStack : IAsyncDisposable
    {
        private readonly List<WebApplication> _apps = new();
        private readonly List<EmseEndpoint> _emses = new();
        private readonly List<EmseOptions> _emseOptions = new();
        private readonly List<int> _emseAppIndex = new();
        private readonly HashSet<int> _stopped = new();
        private WebApplication? _hss;
        private TimeProvider? _time;
        private LogLevel _level;

        private ServerStack(string dataDirectory)
        {
            DataDirectory = dataDirectory;
        }

        public string DataDirectory { get; }

        public string HssUrl { get; private set; } = "";

        public string EmksUrl { get; private set; } = "";

        public IPEndPoint EmksCoap { get; private set; } = new(IPAddress.Loopback, 0);

        public IReadOnlyList<EmseEndpoint> Emses => _emses;

        /// <summary>
        /// Creates the dev PKI (once), builds and starts the services; logs at <paramref name="level"/> to <paramref name="log"/>.
        /// <paramref name="time"/> replaces every server's TimeProvider (scenario tests: key expiry, exchange lifetime).
        /// </summary>
        public static async Task<ServerStack> StartAsync(string dataDirectory, IReadOnlyList<string> emseIds, LogLevel level, TextWriter log, TimeProvider? time = null)
        {
            var stack = new ServerStack(dataDirectory) { _time = time, _level = level };
            try
            {
                await stack.StartCoreAsync(emseIds, level, log).ConfigureAwait(false);
                return stack;
            }
            catch
            {
                await stack.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        private async Task StartCoreAsync(IReadOnlyList<string> emseIds, LogLevel level, TextWriter log)
        {
            string dir = DataDirectory;
            DevPki.Init(dir, emseIds);
            int hssPort = FreePort(SocketType.Stream), emksPort = FreePort(SocketType.Stream), bootstrapPort = FreePort(SocketType.Dgram);
            HssUrl = $"https://127.0.0.1:{hssPort}";
            EmksUrl = $"https://127.0.0.1:{emksPort}";
            EmksCoap = new IPEndPoint(IPAddress.Loopback, bootstrapPort);

            void Logging(IServiceCollection s) => ConfigureServices(s);

            _hss = HssApp.Build(new[] { "--Hss:DataDirectory=" + dir, "--Hss:Listen:Port=" + hssPort, "--Hss:Emks:BaseUrl=" + EmksUrl }, b => Logging(b.Services));
            _apps.Add(_hss);
            var emksOptions = new EmksOptions { DataDirectory = dir, HttpsPort = emksPort, DevMode = true };
            emksOptions.Hss.BaseUrl = HssUrl;
            emksOptions.Bootstrap.Enabled = true;
            emksOptions.Bootstrap.UdpPort = bootstrapPort;
            emksOptions.Bootstrap.AddressBurst = 1000; // every simulated device shares 127.0.0.1 (the bridge's host address)
            WebApplication emks = EmksApp.Build(emksOptions, Logging);
            _apps.Add(emks);
            var emseApps = new List<(string Id, WebApplication App)>();
            foreach (string id in emseIds)
            {
                var o = new EmseOptions
                {
                    EmseId = id,
                    DataDir = dir,
                    Database = "Data Source=" + Path.Combine(dir, "emse-" + id + ".db"),
                    UdpPort = 0,
                    UdpBindAddress = "127.0.0.1",
                    EmksBaseUrl = EmksUrl,
                    HttpUrls = "https://127.0.0.1:0", // readings API: mTLS, dev PKI roles reader/admin
                    Workers = 2,
                };
                WebApplication app = EmseApp.Build(o, Logging);
                _emseOptions.Add(o);
                _emseAppIndex.Add(_apps.Count);
                _apps.Add(app);
                emseApps.Add((id, app));
            }

            foreach (WebApplication app in _apps)
            {
                await app.StartAsync().ConfigureAwait(false);
            }

            foreach ((string id, WebApplication app) in emseApps)
            {
                _emses.Add(Endpoint(id, app));
            }

            log.WriteLine($"stack: data {dir}");
            log.WriteLine($"stack: hss {HssUrl}  emks {EmksUrl}  emks-coap coap://{EmksCoap}");
            foreach (EmseEndpoint e in _emses)
            {
                log.WriteLine($"stack: {e.EmseId} coap://{e.Coap}  readings {e.HttpBase}/v1/devices");
            }
        }

        private void ConfigureServices(IServiceCollection s)
        {
            s.Configure<LoggerFilterOptions>(o => o.MinLevel = _level);
            s.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            if (_time != null)
            {
                s.Replace(ServiceDescriptor.Singleton(typeof(TimeProvider), _time));
            }
        }

        private static EmseEndpoint Endpoint(string id, WebApplication app)
        {
            IPEndPoint coap = EmseApp.GetCoapEndPoint(app);
            string http = EmseApp.GetHttpAddresses(app).FirstOrDefault() ?? throw new InvalidOperationException("EMSE " + id + ": no HTTP address");
            return new EmseEndpoint(id, new IPEndPoint(IPAddress.Loopback, coap.Port), http.TrimEnd('/'),
                app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EmseOptions>>().Value.DataDir);
        }

        /// <summary>Stops EMSE <paramref name="index"/> (its database and replay windows stay in the data directory).</summary>
        public async Task StopEmseAsync(int index)
        {
            int at = _emseAppIndex[index];
            WebApplication app = _apps[at];
            _stopped.Add(at);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await app.StopAsync(timeout.Token).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        }

        /// <summary>Starts EMSE <paramref name="index"/> again after <see cref="StopEmseAsync"/>: same EMSE_Id, database and CoAP port.</summary>
        public async Task StartEmseAsync(int index)
        {
            EmseOptions o = _emseOptions[index];
            o.UdpPort = _emses[index].Coap.Port; // the devices are configured with it
            WebApplication app = EmseApp.Build(o, ConfigureServices);
            _apps[_emseAppIndex[index]] = app;
            _stopped.Remove(_emseAppIndex[index]);
            await app.StartAsync().ConfigureAwait(false);
            _emses[index] = Endpoint(o.EmseId, app);
        }

        /// <summary>The HSS's view of a subscriber (SEQ_HE, IND, profile; no secrets).</summary>
        public SubscriberInfo? Subscriber(string imsi) => _hss!.Services.GetRequiredService<SubscriberStore>().Get(imsi);

        /// <summary>Adds an e2m subscriber with fresh K/OPc (CSPRNG), e2m enabled, every EMSE of the stack allowed.</summary>
        public DemoSubscriber Provision(IReadOnlyList<string> allowedEmseIds) => Provision(allowedEmseIds, null);

        /// <summary>As <see cref="Provision(IReadOnlyList{string})"/>; <paramref name="customize"/> may change the profile (key lifetime, SQN) before it is stored.</summary>
        public DemoSubscriber Provision(IReadOnlyList<string> allowedEmseIds, Action<NewSubscriber>? customize)
        {
            SubscriberStore store = _hss!.Services.GetRequiredService<SubscriberStore>();
            while (true)
            {
                // MCC 001 MNC 01 (test network) + 10 random MSIN digits
                string imsi = "00101" + RandomNumberGenerator.GetInt32(0, 100000).ToString("D5", System.Globalization.CultureInfo.InvariantCulture)
                    + RandomNumberGenerator.GetInt32(0, 100000).ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
                if (store.Get(imsi) != null)
                {
                    continue;
                }

                byte[] k = RandomNumberGenerator.GetBytes(16), opc = RandomNumberGenerator.GetBytes(16);
                var s = new NewSubscriber
                {
                    Imsi = imsi,
                    K = k,
                    Opc = opc,
                    E2m = new E2mProfile { Enabled = true, AllowedEmseIds = new List<string>(allowedEmseIds) },
                };
                customize?.Invoke(s);
                store.Add(s);
                return new DemoSubscriber(imsi, k, opc);
            }
        }

        /// <summary>HTTP handler presenting the serving node's dev certificate (mTLS to the HSS AIR API).</summary>
        public HttpMessageHandler CreateServingNodeHandler() =>
            Mtls.CreateClientHandler(DevPki.LoadCertificate(DataDirectory, DevPki.ServingNode), DevPki.LoadTrustAnchor(DataDirectory));

        /// <summary>Every reading the EMSE stored, read through its readings HTTP API (GET /v1/devices, /v1/devices/{id}/readings).</summary>
        public static async Task<List<ApiReading>> ReadAllAsync(EmseEndpoint emse, CancellationToken ct = default)
        {
            // The readings API needs the dev PKI's reader client certificate (mTLS; EMSE README "HTTP API").
            var reader = Mtls.CreateClientHandler(DevPki.LoadCertificate(emse.DataDirectory, DevPki.Reader),
                DevPki.LoadTrustAnchor(emse.DataDirectory));
            using var http = new HttpClient(reader) { BaseAddress = new Uri(emse.HttpBase + "/"), Timeout = TimeSpan.FromSeconds(30) };
            var result = new List<ApiReading>();
            using JsonDocument devices = JsonDocument.Parse(await http.GetStringAsync("v1/devices", ct).ConfigureAwait(false));
            foreach (JsonElement d in devices.RootElement.GetProperty("devices").EnumerateArray())
            {
                string id = d.GetProperty("deviceId").GetString()!;
                using JsonDocument readings = JsonDocument.Parse(await http.GetStringAsync("v1/devices/" + Uri.EscapeDataString(id) + "/readings", ct).ConfigureAwait(false));
                foreach (JsonElement r in readings.RootElement.GetProperty("readings").EnumerateArray())
                {
                    double? value = r.TryGetProperty("value", out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
                    result.Add(new ApiReading(id, r.GetProperty("name").GetString() ?? "", value, r.GetProperty("timeUnixMs").GetInt64(),
                        r.GetProperty("timeSource").GetString() ?? "", r.GetProperty("kid").GetString() ?? "", r.GetProperty("piv").GetInt64(), r.GetProperty("index").GetInt32(),
                        r.TryGetProperty("unit", out JsonElement u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null));
                }
            }

            return result;
        }

        public async ValueTask DisposeAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            for (int i = _apps.Count - 1; i >= 0; i--)
            {
                if (_stopped.Contains(i))
                {
                    continue;
                }

                try
                {
                    await _apps[i].StopAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException || e is InvalidOperationException)
                {
                }

                await _apps[i].DisposeAsync().ConfigureAwait(false);
            }

            _apps.Clear();
        }

        private static int FreePort(SocketType type)
        {
            using var s = new Socket(AddressFamily.InterNetwork, type, type == SocketType.Stream ? ProtocolType.Tcp : ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)s.LocalEndPoint!).Port;
        }
    }
}

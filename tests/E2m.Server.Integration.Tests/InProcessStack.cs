using System;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Emks;
using E2m.Server.Emse;
using E2m.Server.Hss;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace E2m.Server.Integration.Tests
{
    /// <summary>
    /// HSS, EMKS and one EMSE on real loopback sockets (HTTPS with the dev PKI of a fresh data directory, CoAP/UDP),
    /// wired like `e2m stack`: HSS → EMKS push URL, EMSE → EMKS pull URL. Use as an xunit fixture or per test.
    /// Clients: <see cref="Client"/> gives an HttpClient presenting a dev PKI certificate and trusting only the dev CA.
    /// </summary>
    public sealed class InProcessStack : IAsyncLifetime
    {
        public const string EmseId = "emse.example.org";

        public string DataDir { get; } = Path.Combine(Path.GetTempPath(), "e2m-integration", Guid.NewGuid().ToString("N"));

        public WebApplication Hss { get; private set; } = null!;

        public WebApplication Emks { get; private set; } = null!;

        public WebApplication Emse { get; private set; } = null!;

        public string HssUrl { get; private set; } = string.Empty;

        public string EmksUrl { get; private set; } = string.Empty;

        public IPEndPoint EmseCoap { get; private set; } = null!;

        public E2mTrustAnchor Trust { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            DevPki.Init(DataDir, new[] { EmseId });
            Trust = new E2mTrustAnchor(DevPki.LoadCaCertificate(DataDir));
            int hssPort = FreeTcpPort(), emksPort = FreeTcpPort();
            HssUrl = $"https://127.0.0.1:{hssPort}";
            EmksUrl = $"https://127.0.0.1:{emksPort}";
            static void Quiet(IServiceCollection s) => s.Configure<LoggerFilterOptions>(o => o.MinLevel = LogLevel.Warning);

            Hss = HssApp.Build(new[] { "--Hss:DataDirectory=" + DataDir, "--Hss:Listen:Port=" + hssPort, "--Hss:Emks:BaseUrl=" + EmksUrl }, b => Quiet(b.Services));
            var emks = new EmksOptions { DataDirectory = DataDir, HttpsPort = emksPort, DevMode = true };
            emks.Hss.BaseUrl = HssUrl;
            Emks = EmksApp.Build(emks, Quiet);
            Emse = EmseApp.Build(new EmseOptions
            {
                EmseId = EmseId, DataDir = DataDir, UdpPort = 0, UdpBindAddress = "127.0.0.1", EmksBaseUrl = EmksUrl, HttpUrls = "https://127.0.0.1:0",
            }, Quiet);
            await Hss.StartAsync();
            await Emks.StartAsync();
            await Emse.StartAsync();
            EmseCoap = EmseApp.GetCoapEndPoint(Emse);
        }

        public async Task DisposeAsync()
        {
            foreach (WebApplication? app in new[] { Emse, Emks, Hss })
            {
                if (app != null)
                {
                    await app.DisposeAsync();
                }
            }
        }

        /// <summary>HttpClient presenting the dev PKI certificate <paramref name="name"/> (e.g. "serving-node", "admin", "emse-emse.example.org").</summary>
        public HttpClient Client(string? name)
        {
            X509Certificate2? cert = name == null ? null : DevPki.LoadCertificate(DataDir, name);
            return new HttpClient(Mtls.CreateClientHandler(cert, Trust));
        }

        private static int FreeTcpPort()
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)s.LocalEndPoint!).Port;
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks;
using E2m.Server.Emks.Bootstrap;
using E2m.Server.Emks.Hss;
using E2m.Server.Emks.Keys;
using E2m.Server.Emks.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using E2m.TestSupport;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// The EMKS hosted in-process on real sockets (Kestrel HTTPS with mTLS on 127.0.0.1:0, CoAP/UDP on 127.0.0.1:0),
    /// a fresh data directory with the dev PKI, a fake clock and a fake HSS. One per test class (IClassFixture) or per test.
    /// </summary>
    public sealed class EmksTestHost : IAsyncLifetime, IAsyncDisposable
    {
        public static readonly string[] EmseIds = { "emse.example.org", "meters.utility.example", "other.example" };

        private readonly Action<EmksOptions>? _configure;
        private readonly Action<IServiceCollection>? _overrides;

        public EmksTestHost()
            : this(null, null)
        {
        }

        public EmksTestHost(Action<EmksOptions>? configure, Action<IServiceCollection>? overrides = null, string? dataDirectory = null, FakeTimeProvider? clock = null)
        {
            _configure = configure;
            _overrides = overrides;
            _keepDataDirectory = dataDirectory != null;
            DataDirectory = dataDirectory ?? Path.Combine(Path.GetTempPath(), "e2m-emks-tests-" + Guid.NewGuid().ToString("N"));
            Clock = clock ?? new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 8, 0, 0, TimeSpan.Zero));
        }

        private readonly bool _keepDataDirectory;

        /// <summary>Every log line of the host (category: message), to check that no key material is logged.</summary>
        public CapturingLoggerProvider Logs { get; } = new();

        public string DataDirectory { get; }

        /// <summary>Starts at a fixed instant so expiry arithmetic is exact.</summary>
        public FakeTimeProvider Clock { get; }

        public WebApplication App { get; private set; } = null!;

        public Uri BaseAddress { get; private set; } = null!;

        public IPEndPoint CoapEndPoint { get; private set; } = null!;

        public FakeHss Hss { get; private set; } = null!;

        public E2mTrustAnchor Trust { get; private set; } = null!;

        public IEmksStore Store => App.Services.GetRequiredService<IEmksStore>();

        public KeyService Keys => App.Services.GetRequiredService<KeyService>();

        public EmksOptions Options { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            DevPki.Init(DataDirectory, EmseIds);
            Options = new EmksOptions
            {
                DataDirectory = DataDirectory,
                HttpsPort = 0,
                PurgeInterval = TimeSpan.FromMinutes(1),
                Hss = new HssClientOptions { BaseUrl = "https://127.0.0.1:9" },
                Bootstrap = new BootstrapOptions { Enabled = true, UdpPort = 0 },
            };
            _configure?.Invoke(Options);
            App = EmksApp.Build(Options, services =>
            {
                services.RemoveAll<TimeProvider>();
                services.AddSingleton<TimeProvider>(Clock);
                services.RemoveAll<IHssAirClient>();
                services.AddSingleton<FakeHss>();
                services.AddSingleton<IHssAirClient>(sp => sp.GetRequiredService<FakeHss>());
                services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(Logs);
                _overrides?.Invoke(services);
            });
            await App.StartAsync();
            string address = App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            BaseAddress = new Uri(address);
            CoapEndPoint = App.Services.GetService<BootstrapUdpServer>()?.LocalEndPoint ?? new IPEndPoint(IPAddress.Loopback, 9);
            Hss = App.Services.GetRequiredService<FakeHss>();
            Trust = App.Services.GetRequiredService<E2mTrustAnchor>();
        }

        async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();

        public async Task DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
            if (_keepDataDirectory) return;
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        public X509Certificate2 Certificate(string name) => DevPki.LoadCertificate(DataDirectory, name);

        public X509Certificate2 EmseCertificate(string emseId) => Certificate(DevPki.EmseName(emseId));

        /// <summary>An HttpClient over real TLS presenting <paramref name="certificateName"/> (null = no client certificate).</summary>
        public HttpClient Client(string? certificateName)
        {
            X509Certificate2? cert = certificateName is null ? null : Certificate(certificateName);
            return new HttpClient(Mtls.CreateClientHandler(cert, Trust)) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        }

        public HttpClient HssClient() => Client(DevPki.Hss);

        /// <summary>
        /// POST with "Expect: 100-continue" (RFC 9110 §10.1.1) for a body above the endpoint's limit: the server refuses
        /// from the headers (Content-Length) before the body is sent. Without it the client may still be writing the
        /// body when the server answers 413 and closes, and the test sees a broken pipe instead of the 413. The client
        /// waits up to 30 s for the server's answer before it would send the body anyway (default 1 s: too short on a
        /// loaded CI machine).
        /// </summary>
        public async Task<HttpResponseMessage> PostOversizedAsync(string certificateName, string path, HttpContent content)
        {
            SocketsHttpHandler handler = Mtls.CreateClientHandler(Certificate(certificateName), Trust);
            handler.Expect100ContinueTimeout = TimeSpan.FromSeconds(30);
            using var client = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
            request.Headers.ExpectContinue = true;
            return await client.SendAsync(request).ConfigureAwait(false);
        }

        public HttpClient EmseClient(string emseId) => Client(DevPki.EmseName(emseId));

        public static E2mKeyPushRequest Push(string intKeyHex, string kidHex, long expiry, string subscriptionId, string? externalId, params string[] emses) => new()
        {
            Keys = new List<E2mKeyPush>
            {
                new()
                {
                    Kid = kidHex,
                    E2mIntKey = intKeyHex,
                    Expiry = expiry,
                    Subscriber = new E2mSubscriberRef { SubscriptionId = subscriptionId, ExternalId = externalId, AllowedEmseIds = emses.ToList() },
                },
            },
        };

        public async Task PushAsync(E2mKeyPushRequest push)
        {
            using HttpClient hss = HssClient();
            using HttpResponseMessage r = await hss.PostAsJsonAsync(HssEmksContract.PushPath, push);
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        }

        public long Now => Clock.GetUtcNow().ToUnixTimeSeconds();

        /// <summary>Sends one CoAP datagram to the bootstrap endpoint and waits (5 s real time) for one answer.</summary>
        public async Task<byte[]?> CoapExchangeAsync(UdpClient udp, byte[] datagram, int timeoutMs = 5000)
        {
            await udp.SendAsync(datagram, CoapEndPoint);
            using var cts = new CancellationTokenSource(timeoutMs);
            try
            {
                UdpReceiveResult r = await udp.ReceiveAsync(cts.Token);
                return r.Buffer;
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }

        private static int s_mid = 100;

        /// <summary>CON POST /bs with Content-Format 60 and a 4-octet token.</summary>
        public static byte[] BootstrapDatagram(byte[] cbor, int? messageId = null, bool confirmable = true, string path = "bs", byte code = CoapCode.Post)
        {
            var m = new CoapMessage();
            m.Type = confirmable ? CoapType.Confirmable : CoapType.NonConfirmable;
            m.Code = code;
            m.MessageId = messageId ?? (Interlocked.Increment(ref s_mid) & 0xFFFF);
            m.SetToken(new byte[] { 0xA1, 0xB2, 0xC3, 0xD4 }, 0, 4);
            m.AddUriPath(path);
            m.SetContentFormat(60);
            m.SetPayload(cbor, 0, cbor.Length);
            var buf = new byte[CoapCodec.GetEncodedLength(m)];
            CoapCodec.Encode(m, buf, 0);
            return buf;
        }

        /// <summary>Decoded response: code, Max-Age (or -1), payload copy.</summary>
        public static (byte Code, byte Type, int MessageId, long MaxAge, byte[] Payload, byte[] Token) Decode(byte[] datagram)
        {
            var m = new CoapMessage();
            CoapCodec.Decode(datagram, 0, datagram.Length, m);
            int i = m.FindOption(CoapOption.MaxAge);
            long maxAge = i < 0 ? -1 : m.GetOptionUInt(i, 4);
            byte[] payload = m.PayloadLength == 0 ? Array.Empty<byte>() : m.PayloadBuffer.AsSpan(m.PayloadOffset, m.PayloadLength).ToArray();
            return (m.Code, m.Type, m.MessageId, maxAge, payload, m.Token.AsSpan(0, m.TokenLength).ToArray());
        }
    }
}

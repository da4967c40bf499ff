using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Hal.Host;
using E2m.Oscore;
using E2m.Server.Common;
using E2m.Server.Emse.Coap;
using E2m.Server.Emse.Keys;
using E2m.Server.Emse.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emse.Tests
{
    /// <summary>Injected clock (tests never depend on the wall clock for assertions).</summary>
    public sealed class ManualTimeProvider : TimeProvider
    {
        private long _ticks;

        public ManualTimeProvider(DateTimeOffset start) => _ticks = start.UtcTicks;

        public override DateTimeOffset GetUtcNow() => new DateTimeOffset(Interlocked.Read(ref _ticks), TimeSpan.Zero);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    /// <summary>Fake EMKS: keys by 7-octet kid hex; unknown → 404. Optional gate to hold pulls (dedupe test).</summary>
    public sealed class FakeEmks : IEmksKeySource
    {
        private readonly ConcurrentDictionary<string, EmksKey> _keys = new();
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public TaskCompletionSource? Gate { get; set; }

        public bool Unavailable { get; set; }

        public void Add(byte[] kid8, byte[] e2mKey, DateTimeOffset expires, string deviceId) =>
            _keys[Convert.ToHexStringLower(kid8, 0, 7)] = new EmksKey(kid8, (byte[])e2mKey.Clone(), expires, deviceId);

        /// <summary>The EMKS no longer gives the key (revoked, or this EMSE no longer allowed): 404 from now on.</summary>
        public void Remove(byte[] kid8) => _keys.TryRemove(Convert.ToHexStringLower(kid8, 0, 7), out _);

        public async Task<EmksKeyLookup> GetKeyAsync(byte[] kid, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            if (Gate != null)
            {
                await Gate.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            if (Unavailable)
            {
                return EmksKeyLookup.Unavailable("test");
            }

            // a fresh copy: the EMSE zeroises what it gets
            return _keys.TryGetValue(Convert.ToHexStringLower(kid), out EmksKey? k)
                ? EmksKeyLookup.Found(new EmksKey(k.Kid, (byte[])k.E2mKey.Clone(), k.Expires, k.DeviceId))
                : EmksKeyLookup.NotFound();
        }
    }

    /// <summary>
    /// One EMSE under test: WebApplicationFactory over the real Program (HTTP via TestServer), the CoAP side on a real
    /// UDP socket on 127.0.0.1 (ephemeral port), SQLite in a temp directory (or a given database), fake EMKS and clock.
    /// </summary>
    public sealed class EmseHost : IDisposable
    {
        private readonly WebApplicationFactory<Program> _factory;

        public EmseHost(string dataDir, FakeEmks emks, ManualTimeProvider time, string database = "", int workers = 1,
            Action<IDictionary<string, string?>>? settings = null, Action<IServiceCollection>? services = null)
        {
            DataDir = dataDir;
            TestPki.CopyTo(dataDir);
            var s = new Dictionary<string, string?>
            {
                ["Emse:EmseId"] = "emse.test.example",
                ["Emse:UdpPort"] = "0",
                ["Emse:UdpBindAddress"] = "127.0.0.1",
                ["Emse:DataDir"] = dataDir,
                ["Emse:Database"] = database,
                ["Emse:Workers"] = workers.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Emse:SqliteSynchronous"] = "NORMAL",
                ["Emse:NegativeCacheTime"] = "00:00:05",
            };
            settings?.Invoke(s);
            _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
            {
                foreach (KeyValuePair<string, string?> kv in s)
                {
                    b.UseSetting(kv.Key, kv.Value);
                }

                b.ConfigureTestServices(testServices =>
                {
                    testServices.AddLogging(l => l.AddProvider(new FileLoggerProvider(LogPath(dataDir))));
                    testServices.AddSingleton<IEmksKeySource>(emks);
                    testServices.AddSingleton<TimeProvider>(time);
                    testServices.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter>(new TestPki.ClientCertificateFilter(dataDir));
                    services?.Invoke(testServices); // last: replaces the registrations above
                });
            });
            Http = HttpAs(DevPki.Reader); // starts the host (and the UDP server)
            Server = _factory.Services.GetRequiredService<EmseCoapServer>();
            Store = _factory.Services.GetRequiredService<EmseStore>();
        }

        public string DataDir { get; }

        public static string LogPath(string dataDir)
        {
            string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "e2m-emse-logs");
            Directory.CreateDirectory(dir);
            return System.IO.Path.Combine(dir, System.IO.Path.GetFileName(dataDir) + ".log");
        }
        /// <summary>A client of the readings API presenting the dev PKI's <c>reader</c> certificate.</summary>
        public System.Net.Http.HttpClient Http { get; }

        /// <summary>
        /// A client presenting the dev PKI certificate <paramref name="certificate"/> (e.g. DevPki.Admin, DevPki.Hss),
        /// <see cref="TestPki.Foreign"/> (a certificate of another CA), or none (null). TestServer has no TLS: the name
        /// travels in a test header and <see cref="TestPki.ClientCertificateFilter"/> sets Connection.ClientCertificate;
        /// the EMSE then validates chain and role exactly as behind Kestrel.
        /// </summary>
        public System.Net.Http.HttpClient HttpAs(string? certificate) =>
            _factory.CreateDefaultClient(new TestPki.HeaderHandler(certificate));
        public EmseCoapServer Server { get; }
        public EmseStore Store { get; }
        public IPEndPoint CoapEndPoint => Server.LocalEndPoint!;

        /// <summary>Datagrams the EMSE has sent so far (responses, RSTs, errors).</summary>
        public long SentCount => Interlocked.Read(ref Server.Stats.Sent);

        /// <summary>
        /// Sends one datagram once the EMSE is idle and waits until the EMSE handled it. Returns the EMSE's answer, or null
        /// when it sent none (no other client may talk to this EMSE meanwhile: Stats.Sent counts every answer). The EMSE counts a datagram as handled only after its answer went to the kernel (Stats.Sent),
        /// so the answer is awaited with a blocking receive: loopback delivery may lag the send (softirq).
        /// </summary>
        public byte[]? SendOne(TestDevice dev, byte[] datagram)
        {
            WaitIdle();
            long handled = Interlocked.Read(ref Server.Stats.Handled);
            long sent = SentCount;
            dev.Send(datagram);
            WaitHandled(handled + 1);
            long answers = SentCount - sent;
            Xunit.Assert.True(answers <= 1, answers + " answers to one datagram");
            return answers == 0 ? null : dev.Receive();
        }

        /// <summary>Waits until the shards handled at least <paramref name="count"/> datagrams (guard timeout 30 s).</summary>
        public void WaitHandled(long count)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (Interlocked.Read(ref Server.Stats.Handled) < count)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("EMSE handled " + Interlocked.Read(ref Server.Stats.Handled) + " of " + count + " datagrams; " + Server.Stats);
                }

                Thread.Sleep(1);
            }
        }

        /// <summary>Waits until every received datagram has been handled.</summary>
        public void WaitIdle()
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (Interlocked.Read(ref Server.Stats.Handled) < Interlocked.Read(ref Server.Stats.Received))
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("EMSE not idle: " + Server.Stats);
                }

                Thread.Sleep(1);
            }
        }

        public void Dispose()
        {
            Http.Dispose();
            _factory.Dispose();
        }
    }

    /// <summary>Server log to a file in the data directory (printed by tests on failure).</summary>
    public sealed class FileLoggerProvider : Microsoft.Extensions.Logging.ILoggerProvider
    {
        private readonly string _path;
        private readonly object _sync = new();

        public FileLoggerProvider(string path) => _path = path;

        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new L(this);

        public void Dispose()
        {
        }

        private sealed class L : Microsoft.Extensions.Logging.ILogger
        {
            private readonly FileLoggerProvider _p;

            public L(FileLoggerProvider p) => _p = p;

            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Information;

            public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (_p._sync)
                {
                    File.AppendAllText(_p._path, logLevel + " " + formatter(state, exception) + (exception != null ? " " + exception : "") + Environment.NewLine);
                }
            }
        }
    }

    /// <summary>One dev PKI per test run (generated once, copied into each data directory) and the TestServer certificate shim.</summary>
    public static class TestPki
    {
        public const string Header = "X-E2m-Test-Client-Certificate";
        public const string Foreign = "foreign";

        private static readonly Lazy<string> s_template = new(() =>
        {
            string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "e2m-emse-pki-" + Guid.NewGuid().ToString("N"));
            DevPki.Init(dir, new[] { "emse.test.example" });
            return dir;
        });

        private static readonly Lazy<System.Security.Cryptography.X509Certificates.X509Certificate2> s_foreign = new(() =>
        {
            using var ca = DevPki.CreateCa("another CA");
            return DevPki.IssueFixed(ca, DevPki.Reader); // right role, wrong CA
        });

        public static void CopyTo(string dataDir)
        {
            string from = DevPki.PkiDirectory(s_template.Value);
            string to = DevPki.PkiDirectory(dataDir);
            Directory.CreateDirectory(to);
            foreach (string f in Directory.GetFiles(from))
            {
                File.Copy(f, System.IO.Path.Combine(to, System.IO.Path.GetFileName(f)), overwrite: true);
            }
        }

        public sealed class HeaderHandler : System.Net.Http.DelegatingHandler
        {
            private readonly string? _name;

            public HeaderHandler(string? name) => _name = name;

            protected override Task<System.Net.Http.HttpResponseMessage> SendAsync(System.Net.Http.HttpRequestMessage request, CancellationToken cancellationToken)
            {
                if (_name != null)
                {
                    request.Headers.Add(Header, _name);
                }

                return base.SendAsync(request, cancellationToken);
            }
        }

        public sealed class ClientCertificateFilter : Microsoft.AspNetCore.Hosting.IStartupFilter
        {
            private readonly string _dataDir;
            private readonly ConcurrentDictionary<string, System.Security.Cryptography.X509Certificates.X509Certificate2> _certs = new();

            public ClientCertificateFilter(string dataDir) => _dataDir = dataDir;

            public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
            {
                app.Use(async (ctx, nextMiddleware) =>
                {
                    string? name = ctx.Request.Headers[Header];
                    if (!string.IsNullOrEmpty(name))
                    {
                        ctx.Connection.ClientCertificate = _certs.GetOrAdd(name, n => n == Foreign ? s_foreign.Value : DevPki.LoadCertificate(_dataDir, n));
                    }

                    await nextMiddleware().ConfigureAwait(false);
                });
                next(app);
            };
        }
    }

    public sealed class TempDir : IDisposable
    {
        public TempDir()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "e2m-emse-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public void Dispose()
        {
            try
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                Directory.Delete(Path, true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>A simulated device: e2m OSCORE context (ForDevice, MemorySsnStore) and a UDP socket on 127.0.0.1.</summary>
    public sealed class TestDevice : IDisposable
    {
        private static int s_seq;
        private readonly OscoreSecurityContext _context;
        private Socket _socket;
        private IPEndPoint _emse;
        private readonly byte[] _pack = new byte[600];
        private readonly SenmlRecord _record = new();
        private ushort _mid;

        public TestDevice(IPEndPoint emse, byte[] kid8, byte[] e2mKey, int index = 0)
        {
            Kid = kid8;
            _emse = emse;
            _context = OscoreSecurityContext.ForDevice(new PlatformCryptoProvider(), e2mKey, kid8, new MemorySsnStore());
            _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _socket.ReceiveTimeout = 10000; // guard only
            _mid = (ushort)(1000 + index * 97 + Interlocked.Increment(ref s_seq));
        }

        public byte[] Kid { get; }

        public string KidHex7 => Convert.ToHexStringLower(Kid, 0, 7);

        /// <summary>Talks to another EMSE endpoint from now on (the same OSCORE context: e.g. the EMSE restarted on another port).</summary>
        public void Retarget(IPEndPoint emse) => _emse = emse;

        public static (byte[] Kid, byte[] Key) NewKey(Random rng)
        {
            var kid = new byte[8];
            var key = new byte[32];
            rng.NextBytes(kid);
            rng.NextBytes(key);
            return (kid, key);
        }

        /// <summary>A protected POST /r with one SenML record "energy" = value Wh per entry (base time when given).</summary>
        public Protected Build(long[] values, long? baseTime = null, byte code = CoapCode.Post, string path = "r", int contentFormat = CoapContentFormat.SenmlCbor,
            byte type = CoapType.Confirmable, byte[]? rawPayload = null, int extraOption = -1, byte[]? extraValue = null)
        {
            int packLength;
            if (rawPayload != null)
            {
                Array.Copy(rawPayload, _pack, rawPayload.Length);
                packLength = rawPayload.Length;
            }
            else
            {
                var w = new SenmlBatchWriter(_pack, 0, 500);
                w.Begin("urn:dev:kid:" + KidHex7 + ":", baseTime.HasValue, baseTime ?? 0);
                for (int i = 0; i < values.Length; i++)
                {
                    _record.Set("energy", "Wh", values[i], 0, true, baseTime.HasValue ? i : -60 + i);
                    if (!w.TryAdd(_record))
                    {
                        throw new InvalidOperationException("pack too large");
                    }
                }

                packLength = w.Finish();
            }

            var m = new CoapMessage { Type = type, Code = code, MessageId = _mid++ };
            m.SetToken(new byte[] { (byte)(m.MessageId >> 8), (byte)m.MessageId, 0xA5, 0x5A }, 0, 4);
            if (path.Length > 0)
            {
                m.AddUriPath(path);
            }

            if (contentFormat >= 0)
            {
                m.SetContentFormat(contentFormat);
            }

            if (extraOption >= 0)
            {
                byte[] v = extraValue ?? Array.Empty<byte>();
                m.AddOption(extraOption, v, 0, v.Length);
            }

            m.SetPayload(_pack, 0, packLength);
            var wire = new byte[1200];
            var ex = new OscoreExchange();
            int n = _context.ProtectRequest(m, wire, 0, ex);
            Array.Resize(ref wire, n);
            return new Protected(wire, ex, m.MessageId);
        }

        public void Send(byte[] datagram) => _socket.SendTo(datagram, _emse);

        /// <summary>A new local port, as after a NAT rebinding: the EMSE sees the device at another address.</summary>
        public void Rebind()
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            socket.ReceiveTimeout = 10000; // guard only
            _socket.Dispose();
            _socket = socket;
        }

        /// <summary>Sends to another EMSE instance (several EMSEs on one database).</summary>
        public void SendTo(byte[] datagram, IPEndPoint emse) => _socket.SendTo(datagram, emse);

        public byte[] Receive()
        {
            var buf = new byte[70000];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            int n = _socket.ReceiveFrom(buf, ref from);
            Array.Resize(ref buf, n);
            return buf;
        }

        public byte[] Exchange(Protected p)
        {
            Send(p.Datagram);
            return Receive();
        }

        /// <summary>The inner code of a protected response (RFC 8613 §8.4), after checking it answers <paramref name="p"/>.</summary>
        public byte Verify(Protected p, byte[] response)
        {
            var into = new CoapMessage();
            var output = new byte[response.Length];
            _context.UnprotectResponse(response, 0, response.Length, p.Exchange, output, 0, into);
            return into.Code;
        }

        public void Dispose()
        {
            _socket.Dispose();
            _context.Dispose();
        }
    }

    public sealed class Protected
    {
        public Protected(byte[] datagram, OscoreExchange exchange, int messageId)
        {
            Datagram = datagram;
            Exchange = exchange;
            MessageId = messageId;
        }

        public byte[] Datagram { get; }
        public OscoreExchange Exchange { get; }
        public int MessageId { get; }
    }

    public static class Coap
    {
        public static CoapMessage Decode(byte[] datagram)
        {
            var m = new CoapMessage();
            CoapCodec.Decode(datagram, 0, datagram.Length, m);
            return m;
        }

        public static string Code(byte code) => (code >> 5).ToString(System.Globalization.CultureInfo.InvariantCulture) + "." + (code & 0x1F).ToString("00", System.Globalization.CultureInfo.InvariantCulture);
    }
}

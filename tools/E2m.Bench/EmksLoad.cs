#nullable enable
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks;
using E2m.Server.Emks.Keys;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace E2m.Bench
{
    /// <summary>
    /// <c>dotnet run -c Release --project tools/E2m.Bench -- --emks-load [--clients 1,16,64] [--seconds 5] [--keys 1000]
    /// [--modes h1,h2,h2-mux] [--no-cache]</c>: hosts the EMKS in-process on 127.0.0.1 (Kestrel HTTPS, mutual TLS with a
    /// fresh dev PKI, SQLite in a temporary directory), pushes <c>--keys</c> keys as the HSS, then measures EMSE key pulls
    /// by 7-octet kid over keep-alive connections (<see cref="EmksPullLoad"/>) and prints pulls/s, p50/p99 and CPU per pull.
    /// The load clients run in the same process and share the machine's cores with the server: the figures are a
    /// lower bound of the server's capacity.
    /// </summary>
    public static class EmksLoad
    {
        public static int Run(string[] args)
        {
            int[] clients = { 1, 16, 64 };
            double seconds = 5;
            int keys = 1000;
            string[] modes = { "h1", "h2", "h2-mux" };
            bool cache = true;
            for (int i = 1; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException(args[i] + ": value required");
                switch (args[i])
                {
                    case "--clients": clients = Next().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
                    case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--keys": keys = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--modes": modes = Next().Split(','); break;
                    case "--no-cache": cache = false; break;
                    default:
                        Console.Error.WriteLine("usage: --emks-load [--clients 1,16,64] [--seconds 5] [--keys 1000] [--modes h1,h2,h2-mux] [--no-cache]");
                        return 2;
                }
            }

            return RunAsync(clients, TimeSpan.FromSeconds(seconds), keys, modes, cache).GetAwaiter().GetResult();
        }

        private static async Task<int> RunAsync(int[] clientCounts, TimeSpan duration, int keyCount, string[] modes, bool cache)
        {
            const string EmseId = "emse.bench.example";
            string dir = Path.Combine(Path.GetTempPath(), "e2m-emks-load-" + Guid.NewGuid().ToString("N"));
            DevPki.Init(dir, new[] { EmseId });
            var options = new EmksOptions { DataDirectory = dir, HttpsPort = 0 };
            options.Bootstrap.Enabled = false;
            if (!cache) options.KeyCache.Ttl = TimeSpan.Zero;
            WebApplication app = EmksApp.Build(options);
            try
            {
                await app.StartAsync().ConfigureAwait(false);
                var baseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
                var trust = DevPki.LoadTrustAnchor(dir);
                var emseCert = DevPki.LoadCertificate(dir, DevPki.EmseName(EmseId));

                // keys pushed as the HSS, 32 per push (the contract's maximum)
                var paths = new List<string>(keyCount);
                using (var hss = new HttpClient(Mtls.CreateClientHandler(DevPki.LoadCertificate(dir, DevPki.Hss), trust)) { BaseAddress = baseAddress })
                {
                    long expiry = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600;
                    for (int done = 0; done < keyCount;)
                    {
                        var push = new E2mKeyPushRequest { Keys = new List<E2mKeyPush>() };
                        for (int j = 0; j < HssEmksContract.MaxKeysPerPush && done < keyCount; j++, done++)
                        {
                            byte[] intKey = RandomNumberGenerator.GetBytes(32);
                            string kid = Convert.ToHexStringLower(E2mKeyDerivation.DeriveKid(intKey));
                            push.Keys.Add(new E2mKeyPush
                            {
                                Kid = kid,
                                E2mIntKey = Convert.ToHexStringLower(intKey),
                                Expiry = expiry,
                                Subscriber = new E2mSubscriberRef { SubscriptionId = "bench-" + done, AllowedEmseIds = new List<string> { EmseId } },
                            });
                            paths.Add(EmksEmseContract.PullPath(kid.Substring(0, 14)));
                        }

                        using HttpResponseMessage r = await hss.PostAsJsonAsync(HssEmksContract.PushPath, push).ConfigureAwait(false);
                        r.EnsureSuccessStatusCode();
                    }
                }

                Console.WriteLine($"emks-load: {keyCount} keys, pulls by 7-octet kid over mTLS keep-alive, {duration.TotalSeconds:F0} s per run, " +
                    $"cache {(cache ? "on" : "off")}, SQLite, {Environment.ProcessorCount} cores, load average {EmksPullLoad.LoadAverage()}");
                Console.WriteLine(PerPullCrypto());
                foreach (string m in modes)
                {
                    PullLoadMode mode = m switch
                    {
                        "h1" => PullLoadMode.Http1,
                        "h2" => PullLoadMode.Http2,
                        "h2-mux" => PullLoadMode.Http2Multiplexed,
                        _ => throw new ArgumentException("--modes: h1, h2, h2-mux"),
                    };
                    foreach (int c in clientCounts)
                    {
                        PullLoadResult result = await EmksPullLoad.RunAsync(baseAddress, () => Mtls.CreateClientHandler(emseCert, trust), paths, c, duration, mode).ConfigureAwait(false);
                        Console.WriteLine(result + "  load " + EmksPullLoad.LoadAverage());
                    }
                }

                return 0;
            }
            finally
            {
                await app.StopAsync().ConfigureAwait(false);
                await app.DisposeAsync().ConfigureAwait(false);
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                try
                {
                    Directory.Delete(dir, true);
                }
                catch (IOException)
                {
                }
            }
        }

        // The cryptography of one pull outside HTTP: unsealing the cached row (AES-256-GCM, 32 octets) and the e2m_key KDF.
        private static string PerPullCrypto()
        {
            var protector = new AtRestProtector(RandomNumberGenerator.GetBytes(32));
            byte[] sealedKey = protector.Protect(RandomNumberGenerator.GetBytes(32), "emks/key/0001020304050607/e2m_int_key");
            // CPU time of this thread, not wall time: on a loaded machine the wall clock mostly measures other processes.
            const int N = 50_000;
            for (int i = 0; i < 1000; i++) CryptographicOperations.ZeroMemory(protector.Unprotect(sealedKey, "emks/key/0001020304050607/e2m_int_key"));
            TimeSpan t0 = ThreadCpu();
            for (int i = 0; i < N; i++) CryptographicOperations.ZeroMemory(protector.Unprotect(sealedKey, "emks/key/0001020304050607/e2m_int_key"));
            double unsealUs = (ThreadCpu() - t0).TotalMilliseconds * 1000 / N;
            byte[] intKey = RandomNumberGenerator.GetBytes(32);
            t0 = ThreadCpu();
            for (int i = 0; i < N; i++) E2mKeyDerivation.DeriveKey(intKey, "emse.bench.example");
            double kdfUs = (ThreadCpu() - t0).TotalMilliseconds * 1000 / N;
            return string.Format(CultureInfo.InvariantCulture, "per pull, CPU time: unseal (AES-256-GCM, 32 B) {0:F2} us, e2m_key KDF {1:F2} us", unsealUs, kdfUs);
        }

        private static TimeSpan ThreadCpu()
        {
            // Process CPU time is what .NET exposes portably; the host is otherwise idle while this runs.
            return Process.GetCurrentProcess().TotalProcessorTime;
        }
    }
}

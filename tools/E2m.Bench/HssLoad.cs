#nullable enable
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Hss;
using E2m.Server.Hss.Auc;
using E2m.Server.Hss.Subscribers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace E2m.Bench
{
    /// <summary>
    /// <c>dotnet run -c Release --project tools/E2m.Bench -- --hss-load [--clients 4] [--requests 500] [--vectors 5]
    /// [--rat eutran|utran] [--postgres CONNSTRING]</c>
    /// <para>
    /// Issue 6 point 6: HSS AIR vectors/s, reported not asserted. The HSS runs in-process (HssApp.Build: Kestrel HTTPS on a
    /// free loopback port, dev PKI in a temp directory, SQLite <c>synchronous=FULL</c> by default or PostgreSQL) with one
    /// non-e2m subscriber per client (each client asks for its own IMSI, as serving nodes for different devices do). Three
    /// phases, each after a warm-up:
    /// <list type="number">
    /// <item><c>auc</c>: AirService.HandleAsync called directly by C concurrent tasks (SQN reservation = one durable commit
    /// per request, Milenage, KASME): the HSS core without HTTP;</item>
    /// <item><c>https keep-alive</c>: C HttpClients, one mTLS connection each (serving-node certificate), R sequential
    /// POST /v1/air each;</item>
    /// <item><c>https new connection</c>: the same with a new TLS connection per request (R/10 requests), i.e. full
    /// handshake + client-certificate validation each time.</item>
    /// </list>
    /// Prints requests/s, vectors/s, p50/p99 latency and the load average (1 min) before and after.
    /// </para>
    /// </summary>
    public static class HssLoad
    {
        public static int Run(string[] args)
        {
            int clients = EmseLoad.IntArg(args, "--clients", 4);
            int requests = EmseLoad.IntArg(args, "--requests", 500);
            int vectors = EmseLoad.IntArg(args, "--vectors", 5);
            string rat = EmseLoad.StringArg(args, "--rat", "eutran");
            string postgres = EmseLoad.StringArg(args, "--postgres", string.Empty);
            return RunAsync(clients, requests, vectors, rat, postgres).GetAwaiter().GetResult();
        }

        private static async Task<int> RunAsync(int clients, int requests, int vectors, string rat, string postgres)
        {
            string dir = Path.Combine(Path.GetTempPath(), "e2m-hss-load-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            Console.WriteLine($"hss-load: clients={clients} requests/client={requests} vectors/request={vectors} rat={rat} db={(postgres.Length > 0 ? "postgres" : "sqlite synchronous=FULL")} cores={Environment.ProcessorCount} load={EmksPullLoad.LoadAverage()}");
            var settings = new List<string>
            {
                "--Hss:DataDirectory=" + dir, "--Hss:Listen:Port=0", "--Hss:Auc:MaxVectorsPerRequest=" + Math.Max(5, vectors),
            };
            if (postgres.Length > 0)
            {
                settings.Add("--Hss:Storage:ConnectionString=" + postgres);
            }

            WebApplication app = HssApp.Build(settings.ToArray(), b => b.Logging.SetMinimumLevel(LogLevel.Warning));
            try
            {
                await app.StartAsync().ConfigureAwait(false);
                string url = HssApp.GetListenUrl(app)!.Replace("[::]", "127.0.0.1", StringComparison.Ordinal);
                SubscriberStore store = app.Services.GetRequiredService<SubscriberStore>();
                string run = RandomDigits(4);
                var imsis = new string[clients];
                for (int c = 0; c < clients; c++)
                {
                    imsis[c] = "00101" + run + c.ToString("D6", CultureInfo.InvariantCulture);
                    store.Add(new NewSubscriber
                    {
                        Imsi = imsis[c], K = Convert.FromHexString("465b5ce8b199b49faa5f0a2ee238a6bc"),
                        Opc = Convert.FromHexString("cd63cb71954a9f4e48a5994e37a02baf"), // TS 35.208 test set 1
                    });
                }

                // 1. core without HTTP
                AirService air = app.Services.GetRequiredService<AirService>();
                Rat r = rat == "utran" ? Rat.Utran : Rat.Eutran;
                byte[]? snId = r == Rat.Eutran ? PlmnId.Encode("00101") : null;
                Func<int, Task> core = async c =>
                {
                    AirResult res = await air.HandleAsync(new AirCommand { Imsi = imsis[c], NumVectors = vectors, Rat = r, SnId = snId }, CancellationToken.None).ConfigureAwait(false);
                    foreach (AuthVector v in res.Vectors)
                    {
                        v.Dispose();
                    }
                };
                await Phase("auc (no HTTP)", clients, Math.Max(10, requests / 10), requests, vectors, core).ConfigureAwait(false);

                // 2. HTTPS, keep-alive: one pooled mTLS connection per client
                var trust = DevPki.LoadTrustAnchor(dir);
                var cert = DevPki.LoadCertificate(dir, DevPki.ServingNode);
                var http = new HttpClient[clients];
                for (int c = 0; c < clients; c++)
                {
                    http[c] = new HttpClient(Mtls.CreateClientHandler(cert, trust)) { BaseAddress = new Uri(url) };
                }

                string Body(int c) => "{\"imsi\":\"" + imsis[c] + "\",\"numVectors\":" + vectors + ",\"rat\":\"" + rat + "\",\"plmn\":\"00101\"}";
                Func<int, Task> keepAlive = async c =>
                {
                    using var content = new StringContent(Body(c), Encoding.UTF8, "application/json");
                    using HttpResponseMessage resp = await http[c].PostAsync("/v1/air", content).ConfigureAwait(false);
                    if (!resp.IsSuccessStatusCode)
                    {
                        throw new InvalidOperationException("AIR answered " + (int)resp.StatusCode);
                    }

                    await resp.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                };
                await Phase("https keep-alive", clients, Math.Max(10, requests / 10), requests, vectors, keepAlive).ConfigureAwait(false);

                // 3. HTTPS, a new TLS connection (handshake + client-certificate validation) per request
                Func<int, Task> fresh = async c =>
                {
                    using var once = new HttpClient(Mtls.CreateClientHandler(cert, trust)) { BaseAddress = new Uri(url) };
                    using var content = new StringContent(Body(c), Encoding.UTF8, "application/json");
                    using HttpResponseMessage resp = await once.PostAsync("/v1/air", content).ConfigureAwait(false);
                    if (!resp.IsSuccessStatusCode)
                    {
                        throw new InvalidOperationException("AIR answered " + (int)resp.StatusCode);
                    }
                };
                await Phase("https new connection", clients, 2, Math.Max(10, requests / 10), vectors, fresh).ConfigureAwait(false);

                foreach (HttpClient h in http)
                {
                    h.Dispose();
                }

                long issued = 0;
                foreach (string imsi in imsis)
                {
                    issued += store.Get(imsi)!.Seq;
                }

                Console.WriteLine($"hss-load: SEQ issued in total {issued} (every request reserved its SQNs durably); load={EmksPullLoad.LoadAverage()}");
                return 0;
            }
            finally
            {
                await app.StopAsync().ConfigureAwait(false);
                await app.DisposeAsync().ConfigureAwait(false);
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }

        private static async Task Phase(string name, int clients, int warmup, int requests, int vectors, Func<int, Task> one)
        {
            var warm = new Task[clients];
            for (int c = 0; c < clients; c++)
            {
                int id = c;
                warm[c] = Task.Run(async () =>
                {
                    for (int i = 0; i < warmup; i++)
                    {
                        await one(id).ConfigureAwait(false);
                    }
                });
            }

            await Task.WhenAll(warm).ConfigureAwait(false);
            var latencies = new double[clients * requests];
            var tasks = new Task[clients];
            var sw = Stopwatch.StartNew();
            for (int c = 0; c < clients; c++)
            {
                int id = c;
                tasks[c] = Task.Run(async () =>
                {
                    for (int i = 0; i < requests; i++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        await one(id).ConfigureAwait(false);
                        latencies[(id * requests) + i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                    }
                });
            }

            await Task.WhenAll(tasks).ConfigureAwait(false);
            double seconds = sw.Elapsed.TotalSeconds;
            Array.Sort(latencies);
            double rps = latencies.Length / seconds;
            Console.WriteLine(string.Format(
                CultureInfo.InvariantCulture,
                "{0}: {1:F0} AIR/s, {2:F0} vectors/s ({3} requests in {4:F2} s; latency p50 {5:F2} ms, p99 {6:F2} ms); load={7}",
                name, rps, rps * vectors, latencies.Length, seconds, latencies[latencies.Length / 2], latencies[(int)(latencies.Length * 0.99)], EmksPullLoad.LoadAverage()));
        }

        private static string RandomDigits(int n)
        {
            var sb = new StringBuilder(n);
            for (int i = 0; i < n; i++)
            {
                sb.Append((char)('0' + System.Security.Cryptography.RandomNumberGenerator.GetInt32(10)));
            }

            return sb.ToString();
        }
    }
}

using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Emks;
using E2m.Server.Emse;
using E2m.Server.Hss;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m stack [--data-dir DIR] [--emse-id ID]`: HSS, EMKS (with the home-mode CoAP bootstrap) and one EMSE in this
    /// process on loopback, with the dev PKI of DIR (created if missing). Prints one line per endpoint on stdout:
    /// <c>hss: https://…</c>, <c>emks: https://…</c>, <c>emks-coap: coap://…</c>, <c>emse: coap://…</c>,
    /// <c>emse-http: https://…</c> (readings API: mTLS, client certificate <c>reader</c> or <c>admin</c>); service logs go to stderr. Runs until Ctrl-C / SIGTERM. Dev only.
    /// </summary>
    public static class StackCommand
    {
        private static readonly Option<string> DataDir = new("--data-dir") { Description = "Data directory (databases, dev PKI, dev KEK)", DefaultValueFactory = _ => "e2m-data" };
        private static readonly Option<string> EmseId = new("--emse-id") { Description = "EMSE_Id of the in-process EMSE", DefaultValueFactory = _ => "emse.example.org" };
        private static readonly Option<int> HssPort = new("--hss-port") { Description = "HSS HTTPS port (0 = free port)", DefaultValueFactory = _ => 0 };
        private static readonly Option<int> EmksPort = new("--emks-port") { Description = "EMKS HTTPS port (0 = free port)", DefaultValueFactory = _ => 0 };
        private static readonly Option<int> EmsePort = new("--emse-port") { Description = "EMSE CoAP/UDP port (0 = free port)", DefaultValueFactory = _ => 0 };
        private static readonly Option<bool> Verbose = new("--verbose") { Description = "Service logs at Information (default Warning), on stderr" };

        public static Command Build()
        {
            var stack = new Command("stack", "Run HSS, EMKS and EMSE in-process on loopback (dev PKI); print the endpoints; run until Ctrl-C");
            foreach (Option o in new Option[] { DataDir, EmseId, HssPort, EmksPort, EmsePort, Verbose })
            {
                stack.Options.Add(o);
            }

            stack.SetAction(parsed => RunAsync(parsed).GetAwaiter().GetResult());
            return stack;
        }

        private static async Task<int> RunAsync(ParseResult parsed)
        {
            string dir = Path.GetFullPath(parsed.GetValue(DataDir)!);
            string emseId = parsed.GetValue(EmseId)!;
            LogLevel level = parsed.GetValue(Verbose) ? LogLevel.Information : LogLevel.Warning;
            try
            {
                DevPki.Init(dir, new[] { emseId }); // once, before the services start (they share the PKI and the dev KEK)
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }

            foreach ((Option<int> option, int value) in new[] { (HssPort, parsed.GetValue(HssPort)), (EmksPort, parsed.GetValue(EmksPort)), (EmsePort, parsed.GetValue(EmsePort)) })
            {
                if (value is < 0 or > 65535)
                {
                    throw new UsageException($"{option.Name}: a port 0..65535 (0 = a free one), not {value}");
                }
            }

            int hssPort = Port(parsed.GetValue(HssPort), SocketType.Stream), emksPort = Port(parsed.GetValue(EmksPort), SocketType.Stream);
            int bootstrapPort = Port(0, SocketType.Dgram);
            string hssUrl = $"https://127.0.0.1:{hssPort}", emksUrl = $"https://127.0.0.1:{emksPort}";
            void Quiet(IServiceCollection s)
            {
                s.Configure<LoggerFilterOptions>(o => o.MinLevel = level);
                s.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            }

            WebApplication hss = HssApp.Build(new[]
            {
                "--Hss:DataDirectory=" + dir, "--Hss:Listen:Port=" + hssPort, "--Hss:Emks:BaseUrl=" + emksUrl,
            }, b => Quiet(b.Services));
            var emksOptions = new EmksOptions { DataDirectory = dir, HttpsPort = emksPort, DevMode = true };
            emksOptions.Hss.BaseUrl = hssUrl;
            emksOptions.Bootstrap.Enabled = true;
            emksOptions.Bootstrap.UdpPort = bootstrapPort;
            WebApplication emks = EmksApp.Build(emksOptions, Quiet);
            var emseOptions = new EmseOptions
            {
                EmseId = emseId, DataDir = dir, UdpPort = parsed.GetValue(EmsePort), UdpBindAddress = "127.0.0.1",
                EmksBaseUrl = emksUrl, HttpUrls = "https://127.0.0.1:0",
            };
            WebApplication emse = EmseApp.Build(emseOptions, Quiet);

            TextWriter o = parsed.InvocationConfiguration.Output;
            var started = new List<WebApplication>();
            try
            {
                foreach (WebApplication app in new[] { hss, emks, emse })
                {
                    await app.StartAsync().ConfigureAwait(false);
                    started.Add(app);
                }
            }
            catch (Exception e) when (e is OptionsValidationException || e is IOException || e is InvalidOperationException || e is SocketException)
            {
                // e.g. a port in use: stop what did start, then one line and exit 2 (not an unhandled exception)
                using var undo = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                foreach (WebApplication app in started)
                {
                    await app.StopAsync(undo.Token).ConfigureAwait(false);
                }

                throw new UsageException("e2m stack did not start: " + e.Message);
            }
            o.WriteLine("hss: " + hssUrl);
            o.WriteLine("emks: " + emksUrl);
            o.WriteLine("emks-coap: coap://127.0.0.1:" + bootstrapPort);
            IPEndPoint coap = EmseApp.GetCoapEndPoint(emse);
            o.WriteLine($"emse: coap://{coap.Address}:{coap.Port}");
            o.WriteLine("emse-http: " + EmseApp.GetHttpAddresses(emse).FirstOrDefault());
            o.Flush();
            parsed.InvocationConfiguration.Error.WriteLine(
                $"e2m stack: data {dir}; serving-node client certificate {DevPki.PfxPath(dir, DevPki.ServingNode)}; admin {DevPki.PfxPath(dir, DevPki.Admin)}; readings reader {DevPki.PfxPath(dir, DevPki.Reader)}; Ctrl-C stops");

            var stop = new TaskCompletionSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;
                stop.TrySetResult();
            };
            EventHandler onExit = (_, _) => stop.TrySetResult();
            Console.CancelKeyPress += onCancel;
            AppDomain.CurrentDomain.ProcessExit += onExit;
            using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
            {
                c.Cancel = true;
                stop.TrySetResult();
            });
            await stop.Task.ConfigureAwait(false);
            Console.CancelKeyPress -= onCancel;
            AppDomain.CurrentDomain.ProcessExit -= onExit;

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await emse.StopAsync(timeout.Token).ConfigureAwait(false);
            await emks.StopAsync(timeout.Token).ConfigureAwait(false);
            await hss.StopAsync(timeout.Token).ConfigureAwait(false);
            return CliApp.ExitOk;
        }

        // A free loopback port (the services need each other's URLs before they start).
        private static int Port(int requested, SocketType type)
        {
            if (requested != 0)
            {
                return requested;
            }

            using var s = new Socket(AddressFamily.InterNetwork, type, type == SocketType.Stream ? ProtocolType.Tcp : ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)s.LocalEndPoint!).Port;
        }
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Threading.Tasks;
using E2m.Server.Common;
using Xunit;

namespace E2m.Server.Integration.Tests
{
    /// <summary>`e2m stack` as a real process: five endpoint lines on stdout, services answering, clean stop on SIGTERM.</summary>
    public sealed class StackCommandTests
    {
        [Fact]
        public async Task StackPrintsOneLinePerEndpointAndServes()
        {
            string dir = Path.Combine(Path.GetTempPath(), "e2m-stack-test", Guid.NewGuid().ToString("N"));
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { Path.Combine(AppContext.BaseDirectory, "e2m.dll"), "stack", "--data-dir", dir })
            {
                psi.ArgumentList.Add(a);
            }

            using Process p = Process.Start(psi)!;
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            try
            {
                var lines = new Dictionary<string, string>();
                while (lines.Count < 5)
                {
                    string? line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(90));
                    Assert.True(line != null, "stack exited early: " + (p.HasExited ? await stderr : string.Empty));
                    int i = line!.IndexOf(": ", StringComparison.Ordinal);
                    lines[line.Substring(0, i)] = line.Substring(i + 2);
                }

                Assert.StartsWith("https://127.0.0.1:", lines["hss"]);
                Assert.StartsWith("https://127.0.0.1:", lines["emks"]);
                Assert.StartsWith("coap://127.0.0.1:", lines["emks-coap"]);
                Assert.StartsWith("coap://127.0.0.1:", lines["emse"]);
                Assert.StartsWith("https://127.0.0.1:", lines["emse-http"]);
                using var http = new HttpClient(Mtls.CreateClientHandler(DevPki.LoadCertificate(dir, DevPki.ServingNode), new E2mTrustAnchor(DevPki.LoadCaCertificate(dir))));
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(lines["hss"] + "/health")).StatusCode);
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(lines["emks"] + "/health")).StatusCode);
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(lines["emse-http"] + "/health")).StatusCode);
                Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(lines["emse-http"] + "/v1/devices")).StatusCode); // serving-node role
                using var reader = new HttpClient(Mtls.CreateClientHandler(DevPki.LoadCertificate(dir, DevPki.Reader), new E2mTrustAnchor(DevPki.LoadCaCertificate(dir))));
                Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync(lines["emse-http"] + "/v1/devices")).StatusCode);
            }
            finally
            {
                if (!p.HasExited)
                {
                    Process.Start("kill", new[] { "-TERM", p.Id.ToString() })!.WaitForExit();
                    if (!p.WaitForExit(20_000))
                    {
                        p.Kill(entireProcessTree: true);
                    }
                }
            }

            Assert.Equal(0, p.ExitCode);
        }

        /// <summary>A port out of range, or one another process holds: exit 2 with one line, never an unhandled exception.</summary>
        [Fact]
        public async Task StackThatCannotStartExitsWithUsageErrorNotACrash()
        {
            using var busy = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
            busy.Start();
            int port = ((IPEndPoint)busy.LocalEndpoint).Port;
            foreach (string[] extra in new[] { new[] { "--emse-port", "70000" }, new[] { "--hss-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture) } })
            {
                string dir = Path.Combine(Path.GetTempPath(), "e2m-stack-test", Guid.NewGuid().ToString("N"));
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (string a in new[] { Path.Combine(AppContext.BaseDirectory, "e2m.dll"), "stack", "--data-dir", dir })
                {
                    psi.ArgumentList.Add(a);
                }

                foreach (string a in extra)
                {
                    psi.ArgumentList.Add(a);
                }

                using Process p = Process.Start(psi)!;
                Task<string> stdout = p.StandardOutput.ReadToEndAsync();
                string stderr = await p.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(90));
                Assert.True(p.WaitForExit(30_000), "stack did not exit");
                Assert.True(p.ExitCode == 2, extra[0] + ": exit " + p.ExitCode + ": " + stderr);
                Assert.Contains("e2m: error:", stderr);
                Assert.DoesNotContain("Unhandled exception", stderr);
                Assert.DoesNotContain("hss: ", await stdout);
            }
        }
    }
}

using System;
using System.Diagnostics;
using System.IO;
using Xunit;

namespace E2m.TestSupport
{
    /// <summary>
    /// Independent oracles that live outside .NET (tshark, osmo-auc-gen). Outside CI a missing tool skips the
    /// test with a clear reason; in CI (CI=true, set by .ci/run, which installs the tools) it fails the test.
    /// Use from a <c>[SkippableFact]</c>/<c>[SkippableTheory]</c>.
    /// </summary>
    public static class ExternalTool
    {
        public static bool InCi =>
            string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

        /// <summary>Returns the full path of <paramref name="name"/> on PATH, or skips/fails as described above.</summary>
        public static string Require(string name, string debianPackage)
        {
            string? path = Find(name);
            if (path != null)
            {
                return path;
            }

            string reason = $"'{name}' not found on PATH (Debian package {debianPackage}; .ci/run installs it)";
            if (InCi)
            {
                Assert.Fail(reason + ": required in CI");
            }

            Skip.If(true, reason);
            throw new InvalidOperationException("unreachable");
        }

        public static string? Find(string name)
        {
            string? pathVar = Environment.GetEnvironmentVariable("PATH");
            if (pathVar == null)
            {
                return null;
            }

            foreach (string dir in pathVar.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                string candidate = Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }

            return null;
        }

        /// <summary>Runs a tool to completion and returns (exit code, stdout, stderr). Bounded by <paramref name="timeoutMs"/>.</summary>
        public static ToolResult Run(string path, string[] args, int timeoutMs = 60_000)
        {
            var psi = new ProcessStartInfo(path)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string a in args)
            {
                psi.ArgumentList.Add(a);
            }

            using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + path);
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeoutMs))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{path} did not finish within {timeoutMs} ms");
            }

            return new ToolResult(p.ExitCode, stdout.Result, stderr.Result);
        }
    }

    public sealed record ToolResult(int ExitCode, string StdOut, string StdErr);
}

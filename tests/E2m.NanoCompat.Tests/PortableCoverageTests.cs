using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace E2m.NanoCompat.Tests;

/// <summary>
/// Every project that declares itself portable (E2mPortable=true) must live in a folder that
/// tools/E2m.NanoCompat compiles, so that no device code escapes the nanoFramework second build.
/// The covered folders are read from NanoCompat's own Compile globs, not restated here.
/// </summary>
public sealed class PortableCoverageTests
{
    private static readonly string Root = TestPaths.RepoRoot;

    private static string Rel(string path) => Path.GetRelativePath(Root, path).Replace('\\', '/');

    private static (List<string> Includes, List<string> Excludes) NanoCompatGlobs()
    {
        var csproj = XDocument.Load(Path.Combine(Root, "tools/E2m.NanoCompat/E2m.NanoCompat.csproj"));
        var includes = new List<string>();
        var excludes = new List<string>();
        foreach (var compile in csproj.Descendants().Where(e => e.Name.LocalName == "Compile"))
        {
            includes.AddRange(Prefixes(compile.Attribute("Include")?.Value));
            excludes.AddRange(Prefixes(compile.Attribute("Exclude")?.Value)
                .Where(p => !p.EndsWith("/bin/", StringComparison.Ordinal) && !p.EndsWith("/obj/", StringComparison.Ordinal) && p.Length > 0));
        }

        return (includes, excludes);
    }

    // "$(RepoRoot)firmware/**/*.cs" -> "firmware/"; "$(RepoRoot)firmware/**/bin/**" -> "firmware/**/bin/" (kept to be filtered)
    private static IEnumerable<string> Prefixes(string? value) =>
        (value ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => v.Replace("$(RepoRoot)", string.Empty, StringComparison.Ordinal).Replace('\\', '/'))
            .Select(v => v.EndsWith("/**", StringComparison.Ordinal) && !v.Contains("**/", StringComparison.Ordinal) ? v[..^2] : v)
            .Select(v => v.Contains("**", StringComparison.Ordinal) && v.IndexOf("**", StringComparison.Ordinal) == v.LastIndexOf("**", StringComparison.Ordinal) ? v[..v.IndexOf("**", StringComparison.Ordinal)] : v);

    [Fact]
    public void NanoCompat_globs_cover_firmware_and_hal()
    {
        var (includes, excludes) = NanoCompatGlobs();
        Assert.Contains("firmware/", includes);
        Assert.Contains("hal/E2m.Hal/", includes);
        Assert.Contains("firmware/E2m.Firmware.Device/", excludes);
    }

    [Fact]
    public void Every_portable_project_is_compiled_by_NanoCompat()
    {
        var (includes, excludes) = NanoCompatGlobs();
        var portable = new Regex(@"<E2mPortable>\s*true\s*</E2mPortable>", RegexOptions.IgnoreCase);
        var projects = Directory.EnumerateFiles(Root, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !Rel(p).Split('/').Any(s => s is "bin" or "obj" or ".git"))
            .Where(p => portable.IsMatch(File.ReadAllText(p)))
            .Select(Rel)
            .Where(p => p != "tools/E2m.NanoCompat/E2m.NanoCompat.csproj")
            .ToList();
        Assert.NotEmpty(projects);

        var escaped = projects.Where(p =>
                !includes.Any(i => p.StartsWith(i, StringComparison.Ordinal))
                || excludes.Any(e => p.StartsWith(e, StringComparison.Ordinal)))
            .ToList();
        Assert.True(escaped.Count == 0, "portable projects outside tools/E2m.NanoCompat's Compile globs: " + string.Join(", ", escaped));
    }
}

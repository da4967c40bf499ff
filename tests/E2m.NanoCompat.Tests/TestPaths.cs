using System;
using System.IO;
using System.Linq;
using System.Reflection;

namespace E2m.NanoCompat.Tests;

/// <summary>Paths recorded at build time (AssemblyMetadata attributes written by the csproj).</summary>
internal static class TestPaths
{
    /// <summary>mscorlib.dll of NuGet nanoFramework.CoreLibrary (the version pinned in Directory.Packages.props).</summary>
    public static string NanoMscorlib => Get("NanoMscorlib");

    /// <summary>tools/E2m.NanoCompat output for the configuration this test project was built in.</summary>
    public static string NanoCompatDll => Get("NanoCompatDll");

    /// <summary>The repository root (the folder holding Directory.Build.props).</summary>
    public static string RepoRoot => Get("RepoRoot");

    private static string Get(string key)
    {
        var value = typeof(TestPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .SingleOrDefault(a => a.Key == key)?.Value;
        if (string.IsNullOrEmpty(value))
        {
            throw new InvalidOperationException("AssemblyMetadata '" + key + "' was not recorded by the build");
        }

        return Path.GetFullPath(value);
    }
}

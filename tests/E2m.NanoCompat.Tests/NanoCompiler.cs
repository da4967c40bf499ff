using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.IO;
using System.Linq;
using System.Threading;
using E2m.NanoAnalyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace E2m.NanoCompat.Tests;

/// <summary>
/// Compiles C# snippets in memory the way tools/E2m.NanoCompat compiles the portable sources:
/// against the nanoFramework mscorlib only, C# 12, nullable disabled, unsafe allowed (so that the
/// analyzer and the IL checker, not the compiler, are what rejects unsafe code).
/// </summary>
internal static class NanoCompiler
{
    private static readonly Lazy<MetadataReference> Mscorlib = new(() => MetadataReference.CreateFromFile(TestPaths.NanoMscorlib));

    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.CSharp12);

    private static readonly Lazy<MetadataReference[]> HostFramework = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToArray());

    public static CSharpCompilation Compile(string source, string filePath = "/repo/firmware/E2m.Sample/Snippet.cs",
        IEnumerable<MetadataReference>? extraReferences = null, string assemblyName = "Snippet", bool host = false)
    {
        var tree = CSharpSyntaxTree.ParseText(source, ParseOptions, filePath);
        // host: the .NET runtime's own assemblies, as in the net10.0 host build of a portable project.
        var refs = host ? new List<MetadataReference>(HostFramework.Value) : new List<MetadataReference> { Mscorlib.Value };
        if (extraReferences != null)
        {
            refs.AddRange(extraReferences);
        }

        return CSharpCompilation.Create(assemblyName, new[] { tree }, refs,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Disable));
    }

    /// <summary>Compiler errors (not analyzer diagnostics).</summary>
    public static ImmutableArray<Diagnostic> Errors(Compilation c) =>
        c.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToImmutableArray();

    /// <summary>Runs <see cref="NanoSubsetAnalyzer"/> with the given MSBuild-property options.</summary>
    public static ImmutableArray<Diagnostic> Analyze(Compilation c, IDictionary<string, string>? buildProperties = null)
    {
        var options = new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty, new Options(buildProperties ?? new Dictionary<string, string>()));
        var withAnalyzers = c.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new NanoSubsetAnalyzer()), options);
        var diagnostics = withAnalyzers.GetAnalyzerDiagnosticsAsync(CancellationToken.None).GetAwaiter().GetResult();
        var crash = diagnostics.Where(d => d.Id == "AD0001").ToArray();
        if (crash.Length > 0)
        {
            throw new InvalidOperationException("analyzer crashed: " + string.Join(Environment.NewLine, crash.Select(d => d.ToString())));
        }

        return diagnostics;
    }

    /// <summary>Emits the compilation to a PE image; fails with the compiler errors if any.</summary>
    public static MemoryStream Emit(Compilation c)
    {
        var ms = new MemoryStream();
        var result = c.Emit(ms);
        if (!result.Success)
        {
            throw new InvalidOperationException("snippet does not compile against the nanoFramework mscorlib:" + Environment.NewLine
                + string.Join(Environment.NewLine, result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        }

        ms.Position = 0;
        return ms;
    }

    private sealed class Options : AnalyzerConfigOptionsProvider
    {
        private readonly Config global;

        public Options(IDictionary<string, string> values)
        {
            global = new Config(values);
        }

        public override AnalyzerConfigOptions GlobalOptions => global;

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => global;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => global;
    }

    private sealed class Config : AnalyzerConfigOptions
    {
        private readonly IDictionary<string, string> values;

        public Config(IDictionary<string, string> values)
        {
            this.values = values;
        }

        public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value)
        {
            if (values.TryGetValue(key, out var v))
            {
                value = v;
                return true;
            }

            value = null;
            return false;
        }
    }
}

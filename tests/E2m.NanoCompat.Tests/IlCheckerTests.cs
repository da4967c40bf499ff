using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using E2m.NanoCheck;
using Microsoft.CodeAnalysis;
using Xunit;
using Xunit.Abstractions;

namespace E2m.NanoCompat.Tests;

/// <summary>
/// The IL/metadata witness (tools/E2m.NanoCheck): deliberate violations compiled in memory against the
/// nanoFramework mscorlib are found; the real E2m.NanoCompat.dll (every portable source) has none.
/// </summary>
public sealed class IlCheckerTests
{
    private readonly ITestOutputHelper output;

    public IlCheckerTests(ITestOutputHelper output)
    {
        this.output = output;
    }

    private IReadOnlyList<NanoFinding> CheckSnippet(string source, IEnumerable<MetadataReference>? extra = null)
    {
        using var pe = NanoCompiler.Emit(NanoCompiler.Compile(source, extraReferences: extra));
        var findings = NanoIlChecker.Check(pe);
        foreach (var f in findings)
        {
            output.WriteLine(f.ToString());
        }

        return findings;
    }

    public static IEnumerable<object[]> Violations() => new[]
    {
        new object[] { "generic method declared and called", "namespace E2m.Sample { public class C { public static T Id<T>(T x) { return x; } public int M() { return Id(1); } } }",
            NanoFindingKind.GenericParameter, "method declares 1" },
        new object[] { "generic method instantiation", "namespace E2m.Sample { public class C { public static T Id<T>(T x) { return x; } public int M() { return Id(1); } } }",
            NanoFindingKind.GenericInstantiation, "Id<Int32>" },
        new object[] { "Action<int> (GenericInst TypeSpec)", "namespace E2m.Sample { public class C { public void M() { System.Action<int> a = x => { }; a(1); } } }",
            NanoFindingKind.GenericInstantiation, "System.Action`1<Int32>" },
        new object[] { "int[,]", "namespace E2m.Sample { public class C { public int M() { int[,] m = new int[2, 2]; return m[1, 1]; } } }",
            NanoFindingKind.MultiDimensionalArray, "Int32[,]" },
        new object[] { "stackalloc via unsafe pointer", "namespace E2m.Sample { public class C { public unsafe int M() { int* p = stackalloc int[4]; p[0] = 1; return p[0]; } } }",
            NanoFindingKind.ForbiddenOpcode, "localloc" },
        new object[] { "function pointer call", "namespace E2m.Sample { public class C { public unsafe int M(delegate*<int, int> f) { return f(1); } } }",
            NanoFindingKind.ForbiddenOpcode, "calli" },
        new object[] { "checked add", "namespace E2m.Sample { public class C { public int M(int a, int b) { return checked(a + b); } } }",
            NanoFindingKind.OverflowOpcode, "add.ovf" },
        new object[] { "checked multiply after a switch table", "namespace E2m.Sample { public class C { public int M(int a, int b) { switch (a) { case 0: b++; break; case 1: b--; break; case 2: b += 2; break; case 3: b -= 7; break; } return checked(a * b); } } }",
            NanoFindingKind.OverflowOpcode, "mul.ovf" },
        new object[] { "double in E2m.Crypto", "namespace E2m.Crypto.Sample { public class C { public int M(int a) { double d = a * 1.5; return (int)d; } } }",
            NanoFindingKind.FloatingPoint, "ldc.r8" },
        new object[] { "float field in E2m.Oscore", "namespace E2m.Oscore { public class C { public float Ratio; } }",
            NanoFindingKind.FloatingPoint, "Single" },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public void Checker_finds_violation(string name, string source, NanoFindingKind kind, string detail)
    {
        var findings = CheckSnippet(source);
        Assert.True(findings.Any(f => f.Kind == kind && f.Detail.Contains(detail, StringComparison.Ordinal)),
            name + ": expected " + kind + " '" + detail + "' in:" + Environment.NewLine + string.Join(Environment.NewLine, findings));
    }

    [Fact]
    public void Console_is_a_forbidden_api()
    {
        // System.Console exists in the nanoFramework mscorlib 1.17, so only the checker rejects it.
        var findings = CheckSnippet("namespace E2m.Sample { public class C { public void M() { System.Console.WriteLine(\"x\"); } } }");
        Assert.Contains(findings, f => f.Kind == NanoFindingKind.ForbiddenApi && f.Detail.StartsWith("System.Console::WriteLine", StringComparison.Ordinal));
    }

    [Fact]
    public void Random_in_crypto_namespace_is_a_forbidden_api()
    {
        var findings = CheckSnippet("namespace E2m.Oscore.Sample { public class C { public int M() { return new System.Random(1).Next(); } } }");
        Assert.Contains(findings, f => f.Kind == NanoFindingKind.ForbiddenApi && f.Detail.Contains("System.Random", StringComparison.Ordinal));
    }

    [Fact]
    public void Reference_to_another_assembly_is_foreign()
    {
        // The device has only mscorlib (plus what we deploy): a reference elsewhere is reported.
        var other = NanoCompiler.Compile("namespace Other { public static class Log { public static void Write(string s) { } } }", assemblyName: "Other.Lib");
        using var otherPe = NanoCompiler.Emit(other);
        var otherRef = MetadataReference.CreateFromImage(otherPe.ToArray());

        var findings = CheckSnippet("namespace E2m.Sample { public class C { public void M() { Other.Log.Write(\"x\"); } } }", new[] { otherRef });
        Assert.Contains(findings, f => f.Kind == NanoFindingKind.ForeignAssembly && f.Detail == "Other.Lib");
        Assert.Contains(findings, f => f.Kind == NanoFindingKind.ForeignMember && f.Detail.StartsWith("Other.Log::Write", StringComparison.Ordinal));
    }

    [Fact]
    public void Double_outside_the_integer_only_namespaces_is_allowed()
    {
        var findings = CheckSnippet("namespace E2m.Firmware.Sample { public class C { public int M(int a) { double d = a * 1.5; return (int)d; } } }");
        Assert.Empty(findings);
    }

    [Fact]
    public void Portable_style_code_has_no_findings()
    {
        var findings = CheckSnippet(@"
namespace E2m.Crypto.Sample
{
    public delegate void Completed(object sender, int status);
    public enum Mode { Ccm = 1, Gcm = 2 }
    public sealed class C
    {
        private readonly byte[] buffer = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
        private readonly object gate = new object();
        public event Completed Done;
        public string Name(Mode m, string s)
        {
            switch (s) { case ""a"": return ""A""; case ""b"": return ""B""; case ""c"": return ""C""; case ""d"": return ""D""; case ""e"": return ""E""; case ""f"": return ""F""; case ""g"": return ""G""; }
            return ""mode "" + (int)m + $"" {buffer.Length:X2}"";
        }
        public int Sum(byte[] data)
        {
            int sum = 0;
            lock (gate) { foreach (byte b in data) { sum = unchecked(sum + b); } }
            try { System.Array.Copy(data, 0, buffer, 0, 4); } catch (System.ArgumentException) when (sum > 0) { sum = -1; } finally { System.Array.Clear(buffer, 0, 4); }
            System.Threading.ThreadStart t = () => { sum++; };
            t();
            Completed d = Done;
            if (d != null) { d(this, sum); }
            return sum;
        }
    }
}");
        Assert.Empty(findings);
    }

    [Fact]
    public void NanoCompat_assembly_has_no_findings()
    {
        // The guard for the whole codebase: every portable source file, compiled against the
        // nanoFramework mscorlib by tools/E2m.NanoCompat, contains nothing the 1.x runtime rejects.
        var path = TestPaths.NanoCompatDll;
        Assert.True(File.Exists(path), "E2m.NanoCompat.dll not found at " + path);
        var findings = NanoIlChecker.Check(path);
        foreach (var f in findings)
        {
            output.WriteLine(f.ToString());
        }

        Assert.True(findings.Count == 0, findings.Count + " nanoFramework finding(s) in " + path + ":" + Environment.NewLine
            + string.Join(Environment.NewLine, findings));
    }
}

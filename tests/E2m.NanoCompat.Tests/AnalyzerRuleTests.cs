using System;
using System.Collections.Generic;
using System.Linq;
using E2m.NanoAnalyzers;
using Xunit;
using Xunit.Abstractions;

namespace E2m.NanoCompat.Tests;

/// <summary>
/// Each rule of tools/E2m.NanoAnalyzers fires on a snippet compiled against the real nanoFramework
/// mscorlib 1.17. Rows marked "compiles" are the point of the analyzer: the nanoFramework mscorlib
/// accepts them, yet the 1.x runtime cannot run them (reference: nanoframework.md §4).
/// </summary>
public sealed class AnalyzerRuleTests
{
    private const string NoFloat = NanoSubsetAnalyzer.NoFloatingPointOption;
    private const string NoFloatPaths = NanoSubsetAnalyzer.NoFloatingPointPathsOption;

    private readonly ITestOutputHelper output;

    public AnalyzerRuleTests(ITestOutputHelper output)
    {
        this.output = output;
    }

    public sealed record Row(string Name, string Id, bool CompilesOnNano, string Source, string? Path = null, string? Option = null, string? OptionValue = null, bool Host = false)
    {
        public override string ToString() => Id + " " + Name + (Host ? " (host build)" : string.Empty);
    }

    private static string InClass(string members) => "namespace E2m.Sample { public enum Color { Red, Green } public class C { " + members + " } }";

    public static readonly Row[] Rows =
    {
        new("generic class", "NF0001", true, "namespace E2m.Sample { public class Box<T> { public T Value; } }"),
        new("generic method", "NF0001", true, InClass("public static int Id<T>(T x) { return 0; }")),
        new("Action<int> lambda", "NF0002", true, InClass("public void M() { System.Action<int> a = x => { }; a(1); }")),
        new("Func<int,int> field", "NF0002", true, InClass("public System.Func<int, int> F;")),
        new("collection expression", "NF0002", true, InClass("public int[] M() { int[] a = [1, 2]; return a; }")),
        new("empty collection expression", "NF0002", true, InClass("public byte[] M() { return []; }")),
        new("anonymous type", "NF0002", true, InClass("public object M() { return new { A = 1 }; }")),
        new("int[,]", "NF0003", true, InClass("public int M() { int[,] m = new int[2, 2]; return m[1, 1]; }")),
        new("stackalloc via pointer", "NF0004", true, InClass("public unsafe int M() { int* p = stackalloc int[4]; p[0] = 1; return p[0]; }")),
        new("fixed statement", "NF0004", true, InClass("public unsafe int M(byte[] b) { fixed (byte* p = b) { return *p; } }")),
        new("checked expression", "NF0005", true, InClass("public int M(int a, int b) { return checked(a + b); }")),
        new("checked block", "NF0005", true, InClass("public int M(int a, int b) { checked { a *= b; } return a; }")),
        new("Enum.ToString", "NF0006", true, InClass("public string M(Color c) { return c.ToString(); }")),
        new("enum interpolated", "NF0006", true, InClass("public string M(Color c) { return $\"color {c}\"; }")),
        new("enum concatenated", "NF0006", true, InClass("public string M(Color c) { return \"color \" + c; }")),
        new("double in no-float project", "NF0007", true, InClass("public int M(int a) { double d = a * 1.5; return (int)d; }"), Option: NoFloat, OptionValue: "true"),
        new("float literal in no-float folder", "NF0007", true, InClass("public int M(int a) { var f = a * 0.5f; return (int)f; }"),
            Path: "/repo/firmware/E2m.Crypto/Snippet.cs", Option: NoFloatPaths, OptionValue: "firmware/E2m.Crypto/;firmware/E2m.Coap/"),
        new("async method", "NF0008", false, InClass("public async void M() { await M2(); } public object M2() { return null; }")),
        new("yield iterator", "NF0008", false, InClass("public System.Collections.IEnumerable M() { yield return 1; }")),
        new("tuple", "NF0008", false, InClass("public int M() { var t = (1, 2); return t.Item1; }")),
        new("record", "NF0008", false, "namespace E2m.Sample { public record R(int A); }"),
        new("nullable value type", "NF0008", false, InClass("public int? M() { return null; }")),
        new("LINQ query", "NF0008", false, InClass("public object M(int[] a) { return from x in a select x; }")),
        new("range", "NF0008", false, InClass("public string M(string s) { return s[1..^1]; }")),
        new("foreach over generic enumerator", "NF0008", true,
            "namespace E2m.Sample { public struct E<T> { public T Current { get { return default(T); } } public bool MoveNext() { return false; } }"
            + " public class Bag { public E<int> GetEnumerator() { return new E<int>(); } }"
            + " public class C { public int M(Bag b) { int s = 0; foreach (var x in b) { s += x; } return s; } } }"),
        new("reflection", "NF0009", true, InClass("public int M() { return typeof(C).GetMethods().Length; }")),
        new("Thread.Abort", "NF0009", true, InClass("public void M(System.Threading.Thread t) { t.Abort(); }")),
        new("Random in crypto namespace", "NF0009", true, "namespace E2m.Crypto.Sample { public class K { public int M() { return new System.Random(1).Next(); } } }"),
        new("Console", "NF0009", true, InClass("public void M() { System.Console.WriteLine(\"x\"); }")),
        // nanoFramework formats numbers only with G/N/F/X/D[precision]; "00" comes back as "00" on the device (review, session 11)
        new("custom numeric format", "NF0009", true, InClass("public string M(int h) { return h.ToString(\"00\"); }")),
        new("exponent format", "NF0009", true, InClass("public string M(int h) { return h.ToString(\"E2\"); }")),
        new("non-constant numeric format", "NF0009", true, InClass("public string M(int h, string f) { return h.ToString(f); }")),
        new("custom format item", "NF0009", true, InClass("public string M(int h) { return string.Format(\"{0:0.0}\", h); }")),
        // Not in the nanoFramework mscorlib (so NanoCompat rejects it), but present in the net10.0 host build
        // of a portable project, where the analyzer is what rejects it.
        new("GC.Collect", "NF0009", true, InClass("public void M() { System.GC.Collect(); }"), Host: true),
        new("List<int>", "NF0002", true, InClass("public int M() { var l = new System.Collections.Generic.List<int>(); l.Add(1); return l.Count; }"), Host: true),
        new("Span<byte>", "NF0002", true, InClass("public int M(byte[] b) { System.Span<byte> s = b; return s.Length; }"), Host: true),
        new("nullable value type", "NF0008", true, InClass("public int? M() { return null; }"), Host: true),
        new("tuple", "NF0008", true, InClass("public int M() { var t = (1, 2); return t.Item1; }"), Host: true),
    };

    public static IEnumerable<object[]> RowData() => Rows.Select(r => new object[] { r });

    [Theory]
    [MemberData(nameof(RowData))]
    public void Rule_fires_on_violation(Row row)
    {
        var compilation = NanoCompiler.Compile(row.Source, row.Path ?? "/repo/firmware/E2m.Sample/Snippet.cs", host: row.Host);
        var errors = NanoCompiler.Errors(compilation);
        foreach (var e in errors)
        {
            output.WriteLine("compiler: " + e);
        }

        var options = row.Option is null ? null : new Dictionary<string, string> { [row.Option] = row.OptionValue! };
        var diagnostics = NanoCompiler.Analyze(compilation, options);
        foreach (var d in diagnostics)
        {
            output.WriteLine("analyzer: " + d);
        }

        Assert.Contains(diagnostics, d => d.Id == row.Id && d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error);
        if (row.CompilesOnNano)
        {
            // The analyzer is what rejects it: the nanoFramework mscorlib alone accepts the snippet.
            Assert.Empty(errors);
        }
    }

    [Fact]
    public void Every_rule_has_a_violation_row()
    {
        var covered = Rows.Select(r => r.Id).ToHashSet();
        foreach (var rule in NanoRules.All)
        {
            Assert.Contains(rule.Id, covered);
        }
    }

    [Fact]
    public void Portable_style_code_has_no_diagnostics()
    {
        const string source = @"
namespace E2m.Crypto.Sample
{
    public delegate void Completed(object sender, int status);

    public interface IBlock { void Encrypt(byte[] input, int offset, byte[] output, int outputOffset); }

    public enum Mode { Ccm = 1, Gcm = 2 }

    public sealed class Sample : System.IDisposable
    {
        private readonly byte[] buffer = new byte[16];
        private readonly byte[][] jagged = new byte[2][];
        private readonly System.Collections.ArrayList list = new System.Collections.ArrayList();
        private readonly object gate = new object();
        public event System.EventHandler Changed;
        public event Completed Done;
        public int Length { get; private set; }

        public string Hex(int v) { return v.ToString(""X2"") + v.ToString() + string.Format(""{0:D3} {1}"", v, v); }

        public int Sum(byte[] data, int offset, int length)
        {
            int sum = 0;
            foreach (byte b in data) { sum += b; }
            for (int i = offset; i < offset + length; i++) { sum = unchecked(sum + data[i]); }
            lock (gate) { Length = sum; }
            System.Array.Copy(data, offset, buffer, 0, 16 < length ? 16 : length);
            System.Array.Clear(buffer, 0, buffer.Length);
            list.Add(sum);
            jagged[0] = new byte[0];
            return sum;
        }

        public string Describe(Mode mode, int value)
        {
            switch (mode)
            {
                case Mode.Ccm: return ""ccm "" + value + "" "" + (int)mode;
                default: return $""mode {(int)mode} value {value:X4}"";
            }
        }

        public void Raise()
        {
            System.EventHandler h = Changed;
            if (h != null) { h(this, System.EventArgs.Empty); }
            Completed d = Done;
            if (d != null) { d(this, 0); }
            System.Threading.ThreadStart start = () => Raise();
            if (Mode.Ccm.HasFlag(Mode.Ccm) && start != null) { Length++; }
        }

        public void Dispose() { System.Array.Clear(buffer, 0, buffer.Length); }
    }
}";
        var compilation = NanoCompiler.Compile(source, "/repo/firmware/E2m.Crypto/Sample.cs");
        Assert.Empty(NanoCompiler.Errors(compilation));
        var diagnostics = NanoCompiler.Analyze(compilation, new Dictionary<string, string> { [NoFloat] = "true" });
        Assert.True(diagnostics.IsEmpty, string.Join(Environment.NewLine, diagnostics));
    }

    [Fact]
    public void Floating_point_is_allowed_outside_the_integer_only_folders()
    {
        var compilation = NanoCompiler.Compile(InClass("public int M(int a) { double d = a * 1.5; return (int)d; }"),
            "/repo/firmware/E2m.Firmware/Snippet.cs");
        var diagnostics = NanoCompiler.Analyze(compilation, new Dictionary<string, string> { [NoFloatPaths] = "firmware/E2m.Crypto/;firmware/E2m.Oscore/" });
        Assert.DoesNotContain(diagnostics, d => d.Id == "NF0007");
    }
}

using System.Collections.Immutable;
using Microsoft.CodeAnalysis;

namespace E2m.NanoAnalyzers
{
    /// <summary>
    /// The nanoFramework 1.x subset rules (DESIGN.md §9, reference/nanoframework.md §4). All are errors:
    /// each names the runtime limitation and the alternative to use instead.
    /// </summary>
    public static class NanoRules
    {
        public const string Category = "nanoFramework";

        public static readonly DiagnosticDescriptor GenericDeclaration = new DiagnosticDescriptor(
            "NF0001",
            "Generic type or method declaration",
            "'{0}' declares type parameters, but the nanoFramework 1.x runtime does not support generics. Write a non-generic type or method (one concrete type, or object plus a cast).",
            Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor GenericUse = new DiagnosticDescriptor(
            "NF0002",
            "Generic instantiation",
            "{0} makes the compiler emit a generic instantiation, but the nanoFramework 1.x runtime does not support generics (no List<T>, Action<T>, Func<...>, EventHandler<T>, Array.Empty<T>, collection expressions, anonymous types). Use arrays, ArrayList, a delegate type you declare yourself, 'new byte[0]' or an explicit array creation.",
            Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor MultiDimensionalArray = new DiagnosticDescriptor(
            "NF0003",
            "Multidimensional array",
            "'{0}' is a multidimensional array, but nanoFramework 1.x supports only single-dimension arrays. Use a jagged array (T[][]) or a flat array with a computed index.",
            Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor UnsafeCode = new DiagnosticDescriptor(
            "NF0004",
            "Unsafe code, pointers or stackalloc",
            "{0} is not allowed: the nanoFramework 1.x interpreter rejects localloc (stackalloc) and calli (function pointers), and unsafe code is unverified there. Work on preallocated byte[] buffers with offset and length.",
            Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor CheckedArithmetic = new DiagnosticDescriptor(
            "NF0005",
            "Checked arithmetic",
            "{0} relies on overflow checking, but the nanoFramework 1.x interpreter executes add.ovf/sub.ovf/mul.ovf like add/sub/mul and never throws OverflowException. Check the range explicitly and throw.",
            Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor EnumNames = new DiagnosticDescriptor(
            "NF0006",
            "Enum name or reflection API",
            "{0} needs enum names, but nanoFramework 1.x has none (Enum.ToString returns the number; GetName, GetNames, GetValues, IsDefined and Parse do not exist). Map values to text with an explicit switch, or format the value cast to int.",
            Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor FloatingPoint = new DiagnosticDescriptor(
            "NF0007",
            "Floating point in integer-only code",
            "{0} uses floating point, which is forbidden in the crypto and protocol core (E2mNoFloatingPoint): many nanoFramework targets are single-precision only and double APIs may throw NotImplementedException. Use integer or fixed-point arithmetic.",
            Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor UnsupportedFeature = new DiagnosticDescriptor(
            "NF0008",
            "Language feature not supported by nanoFramework 1.x",
            "{0} is not supported by nanoFramework 1.x (it needs Task, IEnumerable<T>, ValueTuple, Nullable<T>, Index/Range, System.Linq or the DLR, none of which exist there). Use synchronous code, explicit loops over arrays, out parameters or a small class, and sentinel values instead of nullable value types.",
            Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor ForbiddenApi = new DiagnosticDescriptor(
            "NF0009",
            "Forbidden API in portable code",
            "{0} is forbidden in portable code. Reason and alternative: {1}.",
            Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static readonly ImmutableArray<DiagnosticDescriptor> All = ImmutableArray.Create(
            GenericDeclaration, GenericUse, MultiDimensionalArray, UnsafeCode, CheckedArithmetic,
            EnumNames, FloatingPoint, UnsupportedFeature, ForbiddenApi);
    }
}

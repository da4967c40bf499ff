using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace E2m.NanoCheck;

/// <summary>What the nanoFramework 1.x runtime cannot load or run, as seen in compiled metadata/IL.</summary>
public enum NanoFindingKind
{
    /// <summary>MethodSpec row or generic TypeSpec (GenericInst): 1.x has no generics.</summary>
    GenericInstantiation,
    /// <summary>GenericParam row: a generic type or method is defined.</summary>
    GenericParameter,
    /// <summary>An AssemblyRef other than mscorlib.</summary>
    ForeignAssembly,
    /// <summary>A MemberRef whose parent is neither in mscorlib nor in the assembly itself.</summary>
    ForeignMember,
    /// <summary>An opcode the nanoFramework interpreter rejects (throws at run time).</summary>
    ForbiddenOpcode,
    /// <summary>add.ovf/sub.ovf/mul.ovf: executed as add/sub/mul, no OverflowException.</summary>
    OverflowOpcode,
    /// <summary>An array of rank &gt; 1 (or a non-SZ array) in a signature.</summary>
    MultiDimensionalArray,
    /// <summary>R4/R8 (or decimal) in an integer-only namespace.</summary>
    FloatingPoint,
    /// <summary>Pointer, function pointer or pinned local (unsafe code).</summary>
    Unsafe,
    /// <summary>An API that exists in mscorlib but is banned in portable code (Console, reflection,
    /// GC.Collect, Thread.Abort/Suspend/Resume, System.Random in crypto/OSCORE code).</summary>
    ForbiddenApi,
    /// <summary>IL that could not be decoded.</summary>
    InvalidIl,
}

/// <summary>One problem found in the assembly.</summary>
public sealed record NanoFinding(NanoFindingKind Kind, string Location, string Detail)
{
    public override string ToString() => Kind + " at " + Location + ": " + Detail;
}

/// <summary>Settings of <see cref="NanoIlChecker"/>.</summary>
public sealed class NanoIlCheckOptions
{
    /// <summary>The only assembly that may be referenced.</summary>
    public string CoreLibraryName { get; init; } = "mscorlib";

    /// <summary>Namespaces (and their sub-namespaces) where R4/R8 must not appear (DESIGN.md §9).</summary>
    public IReadOnlyList<string> NoFloatingPointNamespaces { get; init; } = new[] { "E2m.Crypto", "E2m.Coap", "E2m.Oscore" };
}

/// <summary>
/// Reads a compiled assembly with System.Reflection.Metadata and reports what the nanoFramework 1.x
/// runtime cannot run (DESIGN.md §9; reference: nf-interpreter Interpreter.cpp opcode handling):
/// generic instantiations and parameters, references outside mscorlib, rejected or unhonoured opcodes,
/// multidimensional arrays, unsafe types and floating point in the integer-only namespaces.
/// IL bodies are decoded opcode by opcode with the operand sizes of ECMA-335 Partition III
/// (one- and two-byte opcodes, switch tables).
/// </summary>
public static class NanoIlChecker
{
    private static readonly Dictionary<ushort, OpCode> OpCodeTable = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => unchecked((ushort)o.Value));

    // nf-interpreter Interpreter.cpp: these opcodes throw (not implemented) at run time.
    private static readonly HashSet<string> ForbiddenOpcodes = new(StringComparer.Ordinal)
    {
        "localloc", "cpblk", "initblk", "calli", "jmp", "arglist", "ckfinite", "mkrefany", "refanytype", "refanyval", "readonly.",
    };

    // nf-interpreter Interpreter.cpp: implemented with the same code as add/sub/mul (no overflow trap).
    private static readonly HashSet<string> OverflowOpcodes = new(StringComparer.Ordinal)
    {
        "add.ovf", "add.ovf.un", "sub.ovf", "sub.ovf.un", "mul.ovf", "mul.ovf.un",
    };

    private static readonly HashSet<string> FloatOpcodes = new(StringComparer.Ordinal)
    {
        "ldc.r4", "ldc.r8", "conv.r4", "conv.r8", "conv.r.un", "ldind.r4", "ldind.r8", "stind.r4", "stind.r8",
        "ldelem.r4", "ldelem.r8", "stelem.r4", "stelem.r8",
    };

    public static IReadOnlyList<NanoFinding> Check(string assemblyPath, NanoIlCheckOptions? options = null)
    {
        using var stream = File.OpenRead(assemblyPath);
        return Check(stream, options);
    }

    public static IReadOnlyList<NanoFinding> Check(Stream peImage, NanoIlCheckOptions? options = null)
    {
        using var pe = new PEReader(peImage, PEStreamOptions.LeaveOpen | PEStreamOptions.PrefetchEntireImage);
        return Check(pe, options);
    }

    public static IReadOnlyList<NanoFinding> Check(PEReader pe, NanoIlCheckOptions? options = null)
    {
        options ??= new NanoIlCheckOptions();
        var run = new Run(pe, options);
        run.Execute();
        return run.Findings;
    }

    private sealed class Run
    {
        private readonly PEReader pe;
        private readonly MetadataReader md;
        private readonly NanoIlCheckOptions options;
        private readonly SigProvider sigs;

        public List<NanoFinding> Findings { get; } = new();

        public Run(PEReader pe, NanoIlCheckOptions options)
        {
            this.pe = pe;
            md = pe.GetMetadataReader();
            this.options = options;
            sigs = new SigProvider(md, options.CoreLibraryName);
        }

        private void Add(NanoFindingKind kind, string location, string detail) => Findings.Add(new NanoFinding(kind, location, detail));

        public void Execute()
        {
            CheckAssemblyRefs();
            CheckTypeSpecs();
            CheckMethodSpecs();
            CheckMemberRefs();
            foreach (var th in md.TypeDefinitions)
            {
                CheckType(th);
            }
        }

        private void CheckAssemblyRefs()
        {
            foreach (var h in md.AssemblyReferences)
            {
                var name = md.GetString(md.GetAssemblyReference(h).Name);
                if (!string.Equals(name, options.CoreLibraryName, StringComparison.Ordinal))
                {
                    Add(NanoFindingKind.ForeignAssembly, "AssemblyRef 0x" + MetadataTokens.GetToken(h).ToString("X8"), name);
                }
            }
        }

        private void CheckTypeSpecs()
        {
            var rows = md.GetTableRowCount(TableIndex.TypeSpec);
            for (var row = 1; row <= rows; row++)
            {
                var h = MetadataTokens.TypeSpecificationHandle(row);
                var sig = md.GetTypeSpecification(h).DecodeSignature(sigs, null);
                var loc = "TypeSpec 0x" + MetadataTokens.GetToken(h).ToString("X8");
                ReportSig(loc, sig, floatsMatter: false);
            }
        }

        private void CheckMethodSpecs()
        {
            var rows = md.GetTableRowCount(TableIndex.MethodSpec);
            for (var row = 1; row <= rows; row++)
            {
                var h = MetadataTokens.MethodSpecificationHandle(row);
                var spec = md.GetMethodSpecification(h);
                var args = spec.DecodeSignature(sigs, null);
                Add(NanoFindingKind.GenericInstantiation, "MethodSpec 0x" + MetadataTokens.GetToken(h).ToString("X8"),
                    MethodName(spec.Method) + "<" + string.Join(", ", args.Select(a => a.Name)) + ">");
            }
        }

        private void CheckMemberRefs()
        {
            foreach (var h in md.MemberReferences)
            {
                var mr = md.GetMemberReference(h);
                var name = md.GetString(mr.Name);
                var loc = "MemberRef 0x" + MetadataTokens.GetToken(h).ToString("X8");
                string? foreign = null;
                switch (mr.Parent.Kind)
                {
                    case HandleKind.TypeReference:
                        foreign = sigs.ForeignScope((TypeReferenceHandle)mr.Parent);
                        break;
                    case HandleKind.TypeSpecification:
                        foreign = md.GetTypeSpecification((TypeSpecificationHandle)mr.Parent).DecodeSignature(sigs, null).Foreign;
                        break;
                    case HandleKind.ModuleReference:
                        foreign = "module " + md.GetString(md.GetModuleReference((ModuleReferenceHandle)mr.Parent).Name);
                        break;
                    case HandleKind.TypeDefinition:
                    case HandleKind.MethodDefinition:
                        break;
                    default:
                        foreign = mr.Parent.Kind.ToString();
                        break;
                }

                if (foreign != null)
                {
                    Add(NanoFindingKind.ForeignMember, loc, MemberRefName(h) + " (parent in " + foreign + ")");
                }

                var sig = DecodeMemberRefSignature(mr);
                ReportSig(loc + " " + MemberRefName(h), sig, floatsMatter: false);
                var full = MemberRefName(h);
                var parentName = full.Substring(0, full.LastIndexOf("::", StringComparison.Ordinal));
                var why = ForbiddenReason(parentName, name);
                if (why is null && sig.Reflection)
                {
                    why = "reflection (" + sig.Name + ")";
                }

                if (why != null)
                {
                    Add(NanoFindingKind.ForbiddenApi, loc, full + ": " + why);
                }
            }
        }

        private static string? ForbiddenReason(string type, string member)
        {
            if (type == "System.Console")
            {
                return "the device has no console";
            }

            if (type == "System.GC" && member == "Collect")
            {
                return "forced collection";
            }

            if (type == "System.Threading.Thread" && member is "Abort" or "Suspend" or "Resume")
            {
                return "unreliable thread control";
            }

            if (type == "System.Activator" || (SigProvider.IsReflectionType(type)))
            {
                return "reflection";
            }

            return null;
        }

        private Sig DecodeMemberRefSignature(MemberReference mr)
        {
            if (mr.GetKind() == MemberReferenceKind.Field)
            {
                return mr.DecodeFieldSignature(sigs, null);
            }

            return Sig.Of(mr.DecodeMethodSignature(sigs, null));
        }

        private void CheckType(TypeDefinitionHandle th)
        {
            var td = md.GetTypeDefinition(th);
            var typeName = TypeName(th);
            var outerNs = OuterNamespace(th);
            var noFloat = IsNoFloatNamespace(outerNs);
            var crypto = outerNs.Contains("Crypto", StringComparison.OrdinalIgnoreCase) || outerNs.Contains("Oscore", StringComparison.OrdinalIgnoreCase);

            var gps = td.GetGenericParameters();
            if (gps.Count > 0)
            {
                Add(NanoFindingKind.GenericParameter, typeName, "type declares " + gps.Count + " generic parameter(s)");
            }

            foreach (var fh in td.GetFields())
            {
                var f = md.GetFieldDefinition(fh);
                var sig = f.DecodeSignature(sigs, null);
                ReportSig(typeName + "::" + md.GetString(f.Name), sig, noFloat);
            }

            foreach (var mh in td.GetMethods())
            {
                CheckMethod(mh, typeName, noFloat, crypto);
            }
        }

        private void CheckMethod(MethodDefinitionHandle mh, string typeName, bool noFloat, bool crypto)
        {
            var m = md.GetMethodDefinition(mh);
            var loc = typeName + "::" + md.GetString(m.Name);
            var gps = m.GetGenericParameters();
            if (gps.Count > 0)
            {
                Add(NanoFindingKind.GenericParameter, loc, "method declares " + gps.Count + " generic parameter(s)");
            }

            ReportSig(loc + " (signature)", Sig.Of(m.DecodeSignature(sigs, null)), noFloat);

            if (m.RelativeVirtualAddress == 0)
            {
                return;
            }

            var body = pe.GetMethodBody(m.RelativeVirtualAddress);
            if (!body.LocalSignature.IsNil)
            {
                var locals = md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(sigs, null);
                foreach (var local in locals)
                {
                    ReportSig(loc + " (locals)", local, noFloat);
                }
            }

            WalkIl(body.GetILBytes() ?? Array.Empty<byte>(), loc, noFloat, crypto);
        }

        private void WalkIl(byte[] il, string loc, bool noFloat, bool crypto)
        {
            var i = 0;
            while (i < il.Length)
            {
                var offset = i;
                int code = il[i++];
                if (code == 0xFE)
                {
                    if (i >= il.Length)
                    {
                        Add(NanoFindingKind.InvalidIl, loc, "truncated two-byte opcode at IL_" + offset.ToString("X4"));
                        return;
                    }

                    code = 0xFE00 | il[i++];
                }

                if (!OpCodeTable.TryGetValue((ushort)code, out var op))
                {
                    Add(NanoFindingKind.InvalidIl, loc, "unknown opcode 0x" + code.ToString("X") + " at IL_" + offset.ToString("X4"));
                    return;
                }

                var at = loc + " IL_" + offset.ToString("X4");
                int operandSize;
                int token = 0;
                switch (op.OperandType)
                {
                    case OperandType.InlineNone:
                        operandSize = 0;
                        break;
                    case OperandType.ShortInlineBrTarget:
                    case OperandType.ShortInlineI:
                    case OperandType.ShortInlineVar:
                        operandSize = 1;
                        break;
                    case OperandType.InlineVar:
                        operandSize = 2;
                        break;
                    case OperandType.InlineI8:
                    case OperandType.InlineR:
                        operandSize = 8;
                        break;
                    case OperandType.InlineSwitch:
                        if (i + 4 > il.Length)
                        {
                            Add(NanoFindingKind.InvalidIl, at, "truncated switch");
                            return;
                        }

                        {
                            var count = (long)BitConverter.ToUInt32(il, i);
                            var size = 4 + (4 * count);
                            operandSize = size > il.Length - i ? -1 : (int)size;
                        }

                        break;
                    case OperandType.InlineField:
                    case OperandType.InlineMethod:
                    case OperandType.InlineTok:
                    case OperandType.InlineType:
                    case OperandType.InlineSig:
                        operandSize = 4;
                        if (i + 4 <= il.Length)
                        {
                            token = BitConverter.ToInt32(il, i);
                        }

                        break;
                    default: // InlineBrTarget, InlineI, InlineString, ShortInlineR
                        operandSize = 4;
                        break;
                }

                if (i + operandSize > il.Length || operandSize < 0)
                {
                    Add(NanoFindingKind.InvalidIl, at, op.Name + ": operand runs past the end of the body");
                    return;
                }

                i += operandSize;

                var name = op.Name ?? string.Empty;
                if (ForbiddenOpcodes.Contains(name))
                {
                    Add(NanoFindingKind.ForbiddenOpcode, at, name);
                }
                else if (OverflowOpcodes.Contains(name))
                {
                    Add(NanoFindingKind.OverflowOpcode, at, name + " (no OverflowException on nanoFramework)");
                }

                if (crypto && token != 0 && MetadataTokens.EntityHandle(token).Kind == HandleKind.MemberReference
                    && MemberRefName((MemberReferenceHandle)MetadataTokens.EntityHandle(token)).StartsWith("System.Random::", StringComparison.Ordinal))
                {
                    Add(NanoFindingKind.ForbiddenApi, at, "System.Random in crypto/OSCORE code: keys and nonces never come from System.Random");
                }

                if (noFloat)
                {
                    if (FloatOpcodes.Contains(name))
                    {
                        Add(NanoFindingKind.FloatingPoint, at, name);
                    }
                    else if (token != 0 && op.OperandType != OperandType.InlineSig)
                    {
                        var sig = TokenSig(token);
                        if (sig is { } s && s.Float)
                        {
                            Add(NanoFindingKind.FloatingPoint, at, name + " " + s.Name);
                        }
                    }
                }
            }
        }

        private Sig? TokenSig(int token)
        {
            var h = MetadataTokens.EntityHandle(token);
            switch (h.Kind)
            {
                case HandleKind.MethodDefinition:
                    {
                        var m = md.GetMethodDefinition((MethodDefinitionHandle)h);
                        return Sig.Of(m.DecodeSignature(sigs, null)).Rename(md.GetString(m.Name));
                    }

                case HandleKind.MemberReference:
                    {
                        var mr = md.GetMemberReference((MemberReferenceHandle)h);
                        return DecodeMemberRefSignature(mr).Rename(MemberRefName((MemberReferenceHandle)h));
                    }

                case HandleKind.MethodSpecification:
                    {
                        var spec = md.GetMethodSpecification((MethodSpecificationHandle)h);
                        var args = spec.DecodeSignature(sigs, null);
                        var inner = TokenSig(MetadataTokens.GetToken(spec.Method));
                        return args.Aggregate(inner ?? new Sig("?"), (acc, a) => acc.Merge(a));
                    }

                case HandleKind.FieldDefinition:
                    {
                        var f = md.GetFieldDefinition((FieldDefinitionHandle)h);
                        return f.DecodeSignature(sigs, null).Rename(md.GetString(f.Name));
                    }

                case HandleKind.TypeDefinition:
                    return sigs.GetTypeFromDefinition(md, (TypeDefinitionHandle)h, 0);
                case HandleKind.TypeReference:
                    return sigs.GetTypeFromReference(md, (TypeReferenceHandle)h, 0);
                case HandleKind.TypeSpecification:
                    return md.GetTypeSpecification((TypeSpecificationHandle)h).DecodeSignature(sigs, null);
                default:
                    return null;
            }
        }

        private void ReportSig(string loc, Sig sig, bool floatsMatter)
        {
            if (sig.Generic)
            {
                Add(NanoFindingKind.GenericInstantiation, loc, sig.Name);
            }

            if (sig.MultiDim)
            {
                Add(NanoFindingKind.MultiDimensionalArray, loc, sig.Name);
            }

            if (sig.Pointer)
            {
                Add(NanoFindingKind.Unsafe, loc, sig.Name);
            }

            if (floatsMatter && sig.Float)
            {
                Add(NanoFindingKind.FloatingPoint, loc, sig.Name);
            }
        }

        private bool IsNoFloatNamespace(string ns) =>
            options.NoFloatingPointNamespaces.Any(n => ns == n || ns.StartsWith(n + ".", StringComparison.Ordinal));

        private string OuterNamespace(TypeDefinitionHandle th)
        {
            var td = md.GetTypeDefinition(th);
            while (td.IsNested)
            {
                td = md.GetTypeDefinition(td.GetDeclaringType());
            }

            return md.GetString(td.Namespace);
        }

        private string TypeName(TypeDefinitionHandle th) => sigs.GetTypeFromDefinition(md, th, 0).Name;

        private string MethodName(EntityHandle method) => method.Kind switch
        {
            HandleKind.MethodDefinition => TypeName(md.GetMethodDefinition((MethodDefinitionHandle)method).GetDeclaringType())
                + "::" + md.GetString(md.GetMethodDefinition((MethodDefinitionHandle)method).Name),
            HandleKind.MemberReference => MemberRefName((MemberReferenceHandle)method),
            _ => method.Kind.ToString(),
        };

        private string MemberRefName(MemberReferenceHandle h)
        {
            var mr = md.GetMemberReference(h);
            var parent = mr.Parent.Kind switch
            {
                HandleKind.TypeReference => sigs.GetTypeFromReference(md, (TypeReferenceHandle)mr.Parent, 0).Name,
                HandleKind.TypeDefinition => TypeName((TypeDefinitionHandle)mr.Parent),
                HandleKind.TypeSpecification => md.GetTypeSpecification((TypeSpecificationHandle)mr.Parent).DecodeSignature(sigs, null).Name,
                _ => mr.Parent.Kind.ToString(),
            };
            return parent + "::" + md.GetString(mr.Name);
        }
    }

    /// <summary>A decoded signature type with the properties the checks care about.</summary>
    internal readonly record struct Sig(string Name, bool Generic = false, bool Float = false, bool MultiDim = false, bool Pointer = false, string? Foreign = null, bool Reflection = false)
    {
        public Sig Merge(Sig other) => new(Name, Generic || other.Generic, Float || other.Float, MultiDim || other.MultiDim,
            Pointer || other.Pointer, Foreign ?? other.Foreign, Reflection || other.Reflection);

        public Sig Rename(string name) => this with { Name = name };

        public static Sig Of(MethodSignature<Sig> m)
        {
            var s = m.ReturnType;
            foreach (var p in m.ParameterTypes)
            {
                s = s.Merge(p);
            }

            return s.Rename(m.ReturnType.Name + " (" + string.Join(", ", m.ParameterTypes.Select(p => p.Name)) + ")")
                with { Generic = s.Generic || m.GenericParameterCount > 0 };
        }
    }

    internal sealed class SigProvider : ISignatureTypeProvider<Sig, object?>
    {
        private readonly MetadataReader md;
        private readonly string core;

        public SigProvider(MetadataReader md, string core)
        {
            this.md = md;
            this.core = core;
        }

        public Sig GetPrimitiveType(PrimitiveTypeCode typeCode) =>
            new(typeCode.ToString(), Float: typeCode is PrimitiveTypeCode.Single or PrimitiveTypeCode.Double,
                Pointer: false);

        public Sig GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            var td = reader.GetTypeDefinition(handle);
            var name = reader.GetString(td.Name);
            if (td.IsNested)
            {
                return new Sig(GetTypeFromDefinition(reader, td.GetDeclaringType(), 0).Name + "/" + name);
            }

            var ns = reader.GetString(td.Namespace);
            return new Sig(ns.Length == 0 ? name : ns + "." + name);
        }

        public Sig GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind)
        {
            var tr = reader.GetTypeReference(handle);
            var name = reader.GetString(tr.Name);
            string full;
            if (tr.ResolutionScope.Kind == HandleKind.TypeReference)
            {
                full = GetTypeFromReference(reader, (TypeReferenceHandle)tr.ResolutionScope, 0).Name + "/" + name;
            }
            else
            {
                var ns = reader.GetString(tr.Namespace);
                full = ns.Length == 0 ? name : ns + "." + name;
            }

            return new Sig(full, Float: full is "System.Single" or "System.Double" or "System.Decimal", Foreign: ForeignScope(handle),
                Reflection: IsReflectionType(full));
        }

        /// <summary>System.Reflection types other than attributes (attributes are metadata, e.g. DefaultMemberAttribute for indexers).</summary>
        public static bool IsReflectionType(string fullName) =>
            fullName.StartsWith("System.Reflection.", StringComparison.Ordinal) && !fullName.EndsWith("Attribute", StringComparison.Ordinal);

        /// <summary>The assembly/module a type reference resolves to, or null if mscorlib or this module.</summary>
        public string? ForeignScope(TypeReferenceHandle handle)
        {
            var scope = md.GetTypeReference(handle).ResolutionScope;
            switch (scope.Kind)
            {
                case HandleKind.TypeReference:
                    return ForeignScope((TypeReferenceHandle)scope);
                case HandleKind.AssemblyReference:
                    var name = md.GetString(md.GetAssemblyReference((AssemblyReferenceHandle)scope).Name);
                    return string.Equals(name, core, StringComparison.Ordinal) ? null : name;
                case HandleKind.ModuleDefinition:
                    return null;
                case HandleKind.ModuleReference:
                    return "module " + md.GetString(md.GetModuleReference((ModuleReferenceHandle)scope).Name);
                default:
                    return scope.IsNil ? "exported type (nil scope)" : scope.Kind.ToString();
            }
        }

        public Sig GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);

        public Sig GetSZArrayType(Sig elementType) => elementType.Rename(elementType.Name + "[]");

        public Sig GetArrayType(Sig elementType, ArrayShape shape) =>
            elementType.Rename(elementType.Name + "[" + new string(',', Math.Max(0, shape.Rank - 1)) + "]") with { MultiDim = true };

        public Sig GetByReferenceType(Sig elementType) => elementType.Rename(elementType.Name + "&");

        public Sig GetPointerType(Sig elementType) => elementType.Rename(elementType.Name + "*") with { Pointer = true };

        public Sig GetFunctionPointerType(MethodSignature<Sig> signature) => Sig.Of(signature).Rename("method pointer") with { Pointer = true };

        public Sig GetGenericInstantiation(Sig genericType, ImmutableArray<Sig> typeArguments)
        {
            var s = genericType;
            foreach (var a in typeArguments)
            {
                s = s.Merge(a);
            }

            return s.Rename(genericType.Name + "<" + string.Join(", ", typeArguments.Select(a => a.Name)) + ">") with { Generic = true };
        }

        public Sig GetGenericMethodParameter(object? genericContext, int index) => new("!!" + index, Generic: true);

        public Sig GetGenericTypeParameter(object? genericContext, int index) => new("!" + index, Generic: true);

        public Sig GetModifiedType(Sig modifier, Sig unmodifiedType, bool isRequired) => unmodifiedType;

        public Sig GetPinnedType(Sig elementType) => elementType.Rename("pinned " + elementType.Name) with { Pointer = true };
    }
}

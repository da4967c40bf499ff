using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace E2m.NanoAnalyzers
{
    /// <summary>
    /// Rejects, at build time, code that compiles against the nanoFramework 1.17 mscorlib but that the
    /// nanoFramework 1.x runtime cannot run (DESIGN.md §9). Three views are combined: syntax (constructs
    /// such as stackalloc, checked, yield, records), operations (every symbol and type the compiler binds,
    /// which catches implicit generic instantiations) and declared symbols (field/parameter/return types).
    /// Options (MSBuild properties made compiler-visible by /Directory.Build.targets):
    /// build_property.E2mNoFloatingPoint = true  : NF0007 applies to every file of the project;
    /// build_property.E2mNoFloatingPointPaths    : ';' or ',' separated path fragments (forward slashes);
    ///                                             NF0007 applies to files whose path contains one.
    /// </summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class NanoSubsetAnalyzer : DiagnosticAnalyzer
    {
        public const string NoFloatingPointOption = "build_property.E2mNoFloatingPoint";
        public const string NoFloatingPointPathsOption = "build_property.E2mNoFloatingPointPaths";

        private static readonly ImmutableArray<OperationKind> AllOperationKinds =
            ((OperationKind[])Enum.GetValues(typeof(OperationKind)))
                .Where(k => k != OperationKind.None)
                .Distinct()
                .ToImmutableArray();

        private static readonly ImmutableHashSet<string> EnumNameApis = ImmutableHashSet.Create(
            StringComparer.Ordinal,
            "ToString", "GetName", "GetNames", "GetValues", "GetValuesAsUnderlyingType", "IsDefined",
            "Parse", "TryParse", "Format", "GetUnderlyingType");

        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => NanoRules.All;

        public override void Initialize(AnalysisContext context)
        {
            // SDK-generated files (AssemblyInfo, global usings) are not portable sources; the IL witness
            // test (tests/E2m.NanoCompat.Tests) still sees everything that ends up in the assembly.
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.EnableConcurrentExecution();
            context.RegisterCompilationStartAction(start =>
            {
                var state = new State(start.Compilation, start.Options.AnalyzerConfigOptionsProvider.GlobalOptions);
                start.RegisterSyntaxNodeAction(state.AnalyzeSyntax, State.SyntaxKinds);
                start.RegisterOperationAction(state.AnalyzeOperation, AllOperationKinds);
                start.RegisterSymbolAction(
                    state.AnalyzeSymbol,
                    SymbolKind.NamedType, SymbolKind.Method, SymbolKind.Field, SymbolKind.Property, SymbolKind.Event);
            });
        }

        private sealed class State
        {
            public static readonly ImmutableArray<SyntaxKind> SyntaxKinds = ImmutableArray.Create(
                SyntaxKind.TypeParameterList,
                SyntaxKind.ArrayRankSpecifier,
                SyntaxKind.StackAllocArrayCreationExpression, SyntaxKind.ImplicitStackAllocArrayCreationExpression,
                SyntaxKind.UnsafeStatement, SyntaxKind.PointerType, SyntaxKind.FunctionPointerType,
                SyntaxKind.FixedStatement, SyntaxKind.AddressOfExpression, SyntaxKind.PointerIndirectionExpression,
                SyntaxKind.PointerMemberAccessExpression,
                SyntaxKind.ClassDeclaration, SyntaxKind.StructDeclaration, SyntaxKind.InterfaceDeclaration,
                SyntaxKind.MethodDeclaration, SyntaxKind.ConstructorDeclaration, SyntaxKind.DestructorDeclaration,
                SyntaxKind.FieldDeclaration, SyntaxKind.PropertyDeclaration, SyntaxKind.IndexerDeclaration,
                SyntaxKind.EventFieldDeclaration, SyntaxKind.EventDeclaration, SyntaxKind.DelegateDeclaration,
                SyntaxKind.OperatorDeclaration, SyntaxKind.ConversionOperatorDeclaration, SyntaxKind.LocalFunctionStatement,
                SyntaxKind.CheckedExpression, SyntaxKind.CheckedStatement,
                SyntaxKind.PredefinedType, SyntaxKind.NumericLiteralExpression,
                SyntaxKind.AwaitExpression, SyntaxKind.YieldReturnStatement, SyntaxKind.YieldBreakStatement,
                SyntaxKind.TupleType, SyntaxKind.TupleExpression,
                SyntaxKind.RecordDeclaration, SyntaxKind.RecordStructDeclaration, SyntaxKind.WithExpression,
                SyntaxKind.QueryExpression, SyntaxKind.RangeExpression, SyntaxKind.IndexExpression,
                SyntaxKind.NullableType, SyntaxKind.ForEachStatement, SyntaxKind.ForEachVariableStatement,
                SyntaxKind.UsingStatement, SyntaxKind.LocalDeclarationStatement,
                SyntaxKind.ParenthesizedLambdaExpression, SyntaxKind.SimpleLambdaExpression, SyntaxKind.AnonymousMethodExpression,
                SyntaxKind.CollectionExpression, SyntaxKind.AnonymousObjectCreationExpression);

            private readonly bool noFloatEverywhere;
            private readonly string[] noFloatPaths;
            private readonly bool arrayEmptyExists;
            private readonly ConcurrentDictionary<string, byte> reported = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);

            public State(Compilation compilation, AnalyzerConfigOptions globalOptions)
            {
                noFloatEverywhere = globalOptions.TryGetValue(NoFloatingPointOption, out var v)
                    && string.Equals(v.Trim(), "true", StringComparison.OrdinalIgnoreCase);
                noFloatPaths = globalOptions.TryGetValue(NoFloatingPointPathsOption, out var p)
                    ? p.Split(new[] { ';', ',' }, StringSplitOptions.RemoveEmptyEntries)
                        .Select(s => s.Trim().Replace('\\', '/'))
                        .Where(s => s.Length > 0)
                        .ToArray()
                    : Array.Empty<string>();
                // Roslyn lowers an empty params array (and '[]' for arrays) to Array.Empty<T>() when it exists.
                var array = compilation.GetSpecialType(SpecialType.System_Array);
                arrayEmptyExists = array.GetMembers("Empty").OfType<IMethodSymbol>().Any(m => m.IsGenericMethod);
            }

            private bool FloatForbidden(SyntaxTree? tree)
            {
                if (noFloatEverywhere)
                {
                    return true;
                }

                if (tree is null || noFloatPaths.Length == 0)
                {
                    return false;
                }

                var path = tree.FilePath.Replace('\\', '/');
                foreach (var fragment in noFloatPaths)
                {
                    if (path.IndexOf(fragment, StringComparison.OrdinalIgnoreCase) >= 0)
                    {
                        return true;
                    }
                }

                return false;
            }

            private void Report(Action<Diagnostic> report, DiagnosticDescriptor rule, Location location, params object[] args)
            {
                // One diagnostic per rule and source line: the same violation is seen by several views.
                var span = location.GetLineSpan();
                var key = rule.Id + "|" + span.Path + "|" + span.StartLinePosition.Line.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (reported.TryAdd(key, 0))
                {
                    report(Diagnostic.Create(rule, location, args));
                }
            }

            // ---------------------------------------------------------------- syntax

            public void AnalyzeSyntax(SyntaxNodeAnalysisContext c)
            {
                var node = c.Node;
                Action<Diagnostic> r = c.ReportDiagnostic;
                switch (node)
                {
                    case TypeParameterListSyntax tpl:
                        Report(r, NanoRules.GenericDeclaration, tpl.Parent?.GetLocation() ?? tpl.GetLocation(), DeclarationName(tpl.Parent));
                        break;
                    case ArrayRankSpecifierSyntax rank when rank.Rank > 1:
                        Report(r, NanoRules.MultiDimensionalArray, rank.GetLocation(), (rank.Parent ?? rank).ToString());
                        break;
                    case StackAllocArrayCreationExpressionSyntax:
                    case ImplicitStackAllocArrayCreationExpressionSyntax:
                        Report(r, NanoRules.UnsafeCode, node.GetLocation(), "stackalloc");
                        break;
                    case UnsafeStatementSyntax:
                        Report(r, NanoRules.UnsafeCode, node.GetLocation(), "An unsafe block");
                        break;
                    case PointerTypeSyntax:
                        Report(r, NanoRules.UnsafeCode, node.GetLocation(), "The pointer type '" + node + "'");
                        break;
                    case FunctionPointerTypeSyntax:
                        Report(r, NanoRules.UnsafeCode, node.GetLocation(), "A function pointer");
                        break;
                    case FixedStatementSyntax:
                        Report(r, NanoRules.UnsafeCode, node.GetLocation(), "A fixed statement");
                        break;
                    case PrefixUnaryExpressionSyntax addr when addr.IsKind(SyntaxKind.AddressOfExpression) || addr.IsKind(SyntaxKind.PointerIndirectionExpression):
                        Report(r, NanoRules.UnsafeCode, node.GetLocation(), "Pointer operator '" + addr.OperatorToken.Text + "'");
                        break;
                    case MemberAccessExpressionSyntax ptr when ptr.IsKind(SyntaxKind.PointerMemberAccessExpression):
                        Report(r, NanoRules.UnsafeCode, node.GetLocation(), "Pointer member access '->'");
                        break;
                    case CheckedExpressionSyntax chk when chk.IsKind(SyntaxKind.CheckedExpression):
                        Report(r, NanoRules.CheckedArithmetic, node.GetLocation(), "A checked expression");
                        break;
                    case CheckedStatementSyntax chk when chk.IsKind(SyntaxKind.CheckedStatement):
                        Report(r, NanoRules.CheckedArithmetic, node.GetLocation(), "A checked block");
                        break;
                    case PredefinedTypeSyntax pre:
                        if ((pre.Keyword.IsKind(SyntaxKind.FloatKeyword) || pre.Keyword.IsKind(SyntaxKind.DoubleKeyword) || pre.Keyword.IsKind(SyntaxKind.DecimalKeyword))
                            && FloatForbidden(node.SyntaxTree))
                        {
                            Report(r, NanoRules.FloatingPoint, node.GetLocation(), "The type '" + pre.Keyword.Text + "'");
                        }

                        break;
                    case LiteralExpressionSyntax lit:
                        if ((lit.Token.Value is float || lit.Token.Value is double || lit.Token.Value is decimal) && FloatForbidden(node.SyntaxTree))
                        {
                            Report(r, NanoRules.FloatingPoint, node.GetLocation(), "The literal '" + lit.Token.Text + "'");
                        }

                        break;
                    case AwaitExpressionSyntax:
                        Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "await");
                        break;
                    case YieldStatementSyntax:
                        Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "A yield iterator");
                        break;
                    case TupleTypeSyntax:
                    case TupleExpressionSyntax:
                        Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "A tuple");
                        break;
                    case RecordDeclarationSyntax rec:
                        Report(r, NanoRules.UnsupportedFeature, rec.Identifier.GetLocation(), "The record '" + rec.Identifier.Text + "'");
                        break;
                    case WithExpressionSyntax:
                        Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "A with-expression (records)");
                        break;
                    case QueryExpressionSyntax:
                        Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "LINQ query syntax");
                        break;
                    case RangeExpressionSyntax:
                        Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "A range expression");
                        break;
                    case PrefixUnaryExpressionSyntax idx when idx.IsKind(SyntaxKind.IndexExpression):
                        Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "An index-from-end expression '^'");
                        break;
                    case NullableTypeSyntax nullable:
                        {
                            var t = c.SemanticModel.GetTypeInfo(nullable, c.CancellationToken).Type;
                            if (t != null && t.OriginalDefinition.SpecialType == SpecialType.System_Nullable_T)
                            {
                                Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "The nullable value type '" + nullable + "'");
                            }

                            break;
                        }

                    case CommonForEachStatementSyntax forEach:
                        AnalyzeForEach(c, forEach);
                        break;
                    case UsingStatementSyntax u when u.AwaitKeyword.IsKind(SyntaxKind.AwaitKeyword):
                        Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "await using");
                        break;
                    case LocalDeclarationStatementSyntax l when l.AwaitKeyword.IsKind(SyntaxKind.AwaitKeyword):
                        Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "await using");
                        break;
                    case AnonymousFunctionExpressionSyntax f when f.AsyncKeyword.IsKind(SyntaxKind.AsyncKeyword):
                        Report(r, NanoRules.UnsupportedFeature, node.GetLocation(), "An async lambda");
                        break;
                    case CollectionExpressionSyntax:
                        Report(r, NanoRules.GenericUse, node.GetLocation(), "A collection expression");
                        break;
                    case AnonymousObjectCreationExpressionSyntax:
                        Report(r, NanoRules.GenericUse, node.GetLocation(), "An anonymous type (compiled to a generic class)");
                        break;
                    case MemberDeclarationSyntax member:
                        CheckModifiers(r, member.Modifiers);
                        if (member is OperatorDeclarationSyntax op && op.CheckedKeyword.IsKind(SyntaxKind.CheckedKeyword))
                        {
                            Report(r, NanoRules.CheckedArithmetic, node.GetLocation(), "A checked operator");
                        }
                        else if (member is ConversionOperatorDeclarationSyntax conv && conv.CheckedKeyword.IsKind(SyntaxKind.CheckedKeyword))
                        {
                            Report(r, NanoRules.CheckedArithmetic, node.GetLocation(), "A checked conversion operator");
                        }

                        break;
                    case LocalFunctionStatementSyntax local:
                        CheckModifiers(r, local.Modifiers);
                        break;
                }
            }

            private void CheckModifiers(Action<Diagnostic> r, SyntaxTokenList modifiers)
            {
                foreach (var m in modifiers)
                {
                    if (m.IsKind(SyntaxKind.UnsafeKeyword))
                    {
                        Report(r, NanoRules.UnsafeCode, m.GetLocation(), "The unsafe modifier");
                    }
                    else if (m.IsKind(SyntaxKind.FixedKeyword))
                    {
                        Report(r, NanoRules.UnsafeCode, m.GetLocation(), "A fixed-size buffer");
                    }
                    else if (m.IsKind(SyntaxKind.AsyncKeyword))
                    {
                        Report(r, NanoRules.UnsupportedFeature, m.GetLocation(), "An async method");
                    }
                }
            }

            private void AnalyzeForEach(SyntaxNodeAnalysisContext c, CommonForEachStatementSyntax forEach)
            {
                if (forEach.AwaitKeyword.IsKind(SyntaxKind.AwaitKeyword))
                {
                    Report(c.ReportDiagnostic, NanoRules.UnsupportedFeature, forEach.ForEachKeyword.GetLocation(), "await foreach");
                    return;
                }

                var info = c.SemanticModel.GetForEachStatementInfo(forEach);
                var getEnumerator = info.GetEnumeratorMethod;
                if (getEnumerator is null)
                {
                    return; // arrays and strings: lowered to an index loop
                }

                if (getEnumerator.IsGenericMethod || IsGenericUse(getEnumerator.ContainingType) || IsGenericUse(getEnumerator.ReturnType))
                {
                    Report(c.ReportDiagnostic, NanoRules.UnsupportedFeature, forEach.ForEachKeyword.GetLocation(),
                        "foreach over a generic enumerator ('" + getEnumerator.ReturnType.ToDisplayString() + "')");
                }
            }

            private static string DeclarationName(SyntaxNode? node)
            {
                switch (node)
                {
                    case BaseTypeDeclarationSyntax t: return t.Identifier.Text;
                    case MethodDeclarationSyntax m: return m.Identifier.Text;
                    case DelegateDeclarationSyntax d: return d.Identifier.Text;
                    case LocalFunctionStatementSyntax l: return l.Identifier.Text;
                    default: return node?.ToString() ?? "?";
                }
            }

            // ---------------------------------------------------------------- operations

            public void AnalyzeOperation(OperationAnalysisContext c)
            {
                var op = c.Operation;
                Action<Diagnostic> r = c.ReportDiagnostic;
                var loc = op.Syntax.GetLocation();
                var ctx = c.ContainingSymbol;

                CheckType(r, op.Type, loc, ctx, "The expression type");

                switch (op)
                {
                    case IInvocationOperation inv:
                        CheckMember(r, inv.TargetMethod, loc, ctx);
                        if (inv.TargetMethod.Name == "ToString" && inv.Instance != null && IsEnum(Unwrap(inv.Instance).Type))
                        {
                            Report(r, NanoRules.EnumNames, loc, "ToString() on an enum value");
                        }

                        CheckNumberFormat(r, inv, loc);
                        if (inv.TargetMethod.ContainingType?.SpecialType == SpecialType.System_String
                            && (inv.TargetMethod.Name == "Concat" || inv.TargetMethod.Name == "Format"))
                        {
                            foreach (var arg in inv.Arguments)
                            {
                                CheckEnumFormatted(r, arg.Value, "string." + inv.TargetMethod.Name + " of an enum value");
                            }
                        }

                        break;
                    case IMemberReferenceOperation mr:
                        CheckMember(r, mr.Member, loc, ctx);
                        break;
                    case IObjectCreationOperation oc when oc.Constructor != null:
                        CheckMember(r, oc.Constructor, loc, ctx);
                        break;
                    case IAnonymousObjectCreationOperation:
                        Report(r, NanoRules.GenericUse, loc, "An anonymous type (compiled to a generic class)");
                        break;
                    case IConversionOperation conv when conv.OperatorMethod != null:
                        CheckMember(r, conv.OperatorMethod, loc, ctx);
                        break;
                    case IBinaryOperation bin:
                        if (bin.OperatorMethod != null)
                        {
                            CheckMember(r, bin.OperatorMethod, loc, ctx);
                        }
                        else if (bin.IsChecked && IsIntegral(bin.LeftOperand.Type)
                            && (bin.OperatorKind == BinaryOperatorKind.Add || bin.OperatorKind == BinaryOperatorKind.Subtract || bin.OperatorKind == BinaryOperatorKind.Multiply))
                        {
                            Report(r, NanoRules.CheckedArithmetic, loc, "Checked integer arithmetic");
                        }

                        if (bin.OperatorKind == BinaryOperatorKind.Add && bin.Type?.SpecialType == SpecialType.System_String)
                        {
                            CheckEnumFormatted(r, bin.LeftOperand, "String concatenation of an enum value");
                            CheckEnumFormatted(r, bin.RightOperand, "String concatenation of an enum value");
                        }

                        break;
                    case IUnaryOperation un:
                        if (un.OperatorMethod != null)
                        {
                            CheckMember(r, un.OperatorMethod, loc, ctx);
                        }
                        else if (un.IsChecked && un.OperatorKind == UnaryOperatorKind.Minus && IsIntegral(un.Operand.Type))
                        {
                            Report(r, NanoRules.CheckedArithmetic, loc, "Checked negation");
                        }

                        break;
                    case IIncrementOrDecrementOperation incdec:
                        if (incdec.OperatorMethod != null)
                        {
                            CheckMember(r, incdec.OperatorMethod, loc, ctx);
                        }
                        else if (incdec.IsChecked && IsIntegral(incdec.Target.Type))
                        {
                            Report(r, NanoRules.CheckedArithmetic, loc, "Checked increment/decrement");
                        }

                        break;
                    case ICompoundAssignmentOperation ca:
                        if (ca.OperatorMethod != null)
                        {
                            CheckMember(r, ca.OperatorMethod, loc, ctx);
                        }
                        else if (ca.IsChecked && IsIntegral(ca.Target.Type)
                            && (ca.OperatorKind == BinaryOperatorKind.Add || ca.OperatorKind == BinaryOperatorKind.Subtract || ca.OperatorKind == BinaryOperatorKind.Multiply))
                        {
                            Report(r, NanoRules.CheckedArithmetic, loc, "Checked compound assignment");
                        }

                        if (ca.OperatorKind == BinaryOperatorKind.Add && ca.Type?.SpecialType == SpecialType.System_String)
                        {
                            CheckEnumFormatted(r, ca.Value, "String concatenation of an enum value");
                        }

                        break;
                    case IInterpolationOperation interp:
                        CheckEnumFormatted(r, interp.Expression, "String interpolation of an enum value");
                        break;
                    case ITypeOfOperation typeOf:
                        CheckType(r, typeOf.TypeOperand, loc, ctx, "typeof");
                        break;
                    case ISizeOfOperation sizeOf:
                        CheckType(r, sizeOf.TypeOperand, loc, ctx, "sizeof");
                        break;
                    case IIsTypeOperation isType:
                        CheckType(r, isType.TypeOperand, loc, ctx, "The type test");
                        break;
                    case IDeclarationPatternOperation dp:
                        CheckType(r, dp.MatchedType, loc, ctx, "The pattern type");
                        break;
                    case ITypePatternOperation tp:
                        CheckType(r, tp.MatchedType, loc, ctx, "The pattern type");
                        break;
                    case IRecursivePatternOperation rp:
                        CheckType(r, rp.MatchedType, loc, ctx, "The pattern type");
                        if (rp.DeconstructSymbol != null)
                        {
                            CheckMember(r, rp.DeconstructSymbol, loc, ctx);
                        }

                        break;
                    case IVariableDeclaratorOperation vd:
                        CheckType(r, vd.Symbol.Type, vd.Symbol.Locations.FirstOrDefault() ?? loc, ctx, "The local");
                        break;
                    case ILocalFunctionOperation lf:
                        CheckSignature(r, lf.Symbol, lf.Symbol.Locations.FirstOrDefault() ?? loc);
                        break;
                    case ICatchClauseOperation cc:
                        CheckType(r, cc.ExceptionType, loc, ctx, "The catch type");
                        break;
                    case IArgumentOperation arg when arg.ArgumentKind == ArgumentKind.ParamArray && arrayEmptyExists && IsEmptyArrayCreation(arg.Value):
                        Report(r, NanoRules.GenericUse, loc, "An empty params argument (lowered to Array.Empty<T>())");
                        break;
                }
            }

            private static bool IsEmptyArrayCreation(IOperation value)
            {
                if (!(value is IArrayCreationOperation ac))
                {
                    return false;
                }

                if (ac.Initializer != null)
                {
                    return ac.Initializer.ElementValues.Length == 0;
                }

                return ac.DimensionSizes.Length == 1 && ac.DimensionSizes[0].ConstantValue.HasValue
                    && Equals(ac.DimensionSizes[0].ConstantValue.Value, 0);
            }

            private void CheckEnumFormatted(Action<Diagnostic> r, IOperation value, string what)
            {
                var v = Unwrap(value);
                if (IsEnum(v.Type))
                {
                    Report(r, NanoRules.EnumNames, value.Syntax.GetLocation(), what);
                    return;
                }

                if (v is IArrayCreationOperation ac && ac.Initializer != null)
                {
                    foreach (var e in ac.Initializer.ElementValues)
                    {
                        CheckEnumFormatted(r, e, what);
                    }
                }
            }

            private static IOperation Unwrap(IOperation op)
            {
                // Only compiler-inserted conversions (boxing for string.Concat/Format): an explicit
                // '(int)value' is exactly the recommended way to format an enum.
                while (op is IConversionOperation conv && conv.IsImplicit && conv.OperatorMethod is null)
                {
                    op = conv.Operand;
                }

                return op;
            }

            private static bool IsEnum(ITypeSymbol? t) => t != null && t.TypeKind == TypeKind.Enum;

            private static bool IsIntegral(ITypeSymbol? t)
            {
                if (t is null)
                {
                    return false;
                }

                if (t.TypeKind == TypeKind.Enum && t is INamedTypeSymbol e && e.EnumUnderlyingType != null)
                {
                    t = e.EnumUnderlyingType;
                }

                switch (t.SpecialType)
                {
                    case SpecialType.System_SByte:
                    case SpecialType.System_Byte:
                    case SpecialType.System_Int16:
                    case SpecialType.System_UInt16:
                    case SpecialType.System_Int32:
                    case SpecialType.System_UInt32:
                    case SpecialType.System_Int64:
                    case SpecialType.System_UInt64:
                    case SpecialType.System_Char:
                    case SpecialType.System_IntPtr:
                    case SpecialType.System_UIntPtr:
                        return true;
                    default:
                        return false;
                }
            }

            // ---------------------------------------------------------------- declared symbols

            public void AnalyzeSymbol(SymbolAnalysisContext c)
            {
                Action<Diagnostic> r = c.ReportDiagnostic;
                var s = c.Symbol;
                if (s.IsImplicitlyDeclared)
                {
                    return;
                }

                var loc = s.Locations.FirstOrDefault(l => l.IsInSource);
                if (loc is null)
                {
                    return;
                }

                switch (s)
                {
                    case INamedTypeSymbol t:
                        if (t.BaseType != null && t.TypeKind == TypeKind.Class)
                        {
                            CheckType(r, t.BaseType, loc, t, "The base type");
                        }

                        foreach (var i in t.Interfaces)
                        {
                            CheckType(r, i, loc, t, "The interface");
                        }

                        if (t.TypeKind == TypeKind.Delegate && t.DelegateInvokeMethod != null)
                        {
                            CheckSignature(r, t.DelegateInvokeMethod, loc);
                        }

                        break;
                    case IMethodSymbol m:
                        if (m.MethodKind == MethodKind.PropertyGet || m.MethodKind == MethodKind.PropertySet
                            || m.MethodKind == MethodKind.EventAdd || m.MethodKind == MethodKind.EventRemove
                            || m.MethodKind == MethodKind.DelegateInvoke)
                        {
                            return; // reported on the property/event/delegate
                        }

                        CheckSignature(r, m, loc);
                        if (m.IsAsync)
                        {
                            Report(r, NanoRules.UnsupportedFeature, loc, "An async method");
                        }

                        break;
                    case IFieldSymbol f:
                        CheckType(r, f.Type, loc, f, "The field");
                        break;
                    case IPropertySymbol p:
                        CheckType(r, p.Type, loc, p, "The property");
                        foreach (var prm in p.Parameters)
                        {
                            CheckType(r, prm.Type, loc, p, "The parameter");
                        }

                        break;
                    case IEventSymbol e:
                        CheckType(r, e.Type, loc, e, "The event");
                        break;
                }
            }

            private void CheckSignature(Action<Diagnostic> r, IMethodSymbol m, Location loc)
            {
                if (!m.ReturnsVoid)
                {
                    CheckType(r, m.ReturnType, loc, m, "The return type");
                }

                foreach (var p in m.Parameters)
                {
                    CheckType(r, p.Type, p.Locations.FirstOrDefault(l => l.IsInSource) ?? loc, m, "The parameter");
                }
            }

            /// <summary>
            /// nanoFramework's native number formatting understands only a standard format letter G/N/F/X/D (either case) with
            /// an optional precision; anything else ("00", "0.0", "E2", "#,#") comes back as the format text itself on the
            /// device while the host formats it. So ToString(format) and the format items of string.Format must be such a
            /// specifier, written as a constant the analyzer can read.
            /// </summary>
            private void CheckNumberFormat(Action<Diagnostic> r, IInvocationOperation inv, Location loc)
            {
                IMethodSymbol m = inv.TargetMethod;
                if (m.Name == "ToString" && inv.Instance != null && m.Parameters.Length >= 1 && m.Parameters[0].Type.SpecialType == SpecialType.System_String
                    && IsNumeric(inv.Instance.Type))
                {
                    IArgumentOperation? arg = inv.Arguments.FirstOrDefault(a => a.Parameter?.Ordinal == 0);
                    if (arg != null && !(arg.Value.ConstantValue.HasValue && arg.Value.ConstantValue.Value is string f && IsStandardFormat(f)))
                    {
                        Report(r, NanoRules.ForbiddenApi, loc, "A numeric format other than a constant G/N/F/X/D[precision]",
                            "the nanoFramework runtime formats only those and returns any other format text unchanged; build the digits by hand");
                    }
                }

                if (m.Name == "Format" && m.ContainingType?.SpecialType == SpecialType.System_String)
                {
                    IArgumentOperation? format = inv.Arguments.FirstOrDefault(a => a.Parameter?.Name == "format");
                    if (format != null && format.Value.ConstantValue.HasValue && format.Value.ConstantValue.Value is string text && !FormatItemsStandard(text))
                    {
                        Report(r, NanoRules.ForbiddenApi, loc, "A string.Format item with a numeric format other than G/N/F/X/D[precision]",
                            "the nanoFramework runtime formats only those and returns any other format text unchanged; build the digits by hand");
                    }
                }
            }

            private static bool IsNumeric(ITypeSymbol? t) => t != null && t.SpecialType switch
            {
                SpecialType.System_Byte or SpecialType.System_SByte or SpecialType.System_Int16 or SpecialType.System_UInt16
                    or SpecialType.System_Int32 or SpecialType.System_UInt32 or SpecialType.System_Int64 or SpecialType.System_UInt64
                    or SpecialType.System_Single or SpecialType.System_Double => true,
                _ => false,
            };

            private static bool IsStandardFormat(string f)
            {
                if (f.Length == 0)
                {
                    return true;
                }

                if ("GgNnFfXxDd".IndexOf(f[0]) < 0)
                {
                    return false;
                }

                for (int i = 1; i < f.Length; i++)
                {
                    if (f[i] < '0' || f[i] > '9')
                    {
                        return false;
                    }
                }

                return f.Length <= 3;
            }

            // "{0:X2} and {1}" → every ":spec" inside braces is a standard format (",alignment" allowed)
            private static bool FormatItemsStandard(string text)
            {
                for (int i = 0; i < text.Length; i++)
                {
                    if (text[i] == '{' && i + 1 < text.Length && text[i + 1] == '{')
                    {
                        i++;
                        continue;
                    }

                    if (text[i] != '{')
                    {
                        continue;
                    }

                    int close = text.IndexOf('}', i);
                    if (close < 0)
                    {
                        return false;
                    }

                    string item = text.Substring(i + 1, close - i - 1);
                    int colon = item.IndexOf(':');
                    if (colon >= 0 && !IsStandardFormat(item.Substring(colon + 1)))
                    {
                        return false;
                    }

                    i = close;
                }

                return true;
            }

            // ---------------------------------------------------------------- shared checks

            private void CheckMember(Action<Diagnostic> r, ISymbol member, Location loc, ISymbol? ctx)
            {
                if (member is IMethodSymbol m)
                {
                    if (m.IsGenericMethod)
                    {
                        Report(r, NanoRules.GenericUse, loc, "The generic method '" + m.ToDisplayString() + "'");
                    }

                    var ct = m.ContainingType;
                    if (ct != null && ct.SpecialType == SpecialType.System_Enum && EnumNameApis.Contains(m.Name))
                    {
                        Report(r, NanoRules.EnumNames, loc, "Enum." + m.Name);
                    }

                    if (ct != null)
                    {
                        var full = ct.ToDisplayString();
                        if (full == "System.GC" && m.Name == "Collect")
                        {
                            Report(r, NanoRules.ForbiddenApi, loc, "GC.Collect", "forcing a collection stalls the interpreter; preallocate buffers so that no collection is needed");
                        }
                        else if (full == "System.Threading.Thread" && (m.Name == "Abort" || m.Name == "Suspend" || m.Name == "Resume"))
                        {
                            Report(r, NanoRules.ForbiddenApi, loc, "Thread." + m.Name, "stopping or freezing a thread at an arbitrary point is unreliable and deadlock-prone; signal the thread with a flag and an AutoResetEvent/ManualResetEvent and let it return");
                        }
                    }
                }

                var containing = member.ContainingType;
                if (containing != null)
                {
                    if (IsGenericUse(containing) && !IsSpecialGeneric(containing))
                    {
                        Report(r, NanoRules.GenericUse, loc, "The member '" + member.ToDisplayString() + "' of a generic type");
                    }

                    CheckForbiddenType(r, containing, loc, ctx);
                }
            }

            private void CheckType(Action<Diagnostic> r, ITypeSymbol? t, Location loc, ISymbol? ctx, string what)
            {
                if (t is null)
                {
                    return;
                }

                switch (t)
                {
                    case IArrayTypeSymbol a:
                        if (a.Rank > 1)
                        {
                            Report(r, NanoRules.MultiDimensionalArray, loc, a.ToDisplayString());
                        }

                        CheckType(r, a.ElementType, loc, ctx, what);
                        return;
                    case IPointerTypeSymbol p:
                        Report(r, NanoRules.UnsafeCode, loc, what + " '" + p.ToDisplayString() + "' (pointer)");
                        CheckType(r, p.PointedAtType, loc, ctx, what);
                        return;
                    case IFunctionPointerTypeSymbol:
                        Report(r, NanoRules.UnsafeCode, loc, what + " (function pointer)");
                        return;
                    case IDynamicTypeSymbol:
                        Report(r, NanoRules.UnsupportedFeature, loc, what + " 'dynamic'");
                        return;
                    case INamedTypeSymbol n:
                        if (n.OriginalDefinition.SpecialType == SpecialType.System_Nullable_T)
                        {
                            Report(r, NanoRules.UnsupportedFeature, loc, what + " '" + n.ToDisplayString() + "' (Nullable<T>)");
                        }
                        else if (n.IsTupleType)
                        {
                            Report(r, NanoRules.UnsupportedFeature, loc, what + " '" + n.ToDisplayString() + "' (tuple)");
                        }
                        else if (IsGenericUse(n))
                        {
                            Report(r, NanoRules.GenericUse, loc, what + " '" + n.ToDisplayString() + "'");
                        }

                        if (IsFloat(n) && FloatForbidden(loc.SourceTree))
                        {
                            Report(r, NanoRules.FloatingPoint, loc, what + " '" + n.ToDisplayString() + "'");
                        }

                        CheckForbiddenType(r, n, loc, ctx);
                        foreach (var arg in n.TypeArguments)
                        {
                            if (!(arg is ITypeParameterSymbol))
                            {
                                CheckType(r, arg, loc, ctx, what);
                            }
                        }

                        return;
                }
            }

            private void CheckForbiddenType(Action<Diagnostic> r, INamedTypeSymbol t, Location loc, ISymbol? ctx)
            {
                var ns = t.ContainingNamespace?.ToDisplayString() ?? string.Empty;
                var name = t.ToDisplayString();
                if (name == "System.Console")
                {
                    Report(r, NanoRules.ForbiddenApi, loc, "System.Console", "the device has no console; log through a logger interface (E2m.Hal) instead");
                }
                else if ((ns == "System.Reflection" || ns.StartsWith("System.Reflection.", StringComparison.Ordinal) || name == "System.Activator")
                    && !IsAttribute(t))
                {
                    Report(r, NanoRules.ForbiddenApi, loc, name + " (reflection)", "reflection is optional in nanoFramework (NoReflection images) and slow on the interpreter; call code through interfaces or explicit switches");
                }
                else if (name == "System.Random" && IsCryptoContext(ctx))
                {
                    Report(r, NanoRules.ForbiddenApi, loc, "System.Random in crypto/OSCORE code", "it is a predictable generator; keys and nonces are derived (AKA, HKDF) and any randomness comes from E2m.Hal.IEntropySource");
                }
            }

            private static bool IsCryptoContext(ISymbol? ctx)
            {
                var ns = ctx is INamespaceSymbol nsSym ? nsSym : ctx?.ContainingNamespace;
                var text = ns?.ToDisplayString() ?? string.Empty;
                return text.IndexOf("Crypto", StringComparison.OrdinalIgnoreCase) >= 0
                    || text.IndexOf("Oscore", StringComparison.OrdinalIgnoreCase) >= 0;
            }

            private static bool IsAttribute(INamedTypeSymbol t)
            {
                for (var b = t.BaseType; b != null; b = b.BaseType)
                {
                    if (b.ToDisplayString() == "System.Attribute")
                    {
                        return true;
                    }
                }

                return false;
            }

            private static bool IsFloat(ITypeSymbol t) =>
                t.SpecialType == SpecialType.System_Single || t.SpecialType == SpecialType.System_Double || t.SpecialType == SpecialType.System_Decimal;

            private static bool IsSpecialGeneric(INamedTypeSymbol t) =>
                t.OriginalDefinition.SpecialType == SpecialType.System_Nullable_T || t.IsTupleType;

            internal static bool IsGenericUse(ITypeSymbol? t)
            {
                switch (t)
                {
                    case INamedTypeSymbol n:
                        return n.IsGenericType || n.IsTupleType || (n.ContainingType != null && IsGenericUse(n.ContainingType));
                    case IArrayTypeSymbol a:
                        return IsGenericUse(a.ElementType);
                    case IPointerTypeSymbol p:
                        return IsGenericUse(p.PointedAtType);
                    default:
                        return false;
                }
            }
        }
    }
}

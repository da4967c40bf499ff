using System;
using System.Collections.Generic;
using System.Text.RegularExpressions;

namespace E2m.Cli.Config
{
    /// <summary>
    /// One node of the device-config.json description. The same tree drives three things, so they cannot
    /// drift apart: the validator (<see cref="DeviceConfigValidator"/>), the JSON schema file
    /// (<see cref="SchemaWriter"/> writes device-config.schema.json; a test checks the checked-in file is
    /// exactly what the tree produces, and JsonSchema.Net agrees with the validator on the samples and rejects every
    /// broken case the schema can express — it shares .NET's regex engine, so the validator also refuses control
    /// characters, which .NET's `$` would let through before a final newline) and the C# generator (reads validated
    /// values by path). Cross-field rules live in the validator and are listed in the schema's `x-e2m-rules`.
    /// </summary>
    internal abstract class SpecNode
    {
        protected SpecNode(string description)
        {
            Description = description;
        }

        public string Description { get; }
    }

    internal sealed class ObjectSpec : SpecNode
    {
        public ObjectSpec(string description, params FieldSpec[] fields)
            : base(description)
        {
            Fields = fields;
        }

        public IReadOnlyList<FieldSpec> Fields { get; }
    }

    internal sealed class FieldSpec
    {
        public FieldSpec(string name, bool required, SpecNode node, object? example = null)
        {
            Name = name;
            Required = required;
            Node = node;
            Example = example;
        }

        public string Name { get; }

        public bool Required { get; }

        public SpecNode Node { get; }

        /// <summary>Default used by the generator when an optional field is absent (also written as "default" in the schema).</summary>
        public object? Example { get; }
    }

    internal sealed class IntegerSpec : SpecNode
    {
        public IntegerSpec(string description, long minimum, long maximum)
            : base(description)
        {
            Minimum = minimum;
            Maximum = maximum;
        }

        public long Minimum { get; }

        public long Maximum { get; }
    }

    internal sealed class BooleanSpec : SpecNode
    {
        public BooleanSpec(string description)
            : base(description)
        {
        }
    }

    internal sealed class StringSpec : SpecNode
    {
        private readonly Regex? _regex;

        /// <param name="expected">what a valid value is, in the words of the error line ("a non-empty FQDN").</param>
        /// <param name="pattern">ECMA-262 regex (the schema's "pattern"); applied by the validator too.</param>
        /// <param name="extra">checks a regex cannot express; returns the "expected ..." text of the problem or null.</param>
        public StringSpec(string description, string expected, int minLength, int maxLength, string? pattern, Func<string, string?>? extra = null)
            : base(description)
        {
            Expected = expected;
            MinLength = minLength;
            MaxLength = maxLength;
            Pattern = pattern;
            Extra = extra;
            _regex = pattern == null ? null : new Regex(pattern, RegexOptions.ECMAScript);
        }

        public string Expected { get; }

        public int MinLength { get; }

        public int MaxLength { get; }

        public string? Pattern { get; }

        public Func<string, string?>? Extra { get; }

        /// <summary>
        /// No control character anywhere (a config string ends up in AT commands, C# literals and the KDF), then the pattern.
        /// Needed beyond the pattern: .NET's `$` also matches before a final "\n" even in ECMAScript mode, where ECMA-262 and
        /// the schema's consumers do not — "emse.example\n" must not pass here while failing there.
        /// </summary>
        public bool Matches(string value)
        {
            foreach (char c in value)
            {
                if (c < 0x20 || c == 0x7F)
                {
                    return false;
                }
            }

            return _regex == null || _regex.IsMatch(value);
        }
    }

    internal sealed class EnumSpec : SpecNode
    {
        /// <param name="values">the allowed strings, in the order of their generated int constants (1, 2, ...).</param>
        public EnumSpec(string description, params string[] values)
            : base(description)
        {
            Values = values;
        }

        public IReadOnlyList<string> Values { get; }
    }

    internal sealed class ArraySpec : SpecNode
    {
        public ArraySpec(string description, SpecNode items, int minItems, int maxItems, bool uniqueItems)
            : base(description)
        {
            Items = items;
            MinItems = minItems;
            MaxItems = maxItems;
            UniqueItems = uniqueItems;
        }

        public SpecNode Items { get; }

        public int MinItems { get; }

        public int MaxItems { get; }

        public bool UniqueItems { get; }
    }
}

using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace E2m.Cli.Config
{
    /// <summary>
    /// Writes device-config.schema.json (JSON Schema draft 2020-12) from <see cref="DeviceConfigSpec"/>.
    /// The checked-in file at the repository root is this output (`e2m config schema > device-config.schema.json`);
    /// a test fails when they differ, so the schema and the validator are one description.
    /// </summary>
    internal static class SchemaWriter
    {
        public static string Write()
        {
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                w.WriteStartObject();
                w.WriteString("$schema", "https://json-schema.org/draft/2020-12/schema");
                w.WriteString("$id", DeviceConfigSpec.SchemaId);
                w.WriteString("title", "e2m device-config.json");
                w.WriteString("$comment", "Generated from tools/E2m.Cli/Config/DeviceConfigSpec.cs by `e2m config schema`; do not edit by hand. "
                    + "`e2m config check FILE` applies this schema and the rules listed in x-e2m-rules.");
                w.WriteStartArray("x-e2m-rules");
                foreach (string rule in DeviceConfigSpec.CrossFieldRules)
                {
                    w.WriteStringValue(rule);
                }

                w.WriteEndArray();
                WriteNode(w, DeviceConfigSpec.Root, withDescription: true);
                w.WriteEndObject();
            }

            return Encoding.UTF8.GetString(stream.ToArray()).Replace("\r\n", "\n", StringComparison.Ordinal) + "\n";
        }

        private static void WriteNode(Utf8JsonWriter w, SpecNode node, bool withDescription)
        {
            if (withDescription)
            {
                w.WriteString("description", node.Description);
            }

            switch (node)
            {
                case ObjectSpec o:
                    w.WriteString("type", "object");
                    w.WriteStartObject("properties");
                    foreach (FieldSpec f in o.Fields)
                    {
                        w.WriteStartObject(f.Name);
                        WriteNode(w, f.Node, withDescription: true);
                        if (!f.Required && f.Example != null && IsValidDefault(f.Node, f.Example))
                        {
                            WriteValue(w, "default", f.Example);
                        }
                        else if (f.Required && f.Example != null)
                        {
                            w.WriteStartArray("examples");
                            WriteValue(w, null, f.Example);
                            w.WriteEndArray();
                        }

                        w.WriteEndObject();
                    }

                    w.WriteEndObject();
                    w.WriteStartArray("required");
                    foreach (FieldSpec f in o.Fields.Where(f => f.Required))
                    {
                        w.WriteStringValue(f.Name);
                    }

                    w.WriteEndArray();
                    w.WriteBoolean("additionalProperties", false);
                    break;
                case ArraySpec a:
                    w.WriteString("type", "array");
                    w.WriteStartObject("items");
                    WriteNode(w, a.Items, withDescription: true);
                    w.WriteEndObject();
                    w.WriteNumber("minItems", a.MinItems);
                    w.WriteNumber("maxItems", a.MaxItems);
                    if (a.UniqueItems)
                    {
                        w.WriteBoolean("uniqueItems", true);
                    }

                    break;
                case IntegerSpec i:
                    w.WriteString("type", "integer");
                    w.WriteNumber("minimum", i.Minimum);
                    w.WriteNumber("maximum", i.Maximum);
                    break;
                case BooleanSpec:
                    w.WriteString("type", "boolean");
                    break;
                case EnumSpec en:
                    w.WriteString("type", "string");
                    w.WriteStartArray("enum");
                    foreach (string v in en.Values)
                    {
                        w.WriteStringValue(v);
                    }

                    w.WriteEndArray();
                    break;
                case StringSpec s:
                    w.WriteString("type", "string");
                    w.WriteNumber("minLength", s.MinLength);
                    w.WriteNumber("maxLength", s.MaxLength);
                    if (s.Pattern != null)
                    {
                        w.WriteString("pattern", s.Pattern);
                    }

                    break;
                default:
                    throw new InvalidOperationException(node.GetType().Name);
            }
        }

        private static bool IsValidDefault(SpecNode node, object value) => node switch
        {
            IntegerSpec i => value is int n && n >= i.Minimum && n <= i.Maximum,
            BooleanSpec => value is bool,
            StringSpec s => value is string str && str.Length >= s.MinLength && s.Matches(str),
            EnumSpec en => value is string str && en.Values.Contains(str),
            _ => false,
        };

        private static void WriteValue(Utf8JsonWriter w, string? name, object value)
        {
            if (name != null)
            {
                w.WritePropertyName(name);
            }

            switch (value)
            {
                case int n:
                    w.WriteNumberValue(n);
                    break;
                case bool b:
                    w.WriteBooleanValue(b);
                    break;
                case string s:
                    w.WriteStringValue(s);
                    break;
                default:
                    throw new InvalidOperationException(value.GetType().Name);
            }
        }
    }
}

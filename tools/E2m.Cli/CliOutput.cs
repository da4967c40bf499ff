using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Text.Json;

namespace E2m.Cli
{
    /// <summary>
    /// Collects named results and prints them as `name: value` lines (hex lowercase) or, with --json,
    /// as one JSON object with the same names in the same order.
    /// </summary>
    public sealed class CliOutput
    {
        private readonly List<KeyValuePair<string, object>> _fields = new();

        public CliOutput Hex(string name, byte[] value) => Add(name, System.Convert.ToHexStringLower(value));

        public CliOutput Text(string name, string value) => Add(name, value);

        public CliOutput Number(string name, ulong value) => Add(name, value);

        private CliOutput Add(string name, object value)
        {
            _fields.Add(new KeyValuePair<string, object>(name, value));
            return this;
        }

        public int WriteTo(ParseResult parsed)
        {
            TextWriter output = parsed.InvocationConfiguration.Output;
            if (parsed.GetValue(CliApp.Json))
            {
                using var stream = new MemoryStream();
                using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false }))
                {
                    json.WriteStartObject();
                    foreach (var f in _fields)
                    {
                        if (f.Value is ulong n)
                        {
                            json.WriteNumber(f.Key, n);
                        }
                        else
                        {
                            json.WriteString(f.Key, (string)f.Value);
                        }
                    }

                    json.WriteEndObject();
                }

                output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
            }
            else
            {
                foreach (var f in _fields)
                {
                    output.WriteLine(f.Key + ": " + f.Value);
                }
            }

            return CliApp.ExitOk;
        }
    }
}

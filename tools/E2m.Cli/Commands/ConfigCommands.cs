using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using E2m.Cli.Config;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m config check FILE` (exit 0 and `config: ok`, or exit 2 and one line per problem on stderr:
    /// `JSONPATH: expected ..., found ...`), `e2m config gen FILE --out DIR` (writes DIR/DeviceConfig.g.cs for the
    /// firmware) and `e2m config schema [--out FILE]` (prints device-config.schema.json). DESIGN.md §7.
    /// </summary>
    public static class ConfigCommands
    {
        private static readonly Argument<string> File = new("FILE") { Description = "device-config.json to read" };
        private static readonly Option<string> Out = new("--out") { Description = "output directory for DeviceConfig.g.cs", Required = true };
        private static readonly Option<string> SchemaOut = new("--out") { Description = "write the schema to this file instead of stdout" };

        public static Command Build()
        {
            var config = new Command("config", "device-config.json: validate, generate the firmware's C# constants, print the schema");

            var check = new Command("check", "Validate FILE; exit 0 and 'config: ok', or exit 2 with one 'path: expected ..., found ...' line per problem");
            check.Arguments.Add(File);
            check.SetAction(RunCheck);
            config.Subcommands.Add(check);

            var gen = new Command("gen", "Validate FILE and write DIR/" + DeviceConfigGenerator.FileName + " (static class " + DeviceConfigGenerator.Namespace + "." + DeviceConfigGenerator.ClassName + ")");
            gen.Arguments.Add(File);
            gen.Options.Add(Out);
            gen.SetAction(RunGen);
            config.Subcommands.Add(gen);

            var schema = new Command("schema", "Print the JSON schema (draft 2020-12) of device-config.json");
            schema.Options.Add(SchemaOut);
            schema.SetAction(RunSchema);
            config.Subcommands.Add(schema);
            return config;
        }

        private static string Read(ParseResult parsed)
        {
            string path = parsed.GetValue(File)!;
            try
            {
                return System.IO.File.ReadAllText(path);
            }
            catch (IOException e)
            {
                throw new UsageException("cannot read " + path + ": " + e.Message);
            }
            catch (System.UnauthorizedAccessException e)
            {
                throw new UsageException("cannot read " + path + ": " + e.Message);
            }
        }

        /// <summary>Prints every problem on stderr; true when there was none.</summary>
        private static bool Check(ParseResult parsed, string json)
        {
            IReadOnlyList<ConfigProblem> problems = DeviceConfigValidator.Validate(json);
            foreach (ConfigProblem p in problems)
            {
                parsed.InvocationConfiguration.Error.WriteLine(p.ToString());
            }

            return problems.Count == 0;
        }

        private static int RunCheck(ParseResult parsed)
        {
            string json = Read(parsed);
            if (!Check(parsed, json))
            {
                return CliApp.ExitUsage;
            }

            return new CliOutput().Text("config", "ok").WriteTo(parsed);
        }

        private static int RunGen(ParseResult parsed)
        {
            string json = Read(parsed);
            if (!Check(parsed, json))
            {
                return CliApp.ExitUsage;
            }

            string dir = parsed.GetValue(Out)!;
            string source = DeviceConfigGenerator.Generate(json, Path.GetFileName(parsed.GetValue(File)!));
            string target = Path.Combine(dir, DeviceConfigGenerator.FileName);
            try
            {
                Directory.CreateDirectory(dir);
                System.IO.File.WriteAllText(target, source);
            }
            catch (IOException e)
            {
                throw new UsageException("cannot write " + target + ": " + e.Message);
            }

            return new CliOutput().Text("generated", target).WriteTo(parsed);
        }

        private static int RunSchema(ParseResult parsed)
        {
            string schema = SchemaWriter.Write();
            string? target = parsed.GetValue(SchemaOut);
            if (target == null)
            {
                parsed.InvocationConfiguration.Output.Write(schema);
                return CliApp.ExitOk;
            }

            System.IO.File.WriteAllText(target, schema);
            return new CliOutput().Text("generated", target).WriteTo(parsed);
        }
    }
}

using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using E2m.Demo;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m il-size [--dir DIR]` (issue 8 point 4): IL bytes (sum of the methods' IL code; "bodies" adds method headers
    /// and exception clauses; read with System.Reflection.Metadata) and file size of the device assemblies E2m.Crypto, E2m.Coap, E2m.Oscore, E2m.Modem,
    /// E2m.Hal, E2m.Firmware. Default: the assemblies beside e2m itself (its own build of the portable projects; use
    /// `dotnet run -c Release` for optimised IL). Exit 2 when one is missing.
    /// </summary>
    public static class IlSizeCommand
    {
        private static readonly Option<string> Dir = new("--dir") { Description = "Directory holding the built device assemblies (default: beside e2m)" };

        public static Command Build()
        {
            var cmd = new Command("il-size", "IL bytes and file size of the device assemblies (Crypto, Coap, Oscore, Modem, Hal, Firmware)");
            cmd.Options.Add(Dir);
            cmd.SetAction(Run);
            return cmd;
        }

        private static int Run(ParseResult parsed)
        {
            TextWriter o = parsed.InvocationConfiguration.Output;
            System.Collections.Generic.List<AssemblySize> sizes;
            try
            {
                sizes = IlSize.MeasureDeviceAssemblies(parsed.GetValue(Dir));
            }
            catch (FileNotFoundException e)
            {
                throw new UsageException(e.Message);
            }

            o.WriteLine($"{"assembly",-14} {"config",-8} {"IL bytes",9} {"bodies",9} {"methods",7} {"types",5} {"file bytes",10}");
            foreach (AssemblySize s in sizes)
            {
                o.WriteLine($"{s.Name,-14} {s.Configuration,-8} {s.IlBytes,9} {s.BodyBytes,9} {s.Methods,7} {s.Types,5} {s.FileBytes,10}");
            }

            o.WriteLine($"{"total",-14} {"",-8} {sizes.Sum(s => s.IlBytes),9} {sizes.Sum(s => s.BodyBytes),9} {sizes.Sum(s => s.Methods),7} {sizes.Sum(s => s.Types),5} {sizes.Sum(s => s.FileBytes),10}");
            o.WriteLine($"il-size: il-bytes={sizes.Sum(s => s.IlBytes)} body-bytes={sizes.Sum(s => s.BodyBytes)} file-bytes={sizes.Sum(s => s.FileBytes)} dir={Path.GetDirectoryName(sizes[0].Path)}");
            return CliApp.ExitOk;
        }
    }
}

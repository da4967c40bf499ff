using System;
using System.Collections.Generic;
using System.IO;

namespace E2m.Cli.Tests
{
    internal sealed record CliRun(int ExitCode, string StdOut, string StdErr)
    {
        /// <summary>Parses `name: value` lines into a dictionary (fails on any other line shape).</summary>
        public Dictionary<string, string> Fields()
        {
            var d = new Dictionary<string, string>();
            foreach (string line in StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                int colon = line.IndexOf(": ", StringComparison.Ordinal);
                if (colon <= 0)
                {
                    throw new FormatException("not a 'name: value' line: " + line);
                }

                d.Add(line.Substring(0, colon), line.Substring(colon + 2).TrimEnd('\r'));
            }

            return d;
        }
    }

    internal static class Cli
    {
        public static CliRun Run(params string[] args)
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int rc = CliApp.Run(args, stdout, stderr);
            return new CliRun(rc, stdout.ToString(), stderr.ToString());
        }
    }
}

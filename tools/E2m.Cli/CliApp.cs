using System;
using System.CommandLine;
using System.IO;
using E2m.Cli.Commands;

namespace E2m.Cli
{
    /// <summary>
    /// Builds and runs the `e2m` command tree. Exit codes (a contract other tools parse):
    /// 0 success; 1 a verification failed (e.g. MAC-S of an AUTS, OSCORE unprotect rejected);
    /// 2 usage error (unknown option, missing option, bad hex, wrong length), also a database or KEK given by the options that
    /// cannot be used (unreachable database, a KEK that does not open the data): one line on stderr, never a crash.
    /// </summary>
    public static class CliApp
    {
        public const int ExitOk = 0;
        public const int ExitVerificationFailed = 1;
        public const int ExitUsage = 2;

        /// <summary>`--json`: print the same fields as one JSON object instead of `name: hex` lines.</summary>
        public static readonly Option<bool> Json = new("--json")
        {
            Description = "Print the result as a JSON object with the same field names",
            Recursive = true,
        };

        public static RootCommand BuildRoot()
        {
            var root = new RootCommand("e2m: end-to-middle security for cellular IoT (AKA, e2m key chain, OSCORE)");
            root.Options.Add(Json);
            root.Subcommands.Add(AkaCommands.Build());
            root.Subcommands.Add(KdfCommand.Build());
            root.Subcommands.Add(OscoreCommands.Build());
            root.Subcommands.Add(ConfigCommands.Build());
            root.Subcommands.Add(SubscriberCommands.Build());
            root.Subcommands.Add(PkiCommands.Build());
            root.Subcommands.Add(StackCommand.Build());
            root.Subcommands.Add(DemoCommands.Build());
            root.Subcommands.Add(DeviceCommands.Build());
            root.Subcommands.Add(SimCommands.Build());
            root.Subcommands.Add(IlSizeCommand.Build());
            return root;
        }

        public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
        {
            RootCommand root = BuildRoot();
            ParseResult parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                stderr.WriteLine("e2m: error: " + parsed.Errors[0].Message);
                return ExitUsage;
            }

            try
            {
                return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
            }
            catch (UsageException e)
            {
                stderr.WriteLine("e2m: error: " + e.Message);
                return ExitUsage;
            }
            catch (VerificationFailedException e)
            {
                stderr.WriteLine("e2m: " + e.Message);
                return ExitVerificationFailed;
            }
            catch (Exception e) when (e is ArgumentException || e is IOException || e is UnauthorizedAccessException
                || e is System.Data.Common.DbException || e is System.Security.Cryptography.CryptographicException)
            {
                // What the options named could not be used: an input the library refused by size or length, a path that
                // cannot be written or read (--pcap, --keylog, --at-log, --data-dir), a database that cannot be opened
                // (--db), a KEK that opens nothing. Exit 2 with one line, never a crash.
                string what = e is System.Data.Common.DbException ? "database: " : string.Empty;
                stderr.WriteLine("e2m: error: " + what + e.Message.ReplaceLineEndings(" "));
                return ExitUsage;
            }
        }
    }

    /// <summary>Bad command-line input (bad hex, wrong length, conflicting options): exit 2.</summary>
    public sealed class UsageException : Exception
    {
        public UsageException(string message)
            : base(message)
        {
        }
    }

    /// <summary>The input was well-formed but did not verify (MAC-S, OSCORE tag, ...): exit 1.</summary>
    public sealed class VerificationFailedException : Exception
    {
        public VerificationFailedException(string message)
            : base(message)
        {
        }
    }
}

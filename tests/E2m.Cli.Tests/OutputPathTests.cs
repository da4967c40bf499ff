using System.IO;
using Xunit;

namespace E2m.Cli.Tests
{
    /// <summary>A path in the options that cannot be written (--pcap, --keylog, --at-log): exit 2 with one line, never an
    /// unhandled exception (review finding, session 11).</summary>
    public class OutputPathTests
    {
        [Theory]
        [InlineData("--pcap")]
        [InlineData("--keylog")]
        [InlineData("--at-log")]
        public void AnUnwritableOutputPathIsAUsageError(string option)
        {
            string missing = Path.Combine(Path.GetTempPath(), "e2m-no-such-dir-" + System.Guid.NewGuid().ToString("N"), "out");
            CliRun run = Cli.Run("demo", "--devices", "1", "--cycles", "1", option, missing);
            Assert.True(run.ExitCode == 2, option + ": exit " + run.ExitCode + " " + run.StdErr);
            Assert.Single(run.StdErr.Trim().Split('\n'));
            Assert.StartsWith("e2m: error:", run.StdErr);
        }
    }
}

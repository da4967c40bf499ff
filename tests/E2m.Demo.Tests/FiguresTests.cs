using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using E2m.Cli;
using E2m.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace E2m.Demo.Tests
{
    /// <summary>
    /// Issue 8 point 4, bytes over the air: the demo's `bytes:` summary line (counted by its per-device traces) must agree
    /// with the capture it wrote, counted independently by tshark (udp.length − 8 = UDP payload; ip.len = the datagram
    /// with its IPv4 + UDP headers). The line sits just before the unchanged last line `readings: ...`.
    /// </summary>
    public sealed class FiguresTests
    {
        private static readonly Regex BytesLine = new(@"^bytes: (?<kv>.*)$");
        private readonly ITestOutputHelper _out;

        public FiguresTests(ITestOutputHelper output) => _out = output;

        public static IEnumerable<object[]> Modes() => new[]
        {
            new object[] { "network", 2 },
            new object[] { "home", 1 },
        };

        /// <summary>`e2m demo --bench`: EMSE vs bare UDP echo rates measured in the same process, repeated in the summary before `bytes:`.</summary>
        [Fact]
        public void BenchPrintsBothRatesInTheSameRun()
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int exit = CliApp.Run(new[] { "demo", "--progress", "0", "--devices", "1", "--cycles", "1", "--bench", "--bench-devices", "2", "--bench-messages", "20" }, stdout, stderr);
            string[] lines = stdout.ToString().TrimEnd('\r', '\n').Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
            string why = stdout + "\n" + stderr;
            Assert.True(exit == 0, "exit " + exit + "\n" + why);
            Regex bench = new(@"^bench: udp-echo=(\d+) msg/s emse=(\d+) msg/s ratio=[0-9.]+% clients=2 messages=20 retransmissions=\d+/\d+ stored=40/40 load=\S+$");
            Assert.Equal(2, lines.Count(l => bench.IsMatch(l))); // printed when measured and repeated in the summary
            Assert.Matches(bench, lines[^3]);
            Assert.StartsWith("bytes: ", lines[^2], StringComparison.Ordinal);
            Assert.StartsWith("readings: ", lines[^1], StringComparison.Ordinal);
            Match m = bench.Match(lines[^3]);
            Assert.True(long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) > 0 && long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) > 0, why);
        }

        [SkippableTheory]
        [MemberData(nameof(Modes))]
        public void BytesLineMatchesTheCaptureCountedByTshark(string mode, int devices)
        {
            string tshark = ExternalTool.Require("tshark", "tshark");
            string dir = Directory.CreateTempSubdirectory("e2m-figures-").FullName;
            try
            {
                string pcap = Path.Combine(dir, "demo.pcap");
                var stdout = new StringWriter();
                var stderr = new StringWriter();
                int exit = CliApp.Run(new[] { "demo", "--progress", "0", "--mode", mode, "--devices", devices.ToString(CultureInfo.InvariantCulture), "--cycles", "2", "--pcap", pcap }, stdout, stderr);
                string text = stdout.ToString();
                string why = text + "\n" + stderr;
                Assert.True(exit == 0, "exit " + exit + "\n" + why);
                string[] lines = text.TrimEnd('\r', '\n').Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
                Assert.StartsWith("readings: ", lines[^1], StringComparison.Ordinal);
                Match m = BytesLine.Match(lines[^2]);
                Assert.True(m.Success, "the line before `readings:` is not `bytes: ...`\n" + why);
                Dictionary<string, string> kv = m.Groups["kv"].Value.Split(' ').Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
                _out.WriteLine(mode + ": " + lines[^2]);
                long L(string k) => long.Parse(kv[k], CultureInfo.InvariantCulture);
                double D(string k) => double.Parse(kv[k], CultureInfo.InvariantCulture);

                Match emks = Regex.Match(text, @"emks-coap coap://127\.0\.0\.1:(\d+)");
                Assert.True(emks.Success, why);
                int bootstrapPort = int.Parse(emks.Groups[1].Value, CultureInfo.InvariantCulture);

                // the oracle: tshark reads the pcap (LINKTYPE_RAW IPv4) field by field
                ToolResult r = ExternalTool.Run(tshark, new[] { "-n", "-r", pcap, "-T", "fields", "-E", "separator=,", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.length", "-e", "ip.len" }, 120_000);
                Assert.True(r.ExitCode == 0, "tshark failed: " + r.StdErr);
                long readingOctets = 0, readingDatagrams = 0, readingIp = 0, bsUp = 0, bsDown = 0, bsDatagrams = 0, bsIp = 0;
                foreach (string row in r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    long[] f = row.Trim().Split(',').Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();
                    long payload = f[2] - 8; // RFC 768: UDP length includes its 8-octet header
                    Assert.Equal(f[2] + 20, f[3]); // RFC 791: 20-octet IPv4 header (no options) → 28 octets per datagram
                    if (f[1] == bootstrapPort)
                    {
                        bsUp += payload;
                        bsDatagrams++;
                        bsIp += f[3];
                    }
                    else if (f[0] == bootstrapPort)
                    {
                        bsDown += payload;
                        bsDatagrams++;
                        bsIp += f[3];
                    }
                    else
                    {
                        readingOctets += payload;
                        readingDatagrams++;
                        readingIp += f[3];
                    }
                }

                Assert.Equal(readingOctets, L("reading-octets"));
                Assert.Equal(readingDatagrams, L("reading-datagrams"));
                Assert.Equal(bsUp, L("bootstrap-octets-up"));
                Assert.Equal(bsDown, L("bootstrap-octets-down"));
                Assert.Equal(bsDatagrams, L("bootstrap-datagrams"));
                long readings = L("readings");
                long keys = L("key-establishments");
                Assert.True(readings > 0 && keys > 0, why);
                // the line prints one decimal ("0.#", rounded half away from zero): within 0.05 of the exact ratio
                Assert.Equal(readingOctets / (double)readings, D("per-reading"), 0.0501);
                Assert.Equal(readingIp / (double)readings, D("per-reading-ip"), 0.0501);
                Assert.Equal((bsUp + bsDown) / (double)keys, D("per-key-establishment"), 0.0501);
                Assert.Equal(bsIp / (double)keys, D("per-key-establishment-ip"), 0.0501);
                if (mode == "network")
                {
                    Assert.Equal(0, bsDatagrams); // no e2m octets for the key: the serving network's AKA
                }
                else
                {
                    Assert.True(bsDatagrams >= 2 * keys, "one bootstrap round trip per key at least\n" + why);
                }
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }
    }
}

using System;
using System.IO;
using System.Linq;
using E2m.Hal.Host;
using E2m.Hal.Host.Traces;
using E2m.ModemSim.Usim;
using E2m.TestSupport;
using Xunit;
using Xunit.Abstractions;
using static E2m.ModemSim.Tests.Usim.CardHelper;

namespace E2m.ModemSim.Tests.Usim
{
    public class GsmtapTraceTests
    {
        private readonly ITestOutputHelper _out;

        public GsmtapTraceTests(ITestOutputHelper output) => _out = output;

        [Fact]
        public void Header_is_gsmtap_v2_sim()
        {
            byte[] p = GsmtapSimTrace.BuildPayload(Hex.Decode("00A4000C026F07"), Hex.Decode("9000"));
            Assert.Equal("02040400" + "00000000" + "00000000" + "00000000" + "00a4000c026f07" + "9000", Hex.Encode(p));
            // APDU-form case 4 (trailing Le) is written as the T=0 TPDU, without Le.
            p = GsmtapSimTrace.BuildPayload(Hex.Decode("00A40404021002" + "00"), Hex.Decode("6120"));
            Assert.Equal("00a40404021002" + "6120", Hex.Encode(p, 16, p.Length - 16));
        }

        [SkippableFact]
        public void Apdu_trace_dissects_as_gsmtap_sim_in_tshark()
        {
            string tshark = ExternalTool.Require("tshark", "tshark");
            string path = Path.Combine(Path.GetTempPath(), $"e2m-usim-{Guid.NewGuid():N}.pcap");
            try
            {
                var clock = new FakeClock();
                using (PcapWriter pcap = PcapWriter.Create(path))
                {
                    var card = new SimulatedUsim(Set1Profile(t0: true))
                    {
                        Trace = new GsmtapSimTrace(pcap, clock, new DateTimeOffset(2026, 11, 28, 0, 0, 0, TimeSpan.Zero)),
                    };
                    SelectUsim(card);                                            // A4 → 61xx, C0
                    clock.Advance(10);
                    Authenticate(card, Hex.Decode("23553CBE9637A89D218AE64DAE47BF35"), Hex.Decode("55F328B43577B9B94A9FFAC354DFAFB3"));
                    clock.Advance(10);
                    Tx(card, "00A4000C026F07");
                    Tx(card, "00B0000009");
                }

                // tshark 4.0's gsmtap dissector hands a type-SIM frame straight to gsm_sim without adding its own tree,
                // so `-Y gsmtap` and gsmtap.* fields match nothing; the protocol stack still shows gsmtap:gsm_sim.
                ToolResult r = ExternalTool.Run(tshark, new[] { "-r", path, "-Y", "frame.protocols contains \"udp:gsmtap:gsm_sim\"",
                    "-T", "fields", "-E", "separator=;", "-e", "udp.dstport", "-e", "gsm_sim.apdu.ins", "-e", "gsm_sim.apdu.sw",
                    "-e", "gsm_sim.file_id", "-e", "gsm_sim.aid" });
                _out.WriteLine(r.StdOut + r.StdErr);
                Assert.Equal(0, r.ExitCode);
                string[] lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal(6, lines.Length);                                   // every Transmit is one packet
                Assert.All(lines, l => Assert.StartsWith("4729;", l, StringComparison.Ordinal));
                string[] ins = lines.Select(l => l.Split(';')[1]).ToArray();
                Assert.Equal(new[] { "0xa4", "0xc0", "0x88", "0xc0", "0xa4", "0xb0" }, ins);
                string[] sw = lines.Select(l => l.Split(';')[2]).ToArray();
                Assert.Equal("0x611b", sw[0]);                                  // FCP of the ADF withheld (T=0)
                Assert.EndsWith(";a0000000871002", lines[0], StringComparison.Ordinal);
                Assert.Equal("0x6135", sw[2]);
                Assert.Equal("0x9000", sw[3]);
                Assert.Contains("0x6f07", lines[4], StringComparison.OrdinalIgnoreCase);
            }
            finally
            {
                File.Delete(path);
            }
        }
    }
}

using System;
using System.IO;
using System.Linq;
using E2m.Hal.Host;
using E2m.Hal.Host.Traces;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Network;
using E2m.ModemSim.Usim;
using E2m.TestSupport;
using Xunit;
using Xunit.Abstractions;
using static E2m.ModemSim.Tests.Usim.CardHelper;

namespace E2m.ModemSim.Tests.Network
{
    /// <summary>The ME's APDUs of an attach, as tshark sees them in the GSMTAP SIM trace.</summary>
    public class AttachTraceTests
    {
        private readonly ITestOutputHelper _out;

        public AttachTraceTests(ITestOutputHelper output) => _out = output;

        [SkippableTheory]
        [InlineData(SimRat.Umts, "0xa4,0xa4,0xb0,0x88,0xc0,0xa4,0xd6")]
        [InlineData(SimRat.LteM, "0xa4,0xa4,0xb0,0x88,0xc0")]
        public void Attach_apdus_dissect_and_only_ps_rats_update_ef_keysps(SimRat rat, string expectedIns)
        {
            string tshark = ExternalTool.Require("tshark", "tshark");
            string path = Path.Combine(Path.GetTempPath(), $"e2m-attach-{Guid.NewGuid():N}.pcap");
            try
            {
                UsimProfile p = RandomProfile(new Random(61), t0: true);
                p.Imsi = "001010000000061";
                var auc = new LocalAuc(61);
                auc.AddSubscriber(new AucSubscriber { Imsi = p.Imsi, K = p.K, Opc = p.Opc });
                using (PcapWriter pcap = PcapWriter.Create(path))
                {
                    var card = new SimulatedUsim(p) { Trace = new GsmtapSimTrace(pcap, new FakeClock(), DateTimeOffset.UnixEpoch) };
                    Assert.True(new ServingNode(auc).Attach(new SimulatedUe(card), rat).IsRegistered);
                }

                ToolResult r = ExternalTool.Run(tshark, new[] { "-r", path, "-Y", "gsm_sim", "-T", "fields", "-E", "separator=;",
                    "-e", "gsm_sim.apdu.ins", "-e", "gsm_sim.file_id", "-e", "gsm_sim.apdu.sw" });
                _out.WriteLine(r.StdOut);
                Assert.Equal(0, r.ExitCode);
                string[] lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal(expectedIns, string.Join(",", lines.Select(l => l.Split(';')[0])));
                Assert.All(lines.Where(l => !l.StartsWith("0x88", StringComparison.Ordinal)), l => Assert.EndsWith(";0x9000", l, StringComparison.Ordinal));
                if (rat == SimRat.Umts) Assert.StartsWith("0xa4;0x6f09;", lines[5], StringComparison.Ordinal);
            }
            finally
            {
                File.Delete(path);
            }
        }
    }
}

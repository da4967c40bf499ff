using System;
using E2m.Modem.Usim;
using E2m.TestSupport;
using Xunit;

namespace E2m.Modem.Tests.Usim
{
    /// <summary>
    /// EF_DIR records (TS 102 221 §13.1, Table 13.2) and FCP templates (TS 102 221 §11.1.1.3 / §11.1.1.4.3) at the
    /// APDU level. Record shapes: the sysmoUSIM USIM AID A0000000871002FFFFFFFF8907090000 (3gpp.md §3, pysim
    /// ADF_USIM), ISIM A0000000871004 (pysim), labels as in pysim's EF.DIR decoding.
    /// </summary>
    public class EfDirTests
    {
        private const string UsimAid = "a0000000871002ffffffff8907090000";
        private const string IsimAid = "a0000000871004ffffffff8907090000";

        private static string Record(string aidHex, string label, int size = 32, string extra = "")
        {
            string lab = Hex.Encode(System.Text.Encoding.ASCII.GetBytes(label));
            string inner = "4f" + (aidHex.Length / 2).ToString("x2") + aidHex + (label.Length > 0 ? "50" + label.Length.ToString("x2") + lab : "") + extra;
            string t = "61" + (inner.Length / 2).ToString("x2") + inner;
            return t + new string('f', 2 * size - t.Length);
        }

        private static bool Parse(string hex, out string aid, out string label)
        {
            byte[] r = Hex.Decode(hex);
            byte[] a = new byte[16];
            bool app = EfDir.ParseRecord(r, 0, r.Length, a, 0, out int aidLength, out int lo, out int ll);
            aid = Hex.Encode(a, 0, aidLength);
            label = System.Text.Encoding.ASCII.GetString(r, lo, ll);
            return app;
        }

        private static UsimError Reject(string hex)
        {
            byte[] r = Hex.Decode(hex);
            var x = Assert.Throws<UsimException>(() => EfDir.ParseRecord(r, 0, r.Length, new byte[16], 0, out _, out _, out _));
            return x.UsimError;
        }

        [Fact]
        public void Usim_record_gives_full_aid_and_label()
        {
            Assert.True(Parse(Record(UsimAid, "USIM"), out string aid, out string label));
            Assert.Equal(UsimAid, aid);
            Assert.Equal("USIM", label);
            Assert.True(EfDir.IsUsimAid(Hex.Decode(aid), 0, 16));
        }

        [Fact]
        public void Several_applications_only_the_usim_is_a_usim()
        {
            Assert.True(Parse(Record(IsimAid, "ISIM"), out string isim, out _));
            Assert.False(EfDir.IsUsimAid(Hex.Decode(isim), 0, 16)); // application code 1004 (TS 31.102 Annex A: USIM is 1002)
            Assert.True(Parse(Record(UsimAid, "", 40, "73035301ff"), out string usim, out string label)); // no label, discretionary template '73'
            Assert.Equal(UsimAid, usim);
            Assert.Equal("", label);
            Assert.False(EfDir.IsUsimAid(Hex.Decode("a000000063504b43532d3135"), 0, 12)); // PKCS#15 RID, not 3GPP
            Assert.False(EfDir.IsUsimAid(Hex.Decode("a0000000871002"), 0, 6)); // shorter than RID + app code
            Assert.True(EfDir.IsUsimAid(Hex.Decode("a0000000871002"), 0, 7));
        }

        [Fact]
        public void Unused_record_is_not_an_application()
        {
            Assert.False(Parse(new string('f', 64), out _, out _));
            Assert.False(Parse("", out _, out _));
        }

        [Theory]
        [InlineData("62184f10a0000000871002ffffffff890709000050045553494dffffffffffff", UsimError.BadDirRecord)]   // not '61'
        [InlineData("61404f10a0000000871002ffffffff890709000050045553494dffffffffffff", UsimError.BadTlv)]         // template runs past the record
        [InlineData("61184f20a0000000871002ffffffff890709000050045553494dffffffffffff", UsimError.BadTlv)]         // AID length runs past the template
        [InlineData("610650045553494dffffffffffffffff", UsimError.MissingAid)]                                       // label only
        [InlineData("61004fff", UsimError.BadDirRecord)]                                                              // template length 0 (< '03')
        [InlineData("610a4f00500455534900ffff", UsimError.BadAidLength)]                                              // AID length 0
        [InlineData("61184f10a0000000871002ffffffff890709000050045553494dffffff00ffff", UsimError.DirTrailingData)] // non-FF after template
        [InlineData("61124f07a00000008710024f07a0000000871002ff", UsimError.MissingAid)]                            // two AIDs
        [InlineData("61808f", UsimError.BadTlv)]                                                                      // indefinite length
        [InlineData("61", UsimError.BadTlv)]                                                                          // truncated header
        public void Malformed_records_are_typed_errors(string hex, UsimError expected)
        {
            Assert.Equal(expected, Reject(hex));
        }

        [Fact]
        public void Fcp_of_ef_dir_is_linear_fixed_with_record_length_and_count()
        {
            // 62 1A { 82 05 42 21 0020 03, 83 02 2F00, 8A 01 05, 8B 03 2F0601, 80 02 0060, 88 01 F0 }
            byte[] fcp = Hex.Decode("621a8205422100200383022f008a01058b032f0601800200608801f0");
            FileControlParameters f = FileControlParameters.Parse(fcp, 0, fcp.Length);
            Assert.Equal(FileStructure.LinearFixed, f.Structure);
            Assert.Equal(32, f.RecordLength);
            Assert.Equal(3, f.RecordCount);
            Assert.Equal(0x2F00, f.FileId);
            Assert.Equal(0x60, f.FileSize);
            Assert.Equal(0x42, f.DescriptorByte);
        }

        [Theory]
        [InlineData("620f820241218302 6f078a01058002 0009", FileStructure.Transparent, 0x6F07)]
        [InlineData("62128202782183027fff8a01058408a000000087100200", FileStructure.Df, 0x7FFF)]   // ADF with DF name
        [InlineData("62108205462100100a83026f3c8a0105", FileStructure.Cyclic, 0x6F3C)]
        public void Fcp_structures(string hex, FileStructure structure, int fid)
        {
            hex = hex.Replace(" ", "");
            byte[] fcp = Hex.Decode(hex);
            // recompute the template length so the table stays readable
            fcp[1] = (byte)(fcp.Length - 2);
            FileControlParameters f = FileControlParameters.Parse(fcp, 0, fcp.Length);
            Assert.Equal(structure, f.Structure);
            Assert.Equal(fid, f.FileId);
        }

        [Theory]
        [InlineData("6f1a8205422100200383022f00", UsimError.BadFcp)]                 // not '62'
        [InlineData("620483022f00", UsimError.BadFcp)]                              // no file descriptor
        [InlineData("6208820242218302 2f00", UsimError.BadFileDescriptor)]           // linear fixed with a 2-octet descriptor
        [InlineData("6209820542210020038302", UsimError.BadTlv)]                     // '83' truncated inside the template
        [InlineData("6208820241218202 4121", UsimError.BadFcp)]                      // '82' twice
        [InlineData("62048202c121", UsimError.BadFileDescriptor)]                    // b8 set
        [InlineData("6204820243 21", UsimError.BadFileDescriptor)]                   // structure '011' reserved
        [InlineData("620482024121ff", UsimError.BadFcp)]                             // octet after the template
        [InlineData("", UsimError.BadFcp)]
        public void Malformed_fcp_is_a_typed_error(string hex, UsimError expected)
        {
            byte[] fcp = Hex.Decode(hex.Replace(" ", ""));
            var x = Assert.Throws<UsimException>(() => FileControlParameters.Parse(fcp, 0, fcp.Length));
            Assert.Equal(expected, x.UsimError);
        }

        [Fact]
        public void Parsing_allocates_nothing_after_warm_up()
        {
            byte[] record = Hex.Decode(Record(UsimAid, "USIM"));
            byte[] fcp = Hex.Decode("621a8205422100200383022f008a01058b032f0601800200608801f0");
            byte[] aid = new byte[16];
            EfDir.ParseRecord(record, 0, record.Length, aid, 0, out _, out _, out _);
            FileControlParameters.Parse(fcp, 0, fcp.Length);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                EfDir.ParseRecord(record, 0, record.Length, aid, 0, out _, out _, out _);
                FileControlParameters.Parse(fcp, 0, fcp.Length);
                EfDir.IsUsimAid(aid, 0, 16);
            }
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }
}

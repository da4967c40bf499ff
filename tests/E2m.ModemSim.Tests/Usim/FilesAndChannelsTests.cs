using System;
using E2m.Modem.Usim;
using E2m.ModemSim.Usim;
using E2m.TestSupport;
using Xunit;
using static E2m.ModemSim.Tests.Usim.CardHelper;

namespace E2m.ModemSim.Tests.Usim
{
    public class FilesAndChannelsTests
    {
        private const string VerifyPin1234 = "0020000108" + "31323334FFFFFFFF";

        [Fact]
        public void Ef_imsi_ad_keysps_decode_with_the_firmware_decoders()
        {
            var card = new SimulatedUsim(Set1Profile());
            SelectUsim(card);
            Assert.Equal(0x9000, Tx(card, "00A4000C026F07").Sw);
            (byte[] imsi, int sw) = Tx(card, "00B0000009");
            Assert.Equal(0x9000, sw);
            Assert.Equal("001010123456789", EfImsi.Decode(imsi, 0, imsi.Length));
            Assert.Equal("080910101032547698", Hex.Encode(imsi)); // TS 31.102 §4.2.2 example shape (odd, '9')

            // EF_AD by SFI '03' (READ BINARY P1 = '83'), MNC length in octet 4.
            (byte[] ad, sw) = Tx(card, "00B0830004");
            Assert.Equal(0x9000, sw);
            Assert.Equal(2, EfAd.Decode(ad, 0, ad.Length).MncLength);

            // EF_KeysPS via path 7FFF/6F09 from the MF: KSI '07' = no key (TS 31.102 §4.2.4).
            Assert.Equal(0x9000, Tx(card, "00A4080C047FFF6F09").Sw);
            (byte[] keys, sw) = Tx(card, "00B0000021");
            Assert.Equal(0x9000, sw);
            var k = new UsimKeys();
            k.Decode(keys, 0, keys.Length);
            Assert.False(k.HasKey);
        }

        [Theory]
        [InlineData("001010000000001")]
        [InlineData("26201987654321")]   // even number of digits → parity '1' and 'F' filler
        [InlineData("310410")]
        public void Imsi_encoding_round_trips(string imsi) =>
            Assert.Equal(imsi, EfImsi.Decode(SimulatedUsim.EncodeImsi(imsi), 0, 9));

        [Fact]
        public void Pin_protects_imsi_and_keys_files_and_blocks_after_three_wrong_attempts()
        {
            var card = new SimulatedUsim(Set1Profile(pin: "1234"));
            SelectUsim(card);
            Assert.Equal(0x9000, Tx(card, "00A4000C026F09").Sw);
            Assert.Equal(0x6982, Tx(card, "00B0000021").Sw);                       // READ PIN
            Assert.Equal(0x6982, Tx(card, "00D6000001" + "01").Sw);                 // UPDATE PIN
            Assert.Equal(0x6982, Tx(card, "00B0870009").Sw);                        // EF_IMSI by SFI: READ PIN
            Assert.Equal(0x9000, Tx(card, "00B0830004").Sw);                        // EF_AD: READ ALW
            Assert.Equal(0x63C3, Tx(card, "0020000100").Sw);                        // retry counter query
            Assert.Equal(0x9000, Tx(card, VerifyPin1234).Sw);
            Assert.Equal(0x9000, Tx(card, "00A4000C026F09").Sw);
            string keys = "03" + new string('a', 32) + new string('b', 32);
            Assert.Equal(0x9000, Tx(card, "00D6000021" + keys).Sw);
            Assert.Equal(keys, Hex.Encode(Tx(card, "00B0000021").Data));
            Assert.Equal(0x6982, Tx(card, "00D6870001" + "09").Sw);                 // EF_IMSI: UPDATE ADM
            Assert.Equal(0x6700, Tx(card, "00D6002001" + "0000").Sw);               // length mismatch
            Assert.Equal(0x6B00, Tx(card, "00B0003001").Sw);                        // offset outside

            card.Reset();                                                            // power cycle: PIN state reset
            SelectUsim(card);
            Assert.Equal(0x6982, Tx(card, "00B0890021").Sw);
            Assert.Equal(0x63C2, Tx(card, "0020000108" + "31313131FFFFFFFF").Sw);
            Assert.Equal(0x63C1, Tx(card, "0020000108" + "31313131FFFFFFFF").Sw);
            Assert.Equal(0x9000, Tx(card, VerifyPin1234).Sw);                       // resets the counter
            Assert.Equal(3, card.PinAttemptsLeft);
            card.Reset();
            for (int i = 2; i > 0; i--) Assert.Equal(0x63C0 | i, Tx(card, "0020000108" + "39393939FFFFFFFF").Sw);
            Assert.Equal(0x6983, Tx(card, "0020000108" + "39393939FFFFFFFF").Sw);
            Assert.Equal(0x6983, Tx(card, VerifyPin1234).Sw);                       // blocked (PUK not modelled)
            Assert.Equal(keys, Hex.Encode(card.ReadFileAdmin(0x6F09)));              // survives resets (NVM)
        }

        [Fact]
        public void Select_rules_fcp_and_t0_wrong_le()
        {
            var card = new SimulatedUsim(Set1Profile(t0: true));
            Assert.Equal(0x6A82, Tx(card, "00A4000C026F07").Sw);                    // not a child of the MF
            Assert.Equal(0x6A82, Tx(card, "00A4000C027FFF").Sw);                    // no active ADF yet
            Assert.Equal(0x6A82, Tx(card, "00A4040C07A0000000871004").Sw);          // ISIM: absent
            (byte[] _, int sw) = Tx(card, "00A4040407A0000000871002");              // partial AID, FCP → '61 xx' on T=0
            Assert.Equal(0x61, sw >> 8);
            (byte[] fcp, sw) = Tx(card, "00C00000" + (sw & 0xFF).ToString("X2"));
            Assert.Equal(0x9000, sw);
            Assert.Equal(0x84, fcp[6]);                                              // DF name = the full AID
            Assert.Equal("a0000000871002ffffffff8907090000", Hex.Encode(fcp, 8, 16));
            Assert.Equal(0x9000, Tx(card, "00A4000C026F07").Sw);
            Assert.Equal(0x6C09, Tx(card, "00B0000000").Sw);                         // T=0: P3 '00' = 256 → '6C 09'
            Assert.Equal(0x6C09, Tx(card, "00B0000010").Sw);
            Assert.Equal(0x9000, Tx(card, "00B0000004").Sw);                         // shorter read is fine
            Assert.Equal(0x9000, Tx(card, "00A4000C027FFF").Sw);                    // the active ADF …
            Assert.Equal(0x6986, Tx(card, "00B0000001").Sw);                         // … is a DF: no current EF
            Assert.Equal(0x6E00, Tx(card, "A0A4000002 3F00".Replace(" ", "")).Sw);   // GSM class 'A0'
            Assert.Equal(0x6D00, Tx(card, "0012000000").Sw);                         // unknown INS
            Assert.Equal(0x6E00, Tx(card, "00F2000000").Sw);                         // STATUS is class '8X'
            (byte[] st, sw) = Tx(card, "80F2000100");
            Assert.Equal(0x6C12, sw);                                                // '84 10' AID = 18 octets
            Assert.Equal(0x9000, Tx(card, "80F2000112").Sw);

            // EF_DIR record 1 names the USIM application (TS 102 221 §13.1).
            Assert.Equal(0x9000, Tx(card, "00A4000C023F00").Sw);
            (byte[] dir, sw) = Tx(card, "00B201F420");
            Assert.Equal(0x9000, sw);
            Assert.Equal("61184f10a0000000871002ffffffff890709000050045553494d", Hex.Encode(dir, 0, 26));
        }

        [Fact]
        public void Logical_channels_have_their_own_application_and_current_file()
        {
            var card = new SimulatedUsim(Set1Profile());
            var open = new byte[5];
            UsimApdu.BuildManageChannelOpen(open, 0);
            for (int n = 1; n <= 3; n++)
            {
                (byte[] data, int sw) = Tx(card, open);
                Assert.Equal(0x9000, sw);
                Assert.Equal(new[] { (byte)n }, data);
            }

            Assert.Equal(0x6A81, Tx(card, open).Sw);                                  // all 3 in use
            Assert.Equal(0x6881, Tx(card, "4070000001").Sw);                          // channel 4 ('40'): not supported

            SelectUsim(card, channel: 2);
            byte[] set1 = Hex.Decode("00880081221023553CBE9637A89D218AE64DAE47BF351055F328B43577B9B94A9FFAC354DFAFB300");
            Assert.Equal(0x6985, Tx(card, set1).Sw);                                  // channel 0: no USIM active
            set1[0] = UsimApdu.ClaForChannel(2);
            byte[] r = card.Transmit(set1);
            Assert.Equal(0xDB, r[0]);

            // Channel 1 keeps its own current EF.
            SelectUsim(card, channel: 1);
            Assert.Equal(0x9000, Tx(card, "01A4000C026FAD").Sw);
            Assert.Equal(0x9000, Tx(card, "02A4000C026F07").Sw);
            Assert.Equal(4, Tx(card, "01B0000004").Data.Length);
            Assert.Equal(9, Tx(card, "02B0000009").Data.Length);

            var close = new byte[5];
            UsimApdu.BuildManageChannelClose(2, close, 0);
            Assert.Equal(0x9000, Tx(card, close).Sw);
            Assert.Equal(0x6881, Tx(card, "02B0000009").Sw);                          // closed
            Assert.Equal(0x6881, Tx(card, close).Sw);                                 // already closed
            (byte[] again, int sw2) = Tx(card, open);
            Assert.Equal(0x9000, sw2);
            Assert.Equal(2, again[0]);                                                 // lowest free number reused
            Assert.Equal(0x6985, Tx(card, set1).Sw);                                  // fresh channel: MF, no application

            card.Reset();
            Assert.Equal(0x6881, Tx(card, "01B0000004").Sw);                          // reset closes logical channels
        }

        [Fact]
        public void Removed_and_busy_faults_throw_typed_and_reinsertion_power_cycles()
        {
            var card = new SimulatedUsim(Set1Profile());
            SelectUsim(card);
            card.Busy = true;
            Assert.Throws<SimBusyException>(() => card.Transmit(Hex.Decode("00A4000C026F07")));
            card.Busy = false;
            Assert.Equal(0x9000, Tx(card, "00A4000C026F07").Sw);
            card.Present = false;
            Assert.False(card.Present);
            Assert.Throws<SimNotPresentException>(() => card.Transmit(Hex.Decode("00B0000009")));
            card.Present = true;
            Assert.Equal(0x6986, Tx(card, "00B0000009").Sw);                          // MF again, no current EF
        }
    }
}

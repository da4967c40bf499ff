using System;
using System.Text.Json;
using E2m.Modem.Usim;
using E2m.ModemSim.Usim;
using E2m.TestSupport;
using Xunit;
using static E2m.ModemSim.Tests.Usim.CardHelper;

namespace E2m.ModemSim.Tests.Usim
{
    public class AuthenticateTests
    {
        // 3gpp.md §3 worked example (TS 35.208 set 1; AUTN from osmo-auc-gen): the +CSIM command and answer.
        private const string Set1Command = "00880081221023553CBE9637A89D218AE64DAE47BF351055F328B43577B9B94A9FFAC354DFAFB300";
        private const string Set1Response =
            "DB08A54211D5E3BA50BF10B40BA9A3C58B2A05BBF0D987B21BF8CB10F769BCD751044604127672711C6D344108EAE4BE823AF9A08B9000";

        [Fact]
        public void Ts35208_set1_authenticate_matches_byte_for_byte()
        {
            JsonElement s = Set(1);
            var card = new SimulatedUsim(Set1Profile());
            SelectUsim(card);
            // The command as the vector file's values produce it (E2m.Modem builder) is the documented one.
            byte[] rand = Hex.Decode(s.GetProperty("RAND").GetString());
            byte[] autn = Autn(Set1Profile(), rand, 0xff9bb4d0b607, Hex.Decode("b9b9"));
            Assert.Equal(Set1Command, Convert.ToHexString(AuthenticateApdu(rand, autn)));

            byte[] r = card.Transmit(Hex.Decode(Set1Command));
            Assert.Equal(Set1Response, Convert.ToHexString(r));
            // RES/CK/IK are f2/f3/f4 of the vector file; Kc = c3(CK, IK) (TS 33.102 §6.8.1.2).
            Assert.Equal(s.GetProperty("f2").GetString(), Hex.Encode(r, 2, 8));
            Assert.Equal(s.GetProperty("f3").GetString(), Hex.Encode(r, 11, 16));
            Assert.Equal(s.GetProperty("f4").GetString(), Hex.Encode(r, 28, 16));
            // SQN ff9bb4d0b607 = SEQ || IND with IND = 7 (Annex C.1.1, a = 5): only SEQ_MS(7) changed.
            long[] seq = SeqArray(card);
            Assert.Equal(0xff9bb4d0b607L >> 5, seq[7]);
            Assert.Equal(0xff9bb4d0b607UL, card.Sqn.SqnMs);
            for (int i = 0; i < 32; i++) if (i != 7) Assert.Equal(0, seq[i]);
        }

        [Fact]
        public void Ts35208_set1_on_t0_answers_61_and_data_after_get_response()
        {
            var card = new SimulatedUsim(Set1Profile(t0: true));
            SelectUsim(card);
            (byte[] data, int sw) = Tx(card, Set1Command);
            Assert.Empty(data);
            Assert.Equal(0x6135, sw); // 53 octets withheld (TS 102 221 §7.3.1.1.4)
            Assert.Equal(0x6C35, Tx(card, "00C0000040").Sw); // Le beyond the data → '6C' exact length, data kept
            Assert.Equal(Set1Response, Convert.ToHexString(card.Transmit(Hex.Decode("00C0000035"))));
            Assert.Equal(0x6985, Tx(card, "00C0000035").Sw); // nothing left

            // A shorter Le hands out a chunk and '61 xx' for the rest (ISO 7816-3 chaining of GET RESPONSE).
            var again = new SimulatedUsim(Set1Profile(t0: true));
            SelectUsim(again);
            Assert.Equal(0x6135, Tx(again, Set1Command).Sw);
            (byte[] first, int sw1) = Tx(again, "00C0000010");
            Assert.Equal(0x6125, sw1);
            (byte[] rest, int sw2) = Tx(again, "00C0000025");
            Assert.Equal(0x9000, sw2);
            Assert.Equal(Set1Response[..^4], Convert.ToHexString(first) + Convert.ToHexString(rest));
            // Any other command on the channel discards a pending response.
            Assert.Equal(0x6110, Tx(again, Set1Command).Sw);         // replay: 'DC 0E' AUTS = 16 octets withheld
            Assert.Equal(0x9000, Tx(again, "00A4000C023F00").Sw);    // SELECT MF, no data
            Assert.Equal(0x6985, Tx(again, "00C0000010").Sw);
        }

        [Fact]
        public void Set1_with_default_delta_is_a_sync_failure_on_a_fresh_card()
        {
            // Annex C.2.1: SEQ − SEQ_MS ≤ Δ = 2^28; SEQ(ff9bb4d0b607) ≈ 2^43 → rejected, AUTS carries SQN_MS = 0.
            UsimProfile p = Set1Profile();
            p.Delta = SqnFreshness.DefaultDelta;
            var card = new SimulatedUsim(p);
            SelectUsim(card);
            byte[] r = card.Transmit(Hex.Decode(Set1Command));
            Assert.Equal(0xDC, r[0]);
            Assert.Equal(0x0E, r[1]);
            Assert.Equal(18, r.Length);
            Assert.Equal(new byte[] { 0x90, 0x00 }, r[16..]);
            Assert.All(SeqArray(card), v => Assert.Equal(0, v));
        }

        [Fact]
        public void Response_parses_with_the_firmware_usim_parser()
        {
            JsonElement s = Set(1);
            var card = new SimulatedUsim(Set1Profile());
            SelectUsim(card);
            byte[] r = card.Transmit(Hex.Decode(Set1Command));
            var result = new AuthenticateResult();
            AuthenticateResponse.Parse(r, 0, r.Length, result);
            Assert.Equal(AuthenticateKind.Success, result.Kind);
            Assert.Equal(s.GetProperty("f2").GetString(), Hex.Encode(result.Res, 0, result.ResLength));
            Assert.Equal(s.GetProperty("f3").GetString(), Hex.Encode(result.Ck));
            Assert.Equal(s.GetProperty("f4").GetString(), Hex.Encode(result.Ik));
            Assert.True(result.HasKc);
            Assert.Equal("eae4be823af9a08b", Hex.Encode(result.Kc));

            // Replay → DC AUTS → SyncFailure; tampered MAC → 98 62 → MacFailure.
            r = card.Transmit(Hex.Decode(Set1Command));
            AuthenticateResponse.Parse(r, 0, r.Length, result);
            Assert.Equal(AuthenticateKind.SyncFailure, result.Kind);
            byte[] bad = Hex.Decode(Set1Command);
            bad[^2] ^= 1;
            r = card.Transmit(bad);
            Assert.Equal("9862", Convert.ToHexString(r));
            AuthenticateResponse.Parse(r, 0, r.Length, result);
            Assert.Equal(AuthenticateKind.MacFailure, result.Kind);
        }

        [Fact]
        public void Without_kc_service_the_response_ends_after_ik()
        {
            UsimProfile p = Set1Profile();
            p.IncludeKc = false;
            var card = new SimulatedUsim(p);
            SelectUsim(card);
            Assert.Equal(Set1Response[..^22] + "9000", Convert.ToHexString(card.Transmit(Hex.Decode(Set1Command))));
        }

        [Fact]
        public void Without_usim_selected_authenticate_is_6985_and_with_pin_unverified_6982()
        {
            var card = new SimulatedUsim(Set1Profile(pin: "1234"));
            Assert.Equal(0x6985, Tx(card, Set1Command).Sw);  // MF only, no application active on channel 0
            SelectUsim(card);
            Assert.Equal(0x6982, Tx(card, Set1Command).Sw);  // PIN1 enabled, not verified
            Assert.Equal(0, card.AuthenticateCount);
            Assert.Equal(0x9000, Tx(card, "0020000108" + "31323334FFFFFFFF").Sw);
            Assert.Equal(Set1Response, Convert.ToHexString(card.Transmit(Hex.Decode(Set1Command))));
        }

        [Fact]
        public void Gsm_context_and_bad_parameters_are_refused_typed()
        {
            var card = new SimulatedUsim(Set1Profile());
            SelectUsim(card);
            Assert.Equal(0x9864, Tx(card, "008800801110" + new string('0', 32) + "00").Sw); // GSM context not modelled
            Assert.Equal(0x6A86, Tx(card, "00880181" + Set1Command[8..]).Sw);
            Assert.Equal(0x6700, Tx(card, "008800810310000000").Sw);
            string badTag = Set1Command.Substring(0, 10) + "11" + Set1Command.Substring(12);
            Assert.Equal(0x6A80, Tx(card, badTag).Sw);
        }

        [Fact]
        public void Mac_failure_on_every_autn_and_rand_bit_changes_nothing()
        {
            var card = new SimulatedUsim(Set1Profile());
            SelectUsim(card);
            byte[] good = Hex.Decode(Set1Command);
            for (int bit = 0; bit < 34 * 8; bit++)
            {
                int octet = 5 + bit / 8;
                if (octet == 5 || octet == 22) continue; // L(RAND), L(AUTN)
                byte[] bad = (byte[])good.Clone();
                bad[octet] ^= (byte)(1 << (bit % 8));
                byte[] r = card.Transmit(bad);
                // A flip in SQN⊕AK or AMF or MAC or RAND changes XMAC: MAC failure, no data.
                Assert.True(r.Length == 2 && r[0] == 0x98 && r[1] == 0x62, $"bit {bit}: {Convert.ToHexString(r)}");
            }

            Assert.All(SeqArray(card), v => Assert.Equal(0, v));
            Assert.Equal(Set1Response, Convert.ToHexString(card.Transmit(good)));
        }
    }
}

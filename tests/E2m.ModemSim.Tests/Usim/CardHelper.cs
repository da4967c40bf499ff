using System;
using System.Linq;
using System.Text.Json;
using E2m.Crypto;
using E2m.Modem.Usim;
using E2m.ModemSim.Usim;
using E2m.TestSupport;
using Xunit;

namespace E2m.ModemSim.Tests.Usim
{
    /// <summary>Test helpers: personalised cards and APDU exchange with SW split off.</summary>
    internal static class CardHelper
    {
        public static JsonElement Set(int n) =>
            Vectors.Load("milenage-ts35208-sets1-6.json").RootElement.GetProperty("test_sets").EnumerateArray()
                .First(s => s.GetProperty("set").GetInt32() == n);

        public static UsimProfile Set1Profile(bool t0 = false, string? pin = null)
        {
            JsonElement s = Set(1);
            return new UsimProfile
            {
                K = Hex.Decode(s.GetProperty("K").GetString()),
                Opc = Hex.Decode(s.GetProperty("OPc").GetString()),
                Imsi = "001010123456789",
                T0 = t0,
                Pin1 = pin,
                // The set-1 SQN ff9bb4d0b607 has SEQ ≈ 2^43 ahead of a fresh card: Δ must be off to accept it (Annex C.2.1).
                Delta = SqnFreshness.NoLimit,
            };
        }

        public static UsimProfile RandomProfile(Random rng, bool t0 = false)
        {
            var k = new byte[16];
            var opc = new byte[16];
            rng.NextBytes(k);
            rng.NextBytes(opc);
            return new UsimProfile { K = k, Opc = opc, T0 = t0, Imsi = "262019876543210" };
        }

        public static (byte[] Data, int Sw) Tx(ISimCard card, byte[] apdu)
        {
            byte[] r = card.Transmit(apdu);
            Assert.True(r.Length >= 2, "response shorter than SW1 SW2");
            return (r.AsSpan(0, r.Length - 2).ToArray(), (r[^2] << 8) | r[^1]);
        }

        public static (byte[] Data, int Sw) Tx(ISimCard card, string hex) => Tx(card, Hex.Decode(hex));

        /// <summary>SELECT the USIM by the 7-octet AID prefix on <paramref name="channel"/> (E2m.Modem builder), FCP discarded.</summary>
        public static void SelectUsim(ISimCard card, int channel = 0)
        {
            var apdu = new byte[12];
            byte[] prefix = UsimApdu.UsimAidPrefix();
            int n = UsimApdu.BuildSelectByAid(channel, prefix, 0, prefix.Length, apdu, 0);
            (byte[] data, int sw) = Tx(card, apdu.AsSpan(0, n).ToArray());
            if ((sw & 0xFF00) == 0x6100)
            {
                (data, sw) = Tx(card, new byte[] { UsimApdu.ClaForChannel(channel), 0xC0, 0, 0, (byte)sw });
            }

            Assert.Equal(0x9000, sw);
            Assert.Equal(0x62, data[0]);
        }

        public static byte[] AuthenticateApdu(byte[] rand, byte[] autn, int channel = 0)
        {
            var apdu = new byte[UsimApdu.AuthenticateApduLength];
            UsimApdu.BuildAuthenticate3g(channel, rand, 0, autn, 0, apdu, 0);
            return apdu;
        }

        /// <summary>AUTHENTICATE, resolving '61 xx' with GET RESPONSE; returns data || SW as the ME finally sees it.</summary>
        public static byte[] Authenticate(ISimCard card, byte[] rand, byte[] autn, int channel = 0)
        {
            byte[] r = card.Transmit(AuthenticateApdu(rand, autn, channel));
            if (r.Length == 2 && r[0] == 0x61)
            {
                r = card.Transmit(new byte[] { UsimApdu.ClaForChannel(channel), 0xC0, 0, 0, r[1] });
            }

            return r;
        }

        /// <summary>AUTN for SQN/AMF by E2m.Crypto (the AuC side), for tests that do not need osmo-auc-gen.</summary>
        public static byte[] Autn(UsimProfile p, byte[] rand, ulong sqn, byte[] amf)
        {
            var m = new Milenage(new PortableCryptoProvider().CreateAes128());
            m.SetKey(p.K, p.Opc);
            byte[] sqnB = Sqn48(sqn);
            var mac = new byte[8];
            var ak = new byte[6];
            m.F1(rand, sqnB, amf, mac, null);
            m.F2345(rand, null, null, null, ak);
            var autn = new byte[16];
            Aka.BuildAutn(sqnB, ak, amf, mac, autn);
            return autn;
        }

        public static byte[] Sqn48(ulong v)
        {
            var b = new byte[6];
            for (int i = 5; i >= 0; i--, v >>= 8) b[i] = (byte)v;
            return b;
        }

        public static long[] SeqArray(SimulatedUsim card) =>
            Enumerable.Range(0, card.Sqn.Length).Select(card.Sqn.GetSeqMs).ToArray();
    }
}

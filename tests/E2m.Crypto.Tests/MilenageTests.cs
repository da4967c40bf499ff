using System;
using System.Text.Json;
using E2m.TestSupport;
using Xunit;

namespace E2m.Crypto.Tests
{
    public class MilenageTests
    {
        public static TheoryData<string, int> Sets
        {
            get
            {
                var d = new TheoryData<string, int>();
                using JsonDocument doc = Vectors.Load("milenage-ts35208-sets1-6.json");
                foreach (string p in new[] { Providers.Portable, Providers.Platform })
                {
                    foreach (JsonElement s in doc.RootElement.GetProperty("test_sets").EnumerateArray())
                    {
                        d.Add(p, s.GetProperty("set").GetInt32());
                    }
                }

                return d;
            }
        }

        private static JsonElement Set(int n)
        {
            using JsonDocument doc = Vectors.Load("milenage-ts35208-sets1-6.json");
            foreach (JsonElement s in doc.RootElement.GetProperty("test_sets").EnumerateArray())
            {
                if (s.GetProperty("set").GetInt32() == n) return s.Clone();
            }

            throw new ArgumentException("no set " + n);
        }

        private static byte[] B(JsonElement s, string name) => Hex.Decode(s.GetProperty(name).GetString());

        [Theory]
        [MemberData(nameof(Sets))]
        public void Ts35208TestSet(string provider, int set)
        {
            JsonElement s = Set(set);
            string id = "TS 35.208 set " + set + " (" + provider + ")";
            ICryptoProvider cp = Providers.Get(provider);
            byte[] k = B(s, "K"), rand = B(s, "RAND"), sqn = B(s, "SQN"), amf = B(s, "AMF");

            byte[] opc = new byte[16];
            Milenage.ComputeOpc(cp.CreateAes128(), k, B(s, "OP"), opc);
            Assert.True(s.GetProperty("OPc").GetString() == Hex.Encode(opc), id + " OPc");

            var m = new Milenage(cp.CreateAes128());
            m.SetKey(k, opc);
            byte[] macA = new byte[8], macS = new byte[8], res = new byte[8], ck = new byte[16], ik = new byte[16], ak = new byte[6], akStar = new byte[6];
            m.F1(rand, sqn, amf, macA, macS);
            m.F2345(rand, res, ck, ik, ak);
            m.F5Star(rand, akStar);
            Assert.True(s.GetProperty("f1").GetString() == Hex.Encode(macA), id + " f1");
            Assert.True(s.GetProperty("f1star").GetString() == Hex.Encode(macS), id + " f1*");
            Assert.True(s.GetProperty("f2").GetString() == Hex.Encode(res), id + " f2");
            Assert.True(s.GetProperty("f3").GetString() == Hex.Encode(ck), id + " f3");
            Assert.True(s.GetProperty("f4").GetString() == Hex.Encode(ik), id + " f4");
            Assert.True(s.GetProperty("f5").GetString() == Hex.Encode(ak), id + " f5");
            Assert.True(s.GetProperty("f5star").GetString() == Hex.Encode(akStar), id + " f5*");

            // Optional outputs.
            byte[] ck2 = new byte[16], macS2 = new byte[8];
            m.F2345(rand, null, ck2, null, null);
            m.F1(rand, sqn, amf, null, macS2);
            Assert.Equal(Hex.Encode(ck), Hex.Encode(ck2));
            Assert.Equal(Hex.Encode(macS), Hex.Encode(macS2));

            // AUTN (TS 33.102 §6.3.2) and the USIM-side check.
            byte[] autn = new byte[16];
            Aka.BuildAutn(sqn, ak, amf, macA, autn);
            byte[] expectedSqnXorAk = new byte[6];
            for (int i = 0; i < 6; i++) expectedSqnXorAk[i] = (byte)(sqn[i] ^ ak[i]);
            Assert.Equal(Hex.Encode(expectedSqnXorAk) + Hex.Encode(amf) + Hex.Encode(macA), Hex.Encode(autn));
            byte[] sqnOut = new byte[6];
            Assert.True(Aka.TryVerifyAutn(m, rand, autn, sqnOut), id + " TryVerifyAutn");
            Assert.Equal(Hex.Encode(sqn), Hex.Encode(sqnOut));
            for (int bit = 0; bit < 128; bit += 9)
            {
                byte[] bad = (byte[])autn.Clone();
                bad[bit / 8] ^= (byte)(1 << (bit % 8));
                Assert.False(Aka.TryVerifyAutn(m, rand, bad, sqnOut), id + " tampered AUTN bit " + bit);
                Assert.Equal("000000000000", Hex.Encode(sqnOut));
            }

            // AUTS (TS 33.102 §6.3.3): AK* || MAC-S with AMF* = 0000; round trip and tamper.
            byte[] sqnMs = Hex.Decode("00000000123" + set.ToString("x"));
            byte[] auts = new byte[14];
            Aka.BuildAuts(m, rand, sqnMs, auts);
            byte[] expectedMacS = new byte[8];
            m.F1(rand, sqnMs, new byte[2], null, expectedMacS);
            Assert.Equal(Hex.Encode(expectedMacS), Hex.Encode(auts, 6, 8));
            for (int i = 0; i < 6; i++) Assert.Equal((byte)(sqnMs[i] ^ akStar[i]), auts[i]);
            byte[] recovered = new byte[6];
            Assert.True(Aka.TryRecoverSqnMs(m, rand, auts, recovered), id + " AUTS");
            Assert.Equal(Hex.Encode(sqnMs), Hex.Encode(recovered));
            auts[13] ^= 1;
            Assert.False(Aka.TryRecoverSqnMs(m, rand, auts, recovered));

            m.Clear();
            Assert.Throws<InvalidOperationException>(() => m.F5Star(rand, akStar));
        }

        [Fact]
        public void WrongLengthsThrowArgumentException()
        {
            var m = new Milenage(new Aes128());
            Assert.ThrowsAny<ArgumentException>(() => m.SetKey(new byte[15], new byte[16]));
            m.SetKey(new byte[16], new byte[16]);
            Assert.ThrowsAny<ArgumentException>(() => m.F1(new byte[16], new byte[5], new byte[2], new byte[8], null!));
            Assert.ThrowsAny<ArgumentException>(() => m.F2345(new byte[16], new byte[16], null!, null!, null!));
            Assert.ThrowsAny<ArgumentException>(() => m.F5Star(new byte[17], new byte[6]));
            Assert.ThrowsAny<ArgumentException>(() => Aka.BuildAuts(m, new byte[16], new byte[6], new byte[16]));
            Assert.ThrowsAny<ArgumentException>(() => Milenage.ComputeOpc(new Aes128(), new byte[16], new byte[16], new byte[8]));
        }
    }
}

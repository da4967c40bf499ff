using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Server.Hss.Auc;
using E2m.Server.Hss.Subscribers;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Hss.Tests
{
    /// <summary>Vector generation against independent oracles: osmo-auc-gen (Milenage/AUTN), System HMACSHA256 (KASME, e2m KDFs).</summary>
    public class AucEngineTests
    {
        public static IEnumerable<object[]> Ts35208Sets()
        {
            using JsonDocument doc = Vectors.Load("milenage-ts35208-sets1-6.json");
            foreach (JsonElement set in doc.RootElement.GetProperty("test_sets").EnumerateArray())
            {
                yield return new object[] { "TS 35.208 " + set.GetProperty("section").GetString(), set.GetProperty("K").GetString()!, set.GetProperty("OPc").GetString()!, set.GetProperty("AMF").GetString()! };
            }
        }

        /// <summary>HSS vectors (UTRAN and E-UTRAN, e2m bit on) equal osmo-auc-gen's for the same K/OPc/RAND/SQN/AMF.</summary>
        [SkippableTheory]
        [MemberData(nameof(Ts35208Sets))]
        public void VectorsMatchOsmoAucGen(string source, string kHex, string opcHex, string amfHex)
        {
            string osmo = ExternalTool.Require("osmo-auc-gen", "osmocom-utils");
            var engine = new AucEngine();
            foreach (Rat rat in new[] { Rat.Utran, Rat.Eutran })
            {
                foreach (bool e2m in new[] { false, true })
                {
                    using var res = new SqnReservation
                    {
                        K = Hex.Decode(kHex), Opc = Hex.Decode(opcHex), Amf = ushort.Parse(amfHex, NumberStyles.HexNumber),
                        E2m = new E2mProfile { Enabled = e2m }, FirstSeq = 0x123456789, Ind = 17, Count = 2,
                    };
                    foreach (AuthVector v in engine.Generate(res, rat, PlmnId.Encode("00101")))
                    {
                        string amf = v.Amf.ToString("x4");
                        ToolResult r = ExternalTool.Run(osmo, new[] { "-3", "-a", "milenage", "-k", kHex, "-o", opcHex, "-r", Hex.Encode(v.Rand),
                            "-s", v.Sqn.ToString(CultureInfo.InvariantCulture), "-f", amf });
                        Assert.True(r.ExitCode == 0, source + ": " + r.StdErr);
                        Dictionary<string, string> f = ParseOsmo(r.StdOut);
                        string label = $"{source} {rat} e2m={e2m} SQN={v.Sqn:x12}";
                        Assert.True(f["AUTN"] == Hex.Encode(v.Autn), label + " AUTN");
                        Assert.True(f["RES"] == Hex.Encode(v.Xres), label + " RES");
                        Assert.True(f["CK"] == Hex.Encode(v.Ck), label + " CK");
                        Assert.True(f["IK"] == Hex.Encode(v.Ik), label + " IK");
                        Assert.Equal(v.Sqn.ToString(CultureInfo.InvariantCulture), f["SQN"]);
                        Assert.Equal("17", f["IND"]); // osmo splits SQN with the same 5-bit IND
                    }
                }
            }
        }

        [Fact]
        public void AmfCarriesSeparationBitForEutranOnlyAndTheE2mBitForE2mSubscribers()
        {
            var engine = new AucEngine();
            Assert.Equal(0x8000, engine.EffectiveAmf(0x0000, Rat.Eutran, false));   // TS 33.401 §6.1.1 / 33.102 Annex H
            Assert.Equal(0x0000, engine.EffectiveAmf(0x8000, Rat.Utran, false));
            Assert.Equal(0xC000, engine.EffectiveAmf(0x0000, Rat.Eutran, true));    // DESIGN.md §5 default mask 0x4000
            Assert.Equal(0x4000, engine.EffectiveAmf(0x0000, Rat.Utran, true));
            Assert.Equal(0xB9B9 | 0x8000, engine.EffectiveAmf(0xB9B9, Rat.Eutran, false));
            Assert.Equal(0x8000 | 0x0123, engine.EffectiveAmf(0x4123, Rat.Eutran, false)); // e2m bit only in e2m runs
            Assert.Equal(0x4123, engine.EffectiveAmf(0xC123, Rat.Utran, true));          // other bits pass through
            Assert.Equal(0x8000 | 0x0100, new AucEngine(0x0100).EffectiveAmf(0, Rat.Eutran, true));
            Assert.Throws<ArgumentException>(() => new AucEngine(0x8000));
            Assert.Throws<ArgumentException>(() => new AucEngine(0x4001));

            using var res = new SqnReservation { K = Set1.K.ToArray(), Opc = Set1.Opc.ToArray(), E2m = new E2mProfile { Enabled = true }, FirstSeq = 1, Count = 1 };
            AuthVector v = engine.Generate(res, Rat.Eutran, PlmnId.Encode("00101"))[0];
            Assert.Equal(0xC0, v.Autn[6]); // AMF octets 7..8 of AUTN (TS 33.102 §6.3.2)
            Assert.Equal(0x00, v.Autn[7]);
        }

        /// <summary>TS 24.008 §10.5.1.13 / TS 24.301 §9.9.3.12 nibble order; the open5gs KASME vector's SN id 02 48 30.</summary>
        [Theory]
        [InlineData("24.008 example MCC 246 MNC 81", "24681", "42f618")]
        [InlineData("test PLMN 001/01", "00101", "00f110")]
        [InlineData("3-digit MNC 310/410", "310410", "130014")]
        [InlineData("open5gs security-test test3 SN id", "208034", "024830")]
        public void PlmnIdEncoding(string source, string plmn, string expected)
        {
            Assert.True(expected == Hex.Encode(PlmnId.Encode(plmn)), source);
        }

        /// <summary>
        /// KASME public vector (open5gs tests/unit/security-test.c test3, re-checked with Python hmac): S and KASME.
        /// </summary>
        [Fact]
        public void KasmeMatchesThePublicKdfVectorAndItsSEncoding()
        {
            byte[] ck = Hex.Decode("b40ba9a3c58b2a05bbf0d987b21bf8cb"), ik = Hex.Decode("f769bcd751044604127672711c6d3441");
            byte[] sqn = Hex.Decode("fd8eef40df7d"), ak = Hex.Decode("aa689c648370");
            byte[] sqnXorAk = new byte[6];
            for (int i = 0; i < 6; i++)
            {
                sqnXorAk[i] = (byte)(sqn[i] ^ ak[i]);
            }

            byte[] kasme = new byte[32], s = new byte[KasmeKdf.SLength];
            new KasmeKdf().Derive(ck, ik, Hex.Decode("024830"), sqnXorAk, kasme, s);
            Assert.Equal("10024830000357e673245c0d0006", Hex.Encode(s));
            Assert.Equal("238e457e0f758badbca8d34bb2612c10428d426757cb5553b2b184fa64bfc549", Hex.Encode(kasme));
        }

        /// <summary>Every E-UTRAN vector's KASME recomputed with System.Security.Cryptography.HMACSHA256 per TS 33.401 A.2.</summary>
        [Theory]
        [InlineData(false)]
        [InlineData(true)]
        public void EutranKasmeEqualsIndependentHmac(bool accessKeySeparation)
        {
            var engine = new AucEngine();
            using var res = new SqnReservation
            {
                K = Set1.K.ToArray(), Opc = Set1.Opc.ToArray(), E2m = new E2mProfile { Enabled = true, AccessKeySeparation = accessKeySeparation },
                FirstSeq = 77, Ind = 3, Count = 3,
            };
            byte[] snId = PlmnId.Encode("26201");
            foreach (AuthVector v in engine.Generate(res, Rat.Eutran, snId))
            {
                byte[] s = new byte[] { 0x10 }.Concat(snId).Concat(new byte[] { 0, 3 }).Concat(v.Autn.Take(6)).Concat(new byte[] { 0, 6 }).ToArray();
                byte[] expected = HMACSHA256.HashData(v.Ck.Concat(v.Ik).ToArray(), s);
                Assert.Equal(Hex.Encode(expected), Hex.Encode(v.Kasme!));
            }
        }

        /// <summary>
        /// e2m subscribers: e2m_int_key/KID from the REAL CK/IK (DESIGN.md §2), and with access-key separation the serving
        /// node gets CK' || IK' = HMAC-SHA-256(CK || IK, E3 || "e2m_access" || 00 0a) (DESIGN.md §5), all recomputed with
        /// System HMACSHA256 from CK/IK given by Milenage over the same RAND.
        /// </summary>
        [Theory]
        [InlineData(false)]
        [InlineData(true)]
        public void E2mKeysAndAccessKeySeparationMatchIndependentHmac(bool aks)
        {
            var engine = new AucEngine();
            using var res = new SqnReservation
            {
                K = Set1.K.ToArray(), Opc = Set1.Opc.ToArray(), E2m = new E2mProfile { Enabled = true, AccessKeySeparation = aks }, FirstSeq = 9, Count = 2,
            };
            foreach (AuthVector v in engine.Generate(res, Rat.Utran, null))
            {
                var m = new Milenage(new PlatformAes128());
                m.SetKey(Set1.K, Set1.Opc);
                byte[] ck = new byte[16], ik = new byte[16];
                m.F2345(v.Rand, null, ck, ik, null);
                byte[] ckIk = ck.Concat(ik).ToArray();
                byte[] intKey = HMACSHA256.HashData(ckIk, Kdf(0xE0, "e2m_CIoT"));
                byte[] kid = HMACSHA256.HashData(intKey, Kdf(0xE2, "e2m-kid")).Take(8).ToArray();
                Assert.Equal(Hex.Encode(intKey), Hex.Encode(v.E2mIntKey!));
                Assert.Equal(Hex.Encode(kid), Hex.Encode(v.Kid!));
                if (aks)
                {
                    byte[] access = HMACSHA256.HashData(ckIk, Kdf(0xE3, "e2m_access"));
                    Assert.Equal(Hex.Encode(access.Take(16).ToArray()), Hex.Encode(v.Ck));
                    Assert.Equal(Hex.Encode(access.Skip(16).ToArray()), Hex.Encode(v.Ik));
                }
                else
                {
                    Assert.Equal(Hex.Encode(ck), Hex.Encode(v.Ck));
                    Assert.Equal(Hex.Encode(ik), Hex.Encode(v.Ik));
                }
            }
        }

        /// <summary>
        /// DESIGN.md §5 for an EPS vector of an e2m subscriber with access-key separation, every element from an independent
        /// oracle (Milenage of E2m.Crypto for the real CK/IK as the USIM returns them, System HMACSHA256 for the KDFs):
        /// AMF = subscriber AMF | separation bit | e2m bit (also inside AUTN, so MAC-A covers it); CK'/IK' = KDF(CK||IK, E3,
        /// "e2m_access"); KASME from CK'/IK' (what the MME gets, TS 33.401 A.2) differs from the KASME of the real keys;
        /// e2m_int_key and KID from the real CK||IK; the serving-node keys never equal the real ones.
        /// </summary>
        [Fact]
        public void EpsE2mVectorWithAccessKeySeparationAgainstIndependentOracles()
        {
            var engine = new AucEngine();
            using var res = new SqnReservation
            {
                K = Set1.K.ToArray(), Opc = Set1.Opc.ToArray(), Amf = 0x0B9B, E2m = new E2mProfile { Enabled = true, AccessKeySeparation = true },
                FirstSeq = 500, Ind = 7, Count = 2,
            };
            byte[] snId = PlmnId.Encode("00101");
            var m = new Milenage(new PlatformAes128());
            m.SetKey(Set1.K, Set1.Opc);
            foreach (AuthVector v in engine.Generate(res, Rat.Eutran, snId))
            {
                Assert.Equal(0xCB9B, v.Amf);
                Assert.Equal("cb9b", Hex.Encode(v.Autn.Skip(6).Take(2).ToArray()));
                byte[] sqn = new byte[6];
                Assert.True(Aka.TryVerifyAutn(m, v.Rand, v.Autn, sqn), "MAC-A over the AMF with both bits");
                byte[] ck = new byte[16], ik = new byte[16];
                m.F2345(v.Rand, null, ck, ik, null);
                byte[] ckIk = ck.Concat(ik).ToArray();
                byte[] access = HMACSHA256.HashData(ckIk, Kdf(0xE3, "e2m_access"));
                Assert.Equal(Hex.Encode(access.Take(16).ToArray()), Hex.Encode(v.Ck));
                Assert.Equal(Hex.Encode(access.Skip(16).ToArray()), Hex.Encode(v.Ik));
                Assert.NotEqual(Hex.Encode(ck), Hex.Encode(v.Ck));
                Assert.NotEqual(Hex.Encode(ik), Hex.Encode(v.Ik));
                byte[] s = new byte[] { 0x10 }.Concat(snId).Concat(new byte[] { 0, 3 }).Concat(v.Autn.Take(6)).Concat(new byte[] { 0, 6 }).ToArray();
                Assert.Equal(Hex.Encode(HMACSHA256.HashData(access, s)), Hex.Encode(v.Kasme!));
                Assert.NotEqual(Hex.Encode(HMACSHA256.HashData(ckIk, s)), Hex.Encode(v.Kasme!));
                byte[] intKey = HMACSHA256.HashData(ckIk, Kdf(0xE0, "e2m_CIoT"));
                Assert.Equal(Hex.Encode(intKey), Hex.Encode(v.E2mIntKey!));
                Assert.Equal(Hex.Encode(HMACSHA256.HashData(intKey, Kdf(0xE2, "e2m-kid")).Take(8).ToArray()), Hex.Encode(v.Kid!));
            }
        }

        [Fact]
        public void NonE2mSubscribersGetNoE2mKeys()
        {
            using var res = new SqnReservation { K = Set1.K.ToArray(), Opc = Set1.Opc.ToArray(), FirstSeq = 1, Count = 1 };
            AuthVector v = new AucEngine().Generate(res, Rat.Utran, null)[0];
            Assert.Null(v.E2mIntKey);
            Assert.Null(v.Kid);
            Assert.Null(v.Kasme);
        }

        /// <summary>AUTS built by E2m.Crypto (USIM side) is accepted and SQN_MS recovered; a flipped MAC-S bit is rejected.</summary>
        [Fact]
        public void ResyncRecoversSqnMsFromAutsAndRejectsABadMacS()
        {
            var m = new Milenage(new PlatformAes128());
            m.SetKey(Set1.K, Set1.Opc);
            byte[] rand = Set1.Random(16), auts = new byte[14], sqnMs = new byte[6];
            SqnMath.ToBytes(SqnMath.Compose(123456, 9), sqnMs);
            Aka.BuildAuts(m, rand, sqnMs, auts);
            var engine = new AucEngine();
            Assert.Equal(SqnMath.Compose(123456, 9), engine.RecoverSqnMs(Set1.K, Set1.Opc, rand, auts));
            auts[13] ^= 1;
            Assert.Null(engine.RecoverSqnMs(Set1.K, Set1.Opc, rand, auts));
        }

        private static byte[] Kdf(byte fc, string p0)
        {
            byte[] p = Encoding.UTF8.GetBytes(p0);
            return new[] { fc }.Concat(p).Concat(new[] { (byte)(p.Length >> 8), (byte)p.Length }).ToArray(); // TS 33.220 Annex B
        }

        private static Dictionary<string, string> ParseOsmo(string stdout)
        {
            var d = new Dictionary<string, string>();
            foreach (string line in stdout.Split('\n'))
            {
                int i = line.IndexOf(':');
                if (i > 0)
                {
                    d[line.Substring(0, i).Trim()] = line.Substring(i + 1).Trim();
                }
            }

            return d;
        }
    }
}

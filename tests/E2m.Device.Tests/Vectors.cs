using System;
using E2m.Crypto;
using E2m.Oscore;
using nanoFramework.TestFramework;

namespace E2m.Device.Tests
{
    /// <summary>
    /// The public vectors of tests/vectors, inlined as hex (the device has no file with them), run against one
    /// <see cref="ICryptoProvider"/>: the portable one (every board) and the native one (ESP32, see NativeCryptoVectorTests).
    /// Sources: FIPS 197 App. C.1, FIPS 180-4 / NIST "abc", RFC 4231 test case 2, RFC 3610 packet vector #1,
    /// TS 35.208 test set 1, DESIGN.md §2 worked example (vectors/e2m-kdf.json case 0), RFC 8613 App. C.1.1 and C.4.
    /// </summary>
    internal static class Vectors
    {
        public static void Aes128Fips197(ICryptoProvider crypto)
        {
            IAes128 aes = crypto.CreateAes128();
            aes.SetKey(Hex.Decode("000102030405060708090a0b0c0d0e0f"), 0);
            byte[] block = Hex.Decode("00112233445566778899aabbccddeeff");
            aes.EncryptBlock(block, 0, block, 0);
            aes.Clear();
            Assert.AreEqual("69c4e0d86a7b0430d8cdb78070b4c55a", Hex.Encode(block));
        }

        public static void Sha256Abc()
        {
            var sha = new Sha256();
            byte[] abc = new byte[] { 0x61, 0x62, 0x63 };
            byte[] digest = new byte[32];
            sha.Update(abc, 0, abc.Length);
            sha.Final(digest, 0);
            Assert.AreEqual("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Hex.Encode(digest));
        }

        public static void HmacRfc4231Case2(ICryptoProvider crypto)
        {
            IHmacSha256 hmac = crypto.CreateHmacSha256();
            byte[] key = Hex.Decode("4a656665"); // "Jefe"
            byte[] data = Hex.Decode("7768617420646f2079612077616e7420666f72206e6f7468696e673f"); // "what do ya want for nothing?"
            byte[] mac = new byte[32];
            hmac.Init(key, 0, key.Length);
            hmac.Update(data, 0, data.Length);
            hmac.Final(mac, 0);
            hmac.Clear();
            Assert.AreEqual("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", Hex.Encode(mac));
        }

        public static void AesCcmRfc3610Vector1(ICryptoProvider crypto)
        {
            IAesCcm ccm = crypto.CreateAesCcm();
            ccm.SetKey(Hex.Decode("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"), 0);
            byte[] nonce = Hex.Decode("00000003020100a0a1a2a3a4a5");
            byte[] aad = Hex.Decode("0001020304050607");
            byte[] plaintext = Hex.Decode("08090a0b0c0d0e0f101112131415161718191a1b1c1d1e");
            byte[] output = new byte[plaintext.Length + 8];
            ccm.Encrypt(nonce, 0, aad, 0, aad.Length, plaintext, 0, plaintext.Length, output, 0);
            Assert.AreEqual("588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0", Hex.Encode(output));

            byte[] back = new byte[plaintext.Length];
            Assert.IsTrue(ccm.Decrypt(nonce, 0, aad, 0, aad.Length, output, 0, output.Length, back, 0));
            Assert.AreEqual(Hex.Encode(plaintext), Hex.Encode(back));
            output[0] ^= 1;
            Assert.IsTrue(!ccm.Decrypt(nonce, 0, aad, 0, aad.Length, output, 0, output.Length, back, 0));
            ccm.Clear();
        }

        public static void MilenageTs35208Set1(ICryptoProvider crypto)
        {
            IAes128 aes = crypto.CreateAes128();
            byte[] k = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc");
            byte[] op = Hex.Decode("cdc202d5123e20f62b6d676ac72cb318");
            byte[] rand = Hex.Decode("23553cbe9637a89d218ae64dae47bf35");
            byte[] sqn = Hex.Decode("ff9bb4d0b607");
            byte[] amf = Hex.Decode("b9b9");
            byte[] opc = new byte[16];
            Milenage.ComputeOpc(aes, k, op, opc);
            Assert.AreEqual("cd63cb71954a9f4e48a5994e37a02baf", Hex.Encode(opc));

            var milenage = new Milenage(aes);
            milenage.SetKey(k, opc);
            byte[] macA = new byte[8], macS = new byte[8], res = new byte[8], ck = new byte[16], ik = new byte[16], ak = new byte[6], akStar = new byte[6];
            milenage.F1(rand, sqn, amf, macA, macS);
            milenage.F2345(rand, res, ck, ik, ak);
            milenage.F5Star(rand, akStar);
            milenage.Clear();
            Assert.AreEqual("4a9ffac354dfafb3", Hex.Encode(macA));
            Assert.AreEqual("01cfaf9ec4e871e9", Hex.Encode(macS));
            Assert.AreEqual("a54211d5e3ba50bf", Hex.Encode(res));
            Assert.AreEqual("b40ba9a3c58b2a05bbf0d987b21bf8cb", Hex.Encode(ck));
            Assert.AreEqual("f769bcd751044604127672711c6d3441", Hex.Encode(ik));
            Assert.AreEqual("aa689c648370", Hex.Encode(ak));
            Assert.AreEqual("451e8beca43b", Hex.Encode(akStar));
        }

        public static void E2mKeyChain(ICryptoProvider crypto)
        {
            var keys = new E2mKeys(crypto.CreateHmacSha256());
            byte[] intKey = new byte[32], kid = new byte[8], key = new byte[32];
            keys.DeriveIntKey(Hex.Decode("b40ba9a3c58b2a05bbf0d987b21bf8cb"), Hex.Decode("f769bcd751044604127672711c6d3441"), intKey);
            keys.DeriveKid(intKey, kid);
            byte[] emseId = Hex.Decode("656d73652e6578616d706c652e6f7267"); // "emse.example.org"
            keys.DeriveKey(intKey, emseId, 0, emseId.Length, key);
            Assert.AreEqual("ea67a9cfee1a177d9d9a5ac5d952e75a6afcdb85182bc344c1018350d7005545", Hex.Encode(intKey));
            Assert.AreEqual("73ffcbb15a4f8029", Hex.Encode(kid));
            Assert.AreEqual("add14c3c84c098f6d4852901b89ffeed596ff3542da81b7f5518e8499567af40", Hex.Encode(key));
        }

        public static void OscoreC1Derivation(ICryptoProvider crypto)
        {
            var ctx = new OscoreSecurityContext(crypto, Hex.Decode("0102030405060708090a0b0c0d0e0f10"), Hex.Decode("9e7ca92223786340"),
                new byte[0], Hex.Decode("01"), null);
            Assert.AreEqual("f0910ed7295e6ad4b54fc793154302ff", Hex.Encode(ctx.GetSenderKey()));
            Assert.AreEqual("ffb14e093c94c9cac9471648b4f98710", Hex.Encode(ctx.GetRecipientKey()));
            Assert.AreEqual("4622d4dd6d944168eefb54987c", Hex.Encode(ctx.GetCommonIv()));
        }

        public static void OscoreC4ProtectRequest(ICryptoProvider crypto)
        {
            var ctx = new OscoreSecurityContext(crypto, Hex.Decode("0102030405060708090a0b0c0d0e0f10"), Hex.Decode("9e7ca92223786340"),
                new byte[0], Hex.Decode("01"), null, new MemorySsnStore(20), 1, 1152, OscoreSecurityContext.DefaultMaxOptions);
            byte[] request = Hex.Decode("44015d1f00003974396c6f63616c686f737483747631");
            byte[] output = new byte[128];
            int length = ctx.ProtectRequest(request, 0, request.Length, output, 0, new OscoreExchange());
            Assert.AreEqual("44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e", Hex.Encode(output, 0, length));
        }
    }

    /// <summary>The vectors on the portable (managed) crypto: runs on every board.</summary>
    [TestClass]
    public class PortableCryptoVectorTests
    {
        private static readonly ICryptoProvider Crypto = new PortableCryptoProvider();

        [TestMethod]
        public void Aes128_Fips197_C1() { Vectors.Aes128Fips197(Crypto); }

        [TestMethod]
        public void Sha256_Fips180_abc() { Vectors.Sha256Abc(); }

        [TestMethod]
        public void HmacSha256_Rfc4231_case2() { Vectors.HmacRfc4231Case2(Crypto); }

        [TestMethod]
        public void AesCcm_Rfc3610_packet_vector_1() { Vectors.AesCcmRfc3610Vector1(Crypto); }

        [TestMethod]
        public void Milenage_Ts35208_set1() { Vectors.MilenageTs35208Set1(Crypto); }

        [TestMethod]
        public void E2m_key_chain_Design_section2() { Vectors.E2mKeyChain(Crypto); }

        [TestMethod]
        public void Oscore_Rfc8613_C1_1_derivation() { Vectors.OscoreC1Derivation(Crypto); }

        [TestMethod]
        public void Oscore_Rfc8613_C4_protect_request() { Vectors.OscoreC4ProtectRequest(Crypto); }
    }
}

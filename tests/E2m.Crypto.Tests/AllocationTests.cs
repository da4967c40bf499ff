using System;
using Xunit;

namespace E2m.Crypto.Tests
{
    /// <summary>
    /// The portable primitives allocate nothing per operation after construction (DESIGN.md §9):
    /// 1000 operations after warm-up, measured with GC.GetAllocatedBytesForCurrentThread.
    /// </summary>
    public class AllocationTests
    {
        private delegate void Op();

        private static long Measure(Op op)
        {
            for (int i = 0; i < 50; i++) op(); // warm-up: JIT, static initialisers
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++) op();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        private static readonly byte[] Data = new byte[200];
        private static readonly byte[] Out = new byte[300];

        [Fact]
        public void TheMeasurementSeesAllocations()
        {
            Assert.True(Measure(() => GC.KeepAlive(new byte[16])) >= 16000);
        }

        [Fact]
        public void Sha256()
        {
            var h = new E2m.Crypto.Sha256();
            Assert.Equal(0, Measure(() => { h.Update(Data, 0, 130); h.Update(Data, 1, 70); h.Final(Out, 0); }));
        }

        [Fact]
        public void HmacSha256InitUpdateFinal()
        {
            var h = new E2m.Crypto.HmacSha256();
            Assert.Equal(0, Measure(() => { h.Init(Data, 0, 100); h.Update(Data, 0, 150); h.Final(Out, 0); h.Clear(); }));
        }

        [Fact]
        public void Aes128()
        {
            var a = new E2m.Crypto.Aes128();
            Assert.Equal(0, Measure(() => { a.SetKey(Data, 0); a.EncryptBlock(Data, 16, Out, 0); a.EncryptBlock(Out, 0, Out, 0); }));
        }

        [Fact]
        public void AesCcmEncryptDecrypt()
        {
            var ccm = new AesCcm(new E2m.Crypto.Aes128());
            ccm.SetKey(Data, 0);
            byte[] buf = new byte[120];
            Assert.Equal(0, Measure(() =>
            {
                ccm.Encrypt(Data, 0, Data, 20, 30, Data, 50, 100, buf, 0);
                if (!ccm.Decrypt(Data, 0, Data, 20, 30, buf, 0, 108, buf, 0)) throw new Exception("tag");
            }));
        }

        [Fact]
        public void MilenageAndAka()
        {
            var m = new Milenage(new E2m.Crypto.Aes128());
            byte[] k = new byte[16], opc = new byte[16], rand = new byte[16], sqn = new byte[6], amf = new byte[2];
            byte[] macA = new byte[8], macS = new byte[8], res = new byte[8], ck = new byte[16], ik = new byte[16], ak = new byte[6];
            byte[] autn = new byte[16], auts = new byte[14], sqn2 = new byte[6];
            m.SetKey(k, opc);
            Assert.Equal(0, Measure(() =>
            {
                m.F1(rand, sqn, amf, macA, macS);
                m.F2345(rand, res, ck, ik, ak);
                m.F5Star(rand, ak);
                m.F2345(rand, null, null, null, ak);
                Aka.BuildAutn(sqn, ak, amf, macA, autn);
                Aka.TryVerifyAutn(m, rand, autn, sqn2);
                Aka.BuildAuts(m, rand, sqn, auts);
                Aka.TryRecoverSqnMs(m, rand, auts, sqn2);
            }));
        }

        [Fact]
        public void HkdfAndKdf()
        {
            var hkdf = new Hkdf(new E2m.Crypto.HmacSha256());
            var kdf = new Kdf(new E2m.Crypto.HmacSha256(), 64);
            byte[] prk = new byte[32];
            Assert.Equal(0, Measure(() =>
            {
                hkdf.Extract(null, 0, 0, Data, 0, 32, prk, 0);
                hkdf.Expand(prk, 0, 32, Data, 0, 20, Out, 0, 77);
                kdf.Begin(0xE0);
                kdf.AddParameter(Data, 0, 8);
                kdf.AddParameter(Data, 8, 16);
                kdf.Derive(Data, 0, 32, Out, 0);
            }));
        }

        [Fact]
        public void E2mKeys()
        {
            var keys = new E2m.Crypto.E2mKeys(new E2m.Crypto.HmacSha256());
            byte[] ck = new byte[16], ik = new byte[16], intKey = new byte[32], kid = new byte[8], key = new byte[32], ckP = new byte[16], ikP = new byte[16];
            Assert.Equal(0, Measure(() =>
            {
                keys.DeriveIntKey(ck, ik, intKey);
                keys.DeriveKid(intKey, kid);
                keys.DeriveKey(intKey, Data, 0, 16, key);
                keys.DeriveAccessKeys(ck, ik, ckP, ikP);
            }));
        }
    
        [Fact]
        public void PlatformAdapterPerBlockAndPerMessage()
        {
            var aes = new E2m.Hal.Host.PlatformAes128();
            aes.SetKey(Data, 0);
            Assert.Equal(0, Measure(() => aes.EncryptBlock(Data, 16, Out, 0)));
            Assert.Equal(0, Measure(() => aes.EncryptBlock(Out, 0, Out, 0)));
            Assert.Equal(0, Measure(() => aes.EncryptBlock(Out, 0, Out, 8)));
            var h = new E2m.Hal.Host.PlatformHmacSha256();
            h.Init(Data, 0, 32);
            Assert.Equal(0, Measure(() => { h.Update(Data, 0, 150); h.Final(Out, 0); }));
        }
    }
}

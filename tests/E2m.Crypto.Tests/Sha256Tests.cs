using System;
using System.Security.Cryptography;
using System.Text;
using E2m.TestSupport;
using Xunit;

namespace E2m.Crypto.Tests
{
    public class Sha256Tests
    {
        private static string Digest(byte[] msg)
        {
            var h = new Sha256();
            h.Update(msg, 0, msg.Length);
            byte[] o = new byte[32];
            h.Final(o, 0);
            return Hex.Encode(o);
        }

        // FIPS 180-4 examples (NIST CSRC "SHA256.pdf" / FIPS 180-2 App. B) and the empty message.
        [Theory]
        [InlineData("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
        [InlineData("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
        [InlineData("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")]
        public void NistExamples(string msg, string expected)
        {
            Assert.Equal(expected, Digest(Encoding.ASCII.GetBytes(msg)));
        }

        [Fact]
        public void OneMillionA()
        {
            var h = new Sha256();
            byte[] chunk = new byte[1000];
            for (int i = 0; i < chunk.Length; i++) chunk[i] = (byte)'a';
            for (int i = 0; i < 1000; i++) h.Update(chunk, 0, chunk.Length);
            byte[] o = new byte[32];
            h.Final(o, 0);
            Assert.Equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", Hex.Encode(o));
        }

        [Fact]
        public void SplitUpdateAtEveryPointEqualsOneShotAndPlatform()
        {
            byte[] msg = new byte[200];
            for (int i = 0; i < msg.Length; i++) msg[i] = (byte)(i * 7 + 3);
            var h = new Sha256();
            byte[] o = new byte[32];
            for (int len = 0; len <= msg.Length; len++)
            {
                string expected = Hex.Encode(SHA256.HashData(msg.AsSpan(0, len)));
                for (int split = 0; split <= len; split++)
                {
                    h.Update(msg, 0, split);
                    h.Update(msg, split, len - split);
                    h.Final(o, 0);
                    Assert.True(expected == Hex.Encode(o), $"len {len} split {split}");
                }
            }
        }

        [Fact]
        public void FinalResetsForTheNextMessage()
        {
            var h = new Sha256();
            byte[] abc = Encoding.ASCII.GetBytes("abc");
            byte[] o = new byte[32];
            h.Update(abc, 0, 3);
            h.Final(o, 0);
            h.Update(abc, 0, 3);
            h.Final(o, 0);
            Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Hex.Encode(o));
        }
    }
}

using E2m.TestSupport;
using Xunit;

namespace E2m.Crypto.Tests
{
    public class AesTests
    {
        /// <summary>The platform cipher's fallback path (System.Security.Cryptography) for CPUs without AES-NI.</summary>
        private const string PlatformOpenSsl = "platform-without-aes-ni";

        private static IAes128 Create(string provider) =>
            provider == PlatformOpenSsl ? new E2m.Hal.Host.PlatformAes128(useAesNi: false) : Providers.Get(provider).CreateAes128();

        public static TheoryData<string, string, string, string> Fips197
        {
            get
            {
                var d = new TheoryData<string, string, string, string>();
                foreach (string p in new[] { Providers.Portable, Providers.Platform, PlatformOpenSsl })
                {
                    // FIPS 197 Appendix C.1 (AES-128) and Appendix B (cipher example).
                    d.Add(p, "000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff", "69c4e0d86a7b0430d8cdb78070b4c55a");
                    d.Add(p, "2b7e151628aed2a6abf7158809cf4f3c", "3243f6a8885a308d313198a2e0370734", "3925841d02dc09fbdc118597196a0b32");
                }

                return d;
            }
        }

        [Theory]
        [MemberData(nameof(Fips197))]
        public void Fips197Vectors(string provider, string key, string pt, string ct)
        {
            IAes128 aes = Create(provider);
            byte[] k = Hex.Decode("ff" + key);
            aes.SetKey(k, 1);
            byte[] input = Hex.Decode(pt);
            byte[] output = new byte[20];
            aes.EncryptBlock(input, 0, output, 3);
            Assert.Equal(ct, Hex.Encode(output, 3, 16));

            // In place.
            aes.EncryptBlock(input, 0, input, 0);
            Assert.Equal(ct, Hex.Encode(input));
            aes.Clear();
        }

        [Fact]
        public void PortableMatchesPlatformOnRandomBlocks()
        {
            var rnd = new System.Random(1234);
            IAes128 a = new Aes128();
            IAes128 b = new E2m.Hal.Host.PlatformAes128();
            IAes128 c = Create(PlatformOpenSsl);
            byte[] key = new byte[16], block = new byte[16], o1 = new byte[16], o2 = new byte[16], o3 = new byte[16];
            for (int i = 0; i < 200; i++)
            {
                rnd.NextBytes(key);
                rnd.NextBytes(block);
                a.SetKey(key, 0);
                b.SetKey(key, 0);
                c.SetKey(key, 0);
                a.EncryptBlock(block, 0, o1, 0);
                b.EncryptBlock(block, 0, o2, 0);
                c.EncryptBlock(block, 0, o3, 0);
                Assert.Equal(Hex.Encode(o2), Hex.Encode(o1));
                Assert.Equal(Hex.Encode(o3), Hex.Encode(o1));
            }
        }
    }
}

using E2m.TestSupport;
using Xunit;

namespace E2m.Crypto.Tests
{
    public class HkdfTests
    {
        public static TheoryData<string, string, string, string, string, int, string, string> Rfc5869
        {
            get
            {
                var d = new TheoryData<string, string, string, string, string, int, string, string>();
                foreach (string p in new[] { Providers.Portable, Providers.Platform })
                {
                    d.Add(p, "RFC 5869 A.1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
                        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
                        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
                    d.Add(p, "RFC 5869 A.2",
                        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
                        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
                        "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
                        82,
                        "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
                        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87");
                    d.Add(p, "RFC 5869 A.3", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
                        "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
                        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
                }

                return d;
            }
        }

        [Theory]
        [MemberData(nameof(Rfc5869))]
        public void Rfc5869Vectors(string provider, string id, string ikm, string salt, string info, int l, string prk, string okm)
        {
            var hkdf = new Hkdf(Providers.Get(provider).CreateHmacSha256());
            byte[] ikmB = Hex.Decode(ikm), saltB = Hex.Decode(salt), infoB = Hex.Decode(info);
            byte[] prkB = new byte[32];
            hkdf.Extract(saltB.Length == 0 ? null : saltB, 0, saltB.Length, ikmB, 0, ikmB.Length, prkB, 0);
            Assert.True(prk == Hex.Encode(prkB), id + " PRK");
            byte[] okmB = new byte[l + 2];
            hkdf.Expand(prkB, 0, 32, infoB, 0, infoB.Length, okmB, 1, l);
            Assert.True(okm == Hex.Encode(okmB, 1, l), id + " OKM");
            Assert.Equal(0, okmB[0]);
            Assert.Equal(0, okmB[l + 1]);

            // Empty (non-null) salt behaves as the null salt.
            if (saltB.Length == 0)
            {
                hkdf.Extract(new byte[0], 0, 0, ikmB, 0, ikmB.Length, prkB, 0);
                Assert.Equal(prk, Hex.Encode(prkB));
            }
        }

        [Fact]
        public void ExpandRejectsMoreThan255Blocks()
        {
            var hkdf = new Hkdf(new HmacSha256());
            byte[] prk = new byte[32];
            byte[] okm = new byte[255 * 32 + 1];
            Assert.ThrowsAny<System.ArgumentException>(() => hkdf.Expand(prk, 0, 32, null!, 0, 0, okm, 0, okm.Length));
            hkdf.Expand(prk, 0, 32, null!, 0, 0, okm, 0, 255 * 32);
        }
    }
}

using System.Text.Json;
using E2m.TestSupport;
using Xunit;

namespace E2m.Crypto.Tests
{
    public class E2mKeysTests
    {
        public static TheoryData<string, int> Cases
        {
            get
            {
                var d = new TheoryData<string, int>();
                using JsonDocument doc = Vectors.Load("e2m-kdf.json");
                int n = doc.RootElement.GetProperty("cases").GetArrayLength();
                foreach (string p in new[] { Providers.Portable, Providers.Platform })
                {
                    for (int i = 0; i < n; i++) d.Add(p, i);
                }

                return d;
            }
        }

        [Theory]
        [MemberData(nameof(Cases))]
        public void E2mKdfVectors(string provider, int index)
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement c = doc.RootElement.GetProperty("cases")[index];
            string id = "e2m-kdf.json case " + index + " (" + provider + ")";
            byte[] ck = Hex.Decode(c.GetProperty("ck").GetString()), ik = Hex.Decode(c.GetProperty("ik").GetString());
            byte[] emseId = System.Text.Encoding.UTF8.GetBytes(c.GetProperty("emse_id").GetString()!);

            var keys = new E2mKeys(Providers.Get(provider).CreateHmacSha256());
            byte[] intKey = new byte[32], kid = new byte[8], key = new byte[32], ckP = new byte[16], ikP = new byte[16];
            keys.DeriveIntKey(ck, ik, intKey);
            keys.DeriveKid(intKey, kid);
            keys.DeriveKey(intKey, emseId, 0, emseId.Length, key);
            keys.DeriveAccessKeys(ck, ik, ckP, ikP);
            Assert.True(c.GetProperty("e2m_int_key").GetString() == Hex.Encode(intKey), id + " e2m_int_key");
            Assert.True(c.GetProperty("kid").GetString() == Hex.Encode(kid), id + " kid");
            Assert.True(c.GetProperty("e2m_key").GetString() == Hex.Encode(key), id + " e2m_key");
            Assert.True(c.GetProperty("ck_prime").GetString() == Hex.Encode(ckP), id + " CK'");
            Assert.True(c.GetProperty("ik_prime").GetString() == Hex.Encode(ikP), id + " IK'");

            // EMSE_Id at an offset inside a larger buffer gives the same key.
            byte[] framed = new byte[emseId.Length + 5];
            System.Array.Copy(emseId, 0, framed, 3, emseId.Length);
            byte[] key2 = new byte[32];
            keys.DeriveKey(intKey, framed, 3, emseId.Length, key2);
            Assert.Equal(Hex.Encode(key), Hex.Encode(key2));
        }

        [Fact]
        public void FcConstantsMatchTheVectorFile()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            JsonElement fc = doc.RootElement.GetProperty("fc");
            Assert.Equal(fc.GetProperty("e2m_int_key").GetString(), E2mKeys.FcE2mInt.ToString("x2"));
            Assert.Equal(fc.GetProperty("e2m_key").GetString(), E2mKeys.FcE2mKey.ToString("x2"));
            Assert.Equal(fc.GetProperty("kid").GetString(), E2mKeys.FcE2mKid.ToString("x2"));
            Assert.Equal(fc.GetProperty("access_keys").GetString(), E2mKeys.FcE2mAccess.ToString("x2"));
            Assert.Equal("e2m_CIoT", System.Text.Encoding.ASCII.GetString(E2mKeys.P0E2mCiot));
            Assert.Equal("e2m-kid", System.Text.Encoding.ASCII.GetString(E2mKeys.P0E2mKid));
            Assert.Equal("e2m_access", System.Text.Encoding.ASCII.GetString(E2mKeys.P0E2mAccess));
        }

        [Fact]
        public void KdfInputExampleS()
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            string expected = doc.RootElement.GetProperty("kdf_input_example").GetProperty("hex").GetString()!;
            var kdf = new Kdf(new HmacSha256(), 64);
            kdf.Begin(E2mKeys.FcE2mInt);
            kdf.AddParameter(E2mKeys.P0E2mCiot, 0, E2mKeys.P0E2mCiot.Length);
            byte[] s = new byte[kdf.InputLength];
            kdf.CopyInput(s, 0);
            Assert.Equal(expected, Hex.Encode(s));

            // Derive == HMAC-SHA-256(CK||IK, S), checked with the platform HMAC.
            byte[] key = Hex.Decode("b40ba9a3c58b2a05bbf0d987b21bf8cbf769bcd751044604127672711c6d3441");
            byte[] o = new byte[32];
            kdf.Derive(key, 0, key.Length, o, 0);
            Assert.Equal(Hex.Encode(System.Security.Cryptography.HMACSHA256.HashData(key, s)), Hex.Encode(o));
        }

        [Fact]
        public void KdfRejectsOverflowingS()
        {
            var kdf = new Kdf(new HmacSha256(), 11);
            kdf.Begin(0xE0);
            Assert.Throws<System.ArgumentException>(() => kdf.AddParameter(new byte[9], 0, 9));
            kdf.AddParameter(E2mKeys.P0E2mCiot, 0, 8); // exactly 11 octets
        }
    }
}

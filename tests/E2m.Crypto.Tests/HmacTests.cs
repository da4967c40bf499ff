using System.Text;
using E2m.TestSupport;
using Xunit;

namespace E2m.Crypto.Tests
{
    public class HmacTests
    {
        public static TheoryData<string, string, string, string, string> Rfc4231
        {
            get
            {
                string aa131 = new string('a', 262);
                var cases = new[]
                {
                    ("1", new string('0', 0) + Repeat("0b", 20), Hex.Encode(Encoding.ASCII.GetBytes("Hi There")), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
                    ("2", Hex.Encode(Encoding.ASCII.GetBytes("Jefe")), Hex.Encode(Encoding.ASCII.GetBytes("what do ya want for nothing?")), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
                    ("3", Repeat("aa", 20), Repeat("dd", 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
                    ("4", "0102030405060708090a0b0c0d0e0f10111213141516171819", Repeat("cd", 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
                    ("5", Repeat("0c", 20), Hex.Encode(Encoding.ASCII.GetBytes("Test With Truncation")), "a3b6167473100ee06e0c796c2955552b"),
                    ("6", aa131, Hex.Encode(Encoding.ASCII.GetBytes("Test Using Larger Than Block-Size Key - Hash Key First")), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
                    ("7", aa131, Hex.Encode(Encoding.ASCII.GetBytes("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.")), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
                };
                var d = new TheoryData<string, string, string, string, string>();
                foreach (string p in new[] { Providers.Portable, Providers.Platform })
                {
                    foreach (var c in cases) d.Add(p, "RFC 4231 TC" + c.Item1, c.Item2, c.Item3, c.Item4);
                }

                return d;
            }
        }

        private static string Repeat(string hexByte, int n)
        {
            var sb = new StringBuilder();
            for (int i = 0; i < n; i++) sb.Append(hexByte);
            return sb.ToString();
        }

        [Theory]
        [MemberData(nameof(Rfc4231))]
        public void Rfc4231Vectors(string provider, string id, string key, string data, string mac)
        {
            IHmacSha256 h = Providers.Get(provider).CreateHmacSha256();
            byte[] k = Hex.Decode(key);
            byte[] m = Hex.Decode(data);
            byte[] o = new byte[32];
            h.Init(k, 0, k.Length);

            // Twice under the same key: Final must reset to the keyed state. Second time split in two.
            h.Update(m, 0, m.Length);
            h.Final(o, 0);
            Assert.True(mac == Hex.Encode(o, 0, mac.Length / 2), id);
            h.Update(m, 0, m.Length / 3);
            h.Update(m, m.Length / 3, m.Length - m.Length / 3);
            h.Final(o, 0);
            Assert.True(mac == Hex.Encode(o, 0, mac.Length / 2), id + " (second message)");
            h.Clear();
        }
    }
}

using System.Text;
using E2m.TestSupport;
using Xunit;

namespace E2m.Crypto.Tests
{
    public class Utf8Tests
    {
        [Theory]
        [InlineData("")]
        [InlineData("emse.example.org")]
        [InlineData("h\u00e9llo \u00df")]
        [InlineData("\u20ac\u65e5\u672c")]
        [InlineData("a\U0001F600b\U00010348")]
        [InlineData("\ud800x")]  // lone high surrogate -> U+FFFD
        [InlineData("x\udc00")]  // lone low surrogate -> U+FFFD
        [InlineData("\ud800")]
        public void MatchesSystemTextEncoding(string s)
        {
            byte[] expected = Encoding.UTF8.GetBytes(s);
            Assert.Equal(expected.Length, Utf8.GetByteCount(s));
            Assert.Equal(Hex.Encode(expected), Hex.Encode(Utf8.GetBytes(s)));
        }
    }
}

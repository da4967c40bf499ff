using System;
using System.Text;
using E2m.TestSupport;
using Xunit;

namespace E2m.Coap.Tests
{
    /// <summary>The one portable UTF-8 codec (System.Text is absent on nanoFramework), against System.Text.Encoding.</summary>
    public class Utf8Tests
    {
        [Theory]
        [InlineData("")]
        [InlineData("emse.example.org")]
        [InlineData("h\u00e9llo \u00df")]
        [InlineData("\u20ac\u65e5\u672c")]
        [InlineData("a\U0001F600b\U00010348")]
        public void EncodesLikeSystemTextEncoding(string s)
        {
            byte[] expected = Encoding.UTF8.GetBytes(s);
            Assert.Equal(expected.Length, Utf8.GetByteCount(s));
            byte[] ours = new byte[expected.Length + 2];
            int n = Utf8.GetBytes(s, ours, 1);
            Assert.Equal(expected.Length, n);
            Assert.Equal(Hex.Encode(expected), Hex.Encode(ours, 1, n));
            Assert.True(Utf8.IsValid(ours, 1, n));
        }

        [Theory]
        [InlineData(new[] { 0xD800, 'x' })]
        [InlineData(new[] { 'x', 0xDC00 })]
        [InlineData(new[] { 0xD800 })]
        [InlineData(new[] { 0xDC00, 0xD800 })]
        public void UnpairedSurrogatesAreRejectedNotReplaced(int[] codeUnits)
        {
            // Built from code units: xunit's test-case serialisation would turn a lone surrogate literal into U+FFFD.
            string s = new string(Array.ConvertAll(codeUnits, c => (char)c));
            // Protocol text (names, units, EMSE_Ids) with an unpaired surrogate is a caller bug: strict, unlike Encoding.UTF8's U+FFFD.
            Assert.Throws<ArgumentException>(() => Utf8.GetByteCount(s));
            Assert.Throws<ArgumentException>(() => Utf8.GetBytes(s, new byte[16], 0));
        }

        [Theory]
        [InlineData("c328")]      // truncated 2-octet sequence
        [InlineData("c0af")]      // overlong
        [InlineData("eda080")]    // encoded surrogate
        [InlineData("f4908080")]  // above U+10FFFF
        [InlineData("ff")]
        public void IsValidRejectsWhatAStrictDecoderRejects(string hex)
        {
            byte[] b = Hex.Decode(hex);
            Assert.Throws<DecoderFallbackException>(() => new UTF8Encoding(false, true).GetString(b));
            Assert.False(Utf8.IsValid(b, 0, b.Length));
        }
    }
}

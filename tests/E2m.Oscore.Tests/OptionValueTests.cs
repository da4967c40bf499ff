using System;
using E2m.TestSupport;
using Xunit;

namespace E2m.Oscore.Tests
{
    /// <summary>OSCORE option value, RFC 8613 §6.1 (and the compressed COSE examples of §6.3).</summary>
    public class OptionValueTests
    {
        [Theory]
        [InlineData("§6.3 ex1 request kid 25 piv 05", "090525", "05", "25", null)]
        [InlineData("§6.3 ex2 request empty kid piv 00", "0900", "00", "", null)]
        [InlineData("§6.3 ex3 request kid context", "19050544616c656b", "05", "", "44616c656b")]
        [InlineData("§6.3 ex4 response no piv", "", null, null, null)]
        [InlineData("§6.3 ex5 response piv 07", "0107", "07", null, null)]
        [InlineData("C.6 request", "19140837cbf3210017a2d3", "14", "", "37cbf3210017a2d3")]
        [InlineData("5-octet piv", "0dffffffffff07", "ffffffffff", "07", null)]
        public void EncodeAndParseRoundTrip(string label, string value, string? piv, string? kid, string? kidContext)
        {
            _ = label;
            var v = new OscoreOptionValue();
            if (piv != null)
            {
                byte[] p = Hex.Decode(piv);
                v.SetPiv(p, 0, p.Length);
            }

            if (kidContext != null)
            {
                byte[] c = Hex.Decode(kidContext);
                v.SetKidContext(c, 0, c.Length);
            }

            if (kid != null)
            {
                byte[] k = Hex.Decode(kid);
                v.SetKid(k, 0, k.Length);
            }

            byte[] buf = new byte[255];
            int n = v.Encode(buf, 0);
            Assert.Equal(value, Hex.Encode(buf, 0, n));
            Assert.Equal(n, v.EncodedLength);

            var parsed = new OscoreOptionValue();
            byte[] wire = Hex.Decode(value);
            Assert.True(parsed.TryParse(wire, 0, wire.Length));
            Assert.Equal(piv != null, parsed.HasPiv);
            Assert.Equal(piv ?? "", Hex.Encode(parsed.Piv, 0, parsed.PivLength));
            Assert.Equal(kid != null, parsed.HasKid);
            Assert.Equal(kid ?? "", Hex.Encode(parsed.Kid, 0, parsed.KidLength));
            Assert.Equal(kidContext != null, parsed.HasKidContext);
            Assert.Equal(kidContext ?? "", Hex.Encode(parsed.KidContext, 0, parsed.KidContextLength));
        }

        [Theory]
        [InlineData("flags all zero but value present (§2)", "00")]
        [InlineData("flags zero with trailing octet", "0001")]
        [InlineData("reserved bit 0x20 (§6.1)", "29 14")]
        [InlineData("reserved bit 0x40", "4914")]
        [InlineData("reserved bit 0x80 (extension)", "8914")]
        [InlineData("n = 6 reserved", "06010203040506")]
        [InlineData("n = 7 reserved", "0701020304050607")]
        [InlineData("piv truncated", "03 0102")]
        [InlineData("piv with leading zero (§5 minimal)", "020014")]
        [InlineData("kid context length missing", "11 14")]
        [InlineData("kid context truncated", "1114 05 0102")]
        [InlineData("trailing octets without k", "011400")]
        public void MalformedValuesAreRejected(string label, string value)
        {
            byte[] wire = Hex.Decode(value.Replace(" ", "", StringComparison.Ordinal));
            var v = new OscoreOptionValue();
            Assert.False(v.TryParse(wire, 0, wire.Length), label);
            OscoreException e = Assert.Throws<OscoreException>(() => v.Parse(wire, 0, wire.Length));
            Assert.Equal(OscoreError.MalformedOption, e.OscoreError);
            Assert.Equal(0x82, e.CoapCode); // 4.02 Bad Option, RFC 8613 §8.2 step 2
            Assert.Equal("Failed to decode COSE", e.Diagnostic);
            Assert.Equal((int)OscoreError.MalformedOption, e.Code);
        }

        [Fact]
        public void RandomValuesNeverThrowAndRoundTripWhenAccepted()
        {
            int seed = TestSeed.Get(610);
            var rng = new Random(seed);
            var v = new OscoreOptionValue();
            byte[] buf = new byte[300];
            for (int i = 0; i < 50_000; i++)
            {
                int len = rng.Next(0, 20);
                byte[] wire = new byte[len];
                rng.NextBytes(wire);
                if (len > 0 && rng.Next(2) == 0)
                {
                    wire[0] &= 0x1F; // mostly valid flag bytes
                }

                if (v.TryParse(wire, 0, len))
                {
                    int n = v.Encode(buf, 0);
                    Assert.True(Hex.Encode(wire) == Hex.Encode(buf, 0, n), $"seed {seed} value {Hex.Encode(wire)}");
                }
            }
        }

        [Fact]
        public void PartialIvEncodingIsMinimal()
        {
            byte[] b = new byte[5];
            Assert.Equal("00", Hex.Encode(b, 0, OscoreOptionValue.EncodePiv(0, b, 0)));
            Assert.Equal("14", Hex.Encode(b, 0, OscoreOptionValue.EncodePiv(20, b, 0)));
            Assert.Equal("ff", Hex.Encode(b, 0, OscoreOptionValue.EncodePiv(255, b, 0)));
            Assert.Equal("0100", Hex.Encode(b, 0, OscoreOptionValue.EncodePiv(256, b, 0)));
            Assert.Equal("ffffffffff", Hex.Encode(b, 0, OscoreOptionValue.EncodePiv(OscoreConstants.MaxSenderSequenceNumber, b, 0)));
        }

        [Fact]
        public void PeekFindsKidWithoutContext()
        {
            // C.5: kid 00, Partial IV 14.
            byte[] d = Hex.Decode("440271c30000b932396c6f63616c686f737463091400ff4ed339a5a379b0b8bc731fffb0");
            var v = new OscoreOptionValue();
            Assert.True(v.ReadFrom(d, 0, d.Length, new E2m.Coap.CoapMessage()));
            Assert.Equal("00", Hex.Encode(v.Kid, 0, v.KidLength));
            Assert.Equal(20, v.PivValue);

            byte[] plain = Hex.Decode("440171c30000b932396c6f63616c686f737483747631");
            Assert.False(v.ReadFrom(plain, 0, plain.Length, new E2m.Coap.CoapMessage()));
            Assert.False(v.HasKid);
        }
    }
}

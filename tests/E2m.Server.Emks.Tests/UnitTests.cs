using System;
using System.Collections.Generic;
using E2m.Hal;
using E2m.Server.Emks.Bootstrap;
using E2m.Server.Emks.Keys;
using E2m.TestSupport;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using SysCbor = System.Formats.Cbor;

namespace E2m.Server.Emks.Tests
{
    public sealed class BootstrapRequestTests
    {
        private static byte[] Cbor(Action<SysCbor.CborWriter> write)
        {
            var w = new SysCbor.CborWriter(SysCbor.CborConformanceMode.Lax);
            write(w);
            return w.Encode();
        }

        [Fact]
        public void Encoders_match_System_Formats_Cbor()
        {
            byte[] expected = Cbor(w => { w.WriteStartMap(1); w.WriteInt32(1); w.WriteTextString("001010000000001"); w.WriteEndMap(); });
            Assert.Equal(expected, BootstrapRequest.EncodeChallenge("001010000000001"));
            byte[] kid = Hex.Decode("73ffcbb15a4f8029"), res = Hex.Decode("a54211d5e3ba50bf");
            byte[] confirm = Cbor(w => { w.WriteStartMap(2); w.WriteInt32(5); w.WriteByteString(res); w.WriteInt32(6); w.WriteByteString(kid); w.WriteEndMap(); });
            Assert.Equal(confirm, BootstrapRequest.EncodeConfirm(kid, res));
        }

        [Fact]
        public void Kinds_are_decided_by_the_keys_present()
        {
            Assert.Equal(BootstrapRequestKind.Challenge, BootstrapRequest.Decode(BootstrapRequest.EncodeChallenge("00101123"), 0, BootstrapRequest.EncodeChallenge("00101123").Length).Kind);
            byte[] resync = BootstrapRequest.EncodeResync("001010000000001", new byte[16], new byte[14]);
            BootstrapRequest r = BootstrapRequest.Decode(resync, 0, resync.Length);
            Assert.Equal(BootstrapRequestKind.Resync, r.Kind);
            Assert.Equal(14, r.Auts!.Length);
            byte[] unknownKeyIgnored = Cbor(w => { w.WriteStartMap(2); w.WriteInt32(1); w.WriteTextString("001010000000001"); w.WriteInt32(99); w.WriteStartArray(1); w.WriteInt32(1); w.WriteEndArray(); w.WriteEndMap(); });
            Assert.Equal(BootstrapRequestKind.Challenge, BootstrapRequest.Decode(unknownKeyIgnored, 0, unknownKeyIgnored.Length).Kind);
        }

        public static IEnumerable<object[]> Invalid()
        {
            yield return new object[] { "array, not a map", Cbor(w => { w.WriteStartArray(0); w.WriteEndArray(); }), BootstrapError.NotAMap };
            yield return new object[] { "IMSI as bytes", Cbor(w => { w.WriteStartMap(1); w.WriteInt32(1); w.WriteByteString(new byte[8]); w.WriteEndMap(); }), BootstrapError.BadImsi };
            yield return new object[] { "IMSI 16 digits", Cbor(w => { w.WriteStartMap(1); w.WriteInt32(1); w.WriteTextString("0010100000000012"); w.WriteEndMap(); }), BootstrapError.BadImsi };
            yield return new object[] { "IMSI with a letter", Cbor(w => { w.WriteStartMap(1); w.WriteInt32(1); w.WriteTextString("00101000000000a"); w.WriteEndMap(); }), BootstrapError.BadImsi };
            yield return new object[] { "duplicate key", Cbor(w => { w.WriteStartMap(2); w.WriteInt32(1); w.WriteTextString("00101"); w.WriteInt32(1); w.WriteTextString("00101"); w.WriteEndMap(); }), BootstrapError.DuplicateKey };
            yield return new object[] { "text key", Cbor(w => { w.WriteStartMap(1); w.WriteTextString("imsi"); w.WriteTextString("00101"); w.WriteEndMap(); }), BootstrapError.NotAMap };
            yield return new object[] { "RAND 15 octets", Cbor(w => { w.WriteStartMap(3); w.WriteInt32(1); w.WriteTextString("00101"); w.WriteInt32(2); w.WriteByteString(new byte[15]); w.WriteInt32(9); w.WriteByteString(new byte[14]); w.WriteEndMap(); }), BootstrapError.BadRand };
            yield return new object[] { "AUTS without RAND", Cbor(w => { w.WriteStartMap(2); w.WriteInt32(1); w.WriteTextString("00101"); w.WriteInt32(9); w.WriteByteString(new byte[14]); w.WriteEndMap(); }), BootstrapError.UnknownCombination };
            yield return new object[] { "RES 17 octets", Cbor(w => { w.WriteStartMap(2); w.WriteInt32(6); w.WriteByteString(new byte[8]); w.WriteInt32(5); w.WriteByteString(new byte[17]); w.WriteEndMap(); }), BootstrapError.BadRes };
            yield return new object[] { "KID 7 octets", Cbor(w => { w.WriteStartMap(2); w.WriteInt32(6); w.WriteByteString(new byte[7]); w.WriteInt32(5); w.WriteByteString(new byte[8]); w.WriteEndMap(); }), BootstrapError.BadKid };
            yield return new object[] { "IMSI and KID", Cbor(w => { w.WriteStartMap(3); w.WriteInt32(1); w.WriteTextString("00101"); w.WriteInt32(6); w.WriteByteString(new byte[8]); w.WriteInt32(5); w.WriteByteString(new byte[8]); w.WriteEndMap(); }), BootstrapError.UnknownCombination };
            yield return new object[] { "empty map", Cbor(w => { w.WriteStartMap(0); w.WriteEndMap(); }), BootstrapError.UnknownCombination };
        }

        [Theory]
        [MemberData(nameof(Invalid))]
        public void Invalid_requests_are_typed_rejections(string label, byte[] cbor, BootstrapError error)
        {
            _ = label;
            var e = Assert.Throws<BootstrapFormatException>(() => BootstrapRequest.Decode(cbor, 0, cbor.Length));
            Assert.Equal(error, e.Error);
        }

        [Theory]
        [InlineData("")]
        [InlineData("a1")]           // truncated map
        [InlineData("a10178")]       // truncated text header
        [InlineData("bf01ff")]       // indefinite map
        [InlineData("a1016430303130ff")] // trailing bytes
        public void Malformed_cbor_is_MalformedInputException_or_typed(string hex)
        {
            byte[] b = Hex.Decode(hex);
            Exception e = Record.Exception(() => BootstrapRequest.Decode(b, 0, b.Length))!;
            Assert.True(e is MalformedInputException || e is BootstrapFormatException, e.GetType().Name);
        }
    }

    public sealed class TokenBucketTests
    {
        [Fact]
        public void Burst_then_one_token_per_interval_on_the_fake_clock()
        {
            var clock = new FakeTimeProvider();
            var b = new TokenBucketRateLimiter(3, TimeSpan.FromSeconds(10), clock);
            for (int i = 0; i < 3; i++) Assert.True(b.TryAcquire("k", out _));
            Assert.False(b.TryAcquire("k", out TimeSpan retry));
            Assert.Equal(TimeSpan.FromSeconds(10), retry);
            Assert.True(b.TryAcquire("other", out _)); // per key
            clock.Advance(TimeSpan.FromSeconds(9));
            Assert.False(b.TryAcquire("k", out retry));
            Assert.Equal(TimeSpan.FromSeconds(1), retry);
            clock.Advance(TimeSpan.FromSeconds(1));
            Assert.True(b.TryAcquire("k", out _));
            Assert.False(b.TryAcquire("k", out _));
            clock.Advance(TimeSpan.FromSeconds(25)); // 2 tokens back, 5 s of the third interval kept
            Assert.True(b.TryAcquire("k", out _));
            Assert.True(b.TryAcquire("k", out _));
            Assert.False(b.TryAcquire("k", out retry));
            Assert.Equal(TimeSpan.FromSeconds(5), retry);
            clock.Advance(TimeSpan.FromHours(1));
            for (int i = 0; i < 3; i++) Assert.True(b.TryAcquire("k", out _)); // capped at capacity
            Assert.False(b.TryAcquire("k", out _));
        }

        [Fact]
        public void Memory_is_bounded()
        {
            var clock = new FakeTimeProvider();
            var b = new TokenBucketRateLimiter(1, TimeSpan.FromSeconds(1), clock, maxKeys: 100);
            for (int i = 0; i < 10_000; i++) b.TryAcquire("k" + i, out _);
            Assert.True(b.TrackedKeys <= 100);
        }
    }

    public sealed class OptionsTests
    {
        [Fact]
        public void Invalid_options_fail_at_build_with_every_problem_named()
        {
            var o = new EmksOptions
            {
                ListenAddress = "localhost-not-an-ip",
                HttpsPort = 70000,
                PseudonymSecret = "abcd",
                Bootstrap = new BootstrapOptions { Enabled = true, ImsiBurst = 0 },
                Hss = new HssClientOptions { BaseUrl = null },
            };
            var e = Assert.Throws<OptionsValidationException>(() => EmksApp.Build(o));
            string all = string.Join("\n", e.Failures);
            foreach (string name in new[] { "ListenAddress", "HttpsPort", "PseudonymSecret", "ImsiBurst", "Hss:BaseUrl" })
            {
                Assert.Contains(name, all);
            }

            Assert.DoesNotContain("abcd", all); // never echo a secret value
        }
    }

    public sealed class KidAndPseudonymTests
    {
        [Theory]
        [InlineData("73ffcbb15a4f8029", true)]
        [InlineData("73FFCBB15A4F80", true)]
        [InlineData("73ffcbb15a4f", false)]
        [InlineData("", false)]
        [InlineData("73ffcbb15a4f80g9", false)]
        public void Kid_text(string text, bool ok) => Assert.Equal(ok, KidText.TryParse(text, out _));

        [Fact]
        public void Base32_rfc4648_section_10_vectors_lowercase_unpadded()
        {
            // RFC 4648 §10: BASE32("foobar") = "MZXW6YTBOI======"
            Assert.Equal("mzxw6ytboi", DevicePseudonym.Base32Lower("foobar"u8));
            Assert.Equal("my", DevicePseudonym.Base32Lower("f"u8));
            Assert.Equal("mzxq", DevicePseudonym.Base32Lower("fo"u8));
        }

        [Fact]
        public void Pseudonyms_differ_per_emse_and_subscription_and_are_unambiguous()
        {
            var p = new DevicePseudonym(new byte[32]);
            Assert.NotEqual(p.Pseudonym("a.example", "s1"), p.Pseudonym("b.example", "s1"));
            Assert.NotEqual(p.Pseudonym("a.example", "s1"), p.Pseudonym("a.example", "s2"));
            Assert.NotEqual(p.Pseudonym("a.exampl", "es1"), p.Pseudonym("a.example", "s1")); // length prefix
            Assert.Equal("ext", p.DeviceIdFor("a.example", "s1", "ext"));
        }
    }
}

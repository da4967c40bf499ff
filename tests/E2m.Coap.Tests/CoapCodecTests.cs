using System;
using System.Text;
using E2m.Hal;
using E2m.TestSupport;
using Xunit;

namespace E2m.Coap.Tests
{
    public class CoapCodecTests
    {
        private static byte[] Encode(CoapMessage m)
        {
            var buf = new byte[CoapCodec.GetEncodedLength(m) + 3];
            int n = CoapCodec.Encode(m, buf, 3);
            Assert.Equal(CoapCodec.GetEncodedLength(m), n);
            return buf.AsSpan(3, n).ToArray();
        }

        [Fact]
        public void Rfc7252_AppendixA_GetTemperature_Request()
        {
            // RFC 7252 App. A Figure 16-style: CON GET /temperature, MID 0x7d34, no token.
            var m = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Get, MessageId = 0x7d34 };
            m.AddUriPath("temperature");
            Assert.Equal("40017d34" + "bb" + Hex.Encode(Encoding.ASCII.GetBytes("temperature")), Hex.Encode(Encode(m)));
        }

        [Fact]
        public void Rfc7252_AppendixA_PiggybackedResponse()
        {
            // ACK 2.05 MID 0x7d34, payload "22.3 C"
            var payload = Encoding.ASCII.GetBytes("22.3 C");
            var m = new CoapMessage { Type = CoapType.Acknowledgement, Code = CoapCode.Content, MessageId = 0x7d34 };
            m.SetPayload(payload, 0, payload.Length);
            var bytes = Encode(m);
            Assert.Equal("60457d34ff" + Hex.Encode(payload), Hex.Encode(bytes));

            var d = new CoapMessage();
            CoapCodec.Decode(bytes, 0, bytes.Length, d);
            Assert.Equal(CoapType.Acknowledgement, d.Type);
            Assert.Equal(2, CoapCode.ClassOf(d.Code));
            Assert.Equal(5, CoapCode.DetailOf(d.Code));
            Assert.Equal(0x7d34, d.MessageId);
            Assert.Equal(0, d.OptionCount);
            Assert.Equal("22.3 C", Encoding.ASCII.GetString(d.PayloadBuffer, d.PayloadOffset, d.PayloadLength));
        }

        // RFC 8613 Appendix C.4 "Unprotected CoAP request" and C.7 "Unprotected CoAP response" (RFC text).
        private const string Rfc8613C4Request = "44015d1f00003974396c6f63616c686f737483747631";
        private const string Rfc8613C7Response = "64455d1f00003974ff48656c6c6f20576f726c6421";

        [Fact]
        public void Rfc8613_C4_UnprotectedRequest_EncodeAndDecode()
        {
            var m = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Get, MessageId = 0x5d1f };
            m.SetToken(Hex.Decode("00003974"), 0, 4);
            m.AddUriPath("tv1");                       // added out of order on purpose: table sorts
            m.AddOptionString(CoapOption.UriHost, "localhost");
            Assert.Equal(Rfc8613C4Request, Hex.Encode(Encode(m)));

            var bytes = Hex.Decode(Rfc8613C4Request);
            var d = new CoapMessage();
            CoapCodec.Decode(bytes, 0, bytes.Length, d);
            Assert.Equal(2, d.OptionCount);
            Assert.Equal(CoapOption.UriHost, d.GetOptionNumber(0));
            Assert.Equal(CoapOption.UriPath, d.GetOptionNumber(1));
            Assert.Equal("tv1", Encoding.ASCII.GetString(d.GetOptionBuffer(1), d.GetOptionOffset(1), d.GetOptionLength(1)));
            Assert.Same(bytes, d.GetOptionBuffer(1));   // references the datagram, no copy
            Assert.Equal(Rfc8613C4Request, Hex.Encode(Encode(d)));
        }

        [Fact]
        public void Rfc8613_C7_UnprotectedResponse_RoundTrip()
        {
            var bytes = Hex.Decode(Rfc8613C7Response);
            var d = new CoapMessage();
            CoapCodec.Decode(bytes, 0, bytes.Length, d);
            Assert.Equal(CoapType.Acknowledgement, d.Type);
            Assert.Equal(CoapCode.Content, d.Code);
            Assert.True(d.TokenEquals(Hex.Decode("00003974"), 0, 4));
            Assert.Equal("Hello World!", Encoding.ASCII.GetString(d.PayloadBuffer, d.PayloadOffset, d.PayloadLength));
            Assert.Equal(Rfc8613C7Response, Hex.Encode(Encode(d)));
        }

        [Fact]
        public void E2mReadingsRequest_PostRSenmlCbor()
        {
            // DESIGN §4: POST /r, Content-Format 112
            var m = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Post, MessageId = 1 };
            m.SetContentFormat(CoapContentFormat.SenmlCbor);
            m.AddUriPath("r");
            var bytes = Encode(m);
            // Uri-Path 11: delta 11 len 1 'r'; Content-Format 12: delta 1 len 1 0x70
            Assert.Equal("40020001" + "b172" + "1170", Hex.Encode(bytes));
            var d = new CoapMessage();
            CoapCodec.Decode(bytes, 0, bytes.Length, d);
            Assert.Equal(112, d.GetContentFormat());
        }

        public static TheoryData<int, string> DeltaBoundaries => new()
        {
            // option number (delta from 0) → expected head + extension bytes, RFC 7252 §3.1
            { 12, "c0" },           // fits the nibble
            { 13, "d000" },         // 13: one extension octet, value-13
            { 268, "d0ff" },        // last one-octet form
            { 269, "e00000" },      // 14: two extension octets, value-269
            { 65535, "e0fef2" },    // largest option number (65535-269 = 0xfef2)
        };

        [Theory]
        [MemberData(nameof(DeltaBoundaries))]
        public void OptionDelta_ExtendedForms(int number, string expected)
        {
            var m = new CoapMessage { Type = CoapType.NonConfirmable, Code = CoapCode.Get, MessageId = 0 };
            m.AddOption(number, new byte[0], 0, 0);
            var bytes = Encode(m);
            Assert.Equal("50010000" + expected, Hex.Encode(bytes));
            var d = new CoapMessage();
            CoapCodec.Decode(bytes, 0, bytes.Length, d);
            Assert.Equal(number, d.GetOptionNumber(0));
        }

        public static TheoryData<int, string> LengthBoundaries => new()
        {
            { 12, "0c" }, { 13, "0d00" }, { 268, "0dff" }, { 269, "0e0000" }, { 65804, "0effff" },
        };

        [Theory]
        [MemberData(nameof(LengthBoundaries))]
        public void OptionLength_ExtendedForms(int length, string expectedHead)
        {
            var value = new byte[length];
            new Random(length).NextBytes(value);
            var m = new CoapMessage { Type = CoapType.NonConfirmable, Code = CoapCode.Get, MessageId = 0 };
            m.AddOption(0, value, 0, length);   // option 0: delta 0 isolates the length form
            var bytes = Encode(m);
            Assert.Equal("50010000" + expectedHead, Hex.Encode(bytes, 0, 4 + expectedHead.Length / 2));
            Assert.Equal(4 + expectedHead.Length / 2 + length, bytes.Length);
            var d = new CoapMessage();
            CoapCodec.Decode(bytes, 0, bytes.Length, d);
            Assert.Equal(length, d.GetOptionLength(0));
            Assert.Equal(value, d.GetOptionBuffer(0).AsSpan(d.GetOptionOffset(0), length).ToArray());
        }

        [Fact]
        public void RepeatedOptions_KeepOrder_AndDeltaZero()
        {
            var m = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Get, MessageId = 7 };
            m.AddUriPath("a");
            m.AddUriPath("bb");
            m.AddOptionUInt(CoapOption.Observe, 0);
            var bytes = Encode(m);
            Assert.Equal("40010007" + "60" + "51" + "61" + "0262" + "62", Hex.Encode(bytes));
            var d = new CoapMessage();
            CoapCodec.Decode(bytes, 0, bytes.Length, d);
            Assert.Equal(3, d.OptionCount);
            Assert.Equal(1, d.FindOption(CoapOption.UriPath));
            Assert.Equal(2, d.FindOption(CoapOption.UriPath, 2));
            Assert.Equal(0u, d.GetOptionUInt(0, 3));
        }

        [Fact]
        public void RebuildWithSubsetOfOptions_AsOscoreWould()
        {
            var src = Hex.Decode(Rfc8613C4Request);
            var full = new CoapMessage();
            CoapCodec.Decode(src, 0, src.Length, full);
            var outer = new CoapMessage();
            outer.CopyHeaderFrom(full);
            for (int i = 0; i < full.OptionCount; i++)
            {
                if (full.GetOptionNumber(i) == CoapOption.UriHost) // Class U, RFC 8613 §4.1
                    outer.AddOption(full.GetOptionNumber(i), full.GetOptionBuffer(i), full.GetOptionOffset(i), full.GetOptionLength(i));
            }
            outer.AddOption(CoapOption.Oscore, Hex.Decode("0914"), 0, 2);
            var payload = new byte[] { 1, 2, 3 };
            outer.SetPayload(payload, 0, 3);
            Assert.Equal("44015d1f00003974" + "396c6f63616c686f7374" + "620914" + "ff010203", Hex.Encode(Encode(outer)));
        }

        [Fact]
        public void OptionsAndPayload_Alone_AsInOscorePlaintext()
        {
            // RFC 8613 §5.3: plaintext = inner Code || Class E options || 0xFF || payload
            var m = new CoapMessage { Code = CoapCode.Get };
            m.AddUriPath("tv1");
            var buf = new byte[16];
            int n = CoapCodec.EncodeOptionsAndPayload(m, buf, 1);
            Assert.Equal(CoapCodec.GetOptionsAndPayloadLength(m), n);
            Assert.Equal("b3747631", Hex.Encode(buf, 1, n));   // C.4 plaintext after the code 0x01

            var inner = Hex.Decode("b3747631ff010203");
            var d = new CoapMessage();
            d.CopyHeaderFrom(m);
            d.AddUriPath("stale");
            CoapCodec.DecodeOptionsAndPayload(inner, 0, inner.Length, d);
            Assert.Equal(1, d.OptionCount);
            Assert.Equal(CoapCode.Get, d.Code);
            Assert.Equal(3, d.PayloadLength);
            Assert.Equal(CoapOption.UriPath, d.GetOptionNumber(0));
            var bad = Hex.Decode("f0");
            Assert.Equal(InputError.CoapReservedOptionDelta, Assert.Throws<CoapFormatException>(() => CoapCodec.DecodeOptionsAndPayload(bad, 0, 1, d)).Error);
        }

        public static TheoryData<string, string, InputError> Malformed => new()
        {
            { "short header", "4001", InputError.CoapTruncatedHeader },
            { "version 0", "00010001", InputError.CoapBadVersion },
            { "version 2", "80010001", InputError.CoapBadVersion },
            { "version 3", "c0010001", InputError.CoapBadVersion },
            { "TKL 9", "49010001" + "000000000000000000", InputError.CoapBadTokenLength },
            { "TKL 15", "4f010001" + "000000000000000000000000000000", InputError.CoapBadTokenLength },
            { "token truncated", "44010001" + "0000", InputError.CoapTruncatedToken },
            { "delta 15, length 0", "40010001" + "f0", InputError.CoapReservedOptionDelta },
            { "delta 15 with value", "40010001" + "f1" + "00", InputError.CoapReservedOptionDelta },
            { "length 15", "40010001" + "bf" + "00", InputError.CoapReservedOptionLength },
            { "delta 13 truncated", "40010001" + "d0", InputError.CoapTruncatedOptionExtension },
            { "delta 14 truncated", "40010001" + "e0" + "01", InputError.CoapTruncatedOptionExtension },
            { "length 13 truncated", "40010001" + "bd", InputError.CoapTruncatedOptionExtension },
            { "length 14 truncated", "40010001" + "be" + "00", InputError.CoapTruncatedOptionExtension },
            { "value truncated", "40010001" + "b3" + "7878", InputError.CoapTruncatedOptionValue },
            { "option number > 65535", "40010001" + "e0fef2" + "10", InputError.CoapOptionNumberTooLarge },
            { "marker, empty payload", "40010001" + "ff", InputError.CoapEmptyPayloadAfterMarker },
            { "empty message with token", "41000001" + "00", InputError.CoapNonEmptyEmptyMessage },
            { "empty message with payload", "40000001" + "ff00", InputError.CoapNonEmptyEmptyMessage },
        };

        [Theory]
        [MemberData(nameof(Malformed))]
        public void Decode_Rejects_WithTypedError(string label, string hex, InputError expected)
        {
            var bytes = Hex.Decode(hex);
            var ex = Assert.Throws<CoapFormatException>(() => CoapCodec.Decode(bytes, 0, bytes.Length, new CoapMessage()));
            Assert.True(expected == ex.Error, label + ": got " + ex.Error);
            Assert.Equal((int)expected, ex.Code);
            Assert.False(string.IsNullOrEmpty(ex.Message));
        }

        [Fact]
        public void Decode_TooManyOptions_IsTyped()
        {
            var m = new CoapMessage(32, 64) { Type = CoapType.Confirmable, Code = CoapCode.Get, MessageId = 1 };
            for (int i = 0; i < 20; i++) m.AddOption(2000 + i, new byte[0], 0, 0);
            var bytes = Encode(m);
            var ex = Assert.Throws<CoapFormatException>(() => CoapCodec.Decode(bytes, 0, bytes.Length, new CoapMessage(4, 0)));
            Assert.Equal(InputError.CoapTooManyOptions, ex.Error);
        }

        [Fact]
        public void EmptyAck_And_Rst()
        {
            var ack = Hex.Decode("60001234");
            var d = new CoapMessage();
            CoapCodec.Decode(ack, 0, 4, d);
            Assert.Equal(CoapType.Acknowledgement, d.Type);
            Assert.Equal(CoapCode.Empty, d.Code);
            Assert.Equal(0x1234, d.MessageId);
            CoapCodec.Decode(Hex.Decode("70001234"), 0, 4, d);
            Assert.Equal(CoapType.Reset, d.Type);
        }

        [Fact]
        public void Decode_AtOffset_WithinLargerBuffer()
        {
            var inner = Hex.Decode(Rfc8613C4Request);
            var buf = new byte[inner.Length + 10];
            Array.Fill(buf, (byte)0xff);
            inner.CopyTo(buf, 5);
            var d = new CoapMessage();
            CoapCodec.Decode(buf, 5, inner.Length, d);
            Assert.Equal(2, d.OptionCount);
            Assert.Equal(0, d.PayloadLength);
        }

        [Fact]
        public void Encode_BufferTooSmall_IsArgumentException()
        {
            var m = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Get, MessageId = 1 };
            m.AddUriPath("temperature");
            Assert.ThrowsAny<ArgumentException>(() => CoapCodec.Encode(m, new byte[10], 0));
        }

        [Fact]
        public void MessageIds_And_Tokens()
        {
            var ids = new CoapMessageIdSource(new SeededEntropy(new byte[] { 0xff, 0xfe }));
            Assert.Equal(0xfffe, ids.Next());
            Assert.Equal(0xffff, ids.Next());
            Assert.Equal(0, ids.Next());

            var tokens = new CoapTokenSource(new SeededEntropy(new byte[] { 1, 2, 3, 4, 5 }));
            var m = new CoapMessage();
            tokens.Assign(m);
            Assert.Equal("01020304", Hex.Encode(m.Token, 0, m.TokenLength));
            tokens.Assign(m);
            Assert.Equal("05010203", Hex.Encode(m.Token, 0, m.TokenLength));
        }

        [Fact]
        public void CodeHelpers()
        {
            Assert.Equal(CoapCode.Changed, CoapCode.Make(2, 4));
            Assert.Equal(CoapCode.Unauthorized, CoapCode.Make(4, 1));
            Assert.True(CoapCode.IsRequest(CoapCode.Post));
            Assert.False(CoapCode.IsRequest(CoapCode.Empty));
            Assert.True(CoapCode.IsResponse(CoapCode.BadRequest));
            Assert.True(CoapOption.IsCritical(CoapOption.UriPath));
            Assert.False(CoapOption.IsCritical(CoapOption.ContentFormat));
            Assert.True(CoapOption.IsUnsafe(CoapOption.UriHost));
            Assert.True(CoapOption.IsNoCacheKey(CoapOption.Size1));
        }
    }
}

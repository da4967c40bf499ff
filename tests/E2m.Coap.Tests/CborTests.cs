using System;
using System.Collections.Generic;
using System.Formats.Cbor;
using System.Text;
using E2m.Hal;
using E2m.TestSupport;
using Xunit;
using MsReader = System.Formats.Cbor.CborReader;
using MsWriter = System.Formats.Cbor.CborWriter;

namespace E2m.Coap.Tests
{
    /// <summary>Random CBOR trees, written by our writer and by System.Formats.Cbor (the oracle).</summary>
    internal static class CborTree
    {
        internal sealed class Node
        {
            public int Kind; // 0 uint,1 int,2 bytes,3 text,4 array,5 map,6 null,7 bool,8 half,9 single,10 double
            public ulong U;
            public long I;
            public byte[] B = Array.Empty<byte>();
            public string S = "";
            public List<Node> Items = new();
            public List<long> Keys = new();
        }

        public static Node Random(Random r, int depth)
        {
            int kind = r.Next(depth > 3 ? 4 : 6) switch { 4 => 4, 5 => 5, var k => k };
            if (kind < 4 && r.Next(3) == 0) kind = 6 + r.Next(5);
            var n = new Node { Kind = kind };
            switch (kind)
            {
                case 0: n.U = RandomMagnitude(r); break;
                case 1: n.I = (long)RandomMagnitude(r) * (r.Next(2) == 0 ? 1 : -1); if (r.Next(50) == 0) n.I = long.MinValue; break;
                case 2: n.B = new byte[r.Next(r.Next(4) == 0 ? 300 : 30)]; r.NextBytes(n.B); break;
                case 3: n.S = RandomString(r); break;
                case 4: for (int i = r.Next(r.Next(6) == 0 ? 30 : 5); i > 0; i--) n.Items.Add(Random(r, depth + 1)); break;
                case 5:
                    var used = new HashSet<long>();
                    for (int i = r.Next(6); i > 0; i--)
                    {
                        long k = r.Next(-30, 300);
                        if (!used.Add(k)) continue;
                        n.Keys.Add(k);
                        n.Items.Add(Random(r, depth + 1));
                    }
                    break;
                case 7: n.U = (ulong)r.Next(2); break;
                case 8: n.U = (ulong)r.Next(0x10000); break;
                case 9: n.U = (uint)r.NextInt64(0, 1L << 32); break;
                case 10: n.U = (ulong)r.NextInt64() ^ ((ulong)r.Next(2) << 63); break;
            }
            return n;
        }

        private static ulong RandomMagnitude(Random r)
        {
            switch (r.Next(6))
            {
                case 0: return (ulong)r.Next(24);
                case 1: return (ulong)r.Next(24, 256);
                case 2: return (ulong)r.Next(256, 65536);
                case 3: return (ulong)r.NextInt64(65536, 1L << 32);
                case 4: return (ulong)r.NextInt64(1L << 32, long.MaxValue);
                default: return new ulong[] { 23, 24, 255, 256, 65535, 65536, 0xFFFFFFFF, 0x100000000 }[r.Next(8)];
            }
        }

        private static string RandomString(Random r)
        {
            var sb = new StringBuilder();
            int n = r.Next(r.Next(5) == 0 ? 100 : 12);
            for (int i = 0; i < n; i++)
            {
                switch (r.Next(4))
                {
                    case 0: sb.Append((char)r.Next(0x20, 0x7f)); break;
                    case 1: sb.Append((char)r.Next(0x80, 0x800)); break;
                    case 2: sb.Append((char)r.Next(0xE000, 0x10000)); break;
                    default: sb.Append(char.ConvertFromUtf32(r.Next(0x10000, 0x110000))); break;
                }
            }
            return sb.ToString();
        }

        public static void WriteOurs(E2m.Coap.CborWriter w, Node n)
        {
            switch (n.Kind)
            {
                case 0: w.WriteUInt(n.U); break;
                case 1: w.WriteInt(n.I); break;
                case 2: w.WriteByteString(n.B, 0, n.B.Length); break;
                case 3:
                    if (n.S.Length % 2 == 0) w.WriteTextString(n.S);
                    else { var u = Encoding.UTF8.GetBytes(n.S); w.WriteTextString(u, 0, u.Length); }
                    break;
                case 4: w.WriteArrayHeader(n.Items.Count); foreach (var i in n.Items) WriteOurs(w, i); break;
                case 5:
                    w.WriteMapHeader(n.Items.Count);
                    for (int i = 0; i < n.Items.Count; i++) { w.WriteInt(n.Keys[i]); WriteOurs(w, n.Items[i]); }
                    break;
                case 6: w.WriteNull(); break;
                case 7: w.WriteBool(n.U == 1); break;
                case 8: w.WriteFloat16FromBits((ushort)n.U); break;
                case 9: w.WriteFloat32FromBits((uint)n.U); break;
                case 10: w.WriteFloat64FromBits(n.U); break;
            }
        }

        public static void WriteOracle(MsWriter w, Node n)
        {
            switch (n.Kind)
            {
                case 0: w.WriteUInt64(n.U); break;
                case 1: w.WriteInt64(n.I); break;
                case 2: w.WriteByteString(n.B); break;
                case 3: w.WriteTextString(n.S); break;
                case 4: w.WriteStartArray(n.Items.Count); foreach (var i in n.Items) WriteOracle(w, i); w.WriteEndArray(); break;
                case 5:
                    w.WriteStartMap(n.Items.Count);
                    for (int i = 0; i < n.Items.Count; i++) { w.WriteInt64(n.Keys[i]); WriteOracle(w, n.Items[i]); }
                    w.WriteEndMap();
                    break;
                case 6: w.WriteNull(); break;
                case 7: w.WriteBoolean(n.U == 1); break;
                default: w.WriteEncodedValue(FloatBytes(n)); break;
            }
        }

        public static byte[] FloatBytes(Node n)
        {
            int size = n.Kind == 8 ? 2 : n.Kind == 9 ? 4 : 8;
            var b = new byte[1 + size];
            b[0] = (byte)(n.Kind == 8 ? 0xF9 : n.Kind == 9 ? 0xFA : 0xFB);
            for (int i = 0; i < size; i++) b[1 + i] = (byte)(n.U >> (8 * (size - 1 - i)));
            return b;
        }

        /// <summary>Reads with System.Formats.Cbor and compares with the tree.</summary>
        public static void Verify(MsReader r, Node n)
        {
            switch (n.Kind)
            {
                case 0: Assert.Equal(n.U, r.ReadUInt64()); break;
                case 1: Assert.Equal(n.I, r.ReadInt64()); break;
                case 2: Assert.Equal(n.B, r.ReadByteString()); break;
                case 3: Assert.Equal(n.S, r.ReadTextString()); break;
                case 4: Assert.Equal(n.Items.Count, r.ReadStartArray()); foreach (var i in n.Items) Verify(r, i); r.ReadEndArray(); break;
                case 5:
                    Assert.Equal(n.Items.Count, r.ReadStartMap());
                    for (int i = 0; i < n.Items.Count; i++) { Assert.Equal(n.Keys[i], r.ReadInt64()); Verify(r, n.Items[i]); }
                    r.ReadEndMap();
                    break;
                case 6: r.ReadNull(); break;
                case 7: Assert.Equal(n.U == 1, r.ReadBoolean()); break;
                case 8: Assert.Equal((ushort)n.U, BitConverter.HalfToUInt16Bits(r.ReadHalf())); break;
                case 9: Assert.Equal((uint)n.U, BitConverter.SingleToUInt32Bits(r.ReadSingle())); break;
                case 10: Assert.Equal(n.U, BitConverter.DoubleToUInt64Bits(r.ReadDouble())); break;
            }
        }
    }

    public class CborTests
    {
        [Fact]
        public void RandomStructures_WriterOutput_DecodedBySystemFormatsCbor_AndByteEqualToOracle()
        {
            const int seed = 20240607;
            var rnd = new Random(seed);
            var buf = new byte[1 << 16];
            for (int iter = 0; iter < 3000; iter++)
            {
                var tree = CborTree.Random(rnd, 0);
                var w = new E2m.Coap.CborWriter(buf, 7, buf.Length - 7);
                CborTree.WriteOurs(w, tree);
                var ours = buf.AsSpan(7, w.Length).ToArray();

                var oracle = new MsWriter(CborConformanceMode.Lax);
                CborTree.WriteOracle(oracle, tree);
                Assert.True(oracle.Encode().AsSpan().SequenceEqual(ours), $"seed {seed} iter {iter}: {Hex.Encode(ours)} vs {Hex.Encode(oracle.Encode())}");

                var r = new MsReader(ours, CborConformanceMode.Strict);
                CborTree.Verify(r, tree);
                Assert.Equal(0, r.BytesRemaining);

                // and our reader walks the oracle's bytes
                var ourReader = new E2m.Coap.CborReader(ours, 0, ours.Length);
                ourReader.MaxDepth = 64;
                ourReader.SkipValue();
                ourReader.ExpectEnd();
            }
        }

        [Theory]
        [InlineData(0UL, "00")]
        [InlineData(23UL, "17")]
        [InlineData(24UL, "1818")]
        [InlineData(255UL, "18ff")]
        [InlineData(256UL, "190100")]
        [InlineData(65535UL, "19ffff")]
        [InlineData(65536UL, "1a00010000")]
        [InlineData(4294967295UL, "1affffffff")]
        [InlineData(4294967296UL, "1b0000000100000000")]
        [InlineData(18446744073709551615UL, "1bffffffffffffffff")]
        public void UInt_PreferredSerialization_Rfc8949_AppendixA(ulong value, string hex)
        {
            var buf = new byte[9];
            var w = new E2m.Coap.CborWriter(buf, 0, 9);
            w.WriteUInt(value);
            Assert.Equal(hex, Hex.Encode(buf, 0, w.Length));
            var r = new E2m.Coap.CborReader(buf, 0, w.Length);
            Assert.Equal(value, r.ReadUInt());
        }

        [Theory]
        [InlineData(-1L, "20")]
        [InlineData(-10L, "29")]
        [InlineData(-100L, "3863")]
        [InlineData(-1000L, "3903e7")]
        [InlineData(long.MinValue, "3b7fffffffffffffff")]
        public void NegativeInt_Rfc8949_AppendixA(long value, string hex)
        {
            var buf = new byte[9];
            var w = new E2m.Coap.CborWriter(buf, 0, 9);
            w.WriteInt(value);
            Assert.Equal(hex, Hex.Encode(buf, 0, w.Length));
            Assert.Equal(value, new E2m.Coap.CborReader(buf, 0, w.Length).ReadInt());
        }

        [Fact]
        public void OscoreInfo_Rfc8613_C1_1_SenderKey()
        {
            // info = [ id, id_context, alg_aead, type, L ] = [h'', null, 10, "Key", 16], RFC 8613 §3.2.1, C.1.1
            var buf = new byte[32];
            var w = new E2m.Coap.CborWriter(buf, 0, buf.Length);
            w.WriteArrayHeader(5);
            w.WriteByteString(buf, 0, 0);
            w.WriteNull();
            w.WriteUInt(10);
            w.WriteTextString("Key");
            w.WriteUInt(16);
            Assert.Equal("8540f60a634b657910", Hex.Encode(buf, 0, w.Length));
        }

        [Fact]
        public void BufferFull_IsTyped_AndAllOrNothing()
        {
            var buf = new byte[4];
            var w = new E2m.Coap.CborWriter(buf, 0, 4);
            w.WriteUInt(1);
            Assert.Throws<CborBufferFullException>(() => w.WriteByteString(new byte[3], 0, 3)); // head 1 + 3 > 3 left
            Assert.Equal(1, w.Length);
            Assert.Throws<CborBufferFullException>(() => w.WriteTextString("abcd"));
            Assert.Equal(1, w.Length);
            Assert.Throws<CborBufferFullException>(() => w.WriteFloat32FromBits(0));
            w.WriteUInt(1000);
            Assert.Equal(4, w.Length);
            Assert.Throws<CborBufferFullException>(() => w.WriteNull());
            w.Truncate(1);
            w.Reset();
            Assert.Equal(0, w.Length);
        }

        [Fact]
        public void FloatPreferred_ShortestExactWidth()
        {
            var buf = new byte[9];
            foreach (var (d, size) in new[] { (0.0, 3), (-0.0, 3), (1.5, 3), (65504.0, 3), (65536.0, 5), (0.1, 9), (21.5, 3), (3.4028234663852886E38, 5), (1e300, 9), (5.960464477539063e-8, 3), (Math.Pow(2, -15), 3), (Math.Pow(2, -130), 5), (double.PositiveInfinity, 3), (double.NegativeInfinity, 3) })
            {
                var w = new E2m.Coap.CborWriter(buf, 0, 9);
                w.WriteFloatPreferred(BitConverter.DoubleToUInt64Bits(d));
                Assert.True(size == w.Length, $"{d}: {w.Length}");
                Assert.Equal(d, new MsReader(buf.AsMemory(0, w.Length)).ReadDouble());
                Assert.Equal(BitConverter.DoubleToUInt64Bits(d), new E2m.Coap.CborReader(buf, 0, w.Length).ReadFloatAsDoubleBits());
            }
        }

        /// <summary>
        /// RFC 8949 §4.1/§4.2.2: the shortest of half/single/double that holds the value exactly, subnormals and infinities
        /// included. Oracle: System.Formats.Cbor's WriteDouble, on every binary16 value and 200 000 random binary32 values
        /// (both widened to binary64) and 200 000 random binary64 values. NaN: ours keeps sign and payload in the shortest
        /// width that holds the payload (System.Formats.Cbor writes one canonical NaN), so NaNs are checked by round trip.
        /// </summary>
        [Fact]
        public void FloatPreferred_MatchesDotnetOnEveryHalfAndRandomSinglesAndDoubles()
        {
            var buf = new byte[9];
            void Check(ulong bits, string label)
            {
                var w = new E2m.Coap.CborWriter(buf, 0, 9);
                w.WriteFloatPreferred(bits);
                double d = BitConverter.UInt64BitsToDouble(bits);
                if (double.IsNaN(d))
                {
                    Assert.True(BitConverter.DoubleToUInt64Bits(BitConverter.UInt64BitsToDouble(new E2m.Coap.CborReader(buf, 0, w.Length).ReadFloatAsDoubleBits())) == bits, label);
                    return;
                }

                var oracle = new System.Formats.Cbor.CborWriter();
                oracle.WriteDouble(d);
                Assert.True(oracle.Encode().AsSpan().SequenceEqual(buf.AsSpan(0, w.Length)), $"{label}: ours {Convert.ToHexString(buf, 0, w.Length)} .NET {Convert.ToHexString(oracle.Encode())}");
            }

            for (int h = 0; h < 0x10000; h++)
            {
                Check(FloatBits.HalfToDouble((ushort)h), $"half {h:x4}");
            }

            var r = new Random(78);
            for (int i = 0; i < 200000; i++)
            {
                uint f = (uint)r.NextInt64(0, 1L << 32);
                if (i < 4096) f = (uint)i | (i % 2 == 0 ? 0u : 0x80000000u); // single subnormals
                Check(FloatBits.SingleToDouble(f), $"seed 78 single {f:x8}");
                Check((ulong)r.NextInt64() ^ ((ulong)r.Next(2) << 63), $"seed 78 double #{i}");
            }
        }

        [Fact]
        public void FloatWidening_AllHalves_AndRandomSingles_MatchDotnet()
        {
            for (int h = 0; h < 0x10000; h++)
            {
                double expected = (double)BitConverter.UInt16BitsToHalf((ushort)h);
                ulong ours = FloatBits.HalfToDouble((ushort)h);
                if (double.IsNaN(expected)) Assert.True(double.IsNaN(BitConverter.UInt64BitsToDouble(ours)));
                else Assert.True(BitConverter.DoubleToUInt64Bits(expected) == ours, $"half {h:x4}");
            }
            var r = new Random(77);
            for (int i = 0; i < 200000; i++)
            {
                uint f = (uint)r.NextInt64(0, 1L << 32);
                if (i < 512) f = (uint)i | (i % 2 == 0 ? 0u : 0x80000000u);   // subnormals
                double expected = BitConverter.UInt32BitsToSingle(f);
                ulong ours = FloatBits.SingleToDouble(f);
                if (double.IsNaN(expected)) Assert.True(double.IsNaN(BitConverter.UInt64BitsToDouble(ours)));
                else Assert.True(BitConverter.DoubleToUInt64Bits(expected) == ours, $"seed 77 single {f:x8}");
            }
        }

        public static TheoryData<string, string, InputError> MalformedCbor => new()
        {
            { "empty", "", InputError.CborTruncated },
            { "uint8 truncated", "18", InputError.CborTruncated },
            { "uint64 truncated", "1b00000000", InputError.CborTruncated },
            { "ai 28", "1c", InputError.CborReservedAdditionalInfo },
            { "ai 29", "3d", InputError.CborReservedAdditionalInfo },
            { "ai 30", "5e", InputError.CborReservedAdditionalInfo },
            { "indefinite bytes", "5f4100ff", InputError.CborIndefiniteLengthUnsupported },
            { "indefinite array", "9fff", InputError.CborIndefiniteLengthUnsupported },
            { "break alone", "ff", InputError.CborIndefiniteLengthUnsupported },
            { "bytes truncated", "4301", InputError.CborTruncated },
            { "huge string length", "5bffffffffffffffff00", InputError.CborTruncated },
            { "array count beyond input", "9a7fffffff00", InputError.CborTruncated },
            { "map missing value", "a101", InputError.CborTruncated },
            { "invalid utf8", "62c328", InputError.CborInvalidUtf8 },
            { "overlong utf8", "62c0af", InputError.CborInvalidUtf8 },
            { "surrogate in utf8", "63eda080", InputError.CborInvalidUtf8 },
            { "simple 2-octet < 32", "f810", InputError.CborNonPreferredEncoding },
            { "float truncated", "fa0000", InputError.CborTruncated },
            { "deep nesting", string.Concat(System.Linq.Enumerable.Repeat("81", 40)) + "00", InputError.CborNestingTooDeep },
            { "trailing", "0000", InputError.CborTrailingBytes },
        };

        [Theory]
        [MemberData(nameof(MalformedCbor))]
        public void Reader_Rejects_WithTypedError(string label, string hex, InputError expected)
        {
            var bytes = Hex.Decode(hex);
            var r = new E2m.Coap.CborReader(bytes, 0, bytes.Length);
            var ex = Assert.Throws<CborFormatException>(() =>
            {
                if (!r.AtEnd && r.PeekMajorType() == CborMajorType.TextString) r.ReadTextString();
                else r.SkipValue();
                r.ExpectEnd();
            });
            Assert.True(expected == ex.Error, label + ": got " + ex.Error);
        }

        [Fact]
        public void Reader_TypedAccessors()
        {
            var w = new MsWriter();
            w.WriteStartArray(6);
            w.WriteInt64(-5); w.WriteByteString(new byte[] { 1, 2 }); w.WriteTextString("é"); w.WriteBoolean(true); w.WriteNull(); w.WriteTag(CborTag.DateTimeString);
            w.WriteTextString("x");
            w.WriteEndArray();
            var b = w.Encode();
            var r = new E2m.Coap.CborReader(b, 0, b.Length);
            Assert.Equal(6, r.ReadArrayHeader());
            Assert.Equal(-5, r.ReadInt32());
            Assert.Equal(2, r.ReadByteString());
            Assert.Equal(new byte[] { 1, 2 }, b.AsSpan(r.LastOffset, r.LastLength).ToArray());
            Assert.Equal(2, r.ReadTextString());
            Assert.True(r.ReadBool());
            Assert.True(r.TryReadNull());
            Assert.Equal(0UL, r.ReadTag());
            Assert.Equal(1, r.ReadTextString());
            r.ExpectEnd();
            var wrong = new E2m.Coap.CborReader(b, 1, 1);
            Assert.Equal(InputError.CborUnexpectedType, Assert.Throws<CborFormatException>(() => wrong.ReadUInt()).Error);
        }
    }
}

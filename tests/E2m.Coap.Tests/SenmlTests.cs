using System;
using System.Collections.Generic;
using System.Formats.Cbor;
using System.Globalization;
using System.Text;
using E2m.Hal;
using E2m.TestSupport;
using Xunit;
using MsReader = System.Formats.Cbor.CborReader;
using MsWriter = System.Formats.Cbor.CborWriter;

namespace E2m.Coap.Tests
{
    public class SenmlTests
    {
        private static double Expected(long m, int e) => double.Parse(m.ToString(CultureInfo.InvariantCulture) + "E" + e, CultureInfo.InvariantCulture);

        [Theory]
        [InlineData(215L, -1, "f94d60")]          // 21.5 → half
        [InlineData(1L, -1, "fb3fb999999999999a")] // 0.1 → double
        [InlineData(-2L, 0, "21")]                 // integral → int
        [InlineData(1230L, -1, "187b")]            // 123.0 → int 123
        [InlineData(12L, 3, "192ee0")]             // 12000 → int
        [InlineData(0L, -5, "00")]
        [InlineData(125L, -3, "f93000")]           // 0.125 → half
        [InlineData(1L, 18, "1b0de0b6b3a7640000")] // 10^18 → int
        [InlineData(10L, 18, "fb43e158e460913d00")] // 10^19 overflows long → binary64 (5^19 needs 45 bits: no float32)
        [InlineData(long.MaxValue, -18, "fb4022725dd1d243ac")] // 9.223372036854775807 → nearest binary64
        public void ValueRule_IntWhenIntegral_ElseShortestExactFloat(long mantissa, int exponent, string expectedHex)
        {
            var bits = EncodeValue(mantissa, exponent, out var cbor);
            Assert.Equal(expectedHex, Hex.Encode(cbor));
            var r = new MsReader(cbor);
            double decoded = r.PeekState() == CborReaderState.UnsignedInteger || r.PeekState() == CborReaderState.NegativeInteger ? r.ReadInt64() : r.ReadDouble();
            Assert.Equal(Expected(mantissa, exponent), decoded);
        }

        private static ulong EncodeValue(long m, int e, out byte[] valueCbor)
        {
            var buf = new byte[128];
            var w = new SenmlBatchWriter(buf, 0, 100);
            w.Begin(null, false, 0);
            var rec = new SenmlRecord();
            rec.Set("x", null, m, e, false, 0);
            Assert.True(w.TryAdd(rec));
            int len = w.Finish();
            // [ {0: "x", 2: v} ] = 81 a2 00 61 78 02 <v>
            Assert.Equal("81a2006178" + "02", Hex.Encode(buf, 0, 6));
            valueCbor = buf.AsSpan(6, len - 6).ToArray();
            return 0;
        }

        [Fact]
        public void DecimalToDouble_CorrectlyRounded_AgainstDotnetParse_RandomCases()
        {
            const int seed = 8428;
            var r = new Random(seed);
            for (int i = 0; i < 200_000; i++)
            {
                int e = r.Next(-18, 19);
                long m = r.Next(4) switch
                {
                    0 => r.Next(-100000, 100000),
                    1 => r.NextInt64(long.MinValue, long.MaxValue),
                    2 => r.NextInt64(-(1L << 54), 1L << 54),
                    _ => (r.NextInt64(1, 1L << 40) | 1) * (r.Next(2) == 0 ? 5 : -5),   // halfway-prone cases
                };
                if (m == 0) continue;
                ulong ours = FloatBits.DecimalToDouble(m, e);
                ulong expected = BitConverter.DoubleToUInt64Bits(Expected(m, e));
                Assert.True(expected == ours, $"seed {seed} i {i}: {m}e{e} ours {ours:x16} expected {expected:x16}");
            }
        }

        [Fact]
        public void Batch_DecodedBySystemFormatsCbor_LabelsValuesBaseFields()
        {
            var buf = new byte[600];
            var w = new SenmlBatchWriter(buf, 10, 512);
            w.Begin("urn:dev:kid:0102030405060708:", true, 1_700_000_000);
            var rec = new SenmlRecord();
            rec.Set("energy", "Wh", 123456, 0, true, 0); Assert.True(w.TryAdd(rec));
            rec.Set("temp", "Cel", 215, -1, true, 60); Assert.True(w.TryAdd(rec));
            rec.Set("temp", "Cel", -4, -1, true, 120); Assert.True(w.TryAdd(rec));
            int len = w.Finish();
            Assert.True(len <= 512);

            var r = new MsReader(buf.AsMemory(10, len), CborConformanceMode.Strict);
            Assert.Equal(3, r.ReadStartArray());
            // record 1: bn, bt, n, u, v, t
            Assert.Equal(6, r.ReadStartMap());
            Assert.Equal(-2, r.ReadInt32()); Assert.Equal("urn:dev:kid:0102030405060708:", r.ReadTextString());
            Assert.Equal(-3, r.ReadInt32()); Assert.Equal(1_700_000_000, r.ReadInt64());
            Assert.Equal(0, r.ReadInt32()); Assert.Equal("energy", r.ReadTextString());
            Assert.Equal(1, r.ReadInt32()); Assert.Equal("Wh", r.ReadTextString());
            Assert.Equal(2, r.ReadInt32()); Assert.Equal(123456, r.ReadInt64());
            Assert.Equal(6, r.ReadInt32()); Assert.Equal(0, r.ReadInt64());
            r.ReadEndMap();
            Assert.Equal(4, r.ReadStartMap());
            Assert.Equal(0, r.ReadInt32()); Assert.Equal("temp", r.ReadTextString());
            Assert.Equal(1, r.ReadInt32()); Assert.Equal("Cel", r.ReadTextString());
            Assert.Equal(2, r.ReadInt32()); Assert.Equal(21.5, r.ReadDouble());
            Assert.Equal(6, r.ReadInt32()); Assert.Equal(60, r.ReadInt64());
            r.ReadEndMap();
            Assert.Equal(4, r.ReadStartMap());
            r.ReadInt32(); r.ReadTextString(); r.ReadInt32(); r.ReadTextString();
            Assert.Equal(2, r.ReadInt32()); Assert.Equal(-0.4, r.ReadDouble());
            r.ReadInt32(); Assert.Equal(120, r.ReadInt64());
            r.ReadEndMap();
            r.ReadEndArray();
            Assert.Equal(0, r.BytesRemaining);

            // our reader: resolved names, units, times
            var reader = new SenmlBatchReader(16, 512);
            Assert.Equal(3, reader.Read(buf, 10, len));
            Assert.Equal("urn:dev:kid:0102030405060708:temp", Name(reader, 1));
            Assert.Equal("Cel", Unit(reader, 2));
            Assert.Equal(SenmlValueKind.Integer, reader.GetValueKind(0));
            Assert.Equal(123456, reader.GetInteger(0));
            Assert.Equal(SenmlValueKind.Float, reader.GetValueKind(1));
            Assert.Equal(21.5, BitConverter.UInt64BitsToDouble(reader.GetDoubleBits(1)));
            Assert.Equal(1_700_000_120, reader.GetTime(2));
            Assert.False(reader.IsRelativeTime(2));
            Assert.True(reader.HadBaseTime(2));
        }

        [Fact]
        public void NoNetworkTime_RecordsCarryRelativeOffsets()
        {
            var buf = new byte[100];
            var w = new SenmlBatchWriter(buf, 0, 98);
            w.Begin("dev1:", false, 0);
            var rec = new SenmlRecord();
            rec.Set("t", "Cel", 20, 0, true, -600); Assert.True(w.TryAdd(rec));
            rec.Set("t", "Cel", 21, 0, true, -300); Assert.True(w.TryAdd(rec));
            int len = w.Finish();
            var r = new MsReader(buf.AsMemory(0, len));
            r.ReadStartArray();
            Assert.Equal(5, r.ReadStartMap());   // bn, n, u, v, t — no bt
            Assert.Equal(-2, r.ReadInt32());
            var reader = new SenmlBatchReader(4, 64);
            reader.Read(buf, 0, len);
            Assert.True(reader.IsRelativeTime(0));
            Assert.Equal(-600, reader.GetTime(0));
            Assert.False(reader.HadBaseTime(1));
            Assert.Equal(-300, reader.GetTime(1));
        }

        [Fact]
        public void SizeBound_EveryBatchFits_AndEveryRecordLandsExactlyOnce()
        {
            const int seed = 512;
            var rnd = new Random(seed);
            var names = new[] { "e", "energy", "temperature", "p1", "humidity-outdoor", "x" };
            var units = new[] { null, "Wh", "Cel", "%RH", "W" };
            for (int round = 0; round < 200; round++)
            {
                int max = round == 0 ? SenmlBatchWriter.DefaultDatagramSize : rnd.Next(90, 520);
                var buf = new byte[max + SenmlBatchWriter.BufferSlack + 5];
                var w = new SenmlBatchWriter(buf, 5, max);
                var reader = new SenmlBatchReader(200, 8192);
                bool hasBt = rnd.Next(2) == 0;
                long bt = rnd.NextInt64(1_600_000_000, 1_900_000_000);
                var input = new List<(string n, string? u, long m, int e, long t)>();
                int total = rnd.Next(1, 150);
                for (int i = 0; i < total; i++)
                    input.Add((names[rnd.Next(names.Length)], units[rnd.Next(units.Length)], rnd.NextInt64(-1_000_000_000, 1_000_000_000) >> rnd.Next(0, 30), rnd.Next(-6, 4), rnd.Next(-86400, 86400)));

                var output = new List<(string n, string? u, double v, long t)>();
                var rec = new SenmlRecord();
                int next = 0;
                int batches = 0;
                while (next < input.Count)
                {
                    w.Begin("urn:dev:kid:0a0b0c0d0e0f1011:", hasBt, bt);
                    while (next < input.Count)
                    {
                        var x = input[next];
                        rec.Set(x.n, x.u, x.m, x.e, true, x.t);
                        if (!w.TryAdd(rec)) break;
                        next++;
                    }
                    Assert.True(w.Count > 0, $"seed {seed} round {round}: empty batch");
                    int predicted = w.Length;
                    int len = w.Finish();
                    batches++;
                    Assert.Equal(predicted, len);
                    Assert.True(len <= max, $"seed {seed} round {round}: batch {len} > {max}");
                    // the oracle decodes it
                    var ms = new MsReader(buf.AsMemory(5, len), CborConformanceMode.Strict);
                    ms.SkipValue();
                    Assert.Equal(0, ms.BytesRemaining);
                    int n = reader.Read(buf, 5, len);
                    for (int i = 0; i < n; i++)
                    {
                        string full = Name(reader, i);
                        output.Add((full.Substring("urn:dev:kid:0a0b0c0d0e0f1011:".Length), reader.GetUnitLength(i) < 0 ? null : Unit(reader, i),
                            BitConverter.UInt64BitsToDouble(reader.GetDoubleBits(i)), reader.GetTime(i) - (hasBt ? bt : 0)));
                    }
                }
                Assert.Equal(input.Count, output.Count);
                for (int i = 0; i < input.Count; i++)
                {
                    Assert.Equal(input[i].n, output[i].n);
                    Assert.Equal(input[i].u, output[i].u);
                    Assert.Equal(Expected(input[i].m, input[i].e), output[i].v);
                    Assert.Equal(input[i].t, output[i].t);
                }
            }
        }

        [Fact]
        public void RecordThatCannotFitAlone_ThrowsClearTypedError()
        {
            var buf = new byte[40];
            var w = new SenmlBatchWriter(buf, 0, 38);
            w.Begin("urn:dev:kid:0102030405060708:", true, 1_700_000_000);
            var rec = new SenmlRecord();
            rec.Set("temperature", "Cel", 1, 0, true, 0);
            var ex = Assert.Throws<SenmlRecordTooLargeException>(() => w.TryAdd(rec));
            Assert.Equal(38, ex.Limit);
            Assert.True(ex.Needed > 38);
            Assert.Contains("38", ex.Message);
            Assert.Contains(ex.Needed.ToString(CultureInfo.InvariantCulture), ex.Message);
            Assert.Equal(0, w.Count);
        }

        [Fact]
        public void FullPack_Within512ByteDatagram_WithCoapHeaders()
        {
            // POST /r CON, 4-byte token, Content-Format 112: overhead measured by the codec
            var m = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Post, MessageId = 1 };
            m.SetToken(new byte[4], 0, 4);
            m.AddUriPath("r");
            m.SetContentFormat(CoapContentFormat.SenmlCbor);
            int overhead = CoapCodec.GetEncodedLength(m) + 1;   // + payload marker
            int budget = SenmlBatchWriter.PayloadBudget(SenmlBatchWriter.DefaultDatagramSize, overhead);
            var buf = new byte[budget + SenmlBatchWriter.BufferSlack];
            var w = new SenmlBatchWriter(buf, 0, budget);
            w.Begin("urn:dev:kid:0102030405060708:", true, 1_700_000_000);
            var rec = new SenmlRecord();
            int i = 0;
            while (true) { rec.Set("energy", "Wh", 1000 + i, -1, true, i * 900); if (!w.TryAdd(rec)) break; i++; }
            int len = w.Finish();
            m.SetPayload(buf, 0, len);
            var dgram = new byte[600];
            int n = CoapCodec.Encode(m, dgram, 0);
            Assert.True(n <= 512, $"{n}");
            Assert.True(n > 512 - 20, $"batch should nearly fill the datagram: {n}");
        }

        private static string Name(SenmlBatchReader r, int i) => Encoding.UTF8.GetString(r.NameBuffer, r.GetNameOffset(i), r.GetNameLength(i));
        private static string Unit(SenmlBatchReader r, int i) => Encoding.UTF8.GetString(r.Input, r.GetUnitOffset(i), r.GetUnitLength(i));

        private static byte[] Pack(Action<MsWriter> body)
        {
            var w = new MsWriter(CborConformanceMode.Lax);
            body(w);
            return w.Encode();
        }

        [Fact]
        public void Reader_AcceptsOtherValueKinds_BaseUnit_Version_UnknownLabels()
        {
            var b = Pack(w =>
            {
                w.WriteStartArray(4);
                w.WriteStartMap(5); w.WriteInt32(-1); w.WriteInt32(10); w.WriteInt32(-2); w.WriteTextString("d/"); w.WriteInt32(-4); w.WriteTextString("W");
                w.WriteInt32(0); w.WriteTextString("a"); w.WriteInt32(3); w.WriteTextString("on"); w.WriteEndMap();
                w.WriteStartMap(3); w.WriteInt32(0); w.WriteTextString("b"); w.WriteInt32(4); w.WriteBoolean(true); w.WriteInt32(99); w.WriteStartArray(0); w.WriteEndArray(); w.WriteEndMap();
                w.WriteStartMap(3); w.WriteInt32(0); w.WriteTextString("c"); w.WriteInt32(8); w.WriteByteString(new byte[] { 9 }); w.WriteTextString("ext"); w.WriteInt32(1); w.WriteEndMap();
                w.WriteStartMap(3); w.WriteInt32(0); w.WriteTextString("d"); w.WriteInt32(2); w.WriteDouble(2.75); w.WriteInt32(7); w.WriteInt32(60); w.WriteEndMap();
                w.WriteEndArray();
            });
            var r = new SenmlBatchReader(8, 64);
            Assert.Equal(4, r.Read(b, 0, b.Length));
            Assert.Equal("d/a", Name(r, 0));
            Assert.Equal(SenmlValueKind.String, r.GetValueKind(0));
            Assert.Equal("W", Unit(r, 3));   // bu carries forward
            Assert.Equal(SenmlValueKind.Boolean, r.GetValueKind(1));
            Assert.True(r.GetBool(1));
            Assert.Equal(SenmlValueKind.Data, r.GetValueKind(2));
            Assert.Equal(9, b[r.GetDataOffset(2)]);
            Assert.Equal(2.75, BitConverter.UInt64BitsToDouble(r.GetDoubleBits(3)));
            Assert.True(r.IsRelativeTime(3));
            Assert.Equal(0, r.GetTime(3));   // no t: "now"
        }

        public static TheoryData<string, string, InputError> MalformedPacks => new()
        {
            { "not an array", "a0", InputError.SenmlNotAnArray },
            { "empty input", "", InputError.SenmlNotAnArray },
            { "record not a map", "8100", InputError.SenmlRecordNotAMap },
            { "label is bytes", "81a1" + "4100" + "00", InputError.SenmlBadLabelType },
            { "duplicate n", "81a3" + "006161" + "006162" + "0201", InputError.SenmlDuplicateLabel },
            { "must-understand text label", "81a3" + "006161" + "0201" + "62785f" + "00", InputError.SenmlMustUnderstandLabel },
            { "bver 11", "81a3" + "200b" + "006161" + "0201", InputError.SenmlUnsupportedVersion },
            { "n not text", "81a2" + "0001" + "0201", InputError.SenmlBadFieldType },
            { "v is text", "81a2" + "006161" + "026131", InputError.SenmlBadFieldType },
            { "vb not bool", "81a2" + "006161" + "0401", InputError.SenmlBadFieldType },
            { "name starts with -", "81a2" + "00612d" + "0201", InputError.SenmlInvalidName },
            { "name has space", "81a2" + "00626120" + "0201", InputError.SenmlInvalidName },
            { "empty name", "81a1" + "0201", InputError.SenmlInvalidName },
            { "two values", "81a3" + "006161" + "0201" + "04f5", InputError.SenmlMultipleValues },
            { "no value", "81a1" + "006161", InputError.SenmlNoValue },
            { "float time (profile)", "81a3" + "006161" + "0201" + "06f93c00", InputError.SenmlUnsupportedField },
            { "base value (profile)", "81a3" + "006161" + "0201" + "2401", InputError.SenmlUnsupportedField },
            { "sum (profile)", "81a2" + "006161" + "0501", InputError.SenmlUnsupportedField },
            { "time out of range", "81a3" + "006161" + "0201" + "061b7fffffffffffffff", InputError.SenmlTimeOutOfRange },
            { "too many records", "85" + "a20061610201a20061610201a20061610201a20061610201a20061610201", InputError.SenmlTooManyRecords },
            { "trailing bytes", "81a2006161020100", InputError.CborTrailingBytes },
            { "truncated", "82a20061610201", InputError.CborTruncated },
        };

        [Theory]
        [MemberData(nameof(MalformedPacks))]
        public void Reader_Rejects_WithTypedError(string label, string hex, InputError expected)
        {
            var bytes = Hex.Decode(hex);
            var r = new SenmlBatchReader(4, 64);
            var ex = Assert.ThrowsAny<MalformedInputException>(() => r.Read(bytes, 0, bytes.Length));
            Assert.True(expected == ex.Error, label + ": got " + ex.Error);
        }
    }
}

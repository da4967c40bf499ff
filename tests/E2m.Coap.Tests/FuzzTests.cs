using System;
using System.Collections.Generic;
using E2m.Hal;
using E2m.TestSupport;
using Xunit;
using MsReader = System.Formats.Cbor.CborReader;

namespace E2m.Coap.Tests
{
    /// <summary>
    /// Seeded mutations/truncations of valid inputs through every decoder: the only exception
    /// allowed out is the MalformedInputException family.
    /// </summary>
    public class FuzzTests
    {
        private static byte[] Mutate(Random r, byte[] seed)
        {
            var b = new List<byte>(seed);
            int ops = 1 + r.Next(4);
            for (int k = 0; k < ops; k++)
            {
                switch (r.Next(7))
                {
                    case 0: if (b.Count > 0) b[r.Next(b.Count)] ^= (byte)(1 << r.Next(8)); break;              // bit flip
                    case 1: if (b.Count > 0) b[r.Next(b.Count)] = (byte)r.Next(256); break;                     // byte set
                    case 2: if (b.Count > 0) b.RemoveAt(r.Next(b.Count)); break;                                       // delete
                    case 3: b.Insert(r.Next(b.Count + 1), (byte)r.Next(256)); break;                            // insert
                    case 4: b = b.GetRange(0, r.Next(b.Count + 1)); break;                                                  // truncate
                    case 5: if (b.Count > 0) b[r.Next(b.Count)] = new byte[] { 0xff, 0x0d, 0x0e, 0x0f, 0xd0, 0xe0, 0xf0, 0x1b, 0x5f, 0x9f, 0xbf }[r.Next(11)]; break; // nasty values
                    default: if (b.Count > 0) { int i = r.Next(b.Count); b.Insert(i, b[r.Next(b.Count)]); } break; // duplicate a byte
                }
            }
            return b.ToArray();
        }

        private static void Run(string what, int seed, int iterations, byte[][] seeds, Action<byte[], int, int> decode)
        {
            foreach (var s in seeds) decode(s, 0, s.Length);   // every seed is valid input
            var r = new Random(seed);
            int rejected = 0;
            for (int i = 0; i < iterations; i++)
            {
                var input = Mutate(r, seeds[r.Next(seeds.Length)]);
                // embed at an offset inside a larger buffer to catch offset/bounds bugs
                int pad = r.Next(3);
                var buf = new byte[input.Length + pad * 2];
                r.NextBytes(buf);
                input.CopyTo(buf, pad);
                try
                {
                    decode(buf, pad, input.Length);
                }
                catch (MalformedInputException)
                {
                    rejected++;
                }
                catch (Exception e)
                {
                    Assert.Fail($"{what} seed {seed} iteration {i} input {Hex.Encode(input)}: {e.GetType().Name}: {e.Message}");
                }
            }
            Assert.True(rejected > iterations / 20, $"{what} seed {seed}: only {rejected} rejections; mutations too weak?");
        }

        private static byte[] CoapSeed(Action<CoapMessage> build)
        {
            var m = new CoapMessage(32, 512);
            build(m);
            var b = new byte[CoapCodec.GetEncodedLength(m)];
            CoapCodec.Encode(m, b, 0);
            return b;
        }

        private static byte[][] CoapSeeds() => new[]
        {
            Hex.Decode("44015d1f00003974396c6f63616c686f737483747631"),
            Hex.Decode("64455d1f00003974ff48656c6c6f20576f726c6421"),
            Hex.Decode("60001234"),
            CoapSeed(m => { m.Type = 0; m.Code = CoapCode.Post; m.MessageId = 9; m.SetToken(new byte[8], 0, 8); m.AddUriPath("r"); m.SetContentFormat(112); m.AddOption(CoapOption.Oscore, new byte[] { 9, 0x14 }, 0, 2); m.SetPayload(new byte[40], 0, 40); }),
            CoapSeed(m => { m.Type = 1; m.Code = 1; m.AddOption(300, new byte[20], 0, 20); m.AddOption(1000, new byte[270], 0, 270); m.AddOption(65000, new byte[13], 0, 13); }),
        };

        [Fact]
        public void Coap_Decode_10kMutations_OnlyTypedErrors_AndAcceptedInputsReencodeIdentically()
        {
            const int seed = 7252;
            var msg = new CoapMessage(32, 0);
            var out1 = new byte[70000];
            Run("CoAP", seed, 10_000, CoapSeeds(), (buf, off, len) =>
            {
                CoapCodec.Decode(buf, off, len, msg);
                // CoAP option encoding is unique, so an accepted datagram re-encodes to itself
                int n = CoapCodec.Encode(msg, out1, 0);
                if (!out1.AsSpan(0, n).SequenceEqual(buf.AsSpan(off, len)))
                    throw new InvalidOperationException("re-encoding differs: " + Hex.Encode(out1, 0, n));
            });
        }

        private static byte[][] CborSeeds()
        {
            var list = new List<byte[]>();
            var r = new Random(1);
            var buf = new byte[1 << 14];
            for (int i = 0; i < 20; i++)
            {
                var w = new E2m.Coap.CborWriter(buf, 0, buf.Length);
                CborTree.WriteOurs(w, CborTree.Random(r, 0));
                list.Add(buf.AsSpan(0, w.Length).ToArray());
            }
            list.Add(Hex.Decode("8540f60a634b657910"));
            return list.ToArray();
        }

        [Fact]
        public void Cbor_Skip_10kMutations_OnlyTypedErrors_AndAcceptedIsWellFormedForSystemFormatsCbor()
        {
            const int seed = 8949;
            var reader = new E2m.Coap.CborReader();
            Run("CBOR", seed, 10_000, CborSeeds(), (buf, off, len) =>
            {
                reader.Reset(buf, off, len);
                reader.SkipValue();
                reader.ExpectEnd();
                // our acceptance implies well-formedness for the oracle
                var ms = new MsReader(buf.AsMemory(off, len), System.Formats.Cbor.CborConformanceMode.Lax);
                ms.SkipValue();
                if (ms.BytesRemaining != 0) throw new InvalidOperationException("oracle disagrees on length");
            });
        }

        private static byte[][] SenmlSeeds()
        {
            var list = new List<byte[]>();
            var buf = new byte[600];
            var rec = new SenmlRecord();
            for (int k = 0; k < 4; k++)
            {
                var w = new SenmlBatchWriter(buf, 0, 200);
                w.Begin(k % 2 == 0 ? "urn:dev:kid:0102:" : null, k < 2, 1_700_000_000);
                rec.Set("temp", "Cel", 215 + k, -1, true, k * 60); w.TryAdd(rec);
                rec.Set("energy", k == 3 ? null : "Wh", 123456789, k - 2, true, -k); w.TryAdd(rec);
                rec.Set("x", null, -1, 0, false, 0); w.TryAdd(rec);
                int len = w.Finish();
                list.Add(buf.AsSpan(0, len).ToArray());
            }
            var mw = new System.Formats.Cbor.CborWriter(System.Formats.Cbor.CborConformanceMode.Lax);
            mw.WriteStartArray(3);
            mw.WriteStartMap(5); mw.WriteInt32(-1); mw.WriteInt32(10); mw.WriteInt32(-2); mw.WriteTextString("d/"); mw.WriteInt32(-4); mw.WriteTextString("W");
            mw.WriteInt32(0); mw.WriteTextString("a"); mw.WriteInt32(3); mw.WriteTextString("on"); mw.WriteEndMap();
            mw.WriteStartMap(3); mw.WriteInt32(0); mw.WriteTextString("b"); mw.WriteInt32(4); mw.WriteBoolean(true); mw.WriteTextString("ext"); mw.WriteStartArray(1); mw.WriteInt32(1); mw.WriteEndArray(); mw.WriteEndMap();
            mw.WriteStartMap(3); mw.WriteInt32(0); mw.WriteTextString("c"); mw.WriteInt32(8); mw.WriteByteString(new byte[] { 9 }); mw.WriteInt32(7); mw.WriteInt32(60); mw.WriteEndMap();
            mw.WriteEndArray();
            list.Add(mw.Encode());
            return list.ToArray();
        }

        [Fact]
        public void Senml_Read_10kMutations_OnlyTypedErrors()
        {
            const int seed = 8428;
            var reader = new SenmlBatchReader(8, 256);
            Run("SenML", seed, 10_000, SenmlSeeds(), (buf, off, len) => reader.Read(buf, off, len));
        }
    }
}

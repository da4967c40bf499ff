using System;
using E2m.TestSupport;
using Xunit;

namespace E2m.Coap.Tests
{
    /// <summary>Zero bytes allocated per operation after warm-up (GC.GetAllocatedBytesForCurrentThread).</summary>
    public class AllocationTests
    {
        private static long Measure(Action op, int iterations = 1000)
        {
            for (int i = 0; i < 10; i++) op();   // warm-up (JIT, static init)
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < iterations; i++) op();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        [Fact]
        public void CoapEncodeDecode_IntoReusableObjects_AllocatesNothing()
        {
            var datagram = Hex.Decode("44015d1f00003974396c6f63616c686f737483747631");
            var msg = new CoapMessage();
            var outBuf = new byte[128];
            var payload = new byte[40];
            var req = new CoapMessage();
            var token = new byte[] { 1, 2, 3, 4 };
            Assert.Equal(0, Measure(() => CoapCodec.Decode(datagram, 0, datagram.Length, msg)));
            Assert.Equal(0, Measure(() => CoapCodec.Encode(msg, outBuf, 0)));
            Assert.Equal(0, Measure(() =>
            {
                req.Reset();
                req.Type = CoapType.Confirmable; req.Code = CoapCode.Post; req.MessageId = 77;
                req.SetToken(token, 0, 4);
                req.AddUriPath("r");
                req.SetContentFormat(CoapContentFormat.SenmlCbor);
                req.SetPayload(payload, 0, payload.Length);
                CoapCodec.Encode(req, outBuf, 0);
            }));
        }

        [Fact]
        public void CborWriterAndReader_AllocateNothing()
        {
            var buf = new byte[256];
            var w = new E2m.Coap.CborWriter(buf, 0, buf.Length);
            var bytes = new byte[16];
            var reader = new E2m.Coap.CborReader();
            Assert.Equal(0, Measure(() =>
            {
                w.Reset();
                w.WriteArrayHeader(8);
                w.WriteByteString(bytes, 0, 8);
                w.WriteNull();
                w.WriteUInt(10);
                w.WriteTextString("Key");
                w.WriteInt(-1234567);
                w.WriteBool(true);
                w.WriteMapHeader(1); w.WriteInt(2); w.WriteFloatPreferred(0x3FB999999999999AUL);
                w.WriteFloat16FromBits(0x3c00);
            }));
            int len = w.Length;
            Assert.Equal(0, Measure(() => { reader.Reset(buf, 0, len); reader.SkipValue(); reader.ExpectEnd(); }));
        }

        [Fact]
        public void SenmlWriterAndReader_AllocateNothing()
        {
            var buf = new byte[520];
            var w = new SenmlBatchWriter(buf, 0, 512);
            var rec = new SenmlRecord();
            int len = 0;
            Assert.Equal(0, Measure(() =>
            {
                w.Begin("urn:dev:kid:0102030405060708:", true, 1_700_000_000);
                for (int i = 0; i < 10; i++) { rec.Set("temp", "Cel", 200 + i, -1, true, i * 60); w.TryAdd(rec); }
                len = w.Finish();
            }, 200));
            var reader = new SenmlBatchReader(16, 1024);
            Assert.Equal(0, Measure(() => reader.Read(buf, 0, len), 200));
        }

        [Fact]
        public void ConfirmableExchange_AllocatesNothing()
        {
            var clock = new FakeClock();
            var x = new ConfirmableExchange(new CoapTransmissionParameters(), clock, new SeededEntropy(new byte[] { 1, 2, 3, 4 }));
            var ack = new CoapMessage { Type = CoapType.Acknowledgement, Code = CoapCode.Changed, MessageId = 5 };
            var token = new byte[] { 9, 9 };
            ack.SetToken(token, 0, 2);
            Assert.Equal(0, Measure(() =>
            {
                x.Start(5, token, 0, 2);
                clock.Advance(30_000);
                x.Poll();
                x.OnReceive(ack);
            }));
        }
    }
}

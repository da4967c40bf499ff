using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>Tampering, fuzzing and load over real UDP: the server answers errors (or nothing), never crashes, stores exactly once.</summary>
    public sealed class RobustnessTests : IDisposable
    {
        private static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);
        private readonly TempDir _dir = new();
        private readonly FakeEmks _emks = new();
        private readonly ManualTimeProvider _time = new(T0);
        private readonly EmseHost _host;

        public RobustnessTests()
        {
            _host = new EmseHost(_dir.Path, _emks, _time);
        }

        public void Dispose()
        {
            _host.Dispose();
            _dir.Dispose();
        }

        private TestDevice NewDevice(int seed, string deviceId)
        {
            var (kid, key) = TestDevice.NewKey(new Random(seed));
            _emks.Add(kid, key, T0.AddDays(30), deviceId);
            return new TestDevice(_host.CoapEndPoint, kid, key, seed);
        }

        /// <summary>Reads every answer the EMSE sent since <paramref name="sentBefore"/> (only this test's device talks to it).</summary>
        private int DrainAnswers(TestDevice dev, long sentBefore)
        {
            int n = (int)(_host.SentCount - sentBefore);
            for (int i = 0; i < n; i++)
            {
                dev.Receive();
            }

            return n;
        }

        [Theory]
        [InlineData(0xFF)]
        [InlineData(0x01)]
        [InlineData(0x80)]
        public void EveryOctetTampered_IsRejected_ExceptUnprotectedHeaderFields(int mask)
        {
            using TestDevice dev = NewDevice(30 + mask, "meter-tamper");
            int accepted = 0;
            int length = dev.Build(new long[] { 0 }).Datagram.Length; // warm-up message, PIV 0 (never sent)
            for (int i = 0; i < length; i++)
            {
                Protected p = dev.Build(new long[] { i });                 // a fresh PIV per position
                byte[] t = (byte[])p.Datagram.Clone();
                t[i] ^= (byte)mask;
                int tkl = p.Datagram[0] & 0x0F;
                bool unprotectedField = i == 2 || i == 3 || (i >= 4 && i < 4 + tkl) // Message ID, token (RFC 8613 §4.1: not protected)
                    || (i == 0 && (mask & 0x30) != 0 && (mask & 0xC0) == 0);       // type bits only
                byte[]? r = _host.SendOne(dev, t);
                bool tamperedAccepted = r != null && Coap.Decode(r).Code == CoapCode.Changed;
                if (tamperedAccepted)
                {
                    Assert.True(unprotectedField, "position " + i + " mask 0x" + mask.ToString("x2") + ": tampered datagram accepted");
                    Assert.Equal(CoapCode.Changed, dev.Verify(p, r!));
                    accepted++;
                    Assert.Equal(CoapCode.Unauthorized, Coap.Decode(dev.Exchange(p)).Code); // the genuine one is now a replay
                }
                else
                {
                    byte[] genuine = dev.Exchange(p);
                    Assert.True(CoapCode.Changed == dev.Verify(p, genuine), "position " + i + ": genuine request after a tampered one");
                }
            }

            Assert.Equal(length, _host.Store.CountReadings());                // every PIV stored exactly once
            Assert.Equal(0, Interlocked.Read(ref _host.Server.Stats.InternalErrors));
        }

        [Fact]
        public void MalformedCoapAndRandomDatagrams_NeverCrash()
        {
            const int seed = 4711;
            var rng = new Random(seed);
            using TestDevice dev = NewDevice(40, "meter-fuzz");
            var templates = Enumerable.Range(0, 20).Select(i => dev.Build(new long[] { i, i + 1 })).ToList();
            long before = Interlocked.Read(ref _host.Server.Stats.Handled);
            long answersBefore = _host.SentCount;
            long answersRead = 0;
            int sent = 0;
            for (int n = 0; n < 3000; n++)
            {
                byte[] d;
                switch (rng.Next(4))
                {
                    case 0: // random bytes
                        d = new byte[rng.Next(0, 300)];
                        rng.NextBytes(d);
                        break;
                    case 1: // CoAP-looking header + random rest
                        d = new byte[rng.Next(4, 200)];
                        rng.NextBytes(d);
                        d[0] = (byte)(0x40 | (d[0] & 0x3F));
                        break;
                    default: // mutations of valid protected requests
                        byte[] src = templates[rng.Next(templates.Count)].Datagram;
                        d = (byte[])src.Clone();
                        int k = rng.Next(1, 4);
                        for (int j = 0; j < k; j++)
                        {
                            d[rng.Next(d.Length)] = (byte)rng.Next(256);
                        }

                        if (rng.Next(4) == 0)
                        {
                            Array.Resize(ref d, rng.Next(0, d.Length));
                        }

                        break;
                }

                if (d.Length == 0)
                {
                    continue; // a zero-length datagram is legal UDP but carries nothing to route
                }

                dev.Send(d);
                sent++;
                if (sent % 50 == 0)
                {
                    _host.WaitHandled(before + sent); // keep the socket buffers from overflowing
                    answersRead += DrainAnswers(dev, answersBefore + answersRead);
                }
            }

            _host.WaitHandled(before + sent);
            DrainAnswers(dev, answersBefore + answersRead);
            Assert.True(Interlocked.Read(ref _host.Server.Stats.InternalErrors) == 0, "seed " + seed + ": " + _host.Server.Stats);
            Assert.True(_host.Store.CountReadings() <= 2 * templates.Count, "seed " + seed);
            Protected ok = dev.Build(new long[] { 99 });
            Assert.Equal(CoapCode.Changed, dev.Verify(ok, dev.Exchange(ok)));
        }

        [Fact]
        public void FuzzedSenmlInsideValidOscore_Is204Or400_NeverCrashes()
        {
            const int seed = 815;
            var rng = new Random(seed);
            using TestDevice dev = NewDevice(41, "meter-cbor");
            var good = new byte[600];
            var w = new SenmlBatchWriter(good, 0, 300);
            w.Begin("urn:dev:x:", true, 1_700_000_000);
            var rec = new SenmlRecord();
            rec.Set("e", "Wh", 123456, -2, true, 5);
            w.TryAdd(rec);
            rec.Set("t", "Cel", -5, 0, true, 6);
            w.TryAdd(rec);
            int goodLength = w.Finish();
            int ok = 0;
            for (int n = 0; n < 300; n++)
            {
                byte[] payload;
                if (rng.Next(3) == 0)
                {
                    payload = new byte[rng.Next(1, 120)];
                    rng.NextBytes(payload);
                }
                else
                {
                    payload = good.AsSpan(0, goodLength).ToArray();
                    payload[rng.Next(payload.Length)] = (byte)rng.Next(256);
                }

                Protected p = dev.Build(Array.Empty<long>(), rawPayload: payload);
                byte code = dev.Verify(p, dev.Exchange(p));
                Assert.True(code == CoapCode.Changed || code == CoapCode.BadRequest,
                    "seed " + seed + " iteration " + n + ": " + Coap.Code(code) + " for " + Convert.ToHexString(payload));
                ok += code == CoapCode.Changed ? 1 : 0;
            }

            Assert.Equal(0, Interlocked.Read(ref _host.Server.Stats.InternalErrors));
            Assert.True(ok > 0, "seed " + seed + ": some mutations keep the pack valid");
        }

        [Fact]
        public void ManyDevicesConcurrently_AllStoredExactlyOnce()
        {
            const int devices = 50, messages = 20;
            var devs = Enumerable.Range(0, devices).Select(i => NewDevice(100 + i, "dev-" + i.ToString("00"))).ToList();
            try
            {
                var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
                var threads = devs.Select((dev, i) => new Thread(() =>
                {
                    try
                    {
                        for (int m = 0; m < messages; m++)
                        {
                            Protected p = dev.Build(new long[] { i * 1000 + m });
                            byte code = dev.Verify(p, dev.Exchange(p));
                            if (code != CoapCode.Changed)
                            {
                                failures.Add("dev " + i + " msg " + m + ": " + Coap.Code(code));
                            }
                        }
                    }
                    catch (Exception e)
                    {
                        failures.Add("dev " + i + ": " + e.Message);
                    }
                })).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
                Assert.Empty(failures);
                Assert.Equal(devices * messages, _host.Store.CountReadings());
                for (int i = 0; i < devices; i++)
                {
                    var values = _host.Store.QueryReadings("dev-" + i.ToString("00"), long.MinValue, long.MaxValue, 1000).Select(r => r.Integer!.Value).OrderBy(v => v);
                    Assert.Equal(Enumerable.Range(0, messages).Select(m => (long)(i * 1000 + m)), values);
                }
            }
            finally
            {
                devs.ForEach(d => d.Dispose());
            }
        }
    }
}

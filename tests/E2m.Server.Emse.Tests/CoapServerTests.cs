using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Server.Emse.Keys;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>The CoAP/OSCORE side over real UDP sockets on 127.0.0.1 (devices = OscoreSecurityContext.ForDevice).</summary>
    public sealed class CoapServerTests : IDisposable
    {
        private static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);
        private readonly TempDir _dir = new();
        private readonly FakeEmks _emks = new();
        private readonly ManualTimeProvider _time = new(T0);
        private EmseHost _host;

        public CoapServerTests()
        {
            _host = new EmseHost(_dir.Path, _emks, _time);
        }

        public void Dispose()
        {
            _host.Dispose();
            _dir.Dispose();
        }

        private TestDevice NewDevice(int seed, string deviceId, DateTimeOffset? expires = null)
        {
            var (kid, key) = TestDevice.NewKey(new Random(seed));
            _emks.Add(kid, key, expires ?? T0.AddDays(30), deviceId);
            return new TestDevice(_host.CoapEndPoint, kid, key, seed);
        }

        private async Task<JsonElement> Readings(string deviceId, string query = "")
        {
            return await _host.Http.GetFromJsonAsync<JsonElement>("/v1/devices/" + deviceId + "/readings" + query);
        }

        [Fact]
        public async Task Readings_AreStored_AndServedOverHttp_WithDeviceOrArrivalTime()
        {
            using TestDevice dev = NewDevice(1, "meter-1");
            long bt = T0.AddMinutes(-5).ToUnixTimeSeconds();
            Protected p1 = dev.Build(new long[] { 100, 101 }, baseTime: bt);
            byte[] r1 = dev.Exchange(p1);
            CoapMessage outer = Coap.Decode(r1);
            Assert.Equal(CoapType.Acknowledgement, outer.Type);          // piggybacked (RFC 7252 §5.2.1)
            Assert.Equal(p1.MessageId, outer.MessageId);
            Assert.Equal(CoapCode.Changed, outer.Code);                   // outer 2.04 (RFC 8613 §4.2)
            Assert.Equal(CoapCode.Changed, dev.Verify(p1, r1));          // inner 2.04

            Protected p2 = dev.Build(new long[] { 7 });                   // no base time: relative, stamped on arrival
            Assert.Equal(CoapCode.Changed, dev.Verify(p2, dev.Exchange(p2)));

            JsonElement devices = await _host.Http.GetFromJsonAsync<JsonElement>("/v1/devices");
            Assert.Equal("meter-1", devices.GetProperty("devices")[0].GetProperty("deviceId").GetString());
            Assert.Equal(dev.KidHex7, devices.GetProperty("devices")[0].GetProperty("kid").GetString());

            JsonElement rs = (await Readings("meter-1")).GetProperty("readings");
            Assert.Equal(3, rs.GetArrayLength());
            JsonElement first = rs.EnumerateArray().First(r => r.GetProperty("value").GetInt64() == 100);
            Assert.Equal("urn:dev:kid:" + dev.KidHex7 + ":energy", first.GetProperty("name").GetString());
            Assert.Equal("Wh", first.GetProperty("unit").GetString());
            Assert.Equal("device", first.GetProperty("timeSource").GetString());
            Assert.Equal(bt * 1000, first.GetProperty("timeUnixMs").GetInt64());
            JsonElement rel = rs.EnumerateArray().First(r => r.GetProperty("value").GetInt64() == 7);
            Assert.Equal("arrival", rel.GetProperty("timeSource").GetString());
            Assert.Equal(T0.AddSeconds(-60).ToUnixTimeMilliseconds(), rel.GetProperty("timeUnixMs").GetInt64());

            // time range: [bt, bt + 1 s) holds only the first record
            JsonElement ranged = (await Readings("meter-1", "?from=" + bt + "&to=" + (bt + 1))).GetProperty("readings");
            Assert.Equal(1, ranged.GetArrayLength());
            Assert.Equal(100, ranged[0].GetProperty("value").GetInt64());
        }

        [Fact]
        public void Retransmission_WithLostResponse_GetsTheSameResponse_StoredOnce()
        {
            using TestDevice dev = NewDevice(2, "meter-2");
            Protected p = dev.Build(new long[] { 42 });
            byte[] first = dev.Exchange(p);
            byte[] again = dev.Exchange(p);                   // same bytes: the CON retransmission (RFC 7252 §4.2)
            byte[] third = dev.Exchange(p);
            Assert.Equal(first, again);
            Assert.Equal(first, third);
            Assert.Equal(CoapCode.Changed, dev.Verify(p, again));
            Assert.Equal(1, _host.Store.CountReadings());
            Assert.Equal(2, _host.Server.Stats.Retransmissions);
        }

        [Fact]
        public void Replay_AfterExchangeLifetime_Is401ReplayDetected_AndNotStoredTwice()
        {
            using TestDevice dev = NewDevice(3, "meter-3");
            Protected p = dev.Build(new long[] { 1 });
            Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));
            _time.Advance(TimeSpan.FromSeconds(601));         // beyond EXCHANGE_LIFETIME (600 s)
            CoapMessage r = Coap.Decode(dev.Exchange(p));
            Assert.Equal(CoapCode.Unauthorized, r.Code);      // RFC 8613 §7.4 / DESIGN §4: 4.01 "Replay detected"
            Assert.Equal("Replay detected", System.Text.Encoding.UTF8.GetString(r.PayloadBuffer, r.PayloadOffset, r.PayloadLength));
            Assert.Equal(1, _host.Store.CountReadings());
        }

        [Fact]
        public void SamePiv_WithOtherContent_IsAReplay_NotARetransmission()
        {
            var (kid, key) = TestDevice.NewKey(new Random(4));
            _emks.Add(kid, key, T0.AddDays(1), "meter-4");
            using var a = new TestDevice(_host.CoapEndPoint, kid, key);
            using var b = new TestDevice(_host.CoapEndPoint, kid, key); // a second context at SSN 0: the same PIV
            Protected pa = a.Build(new long[] { 1 });
            Assert.Equal(CoapCode.Changed, a.Verify(pa, a.Exchange(pa)));
            Protected pb = b.Build(new long[] { 999 });
            CoapMessage r = Coap.Decode(b.Exchange(pb));
            Assert.Equal(CoapCode.Unauthorized, r.Code);
            Assert.Equal(1, _host.Store.CountReadings());
        }

        [Fact]
        public async Task Restart_LosesNothing_RejectsReplays_AndStillAnswersRetransmissions()
        {
            var (kid, key) = TestDevice.NewKey(new Random(5));
            _emks.Add(kid, key, T0.AddDays(1), "meter-5");
            var sent = new List<Protected>();
            using (var dev = new TestDevice(_host.CoapEndPoint, kid, key))
            {
                for (int i = 0; i < 10; i++)
                {
                    Protected p = dev.Build(new long[] { i });
                    Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));
                    sent.Add(p);
                }
            }

            byte[] lastResponse;
            using (var dev = new TestDevice(_host.CoapEndPoint, kid, key))
            {
                lastResponse = Array.Empty<byte>();
            }

            // the response to the last request, as the device saw it, for the retransmission check below
            using (var probe = new TestDevice(_host.CoapEndPoint, kid, key))
            {
                probe.Send(sent[^1].Datagram);
                lastResponse = probe.Receive();
            }

            _host.Dispose();
            _host = new EmseHost(_dir.Path, _emks, _time);        // same SQLite file, empty caches

            Assert.Equal(10, _host.Store.CountReadings());
            JsonElement rs = (await Readings("meter-5")).GetProperty("readings");
            Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), rs.EnumerateArray().Select(r => r.GetProperty("value").GetInt64()).OrderBy(v => v));

            using var dev2 = new TestDevice(_host.CoapEndPoint, kid, key);
            // a retransmission within EXCHANGE_LIFETIME: same response as before the restart, not stored again
            dev2.Send(sent[^1].Datagram);
            Assert.Equal(lastResponse, dev2.Receive());
            // after the lifetime the same datagrams are replays: 4.01 from the persisted window
            _time.Advance(TimeSpan.FromSeconds(601));
            foreach (Protected p in sent)
            {
                dev2.Send(p.Datagram);
                Assert.Equal(CoapCode.Unauthorized, Coap.Decode(dev2.Receive()).Code);
            }

            Assert.Equal(10, _host.Store.CountReadings());
        }

        [Fact]
        public void Upgrade_ARetransmissionOfAnExchangeStoredWithTheSha256Fingerprint_IsStillAnsweredFromTheStore()
        {
            // Until session 12 the request fingerprint was the first 16 octets of SHA-256; it is XXH128 now. An exchange
            // answered just before the upgrade and retransmitted just after it must still get its stored response
            // (not 4.01 "Replay detected", which would make the device send the batch again under a new PIV).
            var (kid, key) = TestDevice.NewKey(new Random(51));
            _emks.Add(kid, key, T0.AddDays(1), "meter-51");
            Protected p;
            byte[] response;
            using (var dev = new TestDevice(_host.CoapEndPoint, kid, key))
            {
                p = dev.Build(new long[] { 42 });
                response = dev.Exchange(p);
                Assert.Equal(CoapCode.Changed, dev.Verify(p, response));
            }

            _host.Dispose(); // stopping folds the journal: the kid's last exchange is in emse_replay
            byte[] sha = System.Security.Cryptography.SHA256.HashData(p.Datagram).AsSpan(0, 16).ToArray();
            using (var c = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + System.IO.Path.Combine(_dir.Path, "emse.db") + ";Pooling=False"))
            {
                c.Open();
                using var read = c.CreateCommand();
                read.CommandText = "SELECT last_hash FROM emse_replay";
                byte[] stored = (byte[])read.ExecuteScalar()!;
                Assert.NotEqual(sha, stored); // the current fingerprint is not the old one: the fallback is what answers below
                using var cmd = c.CreateCommand();
                cmd.CommandText = "UPDATE emse_replay SET last_hash = $h";
                cmd.Parameters.AddWithValue("$h", sha);
                Assert.Equal(1, cmd.ExecuteNonQuery());
            }

            _host = new EmseHost(_dir.Path, _emks, _time);
            using (var dev = new TestDevice(_host.CoapEndPoint, kid, key))
            {
                dev.Send(p.Datagram);
                Assert.Equal(response, dev.Receive());
                // other bytes under the same PIV (an altered outer header) match neither fingerprint: a replay
                byte[] altered = (byte[])p.Datagram.Clone();
                altered[2] ^= 0x01; // Message ID
                dev.Send(altered);
                Assert.Equal(CoapCode.Unauthorized, Coap.Decode(dev.Receive()).Code);
            }

            Assert.Equal(1, _host.Store.CountReadings());
        }

        [Fact]
        public void UnknownKid_EmksSays404_Is401_AndTheEmksIsAskedOnce()
        {
            var (kid, key) = TestDevice.NewKey(new Random(6));           // never added to the fake EMKS
            using var dev = new TestDevice(_host.CoapEndPoint, kid, key);
            for (int i = 0; i < 3; i++)
            {
                Protected p = dev.Build(new long[] { i });
                CoapMessage r = Coap.Decode(dev.Exchange(p));
                Assert.Equal(CoapCode.Unauthorized, r.Code);
                Assert.Equal(CoapType.Acknowledgement, r.Type);
                Assert.Equal(p.MessageId, r.MessageId);
            }

            Assert.Equal(1, _emks.Calls);                                // negative cache (5 s)
            _time.Advance(TimeSpan.FromSeconds(6));
            dev.Exchange(dev.Build(new long[] { 9 }));
            Assert.Equal(2, _emks.Calls);
            Assert.Equal(0, _host.Store.CountReadings());
        }

        /// <summary>DESIGN.md §4: the wire kid is the KID's first 7 octets; any other length is 4.01 at once, without an EMKS pull
        /// (the EMKS would answer 400, which once made 5.03 "Key server unavailable" and a pull per second per kid).</summary>
        [Theory]
        [InlineData(0)]
        [InlineData(1)]
        [InlineData(3)]
        [InlineData(6)]
        public void KidNotSevenOctets_Is401_WithoutAPull(int length)
        {
            var (kid8, key) = TestDevice.NewKey(new Random(60 + length));
            using var dev = new TestDevice(_host.CoapEndPoint, kid8, key);
            // CON POST (RFC 7252 §3), message id 0x1234, no token; OSCORE option (9) = flags (kid flag 0x08, 1-octet PIV) ‖
            // PIV 01 ‖ kid; payload marker and 16 octets of "ciphertext" (never reached: the kid is refused first).
            var datagram = new System.Collections.Generic.List<byte> { 0x40, 0x02, 0x12, 0x34, (byte)(0x90 | (2 + length)), 0x09, 0x01 };
            for (int i = 0; i < length; i++)
            {
                datagram.Add((byte)(0xA0 + i));
            }

            datagram.Add(0xFF);
            datagram.AddRange(new byte[16]);
            dev.Send(datagram.ToArray());
            CoapMessage r = Coap.Decode(dev.Receive());
            Assert.Equal((CoapCode.Unauthorized, CoapType.Acknowledgement, 0x1234), (r.Code, r.Type, r.MessageId));
            Assert.Equal("Security context not found", System.Text.Encoding.UTF8.GetString(r.PayloadBuffer, r.PayloadOffset, r.PayloadLength));
            Assert.Equal(0, _emks.Calls);
        }

        /// <summary>
        /// Made-up kids that never come again must not stay in the cache for ever: once enough negative results piled up, the
        /// ones past their retry time (NegativeCacheTime) are dropped.
        /// </summary>
        [Fact]
        public void AFloodOfUnknownKids_IsDroppedFromTheCacheAfterTheNegativeCacheTime()
        {
            var (kid8, key) = TestDevice.NewKey(new Random(90));
            using var dev = new TestDevice(_host.CoapEndPoint, kid8, key);
            int cachedBefore = _host.Server.CachedContexts;
            byte[] UnknownKid(int i)
            {
                byte[] d = { 0x50, 0x02, (byte)(i >> 8), (byte)i, 0x99, 0x09, 0x01, 0xE0, 0, 0, (byte)(i >> 16), (byte)(i >> 8), (byte)i, 0x5A, 0xFF,
                    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }; // NON POST, OSCORE: kid flag, PIV 01, 7-octet kid
                return d;
            }

            for (int i = 0; i < ContextCache.NegativeSweepEvery; i++)
            {
                dev.Send(UnknownKid(i));
                Assert.Equal(CoapCode.Unauthorized, Coap.Decode(dev.Receive()).Code);
            }

            Assert.Equal(cachedBefore + ContextCache.NegativeSweepEvery, _host.Server.CachedContexts);
            _time.Advance(TimeSpan.FromSeconds(6)); // past NegativeCacheTime (5 s)
            dev.Send(UnknownKid(ContextCache.NegativeSweepEvery));
            Assert.Equal(CoapCode.Unauthorized, Coap.Decode(dev.Receive()).Code);
            Assert.True(_host.Server.CachedContexts <= cachedBefore + 1, "cached: " + _host.Server.CachedContexts);
        }

        [Fact]
        public void ExpiredKey_Is401_BothFromTheEmksAndWhenItExpiresInTheCache()
        {
            using TestDevice old = NewDevice(7, "meter-7", expires: T0.AddSeconds(-1));
            Assert.Equal(CoapCode.Unauthorized, Coap.Decode(old.Exchange(old.Build(new long[] { 1 }))).Code);

            using TestDevice dev = NewDevice(8, "meter-8", expires: T0.AddMinutes(10));
            Protected ok = dev.Build(new long[] { 1 });
            Assert.Equal(CoapCode.Changed, dev.Verify(ok, dev.Exchange(ok)));
            _time.Advance(TimeSpan.FromMinutes(11));
            Assert.Equal(CoapCode.Unauthorized, Coap.Decode(dev.Exchange(dev.Build(new long[] { 2 }))).Code);
            Assert.Equal(1, _host.Store.CountReadings());
        }

        [Fact]
        public void EmksUnavailable_Is503_AndNotCachedAsUnknown()
        {
            using TestDevice dev = NewDevice(9, "meter-9");
            _emks.Unavailable = true;
            Assert.Equal(CoapCode.ServiceUnavailable, Coap.Decode(dev.Exchange(dev.Build(new long[] { 1 }))).Code);
            _emks.Unavailable = false;
            _time.Advance(TimeSpan.FromSeconds(2));
            Protected p = dev.Build(new long[] { 2 });
            Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));
        }

        [Fact]
        public void ConcurrentDatagrams_ForAnUnknownKid_PullOnce()
        {
            using TestDevice dev = NewDevice(10, "meter-10");
            _emks.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var ps = Enumerable.Range(0, 5).Select(i => dev.Build(new long[] { i })).ToList();
            foreach (Protected p in ps)
            {
                dev.Send(p.Datagram);
            }

            System.Threading.SpinWait.SpinUntil(() => _emks.Calls > 0, 10000);
            _emks.Gate.SetResult();
            var codes = new Dictionary<int, byte>();
            for (int i = 0; i < ps.Count; i++)
            {
                byte[] r = dev.Receive();
                codes[Coap.Decode(r).MessageId] = dev.Verify(ps.First(p => p.MessageId == Coap.Decode(r).MessageId), r);
            }

            Assert.All(codes.Values, c => Assert.Equal(CoapCode.Changed, c));
            Assert.Equal(1, _emks.Calls);
            Assert.Equal(5, _host.Store.CountReadings());
        }

        [Theory]
        [InlineData("wrong path", CoapCode.Post, "x", CoapContentFormat.SenmlCbor, CoapCode.NotFound)]
        [InlineData("GET", CoapCode.Get, "r", CoapContentFormat.SenmlCbor, CoapCode.MethodNotAllowed)]
        [InlineData("PUT", CoapCode.Put, "r", CoapContentFormat.SenmlCbor, CoapCode.MethodNotAllowed)]
        [InlineData("SenML JSON", CoapCode.Post, "r", CoapContentFormat.SenmlJson, CoapCode.UnsupportedContentFormat)]
        [InlineData("no Content-Format", CoapCode.Post, "r", -1, CoapCode.UnsupportedContentFormat)]
        public void WrongRequests_GetProtectedErrors(string label, byte code, string path, int format, byte expected)
        {
            using TestDevice dev = NewDevice(11, "meter-11");
            Protected p = dev.Build(new long[] { 1 }, code: code, path: path, contentFormat: format);
            byte[] r = dev.Exchange(p);
            Assert.Equal(CoapCode.Changed, Coap.Decode(r).Code);          // outer code of every OSCORE response
            byte inner = dev.Verify(p, r);
            Assert.True(expected == inner, label + ": inner " + Coap.Code(inner));
            Assert.Equal(0, _host.Store.CountReadings());
        }

        /// <summary>Accept (RFC 7252 §5.10.4) is a recognised critical option: stored as usual, not 4.02; an unknown critical one is 4.02.</summary>
        [Theory]
        [InlineData(CoapOption.Accept, CoapCode.Changed, 1)]
        [InlineData(65001, CoapCode.BadOption, 0)] // odd = critical, unassigned (experimental range)
        public void InnerOptions_AcceptIsKnownUnknownCriticalIs402(int option, byte expected, int stored)
        {
            using TestDevice dev = NewDevice(13, "meter-13");
            Protected p = dev.Build(new long[] { 1 }, extraOption: option, extraValue: new byte[] { 0x70 });
            Assert.Equal(expected, dev.Verify(p, dev.Exchange(p)));
            Assert.Equal(stored, _host.Store.CountReadings());
        }

        [Theory]
        [InlineData("not CBOR", "ff")]
        [InlineData("map instead of array", "a0")]
        [InlineData("record without value", "81a10064656e6572")]
        [InlineData("empty payload", "")]
        [InlineData("truncated", "81a3006165")]
        [InlineData("relative time landing before year 1", "81a30061780201063b0000003afff4417e")] // t = -253402300799 (RFC 8428 §4.5.3: relative)
        public void BadSenml_IsProtected400_NothingStored(string label, string hex)
        {
            using TestDevice dev = NewDevice(12, "meter-12");
            Protected p = dev.Build(Array.Empty<long>(), rawPayload: Convert.FromHexString(hex));
            byte[] r = dev.Exchange(p);
            Assert.True(CoapCode.BadRequest == dev.Verify(p, r), label);
            Assert.Equal(0, _host.Store.CountReadings());
            // the rejected exchange is cached like any other: its retransmission gets the same response
            Assert.Equal(r, dev.Exchange(p));
        }

        [Fact]
        public void UnprotectedRequest_Is401()
        {
            using TestDevice dev = NewDevice(13, "meter-13");
            var m = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Post, MessageId = 77 };
            m.AddUriPath("r");
            var buf = new byte[64];
            int n = CoapCodec.Encode(m, buf, 0);
            dev.Send(buf.AsSpan(0, n).ToArray());
            CoapMessage r = Coap.Decode(dev.Receive());
            Assert.Equal(CoapCode.Unauthorized, r.Code);
            Assert.Equal(77, r.MessageId);
        }

        [Fact]
        public void CoapPing_GetsReset()
        {
            using TestDevice dev = NewDevice(14, "meter-14");
            dev.Send(new byte[] { 0x40, 0x00, 0x12, 0x34 });                 // Empty CON (RFC 7252 §4.3)
            Assert.Equal(new byte[] { 0x70, 0x00, 0x12, 0x34 }, dev.Receive());
        }

        [Theory]
        [InlineData(1153)]
        [InlineData(65000)]
        public void OversizedDatagram_Con_Is413_WithSize1(int size)
        {
            using TestDevice dev = NewDevice(15, "meter-15");
            var big = new byte[size];
            big[0] = 0x41; big[1] = CoapCode.Post; big[2] = 0x01; big[3] = 0x02; big[4] = 0x99; // CON, TKL 1
            dev.Send(big);
            CoapMessage r = Coap.Decode(dev.Receive());
            Assert.Equal(CoapCode.RequestEntityTooLarge, r.Code);
            Assert.Equal(0x0102, r.MessageId);
            Assert.Equal(1152u, r.GetOptionUInt(r.FindOption(CoapOption.Size1), 4));
            Protected p = dev.Build(new long[] { 1 });
            Assert.Equal(CoapCode.Changed, dev.Verify(p, dev.Exchange(p)));  // still serving
        }

        [Fact]
        public void NonConfirmableRequest_GetsNonResponse()
        {
            using TestDevice dev = NewDevice(16, "meter-16");
            Protected p = dev.Build(new long[] { 1 }, type: CoapType.NonConfirmable);
            byte[] r = dev.Exchange(p);
            Assert.Equal(CoapType.NonConfirmable, Coap.Decode(r).Type);
            Assert.Equal(CoapCode.Changed, dev.Verify(p, r));
        }
    }
}

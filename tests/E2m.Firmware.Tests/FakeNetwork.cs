using System.Formats.Cbor;
using CborReader = System.Formats.Cbor.CborReader;
using CborWriter = System.Formats.Cbor.CborWriter;
using System.Security.Cryptography;
using E2m.Coap;
using E2m.Hal.Host;
using E2m.Oscore;
using E2m.TestSupport;

namespace E2m.Firmware.Tests
{
    /// <summary>One USIM authentication vector the fake EMKS issued (what the fake USIM answers for that RAND).</summary>
    public sealed record FakeVector(byte[] Rand, byte[] Autn, byte[] Ck, byte[] Ik, byte[] Res);

    /// <summary>
    /// The in-process "world" behind the fake modem's UDP socket: the EMKS home-mode bootstrap endpoint, the EMSEs, the
    /// HSS push of e2m_int_key (KID → key, as the EMKS would hand it to the EMSEs) and the USIM's behaviour. Speaks real
    /// CoAP (E2m.Coap codec) and real OSCORE (OscoreSecurityContext.ForEmse); CBOR via System.Formats.Cbor and the key
    /// chain via System.Security.Cryptography (TestKdf), independent of the device code.
    /// </summary>
    public sealed class FakeNetwork
    {
        public const string EmksHost = "10.0.0.1";
        public const int EmksPort = 5683;

        private readonly Random _random;
        public FakeClock Clock { get; }
        public PlatformCryptoProvider Crypto { get; } = new();
        public string Imsi = "001010123456789";

        // HSS → EMKS pushed keys, by hex KID
        public Dictionary<string, byte[]> PushedKeys { get; } = new();
        public HashSet<string> ExpiredKids { get; } = new();

        // USIM behaviour
        public Dictionary<string, FakeVector> Vectors { get; } = new();
        public Dictionary<string, byte[]> IssuedAuts { get; } = new();
        public int SyncFailuresToInject;
        public bool MacFailure;
        public bool ModemRefusesAuthenticate;
        public bool UsimPinNotVerified;

        // EMKS behaviour
        public bool OfferWrongKid;
        public long LifetimeSeconds = 30L * 24 * 3600;
        public int EmksDropRequests;
        public List<string> EmksLog { get; } = new();

        public FakeEmks Emks { get; }
        public Dictionary<string, FakeEmse> Emses { get; } = new();
        /// <summary>Bytes allocated by the simulated servers (excluded from the device's allocation figure).</summary>
        public long ServerAllocatedBytes;

        public FakeNetwork(FakeClock clock, int seed)
        {
            Clock = clock;
            _random = new Random(seed);
            Emks = new FakeEmks(this);
        }

        public FakeEmse AddEmse(string emseId, string host, int port = 5683)
        {
            var e = new FakeEmse(this, emseId);
            Emses[host + ":" + port] = e;
            return e;
        }

        public byte[] RandomBytes(int n)
        {
            var b = new byte[n];
            _random.NextBytes(b);
            return b;
        }

        /// <summary>HSS side of one AKA run: pushes e2m_int_key for CK/IK to the EMKS, returns the KID.</summary>
        public byte[] Push(byte[] ck, byte[] ik)
        {
            byte[] intKey = TestKdf.IntKey(ck, ik);
            byte[] kid = TestKdf.Kid(intKey);
            PushedKeys[Hex.Encode(kid)] = intKey;
            return kid;
        }

        /// <summary>A datagram from the device to host:port; returns the answers (possibly none).</summary>
        public List<byte[]> Deliver(string host, int port, byte[] datagram)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                if (host == EmksHost && port == EmksPort) return Emks.Handle(datagram);
                if (Emses.TryGetValue(host + ":" + port, out FakeEmse? e)) return e.Handle(datagram);
                return new List<byte[]>();
            }
            finally
            {
                ServerAllocatedBytes += GC.GetAllocatedBytesForCurrentThread() - before;
            }
        }

        internal static byte[] Reply(CoapMessage request, byte type, byte code, byte[]? payload, int contentFormat)
        {
            var m = new CoapMessage();
            m.Type = type;
            m.Code = code;
            m.MessageId = request.MessageId;
            m.SetToken(request.Token, 0, request.TokenLength);
            if (contentFormat >= 0) m.SetContentFormat(contentFormat);
            if (payload != null) m.SetPayload(payload, 0, payload.Length);
            var buf = new byte[CoapCodec.GetEncodedLength(m)];
            CoapCodec.Encode(m, buf, 0);
            return buf;
        }
    }

    /// <summary>The EMKS home-mode bootstrap (DESIGN.md §3): POST /bs, CBOR maps with small integer keys.</summary>
    public sealed class FakeEmks
    {
        private readonly FakeNetwork _net;
        public int Challenges, Resyncs, Rejected;

        public FakeEmks(FakeNetwork net) { _net = net; }

        public List<byte[]> Handle(byte[] datagram)
        {
            var result = new List<byte[]>();
            if (_net.EmksDropRequests > 0) { _net.EmksDropRequests--; return result; }
            var req = new CoapMessage();
            CoapCodec.Decode(datagram, 0, datagram.Length, req);
            Assert.Equal(CoapType.Confirmable, req.Type);
            Assert.Equal(CoapCode.Post, req.Code);
            int path = req.FindOption(CoapOption.UriPath);
            Assert.Equal("bs", System.Text.Encoding.UTF8.GetString(req.GetOptionBuffer(path), req.GetOptionOffset(path), req.GetOptionLength(path)));
            Assert.Equal(CoapContentFormat.Cbor, req.GetContentFormat());
            var r = new CborReader(req.PayloadBuffer.AsMemory(req.PayloadOffset, req.PayloadLength), CborConformanceMode.Strict);
            int? n = r.ReadStartMap();
            string? imsi = null; byte[]? rand = null, auts = null;
            for (int i = 0; i < n; i++)
            {
                long key = r.ReadInt64();
                switch (key)
                {
                    case 1: imsi = r.ReadTextString(); break;
                    case 2: rand = r.ReadByteString(); break;
                    case 9: auts = r.ReadByteString(); break;
                    default: r.SkipValue(); break;
                }
            }
            r.ReadEndMap();
            Assert.Equal(_net.Imsi, imsi);
            if (auts != null)
            {
                // sync failure: the HSS resynchronises from AUTS (here: checks it is the one the USIM produced)
                Assert.NotNull(rand);
                Assert.True(_net.IssuedAuts.TryGetValue(Hex.Encode(rand!), out byte[]? expected) && expected.SequenceEqual(auts),
                    "resync must carry the RAND and AUTS of the failed challenge");
                Resyncs++;
                _net.EmksLog.Add("resync");
            }
            else
            {
                Assert.Null(rand);
                _net.EmksLog.Add("challenge");
            }
            Challenges++;
            var v = new FakeVector(_net.RandomBytes(16), _net.RandomBytes(16), _net.RandomBytes(16), _net.RandomBytes(16), _net.RandomBytes(8));
            _net.Vectors[Hex.Encode(v.Rand)] = v;
            byte[] kid = _net.Push(v.Ck, v.Ik);
            if (_net.OfferWrongKid) kid = _net.RandomBytes(8);
            var w = new CborWriter(CborConformanceMode.Canonical);
            w.WriteStartMap(4);
            w.WriteInt32(2); w.WriteByteString(v.Rand);
            w.WriteInt32(3); w.WriteByteString(v.Autn);
            w.WriteInt32(6); w.WriteByteString(kid);
            w.WriteInt32(7); w.WriteInt64(_net.LifetimeSeconds);
            w.WriteEndMap();
            result.Add(FakeNetwork.Reply(req, CoapType.Acknowledgement, CoapCode.Created, w.Encode(), CoapContentFormat.Cbor));
            return result;
        }
    }

    /// <summary>One reading as the EMSE stored it.</summary>
    public sealed record StoredReading(string Name, long Time, bool Absolute, double Value, string Kid);

    /// <summary>An EMSE: OSCORE server side (ForEmse) over keys derived from the pushed e2m_int_key for its EMSE_Id.</summary>
    public sealed class FakeEmse
    {
        private readonly FakeNetwork _net;
        public string EmseId { get; }
        private readonly Dictionary<string, OscoreSecurityContext> _contexts = new();
        private readonly Dictionary<string, byte[]> _nonces = new();
        private readonly Dictionary<int, byte[]> _responseCache = new();
        private readonly Dictionary<int, byte[]> _requestCache = new();
        public List<StoredReading> Received { get; } = new();
        public HashSet<(string, long)> Unique { get; } = new();
        public int Requests, Batches, Duplicates, NonceReuse, DecryptFailures, Unauthorized;
        public int Answer401Next;
        /// <summary>The next this many requests get an unprotected 4.01 "Replay detected" (RFC 8613 §7.4), as the EMSE sends it.</summary>
        public int AnswerReplayNext;
        public int ReplaysAnswered;
        public int DropResponsesNext;
        public int AnswerInnerCodeNext = -1;

        public FakeEmse(FakeNetwork net, string emseId)
        {
            _net = net;
            EmseId = emseId;
        }

        public List<byte[]> Handle(byte[] datagram)
        {
            var result = new List<byte[]>();
            var req = new CoapMessage(32, 0);
            CoapCodec.Decode(datagram, 0, datagram.Length, req);
            if (req.Type == CoapType.Acknowledgement) return result;
            Requests++;
            // RFC 7252 §4.5: a retransmitted CON (same message id, same bytes) gets the cached response
            if (_requestCache.TryGetValue(req.MessageId, out byte[]? prev) && prev.SequenceEqual(datagram))
            {
                if (DropResponsesNext > 0) { DropResponsesNext--; return result; }
                if (_responseCache.TryGetValue(req.MessageId, out byte[]? cached)) result.Add(cached);
                return result;
            }
            _requestCache[req.MessageId] = datagram;
            var opt = new OscoreOptionValue();
            Assert.True(opt.ReadFrom(datagram, 0, datagram.Length, new CoapMessage(32, 0)), "request without OSCORE option");
            string kid7 = Hex.Encode(opt.Kid, 0, opt.KidLength);
            string piv = Hex.Encode(opt.Piv, 0, opt.PivLength);
            // nonce-reuse oracle: one (kid, PIV) must always carry the same bytes
            if (_nonces.TryGetValue(kid7 + "/" + piv, out byte[]? seen) && !seen.SequenceEqual(datagram)) NonceReuse++;
            _nonces[kid7 + "/" + piv] = datagram;

            string? kidHex = _net.PushedKeys.Keys.FirstOrDefault(k => k.StartsWith(kid7, StringComparison.Ordinal));
            if (AnswerReplayNext > 0 && kidHex != null)
            {
                AnswerReplayNext--;
                ReplaysAnswered++;
                byte[] diagnostic = System.Text.Encoding.UTF8.GetBytes("Replay detected"); // RFC 8613 §7.4
                return Respond(result, FakeNetwork.Reply(req, CoapType.Acknowledgement, CoapCode.Unauthorized, diagnostic, -1), req.MessageId);
            }
            if (Answer401Next > 0 || kidHex == null || _net.ExpiredKids.Contains(kidHex))
            {
                if (Answer401Next > 0) Answer401Next--;
                Unauthorized++;
                return Respond(result, FakeNetwork.Reply(req, CoapType.Acknowledgement, CoapCode.Unauthorized, null, -1), req.MessageId);
            }
            if (!_contexts.TryGetValue(kidHex, out OscoreSecurityContext? ctx))
            {
                byte[] key = TestKdf.E2mKey(_net.PushedKeys[kidHex], EmseId);
                ctx = OscoreSecurityContext.ForEmse(_net.Crypto, key, Hex.Decode(kidHex), null);
                _contexts[kidHex] = ctx;
            }
            var exchange = new OscoreExchange();
            var inner = new CoapMessage(32, 0);
            var plain = new byte[datagram.Length];
            try
            {
                ctx.UnprotectRequest(datagram, 0, datagram.Length, plain, 0, exchange, inner);
            }
            catch (OscoreException)
            {
                DecryptFailures++;
                return Respond(result, FakeNetwork.Reply(req, CoapType.Acknowledgement, CoapCode.BadRequest, null, -1), req.MessageId);
            }
            Assert.Equal(CoapCode.Post, inner.Code);
            int path = inner.FindOption(CoapOption.UriPath);
            Assert.Equal("r", System.Text.Encoding.UTF8.GetString(inner.GetOptionBuffer(path), inner.GetOptionOffset(path), inner.GetOptionLength(path)));
            Assert.Equal(CoapContentFormat.SenmlCbor, inner.GetContentFormat());
            Batches++;
            StoreSenml(inner.PayloadBuffer.AsMemory(inner.PayloadOffset, inner.PayloadLength), kidHex);

            var resp = new CoapMessage();
            resp.Type = CoapType.Acknowledgement;
            resp.Code = AnswerInnerCodeNext >= 0 ? (byte)AnswerInnerCodeNext : CoapCode.Changed;
            AnswerInnerCodeNext = -1;
            resp.MessageId = req.MessageId;
            resp.SetToken(req.Token, 0, req.TokenLength);
            var outBuf = new byte[256];
            int n = ctx.ProtectResponse(resp, exchange, false, outBuf, 0);
            return Respond(result, outBuf.AsSpan(0, n).ToArray(), req.MessageId);
        }

        private List<byte[]> Respond(List<byte[]> result, byte[] response, int mid)
        {
            _responseCache[mid] = response;
            if (DropResponsesNext > 0) { DropResponsesNext--; return result; }
            result.Add(response);
            return result;
        }

        /// <summary>SenML-CBOR (RFC 8428 §6) decoded with System.Formats.Cbor; duplicates counted by (name, time).</summary>
        private void StoreSenml(ReadOnlyMemory<byte> payload, string kidHex)
        {
            var r = new CborReader(payload, CborConformanceMode.Strict);
            int? count = r.ReadStartArray();
            string? bn = null; long? bt = null;
            for (int i = 0; i < count; i++)
            {
                int? pairs = r.ReadStartMap();
                string? n = null; double v = 0; long t = 0;
                for (int j = 0; j < pairs; j++)
                {
                    long label = r.ReadInt64();
                    switch (label)
                    {
                        case -2: bn = r.ReadTextString(); break;
                        case -3: bt = r.ReadInt64(); break;
                        case 0: n = r.ReadTextString(); break;
                        case 1: r.ReadTextString(); break;
                        case 2: v = r.PeekState() == CborReaderState.UnsignedInteger || r.PeekState() == CborReaderState.NegativeInteger ? r.ReadInt64() : r.ReadDouble(); break;
                        case 6: t = r.ReadInt64(); break;
                        default: r.SkipValue(); break;
                    }
                }
                r.ReadEndMap();
                string name = (bn ?? "") + n;
                bool absolute = bt.HasValue;
                long time = absolute ? bt!.Value + t : _net.Clock.NowMilliseconds / 1000 + t;
                Received.Add(new StoredReading(name, time, absolute, v, kidHex));
                if (!Unique.Add((name, time))) Duplicates++;
            }
            r.ReadEndArray();
        }
    }
}

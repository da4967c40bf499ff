using System;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks.Bootstrap;
using E2m.TestSupport;
using Xunit;
using SysCbor = System.Formats.Cbor;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// Home-mode bootstrap (DESIGN.md §3) over a real UDP socket with a fake HSS (Milenage) and a test USIM. Responses are
    /// decoded with System.Formats.Cbor (independent CBOR oracle); the confirmation MAC and e2m_int_key are recomputed with
    /// System.Security.Cryptography.HMACSHA256 from the DESIGN.md §2/§3 formulas, not with the code under test.
    /// </summary>
    public sealed class BootstrapTests : IAsyncLifetime
    {
        // TS 35.208 test set 1 K / OPc
        private static readonly byte[] K = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc");
        private static readonly byte[] Opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf");
        private const string Imsi = "001010000000001";

        private readonly EmksTestHost _host = new();
        private readonly UdpClient _udp = new(new IPEndPoint(IPAddress.Loopback, 0));

        public async Task InitializeAsync()
        {
            await _host.InitializeAsync();
            _host.Hss.Add(Imsi, new FakeHss.Subscriber { K = K, Opc = Opc, Sqn = 0x20 });
        }

        public async Task DisposeAsync()
        {
            _udp.Dispose();
            await _host.DisposeAsync();
        }

        internal sealed record Challenge(byte[] Rand, byte[] Autn, byte[] Kid, ulong Lifetime);

        private async Task<(byte Code, byte[] Payload, long MaxAge)> PostAsync(byte[] cbor)
        {
            byte[]? d = await _host.CoapExchangeAsync(_udp, EmksTestHost.BootstrapDatagram(cbor));
            Assert.NotNull(d);
            var r = EmksTestHost.Decode(d!);
            Assert.Equal(CoapType.Acknowledgement, r.Type);
            Assert.Equal(new byte[] { 0xA1, 0xB2, 0xC3, 0xD4 }, r.Token);
            return (r.Code, r.Payload, r.MaxAge);
        }

        internal static Challenge ParseChallenge(byte[] payload)
        {
            var r = new SysCbor.CborReader(payload, SysCbor.CborConformanceMode.Canonical);
            int? n = r.ReadStartMap();
            Assert.Equal(4, n);
            byte[]? rand = null, autn = null, kid = null;
            ulong lifetime = 0;
            for (int i = 0; i < 4; i++)
            {
                switch (r.ReadUInt32())
                {
                    case 2: rand = r.ReadByteString(); break;
                    case 3: autn = r.ReadByteString(); break;
                    case 6: kid = r.ReadByteString(); break;
                    case 7: lifetime = r.ReadUInt64(); break;
                    default: Assert.Fail("unexpected key"); break;
                }
            }

            r.ReadEndMap();
            Assert.Equal(0, r.BytesRemaining);
            return new Challenge(rand!, autn!, kid!, lifetime);
        }

        // DESIGN.md §2 with System HMACSHA256: e2m_int_key = HMAC(CK||IK, 0xE0 || "e2m_CIoT" || 0x0008); KID = first 8 of HMAC(int, 0xE2 || "e2m-kid" || 0x0007)
        internal static (byte[] IntKey, byte[] Kid) IndependentKeys(byte[] ck, byte[] ik)
        {
            byte[] ckik = new byte[32];
            ck.CopyTo(ckik, 0);
            ik.CopyTo(ckik, 16);
            byte[] intKey = HMACSHA256.HashData(ckik, Hex.Decode("e0" + Hex.Encode("e2m_CIoT"u8.ToArray()) + "0008"));
            byte[] kid = HMACSHA256.HashData(intKey, Hex.Decode("e2" + Hex.Encode("e2m-kid"u8.ToArray()) + "0007")).AsSpan(0, 8).ToArray();
            return (intKey, kid);
        }

        [Fact]
        public async Task Challenge_then_confirmation_with_independent_mac_check()
        {
            var usim = new TestUsim(K, Opc, 0x20);
            var (code, payload, _) = await PostAsync(BootstrapRequest.EncodeChallenge(Imsi));
            Assert.Equal(CoapCode.Created, code);
            Challenge c = ParseChallenge(payload);
            Assert.Equal(8, c.Kid.Length);
            Assert.Equal((ulong)TimeSpan.FromDays(30).TotalSeconds, c.Lifetime);

            var (res, ck, ik, auts) = usim.Authenticate(c.Rand, c.Autn);
            Assert.Null(auts);
            (byte[] intKey, byte[] kid) = IndependentKeys(ck!, ik!);
            Assert.Equal(kid, c.Kid); // the device's KID equals the one offered (DESIGN.md §3)

            var (code2, payload2, _) = await PostAsync(BootstrapRequest.EncodeConfirm(c.Kid, res!));
            Assert.Equal(CoapCode.Changed, code2);
            var r = new SysCbor.CborReader(payload2, SysCbor.CborConformanceMode.Canonical);
            Assert.Equal(1, r.ReadStartMap());
            Assert.Equal(8u, r.ReadUInt32());
            byte[] mac = r.ReadByteString();
            r.ReadEndMap();
            byte[] macInput = [.. "e2m-bs-ok"u8.ToArray(), .. kid];
            byte[] expected = HMACSHA256.HashData(intKey, macInput).AsSpan(0, 8).ToArray();
            Assert.Equal(expected, mac);

            // the key is usable by the allowed EMSE, and confirmation removed the grace deadline
            _host.Clock.Advance(_host.Options.Bootstrap.GracePeriod + TimeSpan.FromMinutes(1));
            using HttpClient emse = _host.EmseClient("emse.example.org");
            E2mKeyPullResponse? pulled = await emse.GetFromJsonAsync<E2mKeyPullResponse>(EmksEmseContract.PullPath(Hex.Encode(kid)));
            byte[] s = [0xE1, .. "emse.example.org"u8.ToArray(), 0x00, 0x10, .. "e2m_CIoT"u8.ToArray(), 0x00, 0x08];
            byte[] e2mKey = HMACSHA256.HashData(intKey, s);
            Assert.Equal(Hex.Encode(e2mKey), pulled!.E2mKey);

            // a second confirmation finds no challenge
            var (code3, _, _) = await PostAsync(BootstrapRequest.EncodeConfirm(c.Kid, res!));
            Assert.Equal(CoapCode.NotFound, code3);
        }

        [Fact]
        public async Task Wrong_res_is_rejected_and_the_challenge_dropped_after_the_attempt_limit()
        {
            var usim = new TestUsim(K, Opc, 0x20);
            var (_, payload, _) = await PostAsync(BootstrapRequest.EncodeChallenge(Imsi));
            Challenge c = ParseChallenge(payload);
            var (res, _, _, _) = usim.Authenticate(c.Rand, c.Autn);
            byte[] wrong = (byte[])res!.Clone();
            wrong[7] ^= 1;
            Assert.Equal(3, _host.Options.Bootstrap.MaxConfirmAttempts);
            Assert.Equal(CoapCode.Unauthorized, (await PostAsync(BootstrapRequest.EncodeConfirm(c.Kid, wrong))).Code);
            Assert.Equal(CoapCode.Unauthorized, (await PostAsync(BootstrapRequest.EncodeConfirm(c.Kid, res.AsSpan(0, 4).ToArray()))).Code); // length mismatch
            Assert.Equal(CoapCode.Unauthorized, (await PostAsync(BootstrapRequest.EncodeConfirm(c.Kid, wrong))).Code);
            // after MaxConfirmAttempts wrong RES values even the right RES finds no challenge
            Assert.Equal(CoapCode.NotFound, (await PostAsync(BootstrapRequest.EncodeConfirm(c.Kid, res))).Code);
        }

        [Fact]
        public async Task Unconfirmed_unpulled_key_expires_after_the_grace_period()
        {
            var (_, payload, _) = await PostAsync(BootstrapRequest.EncodeChallenge(Imsi));
            Challenge c = ParseChallenge(payload);
            using HttpClient emse = _host.EmseClient("emse.example.org");
            _host.Clock.Advance(_host.Options.Bootstrap.GracePeriod);
            using HttpResponseMessage r = await emse.GetAsync(EmksEmseContract.PullPath(Hex.Encode(c.Kid)));
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
            var purge = (E2m.Server.Emks.Keys.KeyPurgeService)_host.App.Services.GetService(typeof(E2m.Server.Emks.Keys.KeyPurgeService))!;
            await purge.PurgeOnceAsync();
            Assert.Null(await _host.Store.FindKeyAsync(c.Kid));
        }

        [Fact]
        public async Task Pulled_key_loses_its_grace_deadline()
        {
            var (_, payload, _) = await PostAsync(BootstrapRequest.EncodeChallenge(Imsi));
            Challenge c = ParseChallenge(payload);
            using HttpClient emse = _host.EmseClient("emse.example.org");
            Assert.Equal(HttpStatusCode.OK, (await emse.GetAsync(EmksEmseContract.PullPath(Hex.Encode(c.Kid).Substring(0, 14)))).StatusCode);
            _host.Clock.Advance(_host.Options.Bootstrap.GracePeriod * 3);
            Assert.Equal(HttpStatusCode.OK, (await emse.GetAsync(EmksEmseContract.PullPath(Hex.Encode(c.Kid)))).StatusCode);
        }

        [Fact]
        public async Task Sync_failure_auts_resync_gives_a_fresh_challenge_the_usim_accepts()
        {
            // the USIM is ahead of the HSS (SQN_MS = 0x1000 > HSS SQN 0x20): first challenge → sync failure
            var usim = new TestUsim(K, Opc, 0x1000);
            var (_, payload, _) = await PostAsync(BootstrapRequest.EncodeChallenge(Imsi));
            Challenge first = ParseChallenge(payload);
            var (res, _, _, auts) = usim.Authenticate(first.Rand, first.Autn);
            Assert.Null(res);
            Assert.NotNull(auts);

            var (code, payload2, _) = await PostAsync(BootstrapRequest.EncodeResync(Imsi, first.Rand, auts!));
            Assert.Equal(CoapCode.Created, code);
            Assert.Equal(1, _host.Hss.ResyncCount);
            Challenge fresh = ParseChallenge(payload2);
            Assert.NotEqual(first.Rand, fresh.Rand);
            var (res2, ck2, ik2, auts2) = usim.Authenticate(fresh.Rand, fresh.Autn);
            Assert.Null(auts2);
            Assert.Equal(IndependentKeys(ck2!, ik2!).Kid, fresh.Kid);
            Assert.Equal(CoapCode.Changed, (await PostAsync(BootstrapRequest.EncodeConfirm(fresh.Kid, res2!))).Code);

            // the key of the failed challenge is gone; a tampered AUTS is refused by the HSS (4.03)
            Assert.Null(await _host.Store.FindKeyAsync(first.Kid));
            byte[] bad = (byte[])auts!.Clone();
            bad[13] ^= 0x80;
            Assert.Equal(CoapCode.Forbidden, (await PostAsync(BootstrapRequest.EncodeResync(Imsi, fresh.Rand, bad))).Code);
        }

        [Fact]
        public async Task Unknown_imsi_404_non_e2m_403_hss_down_503()
        {
            Assert.Equal(CoapCode.NotFound, (await PostAsync(BootstrapRequest.EncodeChallenge("001019999999999"))).Code);
            _host.Hss.Add("001010000000002", new FakeHss.Subscriber { K = K, Opc = Opc, E2m = false });
            Assert.Equal(CoapCode.Forbidden, (await PostAsync(BootstrapRequest.EncodeChallenge("001010000000002"))).Code);
            _host.Hss.FailWith = E2m.Server.Emks.Hss.AirFailure.Unavailable;
            Assert.Equal(CoapCode.ServiceUnavailable, (await PostAsync(BootstrapRequest.EncodeChallenge(Imsi))).Code);
        }

        [Fact]
        public async Task Rate_limit_per_imsi_answers_4_29_with_max_age_and_refills_on_the_clock()
        {
            BootstrapOptions o = _host.Options.Bootstrap;
            for (int i = 0; i < o.ImsiBurst; i++)
            {
                Assert.Equal(CoapCode.Created, (await PostAsync(BootstrapRequest.EncodeChallenge(Imsi))).Code);
            }

            var (code, _, maxAge) = await PostAsync(BootstrapRequest.EncodeChallenge(Imsi));
            Assert.Equal(BootstrapCodes.TooManyRequests, code);
            Assert.Equal((long)o.ImsiRefill.TotalSeconds, maxAge);
            int airs = _host.Hss.AirCount;
            Assert.Equal(BootstrapCodes.TooManyRequests, (await PostAsync(BootstrapRequest.EncodeChallenge(Imsi))).Code);
            Assert.Equal(airs, _host.Hss.AirCount); // a limited request never reaches the HSS

            _host.Clock.Advance(o.ImsiRefill);
            Assert.Equal(CoapCode.Created, (await PostAsync(BootstrapRequest.EncodeChallenge(Imsi))).Code);
        }

        [Fact]
        public async Task Rate_limit_per_source_address()
        {
            BootstrapOptions o = _host.Options.Bootstrap;
            int created = 0, limited = 0;
            for (int i = 0; i < o.AddressBurst + 5; i++)
            {
                // different IMSIs (unknown to the HSS: 4.04) so only the address bucket applies
                byte code = (await PostAsync(BootstrapRequest.EncodeChallenge("00101" + i.ToString("D10")))).Code;
                if (code == BootstrapCodes.TooManyRequests) limited++;
                else created++;
            }

            Assert.Equal(o.AddressBurst, created);
            Assert.Equal(5, limited);
        }

        [Fact]
        public async Task Coap_layer_paths_methods_formats_ping_and_dedup()
        {
            byte[] ok = BootstrapRequest.EncodeChallenge(Imsi);
            Assert.Equal(CoapCode.NotFound, EmksTestHost.Decode((await _host.CoapExchangeAsync(_udp, EmksTestHost.BootstrapDatagram(ok, path: "bx")))!).Code);
            Assert.Equal(CoapCode.MethodNotAllowed, EmksTestHost.Decode((await _host.CoapExchangeAsync(_udp, EmksTestHost.BootstrapDatagram(ok, code: CoapCode.Get)))!).Code);
            Assert.Equal(CoapCode.BadRequest, EmksTestHost.Decode((await _host.CoapExchangeAsync(_udp, EmksTestHost.BootstrapDatagram(new byte[] { 0xA1, 0x01 })))!).Code);
            Assert.Equal(CoapCode.BadRequest, EmksTestHost.Decode((await _host.CoapExchangeAsync(_udp, EmksTestHost.BootstrapDatagram(new byte[] { 0x81, 0x01 })))!).Code);

            // CON ping (Empty) → RST with the same Message ID (RFC 7252 §4.3)
            byte[]? rst = await _host.CoapExchangeAsync(_udp, new byte[] { 0x40, 0x00, 0x12, 0x34 });
            Assert.Equal(new byte[] { 0x70, 0x00, 0x12, 0x34 }, rst);

            // NON request → NON response
            var non = EmksTestHost.Decode((await _host.CoapExchangeAsync(_udp, EmksTestHost.BootstrapDatagram(ok, confirmable: false)))!);
            Assert.Equal(CoapType.NonConfirmable, non.Type);
            Assert.Equal(CoapCode.Created, non.Code);

            // a retransmitted CON (same Message ID) gets the same answer without a second AIR (RFC 7252 §4.5)
            byte[] con = EmksTestHost.BootstrapDatagram(ok, messageId: 0x7777);
            byte[]? first = await _host.CoapExchangeAsync(_udp, con);
            int airs = _host.Hss.AirCount;
            byte[]? again = await _host.CoapExchangeAsync(_udp, con);
            Assert.Equal(first, again);
            Assert.Equal(airs, _host.Hss.AirCount);
        }
    }
}

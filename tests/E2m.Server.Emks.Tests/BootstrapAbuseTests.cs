using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Server.Common;
using E2m.Server.Emks.Bootstrap;
using E2m.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// Abuse of the home-mode bootstrap and of revocation found by review (session 11): another subscriber's AUTS over a
    /// victim's RAND, a flood of distinct rate-limiter keys, an oversized datagram, a serial number with its top bit set.
    /// </summary>
    public sealed class BootstrapAbuseTests : IAsyncLifetime
    {
        private static readonly byte[] K = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc");
        private static readonly byte[] Opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf");
        private static readonly byte[] K2 = Hex.Decode("fec86ba6eb707ed08905757b1bb44b8f");
        private static readonly byte[] Opc2 = Hex.Decode("1006020f0a478bf6b699f15c062e42b3");
        private const string Victim = "001010000000001";
        private const string Attacker = "001010000000002";
        private readonly EmksTestHost _host = new();
        private readonly UdpClient _udp = new(new IPEndPoint(IPAddress.Loopback, 0));

        public async Task InitializeAsync()
        {
            await _host.InitializeAsync();
            _host.Hss.Add(Victim, new FakeHss.Subscriber { K = K, Opc = Opc, Sqn = 0x20 });
            _host.Hss.Add(Attacker, new FakeHss.Subscriber { K = K2, Opc = Opc2, Sqn = 0x20, SubscriptionId = "attacker-sub" });
        }

        public async Task DisposeAsync()
        {
            _udp.Dispose();
            await _host.DisposeAsync();
        }

        private async Task<(byte Code, byte[] Payload)> PostAsync(byte[] cbor)
        {
            var r = EmksTestHost.Decode((await _host.CoapExchangeAsync(_udp, EmksTestHost.BootstrapDatagram(cbor)))!);
            return (r.Code, r.Payload);
        }

        /// <summary>
        /// The RAND travels in clear; an attacker with a SIM of their own builds a valid AUTS over the victim's RAND. The HSS
        /// accepts it (it proves the attacker's K), but the victim's challenge and key belong to another subscription: kept.
        /// </summary>
        [Fact]
        public async Task ResyncOfOneSubscriberLeavesAnotherSubscribersChallenge()
        {
            var (code, payload) = await PostAsync(BootstrapRequest.EncodeChallenge(Victim));
            Assert.Equal(CoapCode.Created, code);
            var c = BootstrapTests.ParseChallenge(payload);

            var m = new Milenage(new PlatformCryptoProvider().CreateAes128());
            m.SetKey(K2, Opc2);
            byte[] auts = new byte[14];
            Aka.BuildAuts(m, c.Rand, FakeHss.FromUlong(0x40), auts);
            var (attacker, _) = await PostAsync(BootstrapRequest.EncodeResync(Attacker, c.Rand, auts));
            Assert.Equal(CoapCode.Created, attacker); // the attacker's own fresh challenge

            Assert.NotNull(await _host.Store.FindChallengeAsync(c.Kid));
            Assert.NotNull(await _host.Store.FindKeyAsync(c.Kid));
            var usim = new TestUsim(K, Opc, 0x20);
            var (res, _, _, _) = usim.Authenticate(c.Rand, c.Autn);
            var (confirm, _) = await PostAsync(BootstrapRequest.EncodeConfirm(c.Kid, res!));
            Assert.Equal(CoapCode.Changed, confirm);
        }

        /// <summary>
        /// RFC 7252 §4.5: the socket loop hands each datagram to a task of its own, so a retransmission can reach the
        /// handler while the first copy still waits for the HSS. Exactly one copy is processed (one AIR, one challenge):
        /// the second is dropped while the first is in progress, and a later one gets the first one's response.
        /// </summary>
        [Fact]
        public async Task TwoCopiesOfOneRequestHandledAtOnceRunOneAir()
        {
            BootstrapCoapHandler handler = _host.App.Services.GetRequiredService<BootstrapCoapHandler>();
            TaskCompletionSource hold = _host.Hss.HoldAirs();
            byte[] d = EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Victim), messageId: 0x4242);
            var remote = new IPEndPoint(IPAddress.Parse("192.0.2.7"), 5683);
            var copies = new Task<byte[]?>[8];
            for (int i = 0; i < copies.Length; i++)
            {
                copies[i] = Task.Run(() => handler.HandleAsync(d, d.Length, remote, CancellationToken.None));
            }

            // Every copy but the one that went on to the HSS comes back without an answer while it waits there.
            byte[]?[] early = new byte[]?[copies.Length - 1];
            int done = 0;
            var pending = new List<Task<byte[]?>>(copies);
            while (done < copies.Length - 1)
            {
                Task<byte[]?> t = await Task.WhenAny(pending).WaitAsync(TimeSpan.FromSeconds(30));
                pending.Remove(t);
                early[done++] = await t;
            }

            Assert.All(early, Assert.Null);
            Assert.Equal(1, await _host.Hss.WaitForAirsAsync(1));
            hold.SetResult();
            byte[]? first = await pending[0].WaitAsync(TimeSpan.FromSeconds(30));
            Assert.NotNull(first);
            Assert.Equal(CoapCode.Created, EmksTestHost.Decode(first!).Code);

            byte[]? again = await handler.HandleAsync(d, d.Length, remote, CancellationToken.None);
            Assert.Equal(first, again);
            Assert.Equal(1, _host.Hss.AirStarted);
        }

        /// <summary>
        /// The dedup table is bounded (50 000 exchanges), but a flood of distinct (source, Message ID) pairs never makes it
        /// forget an exchange still in progress: a retransmission of a challenge that waits for the HSS is still dropped,
        /// not sent to the HSS a second time, and afterwards gets the first copy's response.
        /// </summary>
        [Fact]
        public async Task AFloodOfDistinctExchangesNeverDropsOneInProgress()
        {
            BootstrapCoapHandler handler = _host.App.Services.GetRequiredService<BootstrapCoapHandler>();
            TaskCompletionSource hold = _host.Hss.HoldAirs();
            byte[] d = EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Victim), messageId: 0x5151);
            var device = new IPEndPoint(IPAddress.Parse("192.0.2.9"), 5683);
            Task<byte[]?> first = Task.Run(() => handler.HandleAsync(d, d.Length, device, CancellationToken.None));
            Assert.Equal(1, await _host.Hss.WaitForAirsAsync(1));
            byte[] other = EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Victim), messageId: 7, path: "elsewhere"); // 4.04 at once
            for (int i = 0; i < 60_000; i++)
            {
                Assert.NotNull(await handler.HandleAsync(other, other.Length, new IPEndPoint(IPAddress.Parse("198.51.100.1"), 1024 + i), CancellationToken.None));
            }

            Assert.InRange(handler.DedupEntries, 1, 50_001);
            Assert.Null(await handler.HandleAsync(d, d.Length, device, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal(1, _host.Hss.AirStarted);
            hold.SetResult();
            byte[]? response = await first.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(CoapCode.Created, EmksTestHost.Decode(response!).Code);
            Assert.Equal(response, await handler.HandleAsync(d, d.Length, device, CancellationToken.None));
        }

        /// <summary>A flood of 100 000 other keys never hands a limited key a fresh burst; new keys wait for room instead.</summary>
        [Fact]
        public void AFloodOfDistinctKeysNeverLiftsALimit()
        {
            var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 29, 8, 0, 0, TimeSpan.Zero));
            var l = new TokenBucketRateLimiter(5, TimeSpan.FromMinutes(1), clock, maxKeys: 1000);
            for (int i = 0; i < 5; i++)
            {
                Assert.True(l.TryAcquire(Victim, out _));
            }

            Assert.False(l.TryAcquire(Victim, out _));
            int admitted = 0;
            for (int i = 0; i < 100_000; i++)
            {
                admitted += l.TryAcquire("00102" + i.ToString("D10", System.Globalization.CultureInfo.InvariantCulture), out _) ? 1 : 0;
            }

            Assert.Equal(999, admitted); // the table's room, then new keys are refused
            Assert.False(l.TryAcquire(Victim, out _));
            Assert.True(l.TrackedKeys <= 1000);

            // Once buckets have refilled (5 tokens at 1/min), they are dropped and new keys find room again.
            clock.Advance(TimeSpan.FromMinutes(6));
            Assert.True(l.TryAcquire("001029999999999", out _));
            Assert.True(l.TryAcquire(Victim, out _));
        }

        /// <summary>One IPv6 host has a whole /64 to send from: the per-source limit keys IPv6 by its /64, IPv4(-mapped) by the address.</summary>
        [Theory]
        [InlineData("2001:db8::1", "2001:db8::/64")]
        [InlineData("2001:db8::ffff:1:2", "2001:db8::/64")]
        [InlineData("2001:db8:0:1::1", "2001:db8:0:1::/64")]
        [InlineData("::ffff:10.0.0.1", "10.0.0.1")]
        [InlineData("10.0.0.1", "10.0.0.1")]
        public void TheSourceRateLimitKeysIpv6ByItsSlash64(string address, string key)
        {
            Assert.Equal(key, BootstrapCoapHandler.RateLimitSource(IPAddress.Parse(address)));
        }

        /// <summary>Linux hands the first 1152 octets of a longer datagram over without an error: it must not be processed.</summary>
        [Fact]
        public async Task AnOversizedDatagramIsNotProcessedAndTheServerGoesOn()
        {
            byte[] cbor = BootstrapRequest.EncodeChallenge(Victim);
            byte[] datagram = null!;
            for (int fill = 900; datagram == null; fill++)
            {
                var t = new CoapMessage(8, 2048) { Type = CoapType.Confirmable, Code = CoapCode.Post, MessageId = 4242 };
                t.SetToken(new byte[] { 1, 2, 3, 4 }, 0, 4);
                t.AddUriPath("bs");
                t.SetContentFormat(60);
                t.AddOption(1000, new byte[fill], 0, fill); // elective (even), only to fill
                t.SetPayload(cbor, 0, cbor.Length);
                int length = CoapCodec.GetEncodedLength(t);
                Assert.True(length <= 1152, "no exact fit");
                if (length == 1152)
                {
                    datagram = new byte[1400]; // a valid request in the first 1152 octets, more after
                    CoapCodec.Encode(t, datagram, 0);
                    datagram.AsSpan(1152).Fill(0xEE);
                }
            }

            byte[]? answer = await _host.CoapExchangeAsync(_udp, datagram, 3000);
            Assert.NotNull(answer);
            var r = EmksTestHost.Decode(answer!);
            Assert.Equal((CoapType.Reset, 4242), (r.Type, r.MessageId));
            Assert.Equal(0, _host.Hss.AirCount);

            var (code, _) = await PostAsync(cbor);
            Assert.Equal(CoapCode.Created, code);
        }

        /// <summary>
        /// `e2m pki revoke --serial` takes the number as openssl prints it (no 0x00 before a first octet >= 0x80); the list
        /// must revoke the certificate whose DER serial carries that 0x00, and a list naming the octets as a negative
        /// INTEGER still revokes (compared as unsigned numbers).
        /// </summary>
        [Theory]
        [InlineData("008512345678", "8512345678")]
        [InlineData("008512345678", "008512345678")]
        [InlineData("7f12345678", "7f12345678")]
        [InlineData("7f12345678", "00007f12345678")]
        public void RevokingASerialAsPrintedRevokesTheCertificate(string certificateSerial, string revokedAs)
        {
            string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "e2m-emks-tests", Guid.NewGuid().ToString("N"));
            DevPki.Init(dir, Array.Empty<string>());
            using X509Certificate2 ca = DevPki.LoadCertificate(dir, DevPki.Ca);
            using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=leaf, OU=reader", leafKey, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid(DevPki.ClientAuthOid) }, false));
            using X509Certificate2 leaf = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), Hex.Decode(certificateSerial));
            E2mTrustAnchor before = DevPki.LoadTrustAnchor(dir);
            Assert.True(before.Validate(leaf, DevPki.ClientAuthOid));

            DevPki.Revocation r = DevPki.RevokeSerial(dir, Hex.Decode(revokedAs));
            Assert.Equal(RevocationList.SerialKey(Hex.Decode(certificateSerial)).ToLowerInvariant(), r.SerialNumber);
            Assert.False(DevPki.LoadTrustAnchor(dir).Validate(leaf, DevPki.ClientAuthOid));

            // a list (written by another tool) naming the top-bit octets without the 0x00, i.e. a negative INTEGER
            var builder = new CertificateRevocationListBuilder();
            builder.AddEntry(Hex.Decode(RevocationList.SerialKey(Hex.Decode(certificateSerial))), DateTimeOffset.UtcNow);
            byte[] der = builder.Build(ca, 7, DateTimeOffset.UtcNow.AddDays(1), HashAlgorithmName.SHA256);
            Assert.True(RevocationList.Parse(der, ca).IsRevoked(leaf));
        }
    }
}

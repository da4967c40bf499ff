using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Hal;
using E2m.Server.Emks.Bootstrap;
using E2m.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// Seeded mutation fuzzing of the bootstrap endpoint (issue 6 point 5: malformed CBOR/CoAP). Oracle: the handler never
    /// throws, and every answer is a well-formed CoAP ACK/NON response (2.xx/4.xx/5.xx) or RST; over the real socket the
    /// server still answers a valid request afterwards. Reproduce with E2M_TEST_SEED=n.
    /// </summary>
    public sealed class BootstrapFuzzTests : IAsyncLifetime
    {
        private const string Imsi = "001010000000001";

        private readonly EmksTestHost _host = new(o =>
        {
            o.Bootstrap.ImsiBurst = 1_000_000;
            o.Bootstrap.AddressBurst = 1_000_000;
        });

        public async Task InitializeAsync()
        {
            await _host.InitializeAsync();
            _host.Hss.Add(Imsi, new FakeHss.Subscriber { K = Hex.Decode("465b5ce8b199b49faa5f0a2ee238a6bc"), Opc = Hex.Decode("cd63cb71954a9f4e48a5994e37a02baf"), Sqn = 0x20 });
        }

        public Task DisposeAsync() => _host.DisposeAsync();

        private static int Seed()
        {
            string? s = Environment.GetEnvironmentVariable("E2M_TEST_SEED");
            return s != null ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : Environment.TickCount & 0x7FFFFFFF;
        }

        private static List<byte[]> Seeds()
        {
            byte[] kid = Hex.Decode("73ffcbb15a4f8029");
            return new List<byte[]>
            {
                EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi)),
                EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeResync(Imsi, new byte[16], new byte[14])),
                EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeConfirm(kid, new byte[8])),
                EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi), confirmable: false),
                new byte[] { 0x40, 0x00, 0x12, 0x34 },
            };
        }

        internal static byte[] Mutate(Random rng, byte[] seed)
        {
            var b = new List<byte>(seed);
            int ops = 1 + rng.Next(4);
            for (int o = 0; o < ops; o++)
            {
                switch (rng.Next(7))
                {
                    case 0 when b.Count > 0: b[rng.Next(b.Count)] ^= (byte)(1 << rng.Next(8)); break;
                    case 1 when b.Count > 0: b[rng.Next(b.Count)] = (byte)rng.Next(256); break;
                    case 2 when b.Count > 0: b.RemoveRange(rng.Next(b.Count), 1); break;
                    case 3: b.Insert(rng.Next(b.Count + 1), (byte)rng.Next(256)); break;
                    case 4 when b.Count > 1:
                        int at = rng.Next(b.Count), len = rng.Next(1, Math.Min(8, b.Count - at) + 1);
                        b.InsertRange(rng.Next(b.Count + 1), b.GetRange(at, len)); // duplicate a segment
                        break;
                    case 5: b = new List<byte>(b.GetRange(0, rng.Next(b.Count + 1))); break; // truncate
                    default:
                        var junk = new byte[rng.Next(1, 16)];
                        rng.NextBytes(junk);
                        b.InsertRange(rng.Next(b.Count + 1), junk);
                        break;
                }
            }

            // keep version 1 most of the time so the mutation reaches the decoders
            if (b.Count > 0 && rng.Next(8) != 0) b[0] = (byte)((b[0] & 0x3F) | 0x40);
            return b.ToArray();
        }

        [Fact]
        public async Task Thousands_of_mutations_through_the_handler_never_throw_and_answer_well_formed_coap()
        {
            int seed = Seed();
            var rng = new Random(seed);
            BootstrapCoapHandler handler = _host.App.Services.GetRequiredService<BootstrapCoapHandler>();
            List<byte[]> seeds = Seeds();
            var remote = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 40000);
            int answered = 0, dropped = 0;
            for (int i = 0; i < 5000; i++)
            {
                byte[] d = Mutate(rng, seeds[rng.Next(seeds.Count)]);
                byte[]? response;
                try
                {
                    response = await handler.HandleAsync(d, d.Length, remote, CancellationToken.None);
                }
                catch (Exception e)
                {
                    throw new Xunit.Sdk.XunitException($"seed {seed}, case {i}, input {Hex.Encode(d)}: {e}");
                }

                if (response == null)
                {
                    dropped++;
                    continue;
                }

                answered++;
                var m = new CoapMessage();
                try
                {
                    CoapCodec.Decode(response, 0, response.Length, m);
                }
                catch (MalformedInputException e)
                {
                    throw new Xunit.Sdk.XunitException($"seed {seed}, case {i}: server sent undecodable CoAP {Hex.Encode(response)} ({e.Error})");
                }

                bool ok = (m.Type == CoapType.Reset && m.Code == CoapCode.Empty)
                    || ((m.Type == CoapType.Acknowledgement || m.Type == CoapType.NonConfirmable) && CoapCode.IsResponse(m.Code));
                Assert.True(ok, $"seed {seed}, case {i}: unexpected type {m.Type} code {m.Code:x2} for {Hex.Encode(d)}");
            }

            Assert.True(answered > 1000, $"seed {seed}: only {answered} answered, {dropped} dropped");
        }

        [Fact]
        public async Task Server_keeps_answering_on_the_socket_after_a_mutation_storm()
        {
            int seed = Seed();
            var rng = new Random(seed);
            List<byte[]> seeds = Seeds();
            using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            udp.Client.ReceiveBufferSize = 1 << 20;
            for (int i = 0; i < 2000; i++)
            {
                byte[] d = Mutate(rng, seeds[rng.Next(seeds.Count)]);
                if (d.Length == 0) continue;
                await udp.SendAsync(d, _host.CoapEndPoint);
                if (i % 200 == 0) await Task.Delay(20); // let the server drain its socket buffer
            }

            // As a CoAP client does (RFC 7252 §4.2): the CON is sent again until its ACK comes. On a loaded host the socket
            // buffer may drop a datagram right after the storm; the server must still answer one of the copies (the same
            // Message ID: a duplicate gets the same response, §4.5).
            byte[] valid = EmksTestHost.BootstrapDatagram(BootstrapRequest.EncodeChallenge(Imsi), messageId: 0xBEEF);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            DateTime resendAt = DateTime.MinValue;
            while (true)
            {
                if (DateTime.UtcNow >= resendAt)
                {
                    await udp.SendAsync(valid, _host.CoapEndPoint);
                    resendAt = DateTime.UtcNow.AddSeconds(2);
                }

                UdpReceiveResult r;
                try
                {
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
                    wait.CancelAfter(TimeSpan.FromSeconds(2));
                    r = await udp.ReceiveAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!cts.IsCancellationRequested)
                {
                    continue; // resend
                }
                catch (OperationCanceledException)
                {
                    throw new Xunit.Sdk.XunitException($"seed {seed}: no answer to a valid request (sent every 2 s for 20 s) after the storm");
                }

                var m = new CoapMessage();
                CoapCodec.Decode(r.Buffer, 0, r.Buffer.Length, m);
                if (m.MessageId == 0xBEEF && m.Type == CoapType.Acknowledgement)
                {
                    Assert.Equal(CoapCode.Created, m.Code);
                    break;
                }
            }
        }
    }
}

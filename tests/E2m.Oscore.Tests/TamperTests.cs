using System;
using System.Collections.Generic;
using E2m.Hal;
using E2m.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace E2m.Oscore.Tests
{
    /// <summary>
    /// Tampering with a protected request or response (every octet replaced, deleted, inserted; truncations;
    /// extensions; thousands of seeded random multi-mutations) is rejected with OscoreException or another
    /// MalformedInputException, never another exception; a mutation that is accepted (Class U parts: type,
    /// message id, token) yields exactly the original protected content (Code, Class E options, payload).
    /// </summary>
    public class TamperTests
    {
        private readonly ITestOutputHelper _log;

        public TamperTests(ITestOutputHelper log)
        {
            _log = log;
        }

        private sealed class Outcome
        {
            public int Accepted;
            public readonly Dictionary<string, int> Rejected = new();

            public override string ToString()
            {
                var parts = new List<string> { "accepted " + Accepted };
                foreach (var kv in Rejected)
                {
                    parts.Add(kv.Key + " " + kv.Value);
                }

                return string.Join(", ", parts);
            }
        }

        private static IEnumerable<(string what, byte[] datagram)> Mutations(byte[] original, int seed, int randomCount)
        {
            var rng = new Random(seed);
            for (int i = 0; i < original.Length; i++)
            {
                foreach (int x in new[] { 0x01, 0x80, 0xFF })
                {
                    byte[] m = (byte[])original.Clone();
                    m[i] ^= (byte)x;
                    yield return ($"xor {x:x2} at {i}", m);
                }

                foreach (byte v in new byte[] { 0x00, 0xFF, (byte)rng.Next(256) })
                {
                    if (v != original[i])
                    {
                        byte[] m = (byte[])original.Clone();
                        m[i] = v;
                        yield return ($"set {v:x2} at {i}", m);
                    }
                }

                byte[] del = new byte[original.Length - 1];
                Array.Copy(original, 0, del, 0, i);
                Array.Copy(original, i + 1, del, i, original.Length - i - 1);
                yield return ($"delete at {i}", del);

                byte[] ins = new byte[original.Length + 1];
                Array.Copy(original, 0, ins, 0, i);
                ins[i] = (byte)rng.Next(256);
                Array.Copy(original, i, ins, i + 1, original.Length - i);
                yield return ($"insert at {i}", ins);
            }

            for (int len = 0; len < original.Length; len++)
            {
                yield return ($"truncate to {len}", original.AsSpan(0, len).ToArray());
            }

            for (int extra = 1; extra <= 16; extra++)
            {
                byte[] m = new byte[original.Length + extra];
                Array.Copy(original, m, original.Length);
                rng.NextBytes(m.AsSpan(original.Length));
                yield return ($"extend by {extra}", m);
            }

            for (int r = 0; r < randomCount; r++)
            {
                byte[] m = (byte[])original.Clone();
                int ops = rng.Next(1, 5);
                for (int k = 0; k < ops; k++)
                {
                    int op = rng.Next(4);
                    if (op == 0 && m.Length > 0)
                    {
                        m[rng.Next(m.Length)] = (byte)rng.Next(256);
                    }
                    else if (op == 1 && m.Length > 0)
                    {
                        m[rng.Next(m.Length)] ^= (byte)(1 << rng.Next(8));
                    }
                    else if (op == 2)
                    {
                        m = m.AsSpan(0, rng.Next(m.Length + 1)).ToArray();
                    }
                    else
                    {
                        byte[] longer = new byte[m.Length + rng.Next(1, 8)];
                        Array.Copy(m, longer, m.Length);
                        rng.NextBytes(longer.AsSpan(m.Length));
                        m = longer;
                    }
                }

                yield return ($"random #{r}", m);
            }
        }

        private static void Classify(Outcome outcome, Func<int> attempt, string expectedProtectedPart, byte[] output, string what, byte[] datagram, int seed)
        {
            int n;
            try
            {
                n = attempt();
            }
            catch (OscoreException e)
            {
                string key = "oscore " + (int)e.OscoreError;
                outcome.Rejected[key] = outcome.Rejected.GetValueOrDefault(key) + 1;
                return;
            }
            catch (MalformedInputException e)
            {
                string key = "input " + e.Code;
                outcome.Rejected[key] = outcome.Rejected.GetValueOrDefault(key) + 1;
                return;
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed}, {what}, datagram {Hex.Encode(datagram)}: unexpected {e.GetType().Name}: {e.Message}");
                return;
            }

            outcome.Accepted++;
            string got = Coap.ProtectedPart(output.AsSpan(0, n).ToArray());
            Assert.True(got == expectedProtectedPart, $"seed {seed}, {what}, datagram {Hex.Encode(datagram)}: accepted with altered content {got}");
        }

        [Theory]
        [MemberData(nameof(Providers.Names), MemberType = typeof(Providers))]
        public void TamperedRequestsAreRejectedOrUnchanged(string provider)
        {
            int seed = TestSeed.Get(4242);
            var crypto = Providers.Get(provider);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto);
            byte[] request = Coap.ReadingsRequest(Coap.Payload40());
            byte[] buf = new byte[512];
            int n = device.ProtectRequest(request, 0, request.Length, buf, 0, new OscoreExchange());
            byte[] wire = buf.AsSpan(0, n).ToArray();
            string expected = Coap.ProtectedPart(request);
            var exchange = new OscoreExchange();
            byte[] output = new byte[1024];
            var outcome = new Outcome();
            int total = 0;
            foreach (var (what, datagram) in Mutations(wire, seed, 5000))
            {
                total++;
                emse.RestoreReplayWindow(-1, 0); // each attempt on a fresh window: isolate tamper checks from replay checks
                Classify(outcome, () => emse.UnprotectRequest(datagram, 0, datagram.Length, output, 0, exchange), expected, output, what, datagram, seed);
            }

            _log.WriteLine($"{provider}: {total} mutated requests (seed {seed}): {outcome}");
            Assert.True(total > 5000);
            Assert.True(outcome.Accepted > 0, outcome.ToString());           // type / message id / token changes
            Assert.True(outcome.Rejected.ContainsKey("oscore 401"), outcome.ToString()); // decryption failed
        }

        [Theory]
        [MemberData(nameof(Providers.Names), MemberType = typeof(Providers))]
        public void TamperedResponsesAreRejectedOrUnchanged(string provider)
        {
            int seed = TestSeed.Get(4343);
            var crypto = Providers.Get(provider);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto, new MemorySsnStore());
            byte[] request = Coap.ReadingsRequest(Coap.Payload40());
            byte[] buf = new byte[512];
            var cx = new OscoreExchange();
            int n = device.ProtectRequest(request, 0, request.Length, buf, 0, cx);
            var sx = new OscoreExchange();
            emse.UnprotectRequest(buf, 0, n, new byte[512], 0, sx);
            byte[] kid = cx.RequestKid.AsSpan(0, cx.RequestKidLength).ToArray();
            byte[] piv = cx.RequestPiv.AsSpan(0, cx.RequestPivLength).ToArray();

            foreach (bool ownPiv in new[] { false, true })
            {
                byte[] response = Coap.ChangedResponse(request, new byte[] { 0x42, 0x43 });
                sx.Set(kid, 0, kid.Length, piv, 0, piv.Length);
                n = emse.ProtectResponse(response, 0, response.Length, sx, ownPiv, buf, 0);
                byte[] wire = buf.AsSpan(0, n).ToArray();
                string expected = Coap.ProtectedPart(response);
                byte[] output = new byte[1024];
                var outcome = new Outcome();
                foreach (var (what, datagram) in Mutations(wire, seed, 3000))
                {
                    cx.Set(kid, 0, kid.Length, piv, 0, piv.Length); // fresh exchange: one response accepted per exchange
                    Classify(outcome, () => device.UnprotectResponse(datagram, 0, datagram.Length, cx, output, 0), expected, output, what, datagram, seed);
                }

                _log.WriteLine($"{provider} ownPiv={ownPiv}: mutated responses (seed {seed}): {outcome}");
                Assert.True(outcome.Accepted > 0, outcome.ToString());
                Assert.True(outcome.Rejected.ContainsKey("oscore 401"), outcome.ToString());
            }
        }

        [Fact]
        public void ResponseBoundToItsRequest()
        {
            // RFC 8613 §7.1: a response to request A does not verify as the response to request B.
            var crypto = Providers.Get(Providers.Portable);
            using OscoreSecurityContext device = ProfileKeys.Device(crypto);
            using OscoreSecurityContext emse = ProfileKeys.Emse(crypto);
            byte[] buf = new byte[512];
            var a = new OscoreExchange();
            var b = new OscoreExchange();
            byte[] reqA = Coap.ReadingsRequest(Coap.Payload40(), 1);
            byte[] reqB = Coap.ReadingsRequest(Coap.Payload40(), 2);
            int n = device.ProtectRequest(reqA, 0, reqA.Length, buf, 0, a);
            var sa = new OscoreExchange();
            emse.UnprotectRequest(buf, 0, n, new byte[512], 0, sa);
            device.ProtectRequest(reqB, 0, reqB.Length, buf, 0, b);
            byte[] resp = Coap.ChangedResponse(reqA);
            n = emse.ProtectResponse(resp, 0, resp.Length, sa, false, buf, 0);
            OscoreException e = Assert.Throws<OscoreException>(() => device.UnprotectResponse(buf, 0, n, b, new byte[512], 0));
            Assert.Equal(OscoreError.DecryptionFailed, e.OscoreError);
            device.UnprotectResponse(buf, 0, n, a, new byte[512], 0);
        }
    }
}

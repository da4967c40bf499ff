using System;
using System.Collections.Generic;
using System.Formats.Cbor;
using System.Text.Json;
using CoapMessage = E2m.Coap.CoapMessage;
using E2m.TestSupport;
using Xunit;

namespace E2m.Oscore.Tests
{
    /// <summary>RFC 8613 Appendix C: C.1–C.3 key derivation, C.4–C.8 protected messages; both crypto providers.</summary>
    public class VectorTests
    {
        public static IEnumerable<object[]> ContextCases()
        {
            foreach (string id in OscoreVectors.ContextIds)
            {
                foreach (string p in Providers.All)
                {
                    yield return new object[] { id, p };
                }
            }
        }

        public static IEnumerable<object[]> MessageCases()
        {
            foreach (string id in OscoreVectors.MessageIds)
            {
                foreach (string p in Providers.All)
                {
                    yield return new object[] { id, p };
                }
            }
        }

        public static IEnumerable<object[]> ContextIds()
        {
            foreach (string id in OscoreVectors.ContextIds)
            {
                yield return new object[] { id };
            }
        }

        [Theory]
        [MemberData(nameof(ContextIds))]
        public void InfoEncodingsMatchAppendixC(string id)
        {
            JsonElement v = OscoreVectors.Context(id);
            byte[] sid = OscoreVectors.Bytes(v, "sender_id");
            byte[] rid = OscoreVectors.Bytes(v, "recipient_id");
            byte[]? ctx = OscoreVectors.BytesOrNull(v, "id_context");
            byte[] buf = new byte[OscoreCose.MaxInfoLength];

            int n = OscoreCose.EncodeInfo(sid, 0, sid.Length, ctx, 0, ctx?.Length ?? 0, false, buf, 0);
            Assert.Equal(v.GetProperty("info_sender_key").GetString(), Hex.Encode(buf, 0, n));
            n = OscoreCose.EncodeInfo(rid, 0, rid.Length, ctx, 0, ctx?.Length ?? 0, false, buf, 0);
            Assert.Equal(v.GetProperty("info_recipient_key").GetString(), Hex.Encode(buf, 0, n));
            n = OscoreCose.EncodeInfo(Array.Empty<byte>(), 0, 0, ctx, 0, ctx?.Length ?? 0, true, buf, 0);
            Assert.Equal(v.GetProperty("info_common_iv").GetString(), Hex.Encode(buf, 0, n));
        }

        [Theory]
        [MemberData(nameof(ContextCases))]
        public void KeysCommonIvAndNoncesMatchAppendixC(string id, string provider)
        {
            JsonElement v = OscoreVectors.Context(id);
            using OscoreSecurityContext c = OscoreVectors.Derive(id, Providers.Get(provider), null);
            Assert.Equal(v.GetProperty("sender_key").GetString(), Hex.Encode(c.GetSenderKey()));
            Assert.Equal(v.GetProperty("recipient_key").GetString(), Hex.Encode(c.GetRecipientKey()));
            Assert.Equal(v.GetProperty("common_iv").GetString(), Hex.Encode(c.GetCommonIv()));

            // Nonces with Partial IV 0 (RFC 8613 §5.2): ID_PIV = Sender ID for the sender, Recipient ID for the recipient.
            byte[] piv0 = { 0x00 };
            byte[] nonce = new byte[13];
            byte[] sid = c.GetSenderId();
            c.ComputeNonce(sid, 0, sid.Length, piv0, 0, 1, nonce, 0);
            Assert.Equal(v.GetProperty("sender_nonce_piv0").GetString(), Hex.Encode(nonce));
            byte[] rid = c.GetRecipientId();
            c.ComputeNonce(rid, 0, rid.Length, piv0, 0, 1, nonce, 0);
            Assert.Equal(v.GetProperty("recipient_nonce_piv0").GetString(), Hex.Encode(nonce));
        }

        [Fact]
        public void AadExampleOfSection54()
        {
            // RFC 8613 §5.4: request_kid = 0x00, request_piv = 0x25, no Class I options.
            byte[] buf = new byte[OscoreCose.MaxAadLength];
            int n = OscoreCose.EncodeAadArray(new byte[] { 0x00 }, 0, 1, new byte[] { 0x25 }, 0, 1, buf, 0);
            Assert.Equal("8501810a4100412540", Hex.Encode(buf, 0, n));
            n = OscoreCose.EncodeAad(new byte[] { 0x00 }, 0, 1, new byte[] { 0x25 }, 0, 1, buf, 0);
            Assert.Equal("8368456e63727970743040498501810a4100412540", Hex.Encode(buf, 0, n));
        }

        [Theory]
        [MemberData(nameof(MessageCases))]
        public void ProtectReproducesAppendixC(string id, string provider)
        {
            JsonElement v = OscoreVectors.Message(id);
            string kind = v.GetProperty("kind").GetString()!;
            long ssn = v.GetProperty("ssn").GetInt64();
            using OscoreSecurityContext c = OscoreVectors.Derive(v.GetProperty("context").GetString()!,
                Providers.Get(provider), new MemorySsnStore(ssn));
            byte[] unprotected = OscoreVectors.Bytes(v, "unprotected");
            byte[] output = new byte[256];
            var exchange = new OscoreExchange();
            int n;
            if (kind == "request")
            {
                n = c.ProtectRequest(unprotected, 0, unprotected.Length, output, 0, exchange);
                Assert.Equal(v.GetProperty("kid").GetString(), Hex.Encode(exchange.RequestKid, 0, exchange.RequestKidLength));
                Assert.Equal(v.GetProperty("partial_iv").GetString(), Hex.Encode(exchange.RequestPiv, 0, exchange.RequestPivLength));
                Assert.Equal(ssn + 1, c.SenderSequenceNumber);
            }
            else
            {
                byte[] rkid = OscoreVectors.Bytes(v, "request_kid");
                byte[] rpiv = OscoreVectors.Bytes(v, "request_piv");
                exchange.Set(rkid, 0, rkid.Length, rpiv, 0, rpiv.Length);
                n = c.ProtectResponse(unprotected, 0, unprotected.Length, exchange, v.GetProperty("own_piv").GetBoolean(), output, 0);
            }

            Assert.Equal(v.GetProperty("protected").GetString(), Hex.Encode(output, 0, n));

            // The OSCORE option value on the wire (RFC 8613 §6.1).
            var value = new OscoreOptionValue();
            Assert.True(value.ReadFrom(output, 0, n, new CoapMessage()));
            byte[] encoded = new byte[255];
            int len = value.Encode(encoded, 0);
            Assert.Equal(v.GetProperty("option_value").GetString(), Hex.Encode(encoded, 0, len));
        }

        [Theory]
        [MemberData(nameof(MessageCases))]
        public void UnprotectRecoversAppendixCMessages(string id, string provider)
        {
            JsonElement v = OscoreVectors.Message(id);
            string kind = v.GetProperty("kind").GetString()!;
            string contextId = v.GetProperty("context").GetString()!;
            // The peer of the protecting context: C.x.1 ↔ C.x.2.
            string peerId = contextId.EndsWith(".1", StringComparison.Ordinal) ? contextId[..^1] + "2" : contextId[..^1] + "1";
            using OscoreSecurityContext peer = OscoreVectors.Derive(peerId, Providers.Get(provider), null);
            byte[] protectedMessage = OscoreVectors.Bytes(v, "protected");
            byte[] output = new byte[256];
            var exchange = new OscoreExchange();
            int n;
            if (kind == "request")
            {
                n = peer.UnprotectRequest(protectedMessage, 0, protectedMessage.Length, output, 0, exchange);
                Assert.Equal(v.GetProperty("partial_iv").GetString(), Hex.Encode(exchange.RequestPiv, 0, exchange.RequestPivLength));
                Assert.Equal(v.GetProperty("ssn").GetInt64(), exchange.RequestPivValue);
            }
            else
            {
                byte[] rkid = OscoreVectors.Bytes(v, "request_kid");
                byte[] rpiv = OscoreVectors.Bytes(v, "request_piv");
                exchange.Set(rkid, 0, rkid.Length, rpiv, 0, rpiv.Length);
                n = peer.UnprotectResponse(protectedMessage, 0, protectedMessage.Length, exchange, output, 0);
                Assert.True(exchange.ResponseVerified);
            }

            Assert.Equal(v.GetProperty("unprotected").GetString(), Hex.Encode(output, 0, n));
        }

        [Theory]
        [MemberData(nameof(MessageCases))]
        public void IntermediateValuesMatchAppendixC(string id, string provider)
        {
            // Independent oracles: System.Security.Cryptography.AesCcm for the ciphertext, System.Formats.Cbor for the AAD.
            _ = provider;
            JsonElement v = OscoreVectors.Message(id);
            bool request = v.GetProperty("kind").GetString() == "request";
            byte[] kid = OscoreVectors.Bytes(v, request ? "kid" : "request_kid");
            byte[] piv = request ? OscoreVectors.Bytes(v, "partial_iv") : OscoreVectors.Bytes(v, "request_piv");
            byte[] aad = new byte[OscoreCose.MaxAadLength];
            int aadLength = OscoreCose.EncodeAad(kid, 0, kid.Length, piv, 0, piv.Length, aad, 0);
            Assert.Equal(v.GetProperty("aad").GetString(), Hex.Encode(aad, 0, aadLength));
            Assert.Equal(v.GetProperty("aad").GetString(), Hex.Encode(CborAad(kid, piv)));

            byte[] key = OscoreVectors.Bytes(v, "key");
            byte[] nonce = OscoreVectors.Bytes(v, "nonce");
            byte[] plaintext = OscoreVectors.Bytes(v, "plaintext");
            byte[] ct = new byte[plaintext.Length];
            byte[] tag = new byte[8];
            using (var ccm = new System.Security.Cryptography.AesCcm(key))
            {
                ccm.Encrypt(nonce, plaintext, ct, tag, OscoreVectors.Bytes(v, "aad"));
            }

            Assert.Equal(v.GetProperty("ciphertext").GetString(), Hex.Encode(ct) + Hex.Encode(tag));
        }

        /// <summary>The RFC 8613 §5.4 AAD built with System.Formats.Cbor (an independent encoder).</summary>
        internal static byte[] CborAad(byte[] kid, byte[] piv)
        {
            var a = new CborWriter(CborConformanceMode.Canonical);
            a.WriteStartArray(5);
            a.WriteInt32(1);
            a.WriteStartArray(1);
            a.WriteInt32(10);
            a.WriteEndArray();
            a.WriteByteString(kid);
            a.WriteByteString(piv);
            a.WriteByteString(Array.Empty<byte>());
            a.WriteEndArray();
            var e = new CborWriter(CborConformanceMode.Canonical);
            e.WriteStartArray(3);
            e.WriteTextString("Encrypt0");
            e.WriteByteString(Array.Empty<byte>());
            e.WriteByteString(a.Encode());
            e.WriteEndArray();
            return e.Encode();
        }

        /// <summary>The RFC 8613 §3.2.1 info built with System.Formats.Cbor.</summary>
        internal static byte[] CborInfo(byte[] id, byte[]? idContext, bool iv)
        {
            var w = new CborWriter(CborConformanceMode.Canonical);
            w.WriteStartArray(5);
            w.WriteByteString(id);
            if (idContext == null)
            {
                w.WriteNull();
            }
            else
            {
                w.WriteByteString(idContext);
            }

            w.WriteInt32(10);
            w.WriteTextString(iv ? "IV" : "Key");
            w.WriteInt32(iv ? 13 : 16);
            w.WriteEndArray();
            return w.Encode();
        }

        [Fact]
        public void InfoAndAadMatchSystemFormatsCborForAllLengths()
        {
            int seed = TestSeed.Get(8613);
            var rng = new Random(seed);
            byte[] buf = new byte[1024];
            foreach (int idLen in new[] { 0, 1, 7, 23, 24, 255 })
            {
                foreach (int ctxLen in new[] { -1, 0, 1, 23, 24, 255 })
                {
                    byte[] id = new byte[idLen];
                    rng.NextBytes(id);
                    byte[]? ctx = ctxLen < 0 ? null : new byte[ctxLen];
                    if (ctx != null)
                    {
                        rng.NextBytes(ctx);
                    }

                    foreach (bool iv in new[] { false, true })
                    {
                        int n = OscoreCose.EncodeInfo(id, 0, idLen, ctx, 0, ctx?.Length ?? 0, iv, buf, 0);
                        Assert.True(Hex.Encode(CborInfo(id, ctx, iv)) == Hex.Encode(buf, 0, n), $"seed {seed} id {idLen} ctx {ctxLen}");
                    }
                }
            }

            for (int kidLen = 0; kidLen <= 255; kidLen += 17)
            {
                for (int pivLen = 0; pivLen <= 5; pivLen++)
                {
                    byte[] kid = new byte[kidLen];
                    byte[] piv = new byte[pivLen];
                    rng.NextBytes(kid);
                    rng.NextBytes(piv);
                    int n = OscoreCose.EncodeAad(kid, 0, kidLen, piv, 0, pivLen, buf, 0);
                    Assert.True(n <= OscoreCose.MaxAadLength);
                    Assert.True(Hex.Encode(CborAad(kid, piv)) == Hex.Encode(buf, 0, n), $"seed {seed} kid {kidLen} piv {pivLen}");
                }
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;
using E2m.Coap;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.TestSupport;
using Xunit;

namespace E2m.Oscore.Tests
{
    /// <summary>The two crypto providers (theory parameter): portable software AES/HMAC and System.Security.Cryptography.</summary>
    public static class Providers
    {
        public const string Portable = "portable";
        public const string Platform = "platform";

        public static readonly string[] All = { Portable, Platform };

        public static TheoryData<string> Names => new TheoryData<string> { Portable, Platform };

        public static ICryptoProvider Get(string name) => name switch
        {
            Portable => new PortableCryptoProvider(),
            Platform => new PlatformCryptoProvider(),
            _ => throw new ArgumentException(name),
        };
    }

    /// <summary>Seeds: a fixed default per test (deterministic runs), E2M_TEST_SEED overrides; put the seed in failure messages.</summary>
    public static class TestSeed
    {
        public static int Get(int fixedDefault)
        {
            string? s = Environment.GetEnvironmentVariable("E2M_TEST_SEED");
            return s != null ? int.Parse(s, CultureInfo.InvariantCulture) : fixedDefault;
        }
    }

    /// <summary>RFC 8613 App. C vectors from tests/vectors.</summary>
    public static class OscoreVectors
    {
        private static readonly Lazy<Dictionary<string, JsonElement>> Contexts = new(() => Index("oscore-rfc8613-appC1-C3.json"));
        private static readonly Lazy<Dictionary<string, JsonElement>> Messages = new(() => Index("oscore-rfc8613-appC4-C8.json"));

        public static IEnumerable<string> ContextIds => Contexts.Value.Keys;

        public static IEnumerable<string> MessageIds => Messages.Value.Keys;

        public static JsonElement Context(string id) => Contexts.Value[id];

        public static JsonElement Message(string id) => Messages.Value[id];

        public static byte[] Bytes(JsonElement e, string name)
        {
            JsonElement v = e.GetProperty(name);
            return v.ValueKind == JsonValueKind.Null ? Array.Empty<byte>() : Hex.Decode(v.GetString());
        }

        public static byte[]? BytesOrNull(JsonElement e, string name)
        {
            JsonElement v = e.GetProperty(name);
            return v.ValueKind == JsonValueKind.Null ? null : Hex.Decode(v.GetString());
        }

        /// <summary>Derives the context of vector <paramref name="id"/> (C.1.1 ... C.3.2).</summary>
        public static OscoreSecurityContext Derive(string id, ICryptoProvider crypto, ISsnStore? store)
        {
            JsonElement v = Context(id);
            return new OscoreSecurityContext(crypto, Bytes(v, "master_secret"), BytesOrNull(v, "master_salt"),
                Bytes(v, "sender_id"), Bytes(v, "recipient_id"), BytesOrNull(v, "id_context"), store);
        }

        private static Dictionary<string, JsonElement> Index(string file)
        {
            var d = new Dictionary<string, JsonElement>();
            using JsonDocument doc = Vectors.Load(file);
            foreach (JsonElement v in doc.RootElement.GetProperty("vectors").EnumerateArray())
            {
                d[v.GetProperty("id").GetString()!] = v.Clone();
            }

            return d;
        }
    }

    /// <summary>Helpers on CoAP datagrams for assertions.</summary>
    public static class Coap
    {
        public static CoapMessage Decode(byte[] datagram)
        {
            var m = new CoapMessage(64, 256);
            CoapCodec.Decode(datagram, 0, datagram.Length, m);
            return m;
        }

        public static byte[] Encode(CoapMessage m)
        {
            byte[] b = new byte[CoapCodec.GetEncodedLength(m)];
            CoapCodec.Encode(m, b, 0);
            return b;
        }

        /// <summary>The part OSCORE protects (Class E): Code, Class E options in order, payload — as a comparable string.</summary>
        public static string ProtectedPart(byte[] datagram)
        {
            CoapMessage m = Decode(datagram);
            var s = new System.Text.StringBuilder();
            s.Append("code=").Append(m.Code.ToString("x2", CultureInfo.InvariantCulture));
            for (int i = 0; i < m.OptionCount; i++)
            {
                int n = m.GetOptionNumber(i);
                if (OscoreOptionClass.IsClassE(n))
                {
                    s.Append(" opt").Append(n).Append('=').Append(Hex.Encode(m.GetOptionBuffer(i) ?? Array.Empty<byte>(), m.GetOptionOffset(i), m.GetOptionLength(i)));
                }
            }

            s.Append(" payload=");
            if (m.PayloadLength > 0)
            {
                s.Append(Hex.Encode(m.PayloadBuffer, m.PayloadOffset, m.PayloadLength));
            }

            return s.ToString();
        }

        /// <summary>A confirmable request POST /r with Content-Format 112 and the given payload (DESIGN.md §4).</summary>
        public static byte[] ReadingsRequest(byte[] payload, int messageId = 0x1234, byte[]? token = null)
        {
            var m = new CoapMessage();
            m.Type = CoapType.Confirmable;
            m.Code = CoapCode.Post;
            m.MessageId = messageId;
            token ??= new byte[] { 0xA1, 0xB2, 0xC3, 0xD4 };
            m.SetToken(token, 0, token.Length);
            m.AddUriPath("r");
            m.SetContentFormat(CoapContentFormat.SenmlCbor);
            m.SetPayload(payload, 0, payload.Length);
            return Encode(m);
        }

        /// <summary>A piggybacked 2.04 response (ACK) to the given request.</summary>
        public static byte[] ChangedResponse(byte[] request, byte[]? payload = null)
        {
            CoapMessage req = Decode(request);
            var m = new CoapMessage();
            m.Type = CoapType.Acknowledgement;
            m.Code = CoapCode.Changed;
            m.MessageId = req.MessageId;
            m.SetToken(req.Token, 0, req.TokenLength);
            if (payload != null)
            {
                m.SetPayload(payload, 0, payload.Length);
            }

            return Encode(m);
        }

        public static byte[] Payload40()
        {
            byte[] p = new byte[40];
            for (int i = 0; i < p.Length; i++)
            {
                p[i] = (byte)(0x80 + i);
            }

            return p;
        }
    }

    /// <summary>Profile keys of DESIGN.md §4 from the e2m KDF vectors (tests/vectors/e2m-kdf.json case 0).</summary>
    public static class ProfileKeys
    {
        private static readonly Lazy<JsonElement> Case0 = new(() =>
        {
            using JsonDocument doc = Vectors.Load("e2m-kdf.json");
            return doc.RootElement.GetProperty("cases")[0].Clone();
        });

        public static byte[] E2mKey => Hex.Decode(Case0.Value.GetProperty("e2m_key").GetString());

        public static byte[] Kid => Hex.Decode(Case0.Value.GetProperty("kid").GetString());

        public static OscoreSecurityContext Device(ICryptoProvider crypto, ISsnStore? store = null, int step = 32) =>
            OscoreSecurityContext.ForDevice(crypto, E2mKey, Kid, store ?? new MemorySsnStore(), step);

        public static OscoreSecurityContext Emse(ICryptoProvider crypto, ISsnStore? store = null) =>
            OscoreSecurityContext.ForEmse(crypto, E2mKey, Kid, store);
    }
}

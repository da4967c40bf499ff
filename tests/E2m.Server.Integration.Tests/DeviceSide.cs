using System;
using System.Net;
using System.Net.Sockets;
using E2m.Coap;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Oscore;

namespace E2m.Server.Integration.Tests
{
    /// <summary>What a device does, with the firmware's portable code, in the integration tests' round trips.</summary>
    internal static class DeviceSide
    {
        /// <summary>The device side of DESIGN.md §2: e2m_int_key from CK/IK, KID, and the e2m_key for <paramref name="emseId"/>.</summary>
        public static (byte[] Kid, byte[] Key) Keys(byte[] ck, byte[] ik, string emseId)
        {
            var keys = new E2mKeys(new PlatformCryptoProvider().CreateHmacSha256());
            byte[] intKey = new byte[E2mKeys.IntKeyLength], kid = new byte[E2mKeys.KidLength], key = new byte[E2mKeys.KeyLength];
            keys.DeriveIntKey(ck, ik, intKey);
            keys.DeriveKid(intKey, kid);
            byte[] id = System.Text.Encoding.UTF8.GetBytes(emseId);
            keys.DeriveKey(intKey, id, 0, id.Length, key);
            Array.Clear(intKey);
            return (kid, key);
        }

        /// <summary>One OSCORE-protected CON POST /r with a one-record SenML pack (energy = value Wh) to the EMSE; waits for the answer.</summary>
        public static (byte[] Response, OscoreExchange Exchange) Post(OscoreSecurityContext device, IPEndPoint emse, long value, long unixTime)
        {
            var pack = new byte[300];
            var w = new SenmlBatchWriter(pack, 0, 200);
            w.Begin("urn:dev:e2m:", true, unixTime);
            var rec = new SenmlRecord();
            rec.Set("energy", "Wh", value, 0, false, 0);
            w.TryAdd(rec);
            int n = w.Finish();
            var m = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Post, MessageId = (int)(value & 0xFFFF) };
            m.SetToken(new byte[] { 1, 2, 3, (byte)value }, 0, 4);
            m.AddUriPath("r");
            m.SetContentFormat(CoapContentFormat.SenmlCbor);
            m.SetPayload(pack, 0, n);
            var wire = new byte[512];
            var ex = new OscoreExchange();
            int len = device.ProtectRequest(m, wire, 0, ex);
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 15000 };
            s.SendTo(wire, 0, len, SocketFlags.None, emse);
            var buf = new byte[2048];
            int r = s.Receive(buf);
            return (buf.AsSpan(0, r).ToArray(), ex);
        }
    }
}

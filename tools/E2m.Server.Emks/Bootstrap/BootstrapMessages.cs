using System;
using E2m.Coap;
using E2m.Hal;

namespace E2m.Server.Emks.Bootstrap
{
    /// <summary>CBOR map keys of the home-mode bootstrap protocol (DESIGN.md §3). Small integers, one meaning each.</summary>
    public static class BootstrapKeys
    {
        public const int Imsi = 1;        // text string, 5..15 decimal digits (TS 23.003 §2.2)
        public const int Rand = 2;        // byte string, 16 octets (TS 33.102 §6.3.2)
        public const int Autn = 3;        // byte string, 16 octets (TS 33.102 §6.3.2)
        public const int Res = 5;         // byte string, 4..16 octets (TS 33.102 §6.3.2: RES 32..128 bits)
        public const int Kid = 6;         // byte string, 8 octets (DESIGN.md §2)
        public const int LifetimeS = 7;   // unsigned integer, seconds until the key expires
        public const int Mac = 8;         // byte string, 8 octets (DESIGN.md §3 confirmation)
        public const int Auts = 9;        // byte string, 14 octets (TS 33.102 §6.3.3)
    }

    /// <summary>What a <c>POST /bs</c> asks for, decided by which keys the map carries (DESIGN.md §3).</summary>
    public enum BootstrapRequestKind
    {
        /// <summary><c>{1: imsi}</c> → 2.01 challenge.</summary>
        Challenge = 1,

        /// <summary><c>{1: imsi, 2: rand, 9: auts}</c> → resynchronise at the HSS, then 2.01 with a fresh challenge.</summary>
        Resync = 2,

        /// <summary><c>{6: kid, 5: res}</c> → 2.04 <c>{8: mac}</c>.</summary>
        Confirm = 3,
    }

    /// <summary>Why a bootstrap payload was rejected (answered 4.00). Stable numeric values.</summary>
    public enum BootstrapError
    {
        NotAMap = 1,
        DuplicateKey = 2,
        BadImsi = 3,
        BadRand = 4,
        BadAuts = 5,
        BadKid = 6,
        BadRes = 7,
        UnknownCombination = 8,
        TooLarge = 9,
    }

    /// <summary>A bootstrap payload that is well-formed CBOR but not a valid request (typed; answered 4.00).</summary>
    public sealed class BootstrapFormatException : Exception
    {
        public BootstrapFormatException(BootstrapError error)
            : base("bootstrap request rejected: " + error)
        {
            Error = error;
        }

        public BootstrapError Error { get; }
    }

    /// <summary>A decoded <c>POST /bs</c> payload. Arrays are copies owned by the request.</summary>
    public sealed class BootstrapRequest
    {
        public const int MaxPayloadLength = 256;
        public const int RandLength = 16, AutnLength = 16, AutsLength = 14, KidLength = 8, MacLength = 8;
        public const int MinResLength = 4, MaxResLength = 16;

        public BootstrapRequestKind Kind { get; private init; }
        public string? Imsi { get; private init; }
        public byte[]? Rand { get; private init; }
        public byte[]? Auts { get; private init; }
        public byte[]? Kid { get; private init; }
        public byte[]? Res { get; private init; }

        /// <summary>
        /// Decodes the CBOR map. Unknown integer keys are skipped (forward compatibility), duplicate known keys
        /// and non-integer keys are rejected. Throws <see cref="MalformedInputException"/> (bad CBOR) or
        /// <see cref="BootstrapFormatException"/> (valid CBOR, invalid request); nothing else for any input.
        /// </summary>
        public static BootstrapRequest Decode(byte[] buffer, int offset, int length)
        {
            if (length > MaxPayloadLength) throw new BootstrapFormatException(BootstrapError.TooLarge);
            var r = new CborReader(buffer, offset, length);
            if (r.AtEnd || r.PeekMajorType() != CborMajorType.Map) throw new BootstrapFormatException(BootstrapError.NotAMap);
            int pairs = r.ReadMapHeader();
            string? imsi = null;
            byte[]? rand = null, auts = null, kid = null, res = null;
            int seen = 0;
            for (int i = 0; i < pairs; i++)
            {
                int mt = r.PeekMajorType();
                if (mt != CborMajorType.UnsignedInteger && mt != CborMajorType.NegativeInteger)
                {
                    throw new BootstrapFormatException(BootstrapError.NotAMap);
                }

                long key = r.ReadInt();
                if (key >= 1 && key <= 30)
                {
                    int bit = 1 << (int)key;
                    if ((seen & bit) != 0) throw new BootstrapFormatException(BootstrapError.DuplicateKey);
                    seen |= bit;
                }

                switch (key)
                {
                    case BootstrapKeys.Imsi:
                        imsi = ReadImsi(r);
                        break;
                    case BootstrapKeys.Rand:
                        rand = ReadBytes(r, RandLength, RandLength, BootstrapError.BadRand);
                        break;
                    case BootstrapKeys.Auts:
                        auts = ReadBytes(r, AutsLength, AutsLength, BootstrapError.BadAuts);
                        break;
                    case BootstrapKeys.Kid:
                        kid = ReadBytes(r, KidLength, KidLength, BootstrapError.BadKid);
                        break;
                    case BootstrapKeys.Res:
                        res = ReadBytes(r, MinResLength, MaxResLength, BootstrapError.BadRes);
                        break;
                    default:
                        r.SkipValue();
                        break;
                }
            }

            r.ExpectEnd();

            BootstrapRequestKind kind;
            if (imsi != null && rand == null && auts == null && kid == null && res == null)
            {
                kind = BootstrapRequestKind.Challenge;
            }
            else if (imsi != null && rand != null && auts != null && kid == null && res == null)
            {
                kind = BootstrapRequestKind.Resync;
            }
            else if (imsi == null && rand == null && auts == null && kid != null && res != null)
            {
                kind = BootstrapRequestKind.Confirm;
            }
            else
            {
                throw new BootstrapFormatException(BootstrapError.UnknownCombination);
            }

            return new BootstrapRequest { Kind = kind, Imsi = imsi, Rand = rand, Auts = auts, Kid = kid, Res = res };
        }

        /// <summary>Encodes a request (used by tests and simulators; the device has its own encoder).</summary>
        public static byte[] EncodeChallenge(string imsi) => Encode(w =>
        {
            w.WriteMapHeader(1);
            w.WriteUInt(BootstrapKeys.Imsi);
            w.WriteTextString(imsi);
        });

        public static byte[] EncodeResync(string imsi, byte[] rand, byte[] auts) => Encode(w =>
        {
            w.WriteMapHeader(3);
            w.WriteUInt(BootstrapKeys.Imsi);
            w.WriteTextString(imsi);
            w.WriteUInt(BootstrapKeys.Rand);
            w.WriteByteString(rand, 0, rand.Length);
            w.WriteUInt(BootstrapKeys.Auts);
            w.WriteByteString(auts, 0, auts.Length);
        });

        public static byte[] EncodeConfirm(byte[] kid, byte[] res) => Encode(w =>
        {
            w.WriteMapHeader(2);
            w.WriteUInt(BootstrapKeys.Res);
            w.WriteByteString(res, 0, res.Length);
            w.WriteUInt(BootstrapKeys.Kid);
            w.WriteByteString(kid, 0, kid.Length);
        });

        internal static byte[] Encode(Action<CborWriter> write)
        {
            var buffer = new byte[512];
            var w = new CborWriter(buffer, 0, buffer.Length);
            write(w);
            return buffer.AsSpan(0, w.Length).ToArray();
        }

        // TS 23.003 §2.2: IMSI = MCC (3) + MNC (2-3) + MSIN, at most 15 digits.
        private static string ReadImsi(CborReader r)
        {
            if (r.PeekMajorType() != CborMajorType.TextString) throw new BootstrapFormatException(BootstrapError.BadImsi);
            int n = r.ReadTextString();
            if (n < 5 || n > 15) throw new BootstrapFormatException(BootstrapError.BadImsi);
            var chars = new char[n];
            for (int i = 0; i < n; i++)
            {
                byte b = r.Buffer[r.LastOffset + i];
                if (b < (byte)'0' || b > (byte)'9') throw new BootstrapFormatException(BootstrapError.BadImsi);
                chars[i] = (char)b;
            }

            return new string(chars);
        }

        private static byte[] ReadBytes(CborReader r, int min, int max, BootstrapError error)
        {
            if (r.PeekMajorType() != CborMajorType.ByteString) throw new BootstrapFormatException(error);
            int n = r.ReadByteString();
            if (n < min || n > max) throw new BootstrapFormatException(error);
            return r.Buffer.AsSpan(r.LastOffset, n).ToArray();
        }
    }

    /// <summary>Response payloads of the bootstrap protocol (DESIGN.md §3).</summary>
    public static class BootstrapResponses
    {
        /// <summary>2.01 <c>{2: rand, 3: autn, 6: kid, 7: lifetime_s}</c>.</summary>
        public static byte[] EncodeChallenge(byte[] rand, byte[] autn, byte[] kid, long lifetimeSeconds) => BootstrapRequest.Encode(w =>
        {
            w.WriteMapHeader(4);
            w.WriteUInt(BootstrapKeys.Rand);
            w.WriteByteString(rand, 0, rand.Length);
            w.WriteUInt(BootstrapKeys.Autn);
            w.WriteByteString(autn, 0, autn.Length);
            w.WriteUInt(BootstrapKeys.Kid);
            w.WriteByteString(kid, 0, kid.Length);
            w.WriteUInt(BootstrapKeys.LifetimeS);
            w.WriteUInt((ulong)Math.Max(0, lifetimeSeconds));
        });

        /// <summary>2.04 <c>{8: mac}</c>.</summary>
        public static byte[] EncodeConfirmation(byte[] mac) => BootstrapRequest.Encode(w =>
        {
            w.WriteMapHeader(1);
            w.WriteUInt(BootstrapKeys.Mac);
            w.WriteByteString(mac, 0, mac.Length);
        });
    }
}

namespace E2m.Coap
{
    /// <summary>Message types, RFC 7252 §3 (T field) and §4.</summary>
    public static class CoapType
    {
        public const byte Confirmable = 0;     // RFC 7252 §4.2
        public const byte NonConfirmable = 1;  // RFC 7252 §4.3
        public const byte Acknowledgement = 2; // RFC 7252 §4.2
        public const byte Reset = 3;           // RFC 7252 §4.2, §4.3
    }

    /// <summary>
    /// Codes, RFC 7252 §3 / §12.1: one octet, class (3 bits) . detail (5 bits).
    /// </summary>
    public static class CoapCode
    {
        public const byte Empty = 0x00;        // 0.00, RFC 7252 §4.1

        // Methods, RFC 7252 §12.1.1
        public const byte Get = 0x01;
        public const byte Post = 0x02;
        public const byte Put = 0x03;
        public const byte Delete = 0x04;
        public const byte Fetch = 0x05;        // RFC 8132

        // Responses, RFC 7252 §12.1.2
        public const byte Created = 0x41;              // 2.01
        public const byte Deleted = 0x42;              // 2.02
        public const byte Valid = 0x43;                // 2.03
        public const byte Changed = 0x44;              // 2.04 (also the outer code of OSCORE responses, RFC 8613 §4.2)
        public const byte Content = 0x45;              // 2.05
        public const byte BadRequest = 0x80;           // 4.00
        public const byte Unauthorized = 0x81;         // 4.01
        public const byte BadOption = 0x82;            // 4.02
        public const byte Forbidden = 0x83;            // 4.03
        public const byte NotFound = 0x84;             // 4.04
        public const byte MethodNotAllowed = 0x85;     // 4.05
        public const byte RequestEntityTooLarge = 0x8D; // 4.13
        public const byte UnsupportedContentFormat = 0x8F; // 4.15
        public const byte InternalServerError = 0xA0;  // 5.00
        public const byte ServiceUnavailable = 0xA3;   // 5.03

        /// <summary>Builds a code from class (0-7) and detail (0-31), RFC 7252 §3.</summary>
        public static byte Make(int codeClass, int detail)
        {
            return (byte)(((codeClass & 0x07) << 5) | (detail & 0x1F));
        }

        /// <summary>The class (c of c.dd), RFC 7252 §3.</summary>
        public static int ClassOf(byte code) { return code >> 5; }

        /// <summary>The detail (dd of c.dd), RFC 7252 §3.</summary>
        public static int DetailOf(byte code) { return code & 0x1F; }

        /// <summary>Request: class 0 and not Empty (RFC 7252 §5.8).</summary>
        public static bool IsRequest(byte code) { return code != 0 && (code >> 5) == 0; }

        /// <summary>Response: class 2, 4 or 5 (RFC 7252 §5.9).</summary>
        public static bool IsResponse(byte code) { int c = code >> 5; return c == 2 || c == 4 || c == 5; }
    }

    /// <summary>Option numbers: RFC 7252 §5.10 / §12.2, RFC 7641, RFC 7959, RFC 8613, RFC 9175.</summary>
    public static class CoapOption
    {
        public const int IfMatch = 1;          // RFC 7252 §5.10.8.1
        public const int UriHost = 3;          // RFC 7252 §5.10.1
        public const int ETag = 4;             // RFC 7252 §5.10.6
        public const int IfNoneMatch = 5;      // RFC 7252 §5.10.8.2
        public const int Observe = 6;          // RFC 7641 §2
        public const int UriPort = 7;          // RFC 7252 §5.10.1
        public const int LocationPath = 8;     // RFC 7252 §5.10.7
        public const int Oscore = 9;           // RFC 8613 §2
        public const int UriPath = 11;         // RFC 7252 §5.10.1
        public const int ContentFormat = 12;   // RFC 7252 §5.10.3
        public const int MaxAge = 14;          // RFC 7252 §5.10.5
        public const int UriQuery = 15;        // RFC 7252 §5.10.1
        public const int Accept = 17;          // RFC 7252 §5.10.4
        public const int LocationQuery = 20;   // RFC 7252 §5.10.7
        public const int Block2 = 23;          // RFC 7959 §2.1
        public const int Block1 = 27;          // RFC 7959 §2.1
        public const int Size2 = 28;           // RFC 7959 §4
        public const int ProxyUri = 35;        // RFC 7252 §5.10.2
        public const int ProxyScheme = 39;     // RFC 7252 §5.10.2
        public const int Size1 = 60;           // RFC 7252 §5.10.9
        public const int Echo = 252;           // RFC 9175 §2.2.1
        public const int RequestTag = 292;     // RFC 9175 §3.2.1

        /// <summary>Critical options have an odd number, RFC 7252 §5.4.6.</summary>
        public static bool IsCritical(int number) { return (number & 1) != 0; }

        /// <summary>Unsafe-to-forward: bit 1 set, RFC 7252 §5.4.6.</summary>
        public static bool IsUnsafe(int number) { return (number & 2) != 0; }

        /// <summary>NoCacheKey: bits 2-4 all set, RFC 7252 §5.4.6.</summary>
        public static bool IsNoCacheKey(int number) { return (number & 0x1E) == 0x1C; }

        /// <summary>Largest option number (16 bits), RFC 7252 §3.1.</summary>
        public const int MaxNumber = 65535;

        /// <summary>Largest encodable option value length: 14 → 16-bit extension + 269, RFC 7252 §3.1.</summary>
        public const int MaxValueLength = 65535 + 269;
    }

    /// <summary>Content-Format identifiers, RFC 7252 §12.3 and the IANA registry.</summary>
    public static class CoapContentFormat
    {
        public const int TextPlain = 0;        // RFC 7252 §12.3
        public const int LinkFormat = 40;      // RFC 6690
        public const int OctetStream = 42;     // RFC 7252 §12.3
        public const int Json = 50;            // RFC 7252 §12.3
        public const int Cbor = 60;            // RFC 8949 §9.5
        public const int SenmlJson = 110;      // RFC 8428 §12.3
        public const int SenmlCbor = 112;      // RFC 8428 §12.3 (application/senml+cbor)
    }
}

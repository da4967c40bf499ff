using E2m.Hal;

namespace E2m.Oscore
{
    /// <summary>
    /// Why OSCORE processing stopped (RFC 8613 §8.2, §8.4, §7.2.1, §7.4). Int-backed, stable values in the
    /// OSCORE range 400..499 of <see cref="InputError"/> (hal/E2m.Hal); never renumber. Portable code never
    /// prints enum names: <see cref="OscoreException.Describe"/> gives the fixed text.
    /// </summary>
    public enum OscoreError
    {
        None = 0,

        /// <summary>AEAD tag check failed (RFC 8613 §8.2 step 6, §8.4 step 5): 4.00 "Decryption failed".</summary>
        DecryptionFailed = 401,

        /// <summary>Partial IV received before or older than the replay window (RFC 8613 §7.4): 4.01 "Replay detected".
        /// Also a second response verified for one request (RFC 8613 §7.4: only a single response is accepted).</summary>
        ReplayDetected = 402,

        /// <summary>No Recipient Context for the 'kid' / 'kid context' (RFC 8613 §8.2 step 2): 4.01 "Security context not found".</summary>
        UnknownKid = 403,

        /// <summary>OSCORE option value not decodable (RFC 8613 §6.1, §8.2 step 2): 4.02 "Failed to decode COSE".</summary>
        MalformedOption = 404,

        /// <summary>Sender Sequence Number would exceed 2^40-1 (RFC 8613 §7.2.1): the context must be re-keyed.</summary>
        SsnExhausted = 405,

        /// <summary>The message carries no OSCORE option (RFC 8613 §2): not an OSCORE message.</summary>
        NoOscoreOption = 406,

        /// <summary>The OSCORE message has no payload (RFC 8613 §2) or a ciphertext shorter than the tag plus the code.</summary>
        MissingCiphertext = 407,

        /// <summary>The verified plaintext is not a valid Code + Class E options + payload (RFC 8613 §5.3).</summary>
        MalformedPlaintext = 408,

        /// <summary>The original message cannot be protected: OSCORE option already present (nested OSCORE,
        /// RFC 8613 §4.1.3.7), Proxy-Uri (decomposition §4.1.3.3 not implemented) or Observe (Outer Observe §4.1.3.5 not implemented).</summary>
        UnsupportedOption = 409,

        /// <summary>The message is not of the expected kind (a response where a request was expected, or vice versa).</summary>
        WrongMessageKind = 410,

        /// <summary>The ciphertext is longer than the context's maximum message size: 4.13.</summary>
        MessageTooLarge = 411,

        /// <summary>The persisted SSN reservation of the context exists but cannot be read (corrupt medium): where the
        /// sequence stood is unknown, so no SSN is safe under this key any more (RFC 8613 App. B.1.1): re-key.</summary>
        SsnStateLost = 412,
    }

    /// <summary>
    /// The one typed error of E2m.Oscore: untrusted input rejected (decode, replay, unknown kid, tag
    /// failure) and, as the one local condition, Sender Sequence Number exhaustion. Carries the
    /// <see cref="OscoreError"/> and the CoAP response code a server should answer with (RFC 8613 §8.2,
    /// §7.4; DESIGN.md §4). Such error responses are sent unprotected (RFC 8613 §8.3 note).
    /// </summary>
    public class OscoreException : MalformedInputException
    {
        private readonly OscoreError _oscoreError;

        public OscoreException(OscoreError error, int position)
            : base((InputError)(int)error, position, Describe(error))
        {
            _oscoreError = error;
        }

        /// <summary>The typed cause.</summary>
        public OscoreError OscoreError { get { return _oscoreError; } }

        /// <summary>CoAP code (class &lt;&lt; 5 | detail) for the unprotected error response, RFC 8613 §8.2 / §7.4.</summary>
        public byte CoapCode { get { return CoapCodeFor(_oscoreError); } }

        /// <summary>The diagnostic payload string RFC 8613 suggests for the error response (ASCII), or null.</summary>
        public string Diagnostic { get { return DiagnosticFor(_oscoreError); } }

        /// <summary>
        /// CoAP response code per error: 4.02 for a COSE decode failure and 4.01 for a missing context
        /// (RFC 8613 §8.2 step 2), 4.01 for replay (§7.4), 4.00 for decryption failure (§8.2 step 6).
        /// </summary>
        public static byte CoapCodeFor(OscoreError error)
        {
            switch (error)
            {
                case OscoreError.DecryptionFailed: return 0x80;     // 4.00, RFC 8613 §8.2 step 6
                case OscoreError.ReplayDetected: return 0x81;       // 4.01, RFC 8613 §7.4
                case OscoreError.UnknownKid: return 0x81;           // 4.01, RFC 8613 §8.2 step 2; DESIGN.md §4
                case OscoreError.NoOscoreOption: return 0x81;       // 4.01: the resource requires OSCORE (DESIGN.md §4)
                case OscoreError.MalformedOption: return 0x82;      // 4.02, RFC 8613 §8.2 step 2
                case OscoreError.MissingCiphertext: return 0x82;    // 4.02: the COSE object fails to decode (§2, §8.2 step 2)
                case OscoreError.UnsupportedOption: return 0x82;    // 4.02
                case OscoreError.MalformedPlaintext: return 0x80;   // 4.00
                case OscoreError.WrongMessageKind: return 0x80;     // 4.00
                case OscoreError.MessageTooLarge: return 0x8D;      // 4.13 Request Entity Too Large (RFC 7252 §5.9.2.9)
                case OscoreError.SsnExhausted: return 0xA3;         // 5.03: local, the context must be re-keyed (§7.2.1)
                case OscoreError.SsnStateLost: return 0xA3;         // 5.03: local, the context must be re-keyed (App. B.1.1)
            }
            return 0x80;
        }

        /// <summary>Diagnostic payload text suggested by RFC 8613 §7.4 / §8.2 (null where the RFC suggests none).</summary>
        public static string DiagnosticFor(OscoreError error)
        {
            switch (error)
            {
                case OscoreError.DecryptionFailed: return "Decryption failed";          // RFC 8613 §8.2 step 6
                case OscoreError.ReplayDetected: return "Replay detected";              // RFC 8613 §7.4
                case OscoreError.UnknownKid: return "Security context not found";       // RFC 8613 §8.2 step 2
                case OscoreError.MalformedOption: return "Failed to decode COSE";       // RFC 8613 §8.2 step 2
                case OscoreError.MissingCiphertext: return "Failed to decode COSE";     // RFC 8613 §8.2 step 2
            }
            return null;
        }

        /// <summary>Fixed English text per code (no enum names: nanoFramework has no Enum.ToString).</summary>
        public static string Describe(OscoreError error)
        {
            switch (error)
            {
                case OscoreError.None: return "OSCORE: no error";
                case OscoreError.DecryptionFailed: return "OSCORE: decryption failed (AEAD tag mismatch)";
                case OscoreError.ReplayDetected: return "OSCORE: replay detected";
                case OscoreError.UnknownKid: return "OSCORE: security context not found for kid";
                case OscoreError.MalformedOption: return "OSCORE: malformed OSCORE option value";
                case OscoreError.SsnExhausted: return "OSCORE: sender sequence number exhausted (re-key the context)";
                case OscoreError.NoOscoreOption: return "OSCORE: message has no OSCORE option";
                case OscoreError.MissingCiphertext: return "OSCORE: payload missing or shorter than code and tag";
                case OscoreError.MalformedPlaintext: return "OSCORE: decrypted plaintext is not a valid inner message";
                case OscoreError.UnsupportedOption: return "OSCORE: original message has an option OSCORE cannot protect (OSCORE, Proxy-Uri, Observe)";
                case OscoreError.WrongMessageKind: return "OSCORE: request/response kind does not match the operation";
                case OscoreError.MessageTooLarge: return "OSCORE: message larger than the context's maximum message size";
                case OscoreError.SsnStateLost: return "OSCORE: stored sender sequence reservation unreadable (re-key the context)";
            }
            return "OSCORE: error";
        }
    }
}

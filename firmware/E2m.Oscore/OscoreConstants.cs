namespace E2m.Oscore
{
    /// <summary>Fixed parameters of OSCORE with AES-CCM-16-64-128 and HKDF-SHA-256 (the only suite here).</summary>
    public static class OscoreConstants
    {
        /// <summary>COSE algorithm AES-CCM-16-64-128 (RFC 8152 §10.2), the default AEAD of RFC 8613 §3.2.</summary>
        public const int AlgAead = 10;

        /// <summary>Sender/Recipient Key length for AES-CCM-16-64-128 (RFC 8613 §5).</summary>
        public const int KeyLength = 16;

        /// <summary>AEAD nonce and Common IV length for AES-CCM-16-64-128 (RFC 8613 §5).</summary>
        public const int NonceLength = 13;

        /// <summary>Authentication tag length of AES-CCM-16-64-128: 64 bits (RFC 8152 §10.2).</summary>
        public const int TagLength = 8;

        /// <summary>Maximum Sender/Recipient ID length = nonce length minus 6 (RFC 8613 §3.3, §5.2).</summary>
        public const int MaxIdLength = NonceLength - 6;

        /// <summary>Partial IV is at most 5 octets (RFC 8613 §5.2, §6.1: n = 0..5).</summary>
        public const int MaxPivLength = 5;

        /// <summary>Largest Sender Sequence Number: less than 2^40 (RFC 8613 §7.2.1, §12 for AES-CCM-16-64-128).</summary>
        public const long MaxSenderSequenceNumber = 0xFFFFFFFFFFL;

        /// <summary>The 'kid context' length is one octet (RFC 8613 §6.1), so an ID Context sent in requests is at most 255 octets.</summary>
        public const int MaxIdContextLength = 255;

        /// <summary>oscore_version in the external AAD (RFC 8613 §5.4).</summary>
        public const int OscoreVersion = 1;

        /// <summary>Replay window size: the default anti-replay sliding window of 32 (RFC 8613 §3.2.2, RFC 6347 §4.1.2.6).</summary>
        public const int ReplayWindowSize = 32;

        /// <summary>Default SSN reservation step K (RFC 8613 App. B.1.1; DESIGN.md §4 "e.g. 32").</summary>
        public const int DefaultSsnReservationStep = 32;

        /// <summary>Default largest CoAP datagram handled: RFC 7252 §4.6 (1152 octets).</summary>
        public const int DefaultMaxMessageSize = 1152;

        /// <summary>OSCORE option number (RFC 8613 §2).</summary>
        public const int OptionNumber = 9;
    }

    /// <summary>
    /// Protection class of a CoAP option (RFC 8613 §4.1, Figure 5). Unknown options are Class E (§4.1).
    /// There are no Class I options defined (§4.1), so the 'options' element of the external AAD is always empty.
    /// </summary>
    public static class OscoreOptionClass
    {
        /// <summary>
        /// Class U only (Outer, unprotected) per RFC 8613 Figure 5: Uri-Host (3), Uri-Port (7), OSCORE (9),
        /// Proxy-Uri (35), Proxy-Scheme (39). Every other option, known or unknown, has an 'x' in column E
        /// (§4.1: unknown options are Class E).
        /// </summary>
        public static bool IsClassUOnly(int number)
        {
            return number == 3 || number == 7 || number == 9 || number == 35 || number == 39;
        }

        /// <summary>
        /// 'x' in column E of RFC 8613 Figure 5 (all options except the Class-U-only ones). A sender puts these
        /// Inner; a receiver discards Outer instances of them (§8.2 step 1, §8.4 step 1). Options with both
        /// E and U (Observe, Max-Age, Block1/2, Size1/2, No-Response) are sent Inner only here: Outer instances
        /// are for proxies (Outer Observe, Outer Block) which this implementation does not support.
        /// </summary>
        public static bool IsClassE(int number)
        {
            return !IsClassUOnly(number);
        }
    }
}

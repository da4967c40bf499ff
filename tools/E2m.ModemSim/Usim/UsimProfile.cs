using System;
using E2m.Crypto;

namespace E2m.ModemSim.Usim
{
    /// <summary>
    /// Personalisation of one simulated USIM: subscriber keys, identity, PIN and the behaviour knobs of the card.
    /// Plain settable data; <see cref="SimulatedUsim"/> copies what it needs at construction.
    /// </summary>
    public sealed class UsimProfile
    {
        /// <summary>Subscriber key K, 16 octets (TS 35.206 §2).</summary>
        public byte[] K { get; set; } = new byte[Milenage.KLength];

        /// <summary>OPc, 16 octets: what a USIM stores (TS 35.206 §2).</summary>
        public byte[] Opc { get; set; } = new byte[Milenage.OpcLength];

        /// <summary>IMSI digits (6..15), stored in EF_IMSI (TS 31.102 §4.2.2).</summary>
        public string Imsi { get; set; } = "001010000000001";

        /// <summary>Length of the MNC in the IMSI, 2 or 3 (EF_AD octet 4, TS 31.102 §4.2.18).</summary>
        public int MncLength { get; set; } = 2;

        /// <summary>PIN1 (application PIN, key reference '01'), 4..8 digits; null = PIN disabled (access condition PIN always met).</summary>
        public string? Pin1 { get; set; }

        /// <summary>PIN1 attempts before the PIN is blocked (TS 102 221 §9: 3).</summary>
        public int PinAttempts { get; set; } = 3;

        /// <summary>
        /// Full AID of the USIM application (TS 101 220 Annex E: RID A000000087, application code 1002, then country,
        /// provider and provider field). Default: the shape used by sysmoUSIM cards.
        /// </summary>
        public byte[] UsimAid { get; set; } = { 0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x07, 0x09, 0x00, 0x00 };

        /// <summary>Application label of the USIM record in EF_DIR ('50', TS 102 221 §13.1).</summary>
        public string UsimLabel { get; set; } = "USIM";

        /// <summary>
        /// AIDs of further applications listed in EF_DIR before the USIM record (e.g. an ISIM A0000000871004…), labelled
        /// "APP1", "APP2", … (TS 102 221 §13.1). Only listed: no ADF exists for them.
        /// </summary>
        public byte[][] ExtraDirApplications { get; set; } = Array.Empty<byte[]>();

        /// <summary>
        /// True: behave as a T=0 card seen through +CSIM: a case-4 command answers '61 xx' and the data is withheld
        /// until GET RESPONSE (TS 102 221 §7.3.1.1.4); a case-2 command with P3 ≠ the available length answers '6C xx'.
        /// False: APDU level (what +CGLA typically hands back): data and '90 00' in one response.
        /// </summary>
        public bool T0 { get; set; }

        /// <summary>Append '08' Kc to the AUTHENTICATE response (service n°27 "GSM Access" available, TS 31.102 §7.1.2.1).</summary>
        public bool IncludeKc { get; set; } = true;

        /// <summary>IND length in bits (TS 33.102 Annex C.1).</summary>
        public int IndBits { get; set; } = SqnFreshness.DefaultIndBits;

        /// <summary>Δ (TS 33.102 Annex C.2.1); <see cref="SqnFreshness.NoLimit"/> disables the check.</summary>
        public long Delta { get; set; } = SqnFreshness.DefaultDelta;

        /// <summary>L (TS 33.102 Annex C.2.2); <see cref="SqnFreshness.NoLimit"/> (default) disables the check.</summary>
        public long AgeLimit { get; set; } = SqnFreshness.NoLimit;

        /// <summary>SQNs the card has already accepted (provisioning: e.g. a card "ahead" of the HSS to force a resync).</summary>
        public ulong[] AcceptedSqns { get; set; } = Array.Empty<ulong>();

        /// <summary>Number of logical channels besides the basic channel (TS 102 221 §10.1.1 allows up to 19; 3 as many cards).</summary>
        public int LogicalChannels { get; set; } = 3;
    }
}

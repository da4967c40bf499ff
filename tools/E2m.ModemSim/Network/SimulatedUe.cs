using System;
using E2m.Crypto;
using E2m.Modem.Usim;
using E2m.ModemSim.Usim;

namespace E2m.ModemSim.Network
{
    /// <summary>
    /// The ME side of an attach as a real terminal does it with its USIM (TS 31.102 / TS 33.102), driven by
    /// <see cref="ServingNode"/>: SELECT the USIM ADF on the basic channel, read EF_IMSI, AUTHENTICATE (with T=0 procedure
    /// bytes resolved), store EF_KeysPS after a PS AKA (VERIFY PIN first when the card asks for it), derive the access keys.
    /// An e2m-aware ME (<see cref="AccessKeySeparation"/>) uses CK'/IK' = E2mKeys.DeriveAccessKeys(CK, IK) for access
    /// security (DESIGN.md §5) and keeps the USIM's CK/IK for e2m (<see cref="UsimCk"/>/<see cref="UsimIk"/>).
    /// </summary>
    public sealed class SimulatedUe
    {
        private const int KeysPsFid = 0x6F09;                 // TS 31.102 §4.2.4
        private readonly AuthenticateResult _auth = new();

        public SimulatedUe(ISimCard card)
        {
            Card = card ?? throw new ArgumentNullException(nameof(card));
        }

        public ISimCard Card { get; }

        /// <summary>PIN1 the ME knows (as the modem got it with AT+CPIN); used when the card answers '69 82'. Null = none.</summary>
        public string? Pin { get; init; }

        /// <summary>e2m-aware ME with access-key separation (DESIGN.md §5): CK'/IK' for access security.</summary>
        public bool AccessKeySeparation { get; init; }

        /// <summary>GPRS ciphering algorithms the ME supports (MS network capability, TS 24.008 §10.5.5.12). GEA0 is implicit.</summary>
        public GeaAlgorithm[] SupportedGea { get; init; } = { GeaAlgorithm.Gea1, GeaAlgorithm.Gea2, GeaAlgorithm.Gea3 };

        /// <summary>Write EF_KeysPS after a successful PS AKA on GPRS/UMTS (what every real ME does, TS 31.102 §4.2.4).</summary>
        public bool StoresKeysPs { get; init; } = true;

        /// <summary>IMSI read from EF_IMSI during the last attach.</summary>
        public string? Imsi { get; private set; }

        /// <summary>CK/IK returned by the USIM in the last successful AKA (the e2m keys: DESIGN.md §2/§3).</summary>
        public byte[]? UsimCk { get; private set; }

        public byte[]? UsimIk { get; private set; }

        /// <summary>Keys the ME uses for access security: CK'/IK' with separation, else CK/IK.</summary>
        public byte[]? AccessCk { get; private set; }

        public byte[]? AccessIk { get; private set; }

        /// <summary>APDUs sent to the card during the last attach (for tests: EPS attaches write nothing).</summary>
        public int ApduCount { get; private set; }

        internal void BeginAttach()
        {
            ApduCount = 0;
            Imsi = null;
        }

        /// <summary>SELECT the USIM by the 7-octet AID prefix on the basic channel (E2m.Modem builder, TS 102 221 §11.1.1).</summary>
        internal int SelectUsim()
        {
            byte[] prefix = UsimApdu.UsimAidPrefix();
            var apdu = new byte[5 + prefix.Length];
            UsimApdu.BuildSelectByAid(0, prefix, 0, prefix.Length, apdu, 0);
            apdu[3] = 0x0C; // P2: no data returned
            return Sw(Exchange(apdu));
        }

        /// <summary>READ EF_IMSI (TS 31.102 §4.2.2); returns the SW, sets <see cref="Imsi"/> on 9000.</summary>
        internal int ReadImsi()
        {
            int sw = Sw(Exchange(new byte[] { 0x00, 0xA4, 0x00, 0x0C, 0x02, 0x6F, 0x07 }));
            if (sw != StatusWords.Ok) return sw;
            byte[] r = Exchange(new byte[] { 0x00, 0xB0, 0x00, 0x00, 0x09 });
            sw = Sw(r);
            if (sw == StatusWords.SecurityNotSatisfied && VerifyPin())
            {
                r = Exchange(new byte[] { 0x00, 0xB0, 0x00, 0x00, 0x09 });
                sw = Sw(r);
            }

            if (sw == StatusWords.Ok) Imsi = EfImsi.Decode(r, 0, r.Length - 2);
            return sw;
        }

        /// <summary>AUTHENTICATE 3G context on the basic channel; the answer parsed by the firmware's parser (E2m.Modem.Usim).</summary>
        internal AuthenticateResult Authenticate(byte[] rand, byte[] autn)
        {
            var apdu = new byte[UsimApdu.AuthenticateApduLength];
            UsimApdu.BuildAuthenticate3g(0, rand, 0, autn, 0, apdu, 0);
            byte[] r = Exchange(apdu);
            if (Sw(r) == StatusWords.SecurityNotSatisfied && VerifyPin()) r = Exchange(apdu);
            AuthenticateResponse.Parse(r, 0, r.Length, _auth);
            return _auth;
        }

        /// <summary>Keeps the USIM keys and derives the access keys (DESIGN.md §5).</summary>
        internal void TakeKeys(byte[] ck, byte[] ik)
        {
            UsimCk = (byte[])ck.Clone();
            UsimIk = (byte[])ik.Clone();
            if (AccessKeySeparation)
            {
                byte[] ckPrime = new byte[16], ikPrime = new byte[16];
                new E2mKeys(new PortableCryptoProvider().CreateHmacSha256()).DeriveAccessKeys(ck, ik, ckPrime, ikPrime);
                AccessCk = ckPrime;
                AccessIk = ikPrime;
            }
            else
            {
                AccessCk = (byte[])ck.Clone();
                AccessIk = (byte[])ik.Clone();
            }
        }

        /// <summary>
        /// UPDATE BINARY EF_KeysPS = KSI || CK || IK (TS 31.102 §4.2.4: KSI in b3..b1) with the USIM's CK/IK — the
        /// keys the e2m network mode reads back (DESIGN.md §3). Returns the final SW.
        /// </summary>
        internal int WriteKeysPs(int ksi)
        {
            if (UsimCk == null || UsimIk == null) throw new InvalidOperationException("no keys");
            int sw = Sw(Exchange(new byte[] { 0x00, 0xA4, 0x00, 0x0C, 0x02, KeysPsFid >> 8, KeysPsFid & 0xFF }));
            if (sw != StatusWords.Ok) return sw;
            var apdu = new byte[5 + 33];
            apdu[1] = 0xD6;
            apdu[4] = 33;
            apdu[5] = (byte)(ksi & 0x07);
            UsimCk.CopyTo(apdu, 6);
            UsimIk.CopyTo(apdu, 22);
            sw = Sw(Exchange(apdu));
            if (sw == StatusWords.SecurityNotSatisfied && VerifyPin()) sw = Sw(Exchange(apdu));
            return sw;
        }

        /// <summary>VERIFY PIN1 (TS 102 221 §11.1.9) when the ME knows a PIN; true on '90 00'.</summary>
        private bool VerifyPin()
        {
            if (Pin == null) return false;
            var apdu = new byte[13];
            apdu[1] = 0x20;
            apdu[3] = 0x01;
            apdu[4] = 8;
            for (int i = 0; i < 8; i++) apdu[5 + i] = i < Pin.Length ? (byte)Pin[i] : (byte)0xFF;
            return Sw(Exchange(apdu)) == StatusWords.Ok;
        }

        /// <summary>One command with the T=0 procedure bytes resolved: '61 xx' → GET RESPONSE, '6C xx' → re-issue with P3 = xx.</summary>
        private byte[] Exchange(byte[] apdu)
        {
            ApduCount++;
            byte[] r = Card.Transmit(apdu);
            if (r.Length == 2 && r[0] == 0x6C)
            {
                var again = (byte[])apdu.Clone();
                again[4] = r[1];
                ApduCount++;
                r = Card.Transmit(again);
            }

            if (r.Length == 2 && r[0] == 0x61)
            {
                ApduCount++;
                r = Card.Transmit(new byte[] { (byte)(apdu[0] & 0x03), 0xC0, 0x00, 0x00, r[1] });
            }

            return r;
        }

        private static int Sw(byte[] r) => (r[^2] << 8) | r[^1];
    }
}

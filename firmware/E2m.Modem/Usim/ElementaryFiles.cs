namespace E2m.Modem.Usim
{
    /// <summary>
    /// File identifiers of the USIM EFs the firmware reads (TS 31.102 §4.2), with the decimal form that
    /// +CRSM takes as &lt;fileid&gt; (TS 27.007 §8.18).
    /// </summary>
    public static class UsimFiles
    {
        /// <summary>EF_IMSI '6F07' (TS 31.102 §4.2.2), 9 octets.</summary>
        public const int EfImsi = 0x6F07; // 28423

        /// <summary>EF_Keys '6F08' (TS 31.102 §4.2.3), 33 octets, CS domain keys.</summary>
        public const int EfKeys = 0x6F08; // 28424

        /// <summary>EF_KeysPS '6F09' (TS 31.102 §4.2.4), 33 octets, PS domain keys.</summary>
        public const int EfKeysPs = 0x6F09; // 28425

        /// <summary>EF_AD '6FAD' (TS 31.102 §4.2.18), 4..n octets.</summary>
        public const int EfAd = 0x6FAD; // 28589

        /// <summary>Size of EF_IMSI (TS 31.102 §4.2.2).</summary>
        public const int EfImsiLength = 9;

        /// <summary>Size of EF_Keys / EF_KeysPS: KSI 1 + CK 16 + IK 16 (TS 31.102 §4.2.3).</summary>
        public const int EfKeysLength = 33;

        /// <summary>Octets of EF_AD the firmware reads: the MNC length is in octet 4 (TS 31.102 §4.2.18).</summary>
        public const int EfAdReadLength = 4;
    }

    /// <summary>EF_IMSI decoder (TS 31.102 §4.2.2; digit coding TS 24.008 §10.5.1.4).</summary>
    public static class EfImsi
    {
        /// <summary>
        /// Decodes EF_IMSI: octet 1 = number of following octets (1..8); octet 2 = digit 1 in b8..b5 and the
        /// parity/type nibble in b4..b1 ('9' = IMSI, odd number of digits; '1' = IMSI, even); then two digits
        /// per octet, low nibble first; an even count ends with filler 'F' in the last high nibble.
        /// Example 08 09 10 10 10 32 54 76 98 → "001010123456789".
        /// </summary>
        public static string Decode(byte[] data, int offset, int length)
        {
            if (data == null) throw new System.ArgumentNullException("data");
            if (offset < 0 || length < 0 || offset + length > data.Length) throw new System.ArgumentOutOfRangeException("length");
            if (length < 2) throw new UsimException(UsimError.BadImsiLength, offset);
            int l = data[offset];
            if (l < 1 || l > 8 || l > length - 1) throw new UsimException(UsimError.BadImsiLength, offset);
            int parity = data[offset + 1] & 0x0F;
            bool odd;
            if (parity == 0x9) odd = true;
            else if (parity == 0x1) odd = false;
            else throw new UsimException(UsimError.BadImsiParity, offset + 1);

            // digits = 1 (high nibble of octet 2) + 2 per further octet, minus one filler when even.
            int count = 1 + 2 * (l - 1) - (odd ? 0 : 1);
            if (count < 1) throw new UsimException(UsimError.BadImsiLength, offset);
            char[] digits = new char[count];
            int n = 0;
            digits[n++] = Digit(data[offset + 1] >> 4, offset + 1);
            for (int i = 2; i <= l; i++)
            {
                int b = data[offset + i];
                digits[n++] = Digit(b & 0x0F, offset + i);
                int hi = b >> 4;
                if (n < count)
                {
                    digits[n++] = Digit(hi, offset + i);
                }
                else if (hi != 0xF)
                {
                    throw new UsimException(UsimError.BadImsiDigit, offset + i); // even count: filler 'F' expected
                }
            }
            return new string(digits);
        }

        private static char Digit(int nibble, int position)
        {
            if (nibble > 9) throw new UsimException(UsimError.BadImsiDigit, position);
            return (char)('0' + nibble);
        }
    }

    /// <summary>Decoded EF_AD (TS 31.102 §4.2.18).</summary>
    public struct AdministrativeData
    {
        private readonly int _ueOperationMode;
        private readonly int _mncLength;

        public AdministrativeData(int ueOperationMode, int mncLength)
        {
            _ueOperationMode = ueOperationMode;
            _mncLength = mncLength;
        }

        /// <summary>Octet 1: '00' normal operation, '80' type approval, ... (TS 31.102 §4.2.18).</summary>
        public int UeOperationMode { get { return _ueOperationMode; } }

        /// <summary>2 or 3; 0 when octet 4 is absent or holds another value (the caller falls back to a PLMN table).</summary>
        public int MncLength { get { return _mncLength; } }

        public bool HasMncLength { get { return _mncLength == 2 || _mncLength == 3; } }
    }

    /// <summary>EF_AD decoder (TS 31.102 §4.2.18).</summary>
    public static class EfAd
    {
        /// <summary>
        /// Octet 1 UE operation mode, octets 2–3 additional information, octet 4 b4..b1 length of the MNC in the
        /// IMSI (2 or 3). EF_AD has at least 3 octets; octet 4 is present on USIMs (it is optional for SIMs):
        /// a missing octet 4 or a value other than 2/3 gives MncLength 0 rather than an exception, because
        /// cards in the field do carry '0' or 'F' there and the IMSI is still usable.
        /// </summary>
        public static AdministrativeData Decode(byte[] data, int offset, int length)
        {
            if (data == null) throw new System.ArgumentNullException("data");
            if (offset < 0 || length < 0 || offset + length > data.Length) throw new System.ArgumentOutOfRangeException("length");
            if (length < 3) throw new UsimException(UsimError.BadAdLength, offset);
            int mode = data[offset];
            int mnc = 0;
            if (length >= 4)
            {
                int v = data[offset + 3] & 0x0F;
                if (v == 2 || v == 3) mnc = v;
            }
            return new AdministrativeData(mode, mnc);
        }
    }

    /// <summary>
    /// Decoded EF_Keys / EF_KeysPS (TS 31.102 §4.2.3 / §4.2.4): KSI, CK, IK. Preallocated; owner of key
    /// material: call <see cref="Clear"/> once the key chain is derived.
    /// </summary>
    public class UsimKeys
    {
        /// <summary>KSI value meaning "no key is available" (TS 24.008 §10.5.1.2 key sequence '111'; TS 31.102 §4.2.3).</summary>
        public const int KsiNoKey = 0x07;

        private readonly byte[] _ck = new byte[16];
        private readonly byte[] _ik = new byte[16];
        private int _ksi = KsiNoKey;

        /// <summary>Key set identifier, 0..7.</summary>
        public int Ksi { get { return _ksi; } }

        /// <summary>False when KSI is '07': CK/IK are then zeroised, whatever the file held.</summary>
        public bool HasKey { get { return _ksi != KsiNoKey; } }

        public byte[] Ck { get { return _ck; } }

        public byte[] Ik { get { return _ik; } }

        public void Clear()
        {
            System.Array.Clear(_ck, 0, _ck.Length);
            System.Array.Clear(_ik, 0, _ik.Length);
            _ksi = KsiNoKey;
        }

        /// <summary>
        /// Decodes the 33 octets: octet 1 KSI in b3..b1 (b8..b4 '0'), octets 2–17 CK, 18–33 IK (TS 31.102 §4.2.3).
        /// KSI '07' means no key; an octet 'FF' (erased file) is also taken as no key; other non-zero b8..b4 throw.
        /// </summary>
        public void Decode(byte[] data, int offset, int length)
        {
            if (data == null) throw new System.ArgumentNullException("data");
            if (offset < 0 || length < 0 || offset + length > data.Length) throw new System.ArgumentOutOfRangeException("length");
            Clear();
            if (length != UsimFiles.EfKeysLength) throw new UsimException(UsimError.BadKeysLength, offset);
            int ksiOctet = data[offset];
            if (ksiOctet == 0xFF) return; // erased / never written file: no key (the ME writes '07' to invalidate)
            if ((ksiOctet & 0xF8) != 0) throw new UsimException(UsimError.BadKsi, offset);
            _ksi = ksiOctet & 0x07;
            if (_ksi == KsiNoKey) return;
            System.Array.Copy(data, offset + 1, _ck, 0, 16);
            System.Array.Copy(data, offset + 17, _ik, 0, 16);
        }
    }
}

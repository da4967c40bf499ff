using E2m.Hal;

namespace E2m.Modem.Usim
{
    /// <summary>
    /// Why a USIM response, an EF content or a SIM-access AT string was rejected. Int-backed, stable values in
    /// the AT/modem range 5xx of <see cref="InputError"/> (hal/E2m.Hal), sub-range 560..599 owned by
    /// E2m.Modem.Usim and E2m.Modem.Commands; never renumber. Portable code never prints enum names:
    /// <see cref="UsimException.Describe"/> gives the fixed text.
    /// </summary>
    public enum UsimError
    {
        None = 0,

        /// <summary>A hex string (+CSIM/+CGLA/+CRSM response) has an odd length or a non-hex character.</summary>
        BadHex = 560,

        /// <summary>An APDU response is shorter than the two status word octets (ISO 7816-4 §5.1.3).</summary>
        MissingStatusWord = 561,

        /// <summary>AUTHENTICATE response: the first octet is neither 'DB' nor 'DC' (TS 31.102 §7.1.2.1).</summary>
        UnknownAuthenticateTag = 562,

        /// <summary>AUTHENTICATE 'DB' response: RES length outside 4..16 octets (TS 31.102 §7.1.2.1, TS 33.102 §6.3.7).</summary>
        BadResLength = 563,

        /// <summary>AUTHENTICATE 'DB' response: CK or IK length not 16 (TS 31.102 §7.1.2.1).</summary>
        BadKeyLength = 564,

        /// <summary>AUTHENTICATE 'DB' response: Kc present with a length other than 8 (TS 31.102 §7.1.2.1).</summary>
        BadKcLength = 565,

        /// <summary>AUTHENTICATE 'DC' response: AUTS length not 14 (TS 31.102 §7.1.2.1, TS 33.102 §6.3.3).</summary>
        BadAutsLength = 566,

        /// <summary>The response is truncated before the end of a length-prefixed field.</summary>
        Truncated = 567,

        /// <summary>Octets follow the last field of a response.</summary>
        TrailingOctets = 568,

        /// <summary>Status word 9000 with no response data where data is mandatory (AUTHENTICATE, MANAGE CHANNEL open).</summary>
        MissingData = 569,

        /// <summary>Data returned together with an error status word where none is allowed (e.g. '9862').</summary>
        UnexpectedData = 570,

        /// <summary>EF_IMSI: length octet outside 1..8 or not covered by the file (TS 31.102 §4.2.2).</summary>
        BadImsiLength = 571,

        /// <summary>EF_IMSI: a nibble that is not a decimal digit (or a misplaced 'F' filler) (TS 31.102 §4.2.2).</summary>
        BadImsiDigit = 572,

        /// <summary>EF_IMSI: the parity / identity-type nibble is neither '1' (even) nor '9' (odd) (TS 24.008 §10.5.1.4).</summary>
        BadImsiParity = 573,

        /// <summary>EF_AD shorter than its 3 mandatory octets (TS 31.102 §4.2.18).</summary>
        BadAdLength = 574,

        /// <summary>EF_Keys / EF_KeysPS not 33 octets (TS 31.102 §4.2.3, §4.2.4).</summary>
        BadKeysLength = 575,

        /// <summary>EF_Keys / EF_KeysPS: KSI octet with b8..b4 not zero (TS 31.102 §4.2.3).</summary>
        BadKsi = 576,

        /// <summary>MANAGE CHANNEL open returned a channel number outside 1..19 (TS 102 221 §11.1.17).</summary>
        BadChannelNumber = 577,

        /// <summary>An AT response line does not have the syntax of its command (TS 27.007 / vendor manual).</summary>
        BadAtSyntax = 580,

        /// <summary>A numeric field of an AT response is not a number or outside its range.</summary>
        BadAtNumber = 581,

        /// <summary>A mandatory field of an AT response is missing.</summary>
        MissingAtField = 582,

        /// <summary>An AT response length field disagrees with its data (e.g. +CSIM length vs hex string).</summary>
        AtLengthMismatch = 583,

        /// <summary>An AT response carries a value outside the set the specification allows (e.g. an unknown +CPIN code).</summary>
        UnknownAtValue = 584,

        /// <summary>A BER-TLV object (ISO/IEC 8825-1 as used by TS 102 221 §11.1.1.3 / §13.1) has a bad tag or length,
        /// or its value runs past the data.</summary>
        BadTlv = 585,

        /// <summary>SELECT / GET RESPONSE answer is not an FCP template '62' or lacks the file descriptor '82'
        /// (TS 102 221 §11.1.1.3), or has octets after the template or a repeated mandatory object.</summary>
        BadFcp = 586,

        /// <summary>FCP file descriptor '82': reserved coding, or a length that does not fit the structure
        /// (2 octets, or 5 for linear fixed / cyclic EFs; TS 102 221 §11.1.1.4.3).</summary>
        BadFileDescriptor = 587,

        /// <summary>The EF does not have the structure the caller needs (EF_DIR must be linear fixed with a record
        /// length 1..255 and at least one record, TS 102 221 §13.1).</summary>
        WrongFileStructure = 588,

        /// <summary>EF_DIR record that is neither an application template '61' nor empty ('FF' padding) (TS 102 221 §13.1).</summary>
        BadDirRecord = 589,

        /// <summary>EF_DIR application template without exactly one application identifier '4F' (TS 102 221 §13.1).</summary>
        MissingAid = 590,

        /// <summary>AID length outside 1..16 octets (TS 102 221 §13.1 Table 13.2).</summary>
        BadAidLength = 591,

        /// <summary>EF_DIR record: octets other than 'FF' after the application template (TS 102 221 §13.1).</summary>
        DirTrailingData = 592,
    }

    /// <summary>
    /// Untrusted SIM or AT input rejected (E2m.Modem.Usim and E2m.Modem.Commands). Part of the project's
    /// <see cref="MalformedInputException"/> family: catch that at the trust boundary.
    /// </summary>
    public class UsimException : MalformedInputException
    {
        private readonly UsimError _usimError;

        public UsimException(UsimError error, int position)
            : base((InputError)(int)error, position, Describe(error))
        {
            _usimError = error;
        }

        public UsimException(UsimError error, int position, string detail)
            : base((InputError)(int)error, position, Describe(error) + ": " + detail)
        {
            _usimError = error;
        }

        /// <summary>The typed cause.</summary>
        public UsimError UsimError { get { return _usimError; } }

        /// <summary>Fixed English text for a code (no enum reflection on nanoFramework).</summary>
        public static string Describe(UsimError error)
        {
            switch (error)
            {
                case UsimError.None: return "no error";
                case UsimError.BadHex: return "SIM: hex string has odd length or a non-hex character";
                case UsimError.MissingStatusWord: return "SIM: response shorter than SW1 SW2";
                case UsimError.UnknownAuthenticateTag: return "USIM: AUTHENTICATE response tag is neither DB nor DC";
                case UsimError.BadResLength: return "USIM: RES length outside 4..16";
                case UsimError.BadKeyLength: return "USIM: CK/IK length is not 16";
                case UsimError.BadKcLength: return "USIM: Kc length is not 8";
                case UsimError.BadAutsLength: return "USIM: AUTS length is not 14";
                case UsimError.Truncated: return "SIM: response truncated";
                case UsimError.TrailingOctets: return "SIM: octets after the last field";
                case UsimError.MissingData: return "SIM: status 9000 without the mandatory data";
                case UsimError.UnexpectedData: return "SIM: data with an error status word";
                case UsimError.BadImsiLength: return "EF_IMSI: bad length octet";
                case UsimError.BadImsiDigit: return "EF_IMSI: nibble is not a digit";
                case UsimError.BadImsiParity: return "EF_IMSI: parity nibble is neither 1 nor 9";
                case UsimError.BadAdLength: return "EF_AD: shorter than 3 octets";
                case UsimError.BadKeysLength: return "EF_Keys/EF_KeysPS: not 33 octets";
                case UsimError.BadKsi: return "EF_Keys/EF_KeysPS: KSI octet b8..b4 not zero";
                case UsimError.BadChannelNumber: return "USIM: logical channel number outside 1..19";
                case UsimError.BadAtSyntax: return "AT: response line has the wrong syntax";
                case UsimError.BadAtNumber: return "AT: numeric field malformed or out of range";
                case UsimError.MissingAtField: return "AT: mandatory field missing";
                case UsimError.AtLengthMismatch: return "AT: length field disagrees with the data";
                case UsimError.UnknownAtValue: return "AT: value outside the specified set";
                case UsimError.BadTlv: return "SIM: BER-TLV tag or length malformed";
                case UsimError.BadFcp: return "FCP: not a valid '62' template";
                case UsimError.BadFileDescriptor: return "FCP: file descriptor malformed";
                case UsimError.WrongFileStructure: return "EF: not the expected file structure";
                case UsimError.BadDirRecord: return "EF_DIR: record is not an application template";
                case UsimError.MissingAid: return "EF_DIR: template without exactly one AID";
                case UsimError.BadAidLength: return "AID length outside 1..16";
                case UsimError.DirTrailingData: return "EF_DIR: non-FF octets after the template";
            }
            return "malformed SIM/AT input";
        }
    }
}

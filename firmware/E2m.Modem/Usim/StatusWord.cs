namespace E2m.Modem.Usim
{
    /// <summary>
    /// What a status word means to the ME. Int-backed, stable values; sources: ISO/IEC 7816-4 §5.1.3 as
    /// profiled by ETSI TS 102 221 §10.2.1, USIM-specific codes TS 31.102 §7.3, and TS 51.011 §9.4 for the
    /// GSM-era '98xx' codes some cards still return.
    /// </summary>
    public enum StatusCategory
    {
        /// <summary>Any code not listed below: treat as a failure and report SW1 SW2.</summary>
        Other = 0,

        /// <summary>'90 00' normal ending (TS 102 221 §10.2.1.1).</summary>
        Ok = 1,

        /// <summary>'91 xx' normal ending, xx octets of proactive command pending (TS 102 221 §10.2.1.1).</summary>
        OkProactivePending = 2,

        /// <summary>'61 xx' (T=0) response data available, fetch with GET RESPONSE, Le = xx (TS 102 221 §10.2.1.1, §7.3.1.1.4).</summary>
        MoreData = 3,

        /// <summary>'6C xx' wrong Le: re-issue the command with Le = xx (TS 102 221 §10.2.1.2, §7.3.1.1.5).</summary>
        WrongLe = 4,

        /// <summary>'98 62' authentication error, incorrect MAC (TS 31.102 §7.3).</summary>
        AuthenticationMacFailure = 5,

        /// <summary>'98 64' authentication error, security context not supported (TS 31.102 §7.3).</summary>
        SecurityContextNotSupported = 6,

        /// <summary>'98 65' key freshness failure (TS 31.102 §7.3).</summary>
        KeyFreshnessFailure = 7,

        /// <summary>'69 82' security status not satisfied, e.g. PIN not verified (TS 102 221 §10.2.1.5);
        /// also the TS 51.011 §9.4.5 '98 04' access condition not fulfilled.</summary>
        SecurityStatusNotSatisfied = 8,

        /// <summary>'69 85' conditions of use not satisfied (TS 102 221 §10.2.1.5).</summary>
        ConditionsOfUseNotSatisfied = 9,

        /// <summary>'6A 82' file or application not found (TS 102 221 §10.2.1.5).</summary>
        FileNotFound = 10,

        /// <summary>'6A 86' incorrect P1 or P2 (TS 102 221 §10.2.1.5).</summary>
        IncorrectP1P2 = 11,

        /// <summary>'6D 00' instruction code not supported or invalid (TS 102 221 §10.2.1.3).</summary>
        InsNotSupported = 12,

        /// <summary>'6E 00' class not supported (TS 102 221 §10.2.1.3), e.g. a logical channel the card does not offer.</summary>
        ClaNotSupported = 13,

        /// <summary>'6F 00' technical problem, no precise diagnosis (TS 102 221 §10.2.1.3).</summary>
        TechnicalProblem = 14,

        /// <summary>'67 00' wrong length (TS 102 221 §10.2.1.3).</summary>
        WrongLength = 15,

        /// <summary>'68 81' logical channel not supported (TS 102 221 §10.2.1.4).</summary>
        LogicalChannelNotSupported = 16,

        /// <summary>'6A 81' function not supported, e.g. no more logical channels (TS 102 221 §10.2.1.5).</summary>
        FunctionNotSupported = 17,

        /// <summary>'98 66' no memory to store the authentication data (TS 31.102 §7.3).</summary>
        NoMemory = 18,

        /// <summary>'62 xx' / '63 xx' warnings (TS 102 221 §10.2.1.2).</summary>
        Warning = 19,
    }

    /// <summary>An ISO 7816-4 status word SW1 SW2 with its category (TS 102 221 §10.2).</summary>
    public struct StatusWord
    {
        private readonly byte _sw1;
        private readonly byte _sw2;

        public StatusWord(int sw1, int sw2)
        {
            if (sw1 < 0 || sw1 > 255) throw new System.ArgumentOutOfRangeException("sw1");
            if (sw2 < 0 || sw2 > 255) throw new System.ArgumentOutOfRangeException("sw2");
            _sw1 = (byte)sw1;
            _sw2 = (byte)sw2;
        }

        /// <summary>'90 00'.</summary>
        public static StatusWord Success { get { return new StatusWord(0x90, 0x00); } }

        public int Sw1 { get { return _sw1; } }

        public int Sw2 { get { return _sw2; } }

        /// <summary>SW1 SW2 as one 16-bit value, e.g. 0x9862.</summary>
        public int Value { get { return (_sw1 << 8) | _sw2; } }

        /// <summary>True for '90 00' and '91 xx' (both normal endings, TS 102 221 §10.2.1.1).</summary>
        public bool IsSuccess
        {
            get { return _sw1 == 0x90 && _sw2 == 0x00 || _sw1 == 0x91; }
        }

        /// <summary>The category (table in <see cref="StatusCategory"/>).</summary>
        public StatusCategory Category
        {
            get
            {
                switch (_sw1)
                {
                    case 0x90: return _sw2 == 0x00 ? StatusCategory.Ok : StatusCategory.Other;
                    case 0x91: return StatusCategory.OkProactivePending;
                    case 0x61: return StatusCategory.MoreData;
                    case 0x6C: return StatusCategory.WrongLe;
                    case 0x62:
                    case 0x63: return StatusCategory.Warning;
                    case 0x67: return _sw2 == 0x00 ? StatusCategory.WrongLength : StatusCategory.Other;
                    case 0x68: return _sw2 == 0x81 ? StatusCategory.LogicalChannelNotSupported : StatusCategory.Other;
                    case 0x69:
                        if (_sw2 == 0x82) return StatusCategory.SecurityStatusNotSatisfied;
                        if (_sw2 == 0x85) return StatusCategory.ConditionsOfUseNotSatisfied;
                        return StatusCategory.Other;
                    case 0x6A:
                        if (_sw2 == 0x82) return StatusCategory.FileNotFound;
                        if (_sw2 == 0x86) return StatusCategory.IncorrectP1P2;
                        if (_sw2 == 0x81) return StatusCategory.FunctionNotSupported;
                        return StatusCategory.Other;
                    case 0x6D: return _sw2 == 0x00 ? StatusCategory.InsNotSupported : StatusCategory.Other;
                    case 0x6E: return _sw2 == 0x00 ? StatusCategory.ClaNotSupported : StatusCategory.Other;
                    case 0x6F: return _sw2 == 0x00 ? StatusCategory.TechnicalProblem : StatusCategory.Other;
                    case 0x98:
                        if (_sw2 == 0x62) return StatusCategory.AuthenticationMacFailure;
                        if (_sw2 == 0x64) return StatusCategory.SecurityContextNotSupported;
                        if (_sw2 == 0x65) return StatusCategory.KeyFreshnessFailure;
                        if (_sw2 == 0x66) return StatusCategory.NoMemory;
                        if (_sw2 == 0x04) return StatusCategory.SecurityStatusNotSatisfied; // TS 51.011 §9.4.5
                        return StatusCategory.Other;
                }
                return StatusCategory.Other;
            }
        }

        /// <summary>Reads the status word from the last two octets of a response APDU (ISO 7816-4 §5.1.3).</summary>
        public static StatusWord FromResponseTail(byte[] response, int offset, int length)
        {
            if (response == null) throw new System.ArgumentNullException("response");
            if (length < 2) throw new UsimException(UsimError.MissingStatusWord, offset);
            return new StatusWord(response[offset + length - 2], response[offset + length - 1]);
        }

        /// <summary>Four upper-case hex digits, e.g. "9862" (for logs and reports).</summary>
        public override string ToString()
        {
            byte[] b = new byte[] { _sw1, _sw2 };
            return HexString.Encode(b, 0, 2);
        }

        public override bool Equals(object obj)
        {
            if (!(obj is StatusWord)) return false;
            StatusWord other = (StatusWord)obj;
            return other._sw1 == _sw1 && other._sw2 == _sw2;
        }

        public override int GetHashCode()
        {
            return Value;
        }
    }
}

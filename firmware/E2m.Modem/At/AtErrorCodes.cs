namespace E2m.Modem.At
{
    /// <summary>
    /// Numeric +CME ERROR values (TS 27.007 §9.2.1 general, §9.2.2 GPRS/EPS) and +CMS ERROR values
    /// (TS 27.005 §3.2.5), and the mapping of their verbose texts (AT+CMEE=2) back to numbers, so
    /// that a driver sees the same code whether the modem runs CMEE=1 (Quectel factory default) or
    /// CMEE=2 (u-blox/TinyGSM practice). Texts compare case-insensitively ("Operation not allowed"
    /// from SARA-R4 = "operation not allowed" of the spec).
    /// </summary>
    public static class AtErrorCodes
    {
        // TS 27.007 §9.2.1
        public const int PhoneFailure = 0;
        public const int OperationNotAllowed = 3;
        public const int OperationNotSupported = 4;
        public const int SimNotInserted = 10;
        public const int SimPinRequired = 11;
        public const int SimPukRequired = 12;
        public const int SimFailure = 13;
        public const int SimBusy = 14;
        public const int SimWrong = 15;
        public const int IncorrectPassword = 16;
        public const int NotFound = 22;
        public const int MemoryFailure = 23;
        public const int NoNetworkService = 30;
        public const int NetworkTimeout = 31;
        public const int IncorrectParameters = 50;
        public const int Unknown = 100;

        // TS 27.005 §3.2.5
        public const int CmsUnknownError = 500;

        // TS 27.007 §9.2.1 and §9.2.2: (code, text) in parallel arrays (no generic dictionary on nanoFramework).
        private static readonly int[] s_cmeCodes = new int[]
        {
            0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24, 25, 26, 27,
            30, 31, 32, 40, 41, 42, 43, 44, 45, 46, 47, 48, 50, 100,
            103, 106, 107, 108, 111, 112, 113, 114, 115, 132, 133, 134, 148, 149, 150,
        };

        private static readonly string[] s_cmeTexts = new string[]
        {
            "phone failure", "no connection to phone", "phone-adaptor link reserved", "operation not allowed",
            "operation not supported", "PH-SIM PIN required", "PH-FSIM PIN required", "PH-FSIM PUK required",
            "SIM not inserted", "SIM PIN required", "SIM PUK required", "SIM failure", "SIM busy", "SIM wrong",
            "incorrect password", "SIM PIN2 required", "SIM PUK2 required", "memory full", "invalid index",
            "not found", "memory failure", "text string too long", "invalid characters in text string",
            "dial string too long", "invalid characters in dial string",
            "no network service", "network timeout", "network not allowed - emergency calls only",
            "network personalization PIN required", "network personalization PUK required",
            "network subset personalization PIN required", "network subset personalization PUK required",
            "service provider personalization PIN required", "service provider personalization PUK required",
            "corporate personalization PIN required", "corporate personalization PUK required",
            "hidden key required", "incorrect parameters", "unknown",
            "illegal MS", "illegal ME", "GPRS services not allowed", "GPRS services and non-GPRS services not allowed",
            "PLMN not allowed", "location area not allowed", "roaming not allowed in this location area",
            "GPRS services not allowed in this PLMN", "no suitable cells in location area",
            "service option not supported", "requested service option not subscribed",
            "service option temporarily out of order", "unspecified GPRS error", "PDP authentication failure",
            "invalid mobile class",
        };

        // TS 27.005 §3.2.5
        private static readonly int[] s_cmsCodes = new int[]
        {
            300, 301, 302, 303, 304, 305, 310, 311, 312, 313, 314, 315, 316, 317, 318, 320, 321, 322, 330, 331, 332, 340, 500,
        };

        private static readonly string[] s_cmsTexts = new string[]
        {
            "ME failure", "SMS service of ME reserved", "operation not allowed", "operation not supported",
            "invalid PDU mode parameter", "invalid text mode parameter", "SIM not inserted", "SIM PIN required",
            "PH-SIM PIN required", "SIM failure", "SIM busy", "SIM wrong", "SIM PUK required", "SIM PIN2 required",
            "SIM PUK2 required", "memory failure", "invalid memory index", "memory full", "SMSC address unknown",
            "no network service", "network timeout", "no +CNMA acknowledgement expected", "unknown error",
        };

        /// <summary>27.007 §9.2 number for a verbose +CME ERROR text, or -1 when unknown.</summary>
        public static int CmeCodeFromText(string text)
        {
            return Lookup(s_cmeTexts, s_cmeCodes, text);
        }

        /// <summary>27.005 §3.2.5 number for a verbose +CMS ERROR text, or -1 when unknown ("(U)SIM" is read as "SIM").</summary>
        public static int CmsCodeFromText(string text)
        {
            if (text != null && text.Length > 3 && text[0] == '(' && (text[1] == 'U' || text[1] == 'u') && text[2] == ')')
            {
                text = text.Substring(3);
            }

            return Lookup(s_cmsTexts, s_cmsCodes, text);
        }

        /// <summary>The spec text of a +CME ERROR number, or null when not in the table.</summary>
        public static string CmeText(int code)
        {
            for (int i = 0; i < s_cmeCodes.Length; i++)
            {
                if (s_cmeCodes[i] == code)
                {
                    return s_cmeTexts[i];
                }
            }

            return null;
        }

        private static int Lookup(string[] texts, int[] codes, string text)
        {
            if (text == null)
            {
                return -1;
            }

            for (int i = 0; i < texts.Length; i++)
            {
                if (EqualsIgnoreCase(texts[i], text))
                {
                    return codes[i];
                }
            }

            return -1;
        }

        internal static bool EqualsIgnoreCase(string a, string b)
        {
            if (a.Length != b.Length)
            {
                return false;
            }

            for (int i = 0; i < a.Length; i++)
            {
                if (ToLower(a[i]) != ToLower(b[i]))
                {
                    return false;
                }
            }

            return true;
        }

        internal static char ToLower(char c)
        {
            return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
    }
}

namespace E2m.ModemSim.Usim
{
    /// <summary>Status words the simulated UICC/USIM answers (SW1 SW2 as one int).</summary>
    public static class StatusWords
    {
        public const int Ok = 0x9000;                      // TS 102 221 §10.2.1 normal ending
        public const int MoreData = 0x6100;                // '61 xx' (TS 102 221 §10.2.1, T=0 §7.3.1.1.4)
        public const int WrongLe = 0x6C00;                 // '6C xx' wrong Le, xx = exact length (TS 102 221 §10.2.1)
        public const int WrongLength = 0x6700;             // TS 102 221 §10.2.1
        public const int ChannelNotSupported = 0x6881;     // TS 102 221 §10.2.1 (logical channel not supported/not open)
        public const int SecureMessagingNotSupported = 0x6882;
        public const int IncompatibleFileStructure = 0x6981; // TS 102 221 §10.2.1
        public const int SecurityNotSatisfied = 0x6982;    // TS 102 221 §10.2.1 (e.g. PIN not verified)
        public const int AuthMethodBlocked = 0x6983;       // TS 102 221 §10.2.1 (PIN blocked)
        public const int ConditionsNotSatisfied = 0x6985;  // TS 102 221 §10.2.1
        public const int NoCurrentEf = 0x6986;             // TS 102 221 §10.2.1 (command not allowed, no EF selected)
        public const int IncorrectData = 0x6A80;           // TS 102 221 §10.2.1
        public const int FunctionNotSupported = 0x6A81;    // TS 102 221 §10.2.1 (e.g. no free logical channel)
        public const int FileNotFound = 0x6A82;            // TS 102 221 §10.2.1
        public const int RecordNotFound = 0x6A83;          // TS 102 221 §10.2.1
        public const int IncorrectP1P2 = 0x6A86;           // TS 102 221 §10.2.1
        public const int ReferencedDataNotFound = 0x6A88;  // TS 102 221 §10.2.1
        public const int WrongP1P2Offset = 0x6B00;         // TS 102 221 §10.2.1 (offset outside the EF)
        public const int InsNotSupported = 0x6D00;         // TS 102 221 §10.2.1
        public const int ClaNotSupported = 0x6E00;         // TS 102 221 §10.2.1
        public const int PinWrongBase = 0x63C0;            // '63 Cx': verification failed, x tries left (TS 102 221 §10.2.1)
        public const int AuthMacFailure = 0x9862;          // TS 31.102 §7.3: authentication error, incorrect MAC
        public const int SecurityContextNotSupported = 0x9864; // TS 31.102 §7.3
    }
}

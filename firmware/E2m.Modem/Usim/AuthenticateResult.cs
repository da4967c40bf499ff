namespace E2m.Modem.Usim
{
    /// <summary>How an AUTHENTICATE attempt ended. Int-backed, stable values (no enum names in logs).</summary>
    public enum AuthenticateKind
    {
        /// <summary>Nothing parsed yet.</summary>
        None = 0,

        /// <summary>'DB' response: RES, CK, IK and optionally Kc (TS 31.102 §7.1.2.1 case 1).</summary>
        Success = 1,

        /// <summary>'DC' response: AUTS, the USIM rejected the SQN (TS 31.102 §7.1.2.1 case 2, TS 33.102 §6.3.3).</summary>
        SyncFailure = 2,

        /// <summary>'98 62': MAC-A did not verify (TS 31.102 §7.3): the challenge is not from our home network.</summary>
        MacFailure = 3,

        /// <summary>The USIM answered another status word (e.g. '69 82' PIN not verified, '6D 00'); see <see cref="AuthenticateResult.Status"/>.</summary>
        Refused = 4,

        /// <summary>The modem refused to pass the command to the USIM (e.g. '+CME ERROR: 3' on INS 88); see
        /// <see cref="AuthenticateResult.ModemErrorCode"/>. Not a USIM verdict: another access path may work.</summary>
        ModemRefused = 5,

        /// <summary>No SIM access path that can carry AUTHENTICATE was found (only +CRSM, or nothing).</summary>
        NoAccessPath = 6,
    }

    /// <summary>
    /// Typed outcome of USIM AUTHENTICATE in 3G context (TS 31.102 §7.1.2). Preallocated buffers, filled by
    /// <see cref="AuthenticateResponse.Parse"/>; owner of CK/IK: call <see cref="Clear"/> as soon as the key
    /// chain is derived (DESIGN.md §7: never keep CK/IK longer than the derivation takes).
    /// </summary>
    public class AuthenticateResult
    {
        /// <summary>RES is 4..16 octets (TS 33.102 §6.3.7: 32..128 bits; TS 31.102 §7.1.2.1).</summary>
        public const int MaxResLength = 16;

        /// <summary>CK and IK are 16 octets (TS 31.102 §7.1.2.1).</summary>
        public const int KeyLength = 16;

        /// <summary>Kc is 8 octets (TS 31.102 §7.1.2.1, present only with service n°27).</summary>
        public const int KcLength = 8;

        /// <summary>AUTS = SQN_MS xor AK (6) || MAC-S (8) = 14 octets (TS 33.102 §6.3.3).</summary>
        public const int AutsLength = 14;

        private readonly byte[] _res = new byte[MaxResLength];
        private readonly byte[] _ck = new byte[KeyLength];
        private readonly byte[] _ik = new byte[KeyLength];
        private readonly byte[] _kc = new byte[KcLength];
        private readonly byte[] _auts = new byte[AutsLength];
        private AuthenticateKind _kind;
        private int _resLength;
        private bool _hasKc;
        private StatusWord _status;
        private int _modemErrorCode;

        public AuthenticateKind Kind { get { return _kind; } }

        /// <summary>RES buffer (first <see cref="ResLength"/> octets valid when <see cref="Kind"/> is Success).</summary>
        public byte[] Res { get { return _res; } }

        public int ResLength { get { return _resLength; } }

        /// <summary>CK (16 octets) when Success.</summary>
        public byte[] Ck { get { return _ck; } }

        /// <summary>IK (16 octets) when Success.</summary>
        public byte[] Ik { get { return _ik; } }

        /// <summary>True when the 'DB' response carried the optional Kc.</summary>
        public bool HasKc { get { return _hasKc; } }

        public byte[] Kc { get { return _kc; } }

        /// <summary>AUTS (14 octets) when SyncFailure.</summary>
        public byte[] Auts { get { return _auts; } }

        /// <summary>The final status word from the USIM (9000 for Success/SyncFailure, 9862 for MacFailure, ...).</summary>
        public StatusWord Status { get { return _status; } }

        /// <summary>The +CME ERROR code when <see cref="Kind"/> is ModemRefused (-1 for a plain ERROR).</summary>
        public int ModemErrorCode { get { return _modemErrorCode; } }

        /// <summary>Zeroises every secret and resets the kind to None.</summary>
        public void Clear()
        {
            System.Array.Clear(_res, 0, _res.Length);
            System.Array.Clear(_ck, 0, _ck.Length);
            System.Array.Clear(_ik, 0, _ik.Length);
            System.Array.Clear(_kc, 0, _kc.Length);
            System.Array.Clear(_auts, 0, _auts.Length);
            _kind = AuthenticateKind.None;
            _resLength = 0;
            _hasKc = false;
            _status = new StatusWord(0, 0);
            _modemErrorCode = 0;
        }

        internal void SetSuccess(int resLength, bool hasKc, StatusWord status)
        {
            _kind = AuthenticateKind.Success;
            _resLength = resLength;
            _hasKc = hasKc;
            _status = status;
        }

        internal void SetKind(AuthenticateKind kind, StatusWord status)
        {
            _kind = kind;
            _status = status;
        }

        /// <summary>Records a modem-level refusal (the USIM never saw the command).</summary>
        public void SetModemRefused(int cmeErrorCode)
        {
            Clear();
            _kind = AuthenticateKind.ModemRefused;
            _modemErrorCode = cmeErrorCode;
        }

        /// <summary>Records that no access path can carry AUTHENTICATE.</summary>
        public void SetNoAccessPath()
        {
            Clear();
            _kind = AuthenticateKind.NoAccessPath;
        }
    }
}

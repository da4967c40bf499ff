namespace E2m.Modem.Usim
{
    /// <summary>Where the USIM AID used for +CCHO and SELECT by AID came from. Int-backed, stable values.</summary>
    public enum UsimAidSource
    {
        /// <summary>Not probed yet: the 7-octet prefix A0000000871002 is used.</summary>
        None = 0,

        /// <summary>The full AID of the first USIM record of EF_DIR (TS 102 221 §13.1, TS 31.102 Annex A).</summary>
        EfDir = 1,

        /// <summary>EF_DIR could not be read (+CRSM refused, or GET RESPONSE / READ RECORD answered an error status
        /// word, see <see cref="UsimAccess.DirStatusWord"/>): prefix, right-truncated AID selection (TS 102 221 §11.1.1.2).</summary>
        PrefixDirUnreadable = 2,

        /// <summary>EF_DIR's FCP or records were malformed (see <see cref="UsimAccess.DirError"/>) and no good USIM record was found: prefix.</summary>
        PrefixDirMalformed = 3,

        /// <summary>EF_DIR was read and well formed but lists no USIM application: prefix.</summary>
        PrefixNoUsimInDir = 4,
    }
}

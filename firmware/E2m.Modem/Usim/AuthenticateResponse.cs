namespace E2m.Modem.Usim
{
    /// <summary>
    /// Strict parser of the AUTHENTICATE 3G-context response (TS 31.102 §7.1.2.1). Pure, allocation-free.
    /// Accepted shapes, data followed by SW1 SW2:
    /// <code>
    /// 'DB' L3 RES(4..16) '10' CK '10' IK ['08' Kc] '90 00'   case 1, success
    /// 'DC' '0E' AUTS(14)                           '90 00'   case 2, synchronisation failure
    ///   ('91 xx' in place of '90 00': normal ending with a proactive command pending, TS 102 221 §10.2.1.1 — same data)
    /// (no data)                                    '98 62'   MAC failure (TS 31.102 §7.3)
    /// (no data)                                    other SW  refused
    /// </code>
    /// Anything else (wrong tag, lengths, truncation, trailing octets, data with an error SW) throws
    /// <see cref="UsimException"/>. '61 xx' / '6C xx' must have been resolved by the caller (GET RESPONSE /
    /// re-issue) before parsing; if they reach here they are reported as Refused.
    /// </summary>
    public static class AuthenticateResponse
    {
        /// <summary>Tag of a successful 3G response (TS 31.102 §7.1.2.1).</summary>
        public const byte TagSuccess = 0xDB;

        /// <summary>Tag of a synchronisation failure (TS 31.102 §7.1.2.1).</summary>
        public const byte TagSyncFailure = 0xDC;

        /// <summary>
        /// Parses a response APDU (data || SW1 SW2) of <paramref name="length"/> octets into <paramref name="result"/>.
        /// </summary>
        public static void Parse(byte[] response, int offset, int length, AuthenticateResult result)
        {
            if (response == null) throw new System.ArgumentNullException("response");
            if (result == null) throw new System.ArgumentNullException("result");
            if (offset < 0 || length < 0 || offset + length > response.Length) throw new System.ArgumentOutOfRangeException("length");
            StatusWord sw = StatusWord.FromResponseTail(response, offset, length);
            Parse(response, offset, length - 2, sw, result);
        }

        /// <summary>Parses response data of <paramref name="dataLength"/> octets with its separately given status word.</summary>
        public static void Parse(byte[] data, int offset, int dataLength, StatusWord sw, AuthenticateResult result)
        {
            if (data == null) throw new System.ArgumentNullException("data");
            if (result == null) throw new System.ArgumentNullException("result");
            if (offset < 0 || dataLength < 0 || offset + dataLength > data.Length) throw new System.ArgumentOutOfRangeException("dataLength");
            result.Clear();

            if (!sw.IsSuccess) // '90 00' or '91 xx' (TS 102 221 §10.2.1.1: a SIM toolkit card flags a pending proactive command)
            {
                // TS 31.102 §7.3: error status words carry no response data.
                if (dataLength != 0) throw new UsimException(UsimError.UnexpectedData, offset);
                if (sw.Category == StatusCategory.AuthenticationMacFailure)
                {
                    result.SetKind(AuthenticateKind.MacFailure, sw);
                }
                else
                {
                    result.SetKind(AuthenticateKind.Refused, sw);
                }
                return;
            }

            if (dataLength == 0) throw new UsimException(UsimError.MissingData, offset);
            try
            {
                ParseData(data, offset, dataLength, sw, result);
            }
            catch (UsimException)
            {
                result.Clear(); // no half-parsed key material survives a rejected response
                throw;
            }
        }

        private static void ParseData(byte[] data, int offset, int dataLength, StatusWord sw, AuthenticateResult result)
        {
            int end = offset + dataLength;
            int p = offset;
            byte tag = data[p++];
            if (tag == TagSuccess)
            {
                int resLength = ReadLength(data, ref p, end);
                if (resLength < 4 || resLength > AuthenticateResult.MaxResLength) throw new UsimException(UsimError.BadResLength, p - 1);
                Take(data, ref p, end, resLength, result.Res);
                int ckLength = ReadLength(data, ref p, end);
                if (ckLength != AuthenticateResult.KeyLength) throw new UsimException(UsimError.BadKeyLength, p - 1);
                Take(data, ref p, end, ckLength, result.Ck);
                int ikLength = ReadLength(data, ref p, end);
                if (ikLength != AuthenticateResult.KeyLength) throw new UsimException(UsimError.BadKeyLength, p - 1);
                Take(data, ref p, end, ikLength, result.Ik);
                bool hasKc = false;
                if (p < end)
                {
                    int kcLength = ReadLength(data, ref p, end);
                    if (kcLength != AuthenticateResult.KcLength) throw new UsimException(UsimError.BadKcLength, p - 1);
                    Take(data, ref p, end, kcLength, result.Kc);
                    hasKc = true;
                }
                if (p != end) throw new UsimException(UsimError.TrailingOctets, p);
                result.SetSuccess(resLength, hasKc, sw);
                return;
            }

            if (tag == TagSyncFailure)
            {
                int autsLength = ReadLength(data, ref p, end);
                if (autsLength != AuthenticateResult.AutsLength) throw new UsimException(UsimError.BadAutsLength, p - 1);
                Take(data, ref p, end, autsLength, result.Auts);
                if (p != end) throw new UsimException(UsimError.TrailingOctets, p);
                result.SetKind(AuthenticateKind.SyncFailure, sw);
                return;
            }

            throw new UsimException(UsimError.UnknownAuthenticateTag, offset);
        }

        private static int ReadLength(byte[] data, ref int p, int end)
        {
            if (p >= end) throw new UsimException(UsimError.Truncated, p);
            return data[p++];
        }

        private static void Take(byte[] data, ref int p, int end, int count, byte[] dest)
        {
            if (p + count > end) throw new UsimException(UsimError.Truncated, p);
            System.Array.Copy(data, p, dest, 0, count);
            p += count;
        }
    }
}

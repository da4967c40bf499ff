namespace E2m.Modem.Usim
{
    /// <summary>
    /// Command APDUs the ME sends to the USIM for key establishment (DESIGN.md §3 home mode). Each builder
    /// writes into a caller buffer and returns the octet count; nothing is allocated. Short APDUs in the
    /// T=0 TPDU shape that +CSIM expects (TS 102 221 §7.3.1.1: CLA INS P1 P2 P3): case 1 carries P3 = '00',
    /// case 2 carries Le as P3, case 4 carries Lc as P3 followed by the data and, where the USIM
    /// specification shows it, a trailing Le (AUTHENTICATE, TS 31.102 §7.1.2).
    /// </summary>
    public static class UsimApdu
    {
        /// <summary>INS AUTHENTICATE, even instruction code (TS 31.102 §7.1.2).</summary>
        public const byte InsAuthenticate = 0x88;

        /// <summary>INS MANAGE CHANNEL (TS 102 221 §11.1.17).</summary>
        public const byte InsManageChannel = 0x70;

        /// <summary>INS SELECT (TS 102 221 §11.1.1).</summary>
        public const byte InsSelect = 0xA4;

        /// <summary>INS STATUS (TS 102 221 §11.1.2), sent with CLA '80'.</summary>
        public const byte InsStatus = 0xF2;

        /// <summary>INS GET RESPONSE (TS 102 221 §11.1.7).</summary>
        public const byte InsGetResponse = 0xC0;

        /// <summary>AUTHENTICATE P2: b8 = 1 "specific reference data", b3..b1 = 001 3G/EPS context (TS 31.102 §7.1.2).</summary>
        public const byte P2Authenticate3g = 0x81;

        /// <summary>RAND and AUTN are 16 octets each (TS 33.102 §6.3.2).</summary>
        public const int RandLength = 16;

        /// <summary>AUTN = SQN xor AK (6) || AMF (2) || MAC-A (8) (TS 33.102 §6.3.2).</summary>
        public const int AutnLength = 16;

        /// <summary>Lc of AUTHENTICATE 3G: L(RAND) RAND L(AUTN) AUTN = 1 + 16 + 1 + 16 = 0x22 (TS 31.102 §7.1.2.1).</summary>
        public const int AuthenticateLc = 0x22;

        /// <summary>Octets of an AUTHENTICATE 3G command APDU: header 4 + Lc 1 + data 34 + Le 1.</summary>
        public const int AuthenticateApduLength = 40;

        /// <summary>Highest logical channel number of a UICC (TS 102 221 §10.1.1: channels 0..19).</summary>
        public const int MaxLogicalChannel = 19;

        /// <summary>
        /// USIM application identifier prefix: RID 'A000000087' (3GPP) + application code '1002' (USIM)
        /// (TS 101 220 Annex E, TS 31.102 Annex A). The full AID adds country/provider and application
        /// provider fields; see <see cref="BuildSelectByAid"/> for selecting by this prefix.
        /// </summary>
        public static byte[] UsimAidPrefix()
        {
            return new byte[] { 0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02 };
        }

        /// <summary>
        /// CLA for an interindustry command on logical channel <paramref name="channel"/> (TS 102 221 §10.1.1):
        /// channels 0..3 in b2..b1 of '0X'; channels 4..19 in b4..b1 of the further interindustry class
        /// '4X' as channel − 4. No secure messaging.
        /// </summary>
        public static byte ClaForChannel(int channel)
        {
            if (channel < 0 || channel > MaxLogicalChannel) throw new System.ArgumentOutOfRangeException("channel");
            if (channel <= 3) return (byte)channel;
            return (byte)(0x40 | (channel - 4));
        }

        /// <summary>
        /// AUTHENTICATE, 3G context (TS 31.102 §7.1.2): CLA '88' '00' '81' '22' '10' RAND '10' AUTN '00'.
        /// </summary>
        public static int BuildAuthenticate3g(int channel, byte[] rand, int randOffset, byte[] autn, int autnOffset, byte[] dest, int destOffset)
        {
            Check(rand, randOffset, RandLength, "rand");
            Check(autn, autnOffset, AutnLength, "autn");
            Check(dest, destOffset, AuthenticateApduLength, "dest");
            int p = destOffset;
            dest[p++] = ClaForChannel(channel);
            dest[p++] = InsAuthenticate;
            dest[p++] = 0x00; // P1 '00' (TS 31.102 §7.1.2)
            dest[p++] = P2Authenticate3g;
            dest[p++] = AuthenticateLc;
            dest[p++] = RandLength; // L(RAND)
            System.Array.Copy(rand, randOffset, dest, p, RandLength);
            p += RandLength;
            dest[p++] = AutnLength; // L(AUTN)
            System.Array.Copy(autn, autnOffset, dest, p, AutnLength);
            p += AutnLength;
            dest[p++] = 0x00; // Le '00': up to 256 octets of response (TS 31.102 §7.1.2)
            return p - destOffset;
        }

        /// <summary>
        /// MANAGE CHANNEL open, channel assigned by the UICC (TS 102 221 §11.1.17): '00 70 00 00 01'
        /// (P2 '00' = card assigns, Le '01' = one octet: the new channel number). Sent on the basic channel.
        /// </summary>
        public static int BuildManageChannelOpen(byte[] dest, int destOffset)
        {
            Check(dest, destOffset, 5, "dest");
            dest[destOffset] = 0x00;
            dest[destOffset + 1] = InsManageChannel;
            dest[destOffset + 2] = 0x00; // P1 '00' open
            dest[destOffset + 3] = 0x00; // P2 '00' assigned by the UICC
            dest[destOffset + 4] = 0x01; // Le
            return 5;
        }

        /// <summary>
        /// MANAGE CHANNEL close (TS 102 221 §11.1.17): '00 70 80 nn 00' — P1 '80' close, P2 = channel; a case 1
        /// command, so P3 = '00' in the T=0 TPDU that +CSIM carries (TS 102 221 §7.3.1.1.1). Sent on the basic channel.
        /// </summary>
        public static int BuildManageChannelClose(int channel, byte[] dest, int destOffset)
        {
            if (channel < 1 || channel > MaxLogicalChannel) throw new System.ArgumentOutOfRangeException("channel");
            Check(dest, destOffset, 5, "dest");
            dest[destOffset] = 0x00;
            dest[destOffset + 1] = InsManageChannel;
            dest[destOffset + 2] = 0x80; // P1 '80' close
            dest[destOffset + 3] = (byte)channel;
            dest[destOffset + 4] = 0x00; // P3 of a case 1 TPDU
            return 5;
        }

        /// <summary>
        /// SELECT by DF name (AID) on <paramref name="channel"/> (TS 102 221 §11.1.1): CLA 'A4' '04' '04' Lc AID.
        /// P1 '04' = select by DF name; P2 '04' = b2..b1 '00' first or only occurrence, b4..b3 '01' return the FCP
        /// template, b8..b5 application session control '0' = activation.
        /// Selecting by the 7-octet prefix A0000000871002 relies on right-truncated AID selection (TS 102 221
        /// §11.1.1.2: "When P1 = '04' ... a right truncated AID can be specified in the data field"). Cards with more
        /// than one USIM, or cards that refuse partial selection ('6A 82'), need the full AID from EF_DIR, which
        /// <see cref="UsimAccess"/> reads first (TS 102 221 §13.1).
        /// </summary>
        public static int BuildSelectByAid(int channel, byte[] aid, int aidOffset, int aidLength, byte[] dest, int destOffset)
        {
            if (aidLength < 5 || aidLength > 16) throw new System.ArgumentOutOfRangeException("aidLength"); // TS 101 220 §4: AID 5..16 octets
            Check(aid, aidOffset, aidLength, "aid");
            Check(dest, destOffset, 5 + aidLength, "dest");
            dest[destOffset] = ClaForChannel(channel);
            dest[destOffset + 1] = InsSelect;
            dest[destOffset + 2] = 0x04;
            dest[destOffset + 3] = 0x04;
            dest[destOffset + 4] = (byte)aidLength;
            System.Array.Copy(aid, aidOffset, dest, destOffset + 5, aidLength);
            return 5 + aidLength;
        }

        /// <summary>
        /// GET RESPONSE after '61 xx' (TS 102 221 §11.1.7, §7.3.1.1.4): CLA 'C0' '00' '00' xx, on the same
        /// logical channel as the command that produced the response.
        /// </summary>
        public static int BuildGetResponse(int channel, int le, byte[] dest, int destOffset)
        {
            if (le < 0 || le > 255) throw new System.ArgumentOutOfRangeException("le");
            Check(dest, destOffset, 5, "dest");
            dest[destOffset] = ClaForChannel(channel);
            dest[destOffset + 1] = InsGetResponse;
            dest[destOffset + 2] = 0x00;
            dest[destOffset + 3] = 0x00;
            dest[destOffset + 4] = (byte)le;
            return 5;
        }

        /// <summary>
        /// Re-issue after '6C xx' (TS 102 221 §7.3.1.1.5): the same command with its Le (last octet of a case 2
        /// or case 4 short APDU) replaced by xx. Copies into <paramref name="dest"/> (may be the same array).
        /// </summary>
        public static int ReissueWithLe(byte[] apdu, int offset, int length, int le, byte[] dest, int destOffset)
        {
            if (length < 5) throw new System.ArgumentOutOfRangeException("length");
            if (le < 0 || le > 255) throw new System.ArgumentOutOfRangeException("le");
            Check(apdu, offset, length, "apdu");
            Check(dest, destOffset, length, "dest");
            if (apdu != dest || offset != destOffset) System.Array.Copy(apdu, offset, dest, destOffset, length);
            dest[destOffset + length - 1] = (byte)le;
            return length;
        }

        private static void Check(byte[] buffer, int offset, int count, string name)
        {
            if (buffer == null) throw new System.ArgumentNullException(name);
            if (offset < 0 || offset + count > buffer.Length) throw new System.ArgumentOutOfRangeException(name);
        }
    }
}

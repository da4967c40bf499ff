namespace E2m.Modem.Usim
{
    /// <summary>
    /// Minimal strict BER-TLV reader (ISO/IEC 8825-1 §8.1.2–8.1.3 as profiled for UICC data objects by
    /// TS 102 221 §11.1.1.3 and §13.1): tags of one or more octets, definite lengths in the short form
    /// (0..127) or the long form '81 xx' / '82 xx xx'. Indefinite length ('80') and longer length fields are
    /// rejected (a UICC never needs them: records and FCPs are at most 255 octets). Allocation-free.
    /// </summary>
    public static class BerTlv
    {
        /// <summary>
        /// Reads one TLV header at <paramref name="p"/> (bounded by <paramref name="end"/>); returns the tag
        /// (multi-octet tags packed big-endian, at most 3 octets), moves <paramref name="p"/> to the value and
        /// gives its length. The value must lie inside [p, end) or <see cref="UsimError.BadTlv"/> is thrown.
        /// </summary>
        public static int ReadHeader(byte[] data, ref int p, int end, out int valueLength)
        {
            int start = p;
            if (p >= end) throw new UsimException(UsimError.BadTlv, p);
            int tag = data[p++];
            if ((tag & 0x1F) == 0x1F)
            {
                // ISO/IEC 8825-1 §8.1.2.4: subsequent tag octets, b8 = 1 on all but the last.
                for (int i = 0; ; i++)
                {
                    if (p >= end || i >= 2) throw new UsimException(UsimError.BadTlv, start);
                    int b = data[p++];
                    tag = (tag << 8) | b;
                    if ((b & 0x80) == 0) break;
                }
            }
            if (p >= end) throw new UsimException(UsimError.BadTlv, p);
            int l = data[p++];
            if (l == 0x81)
            {
                // §8.1.3.5 long form, one length octet: only for 128..255
                if (p >= end) throw new UsimException(UsimError.BadTlv, p);
                l = data[p++];
                if (l < 0x80) throw new UsimException(UsimError.BadTlv, p - 2);
            }
            else if (l == 0x82)
            {
                if (p + 2 > end) throw new UsimException(UsimError.BadTlv, p);
                l = (data[p] << 8) | data[p + 1];
                p += 2;
                if (l < 0x100) throw new UsimException(UsimError.BadTlv, p - 3);
            }
            else if (l >= 0x80)
            {
                throw new UsimException(UsimError.BadTlv, p - 1); // indefinite form or a length field we do not allow
            }
            if (l > end - p) throw new UsimException(UsimError.BadTlv, start);
            valueLength = l;
            return tag;
        }
    }
}

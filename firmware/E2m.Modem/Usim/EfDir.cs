namespace E2m.Modem.Usim
{
    /// <summary>
    /// EF_DIR '2F00' under the MF (TS 102 221 §13.1): a linear fixed file under the MF, READ ALW, one record per application, each record
    /// an application template <c>'61' L { '4F' L AID, ['50' L label], [other DOs] }</c> padded with 'FF'
    /// (an unused record is all 'FF'). Strict, allocation-free parser of one record plus the USIM AID test of
    /// TS 31.102 Annex A / TS 101 220 Annex E.
    /// </summary>
    public static class EfDir
    {
        /// <summary>File identifier of EF_DIR (TS 102 221 §13.1); +CRSM takes it in decimal (12032).</summary>
        public const int FileId = 0x2F00;

        /// <summary>Application template tag (TS 102 221 §13.1).</summary>
        public const int TagApplicationTemplate = 0x61;

        /// <summary>Application identifier tag (TS 102 221 §13.1).</summary>
        public const int TagAid = 0x4F;

        /// <summary>Application label tag (TS 102 221 §13.1), up to 32 octets of text.</summary>
        public const int TagLabel = 0x50;

        /// <summary>AID length '01'..'10' in EF_DIR (TS 102 221 §13.1 Table 13.2). A USIM AID has at least the
        /// RID (5) and the application code (2) (TS 101 220 §4, Annex E).</summary>
        public const int MinAidLength = 1;

        /// <summary>AID is at most 16 octets (TS 102 221 §13.1 Table 13.2, TS 101 220 §4).</summary>
        public const int MaxAidLength = 16;

        /// <summary>Application template length '03'..'7F' (TS 102 221 §13.1 Table 13.2).</summary>
        public const int MaxTemplateLength = 0x7F;

        /// <summary>
        /// Parses one record of <paramref name="length"/> octets. Returns false for an unused record (every octet
        /// 'FF'); true for an application template, with its AID copied to <paramref name="aid"/> (room for 16
        /// octets at <paramref name="aidOffset"/>) and the label located in <paramref name="record"/> (labelLength 0
        /// when absent). Throws <see cref="UsimException"/> (BadDirRecord, BadTlv, MissingAid, BadAidLength,
        /// DirTrailingData) for anything else.
        /// </summary>
        public static bool ParseRecord(byte[] record, int offset, int length, byte[] aid, int aidOffset,
            out int aidLength, out int labelOffset, out int labelLength)
        {
            if (record == null) throw new System.ArgumentNullException("record");
            if (aid == null) throw new System.ArgumentNullException("aid");
            if (offset < 0 || length < 0 || offset + length > record.Length) throw new System.ArgumentOutOfRangeException("length");
            if (aidOffset < 0 || aidOffset + MaxAidLength > aid.Length) throw new System.ArgumentOutOfRangeException("aidOffset");
            aidLength = 0;
            labelOffset = 0;
            labelLength = 0;
            int end = offset + length;
            if (IsPadding(record, offset, end)) return false;
            if (record[offset] != TagApplicationTemplate) throw new UsimException(UsimError.BadDirRecord, offset);

            int p = offset;
            int templateLength;
            BerTlv.ReadHeader(record, ref p, end, out templateLength);
            if (templateLength < 3 || templateLength > MaxTemplateLength) throw new UsimException(UsimError.BadDirRecord, offset);
            int templateEnd = p + templateLength;
            if (!IsPadding(record, templateEnd, end)) throw new UsimException(UsimError.DirTrailingData, templateEnd);

            int foundAid = 0;
            int foundLabel = 0;
            while (p < templateEnd)
            {
                int objectStart = p;
                int l;
                int tag = BerTlv.ReadHeader(record, ref p, templateEnd, out l);
                if (tag == TagAid)
                {
                    if (foundAid++ > 0) throw new UsimException(UsimError.MissingAid, objectStart); // exactly one AID
                    if (l < MinAidLength || l > MaxAidLength) throw new UsimException(UsimError.BadAidLength, objectStart);
                    System.Array.Copy(record, p, aid, aidOffset, l);
                    aidLength = l;
                }
                else if (tag == TagLabel)
                {
                    if (foundLabel++ > 0) throw new UsimException(UsimError.BadDirRecord, objectStart);
                    labelOffset = p;
                    labelLength = l;
                }
                p += l;
            }
            if (foundAid == 0)
            {
                System.Array.Clear(aid, aidOffset, MaxAidLength);
                throw new UsimException(UsimError.MissingAid, offset);
            }
            return true;
        }

        /// <summary>
        /// True when <paramref name="aid"/> names a USIM: RID 'A000000087' (3GPP) followed by the application
        /// code '1002' (TS 31.102 Annex A; TS 101 220 Annex E). ISIM ('1004') and others are false.
        /// </summary>
        public static bool IsUsimAid(byte[] aid, int offset, int length)
        {
            if (aid == null) throw new System.ArgumentNullException("aid");
            if (length < 7 || offset < 0 || offset + length > aid.Length) return false;
            return aid[offset] == 0xA0 && aid[offset + 1] == 0x00 && aid[offset + 2] == 0x00 && aid[offset + 3] == 0x00
                && aid[offset + 4] == 0x87 && aid[offset + 5] == 0x10 && aid[offset + 6] == 0x02;
        }

        private static bool IsPadding(byte[] data, int from, int end)
        {
            for (int i = from; i < end; i++)
            {
                if (data[i] != 0xFF) return false;
            }
            return true;
        }
    }
}

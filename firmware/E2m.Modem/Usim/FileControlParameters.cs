namespace E2m.Modem.Usim
{
    /// <summary>File structure from the FCP file descriptor byte (TS 102 221 §11.1.1.4.3, Table 11.5). Stable values.</summary>
    public enum FileStructure
    {
        /// <summary>Descriptor b3..b1 '000': no information given.</summary>
        NoInformation = 0,

        /// <summary>Working/internal EF, transparent (b3..b1 '001').</summary>
        Transparent = 1,

        /// <summary>Working/internal EF, linear fixed (b3..b1 '010').</summary>
        LinearFixed = 2,

        /// <summary>Working/internal EF, cyclic (b3..b1 '110').</summary>
        Cyclic = 6,

        /// <summary>DF or ADF (b6..b1 '111000').</summary>
        Df = 7,

        /// <summary>BER-TLV structure EF (b6..b1 '111001').</summary>
        BerTlv = 8,
    }

    /// <summary>
    /// Strict, typed FCP (file control parameters) of a SELECT / GET RESPONSE answer (TS 102 221 §11.1.1.3):
    /// <code>'62' L { '82' file descriptor, '83' file id, '80' file size, '88' SFI, '84' DF name, ... }</code>
    /// The file descriptor '82' is mandatory and is 2 octets (descriptor byte, data coding byte '21') or 5 octets
    /// for linear fixed / cyclic EFs (+ record length on 2 octets + number of records, §11.1.1.4.3). Other data
    /// objects (life cycle '8A', security '8B'/'8C'/'AB', proprietary 'A5', PIN status 'C6', ...) are skipped
    /// after their lengths are checked. A repeated '82'/'83'/'80', a truncated object or octets after the template
    /// throw <see cref="UsimException"/>. A struct: parsing allocates nothing.
    /// </summary>
    public struct FileControlParameters
    {
        /// <summary>FCP template tag (TS 102 221 §11.1.1.3).</summary>
        public const int TagFcp = 0x62;

        /// <summary>File descriptor (TS 102 221 §11.1.1.4.3).</summary>
        public const int TagFileDescriptor = 0x82;

        /// <summary>File identifier (TS 102 221 §11.1.1.4.4).</summary>
        public const int TagFileId = 0x83;

        /// <summary>File size, the EF body in octets (TS 102 221 §11.1.1.4.1).</summary>
        public const int TagFileSize = 0x80;

        private int _descriptor;
        private FileStructure _structure;
        private int _recordLength;
        private int _recordCount;
        private int _fileId;
        private int _fileSize;

        /// <summary>The file descriptor byte (first octet of '82').</summary>
        public int DescriptorByte { get { return _descriptor; } }

        public FileStructure Structure { get { return _structure; } }

        /// <summary>Record length (linear fixed / cyclic), 0 otherwise.</summary>
        public int RecordLength { get { return _recordLength; } }

        /// <summary>Number of records (linear fixed / cyclic), 0 otherwise.</summary>
        public int RecordCount { get { return _recordCount; } }

        /// <summary>File identifier from '83', -1 when absent.</summary>
        public int FileId { get { return _fileId; } }

        /// <summary>File size from '80', -1 when absent.</summary>
        public int FileSize { get { return _fileSize; } }

        /// <summary>Parses an FCP template of exactly <paramref name="length"/> octets (no status word).</summary>
        public static FileControlParameters Parse(byte[] data, int offset, int length)
        {
            if (data == null) throw new System.ArgumentNullException("data");
            if (offset < 0 || length < 0 || offset + length > data.Length) throw new System.ArgumentOutOfRangeException("length");
            FileControlParameters f = new FileControlParameters();
            f._fileId = -1;
            f._fileSize = -1;
            f._structure = FileStructure.NoInformation;
            int end = offset + length;
            int p = offset;
            int templateLength;
            int tag;
            try
            {
                tag = BerTlv.ReadHeader(data, ref p, end, out templateLength);
            }
            catch (UsimException)
            {
                throw new UsimException(UsimError.BadFcp, offset);
            }
            if (tag != TagFcp) throw new UsimException(UsimError.BadFcp, offset);
            int templateEnd = p + templateLength;
            if (templateEnd != end) throw new UsimException(UsimError.BadFcp, templateEnd); // trailing octets
            bool haveDescriptor = false;
            while (p < templateEnd)
            {
                int objectStart = p;
                int l;
                tag = BerTlv.ReadHeader(data, ref p, templateEnd, out l);
                switch (tag)
                {
                    case TagFileDescriptor:
                        if (haveDescriptor) throw new UsimException(UsimError.BadFcp, objectStart);
                        haveDescriptor = true;
                        f.ParseDescriptor(data, p, l);
                        break;
                    case TagFileId:
                        if (f._fileId >= 0 || l != 2) throw new UsimException(UsimError.BadFcp, objectStart);
                        f._fileId = (data[p] << 8) | data[p + 1];
                        break;
                    case TagFileSize:
                        if (f._fileSize >= 0 || l < 1 || l > 3) throw new UsimException(UsimError.BadFcp, objectStart);
                        int size = 0;
                        for (int i = 0; i < l; i++) size = (size << 8) | data[p + i];
                        f._fileSize = size;
                        break;
                }
                p += l;
            }
            if (!haveDescriptor) throw new UsimException(UsimError.BadFcp, offset);
            return f;
        }

        /// <summary>TS 102 221 §11.1.1.4.3 file descriptor: byte 1 descriptor, byte 2 data coding, [bytes 3–4 record length, byte 5 count].</summary>
        private void ParseDescriptor(byte[] data, int p, int l)
        {
            if (l != 2 && l != 5) throw new UsimException(UsimError.BadFileDescriptor, p);
            int fd = data[p];
            _descriptor = fd;
            if ((fd & 0x80) != 0) throw new UsimException(UsimError.BadFileDescriptor, p); // b8 RFU '0'
            int low6 = fd & 0x3F;
            if (low6 == 0x38)
            {
                _structure = FileStructure.Df;
            }
            else if (low6 == 0x39)
            {
                _structure = FileStructure.BerTlv;
            }
            else
            {
                int type = (fd >> 3) & 0x07; // b6..b4: '000' working EF, '001' internal EF
                if (type > 1) throw new UsimException(UsimError.BadFileDescriptor, p);
                switch (fd & 0x07)
                {
                    case 0: _structure = FileStructure.NoInformation; break;
                    case 1: _structure = FileStructure.Transparent; break;
                    case 2: _structure = FileStructure.LinearFixed; break;
                    case 6: _structure = FileStructure.Cyclic; break;
                    default: throw new UsimException(UsimError.BadFileDescriptor, p);
                }
            }
            bool records = _structure == FileStructure.LinearFixed || _structure == FileStructure.Cyclic;
            if (records != (l == 5)) throw new UsimException(UsimError.BadFileDescriptor, p);
            if (records)
            {
                _recordLength = (data[p + 2] << 8) | data[p + 3];
                _recordCount = data[p + 4];
            }
        }
    }
}

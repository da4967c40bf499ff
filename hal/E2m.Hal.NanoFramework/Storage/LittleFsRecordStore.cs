#nullable disable // device code: nullable off (DESIGN.md §9); also compiled into tests/E2m.Cli.Tests against fakes
using System;
using System.IO;
using E2m.Hal;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// <see cref="IRecordStore"/> on the ESP32's internal LittleFS (drive I:\, nanoFramework.System.IO.FileSystem), one file
    /// per record: <c>I:\e2m{id}.rec</c>. Each file is a frame <c>length (2, LE) || CRC-32 (4, LE) || data</c>.
    /// Atomic replace: the new frame is written to <c>e2m{id}.tmp</c> (one Write, which nanoFramework syncs), then the old
    /// <c>.rec</c> is deleted and the <c>.tmp</c> renamed. nanoFramework's File.Move refuses an existing destination (upstream
    /// File.cs), so the delete comes first; a power cut between delete and rename leaves only a complete <c>.tmp</c>, which
    /// <see cref="Read"/> recognises by its CRC and promotes. A <c>.tmp</c> next to a valid <c>.rec</c> is an unfinished write
    /// (the old record stands) and is removed by the next write. A <c>.rec</c> that fails its CRC with no complete <c>.tmp</c> is
    /// reported as IOException, never as an absent record. Keys at rest: enable ESP32 flash encryption (README).
    /// </summary>
    public sealed class LittleFsRecordStore : IRecordStore
    {
        private const int HeaderLength = 6;

        private readonly string _prefix;
        private readonly int _maxRecordSize;
        private readonly int _maxRecordId;
        private readonly byte[] _frame;

        /// <param name="directory">e.g. "I:\\" (internal flash).</param>
        public LittleFsRecordStore(string directory, int maxRecordSize, int maxRecordId)
        {
            if (maxRecordSize < 1 || maxRecordSize > 0xFFFF || maxRecordId < 0)
            {
                throw new ArgumentOutOfRangeException("maxRecordSize");
            }

            _prefix = directory + "e2m";
            _maxRecordSize = maxRecordSize;
            _maxRecordId = maxRecordId;
            _frame = new byte[HeaderLength + maxRecordSize];
        }

        public int MaxRecordSize
        {
            get { return _maxRecordSize; }
        }

        public int MaxRecordId
        {
            get { return _maxRecordId; }
        }

        public int Read(int recordId, byte[] buffer, int offset, int count)
        {
            CheckId(recordId);
            string rec = RecPath(recordId);
            string tmp = TmpPath(recordId);
            bool recExists = File.Exists(rec);
            int length = recExists ? LoadFrame(rec) : -1;
            if (length < 0)
            {
                // no valid .rec: a complete .tmp is the write that lost power between delete and rename
                length = File.Exists(tmp) ? LoadFrame(tmp) : -1;
                if (length < 0)
                {
                    if (recExists)
                    {
                        // never report a damaged record as absent: an absent SSN reservation would restart at 0 (nonce reuse)
                        throw new IOException("record " + recordId.ToString() + " fails its CRC");
                    }

                    return -1;
                }

                File.Delete(rec);
                File.Move(tmp, rec);
            }

            if (length > count)
            {
                throw new ArgumentException("record longer than the buffer");
            }

            Array.Copy(_frame, HeaderLength, buffer, offset, length);
            return length;
        }

        public void Write(int recordId, byte[] data, int offset, int count)
        {
            CheckId(recordId);
            if (count < 0 || count > _maxRecordSize)
            {
                throw new ArgumentOutOfRangeException("count");
            }

            string rec = RecPath(recordId);
            string tmp = TmpPath(recordId);
            _frame[0] = (byte)count;
            _frame[1] = (byte)(count >> 8);
            Array.Copy(data, offset, _frame, HeaderLength, count);
            RecordFrame.PutUInt32(_frame, 2, RecordFrame.Crc32(_frame, HeaderLength, count));

            File.Delete(tmp);
            FileStream stream = new FileStream(tmp, FileMode.Create, FileAccess.Write);
            try
            {
                stream.Write(_frame, 0, HeaderLength + count);
                stream.Flush();
            }
            finally
            {
                stream.Close();
            }

            File.Delete(rec);
            File.Move(tmp, rec);
        }

        public void Delete(int recordId)
        {
            CheckId(recordId);
            File.Delete(TmpPath(recordId)); // first: a surviving .tmp would resurrect the record
            File.Delete(RecPath(recordId));
        }

        /// <summary>Reads a frame into _frame; returns the data length, or -1 when the file is not a complete frame.</summary>
        private int LoadFrame(string path)
        {
            FileStream stream = new FileStream(path, FileMode.Open, FileAccess.Read);
            try
            {
                long size = stream.Length;
                if (size < HeaderLength || size > _frame.Length)
                {
                    return -1;
                }

                int total = (int)size;
                int got = 0;
                while (got < total)
                {
                    int n = stream.Read(_frame, got, total - got);
                    if (n <= 0)
                    {
                        return -1;
                    }

                    got += n;
                }

                int length = _frame[0] | (_frame[1] << 8);
                if (length != total - HeaderLength || RecordFrame.GetUInt32(_frame, 2) != RecordFrame.Crc32(_frame, HeaderLength, length))
                {
                    return -1;
                }

                return length;
            }
            finally
            {
                stream.Close();
            }
        }

        private void CheckId(int recordId)
        {
            if (recordId < 0 || recordId > _maxRecordId)
            {
                throw new ArgumentOutOfRangeException("recordId");
            }
        }

        private string RecPath(int recordId)
        {
            return _prefix + recordId.ToString() + ".rec";
        }

        private string TmpPath(int recordId)
        {
            return _prefix + recordId.ToString() + ".tmp";
        }
    }
}

using System;
using System.IO;
using E2m.Hal;

namespace E2m.Hal.Host
{
    /// <summary>
    /// IRecordStore on a directory, one file per record ("r00042.rec"). Atomic replace: the new bytes
    /// go to "r00042.tmp", are flushed to the disk (fsync: FileStream.Flush(true)), and the temporary
    /// file is renamed over the record (rename(2) is atomic on POSIX file systems; MoveFileEx with
    /// replace on NTFS). A leftover ".tmp" from a power cut is ignored and removed at construction.
    /// The same scheme is what the ESP32 adapter does on LittleFS (I:\). Not done: fsync of the
    /// directory after the rename (.NET has no API), so a crash right after the rename may, on some
    /// file systems, bring back the old record - still never a torn one.
    /// </summary>
    public sealed class FileRecordStore : IRecordStore
    {
        private readonly string _directory;
        private readonly object _gate = new();

        public FileRecordStore(string directory, int maxRecordSize = 4096, int maxRecordId = 65535)
        {
            ArgumentException.ThrowIfNullOrEmpty(directory);
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecordSize);
            _directory = directory;
            MaxRecordSize = maxRecordSize;
            MaxRecordId = maxRecordId;
            Directory.CreateDirectory(directory);
            foreach (string tmp in Directory.GetFiles(directory, "r*.tmp"))
            {
                File.Delete(tmp);
            }
        }

        public int MaxRecordSize { get; }

        public int MaxRecordId { get; }

        public int Read(int recordId, byte[] buffer, int offset, int count)
        {
            string path = PathOf(recordId, ".rec");
            lock (_gate)
            {
                byte[] data;
                try
                {
                    data = File.ReadAllBytes(path);
                }
                catch (FileNotFoundException)
                {
                    return -1;
                }

                if (data.Length > count)
                {
                    throw new ArgumentException("buffer smaller than the record", nameof(count));
                }

                Array.Copy(data, 0, buffer, offset, data.Length);
                return data.Length;
            }
        }

        public void Write(int recordId, byte[] data, int offset, int count)
        {
            ArgumentNullException.ThrowIfNull(data);
            if (count < 0 || count > MaxRecordSize)
            {
                throw new ArgumentOutOfRangeException(nameof(count));
            }

            string path = PathOf(recordId, ".rec");
            string tmp = PathOf(recordId, ".tmp");
            lock (_gate)
            {
                using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
                {
                    fs.Write(data, offset, count);
                    fs.Flush(flushToDisk: true);
                }

                File.Move(tmp, path, overwrite: true);
            }
        }

        public void Delete(int recordId)
        {
            string path = PathOf(recordId, ".rec");
            lock (_gate)
            {
                File.Delete(path);
            }
        }

        private string PathOf(int recordId, string extension)
        {
            if (recordId < 0 || recordId > MaxRecordId)
            {
                throw new ArgumentOutOfRangeException(nameof(recordId));
            }

            return Path.Combine(_directory, "r" + recordId.ToString("D5", System.Globalization.CultureInfo.InvariantCulture) + extension);
        }
    }
}

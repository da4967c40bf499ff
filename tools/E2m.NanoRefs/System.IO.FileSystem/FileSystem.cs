// Compile-only stub of nanoFramework.System.IO.FileSystem 1.1.87 (File.cs, FileStream.cs, FileMode.cs, FileAccess.cs):
// the members E2m.Hal.NanoFramework calls, with the upstream signatures. Never deployed; bodies throw.
// Upstream semantics the adapter relies on (read from File.cs): Move throws IOException when the destination exists;
// Delete of a missing file is a no-op; FileStream.Flush is a no-op (every Write is synced).
using System;

namespace System.IO
{
    public enum FileMode
    {
        CreateNew = 1,
        Create = 2,
        Open = 3,
        OpenOrCreate = 4,
        Truncate = 5,
        Append = 6,
    }

    [Flags]
    public enum FileAccess
    {
        Read = 1,
        Write = 2,
        ReadWrite = 3,
    }

    public static class File
    {
        public static bool Exists(string path)
        {
            throw new NotImplementedException();
        }

        public static void Delete(string path)
        {
            throw new NotImplementedException();
        }

        public static void Move(string sourceFileName, string destFileName)
        {
            throw new NotImplementedException();
        }
    }

    public class FileStream : Stream
    {
        public FileStream(string path, FileMode mode, FileAccess access)
        {
            throw new NotImplementedException();
        }

        public override long Length
        {
            get { throw new NotImplementedException(); }
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            throw new NotImplementedException();
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            throw new NotImplementedException();
        }

        public override void Flush()
        {
            throw new NotImplementedException();
        }

        public override void Close()
        {
            throw new NotImplementedException();
        }

        protected override void Dispose(bool disposing)
        {
            throw new NotImplementedException();
        }
    }
}

using System;
using System.IO;
using System.Runtime.InteropServices;

namespace E2m.Server.Emse.Storage
{
    /// <summary>
    /// fdatasync(2) of a file by path on Linux (<see cref="EmseStore.SyncWal"/>): makes the file's data, and the metadata
    /// needed to read it back (its size), durable, like SQLite's own syncs on Linux (unixSync: fdatasync). Three system
    /// calls (open, fdatasync, close) where FileStream.Flush(true) costs seven (open, fstat, flock, fstatfs, fsync, flock,
    /// close) and an fsync also journals the mtime.
    /// </summary>
    internal static partial class LinuxFileSync
    {
        private const int ORdonly = 0, OCloexec = 0x80000, Enoent = 2, Eintr = 4;

        /// <summary>True on Linux (the flag values above are Linux's, the same on every architecture .NET runs on).</summary>
        public static bool IsSupported => OperatingSystem.IsLinux();

        /// <summary>Syncs <paramref name="path"/>; a file that does not exist is nothing to sync. Throws <see cref="IOException"/> on failure.</summary>
        public static void DataSync(string path)
        {
            int fd;
            do
            {
                fd = Open(path, ORdonly | OCloexec);
            }
            while (fd < 0 && Marshal.GetLastPInvokeError() == Eintr);

            if (fd < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Enoent)
                {
                    return; // no log file: everything was checkpointed into the database file
                }

                throw new OpenFailedException("open of " + Path.GetFileName(path) + " for fdatasync failed: errno " + errno);
            }

            try
            {
                if (Fdatasync(fd) != 0)
                {
                    throw new IOException("fdatasync of " + Path.GetFileName(path) + " failed: errno " + Marshal.GetLastPInvokeError());
                }
            }
            finally
            {
                Close(fd);
            }
        }

        /// <summary>The file could not be opened for the sync: nothing was synced, and no write error was consumed.</summary>
        internal sealed class OpenFailedException : IOException
        {
            public OpenFailedException(string message)
                : base(message)
            {
            }
        }

        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
        private static partial int Fdatasync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        private static partial int Close(int fd);
    }
}

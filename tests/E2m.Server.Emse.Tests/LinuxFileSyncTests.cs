using System;
using System.IO;
using E2m.Server.Emse.Storage;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>The WAL sync's system calls (<see cref="LinuxFileSync"/>, used by EmseStore.SyncWal on Linux).</summary>
    public sealed class LinuxFileSyncTests
    {
        [SkippableFact]
        public void Syncs_a_file_ignores_a_missing_one_and_reports_other_failures()
        {
            Skip.IfNot(LinuxFileSync.IsSupported, "fdatasync(2) path: Linux only (elsewhere FileStream.Flush(true) is used)");
            using var dir = new TempDir();
            string file = Path.Combine(dir.Path, "emse.db-wal");
            File.WriteAllBytes(file, new byte[4096]);
            LinuxFileSync.DataSync(file);                                        // no exception: synced
            LinuxFileSync.DataSync(Path.Combine(dir.Path, "absent-wal"));       // ENOENT: nothing to sync
            IOException e = Assert.Throws<LinuxFileSync.OpenFailedException>(() => LinuxFileSync.DataSync(Path.Combine(file, "not-a-directory"))); // open failed: no write error consumed, retryable
            Assert.Contains("errno 20", e.Message, StringComparison.Ordinal); // ENOTDIR
        }
    }
}

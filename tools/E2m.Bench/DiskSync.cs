using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;

namespace E2m.Bench
{
    /// <summary>
    /// <c>--disk-sync [--dir DIR] [--ops 3000] [--sizes 4096,8192]</c>: what one durable write costs on this machine's
    /// disk, the floor under every server that answers only once the data is on the disk (the EMSE's 2.04 under SQLite
    /// FULL, DESIGN.md §4; the durable echo of <c>--emse-load</c>). One thread overwrites a preallocated 64 MiB file
    /// (real blocks: no extent or size change to journal) in four ways and reports ops/s, latency percentiles and CPU
    /// per operation:
    /// <list type="bullet">
    /// <item><c>write+fdatasync</c>: buffered pwrite(2), then fdatasync(2) (SQLite's unixSync, the EMSE's
    /// <c>LinuxFileSync</c>, the durable echo);</item>
    /// <item><c>O_DSYNC</c>: buffered pwrite on a file opened with O_DSYNC (open(2): each write as if followed by
    /// fdatasync);</item>
    /// <item><c>O_DIRECT+fdatasync</c>: aligned pwrite past the page cache, then fdatasync (the device cache flush);</item>
    /// <item><c>O_DIRECT|O_DSYNC</c>: one system call per durable write; a FUA write where the device supports it
    /// (<c>/sys/block/*/queue/fua</c>, printed first), else write + flush.</item>
    /// </list>
    /// Linux only (the open(2) flags are Linux's; O_DIRECT's value differs by architecture: x86-64 and arm64 here).
    /// Reported, not asserted (README "Benchmarks and figures").
    /// </summary>
    internal static partial class DiskSync
    {
        private const int ORdwr = 2, OCloexec = 0x80000, ODsync = 0x1000; // <asm-generic/fcntl.h>: O_DSYNC 010000 (octal) on x86-64 and arm64
        private const long FileSize = 64L << 20;
        private const int Alignment = 4096; // O_DIRECT: buffer, offset and length aligned to the logical block size (≤ 4096 on every disk seen)

        public static int Run(string[] args)
        {
            if (!OperatingSystem.IsLinux())
            {
                Console.Error.WriteLine("--disk-sync: Linux only");
                return 2;
            }

            int? oDirect = RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => 0x4000, // 040000 (octal), arch/x86/include/uapi/asm/fcntl.h via asm-generic
                Architecture.Arm64 => 0x10000, // 0200000 (octal), arch/arm64/include/uapi/asm/fcntl.h
                _ => null,
            };
            string dir = EmseLoad.StringArg(args, "--dir", Path.GetTempPath());
            int ops = EmseLoad.IntArg(args, "--ops", 3000);
            var sizes = new List<int>();
            foreach (string s in EmseLoad.StringArg(args, "--sizes", "4096,8192").Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                int size = int.Parse(s, CultureInfo.InvariantCulture);
                if (size <= 0 || size % Alignment != 0 || size > 1 << 20)
                {
                    Console.Error.WriteLine($"--sizes: {s} is not a multiple of {Alignment} up to 1 MiB");
                    return 2;
                }

                sizes.Add(size);
            }

            if (ops < 10)
            {
                Console.Error.WriteLine("--ops: at least 10");
                return 2;
            }

            Console.WriteLine($"disk-sync: {ops} writes per case into a preallocated {FileSize >> 20} MiB file in {dir}, one thread");
            PrintDeviceFlags();
            string path = Path.Combine(dir, "e2m-disk-sync-" + Guid.NewGuid().ToString("N"));
            try
            {
                Preallocate(path);
                foreach (int size in sizes)
                {
                    Measure(path, "write+fdatasync", ORdwr, size, ops, syncAfterWrite: true);
                    Measure(path, "O_DSYNC", ORdwr | ODsync, size, ops, syncAfterWrite: false);
                    if (oDirect is int direct)
                    {
                        Measure(path, "O_DIRECT+fdatasync", ORdwr | direct, size, ops, syncAfterWrite: true);
                        Measure(path, "O_DIRECT|O_DSYNC", ORdwr | direct | ODsync, size, ops, syncAfterWrite: false);
                    }
                    else
                    {
                        Console.WriteLine($"  O_DIRECT: not measured on {RuntimeInformation.ProcessArchitecture} (flag value not known here)");
                    }
                }
            }
            catch (IOException e)
            {
                Console.Error.WriteLine("--disk-sync: " + e.Message);
                return 1;
            }
            finally
            {
                File.Delete(path);
            }

            return 0;
        }

        private static void PrintDeviceFlags()
        {
            if (!Directory.Exists("/sys/block"))
            {
                return;
            }

            foreach (string dev in Directory.GetDirectories("/sys/block"))
            {
                string name = Path.GetFileName(dev);
                if (name.StartsWith("loop", StringComparison.Ordinal) || name.StartsWith("ram", StringComparison.Ordinal))
                {
                    continue;
                }

                Console.WriteLine($"  block device {name}: fua={Read(Path.Combine(dev, "queue", "fua"))} write_cache={Read(Path.Combine(dev, "queue", "write_cache"))}");
            }

            static string Read(string p)
            {
                try
                {
                    return File.ReadAllText(p).Trim();
                }
                catch (IOException)
                {
                    return "?";
                }
                catch (UnauthorizedAccessException)
                {
                    return "?";
                }
            }
        }

        private static void Preallocate(string path)
        {
            using Microsoft.Win32.SafeHandles.SafeFileHandle f = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.None, FileSize);
            EmseLoad.WriteRealBlocks(f, FileSize);
        }

        private static void Measure(string path, string name, int flags, int size, int ops, bool syncAfterWrite)
        {
            int fd = Open(path, flags | OCloexec);
            if (fd < 0)
            {
                Console.WriteLine($"  {name,-20} {size,5} B: open failed, errno {Marshal.GetLastPInvokeError()} (e.g. O_DIRECT on tmpfs)");
                return;
            }

            nint buffer = 0;
            try
            {
                unsafe
                {
                    buffer = (nint)NativeMemory.AlignedAlloc((nuint)size, Alignment);
                    new Span<byte>((void*)buffer, size).Fill(0x5a);
                }

                var latencyUs = new double[ops];
                TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                long start = Stopwatch.GetTimestamp();
                long offset = 0;
                for (int i = 0; i < ops; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    if (Pwrite(fd, buffer, (nuint)size, offset) != size)
                    {
                        throw new IOException($"{name}: pwrite failed, errno {Marshal.GetLastPInvokeError()}");
                    }

                    if (syncAfterWrite && Fdatasync(fd) != 0)
                    {
                        throw new IOException($"{name}: fdatasync failed, errno {Marshal.GetLastPInvokeError()}");
                    }

                    latencyUs[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
                    offset += size;
                    if (offset + size > FileSize)
                    {
                        offset = 0;
                    }
                }

                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                double cpuUs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMicroseconds / ops;
                Array.Sort(latencyUs);
                Console.WriteLine(FormattableString.Invariant(
                    $"  {name,-20} {size,5} B: {ops / seconds,6:F0} durable writes/s, latency p50 {P(latencyUs, 0.50),5:F0} p90 {P(latencyUs, 0.90),5:F0} p99 {P(latencyUs, 0.99),5:F0} µs, cpu {cpuUs:F1} µs per write"));
            }
            finally
            {
                unsafe
                {
                    NativeMemory.AlignedFree((void*)buffer);
                }

                Close(fd);
            }
        }

        private static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
        private static partial nint Pwrite(int fd, nint buffer, nuint count, long offset);

        [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
        private static partial int Fdatasync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        private static partial int Close(int fd);
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using E2m.Hal.NanoFramework;
using nanoFramework.Hardware.Stm32;
using Xunit;

namespace E2m.Cli.Tests
{
    /// <summary>
    /// The device record stores (hal/E2m.Hal.NanoFramework/Storage/LittleFsRecordStore.cs and
    /// Stm32/BackupMemoryRecordStore.cs), compiled into this test assembly against in-memory fakes of the two upstream
    /// APIs they call (the fakes below shadow System.IO.File/FileStream and stand in for
    /// nanoFramework.Hardware.Stm32.BackupMemory, with the upstream semantics the adapters rely on: File.Move refuses an
    /// existing destination, each FileStream.Write is durable, backup registers are written octet by octet).
    /// A power cut is injected after every possible number of durable mutations while a record is replaced several
    /// times; after the "reboot" a fresh store must read either the previous or the new value, never an error, garbage or
    /// an absent record, and a write that returned must read back.
    /// </summary>
    [Collection("device-fakes")] // the fakes are static: no parallel use
    public sealed class DeviceStoreTests
    {
        private static readonly byte[][] Values =
        {
            new byte[] { 1, 2, 3 },
            Enumerable.Range(0, 72).Select(i => (byte)(i * 7)).ToArray(),
            new byte[] { 0xAA },
            Enumerable.Range(0, 40).Select(i => (byte)(255 - i)).ToArray(),
        };

        [Fact]
        public void LittleFs_store_replaces_records_atomically_under_a_power_cut_at_every_mutation()
        {
            int cuts = 0;
            for (int cutAfter = 0; ; cutAfter++)
            {
                FakeFs.Reset();
                var store = new LittleFsRecordStore("I:\\", 96, 127);
                store.Write(5, Values[0], 0, Values[0].Length);
                FakeFs.ArmCut(cutAfter);
                int completed = 0;
                try
                {
                    for (int v = 1; v < Values.Length; v++)
                    {
                        store.Write(5, Values[v], 0, Values[v].Length);
                        completed = v;
                    }
                }
                catch (PowerCutException)
                {
                    cuts++;
                }

                bool cut = FakeFs.Disarm();
                var rebooted = new LittleFsRecordStore("I:\\", 96, 127);
                byte[] buffer = new byte[96];
                int length = rebooted.Read(5, buffer, 0, buffer.Length);
                byte[] read = buffer.Take(length).ToArray();
                if (!cut)
                {
                    Assert.Equal(Values[^1], read);
                    break;
                }

                // the last completed write, or the one in flight
                Assert.True(read.SequenceEqual(Values[completed]) || read.SequenceEqual(Values[completed + 1]),
                    "cut after " + cutAfter + " mutations: read " + Convert.ToHexString(read));

                // the store keeps working after recovery
                rebooted.Write(5, Values[0], 0, Values[0].Length);
                Assert.Equal(Values[0].Length, rebooted.Read(5, buffer, 0, buffer.Length));
            }

            Assert.True(cuts > 10, "too few cut points exercised: " + cuts);
        }

        [Fact]
        public void LittleFs_store_reports_a_damaged_record_instead_of_pretending_it_is_absent()
        {
            FakeFs.Reset();
            var store = new LittleFsRecordStore("I:\\", 96, 127);
            Assert.Equal(-1, store.Read(3, new byte[96], 0, 96));
            store.Write(3, Values[1], 0, Values[1].Length);
            FakeFs.Files["I:\\e2m3.rec"][10] ^= 0x01;
            Assert.Throws<IOException>(() => store.Read(3, new byte[96], 0, 96));
            store.Delete(3);
            Assert.Equal(-1, store.Read(3, new byte[96], 0, 96));
            Assert.Throws<ArgumentOutOfRangeException>(() => store.Write(128, Values[0], 0, 1));
            Assert.Throws<ArgumentOutOfRangeException>(() => store.Write(1, new byte[97], 0, 97));
        }

        [Fact]
        public void BackupMemory_store_survives_a_torn_register_write_at_every_octet()
        {
            int cuts = 0;
            for (int cutAfter = 0; ; cutAfter++)
            {
                FakeBackup.Reset(128);
                var store = new BackupMemoryRecordStore(24);
                Assert.Equal(1, store.MaxRecordId); // 128 / (2 x 28)
                byte[] first = { 9, 9, 9 };
                store.Write(1, first, 0, first.Length);
                FakeBackup.ArmCut(cutAfter);
                var written = new List<byte[]> { first };
                try
                {
                    for (int v = 0; v < 4; v++)
                    {
                        byte[] value = Enumerable.Range(0, 5 + (v * 4)).Select(i => (byte)(i + (v * 16))).ToArray();
                        store.Write(1, value, 0, value.Length);
                        written.Add(value);
                    }
                }
                catch (PowerCutException)
                {
                    cuts++;
                }

                bool cut = FakeBackup.Disarm();
                byte[] buffer = new byte[24];
                int length = new BackupMemoryRecordStore(24).Read(1, buffer, 0, buffer.Length);
                byte[] read = buffer.Take(length).ToArray();
                if (!cut)
                {
                    Assert.Equal(written[^1], read);
                    break;
                }

                byte[] inFlight = Enumerable.Range(0, 5 + ((written.Count - 1) * 4)).Select(i => (byte)(i + ((written.Count - 1) * 16))).ToArray();
                Assert.True(read.SequenceEqual(written[^1]) || read.SequenceEqual(inFlight),
                    "cut after " + cutAfter + " octets: read " + Convert.ToHexString(read));
            }

            Assert.True(cuts > 50, "too few cut points exercised: " + cuts);
        }

        [Fact]
        public void BackupMemory_store_starts_empty_and_deletes()
        {
            FakeBackup.Reset(128);
            var store = new BackupMemoryRecordStore(24);
            Assert.Equal(-1, store.Read(0, new byte[24], 0, 24));
            store.Write(0, new byte[] { 1, 2 }, 0, 2);
            store.Write(1, new byte[] { 3 }, 0, 1);
            Assert.Equal(2, store.Read(0, new byte[24], 0, 24));
            store.Delete(0);
            Assert.Equal(-1, store.Read(0, new byte[24], 0, 24));
            Assert.Equal(1, store.Read(1, new byte[24], 0, 24));
            Assert.Throws<ArgumentOutOfRangeException>(() => store.Write(2, new byte[] { 1 }, 0, 1));
        }
    }

    internal sealed class PowerCutException : Exception
    {
    }
}

namespace E2m.Hal.NanoFramework
{
    // Fakes of the upstream nanoFramework APIs the stores call. Declared in the adapters' own namespace, they take
    // precedence over System.IO's File/FileStream inside the adapter sources compiled into this test assembly.

    internal static class FakeFs
    {
        public static readonly Dictionary<string, byte[]> Files = new(StringComparer.Ordinal);
        private static int _budget = -1;
        private static bool _cut;

        public static void Reset()
        {
            Files.Clear();
            _budget = -1;
            _cut = false;
        }

        public static void ArmCut(int mutations)
        {
            _budget = mutations;
            _cut = false;
        }

        /// <summary>Stops injecting; true when a cut happened.</summary>
        public static bool Disarm()
        {
            _budget = -1;
            return _cut;
        }

        /// <summary>One durable mutation; throws (and keeps the state as it is) when the budget is spent.</summary>
        public static void Mutate()
        {
            if (_budget == 0)
            {
                _cut = true;
                _budget = -1;
                throw new E2m.Cli.Tests.PowerCutException();
            }

            if (_budget > 0)
            {
                _budget--;
            }
        }
    }

    internal static class File
    {
        public static bool Exists(string path) => FakeFs.Files.ContainsKey(path);

        public static void Delete(string path)
        {
            if (FakeFs.Files.ContainsKey(path))
            {
                FakeFs.Mutate();
                FakeFs.Files.Remove(path);
            }
        }

        public static void Move(string sourceFileName, string destFileName)
        {
            if (!FakeFs.Files.ContainsKey(sourceFileName) || FakeFs.Files.ContainsKey(destFileName))
            {
                throw new IOException("nanoFramework File.Move: source missing or destination exists");
            }

            FakeFs.Mutate(); // LittleFS rename: atomic
            FakeFs.Files[destFileName] = FakeFs.Files[sourceFileName];
            FakeFs.Files.Remove(sourceFileName);
        }
    }

    internal sealed class FileStream
    {
        private readonly string _path;
        private int _position;

        public FileStream(string path, FileMode mode, FileAccess access)
        {
            _path = path;
            if (mode == FileMode.Create)
            {
                FakeFs.Mutate();
                FakeFs.Files[path] = Array.Empty<byte>();
            }
            else if (!FakeFs.Files.ContainsKey(path))
            {
                throw new IOException("not found");
            }
        }

        public long Length => FakeFs.Files[_path].Length;

        public int Read(byte[] buffer, int offset, int count)
        {
            byte[] data = FakeFs.Files[_path];
            int n = Math.Min(count, data.Length - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public void Write(byte[] buffer, int offset, int count)
        {
            // upstream: every Write is synced; a cut in the middle of it leaves a prefix
            byte[] data = FakeFs.Files[_path];
            byte[] grown = new byte[data.Length + count];
            Array.Copy(data, grown, data.Length);
            for (int i = 0; i < count; i++)
            {
                try
                {
                    FakeFs.Mutate();
                }
                catch
                {
                    FakeFs.Files[_path] = grown.Take(data.Length + i).ToArray();
                    throw;
                }

                grown[data.Length + i] = buffer[offset + i];
            }

            FakeFs.Files[_path] = grown;
        }

        public void Flush()
        {
        }

        public void Close()
        {
        }
    }
}

namespace nanoFramework.Hardware.Stm32
{
    /// <summary>Fake RTC backup registers: WriteBytes stores octet by octet, so a cut can tear a slot.</summary>
    internal static class FakeBackup
    {
        public static byte[] Memory = new byte[128];
        private static int _budget = -1;
        private static bool _cut;

        public static void Reset(int size)
        {
            Memory = new byte[size];
            _budget = -1;
            _cut = false;
        }

        public static void ArmCut(int octets)
        {
            _budget = octets;
            _cut = false;
        }

        public static bool Disarm()
        {
            _budget = -1;
            return _cut;
        }

        public static void Tick()
        {
            if (_budget == 0)
            {
                _cut = true;
                _budget = -1;
                throw new E2m.Cli.Tests.PowerCutException();
            }

            if (_budget > 0)
            {
                _budget--;
            }
        }
    }

    internal static class BackupMemory
    {
        public static int Size => FakeBackup.Memory.Length;

        public static void ReadBytes(uint position, byte[] value) => Array.Copy(FakeBackup.Memory, (int)position, value, 0, value.Length);

        public static void WriteBytes(uint position, byte[] value)
        {
            for (int i = 0; i < value.Length; i++)
            {
                FakeBackup.Tick();
                FakeBackup.Memory[position + i] = value[i];
            }
        }
    }
}

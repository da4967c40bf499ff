// Compile-only stub of nanoFramework.Hardware.Stm32 (BackupMemory.cs): the members E2m.Hal.NanoFramework calls.
// Version mirrored: see README.md. Never deployed; bodies throw.
using System;

namespace nanoFramework.Hardware.Stm32
{
    public static class BackupMemory
    {
        public static int Size
        {
            get { throw new NotImplementedException(); }
        }

        public static void ReadBytes(uint position, byte[] value)
        {
            throw new NotImplementedException();
        }

        public static void WriteBytes(uint position, byte[] value)
        {
            throw new NotImplementedException();
        }
    }
}

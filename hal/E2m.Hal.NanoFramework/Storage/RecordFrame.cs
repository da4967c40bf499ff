#nullable disable // device code: nullable off (DESIGN.md §9); also compiled into tests/E2m.Cli.Tests against fakes
using System;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// Integrity framing shared by the device record stores: CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320,
    /// init and final XOR 0xFFFFFFFF) and CRC-16/CCITT-FALSE (polynomial 0x1021, init 0xFFFF). Bitwise, no table
    /// (256 x 4 octets of RAM are worth more than the speed for records of a few dozen octets).
    /// </summary>
    internal static class RecordFrame
    {
        public static uint Crc32(byte[] data, int offset, int count)
        {
            uint crc = 0xFFFFFFFF;
            for (int i = 0; i < count; i++)
            {
                crc ^= data[offset + i];
                for (int b = 0; b < 8; b++)
                {
                    crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
                }
            }

            return ~crc;
        }

        /// <param name="init">0xFFFF to start; a previous result to continue over a second range.</param>
        public static ushort Crc16(byte[] data, int offset, int count, ushort init)
        {
            int crc = init;
            for (int i = 0; i < count; i++)
            {
                crc ^= data[offset + i] << 8;
                for (int b = 0; b < 8; b++)
                {
                    crc = (crc & 0x8000) != 0 ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
                }
            }

            return (ushort)crc;
        }

        public static void PutUInt32(byte[] b, int o, uint v)
        {
            b[o] = (byte)v;
            b[o + 1] = (byte)(v >> 8);
            b[o + 2] = (byte)(v >> 16);
            b[o + 3] = (byte)(v >> 24);
        }

        public static uint GetUInt32(byte[] b, int o)
        {
            return b[o] | ((uint)b[o + 1] << 8) | ((uint)b[o + 2] << 16) | ((uint)b[o + 3] << 24);
        }
    }
}

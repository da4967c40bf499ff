#nullable disable // portable code: nullable off (DESIGN.md §9)
using System;
using E2m.Hal;

namespace E2m.Firmware
{
    /// <summary>
    /// CRC-32 as in IEEE 802.3 / ISO-HDLC (reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF;
    /// check value of "123456789" = 0xCBF43926). Bitwise: no table, the records are small.
    /// </summary>
    public static class Crc32
    {
        public static uint Compute(byte[] data, int offset, int count)
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
    }

    /// <summary>Big-endian field access and the "payload || CRC-32" record frame used by every persisted record.</summary>
    public static class RecordCodec
    {
        public const int CrcLength = 4;

        public static void PutUInt32(byte[] b, int o, uint v)
        {
            b[o] = (byte)(v >> 24); b[o + 1] = (byte)(v >> 16); b[o + 2] = (byte)(v >> 8); b[o + 3] = (byte)v;
        }

        public static uint GetUInt32(byte[] b, int o)
        {
            return ((uint)b[o] << 24) | ((uint)b[o + 1] << 16) | ((uint)b[o + 2] << 8) | b[o + 3];
        }

        public static void PutInt64(byte[] b, int o, long v)
        {
            PutUInt32(b, o, (uint)((ulong)v >> 32));
            PutUInt32(b, o + 4, (uint)v);
        }

        public static long GetInt64(byte[] b, int o)
        {
            return (long)(((ulong)GetUInt32(b, o) << 32) | GetUInt32(b, o + 4));
        }

        /// <summary>Appends the CRC over buffer[0..payloadLength) and writes the record atomically. Returns the record length.</summary>
        public static int WriteFramed(IRecordStore store, int recordId, byte[] buffer, int payloadLength)
        {
            PutUInt32(buffer, payloadLength, Crc32.Compute(buffer, 0, payloadLength));
            store.Write(recordId, buffer, 0, payloadLength + CrcLength);
            return payloadLength + CrcLength;
        }

        /// <summary>
        /// Reads a framed record into buffer[0..]; true when it exists, has exactly <paramref name="payloadLength"/> +
        /// 4 octets, the expected magic in octet 0 and a matching CRC. A torn/corrupt/foreign record reads as absent.
        /// </summary>
        public static bool ReadFramed(IRecordStore store, int recordId, byte[] buffer, int payloadLength, byte magic)
        {
            bool present;
            return ReadFramed(store, recordId, buffer, payloadLength, magic, out present);
        }

        /// <summary>As <see cref="ReadFramed(IRecordStore, int, byte[], int, byte)"/>; <paramref name="present"/> is false only
        /// when the record does not exist (a record that fails the checks is present but reads false).</summary>
        public static bool ReadFramed(IRecordStore store, int recordId, byte[] buffer, int payloadLength, byte magic, out bool present)
        {
            present = true;
            int n;
            try
            {
                n = store.Read(recordId, buffer, 0, buffer.Length);
            }
            catch (ArgumentException)
            {
                return false; // longer than any record we write: not ours
            }
            if (n < 0)
            {
                present = false;
                return false;
            }

            if (n != payloadLength + CrcLength) return false;
            if (buffer[0] != magic) return false;
            return GetUInt32(buffer, payloadLength) == Crc32.Compute(buffer, 0, payloadLength);
        }
    }
}

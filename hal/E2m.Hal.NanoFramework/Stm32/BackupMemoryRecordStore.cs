#nullable disable // device code: nullable off (DESIGN.md §9); also compiled into tests/E2m.Cli.Tests against fakes
using System;
using E2m.Hal;
using nanoFramework.Hardware.Stm32;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// <see cref="IRecordStore"/> in the STM32 RTC backup registers (nanoFramework.Hardware.Stm32.BackupMemory; typically
    /// 32 x 4 = 128 octets on F4/F7, kept across Standby and resets while VBAT is present) for targets without a file
    /// system (ST_NUCLEO144_F746ZG). Meant for the tiny records: the OSCORE SSN reservation and the device state.
    /// Two slots per record, each <c>seq (1) || length (1) || CRC-16 (2) || data</c>; a write goes to the older slot
    /// with the next sequence number, so a power cut mid-write leaves the other slot (the previous value) valid.
    /// Sequence numbers compare in serial-number arithmetic modulo 256 (RFC 1982 style).
    /// </summary>
    public sealed class BackupMemoryRecordStore : IRecordStore
    {
        private const int SlotHeader = 4;

        private readonly int _maxRecordSize;
        private readonly int _slotSize;
        private readonly int _maxRecordId;
        private readonly byte[] _a;
        private readonly byte[] _b;

        /// <param name="maxRecordSize">octets per record (a multiple of 4 minus the 4-octet slot header fits registers best).</param>
        public BackupMemoryRecordStore(int maxRecordSize)
        {
            if (maxRecordSize < 1 || maxRecordSize > 255)
            {
                throw new ArgumentOutOfRangeException("maxRecordSize");
            }

            _maxRecordSize = maxRecordSize;
            _slotSize = (SlotHeader + maxRecordSize + 3) & ~3; // whole 32-bit registers
            _maxRecordId = (BackupMemory.Size / (2 * _slotSize)) - 1;
            if (_maxRecordId < 0)
            {
                throw new NotSupportedException("backup memory smaller than two slots");
            }

            _a = new byte[_slotSize];
            _b = new byte[_slotSize];
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
            int newest = LoadNewest(recordId);
            if (newest < 0)
            {
                return -1;
            }

            byte[] slot = newest == 0 ? _a : _b;
            int length = slot[1];
            if (length == 0)
            {
                return -1; // a deletion marker
            }

            if (length > count)
            {
                throw new ArgumentException("record longer than the buffer");
            }

            Array.Copy(slot, SlotHeader, buffer, offset, length);
            return length;
        }

        public void Write(int recordId, byte[] data, int offset, int count)
        {
            if (count < 1 || count > _maxRecordSize)
            {
                throw new ArgumentOutOfRangeException("count");
            }

            Store(recordId, data, offset, count);
        }

        public void Delete(int recordId)
        {
            Store(recordId, _a, 0, 0); // length 0 = deleted (data unused)
        }

        private void Store(int recordId, byte[] data, int offset, int count)
        {
            int newest = LoadNewest(recordId);
            byte seq = newest < 0 ? (byte)1 : (byte)((newest == 0 ? _a[0] : _b[0]) + 1);
            int target = newest == 0 ? 1 : 0; // overwrite the older (or an invalid) slot
            byte[] slot = target == 0 ? _a : _b;
            if (count > 0)
            {
                Array.Copy(data, offset, slot, SlotHeader, count);
            }

            Array.Clear(slot, SlotHeader + count, _slotSize - SlotHeader - count);
            slot[0] = seq;
            slot[1] = (byte)count;
            ushort crc = Crc(slot);
            slot[2] = (byte)crc;
            slot[3] = (byte)(crc >> 8);
            BackupMemory.WriteBytes(Position(recordId, target), slot);
        }

        /// <summary>Loads both slots into _a/_b; returns 0 or 1 for the newest valid slot, -1 when neither is valid.</summary>
        private int LoadNewest(int recordId)
        {
            if (recordId < 0 || recordId > _maxRecordId)
            {
                throw new ArgumentOutOfRangeException("recordId");
            }

            BackupMemory.ReadBytes(Position(recordId, 0), _a);
            BackupMemory.ReadBytes(Position(recordId, 1), _b);
            bool va = Valid(_a);
            bool vb = Valid(_b);
            if (va && vb)
            {
                return (sbyte)(byte)(_b[0] - _a[0]) > 0 ? 1 : 0;
            }

            return va ? 0 : vb ? 1 : -1;
        }

        private bool Valid(byte[] slot)
        {
            return slot[1] <= _maxRecordSize && (slot[2] | (slot[3] << 8)) == Crc(slot);
        }

        private ushort Crc(byte[] slot)
        {
            // seq, length and data; the CRC field itself excluded
            ushort head = RecordFrame.Crc16(slot, 0, 2, 0xFFFF);
            return RecordFrame.Crc16(slot, SlotHeader, slot[1] <= _maxRecordSize ? slot[1] : 0, head);
        }

        private uint Position(int recordId, int slot)
        {
            return (uint)(((recordId * 2) + slot) * _slotSize);
        }
    }
}

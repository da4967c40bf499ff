namespace E2m.Hal
{
    /// <summary>
    /// Persistent storage of a few small records, addressed by a small integer id, with
    /// atomic-replace semantics: after a power cut at any instruction a record reads back either
    /// entirely old or entirely new, never torn, never mixed.
    /// Backends and their limits (documented so the firmware sizes its records for the smallest):
    /// <list type="bullet">
    /// <item>ESP32: LittleFS internal flash (drive I:\), one file per record, written to a temporary
    /// file and renamed (LittleFS rename is atomic). Capacity: hundreds of records of up to a few KiB.</item>
    /// <item>STM32 without a file system: RTC backup registers (nanoFramework.Hardware.Stm32.BackupMemory),
    /// typically 32 x 4 = 128 bytes in total (F4/F7), kept while VBAT is present. The adapter keeps two
    /// slots per record with a sequence number and a CRC, so records there must stay within a few dozen
    /// bytes (MaxRecordSize reports it) and MaxRecordId is small.</item>
    /// <item>Host: files (write temp + fsync + rename) or memory (tests, with a power-cut hook).</item>
    /// </list>
    /// Ids are chosen by the firmware (0..MaxRecordId). Keys at rest: see the README (ESP32 flash
    /// encryption); this interface does not encrypt.
    /// </summary>
    public interface IRecordStore
    {
        /// <summary>Largest record, in bytes, that <see cref="Write"/> accepts.</summary>
        int MaxRecordSize { get; }

        /// <summary>Largest record id accepted (ids are 0..MaxRecordId).</summary>
        int MaxRecordId { get; }

        /// <summary>
        /// Copies record <paramref name="recordId"/> into <paramref name="buffer"/> and returns its length,
        /// or -1 when the record does not exist.
        /// </summary>
        /// <exception cref="System.ArgumentException">the record is longer than <paramref name="count"/> (size buffers by MaxRecordSize).</exception>
        /// <exception cref="System.IO.IOException">the medium failed.</exception>
        int Read(int recordId, byte[] buffer, int offset, int count);

        /// <summary>
        /// Replaces record <paramref name="recordId"/> with the given bytes; durable and atomic when it
        /// returns (a power cut before the return leaves the old or the new record, nothing else).
        /// </summary>
        /// <exception cref="System.ArgumentOutOfRangeException">count &gt; MaxRecordSize or id out of range.</exception>
        /// <exception cref="System.IO.IOException">the medium failed; the old record is still intact.</exception>
        void Write(int recordId, byte[] data, int offset, int count);

        /// <summary>Removes the record (no-op when absent); durable when it returns.</summary>
        void Delete(int recordId);
    }
}

#nullable disable // portable code: nullable off (DESIGN.md §9)
using System;
using E2m.Hal;
using E2m.Oscore;

namespace E2m.Firmware
{
    /// <summary>
    /// <see cref="ISsnStore"/> over one <see cref="IRecordStore"/> record (RFC 8613 App. B.1.1): the OSCORE sender
    /// reserves SSNs in steps K and calls <see cref="Write"/> before it uses the first SSN of a step; the record write
    /// is durable and atomic when it returns, so after a power cut at any instruction the context resumes at a value
    /// no used SSN reaches. The record carries the KID it belongs to: a record of another (older) key reads as
    /// "nothing stored" (-1), so a re-keyed context starts at 0 even if the power failed between writing the new key
    /// and resetting this record, and an old key can never resume from a newer key's counter.
    /// Record: 'S' | KID (8) | reservation (8, big-endian) | CRC-32.
    /// </summary>
    public sealed class RecordSsnStore : ISsnStore
    {
        private const byte Magic = 0x53; // 'S'
        private const int PayloadLength = 1 + 8 + 8;
        private readonly IRecordStore _store;
        private readonly int _recordId;
        private readonly byte[] _kid = new byte[8];
        private readonly byte[] _buffer = new byte[64];

        public RecordSsnStore(IRecordStore store, int recordId, byte[] kid)
        {
            if (store == null) throw new ArgumentNullException("store");
            if (kid == null || kid.Length != 8) throw new ArgumentException("KID must be 8 octets (DESIGN.md §2)");
            _store = store;
            _recordId = recordId;
            Array.Copy(kid, 0, _kid, 0, 8);
        }

        /// <summary>
        /// The stored reservation for this KID, or -1 (no record, or another key's record). A record that exists but fails
        /// its checks (length, magic, CRC; a corrupt medium — writes are atomic, so never a power cut) throws
        /// <see cref="OscoreException"/> SsnStateLost: where the sequence stood is unknown, and starting at 0 could repeat
        /// a nonce under this key (RFC 8613 App. B.1.1). The key must be replaced (the application forgets it).
        /// </summary>
        public long Read()
        {
            bool present;
            if (!RecordCodec.ReadFramed(_store, _recordId, _buffer, PayloadLength, Magic, out present))
            {
                if (present) throw new OscoreException(OscoreError.SsnStateLost, -1);
                return -1;
            }

            for (int i = 0; i < 8; i++)
            {
                if (_buffer[1 + i] != _kid[i]) return -1;
            }
            long r = RecordCodec.GetInt64(_buffer, 9);
            return r < 0 ? -1 : r;
        }

        /// <summary>Durably stores the reservation (App. B.1.1 step: "before using the SSNs below it").</summary>
        public void Write(long reservation)
        {
            if (reservation < 0) throw new ArgumentOutOfRangeException("reservation");
            _buffer[0] = Magic;
            Array.Copy(_kid, 0, _buffer, 1, 8);
            RecordCodec.PutInt64(_buffer, 9, reservation);
            RecordCodec.WriteFramed(_store, _recordId, _buffer, PayloadLength);
        }
    }
}

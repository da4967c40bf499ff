using System;

namespace E2m.Oscore
{
    /// <summary>
    /// Non-volatile storage of one Sender Context's Sender Sequence Number reservation (RFC 8613 App. B.1.1).
    /// The value stored is a reservation R: every SSN below R may have been used, no SSN at or above R has.
    /// One store belongs to one (Master Secret, Sender ID): a re-keyed context gets a new, empty store.
    /// The firmware implements it on flash/NVS, a server on its database; tests use fakes.
    /// </summary>
    public interface ISsnStore
    {
        /// <summary>The stored reservation, or -1 when nothing was ever stored for this context (fresh key).</summary>
        long Read();

        /// <summary>
        /// Stores <paramref name="reservation"/>. Durable when it returns: after a power cut the next
        /// <see cref="Read"/> returns this value or a later one. An interrupted write leaves either the old or
        /// the new value (atomic record write); a failed write throws.
        /// </summary>
        void Write(long reservation);
    }

    /// <summary>
    /// An <see cref="ISsnStore"/> in RAM: for tools and tests, and for an endpoint whose state is persisted
    /// elsewhere. Nothing survives a restart, so a device must not use it for its real context.
    /// </summary>
    public sealed class MemorySsnStore : ISsnStore
    {
        private long _value;

        /// <summary>Empty store: the context starts at SSN 0.</summary>
        public MemorySsnStore()
        {
            _value = -1;
        }

        /// <summary>Store that already holds <paramref name="reservation"/>: the context resumes at that SSN.</summary>
        public MemorySsnStore(long reservation)
        {
            if (reservation < 0)
            {
                throw new ArgumentOutOfRangeException("reservation");
            }

            _value = reservation;
        }

        public long Read()
        {
            return _value;
        }

        public void Write(long reservation)
        {
            _value = reservation;
        }
    }

    /// <summary>
    /// Sender Sequence Number with reservation in steps (RFC 8613 App. B.1.1, DESIGN.md §4): before using an
    /// SSN s with s ≥ reserved, durably store reserved = s + K, and only then use s. After a restart the
    /// sequence resumes at the stored reservation, never below, so no SSN is used twice under one key
    /// whatever the moment of the power cut (the App. B.1.1 "F" margin is zero because the write completes
    /// before the SSN it covers is used). Not thread-safe by itself: the security context serialises calls.
    /// </summary>
    public sealed class SenderSequence
    {
        private readonly ISsnStore _store;
        private readonly int _step;
        private long _next;      // next SSN to hand out
        private long _reserved;  // SSNs below this are covered by the stored reservation

        /// <param name="store">Persistent reservation; required.</param>
        /// <param name="step">Reservation step K ≥ 1 (RFC 8613 App. B.1.1).</param>
        public SenderSequence(ISsnStore store, int step)
        {
            if (store == null)
            {
                throw new ArgumentNullException("store");
            }

            if (step < 1)
            {
                throw new ArgumentOutOfRangeException("step");
            }

            _store = store;
            _step = step;
            long stored = store.Read();
            if (stored < -1)
            {
                throw new InvalidOperationException("SSN store returned a negative reservation");
            }

            // RFC 8613 §3.2.2: a new context starts at 0; App. B.1.1: resume at the stored reservation.
            _next = stored < 0 ? 0 : stored;
            _reserved = _next;
        }

        /// <summary>The SSN the next <see cref="Next"/> returns.</summary>
        public long Peek { get { return _next; } }

        /// <summary>SSNs below this value are covered by the durable reservation.</summary>
        public long Reserved { get { return _reserved; } }

        /// <summary>Reservation step K.</summary>
        public int Step { get { return _step; } }

        /// <summary>
        /// Returns the SSN to use now and advances. Persists a new reservation first when needed (App. B.1.1).
        /// Throws <see cref="OscoreException"/> (SsnExhausted) past 2^40 - 1 (RFC 8613 §7.2.1); exceptions of
        /// the store propagate and the SSN is then not consumed.
        /// </summary>
        public long Next()
        {
            long s = _next;
            if (s > OscoreConstants.MaxSenderSequenceNumber)
            {
                throw new OscoreException(OscoreError.SsnExhausted, -1); // RFC 8613 §7.2.1: MUST NOT process more
            }

            if (s >= _reserved)
            {
                long r = s + _step;
                long cap = OscoreConstants.MaxSenderSequenceNumber + 1;
                if (r > cap)
                {
                    r = cap;
                }

                _store.Write(r);   // durable before s is used (App. B.1.1)
                _reserved = r;
            }

            _next = s + 1;
            return s;
        }
    }
}

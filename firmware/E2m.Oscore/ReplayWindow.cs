namespace E2m.Oscore
{
    /// <summary>
    /// Anti-replay sliding window of 32 for one Recipient Context (RFC 8613 §3.2.2, §7.4; the window of
    /// RFC 6347 §4.1.2.6). State: the highest accepted Partial IV and a 32-bit mask, bit i set = Partial IV
    /// (highest - i) received. <see cref="Check"/> before decryption, <see cref="Accept"/> only after the
    /// AEAD verified (RFC 8613 §8.2 step 6), so a forged message never moves the window. The caller makes
    /// check + decrypt + accept atomic (RFC 8613 §7.4): <see cref="OscoreSecurityContext"/> holds its lock.
    /// The state can be exported and restored so a server persists it with the data it stored (DESIGN.md §4).
    /// </summary>
    public sealed class ReplayWindow
    {
        private long _highest = -1; // -1: nothing received yet (RFC 8613 §3.2.2: window initialised empty)
        private uint _mask;

        /// <summary>Highest Partial IV accepted so far, or -1 when none.</summary>
        public long Highest { get { return _highest; } }

        /// <summary>Bit i set = Partial IV (Highest - i) accepted; bit 0 is Highest itself.</summary>
        public uint Mask { get { return _mask; } }

        /// <summary>Empties the window (only for a freshly derived context: RFC 8613 §7.5 forbids it otherwise).</summary>
        public void Reset()
        {
            _highest = -1;
            _mask = 0;
        }

        /// <summary>Restores a state exported with <see cref="Highest"/> / <see cref="Mask"/> (persisted by the server).</summary>
        public void Restore(long highest, uint mask)
        {
            if (highest < -1 || highest > OscoreConstants.MaxSenderSequenceNumber)
            {
                throw new System.ArgumentOutOfRangeException("highest");
            }

            _highest = highest;
            _mask = highest < 0 ? 0 : (mask | 1u);
        }

        /// <summary>
        /// True when <paramref name="piv"/> is new: above the highest, or inside the window and not yet seen.
        /// False when already received or older than the window (RFC 8613 §7.4). Does not change the state.
        /// </summary>
        public bool Check(long piv)
        {
            if (piv < 0 || piv > OscoreConstants.MaxSenderSequenceNumber)
            {
                return false;
            }

            if (_highest < 0 || piv > _highest)
            {
                return true;
            }

            long diff = _highest - piv;
            if (diff >= OscoreConstants.ReplayWindowSize)
            {
                return false; // too old: left of the window
            }

            return (_mask & (1u << (int)diff)) == 0;
        }

        /// <summary>Records <paramref name="piv"/> as received (call only after successful verification).</summary>
        public void Accept(long piv)
        {
            if (_highest < 0)
            {
                _highest = piv;
                _mask = 1u;
                return;
            }

            if (piv > _highest)
            {
                long shift = piv - _highest;
                _mask = shift >= OscoreConstants.ReplayWindowSize ? 0u : (_mask << (int)shift);
                _mask |= 1u;
                _highest = piv;
                return;
            }

            long diff = _highest - piv;
            if (diff < OscoreConstants.ReplayWindowSize)
            {
                _mask |= 1u << (int)diff;
            }
        }
    }
}

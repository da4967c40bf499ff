using System;

namespace E2m.ModemSim.Usim
{
    /// <summary>Verdict of the USIM's sequence-number freshness check (TS 33.102 Annex C.2).</summary>
    public enum SqnVerdict
    {
        /// <summary>SEQ &gt; SEQ_MS(IND) and within the optional limits: accept and store.</summary>
        Fresh = 0,

        /// <summary>SEQ ≤ SEQ_MS(IND): replayed or already used (Annex C.2.2 array check).</summary>
        NotFresh = 1,

        /// <summary>SEQ − SEQ_MS_max &gt; Δ (Annex C.2.1 wrap-around protection).</summary>
        TooFarAhead = 2,

        /// <summary>SEQ_MS_max − SEQ ≥ L (Annex C.2.2 optional age limit).</summary>
        TooOld = 3,
    }

    /// <summary>
    /// The USIM's SQN state of TS 33.102 Annex C: SQN = SEQ || IND (Annex C.1, IND = the a least significant bits,
    /// a = 5 by default → 32 array elements), an array SEQ_MS(0..a−1) indexed by IND (Annex C.2.2), the optional
    /// wrap-around limit Δ (Annex C.2.1, default 2^28 as UERANSIM and osmocom use) and the optional age limit L
    /// (Annex C.2.2, off by default). SQN_MS for resynchronisation = the highest previously accepted SEQ || its IND
    /// (Annex C.2.2 / §6.3.5). Not thread-safe: the card serialises APDUs.
    /// </summary>
    public sealed class SqnFreshness
    {
        /// <summary>Default IND length in bits (TS 33.102 Annex C.3; osmo-auc-gen -l default 5).</summary>
        public const int DefaultIndBits = 5;

        /// <summary>Default Δ = 2^28 (Annex C.2.1 leaves the value to the operator; UERANSIM SqnManager(5, 1 &lt;&lt; 28)).</summary>
        public const long DefaultDelta = 1L << 28;

        /// <summary>Δ or L value meaning "no limit".</summary>
        public const long NoLimit = long.MaxValue;

        private const ulong SqnMask = 0xFFFFFFFFFFFFUL; // 48-bit SQN (TS 33.102 §6.3.2)

        private readonly long[] _seqMs;
        private readonly int _indBits;
        private ulong _highestSqn; // SEQ_MS_max || IND, the SQN_MS of a resynchronisation

        public SqnFreshness(int indBits = DefaultIndBits)
        {
            if (indBits < 0 || indBits > 10) throw new ArgumentOutOfRangeException(nameof(indBits));
            _indBits = indBits;
            _seqMs = new long[1 << indBits];
        }

        /// <summary>Number of bits of IND (a in Annex C.1).</summary>
        public int IndBits => _indBits;

        /// <summary>Number of array elements (2^IndBits).</summary>
        public int Length => _seqMs.Length;

        /// <summary>Δ of Annex C.2.1: accept only SEQ − SEQ_MS_max ≤ Δ. <see cref="NoLimit"/> disables the check.</summary>
        public long Delta { get; set; } = DefaultDelta;

        /// <summary>L of Annex C.2.2: accept only SEQ_MS_max − SEQ &lt; L. <see cref="NoLimit"/> (default) disables the check.</summary>
        public long AgeLimit { get; set; } = NoLimit;

        /// <summary>SEQ_MS(ind).</summary>
        public long GetSeqMs(int ind) => _seqMs[ind];

        /// <summary>Highest accepted SEQ over the whole array (SEQ_MS in the Δ and L checks).</summary>
        public long SeqMsMax => (long)(_highestSqn >> _indBits);

        /// <summary>SQN_MS for AUTS: the highest previously accepted SQN (SEQ || IND), 48 bits.</summary>
        public ulong SqnMs => _highestSqn;

        /// <summary>Splits a 48-bit SQN into SEQ (high bits) and IND (low <see cref="IndBits"/> bits) (Annex C.1).</summary>
        public void Split(ulong sqn, out long seq, out int ind)
        {
            sqn &= SqnMask;
            seq = (long)(sqn >> _indBits);
            ind = (int)(sqn & (ulong)(_seqMs.Length - 1));
        }

        /// <summary>Freshness check of Annex C.2 without changing state.</summary>
        public SqnVerdict Check(ulong sqn)
        {
            Split(sqn, out long seq, out int ind);
            long max = SeqMsMax;
            // Annex C.2.1: "before applying the freshness conditions of Annex C.2.2" accept only SEQ - SEQ_MS <= Δ.
            if (Delta != NoLimit && seq - max > Delta) return SqnVerdict.TooFarAhead;
            // Annex C.2.2: the optional limit L is applied before the array conditions: SEQ_MS - SEQ < L.
            if (AgeLimit != NoLimit && max - seq >= AgeLimit) return SqnVerdict.TooOld;
            // Annex C.2.2: fresh iff SEQ > SEQ_MS(i), i = IND.
            if (seq <= _seqMs[ind]) return SqnVerdict.NotFresh;
            return SqnVerdict.Fresh;
        }

        /// <summary>Stores an accepted SQN: SEQ_MS(IND) := SEQ (Annex C.2.2). Call only after <see cref="Check"/> said Fresh.</summary>
        public void Accept(ulong sqn)
        {
            Split(sqn, out long seq, out int ind);
            _seqMs[ind] = seq;
            if (seq > SeqMsMax) _highestSqn = sqn & SqnMask;
        }

        /// <summary>Provisioning / test hook: sets SEQ_MS(ind) as if SEQ || ind had been accepted.</summary>
        public void SetSeqMs(int ind, long seq)
        {
            if (ind < 0 || ind >= _seqMs.Length) throw new ArgumentOutOfRangeException(nameof(ind));
            if (seq < 0 || seq > (long)(SqnMask >> _indBits)) throw new ArgumentOutOfRangeException(nameof(seq));
            _seqMs[ind] = seq;
            RecomputeHighest();
        }

        /// <summary>Provisioning hook: a card that has accepted <paramref name="sqn"/> (SEQ_MS(IND(sqn)) := SEQ(sqn)).</summary>
        public void SetAccepted(ulong sqn)
        {
            Split(sqn, out long seq, out int ind);
            SetSeqMs(ind, seq);
        }

        private void RecomputeHighest()
        {
            long best = 0;
            int bestInd = 0;
            for (int i = 0; i < _seqMs.Length; i++)
            {
                if (_seqMs[i] > best)
                {
                    best = _seqMs[i];
                    bestInd = i;
                }
            }

            _highestSqn = best == 0 ? 0 : ((ulong)best << _indBits) | (uint)bestInd;
        }
    }
}

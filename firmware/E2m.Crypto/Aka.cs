#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>
    /// UMTS AKA message fields (TS 33.102 §6.3). Static and allocation-free: the scratch lives in the
    /// <see cref="Milenage"/> instance passed in (so these helpers are not thread-safe per instance,
    /// exactly like Milenage itself). All arrays exact length at offset 0.
    /// </summary>
    public static class Aka
    {
        public const int AutnLength = 16; // TS 33.102 §6.3.2: SQN xor AK (6) || AMF (2) || MAC (8)
        public const int AutsLength = 14; // TS 33.102 §6.3.3: SQN_MS xor AK* (6) || MAC-S (8)

        // TS 33.102 §6.3.3: "the dummy value of all zeros" used for AMF* in MAC-S.
        private static readonly byte[] ResyncAmf = new byte[Milenage.AmfLength];

        /// <summary>AUTN = SQN xor AK || AMF || MAC-A (TS 33.102 §6.3.2).</summary>
        public static void BuildAutn(byte[] sqn, byte[] ak, byte[] amf, byte[] macA, byte[] autn)
        {
            CryptoUtil.CheckExact(sqn, Milenage.SqnLength, "sqn");
            CryptoUtil.CheckExact(ak, Milenage.AkLength, "ak");
            CryptoUtil.CheckExact(amf, Milenage.AmfLength, "amf");
            CryptoUtil.CheckExact(macA, Milenage.MacLength, "macA");
            CryptoUtil.CheckExact(autn, AutnLength, "autn");
            for (int i = 0; i < 6; i++)
            {
                autn[i] = (byte)(sqn[i] ^ ak[i]);
            }

            Array.Copy(amf, 0, autn, 6, 2);
            Array.Copy(macA, 0, autn, 8, 8);
        }

        /// <summary>
        /// USIM side of resynchronisation: AUTS = SQN_MS xor AK* || MAC-S with AK* = f5*(RAND) and
        /// MAC-S = f1*(SQN_MS || RAND || AMF*), AMF* = 0000 (TS 33.102 §6.3.3).
        /// </summary>
        public static void BuildAuts(Milenage m, byte[] rand, byte[] sqnMs, byte[] auts)
        {
            if (m == null) throw new ArgumentNullException("m");
            CryptoUtil.CheckExact(rand, Milenage.RandLength, "rand");
            CryptoUtil.CheckExact(sqnMs, Milenage.SqnLength, "sqnMs");
            CryptoUtil.CheckExact(auts, AutsLength, "auts");
            m.F5StarCore(rand, auts, 0);
            for (int i = 0; i < 6; i++)
            {
                auts[i] ^= sqnMs[i];
            }

            m.F1Core(rand, sqnMs, 0, ResyncAmf, 0, null, 0, auts, 6);
        }

        /// <summary>
        /// HE/AuC side of resynchronisation (TS 33.102 §6.3.5): SQN_MS = (SQN_MS xor AK*) xor f5*(RAND),
        /// then MAC-S is checked in constant time. On false, sqnMs is zeroed.
        /// </summary>
        public static bool TryRecoverSqnMs(Milenage m, byte[] rand, byte[] auts, byte[] sqnMs)
        {
            if (m == null) throw new ArgumentNullException("m");
            CryptoUtil.CheckExact(rand, Milenage.RandLength, "rand");
            CryptoUtil.CheckExact(auts, AutsLength, "auts");
            CryptoUtil.CheckExact(sqnMs, Milenage.SqnLength, "sqnMs");
            m.F5StarCore(rand, sqnMs, 0);
            for (int i = 0; i < 6; i++)
            {
                sqnMs[i] ^= auts[i];
            }

            byte[] xmacS = m.MacScratch;
            m.F1Core(rand, sqnMs, 0, ResyncAmf, 0, null, 0, xmacS, 0);
            bool ok = CryptoUtil.FixedTimeEquals(xmacS, 0, auts, 6, Milenage.MacLength);
            Array.Clear(xmacS, 0, Milenage.MacLength);
            if (!ok) Array.Clear(sqnMs, 0, Milenage.SqnLength);
            return ok;
        }

        /// <summary>
        /// USIM side of authentication (TS 33.102 §6.3.3): SQN = (SQN xor AK) xor f5(RAND), XMAC = f1(SQN,
        /// RAND, AMF), compared in constant time with MAC in AUTN. Returns false on MAC failure (sqn zeroed).
        /// The SQN freshness check (Annex C) is the caller's job.
        /// </summary>
        public static bool TryVerifyAutn(Milenage m, byte[] rand, byte[] autn, byte[] sqn)
        {
            if (m == null) throw new ArgumentNullException("m");
            CryptoUtil.CheckExact(rand, Milenage.RandLength, "rand");
            CryptoUtil.CheckExact(autn, AutnLength, "autn");
            CryptoUtil.CheckExact(sqn, Milenage.SqnLength, "sqn");
            m.F5Core(rand, sqn, 0);
            for (int i = 0; i < 6; i++)
            {
                sqn[i] ^= autn[i];
            }

            byte[] xmac = m.MacScratch;
            m.F1Core(rand, sqn, 0, autn, 6, xmac, 0, null, 0);
            bool ok = CryptoUtil.FixedTimeEquals(xmac, 0, autn, 8, Milenage.MacLength);
            Array.Clear(xmac, 0, Milenage.MacLength);
            if (!ok) Array.Clear(sqn, 0, Milenage.SqnLength);
            return ok;
        }
    }
}

using System;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Server.Hss.Subscribers;

namespace E2m.Server.Hss.Auc
{
    /// <summary>
    /// Authentication vector generation (TS 33.102 §6.3.2, TS 33.401 §6.1.2 / A.2) and the e2m additions of
    /// DESIGN.md §2 and §5, on the portable E2m.Crypto algorithms over platform AES/HMAC (PlatformCryptoProvider).
    /// Milenage/Kdf instances are not thread-safe: this class keeps a pool of per-call workers.
    /// </summary>
    public sealed class AucEngine
    {
        /// <summary>AMF separation bit, "bit 0" = MSB (TS 33.102 Annex H, TS 33.401 §6.1.1): 1 for E-UTRAN vectors.</summary>
        public const ushort AmfSeparationBit = 0x8000;

        private readonly ConcurrentBag<Worker> _pool = new();
        private readonly ushort _e2mAmfMask;

        public AucEngine(ushort e2mAmfMask = 0x4000)
        {
            if (e2mAmfMask == 0 || (e2mAmfMask & (e2mAmfMask - 1)) != 0 || e2mAmfMask == AmfSeparationBit)
            {
                throw new ArgumentException("the e2m AMF mask must be one bit, not the separation bit", nameof(e2mAmfMask));
            }

            _e2mAmfMask = e2mAmfMask;
        }

        public ushort E2mAmfMask => _e2mAmfMask;

        /// <summary>
        /// The AMF sent in the vector: the subscriber's AMF with the separation bit set for E-UTRAN and cleared for
        /// UTRAN (TS 33.102 Annex H, TS 33.401 §6.1.1), and the e2m bit set for e2m subscribers and cleared otherwise
        /// (DESIGN.md §5: "set in AVs of e2m runs" — the HSS owns that bit, so a provisioned AMF that happens to carry it
        /// never announces an e2m run that is not one). The other AMF bits pass through unchanged (operator use).
        /// </summary>
        public ushort EffectiveAmf(ushort subscriberAmf, Rat rat, bool e2m)
        {
            int amf = rat == Rat.Eutran ? subscriberAmf | AmfSeparationBit : subscriberAmf & ~AmfSeparationBit;
            amf = e2m ? amf | _e2mAmfMask : amf & ~_e2mAmfMask;
            return (ushort)amf;
        }

        /// <summary>Generates the vectors of a reservation. <paramref name="snId"/> (3 octets) is required for E-UTRAN.</summary>
        public AuthVector[] Generate(SqnReservation res, Rat rat, byte[]? snId)
        {
            if (rat == Rat.Eutran && (snId == null || snId.Length != PlmnId.Length))
            {
                throw new ArgumentException("E-UTRAN vectors need the 3-octet serving network id", nameof(snId));
            }

            bool e2m = res.E2m.Enabled;
            ushort amf = EffectiveAmf(res.Amf, rat, e2m);
            var vectors = new AuthVector[res.Count];
            Worker w = _pool.TryTake(out Worker? got) ? got : new Worker();
            try
            {
                w.Milenage.SetKey(res.K, res.Opc);
                for (int i = 0; i < res.Count; i++)
                {
                    vectors[i] = w.One(res.Sqn(i), amf, rat, snId, e2m, res.E2m.AccessKeySeparation);
                }
            }
            finally
            {
                w.Milenage.Clear();
                _pool.Add(w);
            }

            return vectors;
        }

        /// <summary>
        /// Verifies an AUTS (MAC-S) for RAND and returns SQN_MS (TS 33.102 §6.3.5), or null when MAC-S is wrong.
        /// </summary>
        public ulong? RecoverSqnMs(byte[] k, byte[] opc, byte[] rand, byte[] auts)
        {
            Worker w = _pool.TryTake(out Worker? got) ? got : new Worker();
            try
            {
                w.Milenage.SetKey(k, opc);
                byte[] sqnMs = new byte[Milenage.SqnLength];
                return Aka.TryRecoverSqnMs(w.Milenage, rand, auts, sqnMs) ? SqnMath.FromBytes(sqnMs) : null;
            }
            finally
            {
                w.Milenage.Clear();
                _pool.Add(w);
            }
        }

        private sealed class Worker
        {
            public readonly Milenage Milenage = new(new PlatformAes128());
            private readonly KasmeKdf _kasme = new();
            private readonly E2mKeys _e2m = new(new PlatformHmacSha256());
            private readonly byte[] _sqn = new byte[6], _amf = new byte[2], _macA = new byte[8], _ak = new byte[6];
            private readonly byte[] _ck = new byte[16], _ik = new byte[16], _ckIk = new byte[32], _sqnXorAk = new byte[6];

            public AuthVector One(ulong sqn, ushort amf, Rat rat, byte[]? snId, bool e2m, bool accessKeySeparation)
            {
                var v = new AuthVector { Sqn = sqn, Amf = amf };
                RandomNumberGenerator.Fill(v.Rand); // TS 33.102 §6.3.2: RAND unpredictable (CSPRNG)
                SqnMath.ToBytes(sqn, _sqn);
                _amf[0] = (byte)(amf >> 8);
                _amf[1] = (byte)amf;
                Milenage.F1(v.Rand, _sqn, _amf, _macA, null);       // TS 35.206 f1: MAC-A
                Milenage.F2345(v.Rand, v.Xres, _ck, _ik, _ak);      // f2 XRES, f3 CK, f4 IK, f5 AK
                Aka.BuildAutn(_sqn, _ak, _amf, _macA, v.Autn);      // TS 33.102 §6.3.2: AUTN = SQN⊕AK || AMF || MAC

                if (e2m)
                {
                    // DESIGN.md §2: e2m_int_key from the real CK || IK, and its KID.
                    v.E2mIntKey = new byte[E2mKeys.IntKeyLength];
                    v.Kid = new byte[E2mKeys.KidLength];
                    _e2m.DeriveIntKey(_ck, _ik, v.E2mIntKey);
                    _e2m.DeriveKid(v.E2mIntKey, v.Kid);
                }

                if (accessKeySeparation)
                {
                    _e2m.DeriveAccessKeys(_ck, _ik, v.Ck, v.Ik);    // DESIGN.md §5: CK' || IK' to the serving node
                }
                else
                {
                    Array.Copy(_ck, v.Ck, 16);
                    Array.Copy(_ik, v.Ik, 16);
                }

                if (rat == Rat.Eutran)
                {
                    // TS 33.401 A.2: KASME = KDF(CK || IK, FC = 0x10, P0 = SN id, P1 = SQN ⊕ AK), with the keys given to the MME.
                    Array.Copy(v.Autn, 0, _sqnXorAk, 0, 6);
                    v.Kasme = new byte[Kdf.OutputLength];
                    _kasme.Derive(v.Ck, v.Ik, snId!, _sqnXorAk, v.Kasme);
                }

                Array.Clear(_ck);
                Array.Clear(_ik);
                Array.Clear(_ak);
                Array.Clear(_macA);
                return v;
            }
        }
    }
}

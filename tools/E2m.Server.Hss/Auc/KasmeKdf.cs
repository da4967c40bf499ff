using System;
using E2m.Crypto;
using E2m.Hal.Host;

namespace E2m.Server.Hss.Auc
{
    /// <summary>
    /// KASME = KDF(CK || IK, S), S = FC || P0 || L0 || P1 || L1 with FC = 0x10, P0 = SN id (3 octets, L0 = 00 03),
    /// P1 = SQN ⊕ AK (6 octets, L1 = 00 06) — TS 33.401 A.2 on the TS 33.220 Annex B KDF (E2m.Crypto Kdf). Not thread-safe.
    /// </summary>
    public sealed class KasmeKdf
    {
        /// <summary>FC for KASME (TS 33.401 A.2).</summary>
        public const byte Fc = 0x10;

        /// <summary>Length of S: 1 + 3 + 2 + 6 + 2.</summary>
        public const int SLength = 14;

        private readonly Kdf _kdf;
        private readonly byte[] _ckIk = new byte[32];

        public KasmeKdf(IHmacSha256? hmac = null)
        {
            _kdf = new Kdf(hmac ?? new PlatformHmacSha256(), SLength);
        }

        /// <summary>Writes KASME (32 octets) to <paramref name="kasme"/>; <paramref name="s"/> (14 octets) optionally receives S.</summary>
        public void Derive(byte[] ck, byte[] ik, byte[] snId, byte[] sqnXorAk, byte[] kasme, byte[]? s = null)
        {
            if (ck.Length != 16 || ik.Length != 16 || snId.Length != PlmnId.Length || sqnXorAk.Length != 6 || kasme.Length != Kdf.OutputLength)
            {
                throw new ArgumentException("KASME inputs: CK 16, IK 16, SN id 3, SQN⊕AK 6, output 32 octets");
            }

            Array.Copy(ck, 0, _ckIk, 0, 16);
            Array.Copy(ik, 0, _ckIk, 16, 16);
            _kdf.Begin(Fc);
            _kdf.AddParameter(snId, 0, PlmnId.Length);   // P0 = SN id, L0 = 00 03
            _kdf.AddParameter(sqnXorAk, 0, 6);           // P1 = SQN ⊕ AK, L1 = 00 06
            if (s != null)
            {
                _kdf.CopyInput(s, 0);
            }

            _kdf.Derive(_ckIk, 0, 32, kasme, 0);
            Array.Clear(_ckIk);
        }
    }
}

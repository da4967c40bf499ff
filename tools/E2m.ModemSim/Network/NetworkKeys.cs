using System;
using System.Security.Cryptography;

namespace E2m.ModemSim.Network
{
    /// <summary>Key derivations of the serving network side (host code: platform HMAC).</summary>
    public static class NetworkKeys
    {
        /// <summary>FC for KASME (TS 33.401 Annex A.2).</summary>
        public const byte FcKasme = 0x10;

        /// <summary>
        /// KASME = KDF(CK || IK, FC = 0x10, P0 = SN id (3 octets), P1 = SQN ⊕ AK (6 octets)) with the TS 33.220 Annex B
        /// KDF (TS 33.401 Annex A.2).
        /// </summary>
        public static byte[] Kasme(byte[] ck, byte[] ik, byte[] snId, byte[] sqnXorAk)
        {
            if (ck.Length != 16 || ik.Length != 16 || snId.Length != 3 || sqnXorAk.Length != 6) throw new ArgumentException("lengths");
            byte[] key = new byte[32];
            ck.CopyTo(key, 0);
            ik.CopyTo(key, 16);
            byte[] s = new byte[1 + 3 + 2 + 6 + 2];
            s[0] = FcKasme;
            snId.CopyTo(s, 1);
            s[5] = 3;                                  // L0 = 00 03
            sqnXorAk.CopyTo(s, 6);
            s[13] = 6;                                 // L1 = 00 06
            byte[] kasme = HMACSHA256.HashData(key, s);
            Array.Clear(key);
            return kasme;
        }

        /// <summary>
        /// PLMN identity as 3 octets (TS 24.008 §10.5.1.3): MCC2|MCC1, MNC3|MCC3 (MNC3 = 'F' for a 2-digit MNC), MNC2|MNC1.
        /// <paramref name="plmn"/> is MCC followed by a 2- or 3-digit MNC, e.g. "00101" or "310410".
        /// </summary>
        public static byte[] PlmnId(string plmn)
        {
            if (plmn == null || (plmn.Length != 5 && plmn.Length != 6)) throw new ArgumentException("PLMN = MCC + 2/3-digit MNC", nameof(plmn));
            int D(int i) => plmn[i] >= '0' && plmn[i] <= '9' ? plmn[i] - '0' : throw new ArgumentException("digits only", nameof(plmn));
            int mnc3 = plmn.Length == 6 ? D(5) : 0xF;
            return new[] { (byte)((D(1) << 4) | D(0)), (byte)((mnc3 << 4) | D(2)), (byte)((D(4) << 4) | D(3)) };
        }

        /// <summary>Kc = c3(CK, IK) = CK1 ⊕ CK2 ⊕ IK1 ⊕ IK2 (TS 33.102 §6.8.1.2): the GSM cipher key GEA1..GEA3 use.</summary>
        public static byte[] Kc(byte[] ck, byte[] ik) => E2m.ModemSim.Usim.SimulatedUsim.C3(ck, ik);
    }
}

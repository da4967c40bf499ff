using System;

namespace E2m.Server.Hss.Auc
{
    /// <summary>
    /// Serving network identity for KASME: the PLMN identity as 3 octets (TS 33.401 A.2: "P0 = SN id", coded as in
    /// TS 24.301 §9.9.3.12 / TS 24.008 §10.5.1.13): octet 1 = MCC2 || MCC1, octet 2 = MNC3 || MCC3, octet 3 = MNC2 || MNC1
    /// (high nibble first), MNC3 = 0xF for a 2-digit MNC. "00101" → 00 f1 10; "310410" → 13 00 14.
    /// </summary>
    public static class PlmnId
    {
        public const int Length = 3;

        /// <summary>True when <paramref name="plmn"/> is MCC (3 digits) + MNC (2 or 3 digits).</summary>
        public static bool IsValid(string? plmn)
        {
            if (plmn == null || (plmn.Length != 5 && plmn.Length != 6))
            {
                return false;
            }

            foreach (char c in plmn)
            {
                if (c < '0' || c > '9')
                {
                    return false;
                }
            }

            return true;
        }

        public static byte[] Encode(string plmn)
        {
            if (!IsValid(plmn))
            {
                throw new ArgumentException("PLMN must be MCC (3 digits) + MNC (2 or 3 digits)", nameof(plmn));
            }

            int D(int i) => plmn[i] - '0';
            int mnc3 = plmn.Length == 6 ? D(5) : 0xF;
            return new[]
            {
                (byte)((D(1) << 4) | D(0)), // MCC digit 2 | MCC digit 1
                (byte)((mnc3 << 4) | D(2)), // MNC digit 3 | MCC digit 3
                (byte)((D(4) << 4) | D(3)), // MNC digit 2 | MNC digit 1
            };
        }
    }
}

using System;
using System.Security.Cryptography;

namespace E2m.Server.Hss.Auc
{
    /// <summary>Radio access type of the requested vectors.</summary>
    public enum Rat
    {
        /// <summary>UMTS AKA quintuplet (TS 33.102 §6.3.2): RAND, XRES, CK, IK, AUTN.</summary>
        Utran,

        /// <summary>EPS AV (TS 33.401 §6.1.2): RAND, XRES, AUTN, KASME; here CK/IK are also returned.</summary>
        Eutran,
    }

    /// <summary>One generated vector. <see cref="Ck"/>/<see cref="Ik"/> are what the serving node gets
    /// (CK'/IK' with access-key separation). Dispose zeroises the keys.</summary>
    public sealed class AuthVector : IDisposable
    {
        public byte[] Rand { get; } = new byte[16];

        public byte[] Xres { get; } = new byte[8];

        public byte[] Autn { get; } = new byte[16];

        public byte[] Ck { get; } = new byte[16];

        public byte[] Ik { get; } = new byte[16];

        /// <summary>KASME (TS 33.401 A.2), E-UTRAN only.</summary>
        public byte[]? Kasme { get; set; }

        public ulong Sqn { get; set; }

        public ushort Amf { get; set; }

        /// <summary>e2m_int_key from the real CK/IK (DESIGN.md §2), e2m subscribers only.</summary>
        public byte[]? E2mIntKey { get; set; }

        /// <summary>KID (8 octets) of <see cref="E2mIntKey"/>.</summary>
        public byte[]? Kid { get; set; }

        public void Dispose()
        {
            CryptographicOperations.ZeroMemory(Xres);
            CryptographicOperations.ZeroMemory(Ck);
            CryptographicOperations.ZeroMemory(Ik);
            if (Kasme != null)
            {
                CryptographicOperations.ZeroMemory(Kasme);
            }

            if (E2mIntKey != null)
            {
                CryptographicOperations.ZeroMemory(E2mIntKey);
            }
        }
    }
}

// Compile-only stub of nanoFramework.System.Security.Cryptography (Aes.cs, CipherMode.cs, HMACSHA256.cs): the members
// E2m.Hal.NanoFramework calls, with the upstream signatures. Version mirrored: see README.md. Never deployed; bodies throw.
using System;

namespace System.Security.Cryptography
{
    public enum CipherMode
    {
        None = 0,
        CBC = 1,
        ECB = 2,
    }

    public class Aes
    {
        public Aes(CipherMode mode)
        {
            throw new NotImplementedException();
        }

        public CipherMode Mode
        {
            get { throw new NotImplementedException(); }
            set { throw new NotImplementedException(); }
        }

        public byte[] Key
        {
            get { throw new NotImplementedException(); }
            set { throw new NotImplementedException(); }
        }

        public byte[] Encrypt(byte[] data)
        {
            throw new NotImplementedException();
        }
    }

    public class HMACSHA256 : IDisposable
    {
        public HMACSHA256(byte[] key)
        {
            throw new NotImplementedException();
        }

        public static byte[] HashData(byte[] key, byte[] source)
        {
            throw new NotImplementedException();
        }

        public void Dispose()
        {
            throw new NotImplementedException();
        }
    }
}

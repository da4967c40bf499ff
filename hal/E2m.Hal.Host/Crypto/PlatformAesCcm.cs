using System;
using System.Security.Cryptography;
using E2m.Crypto;

namespace E2m.Hal.Host
{
    /// <summary>
    /// AES-CCM-16-64-128 through System.Security.Cryptography.AesCcm (OpenSSL/CNG, AES-NI), one call per message:
    /// RFC 3610 with an 8-octet tag and a 13-octet nonce, exactly the portable <see cref="AesCcm"/>'s contract
    /// (tests/E2m.Crypto.Tests run both against RFC 3610 and against each other). Zero allocations per message
    /// after <see cref="SetKey"/>; the platform object is created once per key.
    /// </summary>
    public sealed class PlatformAesCcm : IAesCcm, IDisposable
    {
        private readonly byte[] _key = new byte[E2m.Crypto.AesCcm.KeyLength];
        private System.Security.Cryptography.AesCcm? _ccm;

        public void SetKey(byte[] key, int offset)
        {
            Array.Copy(key, offset, _key, 0, _key.Length);
            _ccm?.Dispose();
            _ccm = new System.Security.Cryptography.AesCcm(_key);
        }

        public void Encrypt(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength,
            byte[] input, int inputOffset, int inputLength, byte[] output, int outputOffset)
        {
            CheckLengths(aadLength, inputLength);
            Ccm().Encrypt(
                nonce.AsSpan(nonceOffset, E2m.Crypto.AesCcm.NonceLength),
                input.AsSpan(inputOffset, inputLength),
                output.AsSpan(outputOffset, inputLength),
                output.AsSpan(outputOffset + inputLength, E2m.Crypto.AesCcm.TagLength),
                aadLength == 0 ? ReadOnlySpan<byte>.Empty : aad.AsSpan(aadOffset, aadLength));
        }

        public bool Decrypt(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength,
            byte[] input, int inputOffset, int inputLength, byte[] output, int outputOffset)
        {
            if (inputLength < E2m.Crypto.AesCcm.TagLength)
            {
                throw new ArgumentException("input shorter than the tag");
            }

            int plainLength = inputLength - E2m.Crypto.AesCcm.TagLength;
            CheckLengths(aadLength, plainLength);
            try
            {
                Ccm().Decrypt(
                    nonce.AsSpan(nonceOffset, E2m.Crypto.AesCcm.NonceLength),
                    input.AsSpan(inputOffset, plainLength),
                    input.AsSpan(inputOffset + plainLength, E2m.Crypto.AesCcm.TagLength),
                    output.AsSpan(outputOffset, plainLength),
                    aadLength == 0 ? ReadOnlySpan<byte>.Empty : aad.AsSpan(aadOffset, aadLength));
                return true;
            }
            catch (AuthenticationTagMismatchException)
            {
                // The platform already zeroes the plaintext on failure; do it again so the contract does not depend on it.
                Array.Clear(output, outputOffset, plainLength);
                return false;
            }
        }

        public void Clear()
        {
            Array.Clear(_key);
            _ccm?.Dispose();
            _ccm = null;
        }

        public void Dispose() => Clear();

        private System.Security.Cryptography.AesCcm Ccm() =>
            _ccm ?? throw new InvalidOperationException("SetKey first");

        private static void CheckLengths(int aadLength, int messageLength)
        {
            if (aadLength < 0 || aadLength > E2m.Crypto.AesCcm.MaxAadLength)
            {
                throw new ArgumentException("AAD longer than the portable AES-CCM supports (RFC 3610 §2.2)");
            }

            if (messageLength < 0 || messageLength > E2m.Crypto.AesCcm.MaxMessageLength)
            {
                throw new ArgumentException("message longer than 2^16 - 1 octets (L = 2, RFC 3610 §2)");
            }
        }
    }
}

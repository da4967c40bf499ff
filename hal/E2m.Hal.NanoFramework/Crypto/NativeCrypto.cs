using System;
using System.Security.Cryptography;
using E2m.Crypto;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// <see cref="ICryptoProvider"/> on nanoFramework.System.Security.Cryptography (Mbed TLS in the firmware image; enabled
    /// in the ESP32 images and some STM32 ones, not in ST_NUCLEO144_F746ZG - use PortableCryptoProvider there).
    /// AES-CCM stays the portable <see cref="AesCcm"/> over the native block cipher: the package has ECB/CBC only.
    /// Every native call returns a fresh array (upstream API), so these adapters allocate 16 octets per AES block and
    /// the message length per HMAC; the interpreter's managed AES would cost far more time than that garbage.
    /// </summary>
    public sealed class NativeCryptoProvider : ICryptoProvider
    {
        public IAes128 CreateAes128()
        {
            return new NativeAes128();
        }

        public IHmacSha256 CreateHmacSha256()
        {
            return new NativeHmacSha256();
        }

        public IAesCcm CreateAesCcm()
        {
            return new AesCcm(new NativeAes128());
        }
    }

    /// <summary>AES-128 forward cipher (FIPS 197) as System.Security.Cryptography.Aes in ECB mode on one block.</summary>
    public sealed class NativeAes128 : IAes128
    {
        private readonly Aes _aes = new Aes(CipherMode.ECB);
        private readonly byte[] _key = new byte[16];
        private readonly byte[] _block = new byte[16];

        public void SetKey(byte[] key, int offset)
        {
            Array.Copy(key, offset, _key, 0, 16);
            _aes.Key = _key; // upstream keeps the reference: Clear() below zeroises what the native side reads
        }

        public void EncryptBlock(byte[] input, int inputOffset, byte[] output, int outputOffset)
        {
            Array.Copy(input, inputOffset, _block, 0, 16);
            byte[] result = _aes.Encrypt(_block); // ECB on exactly one block = the block cipher, FIPS 197 §5.1
            Array.Copy(result, 0, output, outputOffset, 16);
            Array.Clear(result, 0, result.Length);
        }

        public void Clear()
        {
            Array.Clear(_key, 0, _key.Length);
            Array.Clear(_block, 0, _block.Length);
        }
    }

    /// <summary>
    /// HMAC-SHA-256 (RFC 2104) with the native one-shot HMACSHA256.HashData: Init/Update collect the key and message in
    /// buffers owned here (grown on demand, zeroised on Final/Clear), Final hands exact-length copies to the native call.
    /// </summary>
    public sealed class NativeHmacSha256 : IHmacSha256
    {
        private byte[] _key = new byte[0];
        private byte[] _message = new byte[128];
        private int _length;

        public void Init(byte[] key, int offset, int length)
        {
            Array.Clear(_key, 0, _key.Length);
            if (_key.Length != length)
            {
                _key = new byte[length];
            }

            Array.Copy(key, offset, _key, 0, length);
            _length = 0;
        }

        public void Update(byte[] data, int offset, int length)
        {
            if (_length + length > _message.Length)
            {
                int size = _message.Length * 2;
                while (size < _length + length)
                {
                    size *= 2;
                }

                byte[] grown = new byte[size];
                Array.Copy(_message, 0, grown, 0, _length);
                Array.Clear(_message, 0, _message.Length);
                _message = grown;
            }

            Array.Copy(data, offset, _message, _length, length);
            _length += length;
        }

        public void Final(byte[] output, int offset)
        {
            byte[] message = new byte[_length];
            Array.Copy(_message, 0, message, 0, _length);
            byte[] mac = HMACSHA256.HashData(_key, message);
            Array.Copy(mac, 0, output, offset, 32);
            Array.Clear(message, 0, message.Length);
            Array.Clear(mac, 0, mac.Length);
            Array.Clear(_message, 0, _length);
            _length = 0;
        }

        public void Clear()
        {
            Array.Clear(_key, 0, _key.Length);
            Array.Clear(_message, 0, _message.Length);
            _length = 0;
        }
    }
}

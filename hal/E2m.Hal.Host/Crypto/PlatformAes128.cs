using System;
using System.Security.Cryptography;
using E2m.Crypto;

namespace E2m.Hal.Host
{
    /// <summary>AES-128 forward cipher via <see cref="Aes.EncryptEcb(ReadOnlySpan{byte}, Span{byte}, PaddingMode)"/>: no allocation per block.</summary>
    public sealed class PlatformAes128 : IAes128, IDisposable
    {
        private const int BlockLength = 16;
        private readonly byte[] _block = new byte[BlockLength];
        private Aes? _aes;

        public void SetKey(byte[] key, int offset)
        {
            ArgumentNullException.ThrowIfNull(key);
            if (offset < 0 || offset > key.Length - 16) throw new ArgumentOutOfRangeException(nameof(offset));
            _aes ??= Aes.Create();
            _aes.SetKey(key.AsSpan(offset, 16)); // SetKey copies; no per-block state
        }

        public void EncryptBlock(byte[] input, int inputOffset, byte[] output, int outputOffset)
        {
            if (_aes == null) throw new InvalidOperationException("SetKey first");
            ReadOnlySpan<byte> src = input.AsSpan(inputOffset, BlockLength);
            Span<byte> dst = output.AsSpan(outputOffset, BlockLength);
            if (src.Overlaps(dst))
            {
                // EncryptEcb requires exact overlap or none; route partial overlap through a buffer.
                src.CopyTo(_block);
                src = _block;
            }

            int written = _aes.EncryptEcb(src, dst, PaddingMode.None);
            if (written != BlockLength) throw new CryptographicException("AES-ECB wrote " + written);
            Array.Clear(_block);
        }

        public void Clear()
        {
            _aes?.Dispose();
            _aes = null;
            Array.Clear(_block);
        }

        public void Dispose() => Clear();
    }
}

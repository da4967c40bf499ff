using System;
using System.Security.Cryptography;
using E2m.Crypto;

namespace E2m.Hal.Host
{
    /// <summary>
    /// HMAC-SHA-256 via <see cref="IncrementalHash.CreateHMAC(HashAlgorithmName, ReadOnlySpan{byte})"/>.
    /// Init allocates the platform object (a new key); Update and Final are allocation-free
    /// (GetHashAndReset(Span) resets to the keyed state, matching the IHmacSha256 contract).
    /// </summary>
    public sealed class PlatformHmacSha256 : IHmacSha256, IDisposable
    {
        private IncrementalHash? _hmac;

        public void Init(byte[] key, int offset, int length)
        {
            ReadOnlySpan<byte> k = length == 0 ? ReadOnlySpan<byte>.Empty : key.AsSpan(offset, length);
            _hmac?.Dispose();
            _hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, k);
        }

        public void Update(byte[] data, int offset, int length)
        {
            if (_hmac == null) throw new InvalidOperationException("Init first");
            _hmac.AppendData(data.AsSpan(offset, length));
        }

        public void Final(byte[] output, int offset)
        {
            if (_hmac == null) throw new InvalidOperationException("Init first");
            int written = _hmac.GetHashAndReset(output.AsSpan(offset, 32));
            if (written != 32) throw new CryptographicException("HMAC wrote " + written);
        }

        public void Clear()
        {
            _hmac?.Dispose();
            _hmac = null;
        }

        public void Dispose() => Clear();
    }
}

using E2m.Crypto;

namespace E2m.Hal.Host
{
    /// <summary>
    /// AES-128 and HMAC-SHA-256 from System.Security.Cryptography (OpenSSL / CNG, AES-NI), for the
    /// host tools and servers. The algorithms above them (CCM, HKDF, KDF, Milenage) stay portable.
    /// </summary>
    public sealed class PlatformCryptoProvider : ICryptoProvider
    {
        public IAes128 CreateAes128() => new PlatformAes128();

        public IHmacSha256 CreateHmacSha256() => new PlatformHmacSha256();
    }
}

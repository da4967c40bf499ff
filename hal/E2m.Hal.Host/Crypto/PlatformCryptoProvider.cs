using E2m.Crypto;

namespace E2m.Hal.Host
{
    /// <summary>
    /// AES-128 and HMAC-SHA-256 from System.Security.Cryptography (OpenSSL / CNG, AES-NI), for the
    /// host tools and servers. AES-CCM uses the platform AEAD on whole messages;
    /// the algorithms above them (HKDF, KDF, Milenage, OSCORE) stay portable.
    /// </summary>
    public sealed class PlatformCryptoProvider : ICryptoProvider
    {
        public IAes128 CreateAes128() => new PlatformAes128();

        public IHmacSha256 CreateHmacSha256() => new PlatformHmacSha256();

        public IAesCcm CreateAesCcm() => new PlatformAesCcm();
    }
}

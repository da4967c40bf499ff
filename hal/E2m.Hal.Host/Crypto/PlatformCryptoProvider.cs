using E2m.Crypto;

namespace E2m.Hal.Host
{
    /// <summary>
    /// Host crypto for the tools and servers: AES-128 on AES-NI instructions (<see cref="PlatformAes128"/>),
    /// HMAC-SHA-256 from System.Security.Cryptography; AES-CCM, HKDF, KDF, Milenage and OSCORE are the portable
    /// algorithms over these. (System <c>AesCcm</c> was measured slower than portable CCM over AES-NI for
    /// OSCORE-sized messages, because it creates a native context per message: README "Benchmarks".)
    /// </summary>
    public sealed class PlatformCryptoProvider : ICryptoProvider
    {
        public IAes128 CreateAes128() => new PlatformAes128();

        public IHmacSha256 CreateHmacSha256() => new PlatformHmacSha256();

        public IAesCcm CreateAesCcm() => new AesCcm(new PlatformAes128());
    }
}

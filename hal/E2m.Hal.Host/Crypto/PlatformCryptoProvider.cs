using E2m.Crypto;

namespace E2m.Hal.Host
{
    /// <summary>
    /// Host crypto for the tools and servers: AES-128 and AES-CCM on AES-NI instructions (<see cref="PlatformAes128"/>,
    /// <see cref="PlatformAesCcm"/>), HMAC-SHA-256 from System.Security.Cryptography; HKDF, KDF, Milenage and OSCORE
    /// are the portable algorithms over these. (System <c>AesCcm</c> was measured slower than portable CCM over AES-NI for
    /// OSCORE-sized messages, because it creates a native context per message: README "Benchmarks".)
    /// </summary>
    public sealed class PlatformCryptoProvider : ICryptoProvider
    {
        public IAes128 CreateAes128() => new PlatformAes128();

        public IHmacSha256 CreateHmacSha256() => new PlatformHmacSha256();

        /// <summary>AES-CCM on AES-NI (<see cref="PlatformAesCcm"/>), else the portable CCM over <see cref="PlatformAes128"/>.</summary>
        public IAesCcm CreateAesCcm() => PlatformAesCcm.IsSupported ? new PlatformAesCcm() : new AesCcm(new PlatformAes128());
    }
}

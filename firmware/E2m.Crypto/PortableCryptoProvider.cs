#nullable disable // portable code: nullable off (DESIGN.md §9); see README
namespace E2m.Crypto
{
    /// <summary>Software AES-128 and HMAC-SHA-256 that run anywhere (host and nanoFramework).</summary>
    public sealed class PortableCryptoProvider : ICryptoProvider
    {
        public IAes128 CreateAes128()
        {
            return new Aes128();
        }

        public IHmacSha256 CreateHmacSha256()
        {
            return new HmacSha256();
        }

        public IAesCcm CreateAesCcm()
        {
            return new AesCcm(new Aes128());
        }
    }
}

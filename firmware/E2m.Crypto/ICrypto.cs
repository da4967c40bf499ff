namespace E2m.Crypto
{
    /// <summary>
    /// AES-128 forward cipher (FIPS 197). Only encryption is needed: AES-CCM (RFC 3610) and
    /// Milenage (TS 35.206) use the block cipher in the forward direction only.
    /// Implementations: <see cref="Aes128"/> (portable, software) and the platform adapters
    /// (System.Security.Cryptography on the host, the native Mbed TLS AES on the device).
    /// </summary>
    public interface IAes128
    {
        /// <summary>Loads a 16-octet key from <paramref name="key"/> at <paramref name="offset"/>.</summary>
        void SetKey(byte[] key, int offset);

        /// <summary>Encrypts one 16-octet block; input and output may be the same buffer.</summary>
        void EncryptBlock(byte[] input, int inputOffset, byte[] output, int outputOffset);

        /// <summary>Zeroises the key schedule.</summary>
        void Clear();
    }

    /// <summary>
    /// HMAC-SHA-256 (RFC 2104, FIPS 180-4) as an incremental MAC on caller-owned buffers.
    /// Usage: <c>Init(key)</c>, any number of <c>Update</c>, <c>Final</c>; after <c>Final</c> the
    /// instance is ready for another message under the same key.
    /// </summary>
    public interface IHmacSha256
    {
        void Init(byte[] key, int offset, int length);

        void Update(byte[] data, int offset, int length);

        /// <summary>Writes the 32-octet MAC and resets to the keyed initial state.</summary>
        void Final(byte[] output, int offset);

        /// <summary>Zeroises the key and the chaining state.</summary>
        void Clear();
    }

    /// <summary>
    /// Factory for the block cipher and MAC, so that the host/servers plug in platform crypto
    /// (AES-NI) and the device its native AES/HMAC while every algorithm above them stays portable.
    /// </summary>
    public interface ICryptoProvider
    {
        IAes128 CreateAes128();

        IHmacSha256 CreateHmacSha256();

        /// <summary>
        /// AES-CCM-16-64-128 (RFC 3610 with M = 8, L = 2) on whole messages: the seam where a platform with a native
        /// AEAD plugs it in. Both current providers return <see cref="AesCcm"/> over their block cipher (on the host
        /// that is AES-NI, faster than a call into the native AEAD per OSCORE-sized message).
        /// </summary>
        IAesCcm CreateAesCcm();
    }

    /// <summary>
    /// AES-CCM-16-64-128 (RFC 3610, M = 8 octet tag, L = 2 i.e. 13-octet nonce; COSE alg 10, RFC 8152 §10.2):
    /// the AEAD of OSCORE (RFC 8613 §3.2.1). See <see cref="AesCcm"/> for the buffer rules.
    /// </summary>
    public interface IAesCcm
    {
        /// <summary>Loads a 16-octet key.</summary>
        void SetKey(byte[] key, int offset);

        /// <summary>Writes <paramref name="inputLength"/> + 8 octets (ciphertext || tag) at <paramref name="outputOffset"/>.</summary>
        void Encrypt(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength,
            byte[] input, int inputOffset, int inputLength, byte[] output, int outputOffset);

        /// <summary>
        /// <paramref name="inputLength"/> includes the 8-octet tag; writes inputLength − 8 octets. Returns false on a
        /// tag mismatch (constant-time compare) and then leaves zeros where the plaintext would be.
        /// </summary>
        bool Decrypt(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength,
            byte[] input, int inputOffset, int inputLength, byte[] output, int outputOffset);

        /// <summary>Zeroises the key.</summary>
        void Clear();
    }
}

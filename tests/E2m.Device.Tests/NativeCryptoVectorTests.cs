#if !E2M_STM32
using E2m.Crypto;
using E2m.Hal.NanoFramework;
using nanoFramework.TestFramework;

namespace E2m.Device.Tests
{
    /// <summary>
    /// The same vectors on the native AES/HMAC adapter (nanoFramework.System.Security.Cryptography, Mbed TLS): proves
    /// the adapter and the image's crypto on the board. ESP32 images only (not built with E2mBoard=stm32).
    /// </summary>
    [TestClass]
    public class NativeCryptoVectorTests
    {
        private static readonly ICryptoProvider Crypto = new NativeCryptoProvider();

        [TestMethod]
        public void Aes128_Fips197_C1() { Vectors.Aes128Fips197(Crypto); }

        [TestMethod]
        public void HmacSha256_Rfc4231_case2() { Vectors.HmacRfc4231Case2(Crypto); }

        [TestMethod]
        public void AesCcm_Rfc3610_packet_vector_1() { Vectors.AesCcmRfc3610Vector1(Crypto); }

        [TestMethod]
        public void Milenage_Ts35208_set1() { Vectors.MilenageTs35208Set1(Crypto); }

        [TestMethod]
        public void E2m_key_chain_Design_section2() { Vectors.E2mKeyChain(Crypto); }

        [TestMethod]
        public void Oscore_Rfc8613_C1_1_derivation() { Vectors.OscoreC1Derivation(Crypto); }

        [TestMethod]
        public void Oscore_Rfc8613_C4_protect_request() { Vectors.OscoreC4ProtectRequest(Crypto); }
    }
}
#endif

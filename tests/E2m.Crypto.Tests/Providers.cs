using System;
using E2m.Hal.Host;
using Xunit;

namespace E2m.Crypto.Tests
{
    /// <summary>The two crypto providers every primitive is run against (theory parameter).</summary>
    public static class Providers
    {
        public const string Portable = "portable";
        public const string Platform = "platform";

        public static TheoryData<string> Names => new TheoryData<string> { Portable, Platform };

        public static ICryptoProvider Get(string name) => name switch
        {
            Portable => new PortableCryptoProvider(),
            Platform => new PlatformCryptoProvider(),
            _ => throw new ArgumentException(name),
        };

        /// <summary>
        /// AES-CCM implementations: the portable CCM over each provider's block cipher, and each provider's
        /// whole-message AEAD (<see cref="ICryptoProvider.CreateAesCcm"/>: the platform one is the AES-NI CCM, PlatformAesCcm).
        /// </summary>
        public static TheoryData<string> CcmNames => new TheoryData<string> { Portable, Platform, Portable + "-aead", Platform + "-aead" };

        public static IAesCcm GetCcm(string name) => name.EndsWith("-aead", StringComparison.Ordinal)
            ? Get(name.Substring(0, name.Length - "-aead".Length)).CreateAesCcm()
            : new AesCcm(Get(name).CreateAes128());
    }
}

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
    }
}

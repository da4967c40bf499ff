using System;

namespace E2m.Crypto.Tests
{
    /// <summary>Seed for randomized cross-checks: E2M_TEST_SEED if set, else random; always put it in failure messages.</summary>
    public static class TestSeed
    {
        public static int Get()
        {
            string? s = Environment.GetEnvironmentVariable("E2M_TEST_SEED");
            return s != null ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : Random.Shared.Next();
        }
    }
}

using System;
using System.Security.Cryptography;

namespace E2m.Hal.Host
{
    /// <summary>Operating-system CSPRNG (<see cref="RandomNumberGenerator.Fill"/>).</summary>
    public sealed class SystemEntropySource : IEntropySource
    {
        public void Fill(byte[] buffer, int offset, int count)
        {
            RandomNumberGenerator.Fill(buffer.AsSpan(offset, count));
        }
    }
}

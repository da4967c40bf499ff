using System;

namespace E2m.Server.Common
{
    /// <summary>Exponential backoff of the services' durable outboxes (EMKS key/revocation pushes, HSS policy sync).</summary>
    public static class Backoff
    {
        /// <summary>Wait after <paramref name="failedAttempts"/> failures: <paramref name="initial"/> · 2^(n−1), at most <paramref name="max"/>.</summary>
        public static TimeSpan After(int failedAttempts, TimeSpan initial, TimeSpan max)
        {
            double ms = initial.TotalMilliseconds * Math.Pow(2, Math.Max(0, failedAttempts - 1));
            return ms >= max.TotalMilliseconds ? max : TimeSpan.FromMilliseconds(ms);
        }
    }
}

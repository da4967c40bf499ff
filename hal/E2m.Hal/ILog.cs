namespace E2m.Hal
{
    /// <summary>Log levels as int constants (portable code never prints enum names).</summary>
    public static class LogLevel
    {
        public const int Error = 1;
        public const int Warning = 2;
        public const int Info = 3;
        public const int Debug = 4;
        /// <summary>Byte-level traffic (AT lines). Never enable in production builds.</summary>
        public const int Trace = 5;
    }

    /// <summary>
    /// The firmware's logging seam (device: Debug.WriteLine or a UART; host: a TextWriter or memory).
    /// Rule for every caller: NO KEY MATERIAL EVER - not CK, IK, Kc, RES, AUTS, e2m keys, OSCORE
    /// master secrets, nor any APDU or AT response that carries them (AT commands flagged
    /// Sensitive are logged as "[redacted]" by the AT channel). Identifiers (IMSI, KID) are logged
    /// only at Debug and above in verbosity.
    /// </summary>
    public interface ILog
    {
        /// <summary>True when messages of <paramref name="level"/> are written (check before building strings).</summary>
        bool IsEnabled(int level);

        /// <summary>Writes one message; <paramref name="source"/> is a short component name ("at", "bg9x").</summary>
        void Write(int level, string source, string message);
    }
}

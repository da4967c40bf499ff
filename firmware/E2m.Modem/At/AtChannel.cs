using System;
using System.Threading;
using E2m.Hal;

namespace E2m.Modem.At
{
    /// <summary>
    /// The AT channel (DESIGN.md §7 layer 2; atat ingress/digest/response-slot/URC, Zephyr modem_chat):
    /// line framing over arbitrary byte fragments, exactly one command in flight, per-command timeout
    /// and attempts, typed final results, URC routing by prefix, the data prompt, binary payload reads,
    /// resynchronisation after a timeout, and modem-reboot detection. See README.md "AT channel".
    /// Threading: caller-driven pump, no thread of its own. The thread inside Execute reads the
    /// transport until the final result; when no command runs, someone calls Poll to route URCs.
    /// Deadlines come from the injected IMonotonicClock only.
    /// </summary>
    public sealed class AtChannel
    {
        /// <summary>Default longest line kept (SARA AT+USORF in HEX mode: 2 x 1024 + header).</summary>
        public const int DefaultMaxLineLength = 2200;

        public AtChannel(ISerialTransport transport, IMonotonicClock clock, IDelay delay)
            : this(transport, clock, delay, null, DefaultMaxLineLength)
        {
        }

        /// <param name="log">null = no logging.</param>
        /// <param name="maxLineLength">longer lines are discarded and counted (<see cref="OversizeLines"/>).</param>
        public AtChannel(ISerialTransport transport, IMonotonicClock clock, IDelay delay, ILog log, int maxLineLength)
        {
            throw new NotSupportedException();
        }

        /// <summary>Timeout of each "AT" probe of a resynchronisation (default 1000 ms).</summary>
        public int SyncTimeoutMs { get; set; }

        /// <summary>"AT" probes per resynchronisation (default 3).</summary>
        public int SyncAttempts { get; set; }

        /// <summary>After the probe's OK, input is drained until it stays quiet this long (default 100 ms).</summary>
        public int DrainQuietMs { get; set; }

        /// <summary>False after a timeout until a resynchronisation succeeded.</summary>
        public bool InSync { get; }

        public AtStatus Execute(AtCommand command, AtResult result) { throw new NotSupportedException(); }

        public AtStatus Execute(AtCommand command, string arguments, AtResult result) { throw new NotSupportedException(); }

        public AtStatus Execute(AtCommand command, string arguments, byte[] payload, int offset, int count, AtResult result) { throw new NotSupportedException(); }

        public bool Poll(int timeoutMs) { throw new NotSupportedException(); }

        public bool Resync() { throw new NotSupportedException(); }

        public void RegisterUrc(string prefix, IUrcHandler handler) { throw new NotSupportedException(); }

        public void UnregisterUrc(IUrcHandler handler) { throw new NotSupportedException(); }

        public void RegisterRebootHandler(IUrcHandler handler) { throw new NotSupportedException(); }

        public void AddRebootLine(string line) { throw new NotSupportedException(); }

        public int OversizeLines { get; }
        public int StrayLines { get; }
        public int StaleFinals { get; }
        public int UnhandledUrcs { get; }
        public int Reboots { get; }
        public int Timeouts { get; }
    }
}

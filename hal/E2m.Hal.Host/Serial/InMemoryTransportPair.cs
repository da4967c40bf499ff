using System;
using E2m.Hal;

namespace E2m.Hal.Host
{
    /// <summary>
    /// Two connected in-process serial endpoints (a null-modem cable): what <see cref="Device"/> writes,
    /// <see cref="Modem"/> reads, and back. For an in-process modem simulator (its own thread) or a test
    /// that plays the modem by hand. Thread-safe.
    /// </summary>
    public sealed class InMemoryTransportPair
    {
        /// <param name="idleClock">when set, a read that would block advances this fake clock by its timeout and returns 0 (no real waiting).</param>
        public InMemoryTransportPair(FakeClock? idleClock = null)
        {
            Device = new InMemoryTransport();
            Modem = new InMemoryTransport();
            Device.Peer = Modem;
            Modem.Peer = Device;
            Device.Inbound.IdleClock = idleClock;
            Modem.Inbound.IdleClock = idleClock;
        }

        /// <summary>The endpoint the firmware's AT channel uses.</summary>
        public InMemoryTransport Device { get; }

        /// <summary>The endpoint the (simulated) modem uses.</summary>
        public InMemoryTransport Modem { get; }
    }

    /// <summary>One end of an <see cref="InMemoryTransportPair"/>.</summary>
    public sealed class InMemoryTransport : ISerialTransport
    {
        internal ByteQueue Inbound { get; } = new ByteQueue();

        internal InMemoryTransport? Peer { get; set; }

        public event EventHandler? DataAvailable;

        /// <summary>Bytes received and not yet read.</summary>
        public int Available => Inbound.Available;

        public void Write(byte[] data, int offset, int count)
        {
            ArgumentNullException.ThrowIfNull(data);
            Peer!.Receive(data, offset, count);
        }

        public int Read(byte[] buffer, int offset, int count, int timeoutMs) => Inbound.Dequeue(buffer, offset, count, timeoutMs);

        public void DiscardInput() => Inbound.Clear();

        /// <summary>Makes this endpoint receive <paramref name="data"/> as one fragment (as if the peer had written it).</summary>
        public void Inject(byte[] data, int offset, int count) => Receive(data, offset, count);

        /// <summary>Makes this endpoint receive <paramref name="data"/> split into random fragments of 1..<paramref name="maxFragment"/> bytes.</summary>
        public void InjectFragmented(byte[] data, Random random, int maxFragment)
        {
            ArgumentNullException.ThrowIfNull(data);
            ArgumentNullException.ThrowIfNull(random);
            int i = 0;
            while (i < data.Length)
            {
                int n = Math.Min(data.Length - i, random.Next(1, maxFragment + 1));
                Receive(data, i, n);
                i += n;
            }
        }

        private void Receive(byte[] data, int offset, int count)
        {
            Inbound.Enqueue(data, offset, count);
            DataAvailable?.Invoke(this, EventArgs.Empty);
        }
    }
}

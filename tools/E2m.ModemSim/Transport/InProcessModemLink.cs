using System;
using E2m.Hal;
using E2m.Hal.Host;
using E2m.ModemSim.Modem;

namespace E2m.ModemSim.Transport
{
    /// <summary>
    /// Deterministic in-process connection for tests: the device-side <see cref="ISerialTransport"/> of a
    /// <see cref="SimulatedModem"/> on a <see cref="FakeClock"/>. Writes go straight into the modem; a read that finds
    /// nothing advances the fake clock to the modem's next event (or the read's deadline) and runs it, so boot delays,
    /// URCs and timeouts happen in simulated time, single-threaded, with no wall-clock waiting. Host UDP traffic is the
    /// one real-time input: while bridged sockets are open an idle read first waits up to
    /// <see cref="ModemOptions.RealIoWaitMs"/> of real time for a datagram before moving the fake clock.
    /// </summary>
    public sealed class InProcessModemLink : ISerialTransport
    {
        private readonly SimulatedModem _modem;
        private readonly FakeClock _clock;
        private readonly ByteQueue _fromModem = new();

        public InProcessModemLink(SimulatedModem modem, FakeClock clock)
        {
            _modem = modem ?? throw new ArgumentNullException(nameof(modem));
            _clock = clock ?? throw new ArgumentNullException(nameof(clock));
            modem.AttachOutput(OnModemOutput);
        }

        public event EventHandler? DataAvailable;

        /// <summary>Bytes the modem wrote that the device has not read yet.</summary>
        public int Available => _fromModem.Available;

        private void OnModemOutput(byte[] data, int offset, int count)
        {
            _fromModem.Enqueue(data, offset, count);
            DataAvailable?.Invoke(this, EventArgs.Empty);
        }

        public void Write(byte[] data, int offset, int count)
        {
            _modem.Receive(data, offset, count);
            _modem.RunDue();
        }

        public int Read(byte[] buffer, int offset, int count, int timeoutMs)
        {
            long deadline = _clock.NowMilliseconds + Math.Max(0, timeoutMs);
            while (true)
            {
                int n = TryDequeue(buffer, offset, count);
                if (n > 0)
                {
                    return n;
                }

                _modem.RunDue();
                n = TryDequeue(buffer, offset, count);
                if (n > 0)
                {
                    return n;
                }

                long now = _clock.NowMilliseconds;
                if (now >= deadline)
                {
                    return 0;
                }

                if (_modem.HasHostIo && _modem.Options.RealIoWaitMs > 0)
                {
                    _modem.WaitForWork(_modem.Options.RealIoWaitMs);
                    if (_modem.PumpExternal())
                    {
                        continue;
                    }
                }

                long? next = _modem.NextEventTime;
                long target = next.HasValue && next.Value < deadline ? Math.Max(next.Value, now) : deadline;
                _clock.AdvanceTo(target);
            }
        }

        // Timeout 0: take what the modem already wrote (at most one chunk), never block.
        private int TryDequeue(byte[] buffer, int offset, int count) => _fromModem.Dequeue(buffer, offset, count, 0);

        public void DiscardInput() => _fromModem.Clear();
    }
}

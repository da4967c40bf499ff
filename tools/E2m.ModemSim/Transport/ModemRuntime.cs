using System;
using System.IO;
using System.Threading;
using E2m.Hal;
using E2m.ModemSim.Modem;

namespace E2m.ModemSim.Transport
{
    /// <summary>
    /// Runs a <see cref="SimulatedModem"/> in real time (a real clock such as SystemMonotonicClock): a thread that runs
    /// its events when due and host inputs when posted. Sessions (<see cref="StreamSession"/>, <see cref="TransportSession"/>)
    /// feed it DTE bytes.
    /// </summary>
    public sealed class ModemRuntime : IDisposable
    {
        private readonly SimulatedModem _modem;
        private readonly Thread _thread;
        private volatile bool _stop;

        public ModemRuntime(SimulatedModem modem)
        {
            _modem = modem;
            _thread = new Thread(Loop) { IsBackground = true, Name = "ModemSim runtime" };
            _thread.Start();
        }

        private void Loop()
        {
            while (!_stop)
            {
                try
                {
                    _modem.RunDue();
                }
                catch (Exception e)
                {
                    _modem.Note("runtime error: " + e.Message);
                }

                long? next = _modem.NextEventTime;
                long wait = next.HasValue ? Math.Clamp(next.Value - _modem.Now, 0, 50) : 50;
                if (wait > 0)
                {
                    _modem.WaitForWork((int)wait);
                }
            }
        }

        public void Dispose()
        {
            _stop = true;
            _thread.Join(1000);
        }
    }

    /// <summary>One AT session over a byte stream (TCP connection, pty master): stream bytes → modem, modem output → stream.</summary>
    public sealed class StreamSession : IDisposable
    {
        private readonly SimulatedModem _modem;
        private readonly Stream _stream;
        private readonly Thread _reader;
        private readonly ManualResetEventSlim _ended = new(false);
        private volatile bool _closed;

        public StreamSession(SimulatedModem modem, Stream stream, string name)
        {
            _modem = modem;
            _stream = stream;
            modem.AttachOutput(Write);
            _reader = new Thread(ReadLoop) { IsBackground = true, Name = "ModemSim session " + name };
            _reader.Start();
        }

        /// <summary>Set when the peer closed the stream.</summary>
        public WaitHandle Ended => _ended.WaitHandle;

        public bool IsEnded => _ended.IsSet;

        private void Write(byte[] data, int offset, int count)
        {
            if (_closed)
            {
                return;
            }

            try
            {
                _stream.Write(data, offset, count);
                _stream.Flush();
            }
            catch (Exception e) when (e is IOException || e is ObjectDisposedException || e is InvalidOperationException)
            {
                _closed = true;
            }
        }

        private void ReadLoop()
        {
            byte[] buffer = new byte[4096];
            try
            {
                while (!_closed)
                {
                    int n = _stream.Read(buffer, 0, buffer.Length);
                    if (n <= 0)
                    {
                        break;
                    }

                    _modem.Receive(buffer, 0, n);
                    _modem.RunDue();
                }
            }
            catch (Exception e) when (e is IOException || e is ObjectDisposedException)
            {
            }
            finally
            {
                _closed = true;
                _ended.Set();
            }
        }

        public void Dispose()
        {
            _closed = true;
            _modem.AttachOutput(null);
            try
            {
                _stream.Dispose();
            }
            catch (IOException)
            {
            }

            _reader.Join(500);
        }
    }

    /// <summary>One AT session over the modem end of an <see cref="ISerialTransport"/> (e.g. InMemoryTransportPair.Modem) in real time.</summary>
    public sealed class TransportSession : IDisposable
    {
        private readonly SimulatedModem _modem;
        private readonly ISerialTransport _transport;
        private readonly Thread _reader;
        private volatile bool _stop;

        public TransportSession(SimulatedModem modem, ISerialTransport transport)
        {
            _modem = modem;
            _transport = transport;
            modem.AttachOutput((d, o, c) => transport.Write(d, o, c));
            _reader = new Thread(Loop) { IsBackground = true, Name = "ModemSim transport session" };
            _reader.Start();
        }

        private void Loop()
        {
            byte[] buffer = new byte[4096];
            while (!_stop)
            {
                int n;
                try
                {
                    n = _transport.Read(buffer, 0, buffer.Length, 20);
                }
                catch (IOException)
                {
                    return;
                }

                if (n > 0)
                {
                    _modem.Receive(buffer, 0, n);
                    _modem.RunDue();
                }
            }
        }

        public void Dispose()
        {
            _stop = true;
            _modem.AttachOutput(null);
            _reader.Join(500);
        }
    }
}

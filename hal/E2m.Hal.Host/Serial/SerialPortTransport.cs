using System;
using System.IO.Ports;
using E2m.Hal;

namespace E2m.Hal.Host
{
    /// <summary>
    /// ISerialTransport over System.IO.Ports.SerialPort: a real modem on a USB serial adapter
    /// (/dev/ttyUSB2 for a Quectel AT port, COM7 on Windows) for hardware-in-the-loop runs of the
    /// same firmware code. 8N1; hardware flow control optional (SARA-R410 firmware ≤ A02.03 has none,
    /// modems.md §4 quirk 13).
    /// </summary>
    public sealed class SerialPortTransport : ISerialTransport, IDisposable
    {
        private readonly SerialPort _port;
        private readonly object _readGate = new();

        public SerialPortTransport(string portName, int baudRate = 115200, bool rtsCts = false)
        {
            _port = new SerialPort(portName, baudRate, Parity.None, 8, StopBits.One)
            {
                Handshake = rtsCts ? Handshake.RequestToSend : Handshake.None,
                WriteTimeout = 5000,
                ReadBufferSize = 8192,
            };
            _port.DataReceived += (_, _) => DataAvailable?.Invoke(this, EventArgs.Empty);
            _port.Open();
        }

        public event EventHandler? DataAvailable;

        public void Write(byte[] data, int offset, int count) => _port.Write(data, offset, count);

        public int Read(byte[] buffer, int offset, int count, int timeoutMs)
        {
            lock (_readGate)
            {
                if (timeoutMs <= 0)
                {
                    if (_port.BytesToRead == 0)
                    {
                        return 0;
                    }

                    timeoutMs = 1;
                }

                _port.ReadTimeout = timeoutMs;
                try
                {
                    return _port.Read(buffer, offset, count);
                }
                catch (TimeoutException)
                {
                    return 0; // ISerialTransport: a timeout is not an error
                }
            }
        }

        public void DiscardInput() => _port.DiscardInBuffer();

        public void Dispose() => _port.Dispose();
    }
}

using System;
using System.IO;
using System.IO.Ports;
using System.Threading;
using E2m.Hal;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// <see cref="ISerialTransport"/> over nanoFramework's System.IO.Ports.SerialPort (8N1). Reads never use
    /// SerialPort.ReadTimeout (which throws TimeoutException): they poll BytesToRead and wait on the DataReceived
    /// event, so a timeout returns 0 as the seam requires. nanoFramework's SerialPort has no DiscardInBuffer, so
    /// <see cref="DiscardInput"/> reads and drops BytesToRead. On the ESP32 route the UART pins first with
    /// <see cref="Esp32UartPins.Route"/>; on STM32 the pins are fixed by the nanoCLR image (COMn = USARTn).
    /// </summary>
    public sealed class SerialPortTransport : ISerialTransport, IDisposable
    {
        /// <summary>nanoFramework's default driver buffer is 256 octets (one buffer, set before Open); +QIRD/+USORF answers need more.</summary>
        public const int DefaultReadBufferSize = 2048;

        private readonly SerialPort _port;
        private readonly AutoResetEvent _dataReceived = new AutoResetEvent(false);
        private readonly byte[] _discard = new byte[64];

        public SerialPortTransport(string portName, int baudRate, int readBufferSize)
        {
            _port = new SerialPort(portName, baudRate, Parity.None, 8, StopBits.One);
            _port.Handshake = Handshake.None;
            _port.ReadBufferSize = readBufferSize;
            _port.WriteTimeout = 5000;
            _port.DataReceived += OnDataReceived;
            _port.Open();
        }

        public event EventHandler DataAvailable;

        public void Write(byte[] data, int offset, int count)
        {
            try
            {
                _port.Write(data, offset, count);
            }
            catch (TimeoutException)
            {
                throw new IOException("serial write timed out");
            }
        }

        public int Read(byte[] buffer, int offset, int count, int timeoutMs)
        {
            long deadline = Environment.TickCount64 + timeoutMs;
            while (true)
            {
                int available = _port.BytesToRead;
                if (available > 0)
                {
                    return _port.Read(buffer, offset, available < count ? available : count);
                }

                long remaining = deadline - Environment.TickCount64;
                if (remaining <= 0)
                {
                    return 0;
                }

                // DataReceived sets the event; a byte that arrived between BytesToRead and here leaves it set.
                _dataReceived.WaitOne((int)remaining, false);
            }
        }

        public void DiscardInput()
        {
            int available;
            while ((available = _port.BytesToRead) > 0)
            {
                _port.Read(_discard, 0, available < _discard.Length ? available : _discard.Length);
            }
        }

        public void Dispose()
        {
            _port.DataReceived -= OnDataReceived;
            _port.Close();
            _port.Dispose();
        }

        private void OnDataReceived(object sender, SerialDataReceivedEventArgs e)
        {
            _dataReceived.Set();
            EventHandler handler = DataAvailable;
            if (handler != null)
            {
                handler(this, EventArgs.Empty);
            }
        }
    }
}

using System;
using System.IO;
using System.Net.Sockets;
using System.Threading;
using E2m.Hal;

namespace E2m.Hal.Host
{
    /// <summary>
    /// ISerialTransport over any Stream: a TCP connection to the modem simulator, or a pseudo-terminal
    /// slave opened as a file on Linux (<see cref="OpenPseudoTerminal"/>). A background thread reads the
    /// stream into a queue, so <see cref="Read"/> honours its timeout even on streams without
    /// ReadTimeout support (FileStream on a pty).
    /// </summary>
    public sealed class StreamTransport : ISerialTransport, IDisposable
    {
        private readonly Stream _stream;
        private readonly bool _ownsStream;
        private readonly ByteQueue _inbound = new();
        private readonly object _writeGate = new();
        private readonly Thread _reader;
        private volatile bool _disposed;

        public StreamTransport(Stream stream, bool ownsStream = true)
        {
            _stream = stream ?? throw new ArgumentNullException(nameof(stream));
            _ownsStream = ownsStream;
            _reader = new Thread(ReadLoop) { IsBackground = true, Name = "StreamTransport reader" };
            _reader.Start();
        }

        /// <summary>Connects to a TCP endpoint (the modem simulator's AT port).</summary>
        public static StreamTransport ConnectTcp(string host, int port)
        {
            var client = new TcpClient { NoDelay = true };
            client.Connect(host, port);
            return new StreamTransport(client.GetStream(), ownsStream: true);
        }

        /// <summary>
        /// Opens a pseudo-terminal slave (e.g. /dev/pts/7) as a file stream. The side owning the master
        /// must have put the line discipline in raw mode (cfmakeraw, or <c>stty -F /dev/pts/N raw -echo</c>),
        /// otherwise the tty echoes and translates CR.
        /// </summary>
        public static StreamTransport OpenPseudoTerminal(string path)
        {
            var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 1, FileOptions.None);
            return new StreamTransport(fs, ownsStream: true);
        }

        public event EventHandler? DataAvailable;

        public void Write(byte[] data, int offset, int count)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            lock (_writeGate)
            {
                _stream.Write(data, offset, count);
                _stream.Flush();
            }
        }

        public int Read(byte[] buffer, int offset, int count, int timeoutMs) => _inbound.Dequeue(buffer, offset, count, timeoutMs);

        public void DiscardInput() => _inbound.Clear();

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_ownsStream)
            {
                _stream.Dispose();
            }

            _inbound.Close(null);
            _reader.Join(1000);
        }

        private void ReadLoop()
        {
            byte[] buffer = new byte[512];
            try
            {
                while (!_disposed)
                {
                    int n = _stream.Read(buffer, 0, buffer.Length);
                    if (n <= 0)
                    {
                        _inbound.Close(new EndOfStreamException("the peer closed the stream"));
                        return;
                    }

                    _inbound.Enqueue(buffer, 0, n);
                    DataAvailable?.Invoke(this, EventArgs.Empty);
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
            {
                _inbound.Close(_disposed ? null : e);
            }
        }
    }
}

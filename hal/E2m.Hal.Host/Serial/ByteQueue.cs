using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;

namespace E2m.Hal.Host
{
    /// <summary>
    /// Thread-safe queue of received chunks. A read returns bytes of at most one chunk, so the
    /// fragment boundaries a producer chose are the ones the reader sees (tests inject 1..7-byte
    /// fragments on purpose). With an idle clock, a read that would block advances that fake clock
    /// by its timeout and returns 0 instead of waiting (single-threaded deterministic tests).
    /// </summary>
    public sealed class ByteQueue
    {
        private readonly object _gate = new();
        private readonly Queue<byte[]> _chunks = new();
        private int _headOffset;
        private bool _closed;
        private Exception? _fault;

        public FakeClock? IdleClock { get; set; }

        public int Available
        {
            get
            {
                lock (_gate)
                {
                    int n = -_headOffset;
                    foreach (byte[] c in _chunks)
                    {
                        n += c.Length;
                    }

                    return n;
                }
            }
        }

        public void Enqueue(byte[] data, int offset, int count)
        {
            if (count <= 0)
            {
                return;
            }

            byte[] chunk = new byte[count];
            Array.Copy(data, offset, chunk, 0, count);
            lock (_gate)
            {
                _chunks.Enqueue(chunk);
                Monitor.PulseAll(_gate);
            }
        }

        public void Clear()
        {
            lock (_gate)
            {
                _chunks.Clear();
                _headOffset = 0;
            }
        }

        /// <summary>No more data will come; pending and future reads return what is left, then throw <paramref name="fault"/> (if any) or return 0.</summary>
        public void Close(Exception? fault)
        {
            lock (_gate)
            {
                _closed = true;
                _fault = fault;
                Monitor.PulseAll(_gate);
            }
        }

        public int Dequeue(byte[] buffer, int offset, int count, int timeoutMs)
        {
            ArgumentNullException.ThrowIfNull(buffer);
            if (offset < 0 || count < 0 || offset + count > buffer.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(count));
            }

            if (count == 0)
            {
                return 0;
            }

            long start = Stopwatch.GetTimestamp();
            lock (_gate)
            {
                while (_chunks.Count == 0)
                {
                    if (_closed)
                    {
                        if (_fault != null)
                        {
                            throw new System.IO.IOException("transport closed", _fault);
                        }

                        return 0;
                    }

                    if (timeoutMs <= 0)
                    {
                        return 0;
                    }

                    FakeClock? idle = IdleClock;
                    if (idle != null)
                    {
                        idle.Advance(timeoutMs);
                        return 0;
                    }

                    int left = timeoutMs - (int)Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    if (left <= 0 || !Monitor.Wait(_gate, left))
                    {
                        if (_chunks.Count == 0)
                        {
                            return 0;
                        }
                    }
                }

                byte[] head = _chunks.Peek();
                int n = Math.Min(count, head.Length - _headOffset);
                Array.Copy(head, _headOffset, buffer, offset, n);
                _headOffset += n;
                if (_headOffset == head.Length)
                {
                    _chunks.Dequeue();
                    _headOffset = 0;
                }

                return n;
            }
        }
    }
}

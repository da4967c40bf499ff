using System;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace E2m.Server.Emse.Coap
{
    /// <summary>
    /// The responses of one committed group, sent with as few system calls as the platform allows: on 64-bit Linux one
    /// sendmmsg(2) per up to <see cref="Capacity"/> datagrams (each datagram is still its own UDP message to its own
    /// address; only the syscall entry and the .NET socket call per datagram are saved), elsewhere one
    /// <see cref="Socket.SendTo(ReadOnlySpan{byte}, SocketFlags, SocketAddress)"/> each. Datagrams and addresses are
    /// copied into native memory owned by this object (one thread, the group-commit writer, uses it), so the caller may reuse its buffers
    /// at once. A datagram the kernel refuses (e.g. ICMP unreachable of an earlier send) is reported and skipped; the
    /// rest of the batch still goes out.
    /// </summary>
    internal sealed unsafe class DatagramBatch : IDisposable
    {
        public const int Capacity = 64;
        private const int SlotBytes = 1536;   // larger datagrams go out one by one
        private const int AddressBytes = LinuxSocketCalls.AddressBytes;
        private const int MsgHdrBytes = LinuxSocketCalls.MsgHdrBytes;
        private const int IovecBytes = LinuxSocketCalls.IovecBytes;
        private const int Eintr = LinuxSocketCalls.Eintr, Eagain = LinuxSocketCalls.Eagain;

        private readonly Socket _socket;
        private readonly bool _native;
        private readonly byte* _arena;
        private readonly int[] _lengths = new int[Capacity];
        private readonly int[] _addressLengths = new int[Capacity];
        private int _count;

        public DatagramBatch(Socket socket)
        {
            _socket = socket;
            _native = LinuxSocketCalls.IsSupported;
            if (_native)
            {
                _arena = (byte*)NativeMemory.AllocZeroed((nuint)(Capacity * (MsgHdrBytes + IovecBytes + AddressBytes + SlotBytes)));
            }
        }

        public int Count => _count;

        /// <summary>False when the batch is full or the datagram/address does not fit a slot: flush, or send it alone.</summary>
        public bool TryAdd(ReadOnlySpan<byte> datagram, SocketAddress remote)
        {
            if (!_native || _count == Capacity || datagram.Length > SlotBytes || remote.Size > AddressBytes)
            {
                return false;
            }

            byte* data = DataSlot(_count);
            datagram.CopyTo(new Span<byte>(data, SlotBytes));
            remote.Buffer.Span.Slice(0, remote.Size).CopyTo(new Span<byte>(AddressSlot(_count), AddressBytes));
            _lengths[_count] = datagram.Length;
            _addressLengths[_count] = remote.Size;
            _count++;
            return true;
        }

        /// <summary>Sends what was added; returns how many datagrams the kernel accepted; <paramref name="failed"/> gets the others (index, errno).</summary>
        public int Flush(Action<int, int>? failed)
        {
            try
            {
                return LinuxSocketCalls.WithDescriptor(_socket, (Batch: this, Failed: failed), static (fd, s) => s.Batch.FlushCore(fd, s.Failed));
            }
            finally
            {
                _count = 0;
            }
        }

        private int FlushCore(int fd, Action<int, int>? failed)
        {
            int sent = 0;
            int start = 0;
            while (start < _count)
            {
                for (int i = start; i < _count; i++)
                {
                    byte* hdr = _arena + (i * MsgHdrBytes);
                    byte* iov = _arena + (Capacity * MsgHdrBytes) + (i * IovecBytes);
                    *(void**)iov = DataSlot(i);                         // iov_base
                    *(ulong*)(iov + 8) = (ulong)_lengths[i];              // iov_len
                    *(void**)hdr = AddressSlot(i);                        // msg_name
                    *(uint*)(hdr + 8) = (uint)_addressLengths[i];         // msg_namelen
                    *(void**)(hdr + 16) = iov;                            // msg_iov
                    *(ulong*)(hdr + 24) = 1;                              // msg_iovlen
                    *(void**)(hdr + 32) = null;                           // msg_control
                    *(ulong*)(hdr + 40) = 0;                              // msg_controllen
                    *(int*)(hdr + 48) = 0;                                // msg_flags
                    *(uint*)(hdr + 56) = 0;                               // msg_len (out)
                }

                int n = sendmmsg(fd, _arena + (start * MsgHdrBytes), (uint)(_count - start), 0);
                if (n > 0)
                {
                    sent += n;
                    start += n;
                    continue;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (n < 0 && errno == Eintr)
                {
                    continue;
                }

                if (n < 0 && errno == Eagain)
                {
                    // The send buffer is full: the rest goes through the socket's own (waiting) send.
                    for (; start < _count; start++)
                    {
                        try
                        {
                            _socket.SendTo(new ReadOnlySpan<byte>(DataSlot(start), _lengths[start]), SocketFlags.None, Address(start));
                            sent++;
                        }
                        catch (SocketException e)
                        {
                            failed?.Invoke(start, e.NativeErrorCode);
                        }
                    }

                    break;
                }

                // The first datagram of the rest was refused (sendmmsg(2): the error is that message's): skip it.
                failed?.Invoke(start, errno);
                start++;
            }

            return sent;
        }

        private SocketAddress Address(int i)
        {
            var a = new SocketAddress(_socket.AddressFamily, _addressLengths[i]);
            new ReadOnlySpan<byte>(AddressSlot(i), _addressLengths[i]).CopyTo(a.Buffer.Span);
            return a;
        }

        private byte* AddressSlot(int i) => _arena + (Capacity * (MsgHdrBytes + IovecBytes)) + (i * AddressBytes);

        private byte* DataSlot(int i) => _arena + (Capacity * (MsgHdrBytes + IovecBytes + AddressBytes)) + (i * SlotBytes);

        public void Dispose()
        {
            if (_arena != null && !_disposed)
            {
                _disposed = true;
                NativeMemory.Free(_arena);
            }
        }

        private bool _disposed;

        [DllImport("libc", SetLastError = true)]
        private static extern int sendmmsg(int sockfd, byte* msgvec, uint vlen, int flags);
    }
}

using System;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace E2m.Server.Emse.Coap
{
    /// <summary>
    /// The datagrams waiting on a socket, taken with one recvmmsg(2) call (64-bit Linux): up to <see cref="Capacity"/>
    /// at a time, never waiting (MSG_DONTWAIT), each datagram's real length reported even when it was larger than its
    /// slot (MSG_TRUNC; the slot then holds its first octets). A shard calls it after poll(2) found the socket readable
    /// and again while it fills up: one system call instead of a receive and an "anything left?" ioctl per datagram.
    /// Native memory owned by this object, used by one thread; the data and address of datagram i stay valid until
    /// the next <see cref="Receive"/>.
    /// </summary>
    internal sealed unsafe class DatagramReceiveBatch : IDisposable
    {
        public const int Capacity = 64;
        private const int AddressBytes = LinuxSocketCalls.AddressBytes;
        private const int MsgHdrBytes = LinuxSocketCalls.MsgHdrBytes;
        private const int IovecBytes = LinuxSocketCalls.IovecBytes;
        private const int MsgDontwait = 0x40, MsgTrunc = 0x20; // recv(2) flags (Linux)

        private readonly Socket _socket;
        private readonly int _slotBytes;
        private readonly byte* _arena;
        private bool _disposed;

        /// <param name="slotBytes">Octets kept per datagram (the largest datagram accepted; longer ones are reported by length).</param>
        public DatagramReceiveBatch(Socket socket, int slotBytes)
        {
            if (!IsSupported)
            {
                throw new PlatformNotSupportedException("recvmmsg(2) batches exist on 64-bit Linux only");
            }

            _socket = socket;
            _slotBytes = slotBytes;
            _arena = (byte*)NativeMemory.AllocZeroed((nuint)(Capacity * (MsgHdrBytes + IovecBytes + AddressBytes + slotBytes)));
            for (int i = 0; i < Capacity; i++)
            {
                byte* iov = _arena + (Capacity * MsgHdrBytes) + (i * IovecBytes);
                *(void**)iov = DataSlot(i);                   // iov_base
                *(ulong*)(iov + 8) = (ulong)slotBytes;        // iov_len
                // The fixed part of each header (the arena is zeroed: no control data, msg_flags / msg_len out only).
                byte* hdr = _arena + (i * MsgHdrBytes);
                *(void**)hdr = AddressSlot(i);                // msg_name
                *(void**)(hdr + 16) = iov;                    // msg_iov
                *(ulong*)(hdr + 24) = 1;                      // msg_iovlen
            }
        }

        public static bool IsSupported => LinuxSocketCalls.IsSupported;

        /// <summary>
        /// Takes up to <paramref name="max"/> (≤ Capacity) waiting datagrams; 0 when none waits. A pending error of the
        /// socket (ICMP port unreachable of an earlier send) is consumed and reads as 0 datagrams. Throws
        /// ObjectDisposedException when the socket was closed.
        /// </summary>
        public int Receive(int max)
        {
            max = Math.Min(max, Capacity);
            for (int i = 0; i < max; i++)
            {
                *(uint*)(_arena + (i * MsgHdrBytes) + 8) = AddressBytes; // msg_namelen: in/out, the kernel shortens it
            }

            return LinuxSocketCalls.WithDescriptor(_socket, (Batch: this, Max: max), static (fd, s) => s.Batch.ReceiveCore(fd, s.Max));
        }

        private int ReceiveCore(int fd, int max)
        {
            while (true)
            {
                int n = recvmmsg(fd, _arena, (uint)max, MsgDontwait | MsgTrunc, null);
                if (n >= 0)
                {
                    return n;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno != LinuxSocketCalls.Eintr)
                {
                    // EAGAIN: nothing waits; anything else (e.g. ECONNREFUSED, an earlier send's ICMP error) was
                    // reported, and cleared, by this call.
                    return 0;
                }
            }
        }

        /// <summary>The datagram's real length (may exceed what <see cref="Data"/> holds).</summary>
        public int Length(int i) => (int)*(uint*)(_arena + (i * MsgHdrBytes) + 56);

        /// <summary>The datagram's first octets (all of them up to the slot size).</summary>
        public ReadOnlySpan<byte> Data(int i) => new(DataSlot(i), Math.Min(Length(i), _slotBytes));

        /// <summary>The sender's sockaddr.</summary>
        public ReadOnlySpan<byte> Address(int i) => new(AddressSlot(i), (int)Math.Min(*(uint*)(_arena + (i * MsgHdrBytes) + 8), (uint)AddressBytes));

        private byte* AddressSlot(int i) => _arena + (Capacity * (MsgHdrBytes + IovecBytes)) + (i * AddressBytes);

        private byte* DataSlot(int i) => _arena + (Capacity * (MsgHdrBytes + IovecBytes + AddressBytes)) + ((long)i * _slotBytes);

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                NativeMemory.Free(_arena);
            }
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int recvmmsg(int sockfd, byte* msgvec, uint vlen, int flags, void* timeout);
    }
}

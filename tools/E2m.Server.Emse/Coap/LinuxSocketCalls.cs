using System;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace E2m.Server.Emse.Coap
{
    /// <summary>
    /// What the sendmmsg(2) and recvmmsg(2) batches (<see cref="DatagramBatch"/>, <see cref="DatagramReceiveBatch"/>)
    /// share: the LP64 struct sizes and errno values of 64-bit Linux, and the socket's descriptor held for a call.
    /// </summary>
    internal static class LinuxSocketCalls
    {
        public const int AddressBytes = 128; // sizeof(struct sockaddr_storage)
        public const int MsgHdrBytes = 64;   // sizeof(struct mmsghdr) on LP64: msghdr (56) + msg_len (4) + padding
        public const int IovecBytes = 16;    // sizeof(struct iovec) on LP64
        public const int Eintr = 4, Eagain = 11;

        /// <summary>True where these calls and layouts apply: 64-bit Linux.</summary>
        public static bool IsSupported => OperatingSystem.IsLinux() && IntPtr.Size == 8;

        /// <summary>
        /// Runs <paramref name="call"/> with the socket's descriptor held (AddRef): a socket closed meanwhile throws
        /// ObjectDisposedException here instead of its number being reused by another file under our system call.
        /// </summary>
        public static TResult WithDescriptor<TState, TResult>(Socket socket, TState state, Func<int, TState, TResult> call)
        {
            SafeHandle handle = socket.SafeHandle;
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                return call((int)handle.DangerousGetHandle(), state);
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using E2m.Server.Emse.Coap;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// The responder's batch send (sendmmsg(2) on 64-bit Linux): every datagram reaches its own address with its own
    /// bytes, in order; a datagram the kernel refuses is reported and the rest of the batch still goes out. The shards'
    /// batch receive (recvmmsg(2)): each datagram with its bytes, real length and sender, never blocking.
    /// </summary>
    public sealed class DatagramBatchTests
    {
        private static Socket Bound()
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            s.ReceiveTimeout = 5000;
            return s;
        }

        private static SocketAddress Address(Socket s) => ((IPEndPoint)s.LocalEndPoint!).Serialize();

        [SkippableFact]
        public void EveryDatagram_ReachesItsAddress_WithItsBytes_InOrder()
        {
            // The batch is a 64-bit Linux path; elsewhere TryAdd refuses and the responder sends one by one.
            Skip.IfNot(OperatingSystem.IsLinux() && IntPtr.Size == 8, "sendmmsg(2) batches exist on 64-bit Linux only");

            using Socket sender = Bound();
            using Socket a = Bound();
            using Socket b = Bound();
            using var batch = new DatagramBatch(sender);
            var sent = new List<(Socket To, byte[] Bytes)>();
            for (int i = 0; i < 100; i++)
            {
                Socket to = i % 3 == 0 ? b : a;
                byte[] bytes = new byte[1 + (i * 13 % 1500)];
                new Random(i).NextBytes(bytes);
                bytes[0] = (byte)i;
                if (!batch.TryAdd(bytes, Address(to)))
                {
                    Assert.Equal(DatagramBatch.Capacity, batch.Count); // full: only then does TryAdd refuse
                    Assert.Equal(DatagramBatch.Capacity, batch.Flush(null));
                    Assert.True(batch.TryAdd(bytes, Address(to)));
                }

                sent.Add((to, bytes));
            }

            Assert.Equal(100 - DatagramBatch.Capacity, batch.Flush(null));
            Assert.Equal(0, batch.Count);
            var buffer = new byte[2048];
            foreach (Socket to in new[] { a, b })
            {
                foreach ((Socket dest, byte[] bytes) in sent)
                {
                    if (dest != to)
                    {
                        continue;
                    }

                    int n = to.Receive(buffer);
                    Assert.Equal(Convert.ToHexString(bytes), Convert.ToHexString(buffer, 0, n));
                }

                Assert.Equal(0, to.Available);
            }
        }

        [SkippableFact]
        public void ARefusedDatagram_IsReported_AndTheRestStillGoesOut()
        {
            Skip.IfNot(OperatingSystem.IsLinux() && IntPtr.Size == 8, "sendmmsg(2) batches exist on 64-bit Linux only");

            using Socket sender = Bound();
            using Socket a = Bound();
            using var batch = new DatagramBatch(sender);
            Assert.True(batch.TryAdd(new byte[] { 1 }, Address(a)));
            // port 0 cannot be sent to (EINVAL): the kernel refuses this one datagram
            Assert.True(batch.TryAdd(new byte[] { 2 }, new IPEndPoint(IPAddress.Loopback, 0).Serialize()));
            Assert.True(batch.TryAdd(new byte[] { 3 }, Address(a)));
            Assert.False(batch.TryAdd(new byte[1537], Address(a))); // larger than a slot: sent on its own by the caller
            var failed = new List<int>();
            Assert.Equal(2, batch.Flush((i, errno) => failed.Add(i)));
            Assert.Equal(new[] { 1 }, failed);
            var buffer = new byte[16];
            Assert.Equal(1, a.Receive(buffer));
            Assert.Equal(1, buffer[0]);
            Assert.Equal(1, a.Receive(buffer));
            Assert.Equal(3, buffer[0]);
        }

        [SkippableFact]
        public void AClosedSocket_IsRefused_NotAReusedDescriptor()
        {
            Skip.IfNot(OperatingSystem.IsLinux() && IntPtr.Size == 8, "sendmmsg(2) batches exist on 64-bit Linux only");
            Socket sender = Bound();
            using Socket a = Bound();
            using var batch = new DatagramBatch(sender);
            Assert.True(batch.TryAdd(new byte[] { 1 }, Address(a)));
            sender.Dispose();
            Assert.Throws<ObjectDisposedException>(() => batch.Flush(null));
            Assert.Equal(0, batch.Count); // the batch is empty again either way
        }

        [SkippableFact]
        public void ReceiveBatch_GivesEachDatagram_ItsBytes_RealLength_AndSender()
        {
            Skip.IfNot(OperatingSystem.IsLinux() && IntPtr.Size == 8, "recvmmsg(2) batches exist on 64-bit Linux only");
            using Socket server = Bound();
            using Socket a = Bound();
            using Socket b = Bound();
            using var receive = new DatagramReceiveBatch(server, 100);
            Assert.Equal(0, receive.Receive(DatagramReceiveBatch.Capacity)); // nothing waits: no blocking, 0

            var sent = new List<(Socket From, byte[] Bytes)>();
            for (int i = 0; i < 70; i++)
            {
                Socket from = i % 2 == 0 ? a : b;
                byte[] bytes = new byte[i == 5 ? 300 : i % 7]; // #5 larger than the 100-octet slot, some empty
                new Random(i).NextBytes(bytes);
                from.SendTo(bytes, server.LocalEndPoint!);
                sent.Add((from, bytes));
            }

            int next = 0;
            while (next < sent.Count)
            {
                int got = receive.Receive(DatagramReceiveBatch.Capacity);
                Assert.True(got > 0 && got <= DatagramReceiveBatch.Capacity);
                for (int i = 0; i < got; i++, next++)
                {
                    (Socket from, byte[] bytes) = sent[next];
                    Assert.Equal(bytes.Length, receive.Length(i)); // the real length, also when truncated
                    Assert.Equal(Convert.ToHexString(bytes, 0, Math.Min(bytes.Length, 100)), Convert.ToHexString(receive.Data(i)));
                    Assert.Equal(Convert.ToHexString(Address(from).Buffer.Span.Slice(0, Address(from).Size)), Convert.ToHexString(receive.Address(i)));
                }
            }

            Assert.Equal(0, receive.Receive(DatagramReceiveBatch.Capacity));
            server.Dispose();
            Assert.Throws<ObjectDisposedException>(() => receive.Receive(1));
        }
    }
}

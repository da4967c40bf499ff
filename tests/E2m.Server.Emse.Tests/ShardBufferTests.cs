using System;
using System.Collections.Generic;
using System.Net;
using System.Text;
using E2m.Server.Emse.Coap;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// The shards' reused buffers and strings: a reused datagram comes back reset and the pool keeps no more than its
    /// capacity; the string cache gives exactly what Encoding.UTF8.GetString gives (the oracle), also for invalid
    /// UTF-8, empty and long inputs and when many keys share slots.
    /// </summary>
    public sealed class ShardBufferTests
    {
        [Fact]
        public void DatagramPool_GivesBuffersOfTheSize_ResetOnReturn_AndKeepsAtMostItsCapacity()
        {
            var pool = new DatagramPool(1152, 2);
            InboundDatagram a = pool.Rent();
            Assert.Equal(1152, a.Buffer.Length);
            a.Length = 7;
            a.Remote = new IPEndPoint(IPAddress.Loopback, 5683).Serialize();
            a.Attempts = 2;
            a.Parked = true;
            a.Deferred = true;
            pool.Return(a);

            InboundDatagram again = pool.Rent();
            Assert.Same(a, again); // reused, not a new allocation
            Assert.Equal(0, again.Length);
            Assert.Null(again.Remote);
            Assert.Equal(0, again.Attempts);
            Assert.False(again.Parked);
            Assert.False(again.Deferred);

            // Capacity 2: of three returned, one is left to the garbage collector.
            InboundDatagram b = pool.Rent();
            InboundDatagram c = pool.Rent();
            pool.Return(again);
            pool.Return(b);
            pool.Return(c);
            var seen = new HashSet<InboundDatagram>(ReferenceEqualityComparer.Instance);
            for (int i = 0; i < 3; i++)
            {
                seen.Add(pool.Rent());
            }

            Assert.Equal(3, seen.Count);
            Assert.Equal(2, CountReused(seen, again, b, c));
        }

        private static int CountReused(HashSet<InboundDatagram> seen, params InboundDatagram[] returned)
        {
            int n = 0;
            foreach (InboundDatagram d in returned)
            {
                n += seen.Contains(d) ? 1 : 0;
            }

            return n;
        }

        [Fact]
        public void StringCache_GivesWhatUtf8Decoding_Gives_AndOneStringPerName()
        {
            var cache = new Utf8StringCache(8); // few slots: many keys collide
            var inputs = new List<byte[]>
            {
                Encoding.UTF8.GetBytes("urn:dev:b12:energy"),
                Encoding.UTF8.GetBytes("Wh"),
                Array.Empty<byte>(),
                Encoding.UTF8.GetBytes("température"),
                new byte[] { 0xC3, 0x28, 0xFF, 0x41 }, // invalid UTF-8: replacement characters, as GetString
                Encoding.UTF8.GetBytes(new string('n', 200)), // longer than the cached keys
            };
            for (int i = 0; i < 100; i++)
            {
                inputs.Add(Encoding.UTF8.GetBytes("urn:dev:b" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + ":energy"));
            }

            for (int pass = 0; pass < 3; pass++)
            {
                foreach (byte[] bytes in inputs)
                {
                    // Inside a larger buffer at an offset, as the SenML reader hands them over.
                    byte[] buffer = new byte[bytes.Length + 10];
                    Array.Fill(buffer, (byte)'x');
                    bytes.CopyTo(buffer, 5);
                    Assert.Equal(Encoding.UTF8.GetString(bytes), cache.Get(buffer, 5, bytes.Length));
                }
            }

            byte[] name = Encoding.UTF8.GetBytes("urn:dev:b7:temperature");
            var big = new Utf8StringCache(4096);
            Assert.Same(big.Get(name, 0, name.Length), big.Get((byte[])name.Clone(), 0, name.Length));
            Assert.Throws<ArgumentOutOfRangeException>(() => new Utf8StringCache(1000));
        }
    }
}

using System;
using System.Buffers.Binary;
using System.IO;
using System.Net;

namespace E2m.Hal.Host.Traces
{
    /// <summary>
    /// Writes UDP datagrams as a classic libpcap file (LINKTYPE_RAW = 101: each record is an IPv4 packet)
    /// that tshark/Wireshark read directly. Timestamps come from the caller (an injected clock), so traces of
    /// deterministic runs are themselves deterministic. The IPv4 header checksum is computed; the UDP checksum
    /// is 0 ("not computed", allowed for IPv4 by RFC 768).
    /// </summary>
    public sealed class PcapWriter : IDisposable
    {
        private const uint Magic = 0xA1B2C3D4;      // libpcap, microsecond timestamps
        private const int LinkTypeRaw = 101;          // LINKTYPE_RAW (tcpdump.org link-layer header types)
        private const int SnapLength = 65535;

        private readonly Stream _stream;
        private readonly bool _ownsStream;
        private readonly object _lock = new();
        private ushort _ipId;

        public PcapWriter(Stream stream, bool ownsStream = true)
        {
            _stream = stream;
            _ownsStream = ownsStream;
            Span<byte> h = stackalloc byte[24];
            BinaryPrimitives.WriteUInt32LittleEndian(h, Magic);
            BinaryPrimitives.WriteUInt16LittleEndian(h.Slice(4), 2);
            BinaryPrimitives.WriteUInt16LittleEndian(h.Slice(6), 4);
            BinaryPrimitives.WriteInt32LittleEndian(h.Slice(8), 0);   // thiszone
            BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(12), 0); // sigfigs
            BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(16), SnapLength);
            BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(20), LinkTypeRaw);
            _stream.Write(h);
        }

        public static PcapWriter Create(string path) => new(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read));

        /// <summary>Appends one UDP datagram from <paramref name="source"/> to <paramref name="destination"/> (IPv4 only).</summary>
        public void WriteUdp(DateTimeOffset timestamp, IPEndPoint source, IPEndPoint destination, ReadOnlySpan<byte> payload)
        {
            if (source.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork ||
                destination.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            {
                throw new ArgumentException("only IPv4 endpoints are traced");
            }

            if (payload.Length > SnapLength - 28)
            {
                throw new ArgumentException("datagram too large for the trace");
            }

            int ipLength = 20 + 8 + payload.Length;
            byte[] record = new byte[16 + ipLength];
            long micros = timestamp.ToUnixTimeMilliseconds() * 1000 + (timestamp.Ticks / 10 % 1000);
            lock (_lock)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(0), (uint)(micros / 1_000_000));
                BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4), (uint)(micros % 1_000_000));
                BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), (uint)ipLength);
                BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(12), (uint)ipLength);

                Span<byte> ip = record.AsSpan(16);
                ip[0] = 0x45;                                              // IPv4, IHL 5 (RFC 791 §3.1)
                BinaryPrimitives.WriteUInt16BigEndian(ip.Slice(2), (ushort)ipLength);
                BinaryPrimitives.WriteUInt16BigEndian(ip.Slice(4), _ipId++);
                ip[8] = 64;                                                // TTL
                ip[9] = 17;                                                // protocol UDP
                source.Address.TryWriteBytes(ip.Slice(12, 4), out _);
                destination.Address.TryWriteBytes(ip.Slice(16, 4), out _);
                BinaryPrimitives.WriteUInt16BigEndian(ip.Slice(10), Ipv4HeaderChecksum(ip.Slice(0, 20)));

                Span<byte> udp = ip.Slice(20);                             // RFC 768
                BinaryPrimitives.WriteUInt16BigEndian(udp, (ushort)source.Port);
                BinaryPrimitives.WriteUInt16BigEndian(udp.Slice(2), (ushort)destination.Port);
                BinaryPrimitives.WriteUInt16BigEndian(udp.Slice(4), (ushort)(8 + payload.Length));
                payload.CopyTo(udp.Slice(8));

                _stream.Write(record);
                _stream.Flush();
            }
        }

        private static ushort Ipv4HeaderChecksum(ReadOnlySpan<byte> header)
        {
            uint sum = 0;
            for (int i = 0; i < header.Length; i += 2)
            {
                sum += (uint)((header[i] << 8) | header[i + 1]);
            }

            while ((sum >> 16) != 0)
            {
                sum = (sum & 0xFFFF) + (sum >> 16);
            }

            return (ushort)~sum;
        }

        public void Dispose()
        {
            if (_ownsStream)
            {
                _stream.Dispose();
            }
        }
    }
}

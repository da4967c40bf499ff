using System;
using System.IO;
using System.Net;
using System.Text;
using System.Threading;
using E2m.Hal.Host.Traces;
using E2m.ModemSim.Traces;

namespace E2m.Demo
{
    /// <summary>
    /// One pcap for every device's UDP traffic (LINKTYPE_RAW IPv4; device addresses 10.45.0.x as the network sees them,
    /// servers on 127.0.0.1). Timestamps are wall-clock UTC at the moment the datagram crossed the simulated air
    /// interface (the devices run on accelerated clocks of their own), so the file is in capture order.
    /// </summary>
    public sealed class SharedPcap : IDisposable
    {
        private readonly PcapWriter _writer;
        private readonly object _gate = new();

        public SharedPcap(string path)
        {
            _writer = PcapWriter.Create(path);
        }

        public int Datagrams { get; private set; }

        public void Write(IPEndPoint source, IPEndPoint destination, byte[] payload)
        {
            lock (_gate)
            {
                _writer.WriteUdp(DateTimeOffset.UtcNow, source, destination, payload);
                Datagrams++;
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _writer.Dispose();
            }
        }
    }

    /// <summary>
    /// Per-device modem observer: counts the UDP payload octets on the air (uplink/downlink), feeds the shared pcap and
    /// optionally an AT log (DTE ↔ DCE lines with the device name).
    /// </summary>
    public sealed class DeviceTrace : IModemTrace
    {
        private readonly string _name;
        private readonly IPAddress _deviceAddress;
        private readonly SharedPcap? _pcap;
        private readonly TextWriter? _atLog;
        private long _up, _down, _datagrams, _bsUp, _bsDown, _bsDatagrams;

        public DeviceTrace(string name, IPAddress deviceAddress, SharedPcap? pcap, TextWriter? atLog)
        {
            _name = name;
            _deviceAddress = deviceAddress;
            _pcap = pcap;
            _atLog = atLog;
        }

        public long UplinkOctets => Interlocked.Read(ref _up);

        public long DownlinkOctets => Interlocked.Read(ref _down);

        /// <summary>All datagrams on the air (both directions, every server).</summary>
        public long Datagrams => Interlocked.Read(ref _datagrams);

        /// <summary>UDP port of the EMKS home-mode bootstrap (0 = none): its datagrams are also counted apart as key establishment.</summary>
        public int BootstrapPort { get; set; }

        /// <summary>UDP payload octets device → EMKS bootstrap (subset of <see cref="UplinkOctets"/>).</summary>
        public long BootstrapUplinkOctets => Interlocked.Read(ref _bsUp);

        /// <summary>UDP payload octets EMKS bootstrap → device (subset of <see cref="DownlinkOctets"/>).</summary>
        public long BootstrapDownlinkOctets => Interlocked.Read(ref _bsDown);

        /// <summary>Datagrams to or from the EMKS bootstrap (subset of <see cref="Datagrams"/>).</summary>
        public long BootstrapDatagrams => Interlocked.Read(ref _bsDatagrams);

        public void Udp(long timeMs, IPEndPoint source, IPEndPoint destination, byte[] payload)
        {
            bool up = source.Address.Equals(_deviceAddress);
            IPEndPoint server = up ? destination : source;
            bool bootstrap = BootstrapPort != 0 && server.Port == BootstrapPort;
            Interlocked.Add(ref up ? ref _up : ref _down, payload.Length);
            if (bootstrap)
            {
                Interlocked.Add(ref up ? ref _bsUp : ref _bsDown, payload.Length);
                Interlocked.Increment(ref _bsDatagrams);
            }

            Interlocked.Increment(ref _datagrams);
            _pcap?.Write(source, destination, payload);
        }

        public void DteToModem(long timeMs, string text)
        {
            _atLog?.WriteLine($"{_name} {timeMs,9} >> {text}");
        }

        public void ModemToDte(long timeMs, byte[] data, int offset, int count)
        {
            if (_atLog == null)
            {
                return;
            }

            string text = Encoding.ASCII.GetString(data, offset, count).Replace("\r", "", StringComparison.Ordinal).TrimEnd('\n');
            foreach (string line in text.Split('\n'))
            {
                if (line.Length > 0)
                {
                    _atLog.WriteLine($"{_name} {timeMs,9} << {line}");
                }
            }
        }

        public void Note(long timeMs, string text)
        {
            _atLog?.WriteLine($"{_name} {timeMs,9} !! {text}");
        }
    }

    /// <summary>
    /// Writes one tshark/Wireshark <c>oscore_contexts</c> line per OSCORE context (like SSLKEYLOGFILE for TLS):
    /// <c>"&lt;client Sender ID&gt;","&lt;client Recipient ID&gt;","&lt;master secret&gt;","&lt;salt&gt;","&lt;ID context&gt;","AES-CCM-16-64-128 (CCM*)"</c>
    /// with client = device, Sender ID = OscoreSecurityContext.SenderIdFromKid(KID), Recipient ID = empty (the EMSE),
    /// secret = e2m_key, no salt, no ID context (DESIGN.md §4). Each line is preceded by a comment naming the device and
    /// the EMSE (<c># dev01 emse.utility.example 127.0.0.1:PORT kid KID</c>): the same KID keys every EMSE with a
    /// different e2m_key and tshark uses the first context whose IDs match, so decrypt one EMSE's traffic at a time.
    /// </summary>
    public sealed class KeyLog : IDisposable
    {
        public const string Algorithm = "AES-CCM-16-64-128 (CCM*)";
        private readonly StreamWriter _writer;
        private readonly object _gate = new();

        public KeyLog(string path)
        {
            _writer = new StreamWriter(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read), new UTF8Encoding(false)) { NewLine = "\n" };
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // it holds keys
            }
        }

        public int Lines { get; private set; }

        public static string Line(byte[] senderId, byte[] masterSecret) =>
            $"\"{Convert.ToHexStringLower(senderId)}\",\"\",\"{Convert.ToHexStringLower(masterSecret)}\",\"\",\"\",\"{Algorithm}\"";

        public void Add(string comment, byte[] senderId, byte[] masterSecret)
        {
            lock (_gate)
            {
                _writer.WriteLine("# " + comment);
                _writer.WriteLine(Line(senderId, masterSecret));
                _writer.Flush();
                Lines++;
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _writer.Dispose();
            }
        }
    }
}

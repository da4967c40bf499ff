using System;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using E2m.Hal;
using E2m.Hal.Host;
using E2m.Modem.At;
using Xunit;

namespace E2m.Modem.Tests.Hal
{
    /// <summary>Host HAL implementations: transports, record stores, pins, clocks.</summary>
    public sealed class HostHalTests
    {
        [Fact]
        public void In_memory_pair_keeps_injected_fragment_boundaries_and_advances_the_idle_clock()
        {
            var clock = new FakeClock();
            var pair = new InMemoryTransportPair(clock);
            byte[] data = Encoding.ASCII.GetBytes("\r\nOK\r\n");
            int seed = 7;
            pair.Device.InjectFragmented(data, new Random(seed), 3);
            var got = new MemoryStream();
            byte[] buf = new byte[64];
            int n;
            while ((n = pair.Device.Read(buf, 0, buf.Length, 0)) > 0)
            {
                Assert.InRange(n, 1, 3);
                got.Write(buf, 0, n);
            }

            Assert.Equal(data, got.ToArray());
            Assert.Equal(0, pair.Device.Read(buf, 0, buf.Length, 250));
            Assert.Equal(250, clock.NowMilliseconds);

            pair.Modem.Write(data, 0, 2);
            Assert.Equal(2, pair.Device.Available);
            pair.Device.DiscardInput();
            Assert.Equal(0, pair.Device.Available);
        }

        [Fact]
        public void Stream_transport_over_tcp_runs_an_AT_command_against_a_peer()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            using StreamTransport transport = StreamTransport.ConnectTcp("127.0.0.1", port);
            using TcpClient peer = listener.AcceptTcpClient();
            listener.Stop();
            NetworkStream ns = peer.GetStream();
            var clock = new SystemMonotonicClock();
            var channel = new AtChannel(transport, clock, clock);
            byte[] answer = Encoding.ASCII.GetBytes("\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
            ns.Write(answer, 0, answer.Length); // the answer may arrive before the command: the channel reads after writing
            var result = new AtResult();
            Assert.Equal(AtStatus.Ok, channel.Execute(new AtCommand("AT+CSQ", 5000) { ResponsePrefix = "+CSQ:" }, result));
            Assert.Equal("+CSQ: 20,99", result.FirstLine);
            byte[] cmd = new byte[7];
            int got = 0;
            while (got < 7)
            {
                got += ns.Read(cmd, got, 7 - got);
            }

            Assert.Equal("AT+CSQ\r", Encoding.ASCII.GetString(cmd));
            Assert.Equal(0, transport.Read(new byte[4], 0, 4, 0));
        }

        [Fact]
        public void Stream_transport_reports_a_closed_peer_as_IOException()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            using StreamTransport transport = StreamTransport.ConnectTcp("127.0.0.1", port);
            TcpClient peer = listener.AcceptTcpClient();
            listener.Stop();
            peer.Dispose();
            Assert.Throws<IOException>(() => transport.Read(new byte[4], 0, 4, 5000));
        }

        [Theory]
        [InlineData(PowerCutPoint.BeforeDurable, "old")]
        [InlineData(PowerCutPoint.AfterDurable, "new")]
        public void In_memory_store_power_cut_leaves_old_or_new_record(PowerCutPoint point, string expected)
        {
            var store = new InMemoryRecordStore(maxRecordSize: 16, maxRecordId: 7);
            byte[] oldValue = Encoding.ASCII.GetBytes("old");
            byte[] newValue = Encoding.ASCII.GetBytes("new");
            store.Write(3, oldValue, 0, 3);
            store.ArmPowerCut(point);
            Assert.Throws<PowerCutException>(() => store.Write(3, newValue, 0, 3));
            byte[] buf = new byte[16];
            Assert.Equal(3, store.Read(3, buf, 0, buf.Length));
            Assert.Equal(expected, Encoding.ASCII.GetString(buf, 0, 3));
            store.Write(3, newValue, 0, 3); // one-shot
            Assert.Throws<ArgumentOutOfRangeException>(() => store.Write(8, newValue, 0, 3));
            Assert.Throws<ArgumentOutOfRangeException>(() => store.Write(1, new byte[17], 0, 17));
        }

        [Fact]
        public void File_store_replaces_atomically_and_ignores_a_leftover_temp_file()
        {
            string dir = Path.Combine(Path.GetTempPath(), "e2m-rs-" + Guid.NewGuid().ToString("N"));
            try
            {
                IRecordStore store = new FileRecordStore(dir, maxRecordSize: 64);
                byte[] buf = new byte[64];
                Assert.Equal(-1, store.Read(5, buf, 0, buf.Length));
                store.Write(5, new byte[] { 1, 2, 3 }, 0, 3);
                store.Write(5, new byte[] { 9, 8 }, 0, 2);
                Assert.Equal(2, store.Read(5, buf, 0, buf.Length));
                Assert.Equal(new byte[] { 9, 8 }, buf[..2]);
                Assert.Throws<ArgumentException>(() => store.Read(5, buf, 0, 1));

                // A power cut between temp write and rename leaves r00005.tmp: the record is still the old one.
                File.WriteAllBytes(Path.Combine(dir, "r00005.tmp"), new byte[] { 7, 7, 7, 7 });
                store = new FileRecordStore(dir, maxRecordSize: 64);
                Assert.Equal(2, store.Read(5, buf, 0, buf.Length));
                Assert.False(File.Exists(Path.Combine(dir, "r00005.tmp")));
                store.Delete(5);
                store.Delete(5);
                Assert.Equal(-1, store.Read(5, buf, 0, buf.Length));
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        [Fact]
        public void Simulated_pin_records_pulse_widths_and_raises_edges()
        {
            var clock = new FakeClock(1000);
            var pwrkey = new SimulatedPin("PWRKEY", clock);
            int rising = 0, falling = 0;
            pwrkey.Edge += (_, e) =>
            {
                if (e == PinEdge.Rising)
                {
                    rising++;
                }
                else
                {
                    falling++;
                }
            };
            IDigitalOutput output = pwrkey;
            output.Write(true);
            clock.Sleep(750); // BG9x power-on pulse 500-1000 ms (Zephyr uses 750)
            output.Write(false);
            output.Write(false);
            pwrkey.Pulse(true, 650, clock);
            Assert.Equal(new long[] { 750, 650 }, pwrkey.PulseWidths(true));
            Assert.Equal(2, rising);
            Assert.Equal(2, falling);
            Assert.Equal(1000, pwrkey.Transitions[0].TimeMs);
            Assert.False(((IDigitalInput)pwrkey).Read());
        }

        [Fact]
        public void Simulated_sleep_advances_the_fake_clock()
        {
            var clock = new FakeClock();
            var sleep = new SimulatedSleep(clock);
            sleep.DeepSleep(3600);
            Assert.Equal(3_600_000, clock.NowMilliseconds);
            Assert.Equal(new[] { 3600 }, sleep.Requests);
        }
    }
}

using System;
using System.Text;
using System.Threading;
using E2m.Hal;
using E2m.Hal.Host;
using E2m.Modem.At;
using Xunit;

namespace E2m.Modem.Tests.At
{
    /// <summary>Channel behaviour that transcripts do not show: threads, re-entry, redaction, allocation, error tables.</summary>
    public sealed class AtChannelTests
    {
        private static readonly AtCommand Csq = new("AT+CSQ", 300) { ResponsePrefix = "+CSQ:" };

        private static byte[] B(string s) => Encoding.Latin1.GetBytes(s);

        [Fact]
        public void Urc_handler_that_calls_back_into_the_channel_gets_Busy()
        {
            var clock = new FakeClock();
            var pair = new InMemoryTransportPair(clock);
            var channel = new AtChannel(pair.Device, clock, clock);
            var handler = new ReentrantHandler(channel);
            channel.RegisterUrc("+CEREG:", handler);
            pair.Device.Inject(B("\r\n+CEREG: 5\r\n"), 0, 13);
            Assert.True(channel.Poll(0));
            Assert.Equal(AtStatus.Busy, handler.Status);
            Assert.False(handler.PollResult);
        }

        [Fact]
        public void Second_thread_waits_for_the_command_in_flight_then_runs()
        {
            // Real threads, real clock: the modem answers each command line on its own thread.
            var clock = new SystemMonotonicClock();
            var pair = new InMemoryTransportPair();
            var channel = new AtChannel(pair.Device, clock, clock);
            var modem = new Thread(() =>
            {
                byte[] buf = new byte[64];
                var line = new StringBuilder();
                int answered = 0;
                while (answered < 2)
                {
                    int n = pair.Modem.Read(buf, 0, buf.Length, 5000);
                    if (n == 0)
                    {
                        return;
                    }

                    for (int i = 0; i < n; i++)
                    {
                        if (buf[i] != 13)
                        {
                            line.Append((char)buf[i]);
                            continue;
                        }

                        Thread.Sleep(30);
                        byte[] answer = B("\r\n+CSQ: " + (20 + answered) + ",99\r\n\r\nOK\r\n");
                        pair.Modem.Write(answer, 0, answer.Length);
                        answered++;
                        line.Clear();
                    }
                }
            });
            modem.Start();
            var r1 = new AtResult();
            var r2 = new AtResult();
            var other = new Thread(() => channel.Execute(Csq, r2));
            var csqSlow = new AtCommand("AT+CSQ", 5000) { ResponsePrefix = "+CSQ:" };
            other.Start();
            channel.Execute(csqSlow, r1);
            other.Join(10000);
            modem.Join(10000);
            Assert.Equal(AtStatus.Ok, r1.Status);
            Assert.Equal(AtStatus.Ok, r2.Status);
            Assert.NotEqual(r1.FirstLine, r2.FirstLine);
        }

        [Fact]
        public void Sensitive_command_lines_are_not_logged()
        {
            var clock = new FakeClock();
            var pair = new InMemoryTransportPair(clock);
            var log = new TextLog(null, LogLevel.Trace);
            var channel = new AtChannel(pair.Device, clock, clock, log, 256);
            var cgla = new AtCommand("AT+CGLA=", 300) { ResponsePrefix = "+CGLA:", Sensitive = true };
            byte[] answer = B("\r\n+CGLA: 4,\"DB08A54211D5E3BA50BF\"\r\n\r\nOK\r\n");
            pair.Device.Inject(answer, 0, answer.Length);
            Assert.Equal(AtStatus.Ok, channel.Execute(cgla, "1,78,\"008800812210...\"", new AtResult()));
            string all = string.Join("\n", log.Lines);
            Assert.DoesNotContain("A54211D5", all, StringComparison.Ordinal);
            Assert.DoesNotContain("0088008122", all, StringComparison.Ordinal);
            Assert.Contains("[redacted]", all, StringComparison.Ordinal);
        }

        [Fact]
        public void Steady_state_command_allocates_nothing_in_the_channel()
        {
            // A transport that allocates nothing itself (the in-memory pair copies every write).
            var clock = new FakeClock();
            var modem = new OkModem();
            var channel = new AtChannel(modem, clock, clock);
            var result = new AtResult();
            var at = new AtCommand("AT", 300);
            for (int i = 0; i < 10; i++)
            {
                channel.Execute(at, result);
            }

            long best = long.MaxValue;
            for (int round = 0; round < 4 && best > 0; round++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 100; i++)
                {
                    channel.Execute(at, result);
                }

                best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
                Assert.Equal(AtStatus.Ok, result.Status);
            }

            Assert.True(best == 0, "allocated " + best + " bytes for 100 x AT/OK");
        }

        [Fact]
        public void Response_lines_beyond_capacity_are_dropped_and_flagged()
        {
            var clock = new FakeClock();
            var pair = new InMemoryTransportPair(clock);
            var channel = new AtChannel(pair.Device, clock, clock);
            var result = new AtResult(2, 0);
            var cmd = new AtCommand("AT+COPS=?", 300) { ResponsePrefix = "+COPS:" };
            byte[] answer = B("\r\n+COPS: 1\r\n+COPS: 2\r\n+COPS: 3\r\n\r\nOK\r\n");
            pair.Device.Inject(answer, 0, answer.Length);
            Assert.Equal(AtStatus.Ok, channel.Execute(cmd, result));
            Assert.Equal(2, result.LineCount);
            Assert.True(result.LinesTruncated);
        }

        [Fact]
        public void Binary_payload_larger_than_the_buffer_is_consumed_and_flagged()
        {
            var clock = new FakeClock();
            var pair = new InMemoryTransportPair(clock);
            var channel = new AtChannel(pair.Device, clock, clock);
            var result = new AtResult(4, 4);
            var qird = new AtCommand("AT+QIRD=0", 300) { ResponsePrefix = "+QIRD:", BinaryPrefix = "+QIRD:" };
            byte[] answer = B("\r\n+QIRD: 6\r\nOK\r\nOK\r\n\r\nOK\r\n");
            pair.Device.Inject(answer, 0, answer.Length);
            Assert.Equal(AtStatus.Ok, channel.Execute(qird, result));
            Assert.Equal(4, result.PayloadLength);
            Assert.True(result.PayloadTruncated);
            Assert.Equal(0, channel.StaleFinals);
        }

        [Theory]
        [InlineData("SIM not inserted", 10)]
        [InlineData("sim busy", 14)]
        [InlineData("Operation not allowed", 3)]
        [InlineData("incorrect password", 16)]
        [InlineData("PDP authentication failure", 149)]
        [InlineData("no such text", -1)]
        public void Verbose_cme_texts_map_to_27007_numbers(string text, int code)
        {
            Assert.Equal(code, AtErrorCodes.CmeCodeFromText(text));
        }

        [Theory]
        [InlineData("(U)SIM not inserted", 310)]
        [InlineData("SIM busy", 314)]
        [InlineData("unknown error", 500)]
        public void Verbose_cms_texts_map_to_27005_numbers(string text, int code)
        {
            Assert.Equal(code, AtErrorCodes.CmsCodeFromText(text));
        }

        private sealed class OkModem : ISerialTransport
        {
            private static readonly byte[] Ok = Encoding.ASCII.GetBytes("\r\nOK\r\n");
            private int _pos = Ok.Length;

            public event EventHandler? DataAvailable
            {
                add { }
                remove { }
            }

            public void Write(byte[] data, int offset, int count) => _pos = 0;

            public int Read(byte[] buffer, int offset, int count, int timeoutMs)
            {
                int n = Math.Min(count, Ok.Length - _pos);
                Array.Copy(Ok, _pos, buffer, offset, n);
                _pos += n;
                return n;
            }

            public void DiscardInput() => _pos = Ok.Length;
        }

        private sealed class ReentrantHandler : IUrcHandler
        {
            private readonly AtChannel _channel;

            public ReentrantHandler(AtChannel channel) => _channel = channel;

            public AtStatus Status { get; private set; } = AtStatus.Ok;

            public bool PollResult { get; private set; } = true;

            public void OnUrc(string line)
            {
                Status = _channel.Execute(Csq, new AtResult());
                PollResult = _channel.Poll(0);
            }
        }
    }
}

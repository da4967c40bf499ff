using System;
using E2m.TestSupport;
using Xunit;

namespace E2m.Coap.Tests
{
    public class ConfirmableExchangeTests
    {
        [Fact]
        public void DerivedTimes_MatchRfc7252_4_8_2()
        {
            var p = CoapTransmissionParameters.Rfc7252Defaults();
            Assert.Equal(45_000, p.MaxTransmitSpanMs);     // RFC 7252 §4.8.2: 45 s
            Assert.Equal(93_000, p.MaxTransmitWaitMs);     // 93 s
            Assert.Equal(202_000, p.MaxRttMs);             // 202 s
            Assert.Equal(247_000, p.ExchangeLifetimeMs);   // 247 s
            Assert.Equal(145_000, p.NonLifetimeMs);        // 145 s

            var nb = new CoapTransmissionParameters();
            Assert.Equal(15_000, nb.AckTimeoutMs);
            Assert.Equal(4, nb.MaxRetransmit);
            Assert.Equal(22_500, nb.MaxInitialTimeoutMs);
            Assert.Equal(337_500, nb.MaxTransmitSpanMs);
            Assert.Equal(552_500, nb.ExchangeLifetimeMs);
        }

        private static (ConfirmableExchange, FakeClock) Start(CoapTransmissionParameters p, byte[] entropy, int mid = 0x1234, string token = "a1b2c3d4")
        {
            var clock = new FakeClock { NowMilliseconds = 1_000_000 };
            var x = new ConfirmableExchange(p, clock, new SeededEntropy(entropy));
            var t = Hex.Decode(token);
            x.Start(mid, t, 0, t.Length);
            return (x, clock);
        }

        [Fact]
        public void Schedule_Rfc7252Defaults_ExactRetransmissionTimes()
        {
            // r = 500 → initial timeout 2000 + 500 % 1001 = 2500 ms, then doubled: 5000, 10000, 20000, 40000
            var (x, clock) = Start(CoapTransmissionParameters.Rfc7252Defaults(), new byte[] { 0, 0, 0x01, 0xf4 });
            long t0 = clock.NowMilliseconds;
            Assert.Equal(2500, x.CurrentTimeoutMs);
            long[] retransmitAt = { 2500, 7500, 17500, 37500 };
            foreach (long at in retransmitAt)
            {
                clock.NowMilliseconds = t0 + at - 1;
                Assert.Equal(CoapExchangeAction.None, x.Poll());
                clock.NowMilliseconds = t0 + at;
                Assert.Equal(t0 + at, x.NextDeadlineMs);
                Assert.Equal(CoapExchangeAction.Retransmit, x.Poll());
                Assert.Equal(CoapExchangeAction.None, x.Poll());
            }
            Assert.Equal(4, x.Retransmissions);
            clock.NowMilliseconds = t0 + 77_499;
            Assert.Equal(CoapExchangeAction.None, x.Poll());
            clock.NowMilliseconds = t0 + 77_500;
            Assert.Equal(CoapExchangeAction.GiveUp, x.Poll());
            Assert.Equal(CoapExchangeState.TimedOut, x.State);
            Assert.True(77_500 <= CoapTransmissionParameters.Rfc7252Defaults().MaxTransmitWaitMs);
            Assert.Equal(CoapExchangeAction.None, x.Poll());
            Assert.Equal(long.MaxValue, x.NextDeadlineMs);
        }

        [Fact]
        public void Schedule_NbIotDefaults_MaxRandom()
        {
            // r = 7500 → initial 22500 = ACK_TIMEOUT * ACK_RANDOM_FACTOR (upper end of the range)
            var (x, clock) = Start(new CoapTransmissionParameters(), new byte[] { 0, 0, 0x1d, 0x4c });
            long t0 = clock.NowMilliseconds;
            Assert.Equal(22_500, x.CurrentTimeoutMs);
            long at = 0, timeout = 22_500;
            for (int i = 0; i < 4; i++)
            {
                at += timeout;
                clock.NowMilliseconds = t0 + at;
                Assert.Equal(CoapExchangeAction.Retransmit, x.Poll());
                timeout *= 2;
            }
            clock.NowMilliseconds = t0 + at + timeout;
            Assert.Equal(CoapExchangeAction.GiveUp, x.Poll());
            Assert.Equal(new CoapTransmissionParameters().MaxTransmitWaitMs, at + timeout); // 15 s · 31 · 1.5 = 697.5 s
        }

        [Fact]
        public void InitialTimeout_AlwaysInRange_ForManySeeds()
        {
            var p = new CoapTransmissionParameters();
            const int seed = 4242;
            var entropy = new SeededEntropy(seed);
            var clock = new FakeClock();
            var x = new ConfirmableExchange(p, clock, entropy);
            long min = long.MaxValue, max = 0;
            for (int i = 0; i < 5000; i++)
            {
                x.Start(i, new byte[0], 0, 0);
                min = Math.Min(min, x.CurrentTimeoutMs);
                max = Math.Max(max, x.CurrentTimeoutMs);
            }
            Assert.True(min >= 15_000 && max <= 22_500, $"seed {seed}: [{min},{max}]");
            Assert.True(min < 15_100 && max > 22_400, $"seed {seed}: range poorly covered [{min},{max}]");
        }

        [Fact]
        public void LatePoll_TimerRestartsFromRetransmissionTime()
        {
            var (x, clock) = Start(CoapTransmissionParameters.Rfc7252Defaults(), new byte[] { 0, 0, 0, 0 });
            long t0 = clock.NowMilliseconds;
            clock.NowMilliseconds = t0 + 2_300;   // polled 300 ms late
            Assert.Equal(CoapExchangeAction.Retransmit, x.Poll());
            Assert.Equal(t0 + 2_300 + 4_000, x.NextDeadlineMs);
        }

        private static CoapMessage Msg(byte type, byte code, int mid, string token = "")
        {
            var m = new CoapMessage { Type = type, Code = code, MessageId = mid };
            var t = Hex.Decode(token);
            m.SetToken(t, 0, t.Length);
            return m;
        }

        [Fact]
        public void PiggybackedResponse_MatchesIdAndToken_DuplicatesIgnored()
        {
            var (x, clock) = Start(CoapTransmissionParameters.Rfc7252Defaults(), new byte[4]);
            Assert.Equal(CoapMatch.NotMatched, x.OnReceive(Msg(CoapType.Acknowledgement, CoapCode.Changed, 0x1235, "a1b2c3d4")));
            Assert.Equal(CoapMatch.NotMatched, x.OnReceive(Msg(CoapType.Acknowledgement, CoapCode.Changed, 0x1234, "ffffffff")));
            Assert.Equal(CoapExchangeState.AwaitingAck, x.State);
            Assert.Equal(CoapMatch.Response, x.OnReceive(Msg(CoapType.Acknowledgement, CoapCode.Changed, 0x1234, "a1b2c3d4")));
            Assert.Equal(CoapExchangeState.Completed, x.State);
            Assert.Equal(CoapMatch.Duplicate, x.OnReceive(Msg(CoapType.Acknowledgement, CoapCode.Changed, 0x1234, "a1b2c3d4")));
            Assert.Equal(CoapMatch.Duplicate, x.OnReceive(Msg(CoapType.Reset, CoapCode.Empty, 0x1234)));
            Assert.Equal(CoapExchangeState.Completed, x.State);
            clock.Advance(1_000_000);
            Assert.Equal(CoapExchangeAction.None, x.Poll());
        }

        [Fact]
        public void EmptyAck_ThenSeparateResponse()
        {
            var (x, clock) = Start(CoapTransmissionParameters.Rfc7252Defaults(), new byte[4]);
            Assert.Equal(CoapMatch.EmptyAck, x.OnReceive(Msg(CoapType.Acknowledgement, CoapCode.Empty, 0x1234)));
            Assert.Equal(CoapExchangeState.AwaitingResponse, x.State);
            clock.Advance(10_000);
            Assert.Equal(CoapExchangeAction.None, x.Poll());   // no retransmission after the ACK
            Assert.Equal(CoapMatch.Duplicate, x.OnReceive(Msg(CoapType.Acknowledgement, CoapCode.Empty, 0x1234)));
            Assert.Equal(CoapMatch.NotMatched, x.OnReceive(Msg(CoapType.Confirmable, CoapCode.Changed, 0x9999, "00000000")));
            Assert.Equal(CoapMatch.Response, x.OnReceive(Msg(CoapType.Confirmable, CoapCode.Changed, 0x9999, "a1b2c3d4")));
            Assert.Equal(CoapMatch.Duplicate, x.OnReceive(Msg(CoapType.Confirmable, CoapCode.Changed, 0x9999, "a1b2c3d4")));
        }

        [Fact]
        public void EmptyAck_SeparateResponseNeverComes_TimesOutAfterExchangeLifetime()
        {
            var p = CoapTransmissionParameters.Rfc7252Defaults();
            var (x, clock) = Start(p, new byte[4]);
            x.OnReceive(Msg(CoapType.Acknowledgement, CoapCode.Empty, 0x1234));
            long ackAt = clock.NowMilliseconds;
            clock.NowMilliseconds = ackAt + p.ExchangeLifetimeMs - 1;
            Assert.Equal(CoapExchangeAction.None, x.Poll());
            clock.NowMilliseconds = ackAt + p.ExchangeLifetimeMs;
            Assert.Equal(CoapExchangeAction.GiveUp, x.Poll());
            Assert.Equal(CoapExchangeState.TimedOut, x.State);
        }

        [Fact]
        public void Reset_EndsExchange()
        {
            var (x, _) = Start(CoapTransmissionParameters.Rfc7252Defaults(), new byte[4]);
            Assert.Equal(CoapMatch.NotMatched, x.OnReceive(Msg(CoapType.Reset, CoapCode.Empty, 0x1)));
            Assert.Equal(CoapMatch.Reset, x.OnReceive(Msg(CoapType.Reset, CoapCode.Empty, 0x1234)));
            Assert.Equal(CoapExchangeState.Reset, x.State);
            Assert.Equal(CoapExchangeAction.None, x.Poll());
        }

        [Fact]
        public void SeparateResponseBeforeAck_Completes()
        {
            var (x, _) = Start(CoapTransmissionParameters.Rfc7252Defaults(), new byte[4]);
            Assert.Equal(CoapMatch.Response, x.OnReceive(Msg(CoapType.NonConfirmable, CoapCode.Changed, 0x4444, "a1b2c3d4")));
            Assert.Equal(CoapExchangeState.Completed, x.State);
        }

        [Fact]
        public void Cancel_StopsRetransmissions()
        {
            var (x, clock) = Start(CoapTransmissionParameters.Rfc7252Defaults(), new byte[4]);
            x.Cancel();
            clock.Advance(100_000);
            Assert.Equal(CoapExchangeAction.None, x.Poll());
            Assert.Equal(CoapMatch.NotMatched, x.OnReceive(Msg(CoapType.Acknowledgement, CoapCode.Changed, 0x1234, "a1b2c3d4")));
        }

        [Fact]
        public void MaxRetransmitZero_GivesUpAtFirstTimeout()
        {
            var p = CoapTransmissionParameters.Rfc7252Defaults();
            p.MaxRetransmit = 0;
            var (x, clock) = Start(p, new byte[4]);
            clock.Advance(2_000);
            Assert.Equal(CoapExchangeAction.GiveUp, x.Poll());
        }
    }
}

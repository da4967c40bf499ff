using System;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Server.Emse.Keys;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// Emse:KeyRevalidateInterval (DESIGN.md §5: e2m_key only while the subscription allows this EMSE): after the interval
    /// the EMSE asks the EMKS again, in the background, on the kid's next request. Real UDP, fake EMKS, manual clock.
    /// </summary>
    public sealed class KeyRevalidationTests : IDisposable
    {
        private static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);
        private readonly TempDir _dir = new();
        private readonly FakeEmks _emks = new();
        private readonly ManualTimeProvider _time = new(T0);
        private readonly EmseHost _host;

        public KeyRevalidationTests()
        {
            _host = new EmseHost(_dir.Path, _emks, _time);
        }

        public void Dispose()
        {
            _host.Dispose();
            _dir.Dispose();
        }

        private (TestDevice Device, byte[] Kid, byte[] Key) NewDevice(int seed, string deviceId)
        {
            var (kid, key) = TestDevice.NewKey(new Random(seed));
            _emks.Add(kid, key, T0.AddDays(30), deviceId);
            return (new TestDevice(_host.CoapEndPoint, kid, key, seed), kid, key);
        }

        private static byte Send(TestDevice dev, long value)
        {
            Protected p = dev.Build(new[] { value });
            byte[] r = dev.Exchange(p);
            CoapMessage outer = Coap.Decode(r);
            return outer.Code == CoapCode.Changed ? dev.Verify(p, r) : outer.Code;
        }

        /// <summary>Waits (guard 30 s) until <paramref name="n"/> revalidations have their outcome set.</summary>
        private void WaitRevalidations(long n)
        {
            Assert.True(SpinWait.SpinUntil(() => Interlocked.Read(ref _host.Server.Stats.Revalidations) >= n, 30_000),
                "revalidations: " + _host.Server.Stats);
        }

        [Fact]
        public void Key_the_emks_no_longer_gives_is_dropped_after_the_interval_and_the_device_gets_401()
        {
            (TestDevice dev, byte[] kid, _) = NewDevice(1, "meter-1");
            using (dev)
            {
                Assert.Equal(CoapCode.Changed, Send(dev, 1));
                Assert.Equal(1, _emks.Calls);
                _emks.Remove(kid); // the HSS removed this EMSE from the subscription (EMKS policy sync)

                _time.Advance(TimeSpan.FromMinutes(59));
                Assert.Equal(CoapCode.Changed, Send(dev, 2)); // within the interval: not asked again
                Assert.Equal(1, _emks.Calls);

                _time.Advance(TimeSpan.FromMinutes(2));
                Assert.Equal(CoapCode.Changed, Send(dev, 3)); // due: asked in the background, this request is not held up
                WaitRevalidations(1);
                Assert.Equal(2, _emks.Calls);

                byte[] r = dev.Exchange(dev.Build(new long[] { 4 }));
                CoapMessage outer = Coap.Decode(r);
                Assert.Equal(CoapCode.Unauthorized, outer.Code); // unprotected 4.01 (RFC 8613 §8.2): the device re-keys
                Assert.Equal("Security context not found", Encoding.UTF8.GetString(outer.PayloadBuffer, outer.PayloadOffset, outer.PayloadLength));
                Assert.Equal(1, Interlocked.Read(ref _host.Server.Stats.Revoked));
                Assert.Equal(3, _host.Store.CountReadings());

                _time.Advance(TimeSpan.FromSeconds(6)); // past NegativeCacheTime: pulled again, still 404
                Assert.Equal(CoapCode.Unauthorized, Send(dev, 5));
                Assert.Equal(3, _emks.Calls);
                Assert.Equal(3, _host.Store.CountReadings());
            }
        }

        [Fact]
        public void Unreachable_emks_keeps_the_key_in_use_and_is_asked_again_a_minute_later()
        {
            (TestDevice dev, _, _) = NewDevice(2, "meter-2");
            using (dev)
            {
                Assert.Equal(CoapCode.Changed, Send(dev, 1));
                _emks.Unavailable = true;
                _time.Advance(TimeSpan.FromMinutes(61));
                Assert.Equal(CoapCode.Changed, Send(dev, 2));
                WaitRevalidations(1);
                Assert.Equal(CoapCode.Changed, Send(dev, 3)); // still in use
                Assert.Equal(2, _emks.Calls);                   // and not asked again before a minute

                _emks.Unavailable = false;
                _time.Advance(TimeSpan.FromSeconds(61));
                Assert.Equal(CoapCode.Changed, Send(dev, 4));
                WaitRevalidations(2);
                Assert.Equal(3, _emks.Calls);
                Assert.Equal(CoapCode.Changed, Send(dev, 5)); // the same key: the next question in an hour
                _time.Advance(TimeSpan.FromMinutes(30));
                Assert.Equal(CoapCode.Changed, Send(dev, 6));
                Assert.Equal(3, _emks.Calls);
                Assert.Equal(0, Interlocked.Read(ref _host.Server.Stats.Revoked));
                Assert.Equal(6, _host.Store.CountReadings());
            }
        }

        [Fact]
        public async Task Changed_device_id_pulls_the_key_again_and_keeps_the_replay_window()
        {
            (TestDevice dev, byte[] kid, byte[] key) = NewDevice(3, "meter-3");
            using (dev)
            {
                Protected first = dev.Build(new long[] { 1 });
                Assert.Equal(CoapCode.Changed, dev.Verify(first, dev.Exchange(first)));
                _emks.Add(kid, key, T0.AddDays(30), "meter-3-ext"); // the subscription got an external id
                _time.Advance(TimeSpan.FromMinutes(61));
                Assert.Equal(CoapCode.Changed, Send(dev, 2));   // still stored under the old id
                WaitRevalidations(1);
                Assert.Equal(CoapCode.Changed, Send(dev, 3));   // pulled again: stored under the new id
                Assert.Equal(3, _emks.Calls);
                Assert.Equal(0, Interlocked.Read(ref _host.Server.Stats.Revoked));

                JsonElement newer = await _host.Http.GetFromJsonAsync<JsonElement>("/v1/devices/meter-3-ext/readings");
                Assert.Equal(1, newer.GetProperty("readings").GetArrayLength());
                JsonElement older = await _host.Http.GetFromJsonAsync<JsonElement>("/v1/devices/meter-3/readings");
                Assert.Equal(2, older.GetProperty("readings").GetArrayLength());

                // the new context has the persisted window: the first request again (a retransmission after the lifetime
                // of its exchange is a replay) is not stored twice
                _time.Advance(TimeSpan.FromMinutes(11));
                byte[] again = dev.Exchange(first);
                Assert.Equal(CoapCode.Unauthorized, Coap.Decode(again).Code);
                Assert.Equal(3, _host.Store.CountReadings());
            }
        }

        /// <summary>Gives each key once, then answers 404, like an EMSE with keys only by push; nothing to ask again.</summary>
        private sealed class OnceOnlySource : IEmksKeySource
        {
            private readonly FakeEmks _keys;

            public OnceOnlySource(FakeEmks keys) => _keys = keys;

            public int Calls;

            public bool CanRevalidate => false;

            public Task<EmksKeyLookup> GetKeyAsync(byte[] kid, CancellationToken cancellationToken) =>
                Interlocked.Increment(ref Calls) == 1 ? _keys.GetKeyAsync(kid, cancellationToken) : Task.FromResult(EmksKeyLookup.NotFound());
        }

        [Fact]
        public void A_key_source_that_cannot_be_asked_again_is_never_revalidated()
        {
            Assert.False(((IEmksKeySource)new NoEmksKeySource()).CanRevalidate); // no EMKS: keys only by push
            Assert.False(((IEmksKeySource)new PushedKeySource(new PushedKeyStore(TimeProvider.System), new NoEmksKeySource())).CanRevalidate);
            Assert.True(((IEmksKeySource)new PushedKeySource(new PushedKeyStore(TimeProvider.System), _emks)).CanRevalidate);

            using var dir = new TempDir();
            var keys = new FakeEmks();
            var source = new OnceOnlySource(keys);
            var time = new ManualTimeProvider(T0);
            using var host = new EmseHost(dir.Path, keys, time, services: s => s.AddSingleton<IEmksKeySource>(source));
            var (kid, key) = TestDevice.NewKey(new Random(5));
            keys.Add(kid, key, T0.AddDays(30), "meter-5");
            using var dev = new TestDevice(host.CoapEndPoint, kid, key, 5);
            Assert.Equal(CoapCode.Changed, Send(dev, 1));
            time.Advance(TimeSpan.FromHours(2));
            Assert.Equal(CoapCode.Changed, Send(dev, 2));
            Assert.Equal(CoapCode.Changed, Send(dev, 3));
            Assert.Equal(1, source.Calls);
            Assert.Equal(0, Interlocked.Read(ref host.Server.Stats.Revoked));
        }

        [Fact]
        public void Interval_zero_never_asks_again()
        {
            using var dir = new TempDir();
            var emks = new FakeEmks();
            var time = new ManualTimeProvider(T0);
            using var host = new EmseHost(dir.Path, emks, time, settings: s => s["Emse:KeyRevalidateInterval"] = "00:00:00");
            var (kid, key) = TestDevice.NewKey(new Random(4));
            emks.Add(kid, key, T0.AddDays(30), "meter-4");
            using var dev = new TestDevice(host.CoapEndPoint, kid, key, 4);
            Assert.Equal(CoapCode.Changed, Send(dev, 1));
            emks.Remove(kid);
            time.Advance(TimeSpan.FromDays(20));
            Assert.Equal(CoapCode.Changed, Send(dev, 2));
            Assert.Equal(CoapCode.Changed, Send(dev, 3));
            Assert.Equal(1, emks.Calls);
            Assert.Equal(0, Interlocked.Read(ref host.Server.Stats.Revalidations));
        }
    }
}

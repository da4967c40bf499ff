using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Server.Common.Contracts;
using E2m.Server.Emks.Hss;
using E2m.Server.Emks.Keys;

namespace E2m.Server.Emks.Tests
{
    /// <summary>
    /// HSS/AuC stand-in for the bootstrap tests: Milenage vectors (TS 35.206 on the shared portable code), SQN + 1 per
    /// vector, resync from AUTS (TS 33.102 §6.3.5, MAC-S checked), and — like the real HSS — the push of e2m_int_key
    /// (with RAND) to the EMKS before it answers.
    /// </summary>
    public sealed class FakeHss : IHssAirClient
    {
        private readonly object _lock = new();
        private readonly KeyService _keys;
        private readonly TimeProvider _time;
        private readonly Dictionary<string, Subscriber> _subs = new();
        private readonly Random _random = new(20261128);

        public FakeHss(KeyService keys, TimeProvider time)
        {
            _keys = keys;
            _time = time;
        }

        public int AirCount { get; private set; }

        public int ResyncCount { get; private set; }

        /// <summary>When set, every AIR fails with this.</summary>
        public AirFailure? FailWith { get; set; }

        /// <summary>When set, every AIR is counted at once and then waits for this task (an HSS that is slow to answer).</summary>
        public Task? Hold { get; set; }

        /// <summary>AIRs started so far, counted before <see cref="Hold"/>.</summary>
        public int AirStarted => Volatile.Read(ref _airStarted);

        /// <summary>Makes every AIR wait (an HSS that is slow to answer) until the returned source is completed.</summary>
        public TaskCompletionSource HoldAirs()
        {
            var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Hold = hold.Task;
            return hold;
        }

        /// <summary>Waits until <paramref name="count"/> AIRs have started (a state, not a timing; guard 30 s), then returns how many did.</summary>
        public async Task<int> WaitForAirsAsync(int count)
        {
            for (int i = 0; i < 3000 && AirStarted < count; i++)
            {
                await Task.Delay(10).ConfigureAwait(false);
            }

            return AirStarted;
        }

        private int _airStarted;

        public sealed class Subscriber
        {
            public required byte[] K { get; init; }
            public required byte[] Opc { get; init; }
            public ulong Sqn { get; set; }
            public bool E2m { get; init; } = true;
            public string SubscriptionId { get; init; } = "0123456789abcdef0123456789abcdef";
            public string? ExternalId { get; init; }
            public string[] AllowedEmseIds { get; init; } = { "emse.example.org" };
            public TimeSpan Lifetime { get; init; } = TimeSpan.FromDays(30);
        }

        public void Add(string imsi, Subscriber s)
        {
            lock (_lock) _subs[imsi] = s;
        }

        public Subscriber Get(string imsi)
        {
            lock (_lock) return _subs[imsi];
        }

        public async Task<AuthVector> GetVectorAsync(string imsi, byte[]? resyncRand, byte[]? auts, CancellationToken ct)
        {
            Interlocked.Increment(ref _airStarted);
            if (Hold is { } hold) await hold.WaitAsync(ct).ConfigureAwait(false);
            if (FailWith is { } f) throw new AirException(f, "fake HSS failure");
            Subscriber s;
            byte[] rand = new byte[16], xres = new byte[8], ck = new byte[16], ik = new byte[16], ak = new byte[6], autn = new byte[16];
            lock (_lock)
            {
                AirCount++;
                if (!_subs.TryGetValue(imsi, out s!)) throw new AirException(AirFailure.UnknownSubscriber, "unknown");
                var m = new Milenage(new PlatformCryptoProvider().CreateAes128());
                m.SetKey(s.K, s.Opc);
                if (resyncRand != null && auts != null)
                {
                    var sqnMs = new byte[6];
                    if (!Aka.TryRecoverSqnMs(m, resyncRand, auts, sqnMs)) throw new AirException(AirFailure.Refused, "MAC-S failure");
                    ResyncCount++;
                    s.Sqn = ToUlong(sqnMs); // TS 33.102 §6.3.5: continue after SQN_MS
                }

                s.Sqn++;
                _random.NextBytes(rand);
                byte[] sqn = FromUlong(s.Sqn);
                byte[] amf = { 0x80, 0x00 };
                var macA = new byte[8];
                m.F1(rand, sqn, amf, macA, null);
                m.F2345(rand, xres, ck, ik, ak);
                Aka.BuildAutn(sqn, ak, amf, macA, autn);
            }

            if (s.E2m)
            {
                byte[] intKey = E2mKeyDerivation.DeriveIntKey(ck, ik);
                byte[] kid = E2mKeyDerivation.DeriveKid(intKey);
                await _keys.AcceptPushAsync(new E2mKeyPushRequest
                {
                    Keys = new List<E2mKeyPush>
                    {
                        new()
                        {
                            Kid = Convert.ToHexStringLower(kid),
                            E2mIntKey = Convert.ToHexStringLower(intKey),
                            Expiry = (_time.GetUtcNow() + s.Lifetime).ToUnixTimeSeconds(),
                            Rand = Convert.ToHexStringLower(rand),
                            Subscriber = new E2mSubscriberRef
                            {
                                SubscriptionId = s.SubscriptionId,
                                ExternalId = s.ExternalId,
                                AllowedEmseIds = new List<string>(s.AllowedEmseIds),
                            },
                        },
                    },
                }, ct);
            }

            return new AuthVector(rand, xres, autn, ck, ik);
        }

        internal static ulong ToUlong(byte[] sqn)
        {
            ulong v = 0;
            foreach (byte b in sqn) v = (v << 8) | b;
            return v;
        }

        internal static byte[] FromUlong(ulong v)
        {
            var b = new byte[6];
            for (int i = 5; i >= 0; i--)
            {
                b[i] = (byte)v;
                v >>= 8;
            }

            return b;
        }
    }

    /// <summary>The device's USIM for the tests (TS 31.102 AUTHENTICATE semantics on Milenage): checks AUTN, keeps SQN_MS.</summary>
    public sealed class TestUsim
    {
        private readonly Milenage _m;

        public TestUsim(byte[] k, byte[] opc, ulong sqnMs)
        {
            _m = new Milenage(new PlatformCryptoProvider().CreateAes128());
            _m.SetKey(k, opc);
            SqnMs = sqnMs;
        }

        public ulong SqnMs { get; private set; }

        /// <summary>Success → (RES, CK, IK, null); sync failure → (null, null, null, AUTS); MAC failure → throws.</summary>
        public (byte[]? Res, byte[]? Ck, byte[]? Ik, byte[]? Auts) Authenticate(byte[] rand, byte[] autn)
        {
            var sqn = new byte[6];
            if (!Aka.TryVerifyAutn(_m, rand, autn, sqn)) throw new InvalidOperationException("MAC failure");
            ulong s = FakeHss.ToUlong(sqn);
            if (s <= SqnMs)
            {
                var auts = new byte[14];
                Aka.BuildAuts(_m, rand, FakeHss.FromUlong(SqnMs), auts);
                return (null, null, null, auts);
            }

            SqnMs = s;
            byte[] res = new byte[8], ck = new byte[16], ik = new byte[16], ak = new byte[6];
            _m.F2345(rand, res, ck, ik, ak);
            return (res, ck, ik, null);
        }
    }
}

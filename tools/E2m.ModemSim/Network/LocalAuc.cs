using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using E2m.Crypto;

namespace E2m.ModemSim.Network
{
    /// <summary>One subscriber of the <see cref="LocalAuc"/>.</summary>
    public sealed class AucSubscriber
    {
        public string Imsi { get; init; } = "";
        public byte[] K { get; init; } = new byte[16];
        public byte[] Opc { get; init; } = new byte[16];
        /// <summary>AMF for UTRAN vectors (TS 33.102 §6.3.2 / Annex H). E-UTRAN vectors get the separation bit (0x8000) on top.</summary>
        public ushort Amf { get; init; }
        /// <summary>e2m subscriber: the AMF e2m bit is set in every vector (DESIGN.md §5).</summary>
        public bool E2m { get; init; }
        public SubscriptionPolicy Policy { get; init; } = SubscriptionPolicy.Default;
        /// <summary>Initial SEQ_HE (the last SEQ issued; the next vector uses SEQ_HE + 1).</summary>
        public long SeqHe { get; init; }
    }

    /// <summary>
    /// A local AuC for running without the HSS: Milenage vectors from E2m.Crypto with the HE side of TS 33.102 Annex C:
    /// SQN = SEQ || IND (IND 5 bits), SEQ_HE + 1 per vector, IND allocated cyclically per request (Annex C.3: the
    /// vectors of one request share one IND), never the same SQN twice (lock per AuC), resynchronisation from AUTS
    /// (§6.3.5: SQN_MS recovered with f5* and MAC-S checked with f1*; then SEQ_HE := SEQ_MS and issuing continues at
    /// SEQ_MS + 1, as osmo-hlr does). AMF: subscriber AMF, | 0x8000 (separation bit, TS 33.401 §6.1.1) for E-UTRAN,
    /// | the e2m bit (DESIGN.md §5, default mask 0x4000) for e2m subscribers. With access-key separation the vector
    /// carries CK'/IK' = E2mKeys.DeriveAccessKeys(CK, IK) and, for E-UTRAN, KASME from CK' || IK'.
    /// </summary>
    public sealed class LocalAuc : IAuthVectorSource
    {
        public const ushort AmfSeparationBit = 0x8000; // TS 33.401 §6.1.1 / TS 33.102 Annex H: AMF bit 0
        public const int IndBits = 5;                  // TS 33.102 Annex C.3

        private readonly object _lock = new();
        private readonly Dictionary<string, State> _subscribers = new(StringComparer.Ordinal);
        private readonly Milenage _milenage = new(new PortableCryptoProvider().CreateAes128());
        private readonly E2mKeys _e2mKeys = new(new PortableCryptoProvider().CreateHmacSha256());
        private readonly Func<byte[]> _randSource;

        /// <param name="seed">Seed of the RAND generator (deterministic tests); null = cryptographic RNG.</param>
        public LocalAuc(int? seed = null)
        {
            if (seed.HasValue)
            {
                var rng = new Random(seed.Value);
                _randSource = () =>
                {
                    var r = new byte[16];
                    lock (rng) rng.NextBytes(r);
                    return r;
                };
            }
            else
            {
                _randSource = () => RandomNumberGenerator.GetBytes(16);
            }
        }

        /// <summary>AMF e2m bit (DESIGN.md §5: configurable, default bit 1 = mask 0x4000).</summary>
        public ushort E2mAmfMask { get; set; } = 0x4000;

        public void AddSubscriber(AucSubscriber s)
        {
            ArgumentNullException.ThrowIfNull(s);
            lock (_lock) _subscribers[s.Imsi] = new State(s) { SeqHe = s.SeqHe };
        }

        /// <summary>SEQ_HE (last SEQ issued) of a subscriber.</summary>
        public long SeqHe(string imsi)
        {
            lock (_lock) return Find(imsi).SeqHe;
        }

        /// <summary>Number of requests served (incl. resyncs) per subscriber.</summary>
        public int Requests(string imsi)
        {
            lock (_lock) return Find(imsi).Requests;
        }

        public Task<AuthInfo> GetAuthInfoAsync(AuthInfoRequest request, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            if (request.NumVectors < 1 || request.NumVectors > 5) throw new AuthInfoException(AuthInfoError.BadRequest, "numVectors 1..5");
            if ((request.ResyncRand == null) != (request.ResyncAuts == null)) throw new AuthInfoException(AuthInfoError.BadRequest, "resync needs rand and auts");
            lock (_lock)
            {
                State st = Find(request.Imsi);
                _milenage.SetKey(st.Sub.K, st.Sub.Opc);
                try
                {
                    if (request.ResyncRand != null)
                    {
                        if (request.ResyncRand.Length != 16 || request.ResyncAuts!.Length != Aka.AutsLength)
                        {
                            throw new AuthInfoException(AuthInfoError.BadRequest, "resync rand 16, auts 14 octets");
                        }

                        var sqnMs = new byte[6];
                        if (!Aka.TryRecoverSqnMs(_milenage, request.ResyncRand, request.ResyncAuts, sqnMs))
                        {
                            throw new AuthInfoException(AuthInfoError.ResyncRejected, "AUTS MAC-S does not verify");
                        }

                        // TS 33.102 Annex C.3 / §6.3.5: SQN_HE := SQN_MS (SEQ part), continue above it.
                        st.SeqHe = (long)(ToUInt48(sqnMs) >> IndBits);
                    }

                    st.Requests++;
                    int ind = st.NextInd;
                    st.NextInd = (st.NextInd + 1) % (1 << IndBits);          // Annex C.3: IND cycled per request
                    var vectors = new AuthVector[request.NumVectors];
                    for (int i = 0; i < vectors.Length; i++)
                    {
                        st.SeqHe++;
                        ulong sqn = ((ulong)st.SeqHe << IndBits) | (uint)ind;
                        vectors[i] = Generate(st.Sub, sqn, request);
                    }

                    return Task.FromResult(new AuthInfo { Vectors = vectors, Policy = st.Sub.Policy });
                }
                finally
                {
                    _milenage.Clear();
                }
            }
        }

        private AuthVector Generate(AucSubscriber sub, ulong sqnValue, AuthInfoRequest request)
        {
            ushort amfValue = sub.Amf;
            if (request.Domain == VectorDomain.Eutran) amfValue |= AmfSeparationBit;
            if (sub.E2m) amfValue |= E2mAmfMask;
            byte[] rand = _randSource();
            byte[] sqn = FromUInt48(sqnValue);
            byte[] amf = { (byte)(amfValue >> 8), (byte)amfValue };
            byte[] mac = new byte[8], res = new byte[8], ck = new byte[16], ik = new byte[16], ak = new byte[6], autn = new byte[16];
            _milenage.F1(rand, sqn, amf, mac, null);
            _milenage.F2345(rand, res, ck, ik, ak);
            Aka.BuildAutn(sqn, ak, amf, mac, autn);
            if (sub.Policy.AccessKeySeparation)
            {
                byte[] ckPrime = new byte[16], ikPrime = new byte[16];
                _e2mKeys.DeriveAccessKeys(ck, ik, ckPrime, ikPrime);     // DESIGN.md §5
                Array.Clear(ck);
                Array.Clear(ik);
                ck = ckPrime;
                ik = ikPrime;
            }

            byte[]? kasme = null;
            if (request.Domain == VectorDomain.Eutran)
            {
                kasme = NetworkKeys.Kasme(ck, ik, NetworkKeys.PlmnId(request.Plmn), autn.AsSpan(0, 6).ToArray());
            }

            return new AuthVector { Rand = rand, Xres = res, Autn = autn, Ck = ck, Ik = ik, Kasme = kasme };
        }

        private State Find(string imsi)
        {
            if (imsi == null || !_subscribers.TryGetValue(imsi, out State? st)) throw new AuthInfoException(AuthInfoError.UnknownSubscriber, "unknown subscriber");
            return st;
        }

        private static ulong ToUInt48(byte[] b)
        {
            ulong v = 0;
            for (int i = 0; i < 6; i++) v = (v << 8) | b[i];
            return v;
        }

        private static byte[] FromUInt48(ulong v)
        {
            var b = new byte[6];
            for (int i = 5; i >= 0; i--, v >>= 8) b[i] = (byte)v;
            return b;
        }

        private sealed class State
        {
            public State(AucSubscriber sub) => Sub = sub;

            public AucSubscriber Sub { get; }
            public long SeqHe;
            public int NextInd;
            public int Requests;
        }
    }
}

using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using E2m.Crypto;
using E2m.Modem.Usim;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Usim;

namespace E2m.ModemSim.Network
{
    /// <summary>How an attach ended (typed; the GMM/EMM cause is in <see cref="AttachResult.Cause"/>).</summary>
    public enum AttachStatus
    {
        RegisteredHome = 1,
        RegisteredRoaming = 2,
        /// <summary>Network refused: subscription (cause #2/#7), GPRS cipher policy (#7, <see cref="DenyReason.CipheringBelowPolicy"/>).</summary>
        Denied = 3,
        /// <summary>The USIM answered '98 62' (TS 33.102 §6.3.3); ME sends AUTHENTICATION FAILURE #20 (TS 24.008 §10.5.5.14).</summary>
        AuthFailureMac = 4,
        /// <summary>Sync failure persisted after one resynchronisation (#21), or the vector source rejected the AUTS.</summary>
        SyncFailureUnresolved = 5,
        /// <summary>RES ≠ XRES: the network sends AUTHENTICATION REJECT (TS 24.008 §4.7.7.5; reported with #3 illegal MS).</summary>
        AuthRejected = 6,
        /// <summary>EPS: AMF separation bit 0 → the ME rejects (TS 33.401 §6.1.1, EMM cause #26 non-EPS authentication unacceptable).</summary>
        NonEpsAuthUnacceptable = 7,
        /// <summary>ME and network derived different access keys (e.g. separation configured on one side only).</summary>
        SecurityModeFailure = 8,
        SimMissing = 9,
        SimBusy = 10,
        /// <summary>The card needs PIN1 and the ME has none ('69 82').</summary>
        SimPinRequired = 11,
        /// <summary>The USIM refused AUTHENTICATE with another status word (<see cref="AttachResult.UsimStatusWord"/>).</summary>
        UsimRefused = 12,
        /// <summary>The vector source failed (HSS unreachable or malformed answer): #17 network failure.</summary>
        NetworkFailure = 13,
    }

    /// <summary>Detail of a <see cref="AttachStatus.Denied"/>.</summary>
    public enum DenyReason
    {
        None = 0,
        UnknownSubscriber = 1,
        PsNotAllowed = 2,
        CipheringBelowPolicy = 3,
    }

    /// <summary>Typed attach outcome.</summary>
    public sealed class AttachResult
    {
        public AttachStatus Status { get; init; }
        public DenyReason DenyReason { get; init; }
        /// <summary>TS 24.008 §10.5.5.14 GMM cause / TS 24.301 §9.9.3.9 EMM cause; 0 = none.</summary>
        public int Cause { get; init; }
        public SimRat Rat { get; init; }
        public string? Imsi { get; init; }
        /// <summary>GPRS: the ciphering algorithm the SGSN selected (strongest common one).</summary>
        public GeaAlgorithm? Gea { get; init; }
        /// <summary>AUTHENTICATE commands sent to the USIM (2 after a resynchronisation).</summary>
        public int AuthAttempts { get; init; }
        public bool Resynchronised { get; init; }
        /// <summary>EF_KeysPS updated (GPRS/UMTS only; DESIGN.md §3).</summary>
        public bool KeysPsWritten { get; init; }
        /// <summary>SW of the EF_KeysPS UPDATE BINARY, 0 if not attempted.</summary>
        public int KeysPsStatusWord { get; init; }
        /// <summary>Key set identifier assigned by the network (TS 24.008 §10.5.1.2: 0..6).</summary>
        public int Ksi { get; init; }
        /// <summary>Last USIM status word that decided the outcome (e.g. 9862, 6982).</summary>
        public int UsimStatusWord { get; init; }

        public bool IsRegistered => Status == AttachStatus.RegisteredHome || Status == AttachStatus.RegisteredRoaming;

        public override string ToString() => $"{Status} cause {Cause} {DenyReason} rat {Rat} auth {AuthAttempts}{(Resynchronised ? " resync" : "")}";
    }

    /// <summary>Configuration of the simulated SGSN/MME.</summary>
    public sealed class ServingNodeOptions
    {
        /// <summary>Serving PLMN (MCC + MNC digits). A UE whose IMSI starts with it (or with an equivalent home PLMN) is home.</summary>
        public string Plmn { get; set; } = "00101";

        public string[] EquivalentHomePlmns { get; set; } = Array.Empty<string>();

        /// <summary>Ciphering algorithms the SGSN supports (GEA0 always).</summary>
        public GeaAlgorithm[] NetworkGea { get; set; } = { GeaAlgorithm.Gea1, GeaAlgorithm.Gea2, GeaAlgorithm.Gea3, GeaAlgorithm.Gea4 };

        /// <summary>Policy when the vector source gives none (e.g. an HSS without the policy extension).</summary>
        public SubscriptionPolicy DefaultPolicy { get; set; } = SubscriptionPolicy.Default;

        /// <summary>Vectors per request (1..5).</summary>
        public int VectorsPerRequest { get; set; } = 1;

        /// <summary>For attaches started by the simulated modem (<see cref="IServingNetwork"/>): how to build the ME for a card.</summary>
        public Func<ISimCard, SimulatedUe>? UeFactory { get; set; }
    }

    /// <summary>
    /// Simulated serving node (SGSN for GPRS/UMTS PS, MME for LTE-M/NB-IoT), unmodified as DESIGN.md §1 wants it: on attach
    /// it fetches vectors from an <see cref="IAuthVectorSource"/>, applies the subscription's GPRS cipher policy, runs AKA
    /// with the USIM through the ME (<see cref="SimulatedUe"/> over <see cref="ISimCard"/>), compares RES with XRES,
    /// resynchronises once on sync failure (RAND + AUTS to the source, TS 33.102 §6.3.5), checks that both sides hold the
    /// same access keys (Kc / CK,IK / KASME), and lets the ME store EF_KeysPS after a PS AKA on GPRS/UMTS. Implements the
    /// modem's <see cref="IServingNetwork"/> seam. Thread-safe per attach (state: KSI per IMSI).
    /// </summary>
    public sealed class ServingNode : IServingNetwork
    {
        private readonly IAuthVectorSource _source;
        private readonly ServingNodeOptions _options;
        private readonly Dictionary<string, int> _ksi = new(StringComparer.Ordinal);

        public ServingNode(IAuthVectorSource source, ServingNodeOptions? options = null)
        {
            _source = source ?? throw new ArgumentNullException(nameof(source));
            _options = options ?? new ServingNodeOptions();
            if (_options.VectorsPerRequest < 1 || _options.VectorsPerRequest > 5) throw new ArgumentOutOfRangeException(nameof(options));
            NetworkKeys.PlmnId(_options.Plmn); // validates
        }

        public ServingNodeOptions Options => _options;

        string IServingNetwork.Plmn => _options.Plmn;

        /// <summary>Synchronous form of <see cref="AttachAsync"/> (the simulated modem runs on its own thread).</summary>
        public AttachResult Attach(SimulatedUe ue, SimRat rat) => AttachAsync(ue, rat).GetAwaiter().GetResult();

        AttachOutcome IServingNetwork.Attach(ISimCard card, string imsi, SimRat rat)
        {
            SimulatedUe ue = _options.UeFactory?.Invoke(card) ?? new SimulatedUe(card);
            AttachResult r = Attach(ue, rat);
            string note = r.ToString();
            return r.Status switch
            {
                AttachStatus.RegisteredHome => new AttachOutcome { Stat = 1, Plmn = _options.Plmn, Note = note },
                AttachStatus.RegisteredRoaming => new AttachOutcome { Stat = 5, Plmn = _options.Plmn, Note = note },
                _ => new AttachOutcome { Stat = 3, Plmn = _options.Plmn, Note = note },
            };
        }

        public async Task<AttachResult> AttachAsync(SimulatedUe ue, SimRat rat, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(ue);
            try
            {
                return await AttachCore(ue, rat, cancellationToken).ConfigureAwait(false);
            }
            catch (SimNotPresentException)
            {
                return new AttachResult { Status = AttachStatus.SimMissing, Rat = rat };
            }
            catch (SimBusyException)
            {
                return new AttachResult { Status = AttachStatus.SimBusy, Rat = rat };
            }
        }

        private async Task<AttachResult> AttachCore(SimulatedUe ue, SimRat rat, CancellationToken ct)
        {
            ue.BeginAttach();
            if (!ue.Card.Present) return new AttachResult { Status = AttachStatus.SimMissing, Rat = rat };

            // ME: USIM application on the basic channel, IMSI for the ATTACH REQUEST.
            int sw = ue.SelectUsim();
            if (sw != StatusWords.Ok) return new AttachResult { Status = AttachStatus.UsimRefused, Rat = rat, UsimStatusWord = sw };
            sw = ue.ReadImsi();
            if (sw == StatusWords.SecurityNotSatisfied) return new AttachResult { Status = AttachStatus.SimPinRequired, Rat = rat, UsimStatusWord = sw };
            if (sw != StatusWords.Ok) return new AttachResult { Status = AttachStatus.UsimRefused, Rat = rat, UsimStatusWord = sw };
            string imsi = ue.Imsi!;

            // Network: authentication information (SAI/AIR).
            VectorDomain domain = RatInfo.DomainOf(rat);
            AuthInfo info;
            try
            {
                info = await _source.GetAuthInfoAsync(new AuthInfoRequest
                {
                    Imsi = imsi, NumVectors = _options.VectorsPerRequest, Domain = domain, Plmn = _options.Plmn,
                }, ct).ConfigureAwait(false);
            }
            catch (AuthInfoException e) when (e.Error == AuthInfoError.UnknownSubscriber)
            {
                // TS 24.008 §10.5.5.14 #2 "IMSI unknown in HLR".
                return new AttachResult { Status = AttachStatus.Denied, DenyReason = DenyReason.UnknownSubscriber, Cause = 2, Rat = rat, Imsi = imsi };
            }
            catch (AuthInfoException)
            {
                return new AttachResult { Status = AttachStatus.NetworkFailure, Cause = 17, Rat = rat, Imsi = imsi }; // #17 network failure
            }

            SubscriptionPolicy policy = info.Policy ?? _options.DefaultPolicy;
            if (!policy.PsAllowed)
            {
                // #7 "GPRS services not allowed" (TS 24.008 §10.5.5.14).
                return new AttachResult { Status = AttachStatus.Denied, DenyReason = DenyReason.PsNotAllowed, Cause = 7, Rat = rat, Imsi = imsi };
            }

            // GPRS cipher policy (DESIGN.md §5): the SGSN selects the strongest algorithm both sides support (announced in the
            // MS network capability, TS 24.008 §10.5.5.12) and refuses the attach when that is below the subscription's
            // minimum. No 24.008 cause names a cipher policy: #7 "GPRS services not allowed" is our choice. No APDU is sent.
            GeaAlgorithm? gea = null;
            if (rat == SimRat.Gprs)
            {
                gea = Negotiate(ue.SupportedGea, _options.NetworkGea);
                if (gea.Value < policy.MinimumGea)
                {
                    return new AttachResult
                    {
                        Status = AttachStatus.Denied, DenyReason = DenyReason.CipheringBelowPolicy, Cause = 7, Rat = rat, Imsi = imsi, Gea = gea,
                    };
                }
            }

            // AKA (TS 33.102 §6.3), with one resynchronisation (§6.3.5).
            AuthVector[] vectors = info.Vectors;
            int attempts = 0;
            bool resynced = false;
            AuthVector v;
            AuthenticateResult auth;
            while (true)
            {
                v = vectors[0];
                if (RatInfo.IsEps(rat) && (v.Autn[6] & 0x80) == 0)
                {
                    // TS 33.401 §6.1.1: the ME rejects an EPS challenge whose AMF separation bit is 0 (EMM cause #26).
                    return new AttachResult { Status = AttachStatus.NonEpsAuthUnacceptable, Cause = 26, Rat = rat, Imsi = imsi, AuthAttempts = attempts };
                }

                attempts++;
                auth = ue.Authenticate(v.Rand, v.Autn);
                if (auth.Kind != AuthenticateKind.SyncFailure) break;
                if (resynced)
                {
                    auth.Clear();
                    return new AttachResult { Status = AttachStatus.SyncFailureUnresolved, Cause = 21, Rat = rat, Imsi = imsi, AuthAttempts = attempts, Resynchronised = true };
                }

                try
                {
                    AuthInfo again = await _source.GetAuthInfoAsync(new AuthInfoRequest
                    {
                        Imsi = imsi, NumVectors = _options.VectorsPerRequest, Domain = domain, Plmn = _options.Plmn,
                        ResyncRand = (byte[])v.Rand.Clone(), ResyncAuts = (byte[])auth.Auts.Clone(),
                    }, ct).ConfigureAwait(false);
                    vectors = again.Vectors;
                }
                catch (AuthInfoException)
                {
                    auth.Clear();
                    return new AttachResult { Status = AttachStatus.SyncFailureUnresolved, Cause = 21, Rat = rat, Imsi = imsi, AuthAttempts = attempts };
                }

                resynced = true;
            }

            switch (auth.Kind)
            {
                case AuthenticateKind.Success:
                    break;
                case AuthenticateKind.MacFailure:
                    return new AttachResult
                    {
                        Status = AttachStatus.AuthFailureMac, Cause = 20, Rat = rat, Imsi = imsi, AuthAttempts = attempts, Resynchronised = resynced,
                        UsimStatusWord = StatusWords.AuthMacFailure,
                    };
                default:
                    int usw = auth.Status.Value;
                    return new AttachResult
                    {
                        Status = usw == StatusWords.SecurityNotSatisfied ? AttachStatus.SimPinRequired : AttachStatus.UsimRefused,
                        Rat = rat, Imsi = imsi, AuthAttempts = attempts, UsimStatusWord = usw,
                    };
            }

            // Network compares RES with XRES (TS 33.102 §6.3.3).
            bool resOk = auth.ResLength == v.Xres.Length && CryptoUtil.FixedTimeEquals(auth.Res, 0, v.Xres, 0, v.Xres.Length);
            byte[] ck = (byte[])auth.Ck.Clone(), ik = (byte[])auth.Ik.Clone();
            auth.Clear();
            if (!resOk)
            {
                return new AttachResult { Status = AttachStatus.AuthRejected, Cause = 3, Rat = rat, Imsi = imsi, AuthAttempts = attempts, Resynchronised = resynced };
            }

            ue.TakeKeys(ck, ik);
            Array.Clear(ck);
            Array.Clear(ik);

            // Security mode: both ends must hold the same access keys.
            if (!AccessKeysAgree(ue, v, rat, gea))
            {
                return new AttachResult { Status = AttachStatus.SecurityModeFailure, Rat = rat, Imsi = imsi, AuthAttempts = attempts, Resynchronised = resynced };
            }

            int ksi = NextKsi(imsi);
            bool written = false;
            int keysSw = 0;
            if (!RatInfo.IsEps(rat) && ue.StoresKeysPs)
            {
                // DESIGN.md §3: after a PS-domain AKA on GPRS/UMTS the ME stores KSI, CK, IK in EF_KeysPS. EPS attaches keep
                // their context in EF_EPSNSC / the ME and do not refresh EF_KeysPS.
                keysSw = ue.WriteKeysPs(ksi);
                written = keysSw == StatusWords.Ok;
            }

            return new AttachResult
            {
                Status = IsHome(imsi) ? AttachStatus.RegisteredHome : AttachStatus.RegisteredRoaming,
                Rat = rat, Imsi = imsi, Gea = gea, AuthAttempts = attempts, Resynchronised = resynced,
                KeysPsWritten = written, KeysPsStatusWord = keysSw, Ksi = ksi,
            };
        }

        /// <summary>Strongest algorithm in both sets; GEA0 when there is none (TS 43.020: GEA0 = no ciphering, always available).</summary>
        public static GeaAlgorithm Negotiate(GeaAlgorithm[] ue, GeaAlgorithm[] network)
        {
            GeaAlgorithm best = GeaAlgorithm.Gea0;
            foreach (GeaAlgorithm a in ue)
            {
                if (Array.IndexOf(network, a) >= 0 && a > best) best = a;
            }

            return best;
        }

        private bool AccessKeysAgree(SimulatedUe ue, AuthVector v, SimRat rat, GeaAlgorithm? gea)
        {
            byte[] meCk = ue.AccessCk!, meIk = ue.AccessIk!;
            if (RatInfo.IsEps(rat))
            {
                // TS 33.401 A.2: KASME from CK||IK, SN id and SQN ⊕ AK (the first 6 octets of AUTN).
                byte[] sqnXorAk = v.Autn.AsSpan(0, 6).ToArray();
                byte[] snId = NetworkKeys.PlmnId(_options.Plmn);
                byte[] meKasme = NetworkKeys.Kasme(meCk, meIk, snId, sqnXorAk);
                byte[] netKasme = v.Kasme ?? NetworkKeys.Kasme(v.Ck, v.Ik, snId, sqnXorAk);
                return CryptoUtil.FixedTimeEquals(meKasme, 0, netKasme, 0, 32);
            }

            if (rat == SimRat.Gprs && gea < GeaAlgorithm.Gea4)
            {
                // GEA1..3 use Kc = c3(CK, IK) (TS 33.102 §6.8.1.2); with GEA0 nothing is ciphered, but the keys still must agree.
                return CryptoUtil.FixedTimeEquals(NetworkKeys.Kc(meCk, meIk), 0, NetworkKeys.Kc(v.Ck, v.Ik), 0, 8);
            }

            return CryptoUtil.FixedTimeEquals(meCk, 0, v.Ck, 0, 16) && CryptoUtil.FixedTimeEquals(meIk, 0, v.Ik, 0, 16);
        }

        private bool IsHome(string imsi)
        {
            if (imsi.StartsWith(_options.Plmn, StringComparison.Ordinal)) return true;
            foreach (string p in _options.EquivalentHomePlmns)
            {
                if (imsi.StartsWith(p, StringComparison.Ordinal)) return true;
            }

            return false;
        }

        private int NextKsi(string imsi)
        {
            lock (_ksi)
            {
                int k = _ksi.TryGetValue(imsi, out int last) ? (last + 1) % 7 : 0; // 0..6; 7 = no key (TS 24.008 §10.5.1.2)
                _ksi[imsi] = k;
                return k;
            }
        }
    }
}

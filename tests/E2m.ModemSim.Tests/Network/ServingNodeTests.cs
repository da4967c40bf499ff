using System;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Crypto;
using E2m.Modem.Usim;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Network;
using E2m.ModemSim.Usim;
using E2m.TestSupport;
using Xunit;
using static E2m.ModemSim.Tests.Usim.CardHelper;

namespace E2m.ModemSim.Tests.Network
{
    public class ServingNodeTests
    {
        private const string Imsi = "001010000000042";

        private static (SimulatedUsim Card, LocalAuc Auc) Subscriber(int seed, SubscriptionPolicy? policy = null, bool t0 = false,
            string? pin = null, string imsi = Imsi, ulong[]? cardAccepted = null, bool otherK = false)
        {
            var rng = new Random(seed);
            UsimProfile p = RandomProfile(rng, t0);
            p.Imsi = imsi;
            p.Pin1 = pin;
            p.AcceptedSqns = cardAccepted ?? Array.Empty<ulong>();
            var auc = new LocalAuc(seed);
            byte[] k = (byte[])p.K.Clone();
            if (otherK) k[0] ^= 0x80;
            auc.AddSubscriber(new AucSubscriber { Imsi = imsi, K = k, Opc = p.Opc, Policy = policy ?? SubscriptionPolicy.Default });
            return (new SimulatedUsim(p), auc);
        }

        [Theory]
        [InlineData(SimRat.Gprs)]
        [InlineData(SimRat.Umts)]
        public void Ps_attach_on_gprs_umts_runs_aka_and_stores_ef_keysps(SimRat rat)
        {
            (SimulatedUsim card, LocalAuc auc) = Subscriber(1, t0: rat == SimRat.Gprs);
            var node = new ServingNode(auc);
            var ue = new SimulatedUe(card);
            AttachResult r = node.Attach(ue, rat);
            Assert.Equal(AttachStatus.RegisteredHome, r.Status);
            Assert.Equal(Imsi, r.Imsi);
            Assert.Equal(1, r.AuthAttempts);
            Assert.True(r.KeysPsWritten);
            Assert.Equal(rat == SimRat.Gprs ? GeaAlgorithm.Gea3 : null, r.Gea);
            // EF_KeysPS = KSI || CK || IK (TS 31.102 §4.2.4), read back with the firmware's decoder.
            byte[] ef = card.ReadFileAdmin(0x6F09);
            var keys = new UsimKeys();
            keys.Decode(ef, 0, ef.Length);
            Assert.True(keys.HasKey);
            Assert.Equal(r.Ksi, keys.Ksi);
            Assert.Equal(ue.UsimCk, keys.Ck);
            Assert.Equal(ue.UsimIk, keys.Ik);
            // Annex C: first request uses IND 0, SEQ 1.
            Assert.Equal(1, card.Sqn.GetSeqMs(0));

            // A second attach: next IND (cycled per request), next SEQ, next KSI.
            AttachResult r2 = node.Attach(ue, rat);
            Assert.True(r2.IsRegistered);
            Assert.Equal(2, card.Sqn.GetSeqMs(1));
            Assert.Equal((r.Ksi + 1) % 7, r2.Ksi);
        }

        [Theory]
        [InlineData(SimRat.LteM)]
        [InlineData(SimRat.NbIot)]
        public void Eps_attach_does_not_refresh_ef_keysps(SimRat rat)
        {
            (SimulatedUsim card, LocalAuc auc) = Subscriber(2);
            byte[] before = card.ReadFileAdmin(0x6F09);
            var ue = new SimulatedUe(card);
            AttachResult r = new ServingNode(auc).Attach(ue, rat);
            Assert.Equal(AttachStatus.RegisteredHome, r.Status);
            Assert.False(r.KeysPsWritten);
            Assert.Equal(0, r.KeysPsStatusWord);
            Assert.Equal(before, card.ReadFileAdmin(0x6F09));
            Assert.Equal(0x07, before[0]); // still "no key"
            Assert.NotNull(ue.UsimCk);
        }

        [Fact]
        public void Card_ahead_of_the_auc_is_resynchronised_and_the_retry_succeeds()
        {
            // The card has accepted SEQ 5000 in IND 0 and 4000 in IND 3; the AuC starts at SEQ 1 with IND 0 → not fresh.
            // (A card ahead only in another IND would accept SEQ 1 in IND 0: that is the point of the Annex C array.)
            (SimulatedUsim card, LocalAuc auc) = Subscriber(3, cardAccepted: new[] { (5000UL << 5) | 0, (4000UL << 5) | 3 });
            AttachResult r = new ServingNode(auc).Attach(new SimulatedUe(card), SimRat.Umts);
            Assert.Equal(AttachStatus.RegisteredHome, r.Status);
            Assert.True(r.Resynchronised);
            Assert.Equal(2, r.AuthAttempts);
            Assert.Equal(5001, auc.SeqHe(Imsi));                 // SQN_HE := SQN_MS, then SEQ + 1
            Assert.Equal(5001, card.Sqn.GetSeqMs(1));            // second request → IND 1
            Assert.Equal(5000, card.Sqn.GetSeqMs(0));
            Assert.Equal(4000, card.Sqn.GetSeqMs(3));
        }

        [Fact]
        public void Source_that_ignores_resync_ends_in_sync_failure_unresolved()
        {
            (SimulatedUsim card, LocalAuc auc) = Subscriber(4, cardAccepted: new[] { (9000UL << 5) | 0, (9000UL << 5) | 1 });
            var stale = new StaleSource(auc);
            AttachResult r = new ServingNode(stale).Attach(new SimulatedUe(card), SimRat.Umts);
            Assert.Equal(AttachStatus.SyncFailureUnresolved, r.Status);
            Assert.Equal(21, r.Cause);
            Assert.Equal(2, r.AuthAttempts);
            Assert.Equal(9000, card.Sqn.SeqMsMax);
        }

        [Fact]
        public void Wrong_key_at_the_auc_is_a_mac_failure_with_no_card_state_change()
        {
            (SimulatedUsim card, LocalAuc auc) = Subscriber(5, otherK: true);
            AttachResult r = new ServingNode(auc).Attach(new SimulatedUe(card), SimRat.Umts);
            Assert.Equal(AttachStatus.AuthFailureMac, r.Status);
            Assert.Equal(20, r.Cause);
            Assert.Equal(0x9862, r.UsimStatusWord);
            Assert.All(SeqArray(card), s => Assert.Equal(0, s));
            Assert.Equal(0x07, card.ReadFileAdmin(0x6F09)[0]);
        }

        [Fact]
        public void Gea_policy_refuses_an_attach_below_the_minimum_before_any_challenge()
        {
            var policy = new SubscriptionPolicy { MinimumGea = GeaAlgorithm.Gea3 };
            (SimulatedUsim card, LocalAuc auc) = Subscriber(6, policy);
            var node = new ServingNode(auc);
            var weakUe = new SimulatedUe(card) { SupportedGea = new[] { GeaAlgorithm.Gea1, GeaAlgorithm.Gea2 } };
            AttachResult r = node.Attach(weakUe, SimRat.Gprs);
            Assert.Equal(AttachStatus.Denied, r.Status);
            Assert.Equal(DenyReason.CipheringBelowPolicy, r.DenyReason);
            Assert.Equal(7, r.Cause);
            Assert.Equal(GeaAlgorithm.Gea2, r.Gea);
            Assert.Equal(0, card.AuthenticateCount);

            // Network limited to GEA1/GEA2: refused even for a GEA3 ME.
            var oldSgsn = new ServingNode(auc, new ServingNodeOptions { NetworkGea = new[] { GeaAlgorithm.Gea1, GeaAlgorithm.Gea2 } });
            Assert.Equal(DenyReason.CipheringBelowPolicy, oldSgsn.Attach(new SimulatedUe(card), SimRat.Gprs).DenyReason);

            AttachResult ok = node.Attach(new SimulatedUe(card) { SupportedGea = new[] { GeaAlgorithm.Gea3, GeaAlgorithm.Gea4 } }, SimRat.Gprs);
            Assert.True(ok.IsRegistered);
            Assert.Equal(GeaAlgorithm.Gea4, ok.Gea);
            // The policy is GPRS-only: UMTS and LTE-M attach with the weak ME.
            Assert.True(node.Attach(weakUe, SimRat.Umts).IsRegistered);
            Assert.True(node.Attach(weakUe, SimRat.LteM).IsRegistered);
        }

        [Theory]
        [InlineData(SimRat.Gprs)]
        [InlineData(SimRat.Umts)]
        [InlineData(SimRat.LteM)]
        public void Access_key_separation_needs_both_sides_and_keeps_usim_keys_for_e2m(SimRat rat)
        {
            var policy = new SubscriptionPolicy { AccessKeySeparation = true };
            (SimulatedUsim card, LocalAuc auc) = Subscriber(7, policy);
            var node = new ServingNode(auc);
            var aware = new SimulatedUe(card) { AccessKeySeparation = true };
            AttachResult r = node.Attach(aware, rat);
            Assert.True(r.IsRegistered, r.ToString());
            byte[] ckP = new byte[16], ikP = new byte[16];
            new E2mKeys(new PortableCryptoProvider().CreateHmacSha256()).DeriveAccessKeys(aware.UsimCk!, aware.UsimIk!, ckP, ikP);
            Assert.Equal(ckP, aware.AccessCk);
            Assert.Equal(ikP, aware.AccessIk);
            Assert.NotEqual(aware.UsimCk, aware.AccessCk);
            if (rat != SimRat.LteM) Assert.Equal(aware.UsimCk, card.ReadFileAdmin(0x6F09).AsSpan(1, 16).ToArray()); // e2m keys in EF_KeysPS

            // A stock ME against a separating network (and the reverse) cannot agree on access keys.
            Assert.Equal(AttachStatus.SecurityModeFailure, node.Attach(new SimulatedUe(card), rat).Status);
            (SimulatedUsim plainCard, LocalAuc plainAuc) = Subscriber(8);
            Assert.Equal(AttachStatus.SecurityModeFailure,
                new ServingNode(plainAuc).Attach(new SimulatedUe(plainCard) { AccessKeySeparation = true }, rat).Status);
        }

        [Fact]
        public void Set1_access_keys_equal_the_e2m_kdf_vector()
        {
            // TS 35.208 set 1 challenge from a fixed source that applies separation (CK'/IK' from e2m-kdf.json).
            JsonElement s = Set(1);
            JsonElement kdf = Vectors.Load("e2m-kdf.json").RootElement.GetProperty("cases")[0];
            var source = new FixedSource(new AuthVector
            {
                Rand = Hex.Decode(s.GetProperty("RAND").GetString()),
                Autn = Hex.Decode("55f328b43577b9b94a9ffac354dfafb3"),
                Xres = Hex.Decode(s.GetProperty("f2").GetString()),
                Ck = Hex.Decode(kdf.GetProperty("ck_prime").GetString()),
                Ik = Hex.Decode(kdf.GetProperty("ik_prime").GetString()),
            });
            UsimProfile p = Set1Profile();
            p.Imsi = Imsi;
            var card = new SimulatedUsim(p);
            var ue = new SimulatedUe(card) { AccessKeySeparation = true };
            AttachResult r = new ServingNode(source).Attach(ue, SimRat.Umts);
            Assert.Equal(AttachStatus.RegisteredHome, r.Status);
            Assert.Equal(kdf.GetProperty("ck").GetString(), Hex.Encode(ue.UsimCk!));
            Assert.Equal(kdf.GetProperty("ik").GetString(), Hex.Encode(ue.UsimIk!));
            Assert.Equal(kdf.GetProperty("ck_prime").GetString(), Hex.Encode(ue.AccessCk!));
            Assert.Equal(kdf.GetProperty("ik_prime").GetString(), Hex.Encode(ue.AccessIk!));
        }

        [Fact]
        public void Eps_challenge_without_separation_bit_is_rejected_by_the_me()
        {
            // Set 1 AMF b9b9 has bit 0 set; a UTRAN-style AMF 0000 vector on LTE-M is refused (TS 33.401 §6.1.1).
            (SimulatedUsim card, LocalAuc auc) = Subscriber(9);
            var utranOnly = new DomainOverride(auc, VectorDomain.Utran);
            AttachResult r = new ServingNode(utranOnly).Attach(new SimulatedUe(card), SimRat.LteM);
            Assert.Equal(AttachStatus.NonEpsAuthUnacceptable, r.Status);
            Assert.Equal(26, r.Cause);
            Assert.Equal(0, card.AuthenticateCount);
        }

        [Fact]
        public void Pin_roaming_missing_busy_and_unknown_subscriber_are_typed()
        {
            (SimulatedUsim card, LocalAuc auc) = Subscriber(10, pin: "2468");
            var node = new ServingNode(auc);
            Assert.Equal(AttachStatus.SimPinRequired, node.Attach(new SimulatedUe(card), SimRat.Umts).Status);
            AttachResult withPin = node.Attach(new SimulatedUe(card) { Pin = "2468" }, SimRat.Umts);
            Assert.Equal(AttachStatus.RegisteredHome, withPin.Status);
            Assert.True(withPin.KeysPsWritten);                        // UPDATE after VERIFY, as a real ME

            (SimulatedUsim visitor, LocalAuc home) = Subscriber(11, imsi: "262019876543210");
            Assert.Equal(AttachStatus.RegisteredRoaming, new ServingNode(home).Attach(new SimulatedUe(visitor), SimRat.LteM).Status);
            Assert.Equal(AttachStatus.RegisteredHome, new ServingNode(home, new ServingNodeOptions { Plmn = "26201" })
                .Attach(new SimulatedUe(visitor), SimRat.LteM).Status);

            (SimulatedUsim stranger, _) = Subscriber(12, imsi: "001019999999999");
            AttachResult unknown = node.Attach(new SimulatedUe(stranger), SimRat.Umts);
            Assert.Equal(AttachStatus.Denied, unknown.Status);
            Assert.Equal(DenyReason.UnknownSubscriber, unknown.DenyReason);

            card.Busy = true;
            Assert.Equal(AttachStatus.SimBusy, node.Attach(new SimulatedUe(card), SimRat.Umts).Status);
            card.Busy = false;
            card.Present = false;
            Assert.Equal(AttachStatus.SimMissing, node.Attach(new SimulatedUe(card), SimRat.Umts).Status);
        }

        [Fact]
        public void Modem_seam_maps_outcomes_to_27007_stat()
        {
            (SimulatedUsim card, LocalAuc auc) = Subscriber(13);
            IServingNetwork home = new ServingNode(auc);
            Assert.Equal(1, home.Attach(card, Imsi, SimRat.LteM).Stat);
            IServingNetwork visited = new ServingNode(auc, new ServingNodeOptions { Plmn = "99999" });
            AttachOutcome roam = visited.Attach(card, Imsi, SimRat.LteM);
            Assert.Equal(5, roam.Stat);
            Assert.Equal("99999", roam.Plmn);
            (SimulatedUsim wrong, LocalAuc auc2) = Subscriber(14, otherK: true);
            Assert.Equal(3, ((IServingNetwork)new ServingNode(auc2)).Attach(wrong, Imsi, SimRat.Umts).Stat);
        }

        private sealed class FixedSource : IAuthVectorSource
        {
            private readonly AuthVector _v;

            public FixedSource(AuthVector v) => _v = v;

            public Task<AuthInfo> GetAuthInfoAsync(AuthInfoRequest request, CancellationToken cancellationToken = default) =>
                Task.FromResult(new AuthInfo { Vectors = new[] { _v } });
        }

        /// <summary>A broken HSS: answers a resync with the same stale kind of vector (does not move SQN_HE).</summary>
        private sealed class StaleSource : IAuthVectorSource
        {
            private readonly LocalAuc _auc;

            public StaleSource(LocalAuc auc) => _auc = auc;

            public Task<AuthInfo> GetAuthInfoAsync(AuthInfoRequest request, CancellationToken cancellationToken = default) =>
                _auc.GetAuthInfoAsync(new AuthInfoRequest { Imsi = request.Imsi, Domain = request.Domain, Plmn = request.Plmn }, cancellationToken);
        }

        private sealed class DomainOverride : IAuthVectorSource
        {
            private readonly LocalAuc _auc;
            private readonly VectorDomain _domain;

            public DomainOverride(LocalAuc auc, VectorDomain d)
            {
                _auc = auc;
                _domain = d;
            }

            public Task<AuthInfo> GetAuthInfoAsync(AuthInfoRequest request, CancellationToken cancellationToken = default) =>
                _auc.GetAuthInfoAsync(new AuthInfoRequest { Imsi = request.Imsi, Domain = _domain, Plmn = request.Plmn }, cancellationToken);
        }
    }
}

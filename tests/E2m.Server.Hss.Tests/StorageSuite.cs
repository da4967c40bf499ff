using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Hss.Subscribers;
using E2m.TestSupport;
using Xunit;

namespace E2m.Server.Hss.Tests
{
    /// <summary>The HSS storage suite, run against SQLite (always) and PostgreSQL (E2M_TEST_POSTGRES).</summary>
    public abstract class StorageSuite
    {
        protected abstract TestDb CreateDb();

        [SkippableFact]
        public void AddShowListUpdateDeleteRoundTrip()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            SubscriberInfo added = store.Add(Set1.Subscriber("001010000000001", e2m: true));
            Assert.Equal(32, added.SubscriptionId.Length);
            Assert.DoesNotContain("001010000000001", added.SubscriptionId);
            Assert.True(added.E2m.Enabled);
            Assert.Equal(new[] { "emse.example.org" }, added.E2m.AllowedEmseIds);
            store.Add(Set1.Subscriber("001010000000002"));
            Assert.Equal(new[] { "001010000000001", "001010000000002" }, store.List().Select(s => s.Imsi).ToArray());

            SubscriberInfo u = store.Update("001010000000001", new SubscriberUpdate
            {
                E2mEnabled = false, AllowedEmseIds = new List<string> { "A.Example.ORG", "b.example.org" }, MinGea = 3,
                KeyLifetimeSeconds = 3600, AccessKeySeparation = true, ExternalId = "", MaxMessages = 1000, Amf = 0x9000,
            });
            Assert.False(u.E2m.Enabled);
            Assert.Equal(new[] { "a.example.org", "b.example.org" }, u.E2m.AllowedEmseIds);
            Assert.Equal(3, u.E2m.MinGea);
            Assert.Equal(3600, u.E2m.KeyLifetimeSeconds);
            Assert.True(u.E2m.AccessKeySeparation);
            Assert.Null(u.E2m.ExternalId);
            Assert.Equal(1000, u.E2m.MaxMessages);
            Assert.Equal(0x9000, u.Amf);
            Assert.Equal(added.SubscriptionId, u.SubscriptionId);

            Assert.True(store.Delete("001010000000001"));
            Assert.False(store.Delete("001010000000001"));
            Assert.Null(store.Get("001010000000001"));
            Assert.Throws<SubscriberNotFoundException>(() => store.Update("001010000000001", new SubscriberUpdate()));
        }

        /// <summary>
        /// One SQN layout per database (TS 33.102 Annex C.3.2): the same seq column read with another IND length gives SQNs
        /// that repeat. The first store records its IND length; an explicit other one is refused, a store without one (the
        /// CLI) adopts it and continues the same SQN sequence.
        /// </summary>
        [SkippableFact]
        public void TheIndLengthIsTheDatabasesAndAStoreWithAnotherOneIsRefused()
        {
            using TestDb db = CreateDb();
            SubscriberStore hss = db.NewStore(sqn: new SqnPolicy(indBits: 3));
            hss.Add(Set1.Subscriber("001010000000001", sqn: 0x1234));
            SubscriberStoreException e = Assert.Throws<SubscriberStoreException>(() => db.NewStore(sqn: SqnPolicy.Default));
            Assert.Contains("3 IND bits", e.Message);
            SubscriberStore cli = db.NewStore(); // no policy of its own
            Assert.Equal(3, cli.Sqn.IndBits);
            var issued = new HashSet<ulong>();
            for (int i = 0; i < 20; i++)
            {
                foreach (SubscriberStore s in new[] { hss, cli })
                {
                    using SqnReservation r = s.ReserveSqns("001010000000001", 2);
                    for (int j = 0; j < 2; j++)
                    {
                        Assert.True(issued.Add(r.Sqn(j)), "SQN issued twice");
                    }
                }
            }
        }

        /// <summary>
        /// Δ, L and the SEQ ceiling are the HSS's configuration: each HSS start records its own, and a store without a policy
        /// (the offline CLI) applies the last recorded ones, not the Annex C defaults.
        /// </summary>
        [SkippableFact]
        public void TheCliAppliesTheSqnLimitsTheHssRunsWith()
        {
            using TestDb db = CreateDb();
            Assert.Equal(SqnPolicy.DefaultDelta, db.NewStore().Sqn.Delta); // nothing recorded yet: the defaults

            SubscriberStore hss = db.NewStore(sqn: new SqnPolicy(indBits: 5, delta: 1000, ageLimit: 64, seqCeiling: 5000));
            SubscriberStore cli = db.NewStore();
            Assert.Equal(1000, cli.Sqn.Delta);
            Assert.Equal(64, cli.Sqn.AgeLimit);
            Assert.Equal(5000, cli.Sqn.SeqCeiling);

            // The CLI refuses what the HSS would refuse: a start SQN at the ceiling, a step past Δ.
            Assert.Throws<SubscriberValidationException>(() => cli.Add(Set1.Subscriber("001010000000001", sqn: 5000UL << 5)));
            cli.Add(Set1.Subscriber("001010000000001", sqn: 0x20));
            int issued = 0;
            Assert.Throws<SqnOutOfWindowException>(() =>
            {
                while (issued <= 2000)
                {
                    cli.ReserveSqns("001010000000001", 32).Dispose();
                    issued += 32;
                }
            });
            Assert.InRange(issued, 1000 - 64, 1000); // the USIM never caught up (no resync): SEQ stops Δ ahead of it

            // A later HSS start with other limits replaces them.
            db.NewStore(sqn: new SqnPolicy(indBits: 5, delta: 2000));
            SubscriberStore cli2 = db.NewStore();
            Assert.Equal(2000, cli2.Sqn.Delta);
            Assert.Equal(SqnPolicy.Default.SeqMax, cli2.Sqn.SeqCeiling);
        }

        /// <summary>A store whose KEK does not open the database refuses it at start (nothing written under a foreign KEK).</summary>
        [SkippableFact]
        public void AStoreWithAnotherKekIsRefusedAlsoOnADatabaseWrittenBeforeTheCheck()
        {
            using TestDb db = CreateDb();
            db.NewStore().Add(Set1.Subscriber("001010000000001"));
            var foreign = new SubscriberStore(db.Database, new AtRestProtector(RandomNumberGenerator.GetBytes(32)));
            Assert.Contains("KEK does not open", Assert.Throws<SubscriberStoreException>(() => foreign.EnsureSchema()).Message);

            // A database of the version before the check (no kek_check row): a subscriber's K is the check.
            using (DbConnection c = db.Database.Open())
            {
                db.Database.Execute(c, null, "DELETE FROM hss_settings WHERE name = 'kek_check'");
            }

            Assert.Throws<SubscriberStoreException>(() => foreign.EnsureSchema());
            SubscriberStore own = db.NewStore(); // the right KEK records the check again
            Assert.NotNull(own.Get("001010000000001"));
            Assert.Throws<SubscriberStoreException>(() => foreign.EnsureSchema());
        }

        /// <summary>Review findings (session 11): profiles the EMKS would refuse, revocations overwritten before delivery, shared external ids.</summary>
        [SkippableFact]
        public void PoliciesTheEmksWouldRefuseOrThatWouldOverwriteARevocationAreRefused()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            // more EMSE_Ids than the EMKS accepts: refused here, not at every AIR
            var many = Set1.Subscriber("001010000000009", e2m: true);
            many.E2m.AllowedEmseIds = Enumerable.Range(0, 33).Select(i => "e" + i + ".example").ToList();
            Assert.Contains("at most 32", Assert.Throws<SubscriberValidationException>(() => store.Add(many)).Message);

            store.Add(Set1.Subscriber("001010000000001", e2m: true)); // allowed: emse.example.org
            SubscriberInfo s = store.Get("001010000000001")!;
            // e2m off (queued for the EMKS), then on again before it is delivered: refused
            store.UpdateSubscriber("001010000000001", new SubscriberUpdate { E2mEnabled = false });
            Assert.Throws<PolicySyncPendingException>(() => store.UpdateSubscriber("001010000000001", new SubscriberUpdate { E2mEnabled = true }));
            using (DbConnection c = db.Database.Open())
            {
                db.Database.Execute(c, null, "DELETE FROM hss_emks_policy_outbox WHERE subscription_id = @s", ("s", s.SubscriptionId)); // delivered
            }

            store.UpdateSubscriber("001010000000001", new SubscriberUpdate { E2mEnabled = true, AllowedEmseIds = new List<string> { "a.example", "b.example" } });
            using (DbConnection c = db.Database.Open())
            {
                db.Database.Execute(c, null, "DELETE FROM hss_emks_policy_outbox WHERE subscription_id = @s", ("s", s.SubscriptionId));
            }

            // an EMSE removed, then added back before the removal is delivered: refused; narrowing further is fine
            store.UpdateSubscriber("001010000000001", new SubscriberUpdate { AllowedEmseIds = new List<string> { "a.example" } });
            Assert.Throws<PolicySyncPendingException>(() => store.UpdateSubscriber("001010000000001", new SubscriberUpdate { AllowedEmseIds = new List<string> { "a.example", "b.example" } }));
            store.UpdateSubscriber("001010000000001", new SubscriberUpdate { AllowedEmseIds = new List<string>() });

            // one external id, one device
            var first = Set1.Subscriber("001010000000002", e2m: true);
            first.E2m.ExternalId = "meter-1";
            store.Add(first);
            var second = Set1.Subscriber("001010000000003", e2m: true);
            second.E2m.ExternalId = "meter-1";
            Assert.Throws<SubscriberValidationException>(() => store.Add(second));
            second.E2m.ExternalId = "meter-2";
            store.Add(second);
            Assert.Throws<SubscriberValidationException>(() => store.UpdateSubscriber("001010000000003", new SubscriberUpdate { ExternalId = "meter-1" }));
            store.UpdateSubscriber("001010000000002", new SubscriberUpdate { ExternalId = "meter-1" }); // its own id again: fine
        }

        [SkippableFact]
        public void DuplicateAndInvalidInputAreTypedErrors()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            store.Add(Set1.Subscriber("001010000000001"));
            Assert.Throws<DuplicateSubscriberException>(() => store.Add(Set1.Subscriber("001010000000001")));
            Assert.Throws<SubscriberValidationException>(() => store.Add(Set1.Subscriber("00101x")));
            var badKey = Set1.Subscriber("001010000000003");
            badKey.K = new byte[15];
            Assert.Throws<SubscriberValidationException>(() => store.Add(badKey));
            var badEmse = Set1.Subscriber("001010000000004");
            badEmse.E2m.AllowedEmseIds.Add("not an fqdn!");
            Assert.Throws<SubscriberValidationException>(() => store.Add(badEmse));
            Assert.Throws<SubscriberValidationException>(() => store.Update("001010000000001", new SubscriberUpdate { MinGea = 9 }));
        }

        [SkippableFact]
        public void KAndOpcAreEncryptedAtRestAndBoundToTheirRow()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            store.Add(Set1.Subscriber("001010000000001"));
            store.Add(Set1.Subscriber("001010000000002"));
            byte[] k1, opc1;
            using (DbConnection c = db.Database.Open())
            using (DbCommand cmd = db.Database.Command(c, null, "SELECT k_enc, opc_enc FROM hss_subscriber WHERE imsi = '001010000000001'"))
            using (DbDataReader r = cmd.ExecuteReader())
            {
                Assert.True(r.Read());
                k1 = E2mDatabase.GetBytes(r, 0);
                opc1 = E2mDatabase.GetBytes(r, 1);
            }

            Assert.Equal(1 + 12 + 16 + 16, k1.Length);
            Assert.False(Contains(k1, Set1.K), "K stored in clear");
            Assert.False(Contains(opc1, Set1.Opc), "OPc stored in clear");
            (byte[] k, byte[] opc) = store.ReadCredentials("001010000000001");
            Assert.Equal(Set1.K, k);
            Assert.Equal(Set1.Opc, opc);

            // The same K encrypted for row 1, copied into row 2 (or into the OPc column), no longer opens.
            db.Database.Execute(db.Database.Open(), null, "UPDATE hss_subscriber SET k_enc = @b WHERE imsi = '001010000000002'", ("b", k1));
            Assert.Throws<CryptographicException>(() => store.ReadCredentials("001010000000002"));
            db.Database.Execute(db.Database.Open(), null, "UPDATE hss_subscriber SET opc_enc = @b WHERE imsi = '001010000000001'", ("b", k1));
            Assert.Throws<CryptographicException>(() => store.ReadCredentials("001010000000001"));

            // Another KEK cannot open the store.
            var other = new SubscriberStore(db.Database, new AtRestProtector(RandomNumberGenerator.GetBytes(32)));
            Assert.Throws<CryptographicException>(() => other.ReserveSqns("001010000000002", 1));
        }

        [SkippableFact]
        public void SqnIsSeqIndWithIndCycledPerRequestAndSeqIncremented()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            // SQN_HE = SEQ 100 || IND 30: the first request uses IND 31 and SEQ 101..
            store.Add(Set1.Subscriber("001010000000001", sqn: SqnMath.Compose(100, 30)));
            var seen = new HashSet<ulong>();
            long expectSeq = 101;
            int expectInd = 31;
            for (int r = 0; r < 70; r++)
            {
                int n = 1 + (r % 3);
                using SqnReservation res = store.ReserveSqns("001010000000001", n);
                Assert.Equal(expectInd, res.Ind);                          // TS 33.102 C.3.4: IND cyclic per request
                Assert.Equal(expectSeq, res.FirstSeq);                     // SEQ_HE + 1
                for (int i = 0; i < n; i++)
                {
                    Assert.True(seen.Add(res.Sqn(i)), $"SQN {res.Sqn(i):x12} issued twice");
                    Assert.Equal(expectInd, SqnMath.Ind(res.Sqn(i)));
                }

                expectSeq += n;
                expectInd = (expectInd + 1) % 32;
                Assert.Equal(Set1.K, res.K);
            }

            SubscriberInfo s = store.Get("001010000000001")!;
            Assert.Equal(expectSeq - 1, s.Seq);
            Assert.Equal(expectInd, s.IndNext);
        }

        [SkippableFact]
        public void ResyncMovesSeqForwardToSeqMsAndNeverBackwards()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            store.Add(Set1.Subscriber("001010000000001"));
            using (SqnReservation r = store.ResyncAndReserve("001010000000001", seqMs: 5000, count: 2))
            {
                Assert.Equal(5001, r.FirstSeq); // TS 33.102 C.3.4: continue after SEQ_MS
            }

            using (SqnReservation r = store.ResyncAndReserve("001010000000001", seqMs: 10, count: 1))
            {
                Assert.Equal(5003, r.FirstSeq); // SEQ_HE ahead of SEQ_MS: no step back, no reuse
            }
        }

        [SkippableFact]
        public void UnknownSubscriberAndSeqExhaustion()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            Assert.Throws<SubscriberNotFoundException>(() => store.ReserveSqns("001010000000009", 1));
            store.Add(Set1.Subscriber("001010000000001", sqn: SqnMath.Compose(SqnMath.MaxSeq - 2, 0)));
            using (SqnReservation r = store.ReserveSqns("001010000000001", 2))
            {
                Assert.Equal(SqnMath.MaxSeq - 1, r.FirstSeq);
            }

            Assert.Throws<SqnExhaustedException>(() => store.ReserveSqns("001010000000001", 1));
        }

        [SkippableFact]
        public void SchemaIsVersionedAndIdempotent()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            store.EnsureSchema();
            store.EnsureSchema();
            using DbConnection c = db.Database.Open();
            object? v = db.Database.Scalar(c, null, "SELECT version FROM e2m_schema_version WHERE component = 'hss'");
            Assert.Equal(4L, Convert.ToInt64(v));
        }

        /// <summary>
        /// TS 33.102 Annex C.2.1 on the HE side: with Δ = 10 the HSS issues SEQ up to seq_ms + Δ and then refuses (typed,
        /// nothing changes: SEQ_HE and the next IND stay); a MAC-S-verified resync raises seq_ms and reopens the window.
        /// </summary>
        [SkippableFact]
        public void GenerationStaysWithinDeltaOfTheKnownSeqMs()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore(sqn: new SqnPolicy(delta: 10));
            store.Add(Set1.Subscriber("001010000000001", sqn: SqnMath.Compose(100, 3)));
            Assert.Equal(100, store.Get("001010000000001")!.SeqMs);  // provisioned SQN = the USIM's SQN_MS
            using (store.ReserveSqns("001010000000001", 6))
            {
            }

            using (SqnReservation r = store.ReserveSqns("001010000000001", 4))
            {
                Assert.Equal(110, r.FirstSeq + r.Count - 1);           // SEQ − SEQ_MS = 10 = Δ: still accepted by the USIM
            }

            SqnOutOfWindowException e = Assert.Throws<SqnOutOfWindowException>(() => store.ReserveSqns("001010000000001", 1));
            Assert.Contains("Δ = 10", e.Message);
            Assert.Contains("C.2.1", e.Message);
            SubscriberInfo s = store.Get("001010000000001")!;
            Assert.Equal(110, s.Seq);
            Assert.Equal(6, s.IndNext);                                 // the refused request consumed no IND

            using (SqnReservation r = store.ResyncAndReserve("001010000000001", seqMs: 108, count: 2))
            {
                Assert.Equal(111, r.FirstSeq);                          // max(SEQ_HE, SEQ_MS) + 1
                Assert.Equal(6, r.Ind);
            }

            s = store.Get("001010000000001")!;
            Assert.Equal(108, s.SeqMs);
            using (SqnReservation r = store.ReserveSqns("001010000000001", 6))
            {
                Assert.Equal(118, r.FirstSeq + r.Count - 1);            // 118 − 108 = Δ
            }

            Assert.Throws<SqnOutOfWindowException>(() => store.ReserveSqns("001010000000001", 1));
        }

        /// <summary>
        /// Resync that cannot be served without breaking a rule is refused and changes nothing: the USIM's SEQ_MS more than Δ
        /// behind SEQ_HE (§6.3.5 would step SEQ_HE back and re-issue SQNs), a replayed lower SEQ_MS does not lower seq_ms, and
        /// a SEQ_MS near the ceiling does not wrap (Annex C.2.1).
        /// </summary>
        [SkippableFact]
        public void ResyncRefusalsAreTypedAndChangeNothing()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore(sqn: new SqnPolicy(delta: 10, seqCeiling: 1000));
            store.Add(Set1.Subscriber("001010000000001", sqn: SqnMath.Compose(100, 0)));
            SqnOutOfWindowException w = Assert.Throws<SqnOutOfWindowException>(() => store.ResyncAndReserve("001010000000001", seqMs: 50, count: 1));
            Assert.Contains("resync refused", w.Message);
            Assert.Contains("SEQ_MS 50", w.Message);
            SubscriberInfo s = store.Get("001010000000001")!;
            Assert.Equal((100L, 100L, 1), (s.Seq, s.SeqMs, s.IndNext));

            // SEQ_MS 95: within Δ of SEQ_HE 100 → continue at 101; seq_ms stays at the higher 100 (SEQ_MS never decreases).
            using (SqnReservation r = store.ResyncAndReserve("001010000000001", seqMs: 95, count: 1))
            {
                Assert.Equal(101, r.FirstSeq);
            }

            Assert.Equal(100, store.Get("001010000000001")!.SeqMs);

            SqnExhaustedException x = Assert.Throws<SqnExhaustedException>(() => store.ResyncAndReserve("001010000000001", seqMs: 999, count: 2));
            Assert.Contains("resync refused", x.Message);
            Assert.Contains("ceiling 1000", x.Message);
            s = store.Get("001010000000001")!;
            Assert.Equal((101L, 100L), (s.Seq, s.SeqMs));
            using (SqnReservation r = store.ResyncAndReserve("001010000000001", seqMs: 998, count: 2))
            {
                Assert.Equal(999, r.FirstSeq);                          // exactly up to the ceiling
            }

            Assert.Throws<SqnExhaustedException>(() => store.ReserveSqns("001010000000001", 1));
            Assert.Throws<SubscriberValidationException>(() => store.Add(Set1.Subscriber("001010000000002", sqn: SqnMath.Compose(1000, 0))));
        }

        /// <summary>IND length is configurable (Annex C.3.2 default 5): with 3 bits IND cycles 0..7 and SQN = SEQ·2^3 + IND.</summary>
        [SkippableFact]
        public void IndLengthIsConfigurable()
        {
            using TestDb db = CreateDb();
            var p = new SqnPolicy(indBits: 3);
            SubscriberStore store = db.NewStore(sqn: p);
            store.Add(Set1.Subscriber("001010000000001", sqn: p.Compose(40, 6)));
            var inds = new List<int>();
            for (int i = 0; i < 10; i++)
            {
                using SqnReservation r = store.ReserveSqns("001010000000001", 1);
                Assert.Equal(41 + i, r.FirstSeq);
                Assert.Equal(((ulong)(41 + i) << 3) | (uint)r.Ind, r.Sqn(0));
                inds.Add(r.Ind);
            }

            Assert.Equal(new[] { 7, 0, 1, 2, 3, 4, 5, 6, 7, 0 }, inds.ToArray());
            Assert.Equal((1L << 45) - 1, p.SeqMax);
        }

        /// <summary>A store created by schema version 1 (before seq_ms) migrates: seq_ms := seq (assumed in sync).</summary>
        [SkippableFact]
        public void SchemaVersion1RowsMigrateWithSeqMsEqualToSeq()
        {
            using TestDb db = CreateDb();
            db.Database.EnsureSchema(SubscriberStore.Component, new[] { SubscriberStore.Migrations[0] });
            using (DbConnection c = db.Database.Open())
            {
                db.Database.Execute(c, null,
                    @"INSERT INTO hss_subscriber (imsi, subscription_id, k_enc, opc_enc, seq, ind_next, amf, e2m_enabled, allowed_emse_ids,
                        key_lifetime_s, min_gea, access_key_separation, external_id, max_messages, created_at, updated_at)
                      VALUES ('001010000000001', 'x', @b, @b, 4242, 7, 0, 0, '[]', 3600, 0, 0, NULL, NULL, 0, 0)",
                    ("b", db.Seal(Set1.K, "001010000000001", "k"))); // sealed under the KEK: the store checks it at open
            }

            SubscriberInfo s = db.NewStore().Get("001010000000001")!;
            Assert.Equal((4242L, 4242L, 7), (s.Seq, s.SeqMs, s.IndNext));
        }

        [SkippableFact]
        public void ConcurrentReservationsFromManyThreadsNeverShareAnSqn()
        {
            using TestDb db = CreateDb();
            SubscriberStore store = db.NewStore();
            store.Add(Set1.Subscriber("001010000000001"));
            const int Threads = 6, PerThread = 40;
            var all = new System.Collections.Concurrent.ConcurrentBag<ulong>();
            Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, _ =>
            {
                SubscriberStore own = db.NewStore(); // own connection pool user, like another instance
                for (int i = 0; i < PerThread; i++)
                {
                    using SqnReservation r = own.ReserveSqns("001010000000001", 2);
                    all.Add(r.Sqn(0));
                    all.Add(r.Sqn(1));
                }
            });
            Assert.Equal(Threads * PerThread * 2, all.Count);
            Assert.Equal(all.Count, all.Distinct().Count());
            Assert.Equal(Threads * PerThread * 2, store.Get("001010000000001")!.Seq);
        }

        /// <summary>
        /// Three PROCESSES (`dotnet e2m.dll subscriber vectors --repeat`) reserve SQNs on one database at the same time
        /// (each also runs EnsureSchema at start); every SQN is distinct and SEQ_HE ends exactly at the number issued.
        /// </summary>
        [SkippableFact]
        public void ConcurrentAirsFromThreeProcessesNeverShareAnSqn()
        {
            using TestDb db = CreateDb();
            db.NewStore().Add(Set1.Subscriber("001010000000001"));
            const int Processes = 3, Repeat = 40, PerRequest = 2;
            string e2mDll = Path.Combine(AppContext.BaseDirectory, "e2m.dll");
            Assert.True(File.Exists(e2mDll), "e2m.dll not next to the tests");
            var procs = new List<Process>();
            var outputs = new List<Task<string>>();
            for (int p = 0; p < Processes; p++)
            {
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (string a in new[] { e2mDll, "subscriber", "vectors", "--data-dir", db.DataDir, "--imsi", "001010000000001",
                    "--num-vectors", PerRequest.ToString(), "--repeat", Repeat.ToString(), "--json" })
                {
                    psi.ArgumentList.Add(a);
                }

                if (db.PostgresConnectionString != null)
                {
                    psi.ArgumentList.Add("--db");
                    psi.ArgumentList.Add(db.PostgresConnectionString);
                }

                Process proc = Process.Start(psi)!;
                procs.Add(proc);
                outputs.Add(proc.StandardOutput.ReadToEndAsync());
            }

            var sqns = new List<string>();
            for (int p = 0; p < Processes; p++)
            {
                Assert.True(procs[p].WaitForExit(120_000), "child process did not finish");
                string err = procs[p].StandardError.ReadToEnd();
                Assert.True(procs[p].ExitCode == 0, $"process {p} exit {procs[p].ExitCode}: {err}");
                using JsonDocument doc = JsonDocument.Parse(outputs[p].Result);
                foreach (JsonElement v in doc.RootElement.GetProperty("vectors").EnumerateArray())
                {
                    sqns.Add(v.GetProperty("sqn").GetString()!);
                }
            }

            Assert.Equal(Processes * Repeat * PerRequest, sqns.Count);
            Assert.Equal(sqns.Count, sqns.Distinct().Count());
            Assert.Equal(Processes * Repeat * PerRequest, db.NewStore().Get("001010000000001")!.Seq);
        }

        private static bool Contains(byte[] haystack, byte[] needle)
        {
            for (int i = 0; i + needle.Length <= haystack.Length; i++)
            {
                if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
                {
                    return true;
                }
            }

            return false;
        }
    }

    public sealed class SqliteStorageTests : StorageSuite
    {
        protected override TestDb CreateDb() => TestDb.Sqlite();
    }

    public sealed class PostgresStorageTests : StorageSuite
    {
        protected override TestDb CreateDb() => TestDb.Postgres();
    }
}

using E2m.Hal.Host;
using E2m.Modem.Drivers;
using E2m.Oscore;
using E2m.TestSupport;
using Xunit.Abstractions;

namespace E2m.Firmware.Tests
{
    /// <summary>State machine of DESIGN.md §7: each state, each failure edge, re-key, reboot, policy, sleep cycles.</summary>
    public sealed class ApplicationTests
    {
        private readonly ITestOutputHelper _out;
        public ApplicationTests(ITestOutputHelper output) { _out = output; }

        private static readonly AppState[] HappyPath =
        {
            AppState.Boot, AppState.Sample, AppState.PowerOn, AppState.Initialize, AppState.SimReady, AppState.Imsi,
            AppState.Register, AppState.Pdp, AppState.NetworkTime, AppState.Keys, AppState.Upload, AppState.Psm,
            AppState.Sleep, AppState.Stopped,
        };

        [Fact]
        public void Home_mode_happy_path_walks_every_state_and_delivers_the_readings()
        {
            var rig = new Rig();
            List<AppState> states = rig.Trace(out E2mApplication app);
            Assert.Equal(HappyPath, states);
            Assert.Equal(FirmwareError.None, app.LastError);
            Assert.Equal(1, rig.Net.Emks.Challenges);
            Assert.Equal(2, rig.EmseA.Received.Count);
            Assert.All(rig.EmseA.Received, r => Assert.True(r.Absolute));
            Assert.Equal(new[] { "urn:dev:meter1:temp", "urn:dev:meter1:energy" }, rig.EmseA.Received.Select(r => r.Name));
            Assert.Equal(0, app.Queue.PendingCount);
            Assert.Equal(KeyOrigins.Home, app.Keys.GetOrigin(0));
            Assert.Equal(24L * 3600, rig.Modem.PsmTau);
            Assert.Single(rig.Sleep.Requests);
            Assert.InRange(rig.Sleep.Requests[0], 800, 900);   // until the next sample
            // the KID the device uses is the one the (independent) HSS computed from the vector's CK/IK
            FakeVector v = rig.Net.Vectors.Values.Single();
            Assert.Equal(TestKdf.Kid(TestKdf.IntKey(v.Ck, v.Ik)), app.Keys.GetKid(0));
            Assert.Equal(0, rig.EmseA.NonceReuse);
        }

        [Fact]
        public void Second_wake_up_reuses_the_persisted_key_and_resumes_the_SSN()
        {
            var rig = new Rig();
            rig.Cycle();
            int auth = rig.Modem.Calls.Count(c => c == "Authenticate");
            E2mApplication app = rig.Cycle();
            Assert.Equal(auth, rig.Modem.Calls.Count(c => c == "Authenticate"));
            Assert.Equal(1, rig.Net.Emks.Challenges);
            Assert.Equal(4, rig.EmseA.Received.Count);
            Assert.Equal(0, rig.EmseA.DecryptFailures);   // no replay: the SSN resumed above the used ones
            Assert.Equal(0, rig.EmseA.NonceReuse);
            Assert.Equal(2u, app.DeviceState.Boots);
        }

        /// <summary>
        /// The SSN record of a persisted key turns unreadable (media corruption): the device must not resume at 0 under that
        /// key (nonce reuse, RFC 8613 App. B.1.1). It forgets the key and its SSN record, re-keys, and delivers under the new
        /// key without the EMSE ever seeing a nonce twice.
        /// </summary>
        [Fact]
        public void An_unreadable_SSN_record_makes_the_device_re_key_instead_of_restarting_the_sequence()
        {
            var rig = new Rig();
            rig.Cycle();
            Assert.Equal(1, rig.Net.Emks.Challenges);
            var raw = new byte[64];
            int n = rig.Store.Read(rig.Config.SsnRecordBase, raw, 0, raw.Length);
            Assert.True(n > 0);
            raw[12] ^= 0x40;                                             // one flipped bit in the reservation
            rig.Store.Write(rig.Config.SsnRecordBase, raw, 0, n);

            rig.Cycle();                                                 // the SSN state is lost: keys forgotten, nothing sent under the old key
            rig.Cycle();                                                 // re-key (home mode) and deliver
            Assert.Equal(2, rig.Net.Emks.Challenges);
            Assert.Equal(0, rig.EmseA.NonceReuse);
            Assert.Equal(0, rig.EmseA.DecryptFailures);
            Assert.True(rig.EmseA.Received.Count >= 4);
        }

        /// <summary>device-config network.plmn: manual network selection (TS 27.007 §7.3) before registration; absent = automatic.</summary>
        [Fact]
        public void A_configured_PLMN_is_selected_before_registration_and_a_refusal_fails_the_cycle()
        {
            var automatic = new Rig();
            automatic.Cycle();
            Assert.DoesNotContain("SelectOperator", automatic.Modem.Calls);

            var manual = new Rig();
            manual.Config.Plmn = "00101";
            Assert.False(manual.Cycle().FailedThisCycle);
            Assert.Equal("00101", manual.Modem.SelectedPlmn);
            Assert.True(manual.Modem.Calls.IndexOf("SelectOperator") < manual.Modem.Calls.IndexOf("WaitRegistered"));
            Assert.NotEmpty(manual.EmseA.Received);

            var refused = new Rig();
            refused.Config.Plmn = "99999";
            refused.Modem.Fail("SelectOperator", E2m.Modem.Drivers.ModemError.CommandError);
            E2mApplication app = refused.Cycle();
            Assert.Equal(FirmwareError.RegistrationFailed, app.LastError);
            Assert.DoesNotContain("WaitRegistered", refused.Modem.Calls);
        }

        [Fact]
        public void Network_mode_derives_the_DESIGN_vector_keys_from_EF_KeysPS()
        {
            var vec = Vectors.Load("e2m-kdf.json").RootElement.GetProperty("cases")[0];
            var rig = new Rig(keyMode: KeyModes.Auto);
            rig.Modem.SetNetworkKey(1, Hex.Decode(vec.GetProperty("ck").GetString()), Hex.Decode(vec.GetProperty("ik").GetString()));
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.None, app.LastError);
            Assert.Equal(0, rig.Net.Emks.Challenges);                    // zero extra messages (DESIGN.md §3)
            Assert.Equal(KeyOrigins.Network, app.Keys.GetOrigin(0));
            Assert.Equal(vec.GetProperty("kid").GetString(), Hex.Encode(app.Keys.GetKid(0)));
            Assert.Equal("emse.example.org", vec.GetProperty("emse_id").GetString());
            // the persisted slot holds exactly the vector's e2m_key (slot layout 'K' | KID | e2m_key | ...)
            var rec = new byte[256];
            int n = rig.Store.Read(rig.Config.KeyRecordBase, rec, 0, rec.Length);
            Assert.Equal(1 + 8 + 32 + 8 + 1 + 4, n);
            Assert.Equal(vec.GetProperty("e2m_key").GetString(), Hex.Encode(rec, 9, 32));
            Assert.Equal(2, rig.EmseA.Received.Count);
        }

        [Theory]
        [InlineData("ksi07")]
        [InlineData("missing")]
        public void Network_mode_without_a_key_falls_back_to_home_mode(string what)
        {
            var rig = new Rig(keyMode: KeyModes.Auto);
            if (what == "ksi07") rig.Modem.SetNetworkKey(7, new byte[16], new byte[16]);
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.None, app.LastError);
            Assert.Equal(KeyOrigins.Home, app.Keys.GetOrigin(0));
            Assert.Equal(1, rig.Net.Emks.Challenges);
            Assert.Equal(2, rig.EmseA.Received.Count);
        }

        [Fact]
        public void Stale_EF_KeysPS_after_4_01_goes_to_home_mode_in_the_same_cycle()
        {
            var rig = new Rig(keyMode: KeyModes.Auto);
            byte[] kid = rig.Modem.SetNetworkKey(2, rig.Net.RandomBytes(16), rig.Net.RandomBytes(16));
            rig.Cycle();
            Assert.Equal(0, rig.Net.Emks.Challenges);
            rig.Net.ExpiredKids.Add(Hex.Encode(kid));         // the EMKS expired it: the EMSE answers 4.01
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.None, app.LastError);
            Assert.Equal(1, rig.Net.Emks.Challenges);           // EF_KeysPS still holds the same key → stale → home mode
            Assert.Equal(KeyOrigins.Home, app.Keys.GetOrigin(0));
            Assert.NotEqual(kid, app.Keys.GetKid(0));
            Assert.Equal(4, rig.EmseA.Unique.Count);
            Assert.Equal(1, rig.EmseA.Unauthorized);
        }

        [Fact]
        public void Emse_refusing_a_fresh_key_is_parked_and_the_other_EMSE_is_served()
        {
            var rig = new Rig(seed: 12, emses: 2);
            rig.EmseB.Answer401Next = 1000;                    // B gets no key (not allowed by the subscription)
            E2mApplication app = rig.Cycle();
            Assert.False(app.FailedThisCycle);                  // A was served: no back-off for A's readings
            Assert.Equal(FirmwareError.EmseUnauthorized, app.LastError);
            Assert.Equal(0, app.DeviceState.ConsecutiveFailures);
            Assert.Equal(2, rig.EmseA.Unique.Count);            // temp + battery
            Assert.False(app.Queue.HasPending(0));
            Assert.True(app.Queue.HasPending(1));               // energy + battery for B stay queued
            Assert.Equal(1, rig.Net.Emks.Challenges);           // A accepted the same KID: B refuses it (persisted), no re-key

            rig.EmseA.Answer401Next = 1000;                     // nobody accepts: nothing delivered → the cycle fails
            E2mApplication failed = rig.Cycle();
            Assert.True(failed.FailedThisCycle);
            Assert.Equal(FirmwareError.EmseUnauthorized, failed.LastError);
        }

        [Fact]
        public void Network_only_mode_with_a_stale_EF_KeysPS_reattaches_once_in_the_same_cycle()
        {
            var rig = new Rig(keyMode: KeyModes.NetworkOnly);
            byte[] kid = rig.Modem.SetNetworkKey(2, rig.Net.RandomBytes(16), rig.Net.RandomBytes(16));
            rig.Cycle();
            rig.Net.ExpiredKids.Add(Hex.Encode(kid));         // the EMSE answers 4.01; the scripted modem keeps the same EF_KeysPS
            int powerOns = rig.Modem.Calls.Count(c => c == "PowerOn");
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.StaleNetworkKey, app.LastError); // still stale after the one re-attach of this cycle
            Assert.Equal(1, rig.Modem.PowerOffs);               // detach by power-off, once
            Assert.Equal(powerOns + 2, rig.Modem.Calls.Count(c => c == "PowerOn")); // wake-up + re-attach
            Assert.Equal(0, rig.Net.Emks.Challenges);
        }

        [Fact]
        public void Network_only_mode_without_a_key_fails_with_backoff()
        {
            var rig = new Rig(keyMode: KeyModes.NetworkOnly);
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.NoNetworkKey, app.LastError);
            Assert.Equal(0, rig.Net.Emks.Challenges);
            Assert.Equal(2, app.Queue.PendingCount);
        }

        public static IEnumerable<object[]> FailureEdges() => new[]
        {
            new object[] { "PowerOn" }, new object[] { "Initialize" }, new object[] { "SimNotReady" }, new object[] { "Imsi" },
            new object[] { "RegistrationDenied" }, new object[] { "RegistrationTimeout" }, new object[] { "Pdp" },
            new object[] { "AuthModemRefused" }, new object[] { "AuthMac" }, new object[] { "AuthUsimRefused" },
            new object[] { "KidMismatch" }, new object[] { "EmksTimeout" }, new object[] { "SyncTwiceTooMany" },
            new object[] { "CoapTimeout" }, new object[] { "Socket" }, new object[] { "Send" }, new object[] { "Emse401Twice" },
            new object[] { "Emse500" },
        };

        [Theory]
        [MemberData(nameof(FailureEdges))]
        public void Each_failure_edge_ends_in_a_backoff_sleep_keeps_the_readings_and_recovers(string edge)
        {
            var rig = new Rig(seed: 7);
            FirmwareError expected = Inject(rig, edge);
            E2mApplication app = rig.Cycle();
            Assert.True(expected == app.LastError, edge + ": expected " + expected + " got " + app.LastError + " (seed 7)");
            Assert.True(app.FailedThisCycle);
            Assert.Equal(1, app.DeviceState.ConsecutiveFailures);
            Assert.Equal(2, app.Queue.PendingCount);           // nothing acknowledged, nothing lost
            int backoff = rig.Sleep.Requests.Last();
            Assert.InRange(backoff, rig.Config.BackoffBaseSeconds, rig.Config.BackoffBaseSeconds * 5 / 4 + 1);

            Heal(rig);
            // the retry wake-up: no new sample (not due), upload of the queued readings
            E2mApplication retry = rig.Cycle();
            Assert.True(FirmwareError.None == retry.LastError, edge + ": retry failed with " + retry.LastError);
            Assert.Equal(0, retry.Queue.PendingCount);
            Assert.Equal(2, rig.EmseA.Unique.Count);
            Assert.Equal(0, retry.DeviceState.ConsecutiveFailures);
            Assert.Equal(0, rig.EmseA.NonceReuse);
        }

        private static FirmwareError Inject(Rig rig, string edge)
        {
            switch (edge)
            {
                case "PowerOn": rig.Modem.Fail("PowerOn", ModemError.PowerOnFailed); return FirmwareError.PowerOnFailed;
                case "Initialize": rig.Modem.Fail("Initialize", ModemError.Timeout); return FirmwareError.ModemInitFailed;
                case "SimNotReady": rig.Modem.Fail("WaitSimReady", ModemError.SimBusy); return FirmwareError.SimNotReady;
                case "Imsi": rig.Modem.Fail("ReadImsi", ModemError.CommandError); return FirmwareError.ImsiUnavailable;
                case "RegistrationDenied": rig.Modem.Fail("WaitRegistered", ModemError.RegistrationDenied); return FirmwareError.RegistrationDenied;
                case "RegistrationTimeout": rig.Modem.Fail("WaitRegistered", ModemError.Timeout); return FirmwareError.RegistrationFailed;
                case "Pdp": rig.Modem.Fail("ActivatePdp", ModemError.PdpActivationFailed); return FirmwareError.PdpFailed;
                case "AuthModemRefused": rig.Net.ModemRefusesAuthenticate = true; return FirmwareError.AuthModemRefused;
                case "AuthMac": rig.Net.MacFailure = true; return FirmwareError.AuthMacFailure;
                case "AuthUsimRefused": rig.Net.UsimPinNotVerified = true; return FirmwareError.AuthUsimRefused;
                case "KidMismatch": rig.Net.OfferWrongKid = true; return FirmwareError.KidMismatch;
                case "EmksTimeout": rig.Net.EmksDropRequests = 100; return FirmwareError.BootstrapTimeout;
                case "SyncTwiceTooMany": rig.Net.SyncFailuresToInject = 3; return FirmwareError.AuthSyncFailure;
                case "CoapTimeout": rig.EmseA.DropResponsesNext = 100; return FirmwareError.UploadTimeout;
                case "Socket": rig.Modem.Fail("OpenUdpSocket", ModemError.SocketOpenFailed); return FirmwareError.SocketFailed;
                case "Send": rig.Modem.Fail("SendDatagram", ModemError.SendFailed); return FirmwareError.SendFailed;
                case "Emse401Twice": rig.EmseA.Answer401Next = 2; return FirmwareError.EmseUnauthorized;
                case "Emse500": rig.EmseA.AnswerInnerCodeNext = 0xA0; return FirmwareError.EmseServerError;
            }
            throw new ArgumentException(edge);
        }

        private static void Heal(Rig rig)
        {
            rig.Net.ModemRefusesAuthenticate = rig.Net.MacFailure = rig.Net.UsimPinNotVerified = rig.Net.OfferWrongKid = false;
            rig.Net.EmksDropRequests = 0;
            rig.Net.SyncFailuresToInject = 0;
            rig.EmseA.DropResponsesNext = 0;
            rig.EmseA.Answer401Next = 0;
        }

        [Fact]
        public void Sync_failure_sends_AUTS_and_uses_the_fresh_challenge()
        {
            var rig = new Rig(seed: 3);
            rig.Net.SyncFailuresToInject = 1;
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.None, app.LastError);
            Assert.Equal(new[] { "challenge", "resync" }, rig.Net.EmksLog);
            Assert.Equal(1, rig.Net.Emks.Resyncs);
            Assert.Equal(2, rig.Modem.Calls.Count(c => c == "Authenticate"));
            Assert.Equal(2, rig.EmseA.Received.Count);
        }

        [Fact]
        public void Emse_4_01_triggers_one_re_key_and_the_batch_is_delivered_in_the_same_cycle()
        {
            var rig = new Rig(seed: 4);
            rig.Cycle();
            byte[] firstKid = (byte[])rig.Last!.Keys.GetKid(0).Clone();
            rig.EmseA.Answer401Next = 1;
            List<AppState> states = rig.Trace(out E2mApplication app);
            Assert.Equal(FirmwareError.None, app.LastError);
            Assert.Contains(AppState.Keys, states.SkipWhile(s => s != AppState.Upload));   // Upload → Keys → Upload
            Assert.Equal(2, rig.Net.Emks.Challenges);
            Assert.NotEqual(firstKid, app.Keys.GetKid(0));
            Assert.Equal(4, rig.EmseA.Unique.Count);
            Assert.Equal(0, app.Queue.PendingCount);
        }

        [Fact]
        public void Key_is_renewed_before_expiry()
        {
            var rig = new Rig(seed: 5);
            rig.Net.LifetimeSeconds = 3 * 900 + 100;
            rig.Config.RekeyMarginSeconds = 600;
            for (int i = 0; i < 4; i++) rig.Cycle();
            Assert.True(rig.Net.Emks.Challenges >= 2, "re-key before expiry expected");
            Assert.Equal(0, rig.EmseA.Unauthorized);
            Assert.Equal(8, rig.EmseA.Unique.Count);
        }

        [Fact]
        public void Lost_response_is_retransmitted_with_the_same_message_and_not_duplicated()
        {
            var rig = new Rig(seed: 6);
            rig.EmseA.DropResponsesNext = 1;
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.None, app.LastError);
            Assert.Equal(2, rig.EmseA.Requests);        // CON + one retransmission (RFC 7252 §4.2)
            Assert.Equal(1, rig.EmseA.Batches);         // the retransmission hit the EMSE's duplicate cache
            Assert.Equal(0, rig.EmseA.Duplicates);
        }

        [Fact]
        public void Modem_reboot_mid_upload_reinitialises_and_re_sends_with_a_new_SSN()
        {
            var rig = new Rig(seed: 8);
            rig.Modem.RebootAtSend = 1;                 // send 0 = EMKS bootstrap, send 1 = the first batch
            List<AppState> states = rig.Trace(out E2mApplication app);
            Assert.Equal(FirmwareError.None, app.LastError);
            int upload = states.IndexOf(AppState.Upload);
            Assert.Equal(AppState.PowerOn, states[upload + 1]);    // resync with the rebooted module first
            Assert.Equal(AppState.Initialize, states[upload + 2]);
            Assert.Equal(2, rig.EmseA.Unique.Count);
            Assert.Equal(0, rig.EmseA.Duplicates);
            Assert.Equal(0, rig.EmseA.NonceReuse);
        }

        [Fact]
        public void Repeated_reboots_are_bounded_per_cycle()
        {
            var rig = new Rig(seed: 9);
            rig.Modem.Fail("Initialize", ModemError.Rebooted, 10);
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.ModemRebooted, app.LastError);
            Assert.Equal(3, rig.Modem.Calls.Count(c => c == "Initialize"));
        }

        /// <summary>DESIGN.md §5: the device-config RATs and their TS 27.007 AcT values; RATs below the minimum are not allowed.</summary>
        [Theory]
        [InlineData(new[] { "lte-m", "nb-iot" }, "nb-iot", (1 << 7) | (1 << 8) | (1 << 9))]
        [InlineData(new[] { "lte-m", "nb-iot" }, "lte-m", (1 << 7) | (1 << 8))]
        [InlineData(new[] { "gprs", "lte-m" }, "gprs", (1 << 0) | (1 << 3) | (1 << 7) | (1 << 8))]
        [InlineData(new[] { "gprs", "nb-iot" }, "nb-iot", 1 << 9)]
        [InlineData(new[] { "gprs" }, "lte-m", 0)]
        [InlineData(new[] { "umts" }, "gprs", 0)]
        public void AccessPolicy_maps_configured_rats_not_below_the_minimum_to_act_values(string[] rats, string minimum, int mask)
        {
            int[] ranks = Array.ConvertAll(rats, AccessPolicy.RatFromName);
            Assert.Equal(mask, AccessPolicy.AllowedAcTMaskFor(ranks, AccessPolicy.RatFromName(minimum)));
            Assert.Equal(0, AccessPolicy.RatFromName("LTE-M")); // names are exact (the schema's enum)
        }

        [Fact]
        public void Policy_refuses_to_send_on_a_forbidden_RAT()
        {
            var rig = new Rig(seed: 10);
            rig.Modem.AcT = 0;                          // GSM/GPRS
            rig.Config.Policy.AllowedAcTMask |= 1;      // GPRS allowed by the mask ...
            rig.Config.Policy.MinimumGea = 3;           // ... but GEA3 is required and cannot be verified over AT
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.PolicyForbidsRat, app.LastError);
            Assert.DoesNotContain("SendDatagram", rig.Modem.Calls);
            Assert.DoesNotContain("Authenticate", rig.Modem.Calls);
            Assert.Equal(2, app.Queue.PendingCount);

            rig.Config.Policy.NetworkEnforcesGea = true; // the SGSN enforces GEA3 (DESIGN.md §5): allowed
            rig.Clock.Advance(3600_000);
            E2mApplication ok = rig.Cycle();
            Assert.Equal(FirmwareError.None, ok.LastError);
            Assert.False(new AccessPolicy().IsAllowed(0));
            Assert.True(new AccessPolicy().IsAllowed(9));
            Assert.False(new AccessPolicy().IsAllowed(-1));
        }

        [Fact]
        public void Supervisor_power_cycles_the_modem_after_repeated_failures_and_backs_off_exponentially()
        {
            var rig = new Rig(seed: 11);
            rig.Modem.Fail("WaitRegistered", ModemError.Timeout, 100);
            var sleeps = new List<int>();
            for (int i = 0; i < 30 && sleeps.Count < 6; i++)
            {
                E2mApplication app = rig.Cycle();
                if (app.FailedThisCycle)
                {
                    Assert.Equal(FirmwareError.RegistrationFailed, app.LastError);
                    sleeps.Add(app.SleepSeconds);
                }
                else
                {
                    Assert.DoesNotContain(AppState.PowerOn, new[] { app.State }); // a sample-only wake-up in between
                }
            }
            Assert.Equal(6, sleeps.Count);
            Assert.Equal(2, rig.Modem.PowerOffs);                   // after failures 3 and 6
            Assert.Equal(4, rig.PowerPin.Transitions.Count);        // hard reset pulse twice
            _out.WriteLine("sleeps after failures (s): " + string.Join(", ", sleeps) + " (seed " + rig.Seed + ")");
            Assert.True(sleeps[1] > sleeps[0], "backoff must grow");
            Assert.All(sleeps, s => Assert.True(s <= 900, "never sleeps past the next sample"));
            Assert.Equal(6, rig.Last!.DeviceState.ConsecutiveFailures);
            Assert.True(rig.Last!.Queue.PendingCount >= 2);
        }

        [Fact]
        public void Step_overrun_is_a_failure()
        {
            var rig = new Rig(seed: 12);
            rig.Config.StepBudgetMs = 1000;             // PowerOn takes 5 s in the scripted modem
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.StepOverrun, app.LastError);
        }

        [Fact]
        public void Deep_sleep_cycles_preserve_queue_keys_SSN_and_clock()
        {
            var rig = new Rig(seed: 13);
            rig.Config.UploadEveryCycles = 3;
            for (int i = 0; i < 9; i++) rig.Cycle();
            E2mApplication last = rig.Last!;
            Assert.Equal(9u, last.DeviceState.Boots);
            Assert.Equal(9, rig.Sleep.Requests.Count);
            // uploads at wake-ups 1 (no key yet), 4 and 7; the readings of 8 and 9 wait in the queue
            Assert.Equal(14, rig.EmseA.Unique.Count);
            Assert.Equal(4, last.Queue.PendingCount);
            Assert.Equal(1, rig.Net.Emks.Challenges);
            Assert.Equal(3, rig.EmseA.Batches);
            Assert.Equal(0, rig.EmseA.NonceReuse);
            Assert.Equal(0, rig.EmseA.DecryptFailures);
            // sample times are 900 s apart, absolute
            long[] temps = rig.EmseA.Received.Where(r => r.Name.EndsWith("temp")).Select(r => r.Time).ToArray();
            for (int i = 1; i < temps.Length; i++) Assert.Equal(900, temps[i] - temps[i - 1]);
            // only uploading wake-ups power the modem
            Assert.Equal(3, rig.Modem.Calls.Count(c => c == "PowerOn"));
        }

        [Fact]
        public void Without_network_time_records_carry_negative_offsets_to_arrival()
        {
            var rig = new Rig(seed: 14);
            rig.Modem.NetworkTimeAvailable = false;
            rig.Cycle();
            rig.Cycle();
            Assert.Equal(4, rig.EmseA.Received.Count);
            Assert.All(rig.EmseA.Received, r => Assert.False(r.Absolute));
            var temps = rig.EmseA.Received.Where(r => r.Name.EndsWith("temp")).Select(r => r.Time).ToArray();
            Assert.Equal(900, temps[1] - temps[0]);
        }

        [Fact]
        public void Default_base_name_is_derived_from_the_KID_not_the_IMSI()
        {
            var rig = new Rig(seed: 15);
            rig.Config.DeviceName = null;
            E2mApplication app = rig.Cycle();
            string expected = "urn:dev:kid:" + Hex.Encode(app.Keys.GetKid(0)) + ":temp";
            Assert.Equal(expected, rig.EmseA.Received[0].Name);
            Assert.DoesNotContain(rig.Net.Imsi, rig.EmseA.Received[0].Name);
        }

        [Fact]
        public void Two_EMSEs_get_different_keys_from_one_int_key_and_only_their_routed_readings()
        {
            var rig = new Rig(seed: 16, emses: 2);
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.None, app.LastError);
            Assert.Equal(1, rig.Net.Emks.Challenges);                   // one AKA, two keys
            Assert.Equal(app.Keys.GetKid(0), app.Keys.GetKid(1));       // same e2m_int_key → same KID
            Assert.Equal(new[] { "temp", "battery" }, rig.EmseA.Received.Select(r => r.Name.Substring(15)));
            Assert.Equal(new[] { "energy", "battery" }, rig.EmseB.Received.Select(r => r.Name.Substring(15)));
            Assert.Equal(0, app.Queue.PendingCount);

            // each EMSE decrypts only its own: A's request under B's key fails, under A's key verifies
            FakeVector v = rig.Net.Vectors.Values.Single();
            byte[] intKey = TestKdf.IntKey(v.Ck, v.Ik);
            byte[] keyA = TestKdf.E2mKey(intKey, "emse.example.org"), keyB = TestKdf.E2mKey(intKey, "emse2.example.net");
            Assert.NotEqual(keyA, keyB);
            byte[] kid = app.Keys.GetKid(0);
            // a fresh device context per EMSE, as the firmware builds them, then cross-check
            var devA = OscoreSecurityContext.ForDevice(rig.Net.Crypto, keyA, kid, new MemorySsnStore(1000));
            var req = new E2m.Coap.CoapMessage { Type = 0, Code = E2m.Coap.CoapCode.Post, MessageId = 1 };
            req.AddUriPath("r");
            var dgram = new byte[256];
            int n = devA.ProtectRequest(req, dgram, 0, new OscoreExchange());
            var emseB = OscoreSecurityContext.ForEmse(rig.Net.Crypto, keyB, kid, null);
            var emseA = OscoreSecurityContext.ForEmse(rig.Net.Crypto, keyA, kid, null);
            var outBuf = new byte[256];
            Assert.Throws<OscoreException>(() => emseB.UnprotectRequest(dgram, 0, n, outBuf, 0, new OscoreExchange()));
            emseA.UnprotectRequest(dgram, 0, n, outBuf, 0, new OscoreExchange());
            // the device's own persisted keys are exactly those
            var rec = new byte[256];
            rig.Store.Read(rig.Config.KeyRecordBase + 1, rec, 0, rec.Length);
            Assert.Equal(keyB, rec.Skip(9).Take(32).ToArray());
        }

        [Fact]
        public void Pulse_counter_counts_edges_and_loses_none_across_cycles()
        {
            var rig = new Rig(seed: 17);
            var pin = new SimulatedPin("PULSE", rig.Clock);
            var counter = new PulseCounter(pin, E2m.Hal.PinEdge.Rising);
            rig.Config.Readings[1].Source = SensorKinds.Pulse;
            rig.Sensors = new ISensor[] { rig.Sensors[0], counter };
            for (int i = 0; i < 5; i++) { pin.Drive(true); pin.Drive(false); }
            rig.Cycle();
            for (int i = 0; i < 3; i++) { pin.Drive(true); pin.Drive(false); }
            rig.Cycle();
            double[] energy = rig.EmseA.Received.Where(r => r.Name.EndsWith("energy")).Select(r => r.Value).ToArray();
            Assert.Equal(new double[] { 5, 8 }, energy);
            Assert.Equal(0, counter.Pending);
        }

        private sealed class EdgeSource : E2m.Hal.IDigitalInput
        {
            public event E2m.Hal.PinEdgeHandler? Edge;
            public bool Read() => false;
            public void Raise(E2m.Hal.PinEdge e) => Edge?.Invoke(this, e);
        }

        [Fact]
        public void Pulse_counter_is_thread_safe()
        {
            var src = new EdgeSource();
            var counter = new PulseCounter(src, E2m.Hal.PinEdge.Falling);
            var threads = Enumerable.Range(0, 4).Select(_ => new System.Threading.Thread(() =>
            {
                for (int i = 0; i < 20000; i++) src.Raise(i % 2 == 0 ? E2m.Hal.PinEdge.Falling : E2m.Hal.PinEdge.Rising);
            })).ToList();
            threads.ForEach(t => t.Start());
            long taken = 0;
            for (int k = 0; k < 200; k++)
            {
                counter.Sample(taken, out long m);
                counter.Commit();            // forgets exactly the pulses included in m
                taken = m;
            }
            threads.ForEach(t => t.Join());
            counter.Sample(taken, out long total);
            Assert.Equal(4 * 10000, total);  // every falling edge counted exactly once
        }
    }
}

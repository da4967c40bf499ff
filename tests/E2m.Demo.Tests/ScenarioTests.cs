using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Firmware;
using E2m.ModemSim.Faults;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Network;
using E2m.ModemSim.Traces;
using E2m.ModemSim.Usim;
using E2m.Oscore;
using E2m.Server.Common;
using E2m.Server.Hss.Subscribers;
using Xunit;
using Xunit.Abstractions;
using MsLogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace E2m.Demo.Tests
{
    /// <summary>
    /// End-to-end scenarios of issue 8 point 3 on the demo's parts (whole system: SimulatedUsim + SimulatedModem + the
    /// firmware's driver and E2mApplication on a FakeClock; the real HSS, EMKS and two EMSEs on loopback sockets). The
    /// devices run on the test thread one cycle at a time (deterministic order); the servers share one shifted clock
    /// (<see cref="ShiftedTime"/>) that the tests move with device time where expiry matters.
    /// Oracles: the device's flash (durable queue records = readings taken, key slots = KIDs and e2m_keys), the EMSEs'
    /// readings HTTP API, the EMKS pull API with each EMSE's certificate, the HSS subscriber store (SEQ_HE) and the
    /// CoAP codes on the modem's air interface (a tap on the simulated modem).
    /// </summary>
    public sealed class ScenarioTests
    {
        private const int A = 0, B = 1; // utility EMSE, third-party EMSE (DemoRunner.DemoReadings: energy → A, temp → B, battery → both)
        private readonly ITestOutputHelper _output;

        public ScenarioTests(ITestOutputHelper output) => _output = output;

        // ------------------------------------------------------------------ 1. sync failure and resync

        /// <summary>
        /// The USIM has accepted SEQ 1000 on every IND (33.102 Annex C) while the HSS starts at SEQ 0: the first
        /// AUTHENTICATE answers DC + AUTS. Network mode: the serving node resynchronises through the HSS AIR API and
        /// retries; the firmware then reads fresh keys from EF_KeysPS.
        /// </summary>
        [Fact]
        public async Task ScenarioSyncFailureResyncNetworkMode() => await SyncFailureResync(DemoKeyMode.Network);

        /// <summary>Home mode: the firmware sends <c>POST /bs {1: imsi, 2: rand, 9: auts}</c>, the EMKS has the HSS resynchronise and answers a fresh challenge.</summary>
        [Fact]
        public async Task ScenarioSyncFailureResyncHomeMode() => await SyncFailureResync(DemoKeyMode.Home);

        private async Task SyncFailureResync(DemoKeyMode mode)
        {
            const long seqMs = 1000;
            await using Scenario s = await Scenario.StartAsync(_output);
            DemoDevice d = s.AddDevice(mode, usim: p => p.AcceptedSqns = Enumerable.Range(0, 1 << p.IndBits).Select(ind => ((ulong)seqMs << p.IndBits) | (uint)ind).ToArray());
            Assert.Equal(0, s.Stack.Subscriber(d.Subscriber.Imsi)!.Seq);

            s.Run(d, 2);
            s.Drain(d);

            SubscriberInfo hss = s.Stack.Subscriber(d.Subscriber.Imsi)!;
            Assert.True(hss.Seq > seqMs, $"HSS SEQ_HE {hss.Seq} did not move past SEQ_MS {seqMs}\n{s.Transcript}");
            DeviceKey key = Assert.Single(d.Recorder.Keys, k => k.Emse == A);
            Assert.Equal(mode == DemoKeyMode.Network ? KeyOrigins.Network : KeyOrigins.Home, key.Origin);
            if (mode == DemoKeyMode.Network)
            {
                Assert.Contains("resync", d.Modem.Cell?.Note ?? "", StringComparison.Ordinal); // the serving node's typed attach result
            }

            await s.AssertEveryReadingStoredOnceAsync(d);
        }

        // ------------------------------------------------------------------ 2. key expiry and re-key

        /// <summary>
        /// Subscription key lifetime 1 h (the e2m profile), device re-key margin 10 min, 15 device minutes per cycle,
        /// servers' clock moved with the device's: at t = 60 min the firmware's key is no longer usable and it
        /// bootstraps a new one (new KID) before using the old one past its expiry; the EMSEs pull the new key. Then the
        /// servers' clock jumps 2 h ahead (the device slept longer than it knows): the EMSE refuses the still "valid"
        /// key with an unprotected 4.01, the firmware forgets its keys, re-keys and re-sends. Readings under all keys
        /// are stored, none lost or duplicated.
        /// </summary>
        [Fact]
        public async Task ScenarioKeyExpiryAndRekeyHomeMode()
        {
            await using Scenario s = await Scenario.StartAsync(_output);
            DemoDevice d = s.AddDevice(DemoKeyMode.Home, sub: n => n.E2m.KeyLifetimeSeconds = 3600, config: c => c.RekeyMarginSeconds = 600);

            s.Run(d, 6, followServers: true); // t = 0, 15, 30, 45 min under KID 1; 60, 75 min under KID 2
            byte[][] kids = d.Recorder.Keys.Where(k => k.Emse == A).Select(k => k.Kid).ToArray();
            Assert.True(kids.Length == 2, $"expected one re-key before expiry, KIDs: {kids.Length}\n{s.Transcript}");
            Assert.Equal(0, s.CountCode(d, Scenario.Unauthorized, A) + s.CountCode(d, Scenario.Unauthorized, B)); // re-keyed in time: no 4.01

            // the servers' clock jumps past KID 2's expiry; the device does not know
            s.Time.Advance(TimeSpan.FromHours(2));
            s.Run(d, 2);
            s.Drain(d);
            Assert.True(s.CountCode(d, Scenario.Unauthorized, A) >= 1, "the EMSE did not refuse the expired key with 4.01\n" + s.Transcript);
            kids = d.Recorder.Keys.Where(k => k.Emse == A).Select(k => k.Kid).ToArray();
            Assert.True(kids.Length == 3, $"expected a re-key after the 4.01, KIDs: {kids.Length}\n{s.Transcript}");
            Assert.Equal(KeyOrigins.Home, d.Recorder.Keys.Last().Origin);

            List<ApiReading> rows = await s.AssertEveryReadingStoredOnceAsync(d);
            foreach (byte[] kid in kids)
            {
                Assert.Contains(rows, r => Scenario.SameKid(r.Kid, kid)); // readings under every key were stored (each pulled by the EMSE)
            }
        }

        /// <summary>
        /// Network mode: the device does not see the subscription's key lifetime (it assumes 30 days, DESIGN.md §5); the
        /// subscription says 1 h. When the servers' clock passes the expiry, the EMSE answers 4.01; EF_KeysPS still
        /// holds the old key (stale), so the firmware powers the modem off and attaches again (the serving node runs a
        /// new AKA with a vector from the HSS) and re-sends under the new KID in the same wake-up: nothing lost.
        /// </summary>
        [Fact]
        public async Task ScenarioKeyExpiryAndRekeyNetworkMode()
        {
            await using Scenario s = await Scenario.StartAsync(_output);
            DemoDevice d = s.AddDevice(DemoKeyMode.Network, sub: n => n.E2m.KeyLifetimeSeconds = 3600);

            s.Run(d, 2);
            Assert.Single(d.Recorder.Keys, k => k.Emse == A);
            s.Time.Advance(TimeSpan.FromHours(2));
            s.Run(d, 1);
            Assert.True(s.CountCode(d, Scenario.Unauthorized, A) >= 1, "the EMSE did not refuse the expired key with 4.01\n" + s.Transcript);
            byte[][] kids = d.Recorder.Keys.Where(k => k.Emse == A).Select(k => k.Kid).ToArray();
            Assert.True(kids.Length == 2, $"expected a network-mode re-key (fresh AKA) after the 4.01, KIDs: {kids.Length}\n{s.Transcript}");
            Assert.True(d.LastErrorText.Length == 0, "the re-key (modem off, attach with a new AKA) should succeed in the same wake-up\n" + s.Transcript);
            s.Run(d, 1);
            s.Drain(d);
            Assert.All(d.Recorder.Keys, k => Assert.Equal(KeyOrigins.Network, k.Origin));
            await s.AssertEveryReadingStoredOnceAsync(d);
        }

        // ------------------------------------------------------------------ 3. modem reboot during an upload

        /// <summary>
        /// The modem reboots on the first <c>AT+QIRD</c> of the run: the batch reached the EMSE (stored, 2.04 sent) but
        /// the 2.04 dies with the modem. In the same wake-up the firmware resynchronises with the booting module (it
        /// answers ERROR until APP RDY), re-initialises it, re-sends the same readings under a new SSN, and the EMSE
        /// holds each reading exactly once (it stores a device-time reading once per device, name and time).
        /// </summary>
        [Fact]
        public async Task ScenarioModemRebootDuringUploadNetworkMode()
        {
            await using Scenario s = await Scenario.StartAsync(_output);
            DemoDevice d = s.AddDevice(DemoKeyMode.Network, faults: new FaultPlan(11).RebootOn("AT+QIRD", 300, 1));
            s.Run(d, 1);
            Assert.True(d.LastErrorText.Length == 0, "the wake-up with the reboot failed instead of re-initialising and re-sending\n" + s.Transcript);
            Assert.Equal(d.Recorder.RoutedCount(A), d.Recorder.AcknowledgedCount(A)); // re-sent and acknowledged in the same wake-up
            s.Run(d, 1);
            s.Drain(d);
            string[] at = s.AtLog(d).Split('\n');
            int fault = Array.FindIndex(at, l => l.Contains("!!", StringComparison.Ordinal) && l.Contains("reboot", StringComparison.OrdinalIgnoreCase));
            _output.WriteLine("--- AT log from the reboot\n" + string.Join("\n", at.Skip(Math.Max(0, fault - 5)).Take(60)));
            Assert.True(d.Faults.Injected >= 1, "the reboot fault was not injected\n" + s.Transcript);
            Assert.Contains(d.Faults.Log, l => l.Contains("reboot", StringComparison.OrdinalIgnoreCase));
            List<ApiReading> rows = await s.AssertEveryReadingStoredOnceAsync(d);
            // the re-send used a new SSN (RFC 8613 App. B.1.1: no nonce reuse): more protected requests than stored ones
            int sent = s.Uplink(d, A).Select(Scenario.Piv).Distinct().Count(), stored = rows.Select(r => r.Piv).Distinct().Count();
            Assert.True(sent > stored, $"PIVs sent {sent}, stored {stored}\n{s.Transcript}");
        }

        /// <summary>
        /// Home mode: the first <c>AT+QIRD</c> is the EMKS's challenge. The modem reboots with it in its buffer; the
        /// firmware resynchronises, re-initialises, asks for a challenge again (the first one is never used) and
        /// delivers everything once.
        /// </summary>
        [Fact]
        public async Task ScenarioModemRebootDuringBootstrapHomeMode()
        {
            await using Scenario s = await Scenario.StartAsync(_output);
            DemoDevice d = s.AddDevice(DemoKeyMode.Home, faults: new FaultPlan(12).RebootOn("AT+QIRD", 300, 1));
            s.Run(d, 1);
            Assert.True(d.Faults.Injected >= 1, "the reboot fault was not injected\n" + s.Transcript);
            Assert.True(d.LastErrorText.Length == 0, "the wake-up with the reboot failed\n" + s.Transcript);
            s.Run(d, 1);
            s.Drain(d);
            Assert.All(d.Recorder.Keys, k => Assert.Equal(KeyOrigins.Home, k.Origin));
            await s.AssertEveryReadingStoredOnceAsync(d);
        }

        // ------------------------------------------------------------------ 4. EMSE restart

        /// <summary>
        /// EMSE A is stopped after two cycles, a cycle runs while it is down (upload times out, readings stay queued),
        /// A restarts on the same database and port. The last datagram A answered before the restart, sent again with
        /// a raw UDP socket (its response was lost, say), gets the stored response byte for byte and stores nothing
        /// (CoAP deduplication, RFC 7252 §4.5: the kid's last exchange survives the restart). Then the device catches
        /// up: every reading once. Once newer exchanges of the kid exist, the database keeps only the latest (with
        /// NSTART = 1, RFC 7252 §4.7, a device retransmits only its latest request): the old datagram gets its response
        /// from the EMSE's in-memory ring or 4.01, and no new reading; after EXCHANGE_LIFETIME it is a replay in any case
        /// (RFC 8613 §7.4, window persisted across the restart).
        /// </summary>
        [Fact]
        public async Task ScenarioEmseRestartHomeMode()
        {
            await using Scenario s = await Scenario.StartAsync(_output);
            DemoDevice d = s.AddDevice(DemoKeyMode.Home, config: c => c.MaxRetransmit = 1); // the cycle while A is down gives up after 4 + 8 s
            s.Run(d, 2);
            Captured before = s.Uplink(d, A).Last();
            int storedBefore = (await s.ReadingsAsync(A)).Count;

            await s.Stack.StopEmseAsync(A);
            s.Run(d, 1); // A is down: the cycle fails, the readings stay queued
            Assert.True(d.Recorder.Cursor(A) <= d.Recorder.Taken.Max(t => t.Seq), "A cannot have acknowledged while down");
            await s.Stack.StartEmseAsync(A);
            Assert.Equal(storedBefore, (await s.ReadingsAsync(A)).Count); // nothing lost in the restart

            byte[]? again = await s.SendRawAsync(A, before.Payload);
            Assert.NotNull(again);
            Assert.Equal(before.Response, again); // the answered exchange's stored response, byte for byte
            Assert.Equal(storedBefore, (await s.ReadingsAsync(A)).Count);

            s.Run(d, 1);
            s.Drain(d);
            await s.AssertEveryReadingStoredOnceAsync(d);
            int stored = (await s.ReadingsAsync(A)).Count;

            // the kid's recent exchanges in the EMSE's memory (4 per kid) may still answer it; the database answers it
            // as a replay: either way the same response or 4.01, and nothing stored
            byte[]? old = await s.SendRawAsync(A, before.Payload);
            Assert.NotNull(old);
            Assert.True(old!.AsSpan().SequenceEqual(before.Response) ||
                (old[1] == Scenario.Unauthorized && Encoding.ASCII.GetString(old).Contains("Replay", StringComparison.Ordinal)));
            Assert.Equal(stored, (await s.ReadingsAsync(A)).Count);

            s.Time.Advance(TimeSpan.FromMinutes(11)); // past EXCHANGE_LIFETIME (600 s)
            byte[]? replay = await s.SendRawAsync(A, before.Payload);
            Assert.NotNull(replay);
            Assert.Equal(Scenario.Unauthorized, replay![1]);
            Assert.Contains("Replay", Encoding.ASCII.GetString(replay), StringComparison.Ordinal);
            Assert.Equal(stored, (await s.ReadingsAsync(A)).Count);
        }

        // ------------------------------------------------------------------ 5. two EMSEs, one e2m_int_key

        /// <summary>
        /// One device, one e2m_int_key (one KID), two EMSE_Ids: the e2m_keys the EMKS hands to A and to B (pull API with
        /// each EMSE's own certificate) differ and equal what the device derived for each. The device's datagrams to A,
        /// delivered to B: B cannot decrypt (4.00 per its rules: it has a context for the KID, with its own key) and
        /// stores nothing.
        /// </summary>
        [Fact]
        public async Task ScenarioTwoEmsesCannotReadEachOthersTrafficNetworkMode()
        {
            await using Scenario s = await Scenario.StartAsync(_output);
            DemoDevice d = s.AddDevice(DemoKeyMode.Network);
            s.Run(d, 2);
            s.Drain(d);
            await s.AssertEveryReadingStoredOnceAsync(d);

            DeviceKey ka = Assert.Single(d.Recorder.Keys, k => k.Emse == A);
            DeviceKey kb = Assert.Single(d.Recorder.Keys, k => k.Emse == B);
            Assert.Equal(ka.Kid, kb.Kid); // one e2m_int_key
            byte[] pulledA = await s.PullAsync(A, ka.Kid), pulledB = await s.PullAsync(B, ka.Kid);
            Assert.NotEqual(pulledA, pulledB);
            Assert.Equal(ka.Key, pulledA);
            Assert.Equal(kb.Key, pulledB);

            int atB = (await s.ReadingsAsync(B)).Count;
            List<Captured> toA = s.Uplink(d, A);
            Assert.NotEmpty(toA);
            foreach (Captured c in toA.Take(3))
            {
                byte[]? answer = await s.SendRawAsync(B, c.Payload);
                Assert.NotNull(answer);
                Assert.True(answer![1] == Scenario.BadRequest || answer[1] == Scenario.Unauthorized, $"B answered code 0x{answer[1]:x2}, expected 4.00 or 4.01");
                Assert.Equal(-1, Scenario.FindOscoreOption(answer)); // unprotected error: B could not build a context response
            }

            Assert.Equal(atB, (await s.ReadingsAsync(B)).Count);
        }

        // ------------------------------------------------------------------ 6. EMSE not allowed by the subscription

        /// <summary>
        /// The subscription allows only A; the device is configured for A and B. The EMKS refuses B's pull (404: unknown,
        /// expired and not allowed are indistinguishable on purpose, KeysApi), B answers the device 4.01, B stores
        /// nothing for it, A gets every reading routed to it.
        /// Designed firmware behaviour (E2mApplication.DoUpload, firmware README "Keys" 4 and "Queue rules"): A accepted
        /// the KID in the same wake-up, so B's 4.01 marks "B refuses this KID" (persisted), B is skipped until the KID
        /// changes and nothing is re-keyed: one key establishment for the whole run. With a ring smaller than B's backlog
        /// (8 readings, B gets 2 per sample), the oldest readings pending only for B are evicted (counted dropped), so A
        /// keeps receiving every reading and no sample is refused.
        /// </summary>
        [Fact]
        public async Task ScenarioEmseNotAllowedGetsNoKeyHomeMode()
        {
            const int Wakes = 8; // B's share of 8 samples = 16 readings > the 8-reading ring
            await using Scenario s = await Scenario.StartAsync(_output);
            DemoDevice d = s.AddDevice(DemoKeyMode.Home, config: c => c.QueueCapacity = 8, allowed: new[] { DemoOptions.UtilityEmseId });
            s.Run(d, Wakes, followServers: true); // servers' clock follows the device's (the EMKS's per-IMSI bootstrap rate limit)

            // regular wake-ups (B refusing does not fail them: no back-off delays A), every sample taken
            Assert.Equal(0, d.FailedCycles);
            Assert.Equal(Wakes * d.Config.Readings.Length, d.Recorder.Taken.Count);
            // cost: one key establishment for all wake-ups (no re-key per wake-up after B's 4.01)
            int kids = d.Recorder.Keys.Select(k => Convert.ToHexString(k.Kid)).Distinct().Count();
            Assert.True(kids == 1, $"{kids} KIDs for {Wakes} wake-ups\n{s.Transcript}");
            Assert.True(s.CountCode(d, Scenario.Unauthorized, B) >= 1, "B did not answer 4.01\n" + s.Transcript);
            Assert.True(d.App!.Keys.IsRefusing(B), "B not marked as refusing the KID");
            Assert.Empty(await s.ReadingsAsync(B)); // nothing stored at B, for this device or any other
            Delivery atA = await s.CheckAsync(d, A);
            Assert.True(atA.Missing.Count == 0 && atA.Extra.Count == 0, atA + "\n" + s.Transcript);

            // the EMKS: the KID of A's last stored reading is pullable by A, refused to B (404 by design)
            ApiReading last = (await s.ReadingsAsync(A)).OrderBy(r => r.TimeUnixMs).Last();
            byte[] kid = Convert.FromHexString(last.Kid);
            Assert.Equal(200, await s.PullStatusAsync(A, kid));
            Assert.Equal(404, await s.PullStatusAsync(B, kid));

            // B's readings: the newest stay queued (delivered if a later KID is accepted), the oldest were evicted for B
            // (its cursor moved without a 2.04: counted as dropped, reason EmseRefusesKey)
            Assert.Equal(2 * Wakes, d.Recorder.RoutedCount(B)); // temp + battery of each sample
            Assert.True(d.App.Queue.HasPending(B), "B's newest readings must stay queued");
            int evicted = d.Recorder.AcknowledgedCount(B);
            Assert.True(evicted > 0, "nothing evicted for B");
            Assert.Equal((uint)evicted, d.App.DeviceState.DroppedReadings);
        }
    }

    /// <summary>A datagram seen on a device's air interface, with the first downlink datagram that followed it from the same server.</summary>
    public sealed class Captured
    {
        public Captured(IPEndPoint to, byte[] payload)
        {
            To = to;
            Payload = payload;
        }

        public IPEndPoint To { get; }

        public byte[] Payload { get; }

        public byte[]? Response { get; set; }
    }

    /// <summary>Outcome of the ground-truth check of one device at one EMSE.</summary>
    public sealed record Delivery(string Device, string EmseId, int Taken, int Stored, List<string> Missing, List<string> Extra)
    {
        public override string ToString() =>
            $"{Device} at {EmseId}: taken {Taken}, stored {Stored}, missing [{string.Join(", ", Missing)}], extra [{string.Join(", ", Extra)}]";
    }

    /// <summary>The servers' clock: the system clock shifted by an offset the test moves (wall clock and timestamps; timers stay real).</summary>
    public sealed class ShiftedTime : TimeProvider
    {
        private long _offsetTicks;

        public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

        public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

        /// <summary>Never moves the clock backwards.</summary>
        public void AtLeast(TimeSpan offset)
        {
            if (offset > Offset)
            {
                Interlocked.Exchange(ref _offsetTicks, offset.Ticks);
            }
        }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;

        /// <summary>Shifted too: rate limiters and caches measure elapsed time with timestamps (EMKS bootstrap token buckets).</summary>
        public override long GetTimestamp() => base.GetTimestamp() + (long)(Offset.Ticks * (double)TimestampFrequency / TimeSpan.TicksPerSecond);
    }

    /// <summary>Air-interface tap of one simulated modem: every UDP datagram with direction.</summary>
    public sealed class AirTap : IModemTrace
    {
        private readonly IPAddress _device;
        private readonly object _gate = new();
        private readonly List<(bool Up, IPEndPoint Peer, byte[] Payload)> _datagrams = new();

        public AirTap(IPAddress device) => _device = device;

        public List<(bool Up, IPEndPoint Peer, byte[] Payload)> Datagrams
        {
            get
            {
                lock (_gate)
                {
                    return _datagrams.ToList();
                }
            }
        }

        public void Udp(long timeMs, IPEndPoint source, IPEndPoint destination, byte[] payload)
        {
            bool up = source.Address.Equals(_device);
            lock (_gate)
            {
                _datagrams.Add((up, up ? destination : source, (byte[])payload.Clone()));
            }
        }

        public void DteToModem(long timeMs, string text)
        {
        }

        public void ModemToDte(long timeMs, byte[] data, int offset, int count)
        {
        }

        public void Note(long timeMs, string text)
        {
        }
    }

    /// <summary>
    /// One scenario: the demo's server stack (HSS, EMKS with the CoAP bootstrap, EMSE A and B) on a shifted clock, a
    /// serving node asking the HSS, and devices built exactly as `e2m demo` builds them (DemoDevice, DemoRunner.DeviceConfig).
    /// </summary>
    public sealed class Scenario : IAsyncDisposable
    {
        public const byte Changed = 0x44, BadRequest = 0x80, Unauthorized = 0x81; // RFC 7252 §12.1.2: 2.04, 4.00, 4.01

        private readonly string _dir;
        private readonly HssAuthVectorSource _source;
        private readonly ServingNode _servingNode;
        private readonly List<DemoDevice> _devices = new();
        private readonly Dictionary<DemoDevice, AirTap> _taps = new();
        private readonly Dictionary<DemoDevice, E2m.Hal.Host.TextLog> _logs = new();
        private readonly Dictionary<DemoDevice, StringWriter> _atLogs = new();
        private readonly StringBuilder _transcript = new();
        private readonly StringWriter _serverLog = new();
        private readonly ITestOutputHelper? _output;

        private Scenario(string dir, ServerStack stack, ShiftedTime time, ITestOutputHelper? output)
        {
            _output = output;
            _dir = dir;
            Stack = stack;
            Time = time;
            _source = new HssAuthVectorSource(new Uri(stack.HssUrl + "/"), stack.CreateServingNodeHandler());
            _servingNode = new ServingNode(_source, new ServingNodeOptions { Plmn = "00101" });
        }

        public ServerStack Stack { get; }

        public ShiftedTime Time { get; }

        /// <summary>The AT log of <paramref name="d"/> (DTE ↔ DCE lines, fault notes).</summary>
        public string AtLog(DemoDevice d) => _atLogs[d].ToString();

        public string Transcript => _transcript + "\n--- servers\n" + _serverLog
            + string.Concat(_logs.Select(l => "--- " + l.Key.Name + " firmware log\n" + string.Join("\n", l.Value.Lines.TakeLast(60)) + "\n"));

        public static readonly string[] EmseIds = { DemoOptions.UtilityEmseId, DemoOptions.ThirdPartyEmseId };

        public static async Task<Scenario> StartAsync(ITestOutputHelper? output = null)
        {
            string dir = Directory.CreateTempSubdirectory("e2m-scenario-").FullName;
            var time = new ShiftedTime();
            var log = new StringWriter();
            ServerStack stack = await ServerStack.StartAsync(dir, EmseIds, MsLogLevel.Warning, TextWriter.Synchronized(log), time);
            var s = new Scenario(dir, stack, time, output);
            s._serverLog.Write(log.ToString());
            return s;
        }

        /// <summary>A device as the demo builds it (network mode: UMTS cell; home mode: LTE-M cell), optionally customised.</summary>
        public DemoDevice AddDevice(DemoKeyMode mode, Action<NewSubscriber>? sub = null, Action<UsimProfile>? usim = null, FaultPlan? faults = null,
            Action<FirmwareConfig>? config = null, string[]? allowed = null)
        {
            DemoSubscriber subscriber = Stack.Provision(allowed ?? EmseIds, sub);
            FirmwareConfig c = DemoRunner.DeviceConfig(mode, Stack);
            config?.Invoke(c);
            int index = _devices.Count;
            var log = new E2m.Hal.Host.TextLog(null, E2m.Hal.LogLevel.Info);
            var at = new StringWriter();
            var d = new DemoDevice(index, subscriber, c, ModemDialect.ByName("bg95"), mode == DemoKeyMode.Network ? SimRat.Umts : SimRat.LteM,
                _servingNode, faults ?? new FaultPlan(100 + index), null, TextWriter.Synchronized(at), log, usim);
            var tap = new AirTap(d.DeviceAddress);
            d.Modem.AddTrace(tap);
            _taps[d] = tap;
            _logs[d] = log;
            _atLogs[d] = at;
            _devices.Add(d);
            return d;
        }

        /// <summary>Runs <paramref name="cycles"/> wake-ups; with <paramref name="followServers"/> the servers' clock is first moved to the device's time.</summary>
        public void Run(DemoDevice d, int cycles, bool followServers = false)
        {
            for (int i = 0; i < cycles; i++)
            {
                if (followServers)
                {
                    Time.AtLeast(TimeSpan.FromSeconds(d.DeviceSeconds));
                }

                d.RunCycle();
                Line(d, "cycle");
            }
        }

        /// <summary>No new samples; wake-ups until nothing is pending (bounded).</summary>
        public void Drain(DemoDevice d, int max = 8)
        {
            d.StopSampling();
            for (int i = 0; i < max && d.PendingReadings > 0; i++)
            {
                d.RunCycle();
                Line(d, "drain");
            }
        }

        private void Line(DemoDevice d, string what)
        {
            _transcript.Append(d.Name).Append(' ').Append(what).Append(" t+").Append(d.DeviceSeconds).Append("s state ").Append(d.StateText)
                .Append(" key ").Append(d.KeyModeText).Append(" kid ").Append(d.KidText).Append(" pending ").Append(d.PendingReadings)
                .Append(" cursors ").Append(d.Recorder.Cursor(0)).Append('/').Append(d.Recorder.Cursor(1))
                .Append(" faults ").Append(d.Faults.Injected)
                .Append(d.LastErrorText.Length > 0 ? " ! " + d.LastErrorText : "").Append('\n');
        }

        /// <summary>Uplink datagrams of <paramref name="d"/> to EMSE <paramref name="emse"/>, each with the next downlink datagram from it.</summary>
        public List<Captured> Uplink(DemoDevice d, int emse)
        {
            IPEndPoint to = Stack.Emses[emse].Coap;
            var list = new List<Captured>();
            Captured? open = null;
            foreach ((bool up, IPEndPoint peer, byte[] payload) in _taps[d].Datagrams)
            {
                if (peer.Port != to.Port)
                {
                    continue;
                }

                if (up)
                {
                    open = new Captured(peer, payload);
                    list.Add(open);
                }
                else if (open != null && open.Response == null)
                {
                    open.Response = payload;
                }
            }

            return list;
        }

        /// <summary>Downlink CoAP responses with <paramref name="code"/> from EMSE <paramref name="emse"/> to <paramref name="d"/>.</summary>
        public int CountCode(DemoDevice d, byte code, int emse) =>
            _taps[d].Datagrams.Count(x => !x.Up && x.Peer.Port == Stack.Emses[emse].Coap.Port && x.Payload.Length >= 4 && x.Payload[1] == code);

        /// <summary>OSCORE Partial IV of a protected request (RFC 8613 §6.1), -1 without one.</summary>
        public static long Piv(Captured c)
        {
            int at = FindOscoreOption(c.Payload);
            if (at < 0)
            {
                return -1;
            }

            byte flags = c.Payload[at];
            int n = flags & 0x07;
            long piv = 0;
            for (int i = 0; i < n; i++)
            {
                piv = (piv << 8) | c.Payload[at + 1 + i];
            }

            return piv;
        }

        /// <summary>Offset of the OSCORE option value (number 9, RFC 8613 §2) in a CoAP message, -1 if absent (RFC 7252 §3.1).</summary>
        public static int FindOscoreOption(byte[] m)
        {
            int tkl = m[0] & 0x0F, p = 4 + tkl, number = 0;
            while (p < m.Length && m[p] != 0xFF)
            {
                int delta = m[p] >> 4, length = m[p] & 0x0F;
                p++;
                if (delta == 13) { delta = m[p] + 13; p++; }
                else if (delta == 14) { delta = (m[p] << 8 | m[p + 1]) + 269; p += 2; }
                if (length == 13) { length = m[p] + 13; p++; }
                else if (length == 14) { length = (m[p] << 8 | m[p + 1]) + 269; p += 2; }
                number += delta;
                if (number == 9)
                {
                    return length > 0 ? p : -1;
                }

                p += length;
            }

            return -1;
        }

        public static bool SameKid(string apiKid, byte[] kid) =>
            string.Equals(apiKid, Convert.ToHexStringLower(kid), StringComparison.OrdinalIgnoreCase)
            || string.Equals(apiKid, Convert.ToHexStringLower(OscoreSecurityContext.SenderIdFromKid(kid)), StringComparison.OrdinalIgnoreCase);

        public Task<List<ApiReading>> ReadingsAsync(int emse) => ServerStack.ReadAllAsync(Stack.Emses[emse]);

        /// <summary>
        /// Ground truth: every reading the device made durable and routed to <paramref name="emse"/> is in that EMSE's
        /// readings API exactly once (name, value; time too when the reading carried absolute time), under one of the
        /// device's KIDs; nothing else of the device's is there.
        /// </summary>
        public async Task<Delivery> CheckAsync(DemoDevice d, int emse)
        {
            FirmwareConfig config = d.Config;
            byte[][] kids = d.Recorder.Keys.Where(k => k.Emse == emse).Select(k => k.Kid).ToArray();
            List<ApiReading> rows = (await ReadingsAsync(emse)).Where(r => kids.Any(k => SameKid(r.Kid, k))).ToList();
            var missing = new List<string>();
            var unmatched = new List<ApiReading>(rows);
            int taken = 0;
            // a reading taken before the first network time carries device seconds only; the firmware sends it with
            // absolute time through the (then fixed) device-clock → Unix offset once it has one (E2mApplication.BuildBatch)
            DeviceState? state = d.App?.DeviceState;
            long offset = state != null && state.HasUnixOffset ? state.UnixOffset : long.MinValue;
            foreach (TakenReading t in d.Recorder.Taken)
            {
                ReadingConfig rc = config.Readings[t.Reading];
                if ((rc.EmseMask & (1 << emse)) == 0)
                {
                    continue;
                }

                taken++;
                int at = unmatched.FindIndex(r => NameOf(r.Name) == rc.Name && r.Value.HasValue
                    && (long)Math.Round(r.Value.Value / Math.Pow(10, rc.Exponent)) == t.Mantissa
                    && (t.Unix != 0 ? r.TimeUnixMs == t.Unix * 1000
                        : offset != long.MinValue ? r.TimeUnixMs == (t.DeviceSeconds + offset) * 1000
                        : r.TimeSource == "arrival"));
                if (at < 0)
                {
                    missing.Add($"#{t.Seq} {rc.Name}={t.Mantissa}@{t.Unix}");
                }
                else
                {
                    unmatched.RemoveAt(at);
                }
            }

            List<string> extra = unmatched.Select(r => $"{NameOf(r.Name)}={r.Value}@{r.TimeUnixMs / 1000}({r.TimeSource}) piv {r.Piv}").ToList();
            return new Delivery(d.Name, Stack.Emses[emse].EmseId, taken, rows.Count - unmatched.Count, missing, extra);
        }

        /// <summary>Both EMSEs hold every reading routed to them exactly once; the device has nothing pending. Returns A's rows of the device.</summary>
        public async Task<List<ApiReading>> AssertEveryReadingStoredOnceAsync(DemoDevice d)
        {
            Assert.True(d.Recorder.Taken.Count > 0, "no reading taken\n" + Transcript);
            for (int j = 0; j < Stack.Emses.Count; j++)
            {
                Delivery r = await CheckAsync(d, j);
                Assert.True(r.Missing.Count == 0 && r.Extra.Count == 0, r + "\n" + Transcript);
                Assert.True(r.Taken > 0, r.ToString());
                Assert.Equal(r.Taken, d.Recorder.AcknowledgedCount(j));
            }

            Assert.Equal(0, d.PendingReadings);
            byte[][] kids = d.Recorder.Keys.Where(k => k.Emse == 0).Select(k => k.Kid).ToArray();
            return (await ReadingsAsync(0)).Where(r => kids.Any(k => SameKid(r.Kid, k))).ToList();
        }

        /// <summary>Sends <paramref name="datagram"/> from a fresh UDP socket to EMSE <paramref name="emse"/>; its answer or null (none within 5 s).</summary>
        public async Task<byte[]?> SendRawAsync(int emse, byte[] datagram)
        {
            using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            await udp.SendAsync(datagram, Stack.Emses[emse].Coap);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                UdpReceiveResult r = await udp.ReceiveAsync(timeout.Token);
                return r.Buffer;
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }

        private HttpClient PullClient(int emse)
        {
            string id = Stack.Emses[emse].EmseId;
            HttpMessageHandler handler = Mtls.CreateClientHandler(DevPki.LoadCertificate(_dir, DevPki.EmseName(id)), new E2mTrustAnchor(DevPki.LoadCaCertificate(_dir)));
            return new HttpClient(handler) { BaseAddress = new Uri(Stack.EmksUrl + "/"), Timeout = TimeSpan.FromSeconds(30) };
        }

        /// <summary>The EMKS pull API (GET /v1/keys/{kid}) with EMSE <paramref name="emse"/>'s own certificate: the e2m_key it would get.</summary>
        public async Task<byte[]> PullAsync(int emse, byte[] kid)
        {
            using HttpClient http = PullClient(emse);
            using JsonDocument doc = JsonDocument.Parse(await http.GetStringAsync("v1/keys/" + Convert.ToHexStringLower(kid)));
            return Convert.FromHexString(doc.RootElement.GetProperty("e2m_key").GetString()!);
        }

        public async Task<int> PullStatusAsync(int emse, byte[] kid)
        {
            using HttpClient http = PullClient(emse);
            using HttpResponseMessage r = await http.GetAsync("v1/keys/" + Convert.ToHexStringLower(kid));
            return (int)r.StatusCode;
        }

        private static string NameOf(string resolved)
        {
            int i = resolved.LastIndexOf(':');
            return i >= 0 ? resolved.Substring(i + 1) : resolved;
        }

        public async ValueTask DisposeAsync()
        {
            _output?.WriteLine(Transcript);
            foreach (DemoDevice d in _devices)
            {
                d.Dispose();
            }

            await Stack.DisposeAsync();
            _source.Dispose();
            try
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                Directory.Delete(_dir, true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}

using E2m.Hal.Host;
using E2m.Modem.Commands;
using E2m.Modem.Drivers;
using E2m.Modem.Usim;
using E2m.TestSupport;

namespace E2m.Firmware.Tests
{
    /// <summary>
    /// A scripted ICellularModem: every operation succeeds after a short fake-clock delay unless a fault is queued for
    /// it (<see cref="Fail"/>); UDP datagrams go to the in-process <see cref="FakeNetwork"/>; AUTHENTICATE answers as the
    /// network's USIM would (real TS 31.102 response APDUs parsed by AuthenticateResponse); EF_KeysPS is 33 octets set
    /// by the test. Receive waits advance the fake clock.
    /// </summary>
    public sealed class ScriptedModem : ICellularModem
    {
        private readonly FakeClock _clock;
        private readonly FakeNetwork _net;
        private readonly Dictionary<string, Queue<ModemError>> _faults = new();
        private readonly Dictionary<int, (string Host, int Port)> _sockets = new();
        private readonly Dictionary<int, Queue<byte[]>> _rx = new();
        private int _nextSocket = 1;

        public List<string> Calls { get; } = new(4096);
        public int AcT = 9;                 // NB-IoT
        public byte[]? EfKeysPs;            // null = READ BINARY refused
        public bool NetworkTimeAvailable = true;
        public DateTime NetworkEpoch = new(2026, 11, 28, 0, 0, 0, DateTimeKind.Utc);
        public int SendCount;
        /// <summary>Bytes allocated by this fake for the datagram copies and the simulated servers (not device code).</summary>
        public long FakeAllocatedBytes;
        public int RebootAtSend = -1;       // the n-th SendDatagram (0-based) reboots the modem
        public int DropUplinkNext;          // datagrams lost on the way up
        public long PsmTau, PsmActive;
        public int PowerOffs;

        public ScriptedModem(FakeClock clock, FakeNetwork net)
        {
            _clock = clock;
            _net = net;
        }

        public void Fail(string op, ModemError error, int times = 1)
        {
            if (!_faults.TryGetValue(op, out Queue<ModemError>? q)) _faults[op] = q = new Queue<ModemError>();
            for (int i = 0; i < times; i++) q.Enqueue(error);
        }

        private ModemError Op(string name, int ms = 100)
        {
            Calls.Add(name);
            _clock.Advance(ms);
            if (_faults.TryGetValue(name, out Queue<ModemError>? q) && q.Count > 0) return q.Dequeue();
            return ModemError.Ok;
        }

        public ModemError PowerOn() => Op("PowerOn", 5000);
        public ModemError PowerOff() { PowerOffs++; return Op("PowerOff", 2000); }
        public ModemError Initialize() => Op("Initialize", 500);
        public ModemError WaitSimReady(int timeoutMs)
        {
            ModemError e = Op("WaitSimReady");
            if (e != ModemError.Ok) _clock.Advance(timeoutMs);
            return e;
        }

        public ModemError ReadImsi(out string imsi)
        {
            imsi = _net.Imsi;
            return Op("ReadImsi");
        }

        public ModemError WaitRegistered(int timeoutMs, out RegistrationInfo info)
        {
            info = new RegistrationInfo { N = -1, Stat = RegistrationState.Home, AreaCode = -1, CellId = -1, AcT = AcT, RoutingArea = -1, CauseType = -1, RejectCause = -1, ActiveTime = -1, PeriodicUpdate = -1 };
            ModemError e = Op("WaitRegistered", 3000);
            if (e == ModemError.RegistrationDenied) info.Stat = RegistrationState.Denied;
            if (e == ModemError.Timeout) _clock.Advance(timeoutMs);
            return e;
        }

        public ModemError ActivatePdp(string apn) => Op("ActivatePdp", 1000);

        public ModemError OpenUdpSocket(string remoteIp, int remotePort, out int socket)
        {
            socket = -1;
            ModemError e = Op("OpenUdpSocket");
            if (e != ModemError.Ok) return e;
            socket = _nextSocket++;
            _sockets[socket] = (remoteIp, remotePort);
            _rx[socket] = new Queue<byte[]>();
            return ModemError.Ok;
        }

        public ModemError SendDatagram(int socket, byte[] data, int offset, int count)
        {
            int n = SendCount++;
            if (n == RebootAtSend)
            {
                Calls.Add("SendDatagram");
                return ModemError.Rebooted;
            }
            ModemError e = Op("SendDatagram");
            if (e != ModemError.Ok) return e;
            if (!_sockets.TryGetValue(socket, out var ep)) return ModemError.BadSocket;
            if (DropUplinkNext > 0) { DropUplinkNext--; return ModemError.Ok; }
            long before = GC.GetAllocatedBytesForCurrentThread();
            byte[] copy = new byte[count];
            Array.Copy(data, offset, copy, 0, count);
            foreach (byte[] answer in _net.Deliver(ep.Host, ep.Port, copy)) _rx[socket].Enqueue(answer);
            FakeAllocatedBytes += GC.GetAllocatedBytesForCurrentThread() - before; // the simulated air + servers, not the device
            return ModemError.Ok;
        }

        public ModemError ReceiveDatagram(int socket, byte[] buffer, int offset, int timeoutMs, out int length)
        {
            length = 0;
            if (!_rx.TryGetValue(socket, out Queue<byte[]>? q)) return ModemError.BadSocket;
            if (q.Count == 0)
            {
                _clock.Advance(timeoutMs);
                return ModemError.NoData;
            }
            byte[] d = q.Dequeue();
            Array.Copy(d, 0, buffer, offset, d.Length);
            length = d.Length;
            return ModemError.Ok;
        }

        public ModemError CloseSocket(int socket)
        {
            _sockets.Remove(socket);
            _rx.Remove(socket);
            return Op("CloseSocket", 10);
        }

        public string? SelectedPlmn;

        public ModemError SelectOperator(string plmn)
        {
            SelectedPlmn = plmn;
            return Op("SelectOperator");
        }

        public ModemError RequestPsm(long periodicTauSeconds, long activeTimeSeconds)
        {
            PsmTau = periodicTauSeconds;
            PsmActive = activeTimeSeconds;
            return Op("RequestPsm");
        }

        public ModemError ReadNetworkTime(out NetworkTime time)
        {
            DateTime now = NetworkEpoch.AddMilliseconds(_clock.NowMilliseconds);
            time = new NetworkTime { Year = now.Year, Month = now.Month, Day = now.Day, Hour = now.Hour, Minute = now.Minute, Second = now.Second };
            ModemError e = Op("ReadNetworkTime", 0);
            if (!NetworkTimeAvailable) time.Year = 1980;
            return e;
        }

        public ModemError ProbeCapabilities() => Op("ProbeCapabilities");

        public int SimPaths => SimAccessPaths.LogicalChannel | SimAccessPaths.Csim | SimAccessPaths.Crsm;

        public ModemError Authenticate(byte[] rand, byte[] autn, AuthenticateResult result)
        {
            ModemError e = Op("Authenticate", 300);
            if (e != ModemError.Ok) return e;
            if (_net.ModemRefusesAuthenticate) { result.SetModemRefused(3); return ModemError.Ok; } // +CME ERROR: 3
            byte[] apdu;
            if (_net.UsimPinNotVerified) apdu = new byte[] { 0x69, 0x82 };
            else if (_net.MacFailure) apdu = new byte[] { 0x98, 0x62 };             // TS 31.102 §7.3
            else if (_net.SyncFailuresToInject > 0)
            {
                _net.SyncFailuresToInject--;
                byte[] auts = _net.RandomBytes(14);
                _net.IssuedAuts[Hex.Encode(rand)] = auts;
                apdu = new byte[] { 0xDC, 0x0E }.Concat(auts).Concat(new byte[] { 0x90, 0x00 }).ToArray();
            }
            else
            {
                Assert.True(_net.Vectors.TryGetValue(Hex.Encode(rand), out FakeVector? v), "AUTHENTICATE with a RAND the EMKS never issued");
                Assert.Equal(v!.Autn, autn);
                // TS 31.102 §7.1.2.1: DB L RES L CK L IK
                apdu = new byte[] { 0xDB, (byte)v.Res.Length }.Concat(v.Res).Concat(new byte[] { 0x10 }).Concat(v.Ck)
                    .Concat(new byte[] { 0x10 }).Concat(v.Ik).Concat(new byte[] { 0x90, 0x00 }).ToArray();
            }
            AuthenticateResponse.Parse(apdu, 0, apdu.Length, result);
            return ModemError.Ok;
        }

        public ModemError ReadKeysPs(UsimKeys keys)
        {
            ModemError e = Op("ReadKeysPs");
            if (e != ModemError.Ok) return e;
            if (EfKeysPs == null) return ModemError.SimRefused;
            keys.Decode(EfKeysPs, 0, EfKeysPs.Length);
            return ModemError.Ok;
        }

        public ModemError ReadEfImsi(out string imsi) { imsi = _net.Imsi; return Op("ReadEfImsi"); }

        public ModemError ReadAd(out AdministrativeData ad) { ad = default!; return ModemError.CommandError; }

        public int LastCmeError => -1;

        public StatusWord LastStatusWord => new StatusWord(0x90, 0x00);

        /// <summary>Sets EF_KeysPS to KSI || CK || IK (TS 31.102 §4.2.4) and lets the HSS push that key.</summary>
        public byte[] SetNetworkKey(int ksi, byte[] ck, byte[] ik)
        {
            EfKeysPs = new byte[] { (byte)ksi }.Concat(ck).Concat(ik).ToArray();
            return _net.Push(ck, ik);
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Drivers;
using E2m.ModemSim.Faults;
using E2m.ModemSim.Modem;
using E2m.ModemSim.Traces;
using E2m.ModemSim.Transport;
using E2m.ModemSim.Usim;

namespace E2m.ModemSim.Tests.Modem
{
    /// <summary>
    /// The firmware's real driver (E2m.Modem Bg9xModem / SaraR4Modem over its AtChannel) wired to the simulator through the
    /// deterministic in-process link, on a FakeClock, with the simulated PWRKEY/STATUS pins and an M1 SimulatedUsim.
    /// </summary>
    internal sealed class SimRig : IDisposable
    {
        public static readonly byte[] K = Convert.FromHexString("465B5CE8B199B49FAA5F0A2EE238A6BC"); // TS 35.208 set 1
        public static readonly byte[] Opc = Convert.FromHexString("CD63CB71954A9F4E48A5994E37A02BAF");
        public const string Imsi = "001010123456789";
        public static readonly byte[] Rand = Convert.FromHexString("23553CBE9637A89D218AE64DAE47BF35"); // TS 35.208 set 1

        /// <summary>The HSS side of one AKA for the rig's card (TS 33.102 §6.3.2, MILENAGE TS 35.206): AUTN for SQN, expected RES, CK, IK.</summary>
        public static (byte[] Autn, byte[] Res, byte[] Ck, byte[] Ik) Vector(ulong sqn)
        {
            var m = new E2m.Crypto.Milenage(new E2m.Crypto.PortableCryptoProvider().CreateAes128());
            m.SetKey(K, Opc);
            byte[] sqnB = new byte[6];
            for (int i = 5; i >= 0; i--, sqn >>= 8)
            {
                sqnB[i] = (byte)sqn;
            }

            byte[] amf = { 0x80, 0x00 };
            byte[] mac = new byte[8], res = new byte[8], ck = new byte[16], ik = new byte[16], ak = new byte[6], autn = new byte[16];
            m.F1(Rand, sqnB, amf, mac, null);
            m.F2345(Rand, res, ck, ik, ak);
            E2m.Crypto.Aka.BuildAutn(sqnB, ak, amf, mac, autn);
            return (autn, res, ck, ik);
        }

        public SimRig(string dialect, ModemOptions? options = null, string? pin = null, FaultPlan? faults = null, bool t0 = false, int bg9xAccessMode = 0)
        {
            Clock = new FakeClock(0);
            Profile = new UsimProfile { K = K, Opc = Opc, Imsi = Imsi, Pin1 = pin, T0 = t0, Delta = SqnFreshness.NoLimit };
            Card = new SimulatedUsim(Profile);
            Options = options ?? new ModemOptions();
            Modem = new SimulatedModem(ModemDialect.ByName(dialect), Card, Clock, Options);
            Log = new StringWriter();
            AtLog = new AtLogWriter(TextWriter.Synchronized(Log)) { ShowSimData = true }; // test keys only
            Modem.AddTrace(AtLog);
            if (faults != null)
            {
                Modem.Faults = faults;
            }

            PowerKey = new SimulatedPin("PWRKEY", Clock);
            Status = new ModemStatusPin(Modem);
            Modem.AttachPins(PowerKey);
            Link = new InProcessModemLink(Modem, Clock);
            Channel = new AtChannel(Link, Clock, Clock);
            Driver = dialect.StartsWith("bg", StringComparison.Ordinal)
                ? new Bg9xModem(Channel, Clock, Clock, PowerKey, Status, bg9xAccessMode)
                : dialect.StartsWith("sara-r5", StringComparison.Ordinal)
                    ? new SaraR5Modem(Channel, Clock, Clock, PowerKey, Status)
                    : new SaraR4Modem(Channel, Clock, Clock, PowerKey, Status);
        }

        public FakeClock Clock { get; }

        public UsimProfile Profile { get; }

        public SimulatedUsim Card { get; }

        public ModemOptions Options { get; }

        public SimulatedModem Modem { get; }

        public StringWriter Log { get; }

        public AtLogWriter AtLog { get; }

        public SimulatedPin PowerKey { get; }

        public ModemStatusPin Status { get; }

        public InProcessModemLink Link { get; }

        public AtChannel Channel { get; }

        public AtModemBase Driver { get; }

        public string Transcript
        {
            get
            {
                AtLog.Dispose();
                return Log.ToString();
            }
        }

        /// <summary>Power on, init, SIM ready, registered.</summary>
        public void BringUp()
        {
            Check(Driver.PowerOn(), "PowerOn");
            Check(Driver.Initialize(), "Initialize");
            Check(Driver.WaitSimReady(10000), "WaitSimReady");
            Check(Driver.WaitRegistered(30000, out _), "WaitRegistered");
        }

        public void Check(ModemError e, string what)
        {
            if (e != ModemError.Ok)
            {
                throw new Xunit.Sdk.XunitException(what + " → " + e + "\n" + Log);
            }
        }

        public void Dispose()
        {
            Modem.Dispose();
        }
    }

    /// <summary>A real UDP echo server on 127.0.0.1 (the "real server" the bridge reaches).</summary>
    internal sealed class UdpEcho : IDisposable
    {
        private readonly UdpClient _udp;
        private readonly Thread _thread;
        private volatile bool _stop;

        public UdpEcho()
        {
            _udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            Port = ((IPEndPoint)_udp.Client.LocalEndPoint!).Port;
            _thread = new Thread(Loop) { IsBackground = true };
            _thread.Start();
        }

        public int Port { get; }

        public List<byte[]> Received { get; } = new();

        private void Loop()
        {
            while (!_stop)
            {
                try
                {
                    IPEndPoint from = new(IPAddress.Any, 0);
                    byte[] d = _udp.Receive(ref from);
                    lock (Received)
                    {
                        Received.Add(d);
                    }

                    _udp.Send(d, d.Length, from);
                }
                catch (Exception)
                {
                    return;
                }
            }
        }

        public void Dispose()
        {
            _stop = true;
            _udp.Dispose();
        }
    }
}

using System;
using System.Net;
using System.Text;

namespace E2m.ModemSim.Modem
{
    /// <summary>
    /// u-blox SARA-R410M/R412M delta (modems.md §2): no boot greeting (ready after <see cref="ReadyDelayMs"/>),
    /// PWR_ON 150–3200 ms on / ≥1.5 s off, RESET_N leaves the module off, +CFUN=15 reboot, +CPWROFF, +CCID,
    /// +UDCONF=1 HEX mode, UDP sockets +USOCR=17 / +USOST (hex, text or binary with the '@' prompt) / +USORF with
    /// <c>+UUSORF: &lt;socket&gt;,&lt;length&gt;</c>, +USOLI, +USOCL; AcT 7 = Cat-M1; +CEREG n ≤ 3 on R410M-02B; PSM (U16
    /// p182–186): a +CPSMS request takes effect only after the +CFUN=15 reboot (then +UCPSMS? and +CEREG report it);
    /// +CSGT=1,"text" sets a boot greeting (kept over reboots) printed when AT is ready — a RDY-like boot for hosts that
    /// ask for it (FreeRTOS' SARA-R4 port sends AT+CSGT=1,"RDY"); by default the boot is silent (modems.md §2.2).
    /// Not established in modems.md and chosen here: +CMEE default 0, +CCLK default "04/01/01", the answer of
    /// +USORF when nothing is pending ("+USORF: &lt;s&gt;,0", the length form), what +CPSMS answers while registered
    /// (accepted, applied at the next reboot).
    /// </summary>
    public class SaraR4Dialect : ModemDialect
    {
        private const string HexKey = "udconf-1";

        public override string Name => "sara-r4";

        public override string[] Identity => new[] { "u-blox", "SARA-R410M-02B", "L0.0.00.00.05.08 [Apr 17 2019 19:34:02]" };

        public override int DefaultCmee => 0;

        public override string DefaultClock => "04/01/01,00:00:00+00"; // not established (modems.md §5): a pre-2020 default

        /// <summary>PWR_ON switch-on pulse 150–3200 ms (PT-S, modems.md §2.1).</summary>
        public int PowerOnMinMs { get; set; } = 150;

        public int PowerOnMaxMs { get; set; } = 3200;

        /// <summary>Switch-off pulse ≥1.5 s (U-SIM R20 §1.6.2).</summary>
        public int PowerOffMinMs { get; set; } = 1500;

        /// <summary>Time until AT answers after switch-on (Zephyr startup 10 s is the upper bound; ubxlib sees several unanswered AT).</summary>
        public int ReadyDelayMs { get; set; } = 4000;

        /// <summary>V_INT low after +CPWROFF / a switch-off pulse ("&lt; 40 s", U16 p30).</summary>
        public int PowerOffDelayMs { get; set; } = 1000;

        public override int FirstBootLineMs => ReadyDelayMs;

        /// <summary>R410M-02B accepts +CEREG n ≤ 3 (modems.md §2.3).</summary>
        public override int MaxRegistrationN(string command, int coreMax) => command == "+CEREG" ? 3 : coreMax;

        public override string? CmeVerboseText(int code) => code == 3 ? "Operation not allowed" : null; // TinyGSM #296 log

        public override bool IsResetFun(int fun) => fun == 15;

        public override void Boot(SimulatedModem m, long elapsedMs)
        {
            if (m.PsmPendingReboot)
            {
                m.PsmPendingReboot = false;
                m.PsmApplied = m.PsmMode == 1;
                m.Note("PSM request applied by the reboot (U16 p182): mode " + m.PsmMode);
            }

            m.ScheduleInGeneration(Math.Max(0, ReadyDelayMs - elapsedMs), () =>
            {
                m.SetPower(PowerState.On);
                if (m.Greeting != null)
                {
                    m.Urc(m.Greeting); // +CSGT greeting: ready to reply to AT commands
                }
                else
                {
                    m.Note("AT interface ready (no greeting, modems.md §2.2)");
                }

                m.SimBoot();
            });
        }

        /// <summary>R410M-02B: the request takes effect only after deregistration and +CFUN=15 (U16 p182).</summary>
        public override void OnPsmRequested(SimulatedModem m)
        {
            m.PsmPendingReboot = true;
            m.Note("+CPSMS stored; R410M-02B applies it after deregistration and AT+CFUN=15 (U16 p182)"
                + (m.IsRegistered ? " — requested while registered" : string.Empty));
        }

        public override void OnSimReady(SimulatedModem modem)
        {
            // no unsolicited +CPIN on SARA-R4 unless +USIMSTAT is enabled (U09 p113)
        }

        public override void OnPowerKeyPulse(SimulatedModem m, long widthMs, long startedAt)
        {
            if (m.Power == PowerState.Off)
            {
                if (widthMs >= PowerOnMinMs && widthMs <= PowerOnMaxMs)
                {
                    m.PowerOnNow(startedAt, "PWR_ON " + widthMs + " ms");
                }
                else
                {
                    m.Note("PWR_ON pulse outside 150–3200 ms (" + widthMs + " ms): ignored");
                }

                return;
            }

            if (widthMs >= PowerOffMinMs)
            {
                m.ScheduleInGeneration(PowerOffDelayMs, () => m.PowerOffNow(null, "PWR_ON " + widthMs + " ms"));
            }
            else
            {
                m.Note("PWR_ON pulse ignored while on (" + widthMs + " ms)");
            }
        }

        public override void OnResetPulse(SimulatedModem m, long widthMs)
        {
            // R410/R412: the module is left powered OFF after RESET_N (PT-S, U-SIM R20 p29)
            if (m.Power != PowerState.Off)
            {
                m.PowerOffNow(null, "RESET_N " + widthMs + " ms (R410: left off)");
            }
        }

        public override void Restart(SimulatedModem m, string reason) => m.ScheduleInGeneration(100, () => m.Reboot(null, 100, reason));

        public override bool AcceptsDownlink(SimulatedModem m, SimSocket s) => s.HasSent || s.Listening; // modems.md §4 quirk 12

        public override void OnDatagramQueued(SimulatedModem m, SimSocket s)
        {
            // +UUSORF: <socket>,<length> per datagram (U11 p194)
            m.Urc("+UUSORF: " + s.Id + "," + s.Rx.Peek().Data.Length);
        }

        private static bool Hex(SimulatedModem m) => m.DialectState.TryGetValue(HexKey, out object? v) && (int)v == 1;

        public override void Apply(CommandTable t)
        {
            t.On("+CCID", AtForm.Exec, x =>
            {
                Ts27007Core.SimGuard(x, needPin: false);
                Ts27007Core.Single(x, "+CCID: " + (x.Modem.Sim.ReadIccid() ?? x.Modem.Options.Iccid));
            });
            t.On("+CPWROFF", AtForm.Exec, x =>
            {
                x.Ok();
                SimulatedModem m = x.Modem;
                m.Urc("+UCPWROFF"); // power-off in progress (U-SIM R20 p30)
                m.ScheduleInGeneration(PowerOffDelayMs, () => m.PowerOffNow(null, "AT+CPWROFF"));
            });
            t.On("+UDCONF", AtForm.Set, x =>
            {
                int op = x.Request.Int(0);
                if (op != 1)
                {
                    x.Ok();
                    return;
                }

                if (x.Request.Count == 1)
                {
                    Ts27007Core.Single(x, "+UDCONF: 1," + (Hex(x.Modem) ? 1 : 0));
                    return;
                }

                x.Modem.DialectState[HexKey] = x.Request.Int(1);
                x.Ok();
            });
            t.On("+UCPSMS", AtForm.Read, x =>
            {
                // the network-assigned values (modems.md §2.3); granted = requested once the request is in effect
                SimulatedModem m = x.Modem;
                Ts27007Core.Single(x, m.PsmApplied && m.PsmMode == 1
                    ? "+UCPSMS: 1,,," + (m.PsmTau == null ? string.Empty : "\"" + m.PsmTau + "\"") + "," + (m.PsmActive == null ? string.Empty : "\"" + m.PsmActive + "\"")
                    : "+UCPSMS: 0");
            });
            t.On("+USIMSTAT", AtForm.Set, x => x.Ok());
            t.On("+UPSV", AtForm.Set, x => x.Ok());
            t.On("+CSGT", AtForm.Set, x =>
            {
                // AT+CSGT=<mode>[,"<text>"]: 1 = greeting on (kept over reboots here)
                x.Modem.Greeting = x.Request.Int(0) == 1 ? (x.Request.Has(1) ? x.Request.Str(1) : "RDY") : null;
                x.Ok();
            });

            t.On("+USOCR", AtForm.Set, x =>
            {
                // +USOCR=17[,<local_port>] → +USOCR: <socket> (modems.md §2.5); sockets 0–6
                int protocol = x.Request.Int(0);
                if (protocol != 17)
                {
                    throw new CmeException(4); // only UDP is bridged
                }

                SimulatedModem m = x.Modem;
                for (int id = 0; id < 7; id++)
                {
                    if (!m.Sockets.ContainsKey(id))
                    {
                        try
                        {
                            m.OpenUdp(id, x.Request.Int(1, 0), null);
                        }
                        catch (System.Net.Sockets.SocketException)
                        {
                            throw new CmeException(3);
                        }

                        Ts27007Core.Single(x, "+USOCR: " + id);
                        return;
                    }
                }

                throw new CmeException(3);
            });
            t.On("+USOST", AtForm.Set, Usost);
            t.On("+USORF", AtForm.Set, Usorf);
            t.On("+USOLI", AtForm.Set, x =>
            {
                SimSocket s = Socket(x.Modem, x.Request.Int(0));
                int port = x.Request.Int(1);
                s.Bridge?.Dispose();
                try
                {
                    s.Bridge = new UdpBridge(x.Modem, s, port);
                }
                catch (System.Net.Sockets.SocketException)
                {
                    throw new CmeException(3);
                }

                s.Listening = true;
                x.Ok();
            });
            t.On("+USOCL", AtForm.Set, x =>
            {
                SimSocket s = Socket(x.Modem, x.Request.Int(0));
                x.Modem.CloseSocket(s.Id);
                x.Ok();
            });
            t.On("+USOER", AtForm.Exec, x => Ts27007Core.Single(x, "+USOER: 0"));
            t.On("+USOCTL", AtForm.Set, x =>
            {
                SimSocket s = Socket(x.Modem, x.Request.Int(0));
                int param = x.Request.Int(1);
                Ts27007Core.Single(x, "+USOCTL: " + s.Id + "," + param + "," + (param == 0 ? 17 : param == 1 ? 0 : s.PendingBytes));
            });
        }

        private static SimSocket Socket(SimulatedModem m, int id)
        {
            if (!m.Sockets.TryGetValue(id, out SimSocket? s))
            {
                throw new CmeException(3); // operation not allowed on a closed socket (TG-R4)
            }

            return s;
        }

        private static void Usost(AtExchange x)
        {
            // AT+USOST=<s>,"<ip>",<port>,<len>[,"<data>"] (U09 p190; U16 p216–217)
            AtRequest r = x.Request;
            SimulatedModem m = x.Modem;
            SimSocket s = Socket(m, r.Int(0));
            if (!IPAddress.TryParse(r.Str(1), out IPAddress? ip))
            {
                throw new CmeException(50);
            }

            var to = new IPEndPoint(ip, r.Int(2));
            int len = r.Int(3);
            if (r.Count >= 5)
            {
                byte[] data;
                if (Hex(m))
                {
                    string hex = r.Str(4);
                    if (len < 1 || len > 512 || hex.Length != 2 * len)
                    {
                        throw new CmeException(50);
                    }

                    data = Convert.FromHexString(hex);
                }
                else
                {
                    data = Encoding.Latin1.GetBytes(r.Str(4));
                    if (data.Length != len)
                    {
                        throw new CmeException(50);
                    }
                }

                Send(x, s, to, data);
                return;
            }

            if (len < 1 || len > 1024)
            {
                throw new CmeException(50);
            }

            // Binary syntax: '@' prompt, then exactly <len> bytes (U16 p216: the DTE waits ≥ 50 ms after '@')
            x.Prompt("@", len, data => Send(x, s, to, data));
        }

        private static void Send(AtExchange x, SimSocket s, IPEndPoint to, byte[] data)
        {
            if (!x.Modem.IsRegistered || s.Bridge == null)
            {
                throw new CmeException(3);
            }

            s.Bridge.Send(to, data);
            s.HasSent = true;
            s.BytesSent += data.Length;
            Ts27007Core.Single(x, "+USOST: " + s.Id + "," + data.Length);
        }

        private static void Usorf(AtExchange x)
        {
            // AT+USORF=<s>,<len> → +USORF: <s>,"<ip>",<port>,<n>,"<data>"; <len> 0 → +USORF: <s>,<unread> (U09 p193, U16 p220)
            SimulatedModem m = x.Modem;
            SimSocket s = Socket(m, x.Request.Int(0));
            int len = x.Request.Int(1);
            if (len < 0 || len > 1024)
            {
                throw new CmeException(50);
            }

            if (len == 0 || s.Rx.Count == 0)
            {
                Ts27007Core.Single(x, "+USORF: " + s.Id + "," + s.PendingBytes);
                return;
            }

            Datagram d = s.Rx.Dequeue();
            int n = Math.Min(len, d.Data.Length);
            byte[] part = d.Data.AsSpan(0, n).ToArray();
            string data = Hex(m) ? Convert.ToHexString(part) : Encoding.Latin1.GetString(part);
            x.Line("+USORF: " + s.Id + ",\"" + d.From.Address + "\"," + d.From.Port + "," + n + ",\"" + data + "\"");
            x.Ok();
            if (n < d.Data.Length)
            {
                // the rest of this datagram stays readable; announced again "after a partial read" (U11 p194)
                var rest = new Datagram(d.From, d.Data.AsSpan(n).ToArray());
                var q = new System.Collections.Generic.List<Datagram> { rest };
                q.AddRange(s.Rx);
                s.Rx.Clear();
                foreach (Datagram g in q)
                {
                    s.Rx.Enqueue(g);
                }
            }

            if (s.Rx.Count > 0)
            {
                m.Urc("+UUSORF: " + s.Id + "," + s.Rx.Peek().Data.Length);
            }
        }
    }
}

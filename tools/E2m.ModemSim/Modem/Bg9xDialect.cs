using System;
using System.Globalization;
using System.Net;
using System.Text;

namespace E2m.ModemSim.Modem
{
    public enum Bg9xVariant
    {
        Bg95,
        Bg96,
    }

    /// <summary>
    /// Quectel BG95 / BG96 delta (modems.md §1): PWRKEY timings, RDY / APP RDY boot lines, POWERED DOWN,
    /// +QPOWD, +QCCID, the Quectel TCP/IP stack (+QICSGP / +QIACT / +QIOPEN / +QISEND / +QIRD / +QICLOSE with
    /// <c>+QIOPEN: &lt;id&gt;,&lt;err&gt;</c> and <c>+QIURC: "recv",&lt;id&gt;</c>), +COPS AcT 8 = Cat-M1, CMEE default 1.
    /// Only UDP sockets are bridged (TCP → <c>+QIOPEN: &lt;id&gt;,555</c> operation not supported).
    /// </summary>
    public sealed class Bg9xDialect : ModemDialect
    {
        public Bg9xDialect(Bg9xVariant variant = Bg9xVariant.Bg95)
        {
            Variant = variant;
            if (variant == Bg9xVariant.Bg96)
            {
                RdyDelayMs = 4900;   // BG96 UART ready ≥4.9 s (PT-Q)
                AppRdyDelayMs = 5200;
            }
        }

        public Bg9xVariant Variant { get; }

        public override string Name => Variant == Bg9xVariant.Bg95 ? "bg95" : "bg96";

        public override string[] Identity => Variant == Bg9xVariant.Bg95
            ? new[] { "Quectel", "BG95-M3", "Revision: BG95M3LAR02A03" }
            : new[] { "Quectel", "BG96", "Revision: BG96MAR02A07M1G" };

        /// <summary>Factory default 1 (modems.md §1.3, particle PR #2555).</summary>
        public override int DefaultCmee => 1;

        public override bool ErrorsBeforeAppReady => Variant == Bg9xVariant.Bg95;

        /// <summary>Quectel power-on clock "80/01/06" (GPS epoch).</summary>
        public override string DefaultClock => "80/01/06,00:00:00+00";

        /// <summary>Power-on pulse ≥500 ms (BG95/BG96 500–1000 ms, modems.md §1.1).</summary>
        public int PowerOnMinMs { get; set; } = 500;

        /// <summary>Power-off pulse 650–1500 ms while on (Q-COMPAT §4.3.2, Q95-HW §3.6.2.1).</summary>
        public int PowerOffMinMs { get; set; } = 650;

        public int PowerOffMaxMs { get; set; } = 1500;

        /// <summary>BG95 reset on PWRKEY (RESET_N multiplexed): low 2–3.8 s (Q77-HW §3.7).</summary>
        public int ResetMinMs { get; set; } = 2000;

        /// <summary>"RDY" after power-on: BG95 UART ready ≥2.5 s (PT-Q).</summary>
        public int RdyDelayMs { get; set; } = 2500;

        /// <summary>"APP RDY" (BG95: usable only then, zephyr PR #57110).</summary>
        public int AppRdyDelayMs { get; set; } = 3700;

        /// <summary>"POWERED DOWN" after AT+QPOWD's OK / a power-off pulse.</summary>
        public int PowerDownDelayMs { get; set; } = 300;

        /// <summary>+QIOPEN result URC delay.</summary>
        public int QiopenUrcDelayMs { get; set; } = 200;

        public override int FirstBootLineMs => RdyDelayMs;

        public override int CopsAct(SimRat rat) => rat switch
        {
            SimRat.LteM => 8, // Quectel Cat-M1 (modems.md §1.3)
            SimRat.NbIot => 9,
            SimRat.Umts => 2,
            _ => 0,
        };

        /// <summary>Quectel prints "+CCHO: &lt;id&gt;" (modems.md §3, Q-CN example "+CCHO: 1").</summary>
        public override string CchoLine(string session) => "+CCHO: " + session;

        public override void Boot(SimulatedModem m, long elapsedMs)
        {
            m.ScheduleInGeneration(Math.Max(0, RdyDelayMs - elapsedMs), () =>
            {
                m.SetPower(PowerState.Starting);
                m.Urc("RDY");
            });
            m.ScheduleInGeneration(Math.Max(0, AppRdyDelayMs - elapsedMs), () =>
            {
                m.SetPower(PowerState.On);
                m.Urc("APP RDY");
                m.SimBoot();
            });
        }

        public override void OnSimReady(SimulatedModem m)
        {
            // +CPIN: READY (Mbed's BG96 ready URC), +QUSIM: 1 (Particle), +QIND: SMS DONE (sibling modules) — modems.md §1.2
            m.Urc("+CPIN: READY");
            m.Urc("+QUSIM: 1");
            m.ScheduleInGeneration(200, () => m.Urc("+QIND: SMS DONE"));
        }

        public override void OnPowerKeyPulse(SimulatedModem m, long widthMs, long startedAt)
        {
            if (m.Power == PowerState.Off)
            {
                if (widthMs >= PowerOnMinMs)
                {
                    m.PowerOnNow(startedAt, "PWRKEY " + widthMs + " ms");
                }
                else
                {
                    m.Note("PWRKEY pulse too short to power on (" + widthMs + " ms < " + PowerOnMinMs + " ms)");
                }

                return;
            }

            if (Variant == Bg9xVariant.Bg95 && widthMs >= ResetMinMs)
            {
                m.Reboot(null, 100, "PWRKEY reset " + widthMs + " ms");
            }
            else if (widthMs >= PowerOffMinMs && widthMs <= PowerOffMaxMs)
            {
                m.ScheduleInGeneration(PowerDownDelayMs, () => m.PowerOffNow("POWERED DOWN", "PWRKEY " + widthMs + " ms"));
            }
            else
            {
                m.Note("PWRKEY pulse ignored while on (" + widthMs + " ms)");
            }
        }

        public override void OnResetPulse(SimulatedModem m, long widthMs)
        {
            // BG96 RESET_N low 150–460 ms (PT-Q, MB-BG96)
            if (m.Power != PowerState.Off && widthMs >= 150)
            {
                m.Reboot(null, 100, "RESET_N " + widthMs + " ms");
            }
        }

        public override void Restart(SimulatedModem m, string reason)
        {
            // AT+CFUN=1,1: OK, POWERED DOWN, (+QIURC pdpdeact), RDY (TinyGSM #157, modems.md §1.2)
            m.ScheduleInGeneration(PowerDownDelayMs, () => m.Reboot("POWERED DOWN", 500, reason));
        }

        public override void OnPdpLost(SimulatedModem m, int cid)
        {
            m.Urc("+QIURC: \"pdpdeact\"," + cid);
        }

        public override void OnDatagramQueued(SimulatedModem m, SimSocket s)
        {
            if (s.AccessMode == 1)
            {
                // Direct push: +QIURC: "recv",<id>,<len>[,"<ip>",<port>] CR LF <data> (Q96-TCP p34–35)
                Datagram d = s.Rx.Dequeue();
                string head = "+QIURC: \"recv\"," + s.Id + "," + d.Data.Length + (s.Service ? ",\"" + d.From.Address + "\"," + d.From.Port : string.Empty);
                m.UrcWithPayload(head, d.Data); // header and bytes stay together, also while the DTE is in a '>' prompt
                s.BytesRead += d.Data.Length;
                return;
            }

            if (s.RecvUrcArmed)
            {
                // Buffer mode: one URC until drained by +QIRD (modems.md §1.5)
                s.RecvUrcArmed = false;
                m.Urc("+QIURC: \"recv\"," + s.Id + (m.Options.RecvUrcWithLength ? "," + s.PendingBytes : string.Empty));
            }
        }

        public override void Apply(CommandTable t)
        {
            t.On("+QPOWD", AtForm.Exec, x => Qpowd(x, 1));
            t.On("+QPOWD", AtForm.Set, x => Qpowd(x, x.Request.Int(0)));
            t.On("+QCCID", AtForm.Exec, x =>
            {
                Ts27007Core.SimGuard(x, needPin: false);
                Ts27007Core.Single(x, "+QCCID: " + (x.Modem.Sim.ReadIccid() ?? x.Modem.Options.Iccid));
            });
            t.On("+QCFG", AtForm.Set, x => x.Ok());
            t.On("+QURCCFG", AtForm.Set, x => x.Ok());
            t.On("+QSCLK", AtForm.Set, x => x.Ok());
            t.On("+QNWINFO", AtForm.Exec, x => Ts27007Core.Single(x, x.Modem.IsRegistered
                ? "+QNWINFO: \"" + (x.Modem.Options.Rat == SimRat.NbIot ? "NBIoT" : x.Modem.Options.Rat == SimRat.LteM ? "eMTC" : "GSM") + "\",\"" + x.Modem.Cell!.Plmn + "\",\"LTE BAND 20\",6300"
                : "+QNWINFO: No Service"));

            // ---- PDP (modems.md §1.4)
            t.On("+QICSGP", AtForm.Set, x =>
            {
                int ctx = x.Request.Int(0);
                if (ctx < 1 || ctx > 16)
                {
                    x.Error();
                    return;
                }

                PdpContext c = Ts27007Core.Context(x.Modem, ctx);
                if (x.Request.Count > 1)
                {
                    c.Type = x.Request.Int(1, 1) == 1 ? "IP" : "IPV6";
                    c.Apn = x.Request.Str(2);
                    x.Ok();
                    return;
                }

                Ts27007Core.Single(x, "+QICSGP: " + (c.Type == "IP" ? 1 : 2) + ",\"" + c.Apn + "\",\"\",\"\",0");
            });
            t.On("+QIACT", AtForm.Set, x =>
            {
                int ctx = x.Request.Int(0);
                if (!x.Modem.IsRegistered)
                {
                    x.Error(); // activation fails without a network (the manual's 150 s are not waited here)
                    return;
                }

                PdpContext c = Ts27007Core.Context(x.Modem, ctx);
                c.Active = true;
                c.Address = x.Modem.Options.DeviceAddress;
                x.Ok();
            });
            t.Delay("+QIACT", 500);
            t.On("+QIACT", AtForm.Read, x =>
            {
                foreach (PdpContext c in x.Modem.Contexts.Values)
                {
                    if (c.Active)
                    {
                        x.Line("+QIACT: " + c.Cid + ",1,1,\"" + c.Address + "\""); // <ctx>,<state>,<type>,"<ip>" (modems.md §1.4)
                    }
                }

                x.Ok();
            });
            t.On("+QIDEACT", AtForm.Set, x =>
            {
                int ctx = x.Request.Int(0);
                if (x.Modem.Contexts.TryGetValue(ctx, out PdpContext? c))
                {
                    c.Active = false;
                }

                foreach (SimSocket s in new System.Collections.Generic.List<SimSocket>(x.Modem.Sockets.Values))
                {
                    if (s.ContextId == ctx)
                    {
                        x.Modem.CloseSocket(s.Id);
                    }
                }

                x.Ok();
            });

            // ---- sockets (modems.md §1.5)
            t.On("+QIOPEN", AtForm.Set, Qiopen);
            t.On("+QISEND", AtForm.Set, Qisend);
            t.On("+QISENDEX", AtForm.Set, x =>
            {
                SimSocket? s = Find(x, x.Request.Int(0));
                if (s == null)
                {
                    return;
                }

                byte[] data;
                try
                {
                    data = Convert.FromHexString(x.Request.Str(1));
                }
                catch (FormatException)
                {
                    x.Error();
                    return;
                }

                if (data.Length == 0 || data.Length > 512)
                {
                    x.Error();
                    return;
                }

                Send(x, s, data, s.Remote);
            });
            t.On("+QIRD", AtForm.Set, Qird);
            t.On("+QICLOSE", AtForm.Set, x =>
            {
                x.Modem.CloseSocket(x.Request.Int(0));
                x.Ok();
            });
            t.On("+QISTATE", AtForm.Set, x =>
            {
                foreach (SimSocket s in x.Modem.Sockets.Values)
                {
                    if (x.Request.Int(0) == 1 && x.Request.Int(1) != s.Id)
                    {
                        continue;
                    }

                    x.Line(State(s));
                }

                x.Ok();
            });
            t.On("+QISTATE", AtForm.Read, x =>
            {
                foreach (SimSocket s in x.Modem.Sockets.Values)
                {
                    x.Line(State(s));
                }

                x.Ok();
            });
            t.On("+QIGETERROR", AtForm.Exec, x => Ts27007Core.Single(x, "+QIGETERROR: 0,operation successful"));
        }

        private void Qpowd(AtExchange x, int n)
        {
            // OK, then "POWERED DOWN" (modems.md §1.2: UG96 "sends out OK, and then sends out POWERED DOWN")
            x.Ok();
            SimulatedModem m = x.Modem;
            m.ScheduleInGeneration(n == 0 ? 0 : PowerDownDelayMs, () => m.PowerOffNow("POWERED DOWN", "AT+QPOWD"));
        }

        private static string State(SimSocket s) =>
            "+QISTATE: " + s.Id + ",\"" + (s.Service ? "UDP SERVICE" : "UDP") + "\",\"" + (s.Remote?.Address.ToString() ?? "127.0.0.1") + "\"," + (s.Remote?.Port ?? 0) + ","
            + (s.Bridge?.LocalPort ?? 0) + ",2," + s.ContextId + "," + s.Id + "," + s.AccessMode + ",\"uart1\"";

        private static SimSocket? Find(AtExchange x, int id)
        {
            if (!x.Modem.Sockets.TryGetValue(id, out SimSocket? s))
            {
                x.Error(); // "no such connection" → ERROR (Q96-TCP p22)
                return null;
            }

            return s;
        }

        private void Qiopen(AtExchange x)
        {
            // AT+QIOPEN=<ctx>,<id>,"<type>","<host>",<rport>[,<lport>[,<access_mode>]] → OK, then +QIOPEN: <id>,<err>
            AtRequest r = x.Request;
            int ctx = r.Int(0);
            int id = r.Int(1);
            string type = r.Str(2);
            string host = r.Str(3);
            int rport = r.Int(4);
            int lport = r.Int(5, 0);
            int mode = r.Int(6, 0);
            if (id < 0 || id > 11 || ctx < 1 || ctx > 16 || rport < 0 || rport > 65535 || mode < 0 || mode > 2)
            {
                x.Error();
                return;
            }

            SimulatedModem m = x.Modem;
            x.Ok();
            int err = 0;
            IPEndPoint? remote = null;
            bool service = type == "UDP SERVICE";
            if (type != "UDP" && !service || mode == 2)
            {
                err = 555; // operation not supported (only UDP buffer / direct push is bridged)
            }
            else if (m.Sockets.ContainsKey(id))
            {
                err = 563; // socket identity has been used
            }
            else if (!m.Contexts.TryGetValue(ctx, out PdpContext? c) || !c.Active)
            {
                err = 561; // PDP context opening failed
            }
            else if (!service)
            {
                if (!IPAddress.TryParse(host, out IPAddress? address))
                {
                    try
                    {
                        address = Array.Find(Dns.GetHostAddresses(host), a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
                    }
                    catch (System.Net.Sockets.SocketException)
                    {
                        address = null;
                    }
                }

                if (address == null)
                {
                    err = 565; // DNS parse failed
                }
                else
                {
                    remote = new IPEndPoint(address, rport);
                }
            }

            if (err == 0)
            {
                try
                {
                    SimSocket s = m.OpenUdp(id, lport, remote);
                    s.Service = service;
                    s.AccessMode = mode;
                    s.ContextId = ctx;
                }
                catch (System.Net.Sockets.SocketException)
                {
                    err = 556; // socket bind failed
                }
            }

            m.ScheduleInGeneration(QiopenUrcDelayMs, () => m.Urc("+QIOPEN: " + id + "," + err));
        }

        private static void Qisend(AtExchange x)
        {
            AtRequest r = x.Request;
            SimSocket? s = Find(x, r.Int(0));
            if (s == null)
            {
                return;
            }

            if (r.Count >= 2 && r.Int(1) == 0)
            {
                // +QISEND: <total_send_length>,<ackedbytes>,<unackedbytes> (modems.md §1.5)
                Ts27007Core.Single(x, "+QISEND: " + s.BytesSent + "," + s.BytesAcked + "," + (s.BytesSent - s.BytesAcked));
                return;
            }

            int len = r.Count >= 2 ? r.Int(1) : -1;
            if (len > 1460)
            {
                x.Error();
                return;
            }

            IPEndPoint? to = s.Remote;
            if (r.Count >= 4)
            {
                if (!s.Service || !IPAddress.TryParse(r.Str(2), out IPAddress? ip))
                {
                    x.Error(); // remote address form only for "UDP SERVICE", dotted IP (Q96-TCP p20)
                    return;
                }

                to = new IPEndPoint(ip, r.Int(3));
            }
            else if (s.Service)
            {
                x.Error();
                return;
            }

            // Prompt CR LF "> " (ST/Azure trace, modems.md §1.5); exactly <len> bytes or up to Ctrl-Z
            x.Prompt("\r\n> ", len, data =>
            {
                if (data.Length > 1460)
                {
                    x.Error();
                    return;
                }

                Send(x, s, data, to);
            });
        }

        private static void Send(AtExchange x, SimSocket s, byte[] data, IPEndPoint? to)
        {
            if (to == null || s.Bridge == null || !x.Modem.IsRegistered)
            {
                x.Final("SEND FAIL", false);
                return;
            }

            s.Bridge.Send(to, data);
            s.BytesSent += data.Length;
            s.BytesAcked += data.Length;
            x.Final("SEND OK", true);
        }

        private static void Qird(AtExchange x)
        {
            AtRequest r = x.Request;
            SimSocket? s = Find(x, r.Int(0));
            if (s == null)
            {
                return;
            }

            int pending = s.PendingBytes;
            if (r.Count >= 2 && r.Int(1) == 0)
            {
                // +QIRD: <total_recv_length>,<have_read_length>,<unread_length>
                long total = s.BytesSent; // not tracked separately for reads: report unread precisely
                Ts27007Core.Single(x, "+QIRD: " + (pending + s.BytesRead) + "," + s.BytesRead + "," + pending);
                _ = total;
                return;
            }

            int max = r.Count >= 2 ? r.Int(1) : 1500;
            if (max < 0 || max > 1500)
            {
                x.Error();
                return;
            }

            if (s.Rx.Count == 0)
            {
                s.RecvUrcArmed = true;
                x.Line("+QIRD: 0");
                x.Ok();
                return;
            }

            // One datagram per read (UDP); a read shorter than the datagram leaves the rest for the next read.
            Datagram d = s.Rx.Peek();
            int n = Math.Min(max, d.Data.Length);
            byte[] chunk = d.Data.AsSpan(0, n).ToArray();
            if (n == d.Data.Length)
            {
                s.Rx.Dequeue();
            }
            else
            {
                s.Rx.Dequeue();
                var rest = new Datagram(d.From, d.Data.AsSpan(n).ToArray());
                var again = new System.Collections.Generic.Queue<Datagram>();
                again.Enqueue(rest);
                while (s.Rx.Count > 0)
                {
                    again.Enqueue(s.Rx.Dequeue());
                }

                foreach (Datagram g in again)
                {
                    s.Rx.Enqueue(g);
                }
            }

            s.BytesRead += n;
            if (s.Rx.Count == 0)
            {
                s.RecvUrcArmed = true; // drained: the next datagram is announced again (modems.md §1.5)
            }

            x.Line(s.Service ? "+QIRD: " + n + ",\"" + d.From.Address + "\"," + d.From.Port : "+QIRD: " + n);
            x.Raw(chunk, 0, chunk.Length);
            byte[] crlf = Encoding.ASCII.GetBytes("\r\n");
            x.Raw(crlf, 0, 2);
            x.Ok();
        }
    }
}

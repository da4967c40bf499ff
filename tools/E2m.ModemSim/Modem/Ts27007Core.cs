using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace E2m.ModemSim.Modem
{
    /// <summary>
    /// The shared TS 27.007 / V.250 core every dialect starts from (commands are data: a table of handlers; a
    /// <see cref="ModemDialect"/> applies its delta afterwards). Clause references are to TS 27.007 unless noted.
    /// </summary>
    public static class Ts27007Core
    {
        private const string SessionsKey = "logical-sessions";

        public static void Register(CommandTable t)
        {
            // ---- V.250 basic commands
            t.On("E", AtForm.Exec, x =>
            {
                x.Modem.Echo = x.Request.ArgumentText == "1"; // V.250 §6.2.4: E = E0
                x.Ok();
            });
            t.On("V", AtForm.Exec, x => x.Ok());
            t.On("Q", AtForm.Exec, x => x.Ok());
            t.On("X", AtForm.Exec, x => x.Ok());
            t.On("S", AtForm.Exec, x => x.Ok());
            t.On("&C", AtForm.Exec, x => x.Ok());
            t.On("&D", AtForm.Exec, x => x.Ok());
            t.On("&W", AtForm.Exec, x => x.Ok());
            t.On("Z", AtForm.Exec, x => ResetProfile(x));
            t.On("&F", AtForm.Exec, x => ResetProfile(x));
            t.On("I", AtForm.Exec, x =>
            {
                foreach (string l in x.Modem.Dialect.Identity)
                {
                    x.Line(l);
                }

                x.Ok();
            });

            // ---- §5 identification
            t.On("+CGMI", AtForm.Exec, x => Single(x, x.Modem.Dialect.Identity[0]));
            t.On("+GMI", AtForm.Exec, x => Single(x, x.Modem.Dialect.Identity[0]));
            t.On("+CGMM", AtForm.Exec, x => Single(x, x.Modem.Dialect.Identity[1]));
            t.On("+GMM", AtForm.Exec, x => Single(x, x.Modem.Dialect.Identity[1]));
            t.On("+CGMR", AtForm.Exec, x => Single(x, x.Modem.Dialect.Identity[2]));
            t.On("+GMR", AtForm.Exec, x => Single(x, x.Modem.Dialect.Identity[2]));
            t.On("+CGSN", AtForm.Exec, x => Single(x, x.Modem.Options.Imei)); // §5.4: bare IMEI (modems.md §1.3, §2.3)
            t.On("+GSN", AtForm.Exec, x => Single(x, x.Modem.Options.Imei));
            t.On("+CIMI", AtForm.Exec, x =>
            {
                // §5.6: IMSI from EF_IMSI (TS 31.102 §4.2.2), bare line
                SimGuard(x, needPin: true);
                string? imsi = x.Modem.Sim.ReadImsi(out int sw);
                if (imsi == null)
                {
                    throw new CmeException(sw == 0x6982 ? 11 : 13);
                }

                Single(x, imsi);
            });

            // ---- §9.1 +CMEE
            t.On("+CMEE", AtForm.Set, x =>
            {
                int n = x.Request.Int(0, 0);
                if (n < 0 || n > 2)
                {
                    throw new CmeException(50);
                }

                x.Modem.Cmee = n;
                x.Ok();
            });
            t.On("+CMEE", AtForm.Read, x => Single(x, "+CMEE: " + x.Modem.Cmee));
            t.TestLine("+CMEE", "+CMEE: (0-2)");

            // ---- §8.2 +CFUN
            t.On("+CFUN", AtForm.Set, x =>
            {
                int fun = x.Request.Int(0);
                int rst = x.Request.Int(1, 0);
                if (rst == 1 || x.Modem.Dialect.IsResetFun(fun))
                {
                    x.Ok();
                    x.Modem.Dialect.Restart(x.Modem, "AT+CFUN=" + x.Request.ArgumentText);
                    return;
                }

                if (fun != 0 && fun != 1 && fun != 4)
                {
                    throw new CmeException(50);
                }

                x.Modem.SetCfun(fun);
                x.Ok();
            });
            t.On("+CFUN", AtForm.Read, x => Single(x, "+CFUN: " + x.Modem.Cfun));
            t.TestLine("+CFUN", "+CFUN: (0,1,4),(0-1)");
            t.Delay("+CFUN", 200);

            // ---- §8.3 +CPIN
            t.On("+CPIN", AtForm.Read, x =>
            {
                SimGuard(x, needPin: false);
                Single(x, x.Modem.PinRequired ? "+CPIN: SIM PIN" : "+CPIN: READY");
            });
            t.On("+CPIN", AtForm.Set, x =>
            {
                SimGuard(x, needPin: false);
                if (!x.Modem.PinRequired)
                {
                    throw new CmeException(3);
                }

                int sw = x.Modem.Sim.VerifyPin(x.Request.Str(0));
                if (sw == 0x9000)
                {
                    x.Ok();
                    x.Modem.PinVerified();
                }
                else if (sw == 0x6983)
                {
                    throw new CmeException(12); // blocked: SIM PUK required
                }
                else
                {
                    throw new CmeException(16); // incorrect password (SW '63Cx', TS 102 221 §10.2.1.3)
                }
            });
            t.TestLine("+CPIN", "+CPIN:");

            // ---- §10.1.22 / §10.1.20 / §7.2 registration
            RegisterReg(t, "+CEREG", 4, m => m.CeregN, (m, n) => m.CeregN = n, m => m.EpsStat, true);
            RegisterReg(t, "+CGREG", 2, m => m.CgregN, (m, n) => m.CgregN = n, m => m.GprsStat, false);
            RegisterReg(t, "+CREG", 2, m => m.CregN, (m, n) => m.CregN = n, m => Math.Max(m.EpsStat, m.GprsStat), false);

            // ---- §7.3 +COPS
            t.On("+COPS", AtForm.Read, x =>
            {
                SimulatedModem m = x.Modem;
                if (m.IsRegistered && m.Cell != null)
                {
                    Single(x, "+COPS: 0,0,\"" + m.Cell.OperatorName + "\"," + m.Dialect.CopsAct(m.Options.Rat));
                }
                else
                {
                    Single(x, "+COPS: 0");
                }
            });
            t.On("+COPS", AtForm.Set, x =>
            {
                int mode = x.Request.Int(0);
                SimulatedModem m = x.Modem;
                if (mode == 2)
                {
                    m.Detach(0, "AT+COPS=2");
                }
                else if (mode == 1)
                {
                    bool onAir = NamesTheCell(m, x.Request);
                    m.ManualPlmn = onAir ? m.Network.Plmn : x.Request.Str(2); // §7.3: mode 1 stays until another AT+COPS
                    if (!onAir)
                    {
                        // "If the selected operator is not available, no other operator shall be selected": no registration
                        // (also none an attach already under way would have brought), +CME ERROR 30 no network service (§9.2.1).
                        m.Detach(0, "AT+COPS=1 for an operator that is not on the air");
                        throw new CmeException(30);
                    }

                    m.StartAttach();
                }
                else if (mode == 0 || mode == 4)
                {
                    m.ManualPlmn = null; // mode 4: the named operator, else automatic (§7.3); the sim has one network
                    m.StartAttach();
                }

                x.Ok();
            });
            t.On("+COPS", AtForm.Test, x => Single(x, "+COPS: (2,\"" + AttachOutcome.DefaultOperatorName + "\",\"" + AttachOutcome.DefaultOperatorShortName
                + "\",\"" + x.Modem.Network.Plmn + "\",7),,(0-4),(0-2)"));
            t.On("+CSQ", AtForm.Exec, x => Single(x, x.Modem.IsRegistered ? "+CSQ: 20,99" : "+CSQ: 99,99"));

            // ---- §10.1.9 +CGATT, §10.1.1 +CGDCONT, §10.1.10 +CGACT, §10.1.14 +CGPADDR
            t.On("+CGATT", AtForm.Read, x => Single(x, "+CGATT: " + (x.Modem.IsRegistered ? 1 : 0)));
            t.On("+CGATT", AtForm.Set, x =>
            {
                if (x.Request.Int(0) == 0)
                {
                    x.Modem.Detach(0, "AT+CGATT=0");
                    x.Ok();
                    return;
                }

                x.Modem.StartAttach();
                WaitRegistered(x, 0);
            });
            t.On("+CGDCONT", AtForm.Set, x =>
            {
                int cid = x.Request.Int(0);
                if (cid < 1 || cid > 15)
                {
                    throw new CmeException(50);
                }

                if (x.Request.Count == 1)
                {
                    x.Modem.Contexts.Remove(cid);
                    x.Ok();
                    return;
                }

                PdpContext c = Context(x.Modem, cid);
                c.Type = x.Request.Str(1);
                c.Apn = x.Request.Str(2);
                x.Ok();
            });
            t.On("+CGDCONT", AtForm.Read, x =>
            {
                foreach (PdpContext c in Sorted(x.Modem))
                {
                    x.Line("+CGDCONT: " + c.Cid + ",\"" + c.Type + "\",\"" + c.Apn + "\",\"" + (c.Active ? c.Address?.ToString() : "0.0.0.0") + "\",0,0");
                }

                x.Ok();
            });
            t.TestLine("+CGDCONT", "+CGDCONT: (1-15),\"IP\",,,(0-2),(0-4)");
            t.On("+CGACT", AtForm.Set, x =>
            {
                int state = x.Request.Int(0);
                int cid = x.Request.Int(1, 1);
                PdpContext c = Context(x.Modem, cid);
                if (state == 0)
                {
                    c.Active = false;
                    x.Ok();
                    return;
                }

                if (!x.Modem.IsRegistered)
                {
                    throw new CmeException(30); // no network service
                }

                c.Active = true;
                c.Address = x.Modem.Options.DeviceAddress;
                x.Ok();
            });
            t.On("+CGACT", AtForm.Read, x =>
            {
                foreach (PdpContext c in Sorted(x.Modem))
                {
                    x.Line("+CGACT: " + c.Cid + "," + (c.Active ? 1 : 0));
                }

                x.Ok();
            });
            t.Delay("+CGACT", 300);
            t.On("+CGPADDR", AtForm.Set, x =>
            {
                int cid = x.Request.Int(0);
                x.Modem.Contexts.TryGetValue(cid, out PdpContext? c);
                Single(x, "+CGPADDR: " + cid + (c != null && c.Active ? ",\"" + c.Address + "\"" : string.Empty));
            });

            // ---- §7.38 +CPSMS (stored and reported; granted = requested)
            t.On("+CPSMS", AtForm.Set, x =>
            {
                SimulatedModem m = x.Modem;
                m.PsmMode = x.Request.Int(0, 0);
                if (m.PsmMode < 0 || m.PsmMode > 2)
                {
                    throw new CmeException(50);
                }

                if (m.PsmMode == 2)
                {
                    // "2: disable and discard all parameters" (§7.38)
                    m.PsmMode = 0;
                    m.PsmTau = null;
                    m.PsmActive = null;
                }
                else
                {
                    if (x.Request.Has(3))
                    {
                        m.PsmTau = CheckBits(x.Request.Str(3));
                    }

                    if (x.Request.Has(4))
                    {
                        m.PsmActive = CheckBits(x.Request.Str(4));
                    }
                }

                x.Ok();
                m.Dialect.OnPsmRequested(m);
            });
            t.On("+CPSMS", AtForm.Read, x =>
            {
                SimulatedModem m = x.Modem;
                Single(x, "+CPSMS: " + m.PsmMode + ",,," + Q(m.PsmTau) + "," + Q(m.PsmActive));
            });
            t.TestLine("+CPSMS", "+CPSMS: (0-2),,,(\"00000000\"-\"11111111\"),(\"00000000\"-\"11111111\")");

            // ---- §8.15 +CCLK
            t.On("+CCLK", AtForm.Read, x => Single(x, "+CCLK: \"" + x.Modem.ClockText() + "\""));

            // ---- §8.17 +CSIM, §8.18 +CRSM, §8.45 +CCHO, §8.43 +CGLA, §8.46 +CCHC
            t.On("+CSIM", AtForm.Set, Csim);
            t.TestLine("+CSIM", "+CSIM:");
            t.On("+CRSM", AtForm.Set, Crsm);
            t.TestLine("+CRSM", "+CRSM:");
            t.On("+CCHO", AtForm.Set, Ccho);
            t.On("+CCHO", AtForm.Test, x => LogicalChannels(x, () => x.Ok()));
            t.On("+CGLA", AtForm.Set, Cgla);
            t.On("+CGLA", AtForm.Test, x => LogicalChannels(x, () => x.Ok()));
            t.On("+CCHC", AtForm.Set, Cchc);
            t.On("+CCHC", AtForm.Test, x => LogicalChannels(x, () => x.Ok()));
            foreach (string sim in new[] { "+CSIM", "+CRSM", "+CCHO", "+CGLA", "+CCHC" })
            {
                t.Delay(sim, 20);
            }
        }

        // ------------------------------------------------------------------ helpers

        /// <summary>
        /// Whether AT+COPS=&lt;mode&gt;,&lt;format&gt;,&lt;oper&gt; names the network on the air (27.007 §7.3): format 2 by
        /// its numeric PLMN, formats 0/1 by the long/short name +COPS=? lists. No &lt;oper&gt;: nothing named.
        /// </summary>
        private static bool NamesTheCell(SimulatedModem m, AtRequest r)
        {
            string oper = r.Str(2);
            return r.Int(1, 0) == 2
                ? oper == m.Network.Plmn
                : oper == AttachOutcome.DefaultOperatorName || oper == AttachOutcome.DefaultOperatorShortName;
        }

        public static void Single(AtExchange x, string line)
        {
            x.Line(line);
            x.Ok();
        }

        private static string Q(string? s) => s == null ? string.Empty : "\"" + s + "\"";

        private static string CheckBits(string s)
        {
            if (s.Length != 8 || s.Trim('0', '1').Length != 0)
            {
                throw new CmeException(50); // one octet as 8 bits (§7.38, TS 24.008 §10.5.7.4a)
            }

            return s;
        }

        private static void ResetProfile(AtExchange x)
        {
            x.Modem.Echo = x.Modem.Dialect.EchoAfterBoot;
            x.Modem.Cmee = x.Modem.Dialect.DefaultCmee;
            x.Ok();
        }

        /// <summary>SIM readiness checks shared by SIM commands: card present (10), not initialising (14), PIN (11).</summary>
        public static void SimGuard(AtExchange x, bool needPin)
        {
            SimulatedModem m = x.Modem;
            if (!m.CardPresent)
            {
                throw new CmeException(10);
            }

            if (m.Now < m.SimBusyUntil)
            {
                throw new CmeException(14);
            }

            if (needPin && m.PinRequired)
            {
                throw new CmeException(11);
            }
        }

        public static PdpContext Context(SimulatedModem m, int cid)
        {
            if (!m.Contexts.TryGetValue(cid, out PdpContext? c))
            {
                c = new PdpContext { Cid = cid };
                m.Contexts[cid] = c;
            }

            return c;
        }

        private static IEnumerable<PdpContext> Sorted(SimulatedModem m)
        {
            var list = new List<PdpContext>(m.Contexts.Values);
            list.Sort((a, b) => a.Cid.CompareTo(b.Cid));
            return list;
        }

        private static void WaitRegistered(AtExchange x, int waited)
        {
            if (x.Modem.IsRegistered)
            {
                x.Ok();
                return;
            }

            if (waited > 60000)
            {
                x.Cme(30);
                return;
            }

            x.Later(500, () => WaitRegistered(x, waited + 500));
        }

        private static void RegisterReg(CommandTable t, string name, int maxN, Func<SimulatedModem, int> getN, Action<SimulatedModem, int> setN, Func<SimulatedModem, int> stat, bool eps)
        {
            t.On(name, AtForm.Set, x =>
            {
                int n = x.Request.Int(0, 0);
                if (n < 0 || n > x.Modem.Dialect.MaxRegistrationN(name, maxN))
                {
                    throw new CmeException(50);
                }

                setN(x.Modem, n);
                x.Ok();
            });
            t.On(name, AtForm.Read, x =>
            {
                SimulatedModem m = x.Modem;
                Single(x, name + ": " + getN(m) + "," + m.RegistrationTail(getN(m), stat(m), eps));
            });
            t.TestLine(name, name + ": (0-" + maxN + ")");
        }

        private static void LogicalChannels(AtExchange x, Action then)
        {
            if (!x.Modem.Options.LogicalChannelCommands)
            {
                x.Error();
                return;
            }

            then();
        }

        private static Dictionary<string, int> Sessions(SimulatedModem m)
        {
            if (!m.DialectState.TryGetValue(SessionsKey, out object? o))
            {
                o = new Dictionary<string, int>(StringComparer.Ordinal);
                m.DialectState[SessionsKey] = o;
            }

            return (Dictionary<string, int>)o;
        }

        /// <summary>Hex string parameter with its declared length in characters (§8.17: &lt;length&gt; = characters of &lt;command&gt;).</summary>
        private static byte[] HexParam(AtExchange x, int lengthIndex, int hexIndex)
        {
            int length = x.Request.Int(lengthIndex);
            string hex = x.Request.Str(hexIndex);
            if (hex.Length != length || hex.Length % 2 != 0 || hex.Length < 8)
            {
                throw new CmeException(50);
            }

            try
            {
                return Convert.FromHexString(hex);
            }
            catch (FormatException)
            {
                throw new CmeException(50);
            }
        }

        private static string HexResponse(string prefix, byte[] r) => prefix + ": " + (2 * r.Length) + ",\"" + Convert.ToHexString(r) + "\"";

        private static void Csim(AtExchange x)
        {
            // §8.17: the APDU goes to the card as given (T=0 TPDU; '61xx' is the TE's business)
            SimGuard(x, needPin: false);
            byte[] apdu = HexParam(x, 0, 1);
            if (Array.IndexOf(x.Modem.Options.CsimBlockedInstructions, apdu[1]) >= 0)
            {
                x.Modem.Note("+CSIM refuses INS " + apdu[1].ToString("X2", CultureInfo.InvariantCulture) + " (configured)");
                throw new CmeException(3);
            }

            byte[] r = x.Modem.Sim.Exchange(apdu, resolveProcedureBytes: false);
            Single(x, HexResponse("+CSIM", r));
        }

        private static void Ccho(AtExchange x)
        {
            LogicalChannels(x, () =>
            {
                // §8.45: MANAGE CHANNEL open, then SELECT <dfname> on the new channel (TS 102 221 §11.1.17, §11.1.1)
                SimGuard(x, needPin: false);
                byte[] aid;
                try
                {
                    aid = Convert.FromHexString(x.Request.Str(0));
                }
                catch (FormatException)
                {
                    throw new CmeException(50);
                }

                if (aid.Length < 5 || aid.Length > 16)
                {
                    throw new CmeException(50);
                }

                MeSimAccess sim = x.Modem.Sim;
                int channel = sim.OpenChannel(out int sw);
                if (channel < 0)
                {
                    // no free channel, or a card without MANAGE CHANNEL ('6881' / '6D00' / '6E00'): operation not supported
                    throw new CmeException(sw == 0x6A81 || sw == 0x6881 || sw == 0x6D00 || sw == 0x6E00 ? 4 : 13);
                }

                byte[] select = new byte[6 + aid.Length];
                select[0] = MeSimAccess.Cla(0x00, channel);
                select[1] = 0xA4;
                select[2] = 0x04;
                select[3] = 0x04;
                select[4] = (byte)aid.Length;
                aid.CopyTo(select, 5);
                int ssw = MeSimAccess.Sw(sim.Exchange(select));
                if (ssw != 0x9000)
                {
                    sim.CloseChannel(channel);
                    throw new CmeException(22); // not found
                }

                string session = x.Modem.Dialect.SessionId(channel);
                Sessions(x.Modem)[session] = channel;
                Single(x, x.Modem.Dialect.CchoLine(session));
            });
        }

        private static void Cgla(AtExchange x)
        {
            LogicalChannels(x, () =>
            {
                // §8.43: the MT puts the session's channel into CLA
                SimGuard(x, needPin: false);
                if (!Sessions(x.Modem).TryGetValue(x.Request.Str(0), out int channel))
                {
                    throw new CmeException(50);
                }

                byte[] apdu = HexParam(x, 1, 2);
                if (Array.IndexOf(x.Modem.Options.CglaBlockedInstructions, apdu[1]) >= 0)
                {
                    x.Modem.Note("+CGLA refuses INS " + apdu[1].ToString("X2", CultureInfo.InvariantCulture) + " (configured)");
                    throw new CmeException(3);
                }

                apdu[0] = MeSimAccess.Cla(apdu[0], channel);
                byte[] r = x.Modem.Sim.Exchange(apdu, x.Modem.Options.CglaFetchesResponse);
                Single(x, HexResponse("+CGLA", r));
            });
        }

        private static void Cchc(AtExchange x)
        {
            LogicalChannels(x, () =>
            {
                SimGuard(x, needPin: false);
                Dictionary<string, int> sessions = Sessions(x.Modem);
                string id = x.Request.Str(0);
                if (!sessions.TryGetValue(id, out int channel))
                {
                    throw new CmeException(50);
                }

                sessions.Remove(id);
                x.Modem.Sim.CloseChannel(channel);
                x.Ok();
            });
        }

        private static void Crsm(AtExchange x)
        {
            // §8.18: +CRSM=<command>[,<fileid>[,<P1>,<P2>,<P3>[,<data>[,<pathid>]]]] → +CRSM: <sw1>,<sw2>[,<response>]
            SimGuard(x, needPin: false);
            AtRequest r = x.Request;
            int command = r.Int(0);
            int fileId = r.Int(1, 0);
            int p1 = r.Int(2, 0);
            int p2 = r.Int(3, 0);
            int p3 = r.Int(4, 0);
            string dataHex = r.Str(5);
            int[]? path = null;
            if (r.Has(6))
            {
                string p = r.Str(6);
                path = new int[p.Length / 4];
                for (int i = 0; i < path.Length; i++)
                {
                    path[i] = int.Parse(p.Substring(4 * i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                }
            }

            MeSimAccess sim = x.Modem.Sim;
            byte[] response;
            if (command == 242)
            {
                response = sim.Exchange(new byte[] { 0x80, 0xF2, 0x00, 0x00, 0x00 }); // STATUS (TS 102 221 §11.1.2)
            }
            else
            {
                int sel = sim.SelectEf(fileId, path);
                if (sel != 0x9000)
                {
                    Single(x, "+CRSM: " + (sel >> 8) + "," + (sel & 0xFF));
                    return;
                }

                switch (command)
                {
                    case 176: response = sim.ReadBinary((p1 << 8) | p2, p3); break;
                    case 178: response = sim.ReadRecord(p1, p3); break;
                    case 192:
                        byte[] sel2 = { 0x00, 0xA4, 0x00, 0x04, 0x02, (byte)(fileId >> 8), (byte)fileId, 0x00 };
                        response = sim.Exchange(sel2);
                        break;
                    case 214: response = sim.UpdateBinary((p1 << 8) | p2, Convert.FromHexString(dataHex)); break;
                    case 220:
                        byte[] data = Convert.FromHexString(dataHex);
                        byte[] apdu = new byte[5 + data.Length];
                        apdu[1] = 0xDC;
                        apdu[2] = (byte)p1;
                        apdu[3] = (byte)p2;
                        apdu[4] = (byte)data.Length;
                        data.CopyTo(apdu, 5);
                        response = sim.Exchange(apdu);
                        break;
                    default:
                        throw new CmeException(4);
                }
            }

            int swAll = MeSimAccess.Sw(response);
            byte[] body = MeSimAccess.Data(response);
            var sb = new StringBuilder("+CRSM: ");
            sb.Append(swAll >> 8).Append(',').Append(swAll & 0xFF);
            if (body.Length > 0)
            {
                sb.Append(",\"").Append(Convert.ToHexString(body)).Append('"');
            }

            Single(x, sb.ToString());
        }
    }
}

using System.Globalization;

namespace E2m.ModemSim.Modem
{
    /// <summary>
    /// u-blox SARA-R5 as a delta of <see cref="SaraR4Dialect"/> (same sockets, HEX mode, silent boot, +CFUN=15, +CPWROFF):
    /// <list type="bullet">
    /// <item>internal packet-switched data profile: +UPSD=&lt;p&gt;,&lt;tag&gt;,&lt;value&gt; (tag 0 protocol, 1 APN, 100 context
    /// mapping), +UPSDA=&lt;p&gt;,3 → OK then <c>+UUPSDA: 0,"&lt;ip&gt;"</c> (or <c>+UUPSDA: 1</c> when the mapped context cannot
    /// come up), +UPSDA=&lt;p&gt;,4 deactivates, +UPSND=&lt;p&gt;,8 → <c>+UPSND: &lt;p&gt;,8,&lt;0|1&gt;</c>, +UPSND=&lt;p&gt;,0 → the address
    /// (u-blox ubxlib u_cell_private.c; ublox-cellular-rs; Mbed ublox-at-cellular-interface);</item>
    /// <item>+CEREG n up to the core's maximum (n=4 with PSM timers);</item>
    /// <item>PSM: +CPSMS takes effect at once (ubxlib reboots only SARA-R4 after +CPSMS); with +UPSMR=1 the module reports
    /// <c>+UUPSMR: 1</c> <see cref="PsmEntryDelayMs"/> after a granted request while registered (U16 §15.4 URC format). The deep
    /// sleep itself is not modelled: the module keeps answering AT.</item>
    /// </list>
    /// Chosen here, NOT ESTABLISHED from the SARA-R5 manuals: the +UUPSDA failure code (1), the PWR_ON switch-off threshold
    /// (2 s: ubxlib's "Pwr off pull ms"), the identity strings, the PSM entry delay.
    /// </summary>
    public sealed class SaraR5Dialect : SaraR4Dialect
    {
        private const string UpsmrKey = "upsmr";

        public SaraR5Dialect()
        {
            PowerOffMinMs = 2000; // ubxlib SARA_R5 "2000 /* Pwr off pull ms */"; data sheet NOT ESTABLISHED
        }

        public override string Name => "sara-r5";

        public override string[] Identity => new[] { "u-blox", "SARA-R510S-01B", "03.15" };

        /// <summary>+UUPSDA after +UPSDA=…,3 (ubxlib waits up to 3 s).</summary>
        public int UupsdaDelayMs { get; set; } = 300;

        /// <summary>Time from a granted PSM request to "+UUPSMR: 1" (the real module waits for T3324 and its AT inactivity timer).</summary>
        public int PsmEntryDelayMs { get; set; } = 2000;

        public override int MaxRegistrationN(string command, int coreMax) => coreMax;

        public override void OnPsmRequested(SimulatedModem m)
        {
            m.PsmApplied = m.PsmMode == 1;
            m.PsmPendingReboot = false;
            if (m.PsmApplied && m.DialectState.ContainsKey(UpsmrKey))
            {
                m.ScheduleInGeneration(PsmEntryDelayMs, () =>
                {
                    if (m.PsmApplied && m.IsRegistered && m.DialectState.ContainsKey(UpsmrKey))
                    {
                        m.Urc("+UUPSMR: 1");
                        m.Note("entering PSM reported (deep sleep not modelled: AT keeps answering)");
                    }
                });
            }
        }

        private static string Key(int profile, int tag) => "upsd-" + profile.ToString(CultureInfo.InvariantCulture) + "-" + tag.ToString(CultureInfo.InvariantCulture);

        public override void Apply(CommandTable t)
        {
            base.Apply(t);
            t.On("+UPSMR", AtForm.Set, x =>
            {
                if (x.Request.Int(0) == 1)
                {
                    x.Modem.DialectState[UpsmrKey] = 1;
                }
                else
                {
                    x.Modem.DialectState.Remove(UpsmrKey);
                }

                x.Ok();
            });
            t.On("+UPSMR", AtForm.Read, x => Ts27007Core.Single(x, "+UPSMR: " + (x.Modem.DialectState.ContainsKey(UpsmrKey) ? 1 : 0)));

            t.On("+UPSD", AtForm.Set, x =>
            {
                int p = x.Request.Int(0);
                if (p < 0 || p > 6)
                {
                    throw new CmeException(50);
                }

                if (x.Request.Count == 2)
                {
                    // read one parameter: AT+UPSD=<p>,<tag> → +UPSD: <p>,<tag>,<value>
                    int tag = x.Request.Int(1);
                    x.Modem.DialectState.TryGetValue(Key(p, tag), out object? v);
                    string value = v is string sv ? "\"" + sv + "\"" : (v ?? 0).ToString()!;
                    Ts27007Core.Single(x, "+UPSD: " + p + "," + tag + "," + value);
                    return;
                }

                int t2 = x.Request.Int(1);
                object stored = t2 == 1 || t2 == 2 || t2 == 3 || t2 == 4 || t2 == 5 || t2 == 7 ? x.Request.Str(2) : x.Request.Int(2);
                if (t2 == 100 && ((int)stored < 1 || (int)stored > 15))
                {
                    throw new CmeException(50);
                }

                x.Modem.DialectState[Key(p, t2)] = stored;
                x.Ok();
            });
            t.On("+UPSDA", AtForm.Set, x =>
            {
                int p = x.Request.Int(0);
                int action = x.Request.Int(1);
                SimulatedModem m = x.Modem;
                if (action == 4)
                {
                    if (m.DialectState.TryGetValue(Key(p, 100), out object? c4) && m.Contexts.TryGetValue((int)c4, out PdpContext? ctx4))
                    {
                        ctx4.Active = false;
                    }

                    m.DialectState.Remove("upsd-active-" + p);
                    x.Ok();
                    return;
                }

                if (action != 3)
                {
                    x.Ok(); // reset/store/load: accepted, nothing to model
                    return;
                }

                x.Ok();
                m.ScheduleInGeneration(UupsdaDelayMs, () =>
                {
                    bool mapped = m.DialectState.TryGetValue(Key(p, 100), out object? cidObj);
                    int cid = mapped ? (int)cidObj! : 0;
                    bool ok = mapped && m.Contexts.TryGetValue(cid, out PdpContext? c) && m.IsRegistered;
                    if (!ok)
                    {
                        m.Urc("+UUPSDA: 1"); // failure code NOT ESTABLISHED
                        return;
                    }

                    PdpContext ctx = m.Contexts[cid];
                    ctx.Active = true;
                    ctx.Address = m.Options.DeviceAddress;
                    m.DialectState["upsd-active-" + p] = 1;
                    m.Urc("+UUPSDA: 0,\"" + ctx.Address + "\"");
                });
            });
            t.Delay("+UPSDA", 200);
            t.On("+UPSND", AtForm.Set, x =>
            {
                int p = x.Request.Int(0);
                int param = x.Request.Int(1);
                SimulatedModem m = x.Modem;
                bool active = m.DialectState.ContainsKey("upsd-active-" + p)
                    && m.DialectState.TryGetValue(Key(p, 100), out object? cid) && m.Contexts.TryGetValue((int)cid, out PdpContext? c) && c.Active;
                if (param == 8)
                {
                    Ts27007Core.Single(x, "+UPSND: " + p + ",8," + (active ? 1 : 0));
                    return;
                }

                if (param == 0 && active)
                {
                    Ts27007Core.Single(x, "+UPSND: " + p + ",0,\"" + m.Options.DeviceAddress + "\"");
                    return;
                }

                throw new CmeException(3);
            });
        }
    }
}

using System;
using System.Linq;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Drivers;
using E2m.ModemSim.Modem;
using Xunit;

namespace E2m.ModemSim.Tests.Modem
{
    /// <summary>Line-level behaviour from modems.md: pins and pulse widths, echo, +CMEE formats, CFUN 0/4/1, PSM, +CCLK, boot lines.</summary>
    public class ModemBehaviourTests
    {
        private static AtResult R() => new(8, 256);

        [Fact]
        public void Bg95_power_key_pulse_widths()
        {
            using var rig = new SimRig("bg95");
            rig.PowerKey.Pulse(true, 300, rig.Clock); // < 500 ms: nothing (modems.md §1.1)
            rig.Modem.RunDue();
            Assert.Equal(PowerState.Off, rig.Modem.Power);
            rig.Check(rig.Driver.PowerOn(), "PowerOn");
            Assert.Equal(600, rig.PowerKey.PulseWidths(true).Last());
            rig.PowerKey.Pulse(true, 400, rig.Clock); // while on: too short to power off
            rig.Clock.Advance(2000);
            Assert.True(rig.Status.Read());
            rig.PowerKey.Pulse(true, 800, rig.Clock); // 650–1500 ms: POWERED DOWN
            rig.Clock.Advance(1000);
            Assert.False(rig.Status.Read());
            Assert.Contains("<< POWERED DOWN", rig.Transcript);
        }

        [Fact]
        public void Sara_is_silent_at_boot_and_reset_leaves_it_off()
        {
            using var rig = new SimRig("sara-r4");
            var reset = new SimulatedPin("RESET_N", rig.Clock);
            rig.Modem.AttachPins(null, reset);
            rig.Check(rig.Driver.PowerOn(), "PowerOn");
            Assert.DoesNotContain("RDY", rig.Log.ToString());
            reset.Pulse(true, 200, rig.Clock);
            Assert.False(rig.Status.Read()); // R410/R412: left powered off (modems.md §2.1)
        }

        [Theory]
        [InlineData("bg95", "+CME ERROR: 10", "+CME ERROR: SIM not inserted", "ERROR")]
        [InlineData("sara-r4", "+CME ERROR: 10", "+CME ERROR: SIM not inserted", "ERROR")]
        public void Cmee_formats_numeric_verbose_and_plain(string dialect, string numeric, string verbose, string plain)
        {
            using var rig = new SimRig(dialect);
            rig.BringUp();
            rig.Modem.SimRemoved = true;
            var cimi = GeneralCommands.Cimi;
            AtResult r = R();
            Assert.Equal(AtStatus.CmeError, rig.Channel.Execute(cimi, r));
            Assert.Equal(10, r.ErrorCode);
            rig.Channel.Execute(GeneralCommands.Cmee, "2", r);
            Assert.Equal(AtStatus.CmeError, rig.Channel.Execute(cimi, r));
            Assert.Equal(10, r.ErrorCode);
            rig.Channel.Execute(GeneralCommands.Cmee, "0", r);
            Assert.Equal(AtStatus.Error, rig.Channel.Execute(cimi, r));
            string log = rig.Transcript;
            Assert.Contains("<< " + numeric, log);
            Assert.Contains("<< " + verbose, log);
            Assert.Contains("<< " + plain, log);
        }

        [Fact]
        public void Cfun_0_4_1_deregisters_and_registers_with_urcs()
        {
            using var rig = new SimRig("bg95");
            rig.BringUp();
            AtResult r = R();
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(MobileTerminationCommands.Cfun, "0", r));
            rig.Channel.Poll(100);
            Assert.Equal(RegistrationState.NotRegistered, rig.Driver.LastEpsRegistration.Stat);
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(MobileTerminationCommands.CfunRead, r));
            Assert.Equal("+CFUN: 0", r.Lines[0]);
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(MobileTerminationCommands.Cfun, "4", r));
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(GeneralCommands.Cimi, r)); // SIM stays accessible in flight mode
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(MobileTerminationCommands.Cfun, "1", r));
            rig.Check(rig.Driver.WaitRegistered(30000, out RegistrationInfo info), "re-register");
            Assert.Equal(RegistrationState.Home, info.Stat);
        }

        /// <summary>
        /// 27.007 §7.3 manual selection (device-config network.plmn): another operator than the one on the air is refused
        /// with +CME ERROR 30 (no network service) and the modem does not register; naming the network's PLMN registers.
        /// </summary>
        [Theory]
        [InlineData("bg95")]
        [InlineData("sara-r4")]
        public void Manual_cops_registers_only_on_the_plmn_on_the_air(string dialect)
        {
            using var rig = new SimRig(dialect);
            rig.BringUp();
            Assert.Equal(ModemError.CommandError, rig.Driver.SelectOperator("26201"));
            Assert.Equal(30, rig.Driver.LastCmeError);
            Assert.NotEqual(ModemError.Ok, rig.Driver.WaitRegistered(10000, out _));

            rig.Check(rig.Driver.SelectOperator("00101"), "SelectOperator 00101");
            rig.Check(rig.Driver.WaitRegistered(30000, out RegistrationInfo info), "registered after manual selection");
            Assert.Equal(RegistrationState.Home, info.Stat);
            AtResult r = R();
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(new AtCommand("AT+COPS=?", 5000) { ResponsePrefix = "+COPS:", MaxResponseLines = 1 }, r));
            Assert.Contains("\"00101\"", r.Lines[0]);
        }

        /// <summary>
        /// The firmware selects its operator right after the SIM is ready, while the attach that CFUN=1 started is still
        /// under way: a refused manual selection must end that attempt too, and the modem stays unregistered (mode 1
        /// persists) until a selection names the network on the air.
        /// </summary>
        [Theory]
        [InlineData("bg95")]
        [InlineData("sara-r4")]
        public void A_refused_manual_cops_during_the_first_attach_leaves_the_modem_unregistered(string dialect)
        {
            using var rig = new SimRig(dialect);
            rig.Check(rig.Driver.PowerOn(), "PowerOn");
            rig.Check(rig.Driver.Initialize(), "Initialize");
            rig.Check(rig.Driver.WaitSimReady(10000), "WaitSimReady");
            Assert.Equal(ModemError.CommandError, rig.Driver.SelectOperator("26201"));
            Assert.Equal(30, rig.Driver.LastCmeError);
            Assert.NotEqual(ModemError.Ok, rig.Driver.WaitRegistered(20000, out _));
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(MobileTerminationCommands.Cfun, "0", R()));
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(MobileTerminationCommands.Cfun, "1", R()));
            Assert.NotEqual(ModemError.Ok, rig.Driver.WaitRegistered(20000, out _)); // still manual, still 26201

            rig.Check(rig.Driver.SelectOperator("00101"), "SelectOperator 00101");
            rig.Check(rig.Driver.WaitRegistered(30000, out RegistrationInfo info), "registered");
            Assert.Equal(RegistrationState.Home, info.Stat);
        }

        [Fact]
        public void Cfun_1_1_reboots_with_powered_down_and_rdy()
        {
            using var rig = new SimRig("bg96");
            rig.BringUp();
            AtResult r = R();
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(MobileTerminationCommands.Cfun, "1,1", r));
            rig.Clock.Advance(100);
            while (rig.Channel.Poll(1000) || rig.Modem.Power != PowerState.On)
            {
                if (rig.Clock.NowMilliseconds > 60000)
                {
                    break;
                }
            }

            string log = rig.Transcript;
            int down = log.IndexOf("<< POWERED DOWN", StringComparison.Ordinal);
            Assert.True(down > 0 && log.IndexOf("<< RDY", down, StringComparison.Ordinal) > down, log);
        }

        [Fact]
        public void Psm_is_stored_reported_and_in_cereg_4_urcs()
        {
            using var rig = new SimRig("bg95");
            rig.BringUp();
            rig.Check(rig.Driver.RequestPsm(3600, 60), "RequestPsm");
            AtResult r = R();
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(NetworkCommands.CpsmsRead, r));
            PsmSettings p = NetworkCommands.ParseCpsms(r.Lines[0]);
            Assert.Equal(1, p.Mode);
            Assert.Equal(3600, PsmTimers.PeriodicTauSeconds(p.RequestedPeriodicTau));
            Assert.Equal(60, PsmTimers.ActiveTimeSeconds(p.RequestedActiveTime));
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(NetworkCommands.CeregRead, r));
            Assert.EndsWith(",,,\"" + PsmTimers.ToBits(p.RequestedActiveTime) + "\",\"" + PsmTimers.ToBits(p.RequestedPeriodicTau) + "\"", r.Lines[0]);
        }

        [Fact]
        public void Cclk_is_the_power_on_default_until_registered()
        {
            using var rig = new SimRig("sara-r4", new ModemOptions { NetworkTimeAtClockZero = new DateTimeOffset(2026, 11, 28, 8, 0, 0, TimeSpan.Zero), TimeZoneQuarters = 4 });
            rig.Check(rig.Driver.PowerOn(), "PowerOn");
            rig.Check(rig.Driver.ReadNetworkTime(out NetworkTime before), "CCLK before");
            Assert.False(before.IsPlausible);
            rig.Check(rig.Driver.Initialize(), "Init");
            rig.Check(rig.Driver.WaitSimReady(10000), "Sim");
            rig.Check(rig.Driver.WaitRegistered(30000, out _), "Reg");
            rig.Check(rig.Driver.ReadNetworkTime(out NetworkTime t), "CCLK");
            Assert.True(t.IsPlausible);
            DateTime expected = new DateTime(2026, 11, 28, 8, 0, 0, DateTimeKind.Utc).AddMilliseconds(rig.Clock.NowMilliseconds);
            Assert.True(Math.Abs((t.ToUtc() - expected).TotalSeconds) < 2, t.ToUtc() + " vs " + expected);
        }
    
        [Theory]
        [InlineData(50, false)]
        [InlineData(0, true)]
        public void Sara_binary_usost_takes_data_after_the_at_prompt(int promptDelayMs, bool noted)
        {
            using var rig = new SimRig("sara-r4");
            rig.BringUp();
            AtResult r = R();
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(new AtCommand("AT+USOCR=", 5000) { ResponsePrefix = "+USOCR:" }, "17", r));
            var usost = new AtCommand("AT+USOST=", 10000) { Prompt = '@', PromptDelayMs = promptDelayMs, ResponsePrefix = "+USOST:" };
            byte[] data = { 0x22, 0x0D, 0x0A };
            Assert.Equal(AtStatus.Ok, rig.Channel.Execute(usost, "0,\"127.0.0.1\",9,3", data, 0, 3, r));
            Assert.Equal("+USOST: 0,3", r.Lines[0]);
            Assert.Equal(noted, rig.Transcript.Contains("ms after the prompt (manual: wait >= 50 ms)"));
        }
    }
}

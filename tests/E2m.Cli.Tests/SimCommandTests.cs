using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using E2m.Cli.Commands;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Commands;
using Xunit;

namespace E2m.Cli.Tests
{
    /// <summary>`e2m sim --tcp PORT ...`: serves a powered-on modem + USIM, SIM ready without network; usage errors exit 2.</summary>
    public sealed class SimCommandTests
    {
        private const string K = "465b5ce8b199b49faa5f0a2ee238a6bc";
        private const string Opc = "cd63cb71954a9f4e48a5994e37a02baf";

        [Fact]
        public async Task Tcp_serves_a_ready_sim_and_prints_where_to_connect()
        {
            string atLog = Path.GetTempFileName();
            string? where = null;
            using var listening = new ManualResetEventSlim(false);
            Action<string> onListen = w =>
            {
                where = w;
                listening.Set();
            };
            SimCommands.Listening += onListen;
            try
            {
                Task<CliRun> run = Task.Run(() => Cli.Run("sim", "--tcp", "0", "--dialect", "bg95", "--imsi", "001010123456789", "--k", K, "--opc", Opc, "--at-log", atLog,
                    "--network", "none", "--plmn", "310410"));
                Assert.True(listening.Wait(20000), "e2m sim did not start");
                int port = int.Parse(where!.Substring(where.IndexOf(':') + 1));
                var clock = new SystemMonotonicClock();
                using (StreamTransport t = StreamTransport.ConnectTcp("127.0.0.1", port))
                {
                    var channel = new AtChannel(t, clock, clock);
                    var r = new AtResult(4, 128);
                    Assert.Equal(AtStatus.Ok, channel.Execute(MobileTerminationCommands.CpinRead, r));
                    Assert.Equal("+CPIN: READY", r.Lines[0]);
                    Assert.Equal(AtStatus.Ok, channel.Execute(GeneralCommands.Cimi, r));
                    Assert.Equal("001010123456789", r.Lines[0]);
                    Assert.Equal(AtStatus.Ok, channel.Execute(SimAccessCommands.Ccho, "\"A0000000871002\"", r));
                    Assert.Equal("+CCHO: 1", r.Lines[0]);
                    // 27.007 §7.3 manual selection: only the --plmn the simulated network broadcasts (here not the IMSI's)
                    Assert.Equal(AtStatus.CmeError, channel.Execute(NetworkCommands.CopsSet, "1,2,\"00101\"", r));
                    Assert.Equal(30, r.ErrorCode);
                    Assert.Equal(AtStatus.Ok, channel.Execute(NetworkCommands.CopsSet, "1,2,\"310410\"", r));
                }

                SimCommands.Stop.Set();
                CliRun result = await run;
                Assert.Equal(0, result.ExitCode);
                Assert.Contains("tcp: " + where, result.StdOut);
                Assert.Contains("plmn: 310410", result.StdOut);
                Assert.Contains(">> AT+CIMI", File.ReadAllText(atLog));
            }
            finally
            {
                SimCommands.Listening -= onListen;
                File.Delete(atLog);
            }
        }

        [SkippableFact]
        public async Task Pty_prints_a_path_that_talks_at_like_a_usb_modem()
        {
            Skip.IfNot(OperatingSystem.IsLinux(), "pseudo-terminals: Linux only");
            string? where = null;
            using var listening = new ManualResetEventSlim(false);
            Action<string> onListen = w =>
            {
                where = w;
                listening.Set();
            };
            SimCommands.Listening += onListen;
            try
            {
                Task<CliRun> run = Task.Run(() => Cli.Run("sim", "--pty", "--dialect", "sara-r4", "--imsi", "001010123456789", "--k", K, "--opc", Opc, "--pin", "1234", "--network", "none"));
                Assert.True(listening.Wait(20000), "e2m sim did not start");
                var clock = new SystemMonotonicClock();
                using (StreamTransport t = StreamTransport.OpenPseudoTerminal(where!))
                {
                    var channel = new AtChannel(t, clock, clock);
                    var r = new AtResult(4, 128);
                    Assert.Equal(AtStatus.Ok, channel.Execute(MobileTerminationCommands.CpinRead, r));
                    Assert.Equal("+CPIN: SIM PIN", r.Lines[0]);
                    Assert.Equal(AtStatus.Ok, channel.Execute(new AtCommand("AT+CPIN=", 5000), "\"1234\"", r));
                    Assert.Equal(AtStatus.Ok, channel.Execute(GeneralCommands.Cimi, r));
                    Assert.Equal("001010123456789", r.Lines[0]);
                }

                SimCommands.Stop.Set();
                CliRun result = await run;
                Assert.Equal(0, result.ExitCode);
                Assert.Contains("pty: /dev/pts/", result.StdOut);
            }
            finally
            {
                SimCommands.Listening -= onListen;
            }
        }

        [Theory]
        [InlineData("--dialect", "bg95", "--imsi", "001010123456789", "--k", K, "--opc", Opc)]
        [InlineData("--tcp", "1", "--pty", "--dialect", "bg95", "--imsi", "001010123456789", "--k", K, "--opc", Opc)]
        [InlineData("--tcp", "1", "--dialect", "nokia", "--imsi", "001010123456789", "--k", K, "--opc", Opc)]
        [InlineData("--tcp", "1", "--dialect", "bg95", "--imsi", "00101x", "--k", K, "--opc", Opc)]
        [InlineData("--tcp", "1", "--dialect", "bg95", "--imsi", "001010123456789", "--k", "00", "--opc", Opc)]
        [InlineData("--tcp", "1", "--dialect", "bg95", "--imsi", "001010123456789", "--k", K, "--opc", Opc, "--plmn", "0010")]
        public void Usage_errors_exit_2(params string[] args)
        {
            var all = new string[args.Length + 1];
            all[0] = "sim";
            args.CopyTo(all, 1);
            Assert.Equal(2, Cli.Run(all).ExitCode);
        }
    }
}

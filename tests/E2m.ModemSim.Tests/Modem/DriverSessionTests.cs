using System;
using System.Linq;
using System.Text;
using E2m.Modem.Drivers;
using E2m.ModemSim.Modem;
using Xunit;

namespace E2m.ModemSim.Tests.Modem
{
    /// <summary>The firmware drivers run against the simulator, both dialects: power on → UDP echo through a real host socket.</summary>
    public class DriverSessionTests
    {
        [Theory]
        [InlineData("bg95")]
        [InlineData("bg96")]
        [InlineData("sara-r4")]
        public void Power_init_sim_imsi_registration_pdp_udp_echo(string dialect)
        {
            using var echo = new UdpEcho();
            using var rig = new SimRig(dialect);
            rig.BringUp();
            Assert.True(rig.Status.Read(), "STATUS/V_INT high after power-on");

            rig.Check(rig.Driver.ReadImsi(out string imsi), "ReadImsi");
            Assert.Equal(SimRig.Imsi, imsi);
            Assert.Equal(1, rig.Driver.LastEpsRegistration.Stat == E2m.Modem.Commands.RegistrationState.Home ? 1 : 0);

            rig.Check(rig.Driver.ActivatePdp("iot.e2m"), "ActivatePdp");
            rig.Check(rig.Driver.OpenUdpSocket("127.0.0.1", echo.Port, out int socket), "OpenUdpSocket");
            byte[] payload = Encoding.ASCII.GetBytes("hello\r\nOK\0\"e2m");
            rig.Check(rig.Driver.SendDatagram(socket, payload, 0, payload.Length), "SendDatagram");
            byte[] buffer = new byte[1500];
            rig.Check(rig.Driver.ReceiveDatagram(socket, buffer, 0, 10000, out int n), "ReceiveDatagram");
            Assert.Equal(payload, buffer.AsSpan(0, n).ToArray());
            Assert.Single(echo.Received);
            rig.Check(rig.Driver.CloseSocket(socket), "CloseSocket");
            rig.Check(rig.Driver.PowerOff(), "PowerOff");
            Assert.False(rig.Status.Read());
            Assert.Equal(PowerState.Off, rig.Modem.Power);
        }
    }
}

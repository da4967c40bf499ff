using E2m.Hal;
using E2m.Modem.At;
using E2m.Modem.Commands;
using E2m.Modem.Drivers;

namespace E2m.Modem.Usim
{
    /// <summary>
    /// USIM access over AT (DESIGN.md §3 home and network mode, §7 layering: AT channel → command catalogue →
    /// <b>USIM access</b> → modem driver). Probes which SIM access path works (+CCHO/+CGLA, +CSIM with MANAGE
    /// CHANNEL, +CRSM), runs AUTHENTICATE in 3G context (TS 31.102 §7.1.2) through it and reads the USIM EFs
    /// with +CRSM READ BINARY. Commands go through an <see cref="ISimCommandRunner"/> (the driver), which owns
    /// the channel, the SIM-busy retries and the reboot bookkeeping. Buffers are preallocated; untrusted
    /// answers that do not parse become <see cref="ModemError.MalformedResponse"/> here (trust boundary).
    /// </summary>
    public class UsimAccess
    {
        private readonly ISimCommandRunner _runner;
        private readonly byte[] _aid;
        private readonly byte[] _apdu = new byte[64];
        private readonly byte[] _response = new byte[300];
        private int _aidLength;
        private int _simPaths;
        private StatusWord _lastSw;
        private string _cchoSession;

        public UsimAccess(ISimCommandRunner runner)
        {
            if (runner == null) throw new System.ArgumentNullException("runner");
            _runner = runner;
            _aid = UsimApdu.UsimAidPrefix();
            _aidLength = _aid.Length;
        }

        /// <summary>Bit set of <see cref="SimAccessPaths"/> found by the last <see cref="ProbeCapabilities"/>.</summary>
        public int SimPaths { get { return _simPaths; } }

        /// <summary>Status word of the last SIM command that failed at the USIM.</summary>
        public StatusWord LastStatusWord { get { return _lastSw; } }

        private AtResult Result { get { return _runner.Result; } }

        // ------------------------------------------------------------------ probe

        public ModemError ProbeCapabilities()
        {
            int paths = SimAccessPaths.None;

            // 1. Logical channel: open and close a real session to the USIM (the test form alone proves little, lpac).
            ModemError e = OpenLogicalChannel();
            if (e == ModemError.Rebooted || e == ModemError.Timeout) return e;
            if (e == ModemError.Ok)
            {
                CloseLogicalChannel();
                paths |= SimAccessPaths.LogicalChannel;
            }

            // 2. +CSIM: MANAGE CHANNEL open, then close (exactly what the fallback needs).
            int channel;
            e = CsimOpenChannel(out channel);
            if (e == ModemError.Rebooted || e == ModemError.Timeout) return e;
            if (e == ModemError.Ok)
            {
                CsimCloseChannel(channel);
                paths |= SimAccessPaths.Csim;
            }

            // 3. +CRSM: READ BINARY of EF_AD (4 octets, READ PIN access, TS 31.102 §4.2.18).
            AdministrativeData ad;
            e = ReadAd(out ad);
            if (e == ModemError.Rebooted || e == ModemError.Timeout) return e;
            if (e == ModemError.Ok) paths |= SimAccessPaths.Crsm;

            _simPaths = paths;
            return ModemError.Ok;
        }

        // ------------------------------------------------------------------ AUTHENTICATE

        public ModemError Authenticate(byte[] rand, byte[] autn, AuthenticateResult result)
        {
            if (rand == null || rand.Length != UsimApdu.RandLength) throw new System.ArgumentException("rand");
            if (autn == null || autn.Length != UsimApdu.AutnLength) throw new System.ArgumentException("autn");
            if (result == null) throw new System.ArgumentNullException("result");
            result.Clear();
            bool triedAny = false;
            int refusedCode = int.MinValue;

            if ((_simPaths & SimAccessPaths.LogicalChannel) != 0)
            {
                triedAny = true;
                ModemError e = AuthenticateOverCgla(rand, autn, result);
                if (e != ModemError.Ok && e != ModemError.ModemRefused) return e;
                if (e == ModemError.Ok) return ModemError.Ok;
                refusedCode = _runner.LastCmeError;
            }

            if ((_simPaths & SimAccessPaths.Csim) != 0)
            {
                triedAny = true;
                ModemError e = AuthenticateOverCsim(rand, autn, result);
                if (e != ModemError.Ok && e != ModemError.ModemRefused) return e;
                if (e == ModemError.Ok) return ModemError.Ok;
                refusedCode = _runner.LastCmeError;
            }

            if (!triedAny)
            {
                result.SetNoAccessPath();
                return ModemError.Ok;
            }
            result.SetModemRefused(refusedCode == int.MinValue ? -1 : refusedCode);
            return ModemError.Ok;
        }

        private ModemError AuthenticateOverCgla(byte[] rand, byte[] autn, AuthenticateResult result)
        {
            ModemError e = OpenLogicalChannel();
            if (e != ModemError.Ok) return e == ModemError.CommandError ? ModemError.ModemRefused : e;
            try
            {
                // TS 27.007 §8.43: the MT manages the channel bits in CLA, so the command goes with CLA '00'.
                int n = UsimApdu.BuildAuthenticate3g(0, rand, 0, autn, 0, _apdu, 0);
                int len;
                e = TransmitCgla(n, out len);
                if (e != ModemError.Ok) return e;
                return ParseAuthenticate(len, result);
            }
            finally
            {
                CloseLogicalChannel();
            }
        }

        private ModemError AuthenticateOverCsim(byte[] rand, byte[] autn, AuthenticateResult result)
        {
            int channel;
            ModemError e = CsimOpenChannel(out channel);
            if (e != ModemError.Ok) return e == ModemError.CommandError || e == ModemError.SimRefused ? ModemError.ModemRefused : e;
            try
            {
                // SELECT the USIM ADF on the new channel (TS 102 221 §11.1.1).
                int n = UsimApdu.BuildSelectByAid(channel, _aid, 0, _aidLength, _apdu, 0);
                int len;
                e = TransmitCsim(channel, n, false, out len);
                if (e != ModemError.Ok) return e;
                StatusWord sw = StatusWord.FromResponseTail(_response, 0, len);
                if (!(sw.IsSuccess || sw.Category == StatusCategory.MoreData))
                {
                    _lastSw = sw;
                    result.SetKind(AuthenticateKind.Refused, sw);
                    return ModemError.Ok;
                }

                n = UsimApdu.BuildAuthenticate3g(channel, rand, 0, autn, 0, _apdu, 0);
                e = TransmitCsim(channel, n, true, out len);
                if (e != ModemError.Ok) return e;
                return ParseAuthenticate(len, result);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            finally
            {
                CsimCloseChannel(channel);
            }
        }

        private ModemError ParseAuthenticate(int len, AuthenticateResult result)
        {
            try
            {
                AuthenticateResponse.Parse(_response, 0, len, result);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            finally
            {
                System.Array.Clear(_response, 0, _response.Length); // CK/IK copied out; do not keep them here
            }
            _lastSw = result.Status;
            return ModemError.Ok;
        }

        // ------------------------------------------------------------------ logical channel (+CCHO/+CGLA/+CCHC)

        private ModemError OpenLogicalChannel()
        {
            _cchoSession = null;
            ModemError e = _runner.RunSim(SimAccessCommands.Ccho, SimAccessCommands.CchoArguments(_aid, 0, _aidLength));
            if (e != ModemError.Ok) return e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            try
            {
                _cchoSession = SimAccessCommands.ParseCchoSession(Result.Lines[0]);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        private void CloseLogicalChannel()
        {
            if (_cchoSession == null) return;
            _runner.RunSim(SimAccessCommands.Cchc, _cchoSession);
            _cchoSession = null;
        }

        /// <summary>
        /// +CGLA exchange of _apdu[0..n) with the T=0 procedure bytes resolved here when the modem returns them
        /// (3gpp.md §3: some modems do GET RESPONSE inside the command, others return '61xx' to the TE).
        /// </summary>
        private ModemError TransmitCgla(int n, out int len)
        {
            len = 0;
            for (int round = 0; round < 4; round++)
            {
                ModemError e = _runner.RunSim(SimAccessCommands.Cgla, SimAccessCommands.CglaArguments(_cchoSession, _apdu, 0, n));
                if (e == ModemError.CommandError) return ModemError.ModemRefused;
                if (e != ModemError.Ok) return e;
                if (Result.LineCount == 0) return ModemError.MalformedResponse;
                try
                {
                    len = SimAccessCommands.ParseCgla(Result.Lines[0], _response, 0);
                }
                catch (MalformedInputException)
                {
                    return ModemError.MalformedResponse;
                }
                StatusWord sw = StatusWord.FromResponseTail(_response, 0, len);
                if (sw.Category == StatusCategory.MoreData && len == 2)
                {
                    n = UsimApdu.BuildGetResponse(0, sw.Sw2, _apdu, 0);
                    continue;
                }
                if (sw.Category == StatusCategory.WrongLe && len == 2)
                {
                    n = UsimApdu.ReissueWithLe(_apdu, 0, n, sw.Sw2, _apdu, 0);
                    continue;
                }
                return ModemError.Ok;
            }
            return ModemError.MalformedResponse;
        }

        // ------------------------------------------------------------------ +CSIM

        /// <summary>+CSIM exchange of _apdu[0..n) on <paramref name="channel"/>; resolves '61xx' / '6Cxx' when <paramref name="fetch"/>.</summary>
        private ModemError TransmitCsim(int channel, int n, bool fetch, out int len)
        {
            len = 0;
            for (int round = 0; round < 4; round++)
            {
                ModemError e = _runner.RunSim(SimAccessCommands.Csim, SimAccessCommands.CsimArguments(_apdu, 0, n));
                if (e == ModemError.CommandError) return ModemError.ModemRefused;
                if (e != ModemError.Ok) return e;
                if (Result.LineCount == 0) return ModemError.MalformedResponse;
                try
                {
                    len = SimAccessCommands.ParseCsim(Result.Lines[0], _response, 0);
                }
                catch (MalformedInputException)
                {
                    return ModemError.MalformedResponse;
                }
                StatusWord sw = StatusWord.FromResponseTail(_response, 0, len);
                if (fetch && sw.Category == StatusCategory.MoreData && len == 2)
                {
                    n = UsimApdu.BuildGetResponse(channel, sw.Sw2, _apdu, 0); // TS 102 221 §7.3.1.1.4
                    continue;
                }
                if (fetch && sw.Category == StatusCategory.WrongLe && len == 2)
                {
                    n = UsimApdu.ReissueWithLe(_apdu, 0, n, sw.Sw2, _apdu, 0); // TS 102 221 §7.3.1.1.5
                    continue;
                }
                return ModemError.Ok;
            }
            return ModemError.MalformedResponse;
        }

        private ModemError CsimOpenChannel(out int channel)
        {
            channel = 0;
            int n = UsimApdu.BuildManageChannelOpen(_apdu, 0);
            int len;
            ModemError e = TransmitCsim(0, n, true, out len);
            if (e == ModemError.ModemRefused) return ModemError.CommandError;
            if (e != ModemError.Ok) return e;
            StatusWord sw = StatusWord.FromResponseTail(_response, 0, len);
            if (!sw.IsSuccess)
            {
                _lastSw = sw;
                return ModemError.SimRefused;
            }
            if (len != 3) return ModemError.MalformedResponse;
            channel = _response[0];
            if (channel < 1 || channel > UsimApdu.MaxLogicalChannel)
            {
                channel = 0;
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        private void CsimCloseChannel(int channel)
        {
            if (channel < 1) return;
            int n = UsimApdu.BuildManageChannelClose(channel, _apdu, 0);
            int len;
            TransmitCsim(0, n, false, out len);
        }

        // ------------------------------------------------------------------ +CRSM EF reads

        public ModemError ReadKeysPs(UsimKeys keys)
        {
            if (keys == null) throw new System.ArgumentNullException("keys");
            keys.Clear();
            int len;
            ModemError e = ReadBinary(UsimFiles.EfKeysPs, UsimFiles.EfKeysLength, out len);
            if (e != ModemError.Ok) return e;
            try
            {
                keys.Decode(_response, 0, len);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            finally
            {
                System.Array.Clear(_response, 0, _response.Length);
            }
            return ModemError.Ok;
        }

        public ModemError ReadEfImsi(out string imsi)
        {
            imsi = null;
            int len;
            ModemError e = ReadBinary(UsimFiles.EfImsi, UsimFiles.EfImsiLength, out len);
            if (e != ModemError.Ok) return e;
            try
            {
                imsi = EfImsi.Decode(_response, 0, len);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        public ModemError ReadAd(out AdministrativeData ad)
        {
            ad = new AdministrativeData(0, 0);
            int len;
            ModemError e = ReadBinary(UsimFiles.EfAd, UsimFiles.EfAdReadLength, out len);
            if (e != ModemError.Ok) return e;
            try
            {
                ad = EfAd.Decode(_response, 0, len);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        /// <summary>+CRSM READ BINARY (TS 27.007 §8.18) into _response; SW other than 9000 → SimRefused.</summary>
        private ModemError ReadBinary(int fileId, int length, out int len)
        {
            len = 0;
            ModemError e = _runner.RunSim(SimAccessCommands.Crsm, SimAccessCommands.CrsmReadBinaryArguments(fileId, 0, length));
            if (e != ModemError.Ok) return e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            StatusWord sw;
            try
            {
                len = SimAccessCommands.ParseCrsm(Result.Lines[0], _response, 0, out sw);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            if (!sw.IsSuccess)
            {
                _lastSw = sw;
                return ModemError.SimRefused;
            }
            return ModemError.Ok;
        }
    }
}

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
    /// <para>
    /// USIM AID: the probe reads EF_DIR (TS 102 221 §13.1) with +CRSM GET RESPONSE (FCP → record length) and
    /// READ RECORD, and uses the first USIM application's full AID (TS 31.102 Annex A) for +CCHO and SELECT by
    /// AID; only when EF_DIR cannot be read or holds no usable USIM record does it fall back to the 7-octet prefix
    /// (partial AID selection). <see cref="AidSource"/> says which.
    /// </para>
    /// <para>
    /// Paths, in the order AUTHENTICATE tries them: logical channel (+CCHO/+CGLA/+CCHC), +CSIM with MANAGE CHANNEL
    /// + SELECT on the new channel, and — only when MANAGE CHANNEL is unsupported — +CSIM on the basic channel
    /// (SELECT ADF USIM + AUTHENTICATE with CLA 00, see <see cref="SimAccessPaths.CsimBasicChannel"/>).
    /// <see cref="LastAuthenticatePath"/> records the path that produced the last answer.
    /// </para>
    /// </summary>
    public class UsimAccess
    {
        /// <summary>Records of EF_DIR read at most (a UICC lists a handful of applications).</summary>
        public const int MaxDirRecords = 16;

        private readonly ISimCommandRunner _runner;
        private readonly byte[] _aid = new byte[EfDir.MaxAidLength];
        private readonly byte[] _apdu = new byte[64];
        private readonly byte[] _response = new byte[300];
        private int _aidLength;
        private UsimAidSource _aidSource;
        private UsimError _dirError;
        private StatusWord _dirStatus;
        private StatusWord _manageChannelStatus;
        private int _simPaths;
        private int _lastPath;
        private StatusWord _lastSw;
        private string _cchoSession;
        private bool _manageChannelRefusedByCard;

        public UsimAccess(ISimCommandRunner runner)
        {
            if (runner == null) throw new System.ArgumentNullException("runner");
            _runner = runner;
            UsePrefix(UsimAidSource.None);
        }

        /// <summary>Bit set of <see cref="SimAccessPaths"/> found by the last <see cref="ProbeCapabilities"/>.</summary>
        public int SimPaths { get { return _simPaths; } }

        /// <summary>Status word of the last SIM command that failed at the USIM.</summary>
        public StatusWord LastStatusWord { get { return _lastSw; } }

        private AtResult Result { get { return _runner.Result; } }

        /// <summary>Where the USIM AID used for +CCHO / SELECT came from (set by <see cref="ProbeCapabilities"/>).</summary>
        public UsimAidSource AidSource { get { return _aidSource; } }

        /// <summary>Length of the AID in use (16 for a typical full AID, 7 for the prefix).</summary>
        public int AidLength { get { return _aidLength; } }

        /// <summary>Copies the AID in use to <paramref name="dest"/>; returns its length.</summary>
        public int CopyAid(byte[] dest, int offset)
        {
            if (dest == null) throw new System.ArgumentNullException("dest");
            if (offset < 0 || offset + _aidLength > dest.Length) throw new System.ArgumentOutOfRangeException("offset");
            System.Array.Copy(_aid, 0, dest, offset, _aidLength);
            return _aidLength;
        }

        /// <summary>The AID in use as upper-case hex (for logs; allocates).</summary>
        public string AidHex { get { return HexString.Encode(_aid, 0, _aidLength); } }

        /// <summary>Why EF_DIR was not usable (first malformed record or FCP); <see cref="UsimError.None"/> otherwise.</summary>
        public UsimError DirError { get { return _dirError; } }

        /// <summary>Status word of the failed +CRSM on EF_DIR when <see cref="AidSource"/> is PrefixDirUnreadable (0000 when the modem refused the command).</summary>
        public StatusWord DirStatusWord { get { return _dirStatus; } }

        /// <summary>What MANAGE CHANNEL open answered in the last probe when it failed at the card (e.g. 6881), 0000 otherwise.</summary>
        public StatusWord ManageChannelStatusWord { get { return _manageChannelStatus; } }

        /// <summary>The <see cref="SimAccessPaths"/> bit of the path that gave the last AUTHENTICATE answer (0 when none did).</summary>
        public int LastAuthenticatePath { get { return _lastPath; } }

        // ------------------------------------------------------------------ EF_DIR → full USIM AID

        private void UsePrefix(UsimAidSource source)
        {
            byte[] prefix = UsimApdu.UsimAidPrefix();
            System.Array.Clear(_aid, 0, _aid.Length);
            System.Array.Copy(prefix, 0, _aid, 0, prefix.Length);
            _aidLength = prefix.Length;
            _aidSource = source;
        }

        /// <summary>
        /// Reads EF_DIR and adopts the first USIM AID (TS 102 221 §13.1, TS 31.102 Annex A). Returns only
        /// Timeout / Rebooted as errors; every other failure leaves the prefix in use with a typed
        /// <see cref="AidSource"/> (and <see cref="DirError"/> / <see cref="DirStatusWord"/>).
        /// </summary>
        public ModemError ReadUsimAid()
        {
            UsePrefix(UsimAidSource.PrefixDirUnreadable);
            _dirError = UsimError.None;
            _dirStatus = new StatusWord(0, 0);

            // 1. GET RESPONSE on EF_DIR → FCP: linear fixed, record length and count (TS 102 221 §11.1.1.3, §11.1.1.4.3).
            int len;
            StatusWord sw;
            ModemError e = Crsm(SimAccessCommands.CrsmGetResponseArguments(EfDir.FileId), out len, out sw);
            if (e == ModemError.Rebooted || e == ModemError.Timeout) return e;
            if (e != ModemError.Ok) return ModemError.Ok;
            if (!sw.IsSuccess)
            {
                _dirStatus = sw;
                return ModemError.Ok;
            }
            FileControlParameters fcp;
            try
            {
                fcp = FileControlParameters.Parse(_response, 0, len);
                if (fcp.Structure != FileStructure.LinearFixed || fcp.RecordLength < 1 || fcp.RecordLength > 255 || fcp.RecordCount < 1)
                {
                    throw new UsimException(UsimError.WrongFileStructure, 0);
                }
            }
            catch (UsimException x)
            {
                _dirError = x.UsimError;
                _aidSource = UsimAidSource.PrefixDirMalformed;
                return ModemError.Ok;
            }

            // 2. READ RECORD 1..n (absolute mode); the first USIM template wins.
            bool unreadable = false;
            int records = fcp.RecordCount < MaxDirRecords ? fcp.RecordCount : MaxDirRecords;
            for (int record = 1; record <= records; record++)
            {
                e = Crsm(SimAccessCommands.CrsmReadRecordArguments(EfDir.FileId, record, fcp.RecordLength), out len, out sw);
                if (e == ModemError.Rebooted || e == ModemError.Timeout)
                {
                    UsePrefix(UsimAidSource.PrefixDirUnreadable);
                    return e;
                }
                if (e != ModemError.Ok || !sw.IsSuccess)
                {
                    _dirStatus = sw;
                    unreadable = true;
                    break;
                }
                int aidLength;
                int labelOffset;
                int labelLength;
                bool isApplication;
                try
                {
                    isApplication = EfDir.ParseRecord(_response, 0, len, _aid, 0, out aidLength, out labelOffset, out labelLength);
                }
                catch (UsimException x)
                {
                    // A corrupt record of another application does not hide a good USIM record: remember, go on.
                    if (_dirError == UsimError.None) _dirError = x.UsimError;
                    continue;
                }
                if (isApplication && EfDir.IsUsimAid(_aid, 0, aidLength))
                {
                    _aidLength = aidLength;
                    _aidSource = UsimAidSource.EfDir;
                    return ModemError.Ok;
                }
            }

            // No USIM record: the prefix, with the reason (_aid may hold another application's AID: overwrite it).
            if (_dirError != UsimError.None) UsePrefix(UsimAidSource.PrefixDirMalformed);
            else if (unreadable) UsePrefix(UsimAidSource.PrefixDirUnreadable);
            else UsePrefix(UsimAidSource.PrefixNoUsimInDir);
            return ModemError.Ok;
        }

        /// <summary>+CRSM with the given arguments into _response; a refused command (ERROR / +CME) is CommandError.</summary>
        private ModemError Crsm(string arguments, out int len, out StatusWord sw)
        {
            len = 0;
            sw = new StatusWord(0, 0);
            ModemError e = _runner.RunSim(SimAccessCommands.Crsm, arguments);
            if (e != ModemError.Ok) return e;
            if (Result.LineCount == 0) return ModemError.MalformedResponse;
            try
            {
                len = SimAccessCommands.ParseCrsm(Result.Lines[0], _response, 0, out sw);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
            return ModemError.Ok;
        }

        // ------------------------------------------------------------------ probe

        /// <summary>
        /// Finds the USIM AID (EF_DIR) and which SIM access paths work; remembers them in <see cref="SimPaths"/>.
        /// Each path is proven by a real round trip (the test forms alone prove little, lpac).
        /// </summary>
        public ModemError ProbeCapabilities()
        {
            int paths = SimAccessPaths.None;
            _manageChannelStatus = new StatusWord(0, 0);

            // 0. The full USIM AID from EF_DIR (falls back to the prefix).
            ModemError e = ReadUsimAid();
            if (e == ModemError.Rebooted || e == ModemError.Timeout) return e;
            if (_aidSource == UsimAidSource.EfDir) paths |= SimAccessPaths.UsimAidFromEfDir;

            // 1. Logical channel: open and close a real session to the USIM.
            e = OpenLogicalChannel();
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
            else
            {
                // MANAGE CHANNEL unsupported by the card ('68 81', '6D 00', '6E 00', '6A 81': TS 102 221 §10.2.1) or
                // refused by the modem (+CME ERROR / ERROR): does +CSIM reach the card at all on the basic channel?
                // STATUS with P2 '0C' (no data, TS 102 221 §11.1.2) changes no card state.
                if (e == ModemError.SimRefused) _manageChannelStatus = _lastSw;
                e = CsimBasicChannelProbe();
                if (e == ModemError.Rebooted || e == ModemError.Timeout) return e;
                if (e == ModemError.Ok) paths |= SimAccessPaths.CsimBasicChannel;
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
            _lastPath = SimAccessPaths.None;
            bool triedAny = false;
            int refusedCode = int.MinValue;

            if ((_simPaths & SimAccessPaths.LogicalChannel) != 0)
            {
                triedAny = true;
                ModemError e = AuthenticateOverCgla(rand, autn, result);
                if (e != ModemError.Ok && e != ModemError.ModemRefused) return e;
                if (e == ModemError.Ok)
                {
                    _lastPath = SimAccessPaths.LogicalChannel;
                    return ModemError.Ok;
                }
                refusedCode = _runner.LastCmeError;
            }

            bool basic = (_simPaths & SimAccessPaths.CsimBasicChannel) != 0;
            if ((_simPaths & SimAccessPaths.Csim) != 0)
            {
                triedAny = true;
                _manageChannelRefusedByCard = false;
                ModemError e = AuthenticateOverCsim(rand, autn, result);
                if (e != ModemError.Ok && e != ModemError.ModemRefused) return e;
                if (e == ModemError.Ok)
                {
                    _lastPath = SimAccessPaths.Csim;
                    return ModemError.Ok;
                }
                refusedCode = _runner.LastCmeError;
                // The card refused MANAGE CHANNEL now although the probe could open one (e.g. '6A 81': every channel
                // in use): +CSIM itself works, so the basic channel is tried as if the probe had found it.
                if (_manageChannelRefusedByCard) basic = true;
            }

            if (basic)
            {
                triedAny = true;
                ModemError e = AuthenticateOverBasicChannel(rand, autn, result);
                if (e != ModemError.Ok && e != ModemError.ModemRefused) return e;
                if (e == ModemError.Ok)
                {
                    _lastPath = SimAccessPaths.CsimBasicChannel;
                    return ModemError.Ok;
                }
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
            if (e == ModemError.SimRefused) _manageChannelRefusedByCard = true;
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

        /// <summary>
        /// AUTHENTICATE on the basic channel (used only when MANAGE CHANNEL is unsupported): SELECT ADF USIM by AID
        /// with CLA '00' (TS 102 221 §11.1.1, P2 '04' FCP), then AUTHENTICATE CLA '00' INS '88' P2 '81'
        /// (TS 31.102 §7.1.2) and GET RESPONSE for '61xx' (TS 102 221 §7.3.1.1.4).
        /// Risk: channel 0 is the MT's own channel to the card. TS 102 221 §8.6 (logical channels; clause number not
        /// re-checked) gives each logical channel its own current DF/EF and active application; the MT runs its USIM
        /// session there (USIM initialisation, TS 31.102 §5.1.1, selects the USIM on the basic channel). Our SELECT by AID re-selects that same ADF, so the
        /// active application is unchanged, but the current EF is reset: an MT that reads "the current EF" without
        /// selecting again, or that interleaves its own APDU between our AUTHENTICATE and GET RESPONSE (the pending
        /// response is then lost: '6985'), is disturbed. We leave the ADF selected, as the ME itself would after
        /// initialisation, and do not reselect the MF. TS 27.007 §8.17 leaves this to the TE: with +CSIM "the TE
        /// shall then take care of processing SIM information within the frame specified by GSM/UMTS".
        /// </summary>
        private ModemError AuthenticateOverBasicChannel(byte[] rand, byte[] autn, AuthenticateResult result)
        {
            try
            {
                int n = UsimApdu.BuildSelectByAid(0, _aid, 0, _aidLength, _apdu, 0);
                int len;
                ModemError e = TransmitCsim(0, n, false, out len);
                if (e != ModemError.Ok) return e;
                StatusWord sw = StatusWord.FromResponseTail(_response, 0, len);
                if (!(sw.IsSuccess || sw.Category == StatusCategory.MoreData))
                {
                    _lastSw = sw;
                    result.SetKind(AuthenticateKind.Refused, sw);
                    return ModemError.Ok;
                }

                n = UsimApdu.BuildAuthenticate3g(0, rand, 0, autn, 0, _apdu, 0);
                e = TransmitCsim(0, n, true, out len);
                if (e != ModemError.Ok) return e;
                return ParseAuthenticate(len, result);
            }
            catch (MalformedInputException)
            {
                return ModemError.MalformedResponse;
            }
        }

        /// <summary>STATUS '80 F2 00 0C 00' on the basic channel (TS 102 221 §11.1.2: P2 '0C' no data returned).</summary>
        private ModemError CsimBasicChannelProbe()
        {
            _apdu[0] = 0x80; // CLA '80': STATUS is a TS 102 221-only command (§10.1.1)
            _apdu[1] = UsimApdu.InsStatus;
            _apdu[2] = 0x00;
            _apdu[3] = 0x0C;
            _apdu[4] = 0x00;
            int len;
            ModemError e = TransmitCsim(0, 5, false, out len);
            if (e != ModemError.Ok) return e;
            StatusWord sw;
            try
            {
                sw = StatusWord.FromResponseTail(_response, 0, len);
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
        /// +CGLA exchange of _apdu[0..n) on the +CCHO session, with the T=0 procedure bytes resolved here when the modem
        /// returns them (3gpp.md §3: some modems do GET RESPONSE inside the command, others return '61xx' to the TE).
        /// </summary>
        private ModemError TransmitCgla(int n, out int len)
        {
            return Transmit(true, 0, n, true, out len);
        }

        // ------------------------------------------------------------------ +CSIM

        /// <summary>+CSIM exchange of _apdu[0..n) on <paramref name="channel"/>; resolves '61xx' / '6Cxx' when <paramref name="fetch"/>.</summary>
        private ModemError TransmitCsim(int channel, int n, bool fetch, out int len)
        {
            return Transmit(false, channel, n, fetch, out len);
        }

        /// <summary>
        /// One APDU over +CGLA (27.007 §8.43) or +CSIM (27.007 §8.17); the R-APDU lands in _response[0..len). With
        /// <paramref name="fetch"/>, '61xx' is followed by GET RESPONSE (TS 102 221 §7.3.1.1.4) and '6Cxx' by the same
        /// command with Le = xx (§7.3.1.1.5), at most four rounds. Over +CGLA the GET RESPONSE goes out with CLA channel 0:
        /// the session id already names the logical channel.
        /// </summary>
        private ModemError Transmit(bool overCgla, int channel, int n, bool fetch, out int len)
        {
            len = 0;
            for (int round = 0; round < 4; round++)
            {
                ModemError e = overCgla
                    ? _runner.RunSim(SimAccessCommands.Cgla, SimAccessCommands.CglaArguments(_cchoSession, _apdu, 0, n))
                    : _runner.RunSim(SimAccessCommands.Csim, SimAccessCommands.CsimArguments(_apdu, 0, n));
                if (e == ModemError.CommandError) return ModemError.ModemRefused;
                if (e != ModemError.Ok) return e;
                if (Result.LineCount == 0) return ModemError.MalformedResponse;
                try
                {
                    len = overCgla
                        ? SimAccessCommands.ParseCgla(Result.Lines[0], _response, 0)
                        : SimAccessCommands.ParseCsim(Result.Lines[0], _response, 0);
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

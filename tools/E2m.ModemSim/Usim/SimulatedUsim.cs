using System;
using System.Collections.Generic;
using System.Linq;
using E2m.Crypto;

namespace E2m.ModemSim.Usim
{
    /// <summary>
    /// A UICC with one USIM application (ETSI TS 102 221, 3GPP TS 31.102, TS 33.102), as the ME's card reader sees it.
    /// <list type="bullet">
    /// <item>Files: MF 3F00 { EF_DIR 2F00, EF_ICCID 2FE2, ADF USIM { EF_IMSI 6F07, EF_Keys 6F08, EF_KeysPS 6F09, EF_AD 6FAD } }.</item>
    /// <item>SELECT by FID / DF name (partial AID) / path, STATUS, READ/UPDATE BINARY (incl. SFI), READ RECORD, VERIFY PIN1,
    /// MANAGE CHANNEL, GET RESPONSE, AUTHENTICATE (3G context, Milenage, SQN array of Annex C).</item>
    /// <item>Logical channels 0..<see cref="UsimProfile.LogicalChannels"/> each with its own current DF/EF, active application
    /// and pending response (TS 102 221 §8.6, §10.1.1).</item>
    /// <item>Faults: <see cref="Present"/> (SIM removed), <see cref="Busy"/> (SIM busy), <see cref="ManageChannelStatus"/>
    /// (no MANAGE CHANNEL: '68 81' / '6D 00') and <see cref="EfDirFault"/> (EF_DIR missing / unreadable / corrupt).</item>
    /// </list>
    /// Thread-safe: APDUs are serialised as on a real card interface.
    /// </summary>
    public sealed class SimulatedUsim : ISimCard
    {
        // TS 102 221 §10.1.2 (Table 10.5): instruction codes.
        private const byte InsSelect = 0xA4, InsStatus = 0xF2, InsReadBinary = 0xB0, InsUpdateBinary = 0xD6, InsReadRecord = 0xB2;
        private const byte InsVerify = 0x20, InsAuthenticate = 0x88, InsManageChannel = 0x70, InsGetResponse = 0xC0;

        /// <summary>AUTHENTICATE P2 '81': specific reference data, 3G/EPS context (TS 31.102 §7.1.2).</summary>
        public const byte P2Context3g = 0x81;

        /// <summary>EF_DIR '2F00' (TS 102 221 §13.1) and its record size (a 16-octet AID + label fits in 32).</summary>
        public const int EfDirFid = 0x2F00, DirRecordLength = 32;

        private const int KeysFileLength = 33;            // TS 31.102 §4.2.3/§4.2.4: KSI 1 + CK 16 + IK 16
        private const byte KsiNoKey = 0x07;               // TS 24.008 §10.5.1.2: '111' no key available

        private readonly object _lock = new();
        private readonly UsimProfile _profile;
        private readonly Milenage _milenage;
        private readonly SqnFreshness _sqn;
        private readonly CardFile _mf;
        private readonly CardFile _adf;
        private readonly Channel[] _channels;
        private readonly byte[] _pinPadded; // PIN1 as 8 octets: ASCII digits padded with 'FF' (TS 102 221 §9)
        private bool _present = true;
        private bool _pinVerified;
        private int _pinAttemptsLeft;

        public SimulatedUsim(UsimProfile profile, ICryptoProvider? crypto = null)
        {
            _profile = profile ?? throw new ArgumentNullException(nameof(profile));
            if (profile.LogicalChannels < 0 || profile.LogicalChannels > 3)
            {
                throw new ArgumentOutOfRangeException(nameof(profile), "LogicalChannels 0..3 (CLA '0X' coding, TS 102 221 §10.1.1)");
            }

            crypto ??= new PortableCryptoProvider();
            _milenage = new Milenage(crypto.CreateAes128());
            _milenage.SetKey(profile.K, profile.Opc);
            _sqn = new SqnFreshness(profile.IndBits) { Delta = profile.Delta, AgeLimit = profile.AgeLimit };
            foreach (ulong s in profile.AcceptedSqns)
            {
                _sqn.SetAccepted(s);
            }

            _pinPadded = new byte[8];
            if (profile.Pin1 != null)
            {
                if (profile.Pin1.Length < 4 || profile.Pin1.Length > 8) throw new ArgumentException("PIN1 4..8 digits", nameof(profile));
                _pinPadded.AsSpan().Fill(0xFF);
                for (int i = 0; i < profile.Pin1.Length; i++)
                {
                    char c = profile.Pin1[i];
                    if (c < '0' || c > '9') throw new ArgumentException("PIN1 digits only", nameof(profile));
                    _pinPadded[i] = (byte)c;
                }
            }

            _pinAttemptsLeft = profile.PinAttempts;

            _mf = CardFile.Df(0x3F00, null);
            _adf = CardFile.Df(0x7FFF, _mf);
            _adf.Aid = (byte[])profile.UsimAid.Clone();
            if (_adf.Aid.Length < 7 || _adf.Aid.Length > 16) throw new ArgumentException("AID 7..16 octets", nameof(profile));

            // TS 102 221 §13.1 EF_DIR: linear fixed, one record per application: '61' L { '4F' L AID, '50' L label },
            // padded with 'FF'; the extra applications of the profile first, then the USIM, then one unused record.
            var dir = new List<byte>();
            for (int i = 0; i < profile.ExtraDirApplications.Length; i++)
            {
                dir.AddRange(DirRecord(profile.ExtraDirApplications[i], "APP" + (i + 1)));
            }

            dir.AddRange(DirRecord(_adf.Aid, profile.UsimLabel));
            dir.AddRange(Enumerable.Repeat((byte)0xFF, DirRecordLength));
            _mf.Add(CardFile.Ef(EfDirFid, 0x1E, dir.ToArray(), AccessCondition.Always, AccessCondition.Adm, recordLength: DirRecordLength));
            _mf.Add(CardFile.Ef(0x2FE2, 0, EncodeIccid("8988211000000000013"), AccessCondition.Always, AccessCondition.Never));

            // TS 31.102 §4.2.2 EF_IMSI: READ PIN, UPDATE ADM; SFI '07'.
            _adf.Add(CardFile.Ef(0x6F07, 0x07, EncodeImsi(profile.Imsi), AccessCondition.Pin1, AccessCondition.Adm));
            // TS 31.102 §4.2.3 EF_Keys / §4.2.4 EF_KeysPS: READ PIN, UPDATE PIN; SFI '08' / '09'; KSI '07' = no key.
            _adf.Add(CardFile.Ef(0x6F08, 0x08, EmptyKeys(), AccessCondition.Pin1, AccessCondition.Pin1));
            _adf.Add(CardFile.Ef(0x6F09, 0x09, EmptyKeys(), AccessCondition.Pin1, AccessCondition.Pin1));
            // TS 31.102 §4.2.18 EF_AD: READ ALW, UPDATE ADM; SFI '03'; octet 4 = MNC length.
            if (profile.MncLength != 2 && profile.MncLength != 3) throw new ArgumentException("MNC length 2 or 3", nameof(profile));
            _adf.Add(CardFile.Ef(0x6FAD, 0x03, new byte[] { 0x00, 0x00, 0x00, (byte)profile.MncLength }, AccessCondition.Always, AccessCondition.Adm));
            _mf.Add(_adf);

            _channels = new Channel[1 + profile.LogicalChannels];
            for (int i = 0; i < _channels.Length; i++)
            {
                _channels[i] = new Channel();
            }

            ResetState();
        }

        /// <summary>Fault: false = SIM removed (<see cref="Transmit"/> throws <see cref="SimNotPresentException"/>). Re-insertion power-cycles the card.</summary>
        public bool Present
        {
            get { lock (_lock) return _present; }
            set
            {
                lock (_lock)
                {
                    if (value && !_present) ResetState();
                    _present = value;
                }
            }
        }

        /// <summary>Fault: true = SIM busy (<see cref="Transmit"/> throws <see cref="SimBusyException"/>; the modem maps it to +CME ERROR: 14).</summary>
        public bool Busy { get; set; }

        /// <summary>
        /// Fault: a card without MANAGE CHANNEL. 0 (default) = supported; otherwise every MANAGE CHANNEL command answers
        /// this status word, e.g. <see cref="StatusWords.ChannelNotSupported"/> '68 81' or <see cref="StatusWords.InsNotSupported"/>
        /// '6D 00' (TS 102 221 §10.2.1). Only the basic channel is then usable.
        /// </summary>
        public int ManageChannelStatus { get; set; }

        /// <summary>Fault: EF_DIR missing, unreadable or corrupt (see <see cref="Usim.EfDirFault"/>).</summary>
        public EfDirFault EfDirFault { get; set; }

        /// <summary>PIN1 is enabled (a PIN is configured). The modem's +CPIN? shows "SIM PIN" while enabled and not verified.</summary>
        public bool PinEnabled => _profile.Pin1 != null;

        /// <summary>PIN1 verified since the last reset (or PIN disabled).</summary>
        public bool PinVerified { get { lock (_lock) return _profile.Pin1 == null || _pinVerified; } }

        /// <summary>PIN1 attempts left; 0 = blocked (the modem's +CPIN? shows "SIM PUK").</summary>
        public int PinAttemptsLeft { get { lock (_lock) return _pinAttemptsLeft; } }

        /// <summary>The card's SQN state (TS 33.102 Annex C), for inspection and provisioning by tests.</summary>
        public SqnFreshness Sqn => _sqn;

        /// <summary>IMSI as personalised.</summary>
        public string Imsi => _profile.Imsi;

        /// <summary>Optional APDU trace (GSMTAP SIM pcap); every exchange through <see cref="Transmit"/> is recorded.</summary>
        public IApduTrace? Trace { get; set; }

        /// <summary>Count of AUTHENTICATE commands that reached the algorithm (for tests and fault scripts).</summary>
        public int AuthenticateCount { get; private set; }

        /// <summary>Administrative read of an EF's content (as with ADM rights), for tests: 6F07, 6F08, 6F09, 6FAD, 2F00, 2FE2.</summary>
        public byte[] ReadFileAdmin(int fid)
        {
            lock (_lock)
            {
                CardFile f = FindAnywhere(_mf, fid) ?? throw new ArgumentException("no such file", nameof(fid));
                return (byte[])f.Data.Clone();
            }
        }

        public void Reset()
        {
            lock (_lock)
            {
                ResetState();
            }
        }

        public byte[] Transmit(byte[] commandApdu)
        {
            ArgumentNullException.ThrowIfNull(commandApdu);
            byte[] response;
            lock (_lock)
            {
                if (!_present) throw new SimNotPresentException();
                if (Busy) throw new SimBusyException();
                response = Process(commandApdu);
            }

            Trace?.Record(commandApdu, response);
            return response;
        }

        private void ResetState()
        {
            // TS 102 221 §6.1 / §8.6: after reset only the basic channel is open, with the MF selected.
            for (int i = 0; i < _channels.Length; i++)
            {
                Channel c = _channels[i];
                c.Open = i == 0;
                c.CurrentDf = _mf;
                c.CurrentEf = null;
                c.ActiveAdf = null;
                c.Pending = null;
            }

            _pinVerified = false;
        }

        private byte[] Process(byte[] apdu)
        {
            if (apdu.Length < 4) return Sw(StatusWords.WrongLength);
            int cla = apdu[0], ins = apdu[1], p1 = apdu[2], p2 = apdu[3];

            // TS 102 221 §10.1.1: CLA '0X'/'8X' channels 0..3 (b4..b3 secure messaging), '4X'/'CX' channels 4..19.
            int channel;
            bool etsiClass = (cla & 0x80) != 0; // '8X'/'CX': commands specified only in TS 102 221 (e.g. STATUS)
            if (cla == 0xFF || (cla & 0x60) == 0x20) return Sw(StatusWords.ClaNotSupported); // 'A0' (GSM class), RFU
            if ((cla & 0x40) == 0)
            {
                if ((cla & 0x0C) != 0) return Sw(StatusWords.SecureMessagingNotSupported);
                channel = cla & 0x03;
            }
            else
            {
                if ((cla & 0x20) != 0) return Sw(StatusWords.SecureMessagingNotSupported);
                channel = 4 + (cla & 0x0F);
            }

            bool expectEtsiClass = ins == InsStatus; // TS 102 221 Table 10.5: STATUS is '8X', the others here '0X'
            if (!IsKnownIns(ins)) return Sw(StatusWords.InsNotSupported);
            if (etsiClass != expectEtsiClass) return Sw(StatusWords.ClaNotSupported);
            if (channel >= _channels.Length || !_channels[channel].Open) return Sw(StatusWords.ChannelNotSupported);

            Channel ch = _channels[channel];
            if (ins != InsGetResponse) ch.Pending = null; // a pending response is only available to the next command
            if (ins == InsManageChannel && ManageChannelStatus != 0) return Sw(ManageChannelStatus); // fault

            int p3 = apdu.Length > 4 ? apdu[4] : -1;
            switch (ins)
            {
                case InsSelect: return Select(ch, apdu, p1, p2, p3);
                case InsStatus: return Status(ch, p2, p3);
                case InsReadBinary: return ReadBinary(ch, p1, p2, p3, apdu.Length);
                case InsUpdateBinary: return UpdateBinary(ch, apdu, p1, p2, p3);
                case InsReadRecord: return ReadRecord(ch, p1, p2, p3, apdu.Length);
                case InsVerify: return Verify(apdu, p1, p2, p3);
                case InsManageChannel: return ManageChannel(channel, p1, p2, p3, apdu.Length);
                case InsGetResponse: return GetResponse(ch, p1, p2, p3, apdu.Length);
                case InsAuthenticate: return Authenticate(ch, apdu, p1, p2, p3);
                default: return Sw(StatusWords.InsNotSupported);
            }
        }

        private static bool IsKnownIns(int ins) =>
            ins == InsSelect || ins == InsStatus || ins == InsReadBinary || ins == InsUpdateBinary || ins == InsReadRecord ||
            ins == InsVerify || ins == InsAuthenticate || ins == InsManageChannel || ins == InsGetResponse;

        // ---- command data helpers -------------------------------------------------------------------------------

        /// <summary>
        /// Case 3/4 body: P3 = Lc, then Lc octets, then at most one Le octet (the APDU form carries it, the T=0 TPDU
        /// does not). Returns false when the length does not fit.
        /// </summary>
        private static bool TryCommandData(byte[] apdu, int p3, out byte[] data, out int le)
        {
            data = Array.Empty<byte>();
            le = -1;
            if (p3 < 0) return true; // case 1 (no P3)
            int rest = apdu.Length - 5;
            if (rest != p3 && rest != p3 + 1) return false;
            data = apdu.AsSpan(5, p3).ToArray();
            if (rest == p3 + 1) le = apdu[5 + p3];
            return true;
        }

        /// <summary>Answer of a case-4 command (TS 102 221 §7.3.1.1.4 for T=0; §7.4 / ISO 7816-4 APDU level otherwise).</summary>
        private byte[] ReplyCase4(Channel ch, byte[] data, int le)
        {
            if (data.Length == 0) return Sw(StatusWords.Ok);
            if (_profile.T0)
            {
                ch.Pending = data; // withheld until GET RESPONSE on this channel
                return Sw(StatusWords.MoreData | (data.Length & 0xFF));
            }

            if (le > 0 && le < data.Length) return Sw(StatusWords.WrongLe | data.Length);
            return WithSw(data, StatusWords.Ok);
        }

        /// <summary>Answer of a case-2 command: P3 = Le; T=0 needs P3 equal to the length, else '6C xx' (TS 102 221 §7.3.1.1.3).</summary>
        private byte[] ReplyCase2(byte[] data, int le)
        {
            int want = le == 0 ? 256 : le;
            if (_profile.T0 && want != data.Length) return Sw(StatusWords.WrongLe | (data.Length & 0xFF));
            if (le > 0 && le < data.Length) return Sw(StatusWords.WrongLe | (data.Length & 0xFF));
            return WithSw(data, StatusWords.Ok);
        }

        // ---- SELECT (TS 102 221 §11.1.1, §8.4) ------------------------------------------------------------------

        private byte[] Select(Channel ch, byte[] apdu, int p1, int p2, int p3)
        {
            if (!TryCommandData(apdu, p3, out byte[] data, out int le) || data.Length == 0) return Sw(StatusWords.WrongLength);
            int responseType = p2 & 0x0C; // '04' return FCP, '0C' no data returned
            if (responseType != 0x04 && responseType != 0x0C) return Sw(StatusWords.IncorrectP1P2);

            CardFile? target;
            switch (p1)
            {
                case 0x00: // select by file identifier (§8.4.1)
                    if (data.Length != 2) return Sw(StatusWords.WrongLength);
                    target = SelectByFid(ch, (data[0] << 8) | data[1]);
                    break;
                case 0x04: // select by DF name = AID, right-truncated (partial) AID allowed (§8.4.1, ISO 7816-4 §7.1.1)
                    if (data.Length > 16) return Sw(StatusWords.WrongLength);
                    if ((p2 & 0x03) != 0) return Sw(StatusWords.FileNotFound); // only one USIM: no next occurrence
                    target = data.Length <= _adf.Aid!.Length && _adf.Aid.AsSpan(0, data.Length).SequenceEqual(data) ? _adf : null;
                    break;
                case 0x08: // path from the MF, without '3F00' (§8.4.2)
                case 0x09: // path from the current DF
                    if ((data.Length & 1) != 0) return Sw(StatusWords.WrongLength);
                    target = SelectByPath(ch, p1 == 0x08 ? _mf : ch.CurrentDf, data);
                    break;
                default:
                    return Sw(StatusWords.IncorrectP1P2);
            }

            if (target != null && !target.IsDf && target.Fid == EfDirFid && EfDirFault == EfDirFault.Missing) target = null; // fault
            if (target == null) return Sw(StatusWords.FileNotFound);
            if (target.IsDf)
            {
                ch.CurrentDf = target;
                ch.CurrentEf = null;
                if (target.Aid != null) ch.ActiveAdf = target; // application activation (§8.5)
            }
            else
            {
                ch.CurrentDf = target.Parent!;
                ch.CurrentEf = target;
            }

            return responseType == 0x0C ? Sw(StatusWords.Ok) : ReplyCase4(ch, Fcp(target), le);
        }

        /// <summary>File-id selection rules of TS 102 221 §8.4.1.</summary>
        private CardFile? SelectByFid(Channel ch, int fid)
        {
            if (fid == 0x3F00) return _mf;
            if (fid == 0x7FFF) return ch.ActiveAdf;                        // the active ADF on this channel
            CardFile df = ch.CurrentDf;
            if (df.Fid == fid && df.Aid == null) return df;                // the current DF
            CardFile? child = df.Child(fid);                               // an immediate child of the current DF
            if (child != null && child.Aid == null) return child;
            if (df.Parent != null)
            {
                if (df.Parent.Fid == fid) return df.Parent;                // the parent of the current DF
                CardFile? sibling = df.Parent.Child(fid);                  // a DF child of the parent
                if (sibling != null && sibling.IsDf && sibling.Aid == null) return sibling;
            }

            return null;
        }

        private CardFile? SelectByPath(Channel ch, CardFile start, byte[] path)
        {
            CardFile? cur = start;
            for (int i = 0; i < path.Length && cur != null; i += 2)
            {
                int fid = (path[i] << 8) | path[i + 1];
                if (i == 0 && fid == 0x7FFF) cur = ch.ActiveAdf;          // '7FFF' as first element = the active ADF (§8.4.2)
                else if (i == 0 && fid == 0x3F00) cur = _mf;
                else cur = cur.IsDf ? cur.Child(fid) : null;
            }

            return cur;
        }

        /// <summary>FCP template '62' (TS 102 221 §11.1.1): descriptor '82', id '83' / DF name '84', life cycle '8A', size '80', SFI '88'.</summary>
        private static byte[] Fcp(CardFile f)
        {
            var b = new List<byte>();
            if (f.IsDf)
            {
                b.AddRange(new byte[] { 0x82, 0x02, 0x78, 0x21 });        // DF, shareable (§11.1.1.4)
                if (f.Aid != null)
                {
                    b.Add(0x84);
                    b.Add((byte)f.Aid.Length);
                    b.AddRange(f.Aid);
                }
                else
                {
                    b.AddRange(new byte[] { 0x83, 0x02, (byte)(f.Fid >> 8), (byte)f.Fid });
                }

                b.AddRange(new byte[] { 0x8A, 0x01, 0x05 });              // operational state, activated (§11.1.1.4)
            }
            else
            {
                if (f.RecordLength > 0)
                {
                    b.AddRange(new byte[] { 0x82, 0x05, 0x42, 0x21, 0x00, (byte)f.RecordLength, (byte)(f.Data.Length / f.RecordLength) });
                }
                else
                {
                    b.AddRange(new byte[] { 0x82, 0x02, 0x41, 0x21 });    // working EF, transparent, shareable
                }

                b.AddRange(new byte[] { 0x83, 0x02, (byte)(f.Fid >> 8), (byte)f.Fid });
                b.AddRange(new byte[] { 0x8A, 0x01, 0x05 });
                b.AddRange(new byte[] { 0x80, 0x02, (byte)(f.Data.Length >> 8), (byte)f.Data.Length });
                if (f.Sfi != 0) b.AddRange(new byte[] { 0x88, 0x01, (byte)(f.Sfi << 3) }); // SFI in b8..b4 (§11.1.1.4)
            }

            var r = new byte[2 + b.Count];
            r[0] = 0x62;
            r[1] = (byte)b.Count;
            b.CopyTo(r, 2);
            return r;
        }

        // ---- STATUS (TS 102 221 §11.1.2) ------------------------------------------------------------------------

        private byte[] Status(Channel ch, int p2, int p3)
        {
            switch (p2)
            {
                case 0x0C: return Sw(StatusWords.Ok);
                case 0x00: return ReplyCase2(Fcp(ch.CurrentDf), p3 < 0 ? 0 : p3);
                case 0x01:
                    if (ch.ActiveAdf == null) return Sw(StatusWords.Ok);
                    var tlv = new byte[2 + ch.ActiveAdf.Aid!.Length];
                    tlv[0] = 0x84;
                    tlv[1] = (byte)ch.ActiveAdf.Aid.Length;
                    ch.ActiveAdf.Aid.CopyTo(tlv, 2);
                    return ReplyCase2(tlv, p3 < 0 ? 0 : p3);
                default: return Sw(StatusWords.IncorrectP1P2);
            }
        }

        // ---- READ / UPDATE BINARY (TS 102 221 §11.1.3, §11.1.4), READ RECORD (§11.1.5) --------------------------

        private byte[]? ResolveBinaryTarget(Channel ch, int p1, int p2, out CardFile? file, out int offset)
        {
            file = null;
            offset = 0;
            if ((p1 & 0x80) != 0)
            {
                if ((p1 & 0x60) != 0) return Sw(StatusWords.IncorrectP1P2);
                file = ch.CurrentDf.ChildBySfi(p1 & 0x1F);                 // SFI in P1 b5..b1, offset in P2
                if (file == null) return Sw(StatusWords.FileNotFound);
                ch.CurrentEf = file;
                offset = p2;
            }
            else
            {
                file = ch.CurrentEf;
                if (file == null) return Sw(StatusWords.NoCurrentEf);
                offset = (p1 << 8) | p2;
            }

            if (file.RecordLength != 0) return Sw(StatusWords.IncompatibleFileStructure);
            return null;
        }

        private byte[] ReadBinary(Channel ch, int p1, int p2, int p3, int apduLength)
        {
            if (apduLength > 5) return Sw(StatusWords.WrongLength);
            byte[]? error = ResolveBinaryTarget(ch, p1, p2, out CardFile? file, out int offset);
            if (error != null) return error;
            if (!Allowed(file!.Read)) return Sw(StatusWords.SecurityNotSatisfied);
            if (offset >= file.Data.Length) return Sw(StatusWords.WrongP1P2Offset);
            int remaining = Math.Min(file.Data.Length - offset, 256);
            int le = p3 < 0 ? 0 : p3;
            int count;
            if (le == 0)
            {
                if (_profile.T0 && remaining != 256) return Sw(StatusWords.WrongLe | remaining); // P3 '00' = 256 on T=0
                count = remaining;
            }
            else if (le > remaining)
            {
                return Sw(StatusWords.WrongLe | remaining);
            }
            else
            {
                count = le;
            }

            return WithSw(file.Data.AsSpan(offset, count).ToArray(), StatusWords.Ok);
        }

        private byte[] UpdateBinary(Channel ch, byte[] apdu, int p1, int p2, int p3)
        {
            if (p3 <= 0 || apdu.Length != 5 + p3) return Sw(StatusWords.WrongLength);
            byte[]? error = ResolveBinaryTarget(ch, p1, p2, out CardFile? file, out int offset);
            if (error != null) return error;
            if (!Allowed(file!.Update)) return Sw(StatusWords.SecurityNotSatisfied);
            if (offset >= file.Data.Length) return Sw(StatusWords.WrongP1P2Offset);
            if (offset + p3 > file.Data.Length) return Sw(StatusWords.WrongLength);
            Array.Copy(apdu, 5, file.Data, offset, p3);
            return Sw(StatusWords.Ok);
        }

        private byte[] ReadRecord(Channel ch, int p1, int p2, int p3, int apduLength)
        {
            if (apduLength > 5) return Sw(StatusWords.WrongLength);
            if ((p2 & 0x07) != 0x04) return Sw(StatusWords.IncorrectP1P2);   // only absolute mode (§11.1.5)
            CardFile? file;
            int sfi = p2 >> 3;
            if (sfi != 0)
            {
                file = ch.CurrentDf.ChildBySfi(sfi);
                if (file == null) return Sw(StatusWords.FileNotFound);
                ch.CurrentEf = file;
            }
            else
            {
                file = ch.CurrentEf;
                if (file == null) return Sw(StatusWords.NoCurrentEf);
            }

            if (file.RecordLength == 0) return Sw(StatusWords.IncompatibleFileStructure);
            if (file.Fid == EfDirFid && EfDirFault == EfDirFault.Missing) return Sw(StatusWords.FileNotFound);   // fault (SFI access)
            if (file.Fid == EfDirFid && EfDirFault == EfDirFault.Unreadable) return Sw(StatusWords.SecurityNotSatisfied); // fault
            if (!Allowed(file.Read)) return Sw(StatusWords.SecurityNotSatisfied);
            int records = file.Data.Length / file.RecordLength;
            if (p1 < 1 || p1 > records) return Sw(StatusWords.RecordNotFound);
            byte[] record = file.Data.AsSpan((p1 - 1) * file.RecordLength, file.RecordLength).ToArray();
            if (file.Fid == EfDirFid && EfDirFault == EfDirFault.Corrupt && record[0] == 0x61)
            {
                record[1] = (byte)(file.RecordLength + 8); // fault: the template length runs past the record (TS 102 221 §13.1)
            }

            return ReplyCase2(record, p3 < 0 ? 0 : p3);
        }

        private bool Allowed(AccessCondition ac) => ac switch
        {
            AccessCondition.Always => true,
            AccessCondition.Pin1 => _profile.Pin1 == null || _pinVerified,
            _ => false, // ADM / NEV: the simulated ME has no administrative key
        };

        // ---- VERIFY PIN (TS 102 221 §11.1.9) -------------------------------------------------------------------

        private byte[] Verify(byte[] apdu, int p1, int p2, int p3)
        {
            if (p1 != 0x00) return Sw(StatusWords.IncorrectP1P2);
            if (p2 != 0x01) return Sw(StatusWords.ReferencedDataNotFound); // only PIN1 (key reference '01') is modelled
            if (!TryCommandData(apdu, p3, out byte[] data, out _)) return Sw(StatusWords.WrongLength);
            if (data.Length == 0)
            {
                // P3 = '00': retry counter query (§11.1.9.1).
                if (_profile.Pin1 == null || _pinVerified) return Sw(StatusWords.Ok);
                if (_pinAttemptsLeft == 0) return Sw(StatusWords.AuthMethodBlocked);
                return Sw(StatusWords.PinWrongBase | _pinAttemptsLeft);
            }

            if (data.Length != 8) return Sw(StatusWords.WrongLength);
            if (_profile.Pin1 == null) return Sw(StatusWords.ReferencedDataNotFound);
            if (_pinAttemptsLeft == 0) return Sw(StatusWords.AuthMethodBlocked);
            if (CryptoUtil.FixedTimeEquals(data, 0, _pinPadded, 0, 8))
            {
                _pinVerified = true;
                _pinAttemptsLeft = _profile.PinAttempts;
                return Sw(StatusWords.Ok);
            }

            _pinVerified = false;
            _pinAttemptsLeft--;
            return _pinAttemptsLeft == 0 ? Sw(StatusWords.AuthMethodBlocked) : Sw(StatusWords.PinWrongBase | _pinAttemptsLeft);
        }

        // ---- MANAGE CHANNEL (TS 102 221 §11.1.17) ---------------------------------------------------------------

        private byte[] ManageChannel(int origin, int p1, int p2, int p3, int apduLength)
        {
            if (p1 == 0x00)
            {
                int target = p2;
                if (target == 0)
                {
                    for (int i = 1; i < _channels.Length; i++)
                    {
                        if (!_channels[i].Open)
                        {
                            target = i;
                            break;
                        }
                    }

                    if (target == 0) return Sw(StatusWords.FunctionNotSupported); // no free channel
                }
                else if (target >= _channels.Length || _channels[target].Open)
                {
                    return Sw(StatusWords.ChannelNotSupported);
                }

                // §11.1.17: opened from the basic channel → the MF is selected; from another channel → that channel's
                // current DF and active application are inherited.
                Channel from = _channels[origin], c = _channels[target];
                c.Open = true;
                c.CurrentDf = origin == 0 ? _mf : from.CurrentDf;
                c.ActiveAdf = origin == 0 ? null : from.ActiveAdf;
                c.CurrentEf = null;
                c.Pending = null;
                if (p2 != 0) return Sw(StatusWords.Ok);                    // case 1: channel number given by the terminal
                if (apduLength > 5) return Sw(StatusWords.WrongLength);
                return ReplyCase2(new[] { (byte)target }, p3 < 0 ? 1 : p3);  // case 2: Le = '01'
            }

            if (p1 == 0x80)
            {
                if (p2 == 0 || p2 >= _channels.Length || !_channels[p2].Open) return Sw(StatusWords.ChannelNotSupported);
                _channels[p2].Open = false;
                _channels[p2].Pending = null;
                _channels[p2].ActiveAdf = null;
                return Sw(StatusWords.Ok);
            }

            return Sw(StatusWords.IncorrectP1P2);
        }

        // ---- GET RESPONSE (TS 102 221 §11.1.7) ------------------------------------------------------------------

        private byte[] GetResponse(Channel ch, int p1, int p2, int p3, int apduLength)
        {
            if (p1 != 0 || p2 != 0) return Sw(StatusWords.IncorrectP1P2);
            if (apduLength > 5) return Sw(StatusWords.WrongLength);
            byte[]? pending = ch.Pending;
            if (pending == null) return Sw(StatusWords.ConditionsNotSatisfied); // nothing to get
            int le = p3 <= 0 ? 256 : p3;
            if (le > pending.Length) return Sw(StatusWords.WrongLe | (pending.Length & 0xFF)); // keep the data for a retry
            if (le == pending.Length)
            {
                ch.Pending = null;
                return WithSw(pending, StatusWords.Ok);
            }

            // Shorter Le: hand out Le octets, the rest stays available ('61 xx', ISO 7816-3 §10.3.5 / TS 102 221 §7.3.1.1.4).
            ch.Pending = pending.AsSpan(le).ToArray();
            return WithSw(pending.AsSpan(0, le).ToArray(), StatusWords.MoreData | (ch.Pending.Length & 0xFF));
        }

        // ---- AUTHENTICATE (TS 31.102 §7.1.2, TS 33.102 §6.3.3, Annex C) ---------------------------------------

        private byte[] Authenticate(Channel ch, byte[] apdu, int p1, int p2, int p3)
        {
            if (!TryCommandData(apdu, p3, out byte[] data, out int le)) return Sw(StatusWords.WrongLength);
            if (p1 != 0x00 || (p2 & 0x80) == 0) return Sw(StatusWords.IncorrectP1P2);
            if (p2 != P2Context3g) return Sw(StatusWords.SecurityContextNotSupported); // only the 3G context is modelled
            // No USIM application active on this channel: the command is known (TS 102 221 Table 10.5 lists INS '88')
            // but its conditions of use are not met → '69 85' (TS 102 221 §10.2.1), not '6D 00'.
            if (ch.ActiveAdf == null) return Sw(StatusWords.ConditionsNotSatisfied);
            if (!Allowed(AccessCondition.Pin1)) return Sw(StatusWords.SecurityNotSatisfied); // TS 31.102 §7.1.2: PIN
            if (data.Length != 0x22) return Sw(StatusWords.WrongLength);
            if (data[0] != Milenage.RandLength || data[17] != Aka.AutnLength) return Sw(StatusWords.IncorrectData);

            byte[] rand = data.AsSpan(1, 16).ToArray();
            byte[] autn = data.AsSpan(18, 16).ToArray();
            byte[] sqn = new byte[Milenage.SqnLength];
            AuthenticateCount++;

            // TS 33.102 §6.3.3: the USIM first verifies MAC (XMAC = f1(SQN, RAND, AMF)), then the freshness of SQN.
            if (!Aka.TryVerifyAutn(_milenage, rand, autn, sqn))
            {
                return Sw(StatusWords.AuthMacFailure); // '98 62', no data, no state change
            }

            ulong sqnValue = ToUInt48(sqn);
            if (_sqn.Check(sqnValue) != SqnVerdict.Fresh)
            {
                // TS 33.102 §6.3.3 / Annex C.2: synchronisation failure with SQN_MS = the highest accepted SEQ || IND.
                byte[] sqnMs = FromUInt48(_sqn.SqnMs);
                byte[] auts = new byte[Aka.AutsLength];
                Aka.BuildAuts(_milenage, rand, sqnMs, auts);
                var dc = new byte[2 + Aka.AutsLength];
                dc[0] = 0xDC;                                // TS 31.102 §7.1.2.1 case 2: 'DC' L AUTS
                dc[1] = Aka.AutsLength;
                auts.CopyTo(dc, 2);
                return ReplyCase4(ch, dc, le);               // no state change
            }

            _sqn.Accept(sqnValue);
            byte[] res = new byte[Milenage.ResLength], ck = new byte[Milenage.CkLength], ik = new byte[Milenage.IkLength];
            _milenage.F2345(rand, res, ck, ik, null);

            // TS 31.102 §7.1.2.1 case 1: 'DB' L RES L CK L IK ['08' Kc].
            var db = new List<byte>(2 + 1 + 8 + 1 + 16 + 1 + 16 + 1 + 8) { 0xDB, (byte)res.Length };
            db.AddRange(res);
            db.Add((byte)ck.Length);
            db.AddRange(ck);
            db.Add((byte)ik.Length);
            db.AddRange(ik);
            if (_profile.IncludeKc)
            {
                db.Add(8);
                db.AddRange(C3(ck, ik));
            }

            Array.Clear(ck);
            Array.Clear(ik);
            return ReplyCase4(ch, db.ToArray(), le);
        }

        /// <summary>
        /// Conversion function c3 (TS 33.102 §6.8.1.2): Kc = CK1 ⊕ CK2 ⊕ IK1 ⊕ IK2, CKi and IKi the 64-bit halves.
        /// </summary>
        public static byte[] C3(byte[] ck, byte[] ik)
        {
            var kc = new byte[8];
            for (int i = 0; i < 8; i++)
            {
                kc[i] = (byte)(ck[i] ^ ck[i + 8] ^ ik[i] ^ ik[i + 8]);
            }

            return kc;
        }

        // ---- encodings -------------------------------------------------------------------------------------------

        /// <summary>
        /// EF_IMSI (TS 31.102 §4.2.2, digits per TS 24.008 §10.5.1.4): octet 1 = length L of the IMSI octets,
        /// octet 2 = digit 1 in b8..b5 and '9' (odd count) or '1' (even) in b4..b1, then two digits per octet low nibble
        /// first, 'F' filler; unused octets 'FF'.
        /// </summary>
        public static byte[] EncodeImsi(string imsi)
        {
            if (imsi == null || imsi.Length < 6 || imsi.Length > 15) throw new ArgumentException("IMSI 6..15 digits", nameof(imsi));
            var nibbles = new List<int> { imsi.Length % 2 == 1 ? 0x9 : 0x1 };
            foreach (char c in imsi)
            {
                if (c < '0' || c > '9') throw new ArgumentException("IMSI digits only", nameof(imsi));
                nibbles.Add(c - '0');
            }

            if (nibbles.Count % 2 == 1) nibbles.Add(0xF);
            var ef = new byte[9];
            ef.AsSpan().Fill(0xFF);
            ef[0] = (byte)(nibbles.Count / 2);
            for (int i = 0; i < nibbles.Count; i += 2)
            {
                ef[1 + i / 2] = (byte)(nibbles[i] | (nibbles[i + 1] << 4));
            }

            return ef;
        }

        /// <summary>One EF_DIR record (TS 102 221 §13.1 Table 13.2): '61' L { '4F' L AID, '50' L label }, 'FF' padding.</summary>
        public static byte[] DirRecord(byte[] aid, string label)
        {
            if (aid.Length < 1 || aid.Length > 16) throw new ArgumentException("AID 1..16 octets", nameof(aid));
            byte[] text = System.Text.Encoding.ASCII.GetBytes(label);
            int templateLength = 2 + aid.Length + 2 + text.Length;
            if (2 + templateLength > DirRecordLength) throw new ArgumentException("AID + label do not fit a record", nameof(label));
            var r = new byte[DirRecordLength];
            r.AsSpan().Fill(0xFF);
            int d = 0;
            r[d++] = 0x61;
            r[d++] = (byte)templateLength;
            r[d++] = 0x4F;
            r[d++] = (byte)aid.Length;
            aid.CopyTo(r, d);
            d += aid.Length;
            r[d++] = 0x50;
            r[d++] = (byte)text.Length;
            text.CopyTo(r, d);
            return r;
        }

        /// <summary>EF_ICCID (TS 102 221 §13.2): 10 octets BCD, nibble-swapped, 'F' filler.</summary>
        private static byte[] EncodeIccid(string iccid)
        {
            var ef = new byte[10];
            ef.AsSpan().Fill(0xFF);
            for (int i = 0; i < iccid.Length && i < 20; i++)
            {
                int n = iccid[i] - '0';
                int b = i / 2;
                ef[b] = (i % 2 == 0) ? (byte)((ef[b] & 0xF0) | n) : (byte)((ef[b] & 0x0F) | (n << 4));
            }

            return ef;
        }

        private static byte[] EmptyKeys()
        {
            var ef = new byte[KeysFileLength];
            ef.AsSpan().Fill(0xFF);
            ef[0] = KsiNoKey; // TS 31.102 §4.2.4: KSI '07' = no key available
            return ef;
        }

        internal static ulong ToUInt48(byte[] b)
        {
            ulong v = 0;
            for (int i = 0; i < 6; i++) v = (v << 8) | b[i];
            return v;
        }

        internal static byte[] FromUInt48(ulong v)
        {
            var b = new byte[6];
            for (int i = 5; i >= 0; i--)
            {
                b[i] = (byte)v;
                v >>= 8;
            }

            return b;
        }

        private static byte[] Sw(int sw) => new[] { (byte)(sw >> 8), (byte)sw };

        private static byte[] WithSw(byte[] data, int sw)
        {
            var r = new byte[data.Length + 2];
            data.CopyTo(r, 0);
            r[^2] = (byte)(sw >> 8);
            r[^1] = (byte)sw;
            return r;
        }

        private static CardFile? FindAnywhere(CardFile df, int fid)
        {
            foreach (CardFile c in df.Children)
            {
                if (!c.IsDf && c.Fid == fid) return c;
                if (c.IsDf)
                {
                    CardFile? f = FindAnywhere(c, fid);
                    if (f != null) return f;
                }
            }

            return null;
        }

        private sealed class Channel
        {
            public bool Open;
            public CardFile CurrentDf = null!;
            public CardFile? CurrentEf;
            public CardFile? ActiveAdf;
            public byte[]? Pending;
        }
    }

    /// <summary>EF_DIR faults of <see cref="SimulatedUsim.EfDirFault"/>.</summary>
    public enum EfDirFault
    {
        /// <summary>EF_DIR present and readable (ALW).</summary>
        None,

        /// <summary>No EF_DIR: SELECT '2F00' answers '6A 82' (file not found).</summary>
        Missing,

        /// <summary>EF_DIR selectable (FCP readable) but READ RECORD answers '69 82' (security status not satisfied).</summary>
        Unreadable,

        /// <summary>Every application template's length octet runs past the record (malformed BER-TLV).</summary>
        Corrupt,
    }

    internal enum AccessCondition
    {
        Always,
        Pin1,
        Adm,
        Never,
    }

    internal sealed class CardFile
    {
        public int Fid;
        public int Sfi;
        public bool IsDf;
        public byte[]? Aid;
        public byte[] Data = Array.Empty<byte>();
        public int RecordLength;
        public AccessCondition Read, Update;
        public CardFile? Parent;
        public readonly List<CardFile> Children = new();

        public static CardFile Df(int fid, CardFile? parent) => new() { Fid = fid, IsDf = true, Parent = parent };

        public static CardFile Ef(int fid, int sfi, byte[] data, AccessCondition read, AccessCondition update, int recordLength = 0) =>
            new() { Fid = fid, Sfi = sfi, Data = data, Read = read, Update = update, RecordLength = recordLength };

        public void Add(CardFile f)
        {
            f.Parent = this;
            Children.Add(f);
        }

        public CardFile? Child(int fid)
        {
            foreach (CardFile c in Children)
            {
                if (c.Fid == fid) return c;
            }

            return null;
        }

        public CardFile? ChildBySfi(int sfi)
        {
            if (sfi == 0) return null;
            foreach (CardFile c in Children)
            {
                if (!c.IsDf && c.Sfi == sfi) return c;
            }

            return null;
        }
    }
}

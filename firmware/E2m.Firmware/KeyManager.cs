#nullable disable // portable code: nullable off (DESIGN.md §9)
using System;
using E2m.Coap;
using E2m.Crypto;
using E2m.Hal;
using E2m.Modem.Drivers;
using E2m.Modem.Usim;
using E2m.Oscore;

namespace E2m.Firmware
{
    /// <summary>How the keys in use were obtained.</summary>
    public static class KeyOrigins
    {
        public const int None = 0;
        public const int Network = 1;
        public const int Home = 2;
    }

    /// <summary>
    /// Key establishment and per-EMSE OSCORE contexts (DESIGN.md §2, §3, §4, §7).
    /// <list type="number">
    /// <item>Reuse: every EMSE slot holds a persisted {e2m_key, KID, expiry} still valid for its policy
    /// (now &lt; expiry − re-key margin).</item>
    /// <item>network mode: EF_KeysPS through the modem; KSI 07 / missing / the key whose KID we derived last time
    /// (stale: EF_KeysPS is not refreshed on EPS-only modems) → fall back.</item>
    /// <item>home mode: CoAP/UDP to the EMKS, <c>POST /bs {1: imsi}</c> → <c>2.01 {2: rand, 3: autn, 6: kid,
    /// 7: lifetime_s}</c>, USIM AUTHENTICATE through the modem, derived KID must equal the offered kid; on sync failure
    /// <c>POST /bs {1: imsi, 2: rand, 9: auts}</c> → a fresh challenge.</item>
    /// </list>
    /// From one e2m_int_key: KID and one e2m_key per configured EMSE_Id, each with its own OSCORE context
    /// (<see cref="OscoreSecurityContext.ForDevice(ICryptoProvider, byte[], byte[], ISsnStore, int)"/>) and SSN record.
    /// CK/IK and e2m_int_key are zeroised right after the derivation (also on every error path); only the per-EMSE
    /// {e2m_key, KID, expiry} records persist. Key slot record: 'K' | KID (8) | e2m_key (32) | expiry in device seconds
    /// (8) | origin (1) | CRC-32.
    /// </summary>
    public sealed class KeyManager
    {
        private const byte Magic = 0x4B; // 'K'
        private const int SlotPayloadLength = 1 + 8 + 32 + 8 + 1;

        /// <summary>Bootstrap CBOR keys (DESIGN.md §3).</summary>
        public const int BsImsi = 1, BsRand = 2, BsAutn = 3, BsRes = 5, BsKid = 6, BsLifetime = 7, BsMac = 8, BsAuts = 9;

        private readonly FirmwareConfig _config;
        private readonly IRecordStore _store;
        private readonly ICryptoProvider _crypto;
        private readonly ICellularModem _modem;
        private readonly CoapUdpClient _client;
        private readonly CoapMessageIdSource _ids;
        private readonly CoapTokenSource _tokens;
        private readonly DeviceState _state;
        private readonly ILog _log;
        private readonly E2mKeys _kdf;

        private readonly int _n;
        private readonly byte[][] _key;
        private readonly byte[][] _kid;
        private readonly long[] _expiry;
        private readonly int[] _origin;
        private readonly bool[] _valid;
        private readonly OscoreSecurityContext[] _ctx;

        private readonly byte[] _intKey = new byte[E2mKeys.IntKeyLength];
        private readonly byte[] _newKid = new byte[E2mKeys.KidLength];
        private readonly byte[] _offeredKid = new byte[E2mKeys.KidLength];
        private readonly byte[] _rand = new byte[16];
        private readonly byte[] _autn = new byte[16];
        private readonly UsimKeys _usimKeys = new UsimKeys();
        private readonly AuthenticateResult _auth = new AuthenticateResult();
        private readonly byte[] _record = new byte[96];
        private readonly byte[] _payload = new byte[96];
        private readonly byte[] _datagram = new byte[160];
        private readonly CoapMessage _request = new CoapMessage(8, 16);
        private long _offeredLifetime;
        private FirmwareError _lastError;

        // refusal record (DESIGN.md §5: the subscription may not allow an EMSE): "EMSE e refused KID x"
        private const byte MagicRefusal = 0x52; // 'R'
        private const int RefusalPayloadLength = 1 + 8 + 1;
        private readonly byte[] _refusedKid = new byte[E2mKeys.KidLength];
        private int _refusedMask;
        private bool _establishedThisWake;

        public KeyManager(FirmwareConfig config, IRecordStore store, ICryptoProvider crypto, ICellularModem modem,
            CoapUdpClient client, CoapMessageIdSource ids, CoapTokenSource tokens, DeviceState state, ILog log)
        {
            _config = config;
            _store = store;
            _crypto = crypto;
            _modem = modem;
            _client = client;
            _ids = ids;
            _tokens = tokens;
            _state = state;
            _log = log;
            _kdf = new E2mKeys(crypto.CreateHmacSha256());
            _n = config.Emses.Length;
            _key = new byte[_n][];
            _kid = new byte[_n][];
            _expiry = new long[_n];
            _origin = new int[_n];
            _valid = new bool[_n];
            _ctx = new OscoreSecurityContext[_n];
            for (int i = 0; i < _n; i++)
            {
                _key[i] = new byte[E2mKeys.KeyLength];
                _kid[i] = new byte[E2mKeys.KidLength];
            }
        }

        public FirmwareError LastError { get { return _lastError; } }

        /// <summary>KID of EMSE slot <paramref name="emse"/> (valid after a successful Ensure).</summary>
        public byte[] GetKid(int emse) { return _kid[emse]; }

        public long GetExpiry(int emse) { return _expiry[emse]; }

        public int GetOrigin(int emse) { return _origin[emse]; }

        public bool IsValid(int emse) { return _valid[emse]; }

        /// <summary>True when the key in use was established (network or home mode) since <see cref="Load"/>, i.e. in this wake-up.</summary>
        public bool EstablishedThisWake { get { return _establishedThisWake; } }

        /// <summary>
        /// True when EMSE <paramref name="emse"/> answered 4.01 to the KID it holds now (persisted refusal, DESIGN.md §5):
        /// it is skipped until the KID changes (a new key establishment retries it once).
        /// </summary>
        public bool IsRefusing(int emse)
        {
            return (_refusedMask & (1 << emse)) != 0 && _valid[emse] && SameKid(_refusedKid, _kid[emse]);
        }

        /// <summary>Bit e set when <see cref="IsRefusing"/>(e).</summary>
        public int RefusingMask()
        {
            int m = 0;
            for (int i = 0; i < _n; i++) if (IsRefusing(i)) m |= 1 << i;
            return m;
        }

        /// <summary>Records durably that EMSE <paramref name="emse"/> refused its current KID (one record write).</summary>
        public void MarkRefusing(int emse)
        {
            if (!_valid[emse]) return;
            if (!SameKid(_refusedKid, _kid[emse]))
            {
                Array.Copy(_kid[emse], 0, _refusedKid, 0, 8); // another KID: earlier refusals no longer apply
                _refusedMask = 0;
            }
            _refusedMask |= 1 << emse;
            _record[0] = MagicRefusal;
            Array.Copy(_refusedKid, 0, _record, 1, 8);
            _record[9] = (byte)_refusedMask;
            RecordCodec.WriteFramed(_store, _config.RefusalRecordId, _record, RefusalPayloadLength);
        }

        private static bool SameKid(byte[] a, byte[] b)
        {
            for (int i = 0; i < 8; i++) if (a[i] != b[i]) return false;
            return true;
        }

        /// <summary>Loads the persisted slots (after each reset).</summary>
        public void Load()
        {
            _establishedThisWake = false;
            _refusedMask = 0;
            Array.Clear(_refusedKid, 0, 8);
            if (RecordCodec.ReadFramed(_store, _config.RefusalRecordId, _record, RefusalPayloadLength, MagicRefusal))
            {
                Array.Copy(_record, 1, _refusedKid, 0, 8);
                _refusedMask = _record[9];
            }
            for (int i = 0; i < _n; i++)
            {
                _valid[i] = false;
                if (!RecordCodec.ReadFramed(_store, _config.KeyRecordBase + i, _record, SlotPayloadLength, Magic)) continue;
                Array.Copy(_record, 1, _kid[i], 0, 8);
                Array.Copy(_record, 9, _key[i], 0, 32);
                _expiry[i] = RecordCodec.GetInt64(_record, 41);
                _origin[i] = _record[49];
                _valid[i] = true;
                Array.Clear(_record, 0, _record.Length);
            }
        }

        /// <summary>True when every EMSE has a key valid until at least now + re-key margin (DESIGN.md §5).</summary>
        public bool AllUsable(long nowSeconds)
        {
            for (int i = 0; i < _n; i++)
            {
                if (!_valid[i] || nowSeconds >= _expiry[i] - _config.RekeyMarginSeconds) return false;
            }
            return true;
        }

        /// <summary>
        /// Forgets every key (an EMSE answered 4.01, DESIGN.md §4): RAM, contexts and the persisted slots. The stale
        /// network KID is remembered in the device state so EF_KeysPS is not reused.
        /// </summary>
        public void InvalidateAll()
        {
            for (int i = 0; i < _n; i++)
            {
                _valid[i] = false;
                DisposeContext(i);
                Array.Clear(_key[i], 0, 32);
                _store.Delete(_config.KeyRecordBase + i);
                _store.Delete(_config.SsnRecordBase + i); // its key is gone; an unreadable record must not block the next key
            }
        }

        /// <summary>The OSCORE context of EMSE <paramref name="emse"/> (created at first use after a key change; allocates then).</summary>
        public OscoreSecurityContext GetContext(int emse)
        {
            if (!_valid[emse]) throw new InvalidOperationException("no key for this EMSE");
            if (_ctx[emse] == null)
            {
                _ctx[emse] = OscoreSecurityContext.ForDevice(_crypto, _key[emse], _kid[emse],
                    new RecordSsnStore(_store, _config.SsnRecordBase + emse, _kid[emse]), _config.SsnStep);
            }
            return _ctx[emse];
        }

        /// <summary>
        /// Makes sure every EMSE has a usable key: reuse, else network mode, else home mode (per config KeyMode).
        /// Returns None or the typed reason; <paramref name="imsi"/> is needed for home mode only.
        /// </summary>
        public FirmwareError Ensure(long nowSeconds, string imsi)
        {
            if (AllUsable(nowSeconds)) return FirmwareError.None;
            FirmwareError e = FirmwareError.NoNetworkKey;
            if (_config.KeyMode != KeyModes.HomeOnly)
            {
                e = TryNetwork(nowSeconds);
                if (e == FirmwareError.None || _config.KeyMode == KeyModes.NetworkOnly) return Done(e);
                if (_log != null && _log.IsEnabled(LogLevel.Info)) _log.Write(LogLevel.Info, "keys", "network mode: " + FirmwareErrors.Describe(e) + ", trying home mode");
            }
            return Done(TryHome(nowSeconds, imsi));
        }

        private FirmwareError Done(FirmwareError e)
        {
            _lastError = e;
            return e;
        }

        // ---------------------------------------------------------------- network mode (DESIGN.md §3)

        private FirmwareError TryNetwork(long now)
        {
            try
            {
                ModemError me = _modem.ReadKeysPs(_usimKeys); // AT+CRSM=176,28425,0,0,33
                if (me == ModemError.Rebooted) return FirmwareError.ModemRebooted;
                if (me != ModemError.Ok || !_usimKeys.HasKey) return FirmwareError.NoNetworkKey; // KSI 07 / missing
                _kdf.DeriveIntKey(_usimKeys.Ck, _usimKeys.Ik, _intKey);   // DESIGN.md §2 e2m_int_key
                _usimKeys.Clear();
                _kdf.DeriveKid(_intKey, _newKid);                        // DESIGN.md §2 KID
                if (_state.HasLastNetworkKid && CryptoUtil.FixedTimeEquals(_state.LastNetworkKid, 0, _newKid, 0, 8))
                {
                    return FirmwareError.StaleNetworkKey;
                }
                Install(now + _config.NetworkKeyLifetimeSeconds, KeyOrigins.Network);
                Array.Copy(_newKid, 0, _state.LastNetworkKid, 0, 8);
                _state.HasLastNetworkKid = true;
                _state.Save(_store, _config.StateRecordId);
                return FirmwareError.None;
            }
            finally
            {
                _usimKeys.Clear();
                Array.Clear(_intKey, 0, _intKey.Length);
            }
        }

        // ---------------------------------------------------------------- home mode (DESIGN.md §3)

        private FirmwareError TryHome(long now, string imsi)
        {
            if (imsi == null) return FirmwareError.ImsiUnavailable;
            int socket;
            ModemError me = _modem.OpenUdpSocket(_config.EmksHost, _config.EmksPort, out socket);
            if (me != ModemError.Ok) return me == ModemError.Rebooted ? FirmwareError.ModemRebooted : FirmwareError.SocketFailed;
            try
            {
                FirmwareError e = RequestChallenge(socket, imsi, false);
                if (e != FirmwareError.None) return e;
                if (_modem.SimPaths == SimAccessPaths.None)
                {
                    _modem.ProbeCapabilities();
                    if (_log != null && _log.IsEnabled(LogLevel.Info)) _log.Write(LogLevel.Info, "keys", "SIM access paths: " + SimAccessPaths.Describe(_modem.SimPaths));
                }
                for (int resync = 0; ; resync++)
                {
                    me = _modem.Authenticate(_rand, _autn, _auth);
                    if (me == ModemError.Rebooted) return FirmwareError.ModemRebooted;
                    if (me != ModemError.Ok) return FirmwareError.ModemTimeout;
                    switch (_auth.Kind)
                    {
                        case AuthenticateKind.Success:
                            _kdf.DeriveIntKey(_auth.Ck, _auth.Ik, _intKey); // DESIGN.md §2
                            _auth.Clear();                                   // CK/IK/RES gone (DESIGN.md §7)
                            _kdf.DeriveKid(_intKey, _newKid);
                            if (!CryptoUtil.FixedTimeEquals(_newKid, 0, _offeredKid, 0, 8)) return FirmwareError.KidMismatch;
                            Install(now + _offeredLifetime, KeyOrigins.Home);
                            return FirmwareError.None;
                        case AuthenticateKind.SyncFailure:
                            if (resync >= _config.MaxResyncs) return FirmwareError.AuthSyncFailure;
                            e = RequestChallenge(socket, imsi, true); // {1: imsi, 2: rand, 9: auts} → fresh challenge
                            if (e != FirmwareError.None) return e;
                            break;
                        case AuthenticateKind.MacFailure:
                            return FirmwareError.AuthMacFailure;
                        case AuthenticateKind.ModemRefused:
                            return FirmwareError.AuthModemRefused;
                        case AuthenticateKind.NoAccessPath:
                            return FirmwareError.AuthNoAccessPath;
                        default:
                            return FirmwareError.AuthUsimRefused;
                    }
                }
            }
            finally
            {
                _auth.Clear();
                Array.Clear(_intKey, 0, _intKey.Length);
                _modem.CloseSocket(socket);
            }
        }

        /// <summary>POST /bs with {1: imsi} or {1: imsi, 2: rand, 9: auts}; expects 2.01 {2: rand, 3: autn, 6: kid, 7: lifetime_s}.</summary>
        private FirmwareError RequestChallenge(int socket, string imsi, bool resync)
        {
            CborWriter w = new CborWriter(_payload, 0, _payload.Length);
            w.WriteMapHeader(resync ? 3 : 1);
            w.WriteUInt(BsImsi);
            w.WriteTextString(imsi);
            if (resync)
            {
                w.WriteUInt(BsRand);
                w.WriteByteString(_rand, 0, 16);
                w.WriteUInt(BsAuts);
                w.WriteByteString(_auth.Auts, 0, AuthenticateResult.AutsLength);
            }
            _request.Reset();
            _request.Type = CoapType.Confirmable;
            _request.Code = CoapCode.Post;
            _request.MessageId = _ids.Next();
            _tokens.Assign(_request);
            _request.AddUriPath("bs");
            _request.SetContentFormat(CoapContentFormat.Cbor);
            _request.SetPayload(_payload, 0, w.Length);
            int len = CoapCodec.Encode(_request, _datagram, 0);
            ExchangeOutcome o = _client.Exchange(socket, _datagram, len, _request.MessageId, _request.Token, _request.TokenLength);
            if (o == ExchangeOutcome.ModemFailure)
            {
                return _client.LastModemError == ModemError.Rebooted ? FirmwareError.ModemRebooted : FirmwareError.SendFailed;
            }
            if (o != ExchangeOutcome.Response) return FirmwareError.BootstrapTimeout;
            CoapMessage r = _client.Response;
            if (r.Code != CoapCode.Created) return FirmwareError.BootstrapRejected;
            return ParseChallenge(r);
        }

        private FirmwareError ParseChallenge(CoapMessage r)
        {
            bool hasRand = false, hasAutn = false, hasKid = false, hasLifetime = false;
            try
            {
                CborReader c = new CborReader(r.PayloadBuffer, r.PayloadOffset, r.PayloadLength);
                int pairs = c.ReadMapHeader();
                for (int i = 0; i < pairs; i++)
                {
                    long key = c.ReadInt();
                    switch ((int)key)
                    {
                        case BsRand:
                            if (c.ReadByteString() != 16) return FirmwareError.BootstrapMalformed;
                            Array.Copy(c.Buffer, c.LastOffset, _rand, 0, 16);
                            hasRand = true;
                            break;
                        case BsAutn:
                            if (c.ReadByteString() != 16) return FirmwareError.BootstrapMalformed;
                            Array.Copy(c.Buffer, c.LastOffset, _autn, 0, 16);
                            hasAutn = true;
                            break;
                        case BsKid:
                            if (c.ReadByteString() != 8) return FirmwareError.BootstrapMalformed;
                            Array.Copy(c.Buffer, c.LastOffset, _offeredKid, 0, 8);
                            hasKid = true;
                            break;
                        case BsLifetime:
                            ulong lt = c.ReadUInt();
                            if (lt == 0 || lt > 0x7FFFFFFF) return FirmwareError.BootstrapMalformed;
                            _offeredLifetime = (long)lt;
                            hasLifetime = true;
                            break;
                        default:
                            c.SkipValue();
                            break;
                    }
                }
                c.ExpectEnd();
            }
            catch (MalformedInputException)
            {
                return FirmwareError.BootstrapMalformed;
            }
            if (!hasRand || !hasAutn || !hasKid || !hasLifetime) return FirmwareError.BootstrapMalformed;
            return FirmwareError.None;
        }

        // ---------------------------------------------------------------- derivation + persistence

        /// <summary>_intKey and _newKid hold the new key: derive e2m_key per EMSE_Id and persist each slot.</summary>
        private void Install(long expiry, int origin)
        {
            _establishedThisWake = true;
            for (int i = 0; i < _n; i++)
            {
                DisposeContext(i);
                _valid[i] = false;
                byte[] id = _config.Emses[i].EmseIdUtf8;
                _kdf.DeriveKey(_intKey, id, 0, id.Length, _key[i]);     // DESIGN.md §2 e2m_key per EMSE_Id
                Array.Copy(_newKid, 0, _kid[i], 0, 8);
                _expiry[i] = expiry;
                _origin[i] = origin;
                int p = 0;
                _record[p++] = Magic;
                Array.Copy(_kid[i], 0, _record, p, 8); p += 8;
                Array.Copy(_key[i], 0, _record, p, 32); p += 32;
                RecordCodec.PutInt64(_record, p, expiry); p += 8;
                _record[p++] = (byte)origin;
                RecordCodec.WriteFramed(_store, _config.KeyRecordBase + i, _record, p);
                Array.Clear(_record, 0, _record.Length);
                _valid[i] = true;
            }
            Array.Clear(_intKey, 0, _intKey.Length);
        }

        private void DisposeContext(int i)
        {
            if (_ctx[i] != null)
            {
                _ctx[i].Dispose();
                _ctx[i] = null;
            }
        }
    }
}

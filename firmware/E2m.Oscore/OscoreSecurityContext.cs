using System;
using E2m.Coap;
using E2m.Crypto;
using E2m.Hal;

namespace E2m.Oscore
{
    /// <summary>
    /// One OSCORE security context (RFC 8613 §3): Common Context (AEAD 10 = AES-CCM-16-64-128, HKDF-SHA-256,
    /// Common IV, ID Context), Sender Context (Sender ID, Sender Key, Sender Sequence Number) and Recipient
    /// Context (Recipient ID, Recipient Key, Replay Window), plus the protect/unprotect processing of
    /// RFC 8613 §8.1–§8.4 on whole CoAP datagrams.
    /// <para>
    /// Allocation-aware: every buffer (nonce, AAD, plaintext/ciphertext scratch, option value, CoAP message
    /// tables) is allocated in the constructor; protect and unprotect allocate nothing afterwards (on the
    /// portable crypto). All operations on one context are serialised by a lock, which makes "read and
    /// increase the Sender Sequence Number" (§7.2) and "validate the Partial IV and update the replay
    /// window" (§7.4) atomic.
    /// </para>
    /// <para>
    /// Errors: untrusted input is rejected with <see cref="OscoreException"/> (or, for a datagram that is not
    /// even valid CoAP, the codec's <see cref="MalformedInputException"/> subclass); caller mistakes (buffers
    /// too small, response without a request) throw ArgumentException / InvalidOperationException.
    /// </para>
    /// </summary>
    public sealed class OscoreSecurityContext : IDisposable
    {
        /// <summary>Default size of the CoAP option tables (per message).</summary>
        public const int DefaultMaxOptions = 32;

        /// <summary>e2m_key length (DESIGN.md §2): the Master Secret of the e2m profile.</summary>
        public const int E2mKeyLength = 32;

        private readonly object _sync = new object();

        // Common Context (RFC 8613 §3.1)
        private readonly byte[] _commonIv = new byte[OscoreConstants.NonceLength];
        private readonly byte[] _idContext;          // null = no ID Context
        // Sender Context
        private readonly byte[] _senderId;
        private readonly byte[] _senderKey = new byte[OscoreConstants.KeyLength];
        private readonly IAesCcm _senderAead;
        private readonly SenderSequence _sequence;   // null = this context cannot consume SSNs
        // Recipient Context
        private readonly byte[] _recipientId;
        private readonly byte[] _recipientKey = new byte[OscoreConstants.KeyLength];
        private readonly IAesCcm _recipientAead;
        private readonly ReplayWindow _replay = new ReplayWindow();

        // Preallocated scratch.
        private readonly int _maxMessageSize;
        private readonly byte[] _nonce = new byte[OscoreConstants.NonceLength];
        private readonly byte[] _aad = new byte[OscoreCose.MaxAadLength];
        private readonly byte[] _piv = new byte[OscoreConstants.MaxPivLength];
        private readonly byte[] _plain;     // 3 spare octets + plaintext (see DecodePlaintext)
        private readonly byte[] _cipher;    // ciphertext || tag
        private readonly byte[] _optionValue = new byte[OscoreOptionValue.MaxLength];
        private readonly OscoreOptionValue _option = new OscoreOptionValue();
        private readonly CoapMessage _original;   // unprotected message given as a datagram
        private readonly CoapMessage _outer;      // received OSCORE message
        private readonly CoapMessage _inner;      // plaintext as a message (Code + Class E options + payload)
        private readonly CoapMessage _result;     // message encoded for the caller
        private bool _includeKidContext;
        private bool _disposed;

        /// <summary>
        /// Derives a context (RFC 8613 §3.2) with the defaults of §3.2: no SSN store (this context can then only
        /// verify requests and answer them without its own Partial IV), messages up to 1152 octets.
        /// </summary>
        /// <param name="masterSecret">Master Secret (non-empty).</param>
        /// <param name="masterSalt">Master Salt; null or empty = the default empty salt (§3.2).</param>
        /// <param name="senderId">Sender ID, 0..7 octets (§3.3).</param>
        /// <param name="recipientId">Recipient ID, 0..7 octets, different from the Sender ID.</param>
        /// <param name="idContext">ID Context, or null when absent (info carries nil, §3.2.1).</param>
        public OscoreSecurityContext(ICryptoProvider crypto, byte[] masterSecret, byte[] masterSalt,
            byte[] senderId, byte[] recipientId, byte[] idContext)
            : this(crypto, masterSecret, masterSalt, senderId, recipientId, idContext, null,
                OscoreConstants.DefaultSsnReservationStep, OscoreConstants.DefaultMaxMessageSize, DefaultMaxOptions)
        {
        }

        /// <summary>Derives a context (RFC 8613 §3.2) whose Sender Sequence Number is reserved in <paramref name="ssnStore"/> in steps of 32.</summary>
        public OscoreSecurityContext(ICryptoProvider crypto, byte[] masterSecret, byte[] masterSalt,
            byte[] senderId, byte[] recipientId, byte[] idContext, ISsnStore ssnStore)
            : this(crypto, masterSecret, masterSalt, senderId, recipientId, idContext, ssnStore,
                OscoreConstants.DefaultSsnReservationStep, OscoreConstants.DefaultMaxMessageSize, DefaultMaxOptions)
        {
        }

        /// <summary>
        /// Derives a context (RFC 8613 §3.2.1): PRK = HMAC-SHA-256(Master Salt, Master Secret); Sender Key,
        /// Recipient Key (16 octets) and Common IV (13 octets) = HKDF-Expand(PRK, info, L) with info =
        /// [id, id_context, 10, "Key"/"IV", L].
        /// </summary>
        /// <param name="ssnStore">Reservation store of the Sender Sequence Number (App. B.1.1), or null when this
        /// context never sends requests or responses with its own Partial IV.</param>
        /// <param name="ssnStep">Reservation step K ≥ 1.</param>
        /// <param name="maxMessageSize">Largest CoAP datagram handled (protected or unprotected).</param>
        /// <param name="maxOptions">Option table size per CoAP message.</param>
        public OscoreSecurityContext(ICryptoProvider crypto, byte[] masterSecret, byte[] masterSalt,
            byte[] senderId, byte[] recipientId, byte[] idContext, ISsnStore ssnStore, int ssnStep,
            int maxMessageSize, int maxOptions)
        {
            if (crypto == null)
            {
                throw new ArgumentNullException("crypto");
            }

            if (masterSecret == null || masterSecret.Length == 0)
            {
                throw new ArgumentException("Master Secret must be non-empty (RFC 8613 §3.1)");
            }

            if (senderId == null || recipientId == null)
            {
                throw new ArgumentNullException("senderId");
            }

            if (senderId.Length > OscoreConstants.MaxIdLength || recipientId.Length > OscoreConstants.MaxIdLength)
            {
                throw new ArgumentException("Sender/Recipient ID longer than 7 octets (RFC 8613 §3.3, AES-CCM-16-64-128)");
            }

            if (BytesEqual(senderId, 0, senderId.Length, recipientId, 0, recipientId.Length))
            {
                throw new ArgumentException("Sender ID equals Recipient ID: the two keys would be the same (RFC 8613 §3.3)");
            }

            // RFC 8613 §6.1: the whole OSCORE option value of a request — flag byte, Partial IV (up to 5), 's', kid context,
            // kid (the Sender ID) — must fit the 255 octets every request can carry, or each request would fail after
            // spending its SSN.
            if (idContext != null && (idContext.Length > OscoreConstants.MaxIdContextLength
                || 1 + OscoreConstants.MaxPivLength + 1 + idContext.Length + (senderId == null ? 0 : senderId.Length) > 255))
            {
                throw new ArgumentException("ID Context too long: the OSCORE option (flags, PIV, s, kid context, kid) must fit 255 octets (RFC 8613 §6.1)");
            }

            if (maxMessageSize < 16 || maxMessageSize > AesCcm.MaxMessageLength)
            {
                throw new ArgumentOutOfRangeException("maxMessageSize");
            }

            if (maxOptions < 1)
            {
                throw new ArgumentOutOfRangeException("maxOptions");
            }

            _senderId = Copy(senderId);
            _recipientId = Copy(recipientId);
            _idContext = idContext == null ? null : Copy(idContext);
            _includeKidContext = idContext != null;

            Derive(crypto, masterSecret, masterSalt);

            _senderAead = crypto.CreateAesCcm();
            _senderAead.SetKey(_senderKey, 0);
            _recipientAead = crypto.CreateAesCcm();
            _recipientAead.SetKey(_recipientKey, 0);

            _sequence = ssnStore == null ? null : new SenderSequence(ssnStore, ssnStep);

            _maxMessageSize = maxMessageSize;
            _plain = new byte[maxMessageSize + 3];
            _cipher = new byte[maxMessageSize + OscoreConstants.TagLength];
            _original = new CoapMessage(maxOptions, 0);
            _outer = new CoapMessage(maxOptions, 0);
            _inner = new CoapMessage(maxOptions, 0);
            _result = new CoapMessage(2 * maxOptions + 1, 0);
        }

        // ------------------------------------------------------------------------------------------
        // The e2m profile (DESIGN.md §4)
        // ------------------------------------------------------------------------------------------

        /// <summary>
        /// The device side of the e2m profile (DESIGN.md §4): Master Secret = e2m_key (32 octets), Master Salt
        /// empty, no ID Context, Sender ID = <see cref="SenderIdFromKid"/>(KID), Recipient ID = empty (the EMSE).
        /// Sender Sequence Number reserved in <paramref name="ssnStore"/> in steps of 32 (App. B.1.1).
        /// </summary>
        public static OscoreSecurityContext ForDevice(ICryptoProvider crypto, byte[] e2mKey, byte[] kid, ISsnStore ssnStore)
        {
            return ForDevice(crypto, e2mKey, kid, ssnStore, OscoreConstants.DefaultSsnReservationStep);
        }

        /// <summary>As <see cref="ForDevice(ICryptoProvider, byte[], byte[], ISsnStore)"/> with reservation step K.</summary>
        public static OscoreSecurityContext ForDevice(ICryptoProvider crypto, byte[] e2mKey, byte[] kid, ISsnStore ssnStore, int ssnStep)
        {
            CheckE2mKey(e2mKey);
            if (ssnStore == null)
            {
                throw new ArgumentNullException("ssnStore", "the device must persist its Sender Sequence Number (RFC 8613 App. B.1.1)");
            }

            return new OscoreSecurityContext(crypto, e2mKey, null, SenderIdFromKid(kid), new byte[0], null, ssnStore,
                ssnStep, OscoreConstants.DefaultMaxMessageSize, DefaultMaxOptions);
        }

        /// <summary>
        /// The EMSE side of the e2m profile (DESIGN.md §4), the mirror of <see cref="ForDevice(ICryptoProvider, byte[], byte[], ISsnStore)"/>:
        /// Sender ID = empty, Recipient ID = <see cref="SenderIdFromKid"/>(KID). <paramref name="ssnStore"/> may be
        /// null when the EMSE answers without its own Partial IV (the simple form, RFC 8613 §5.2).
        /// </summary>
        public static OscoreSecurityContext ForEmse(ICryptoProvider crypto, byte[] e2mKey, byte[] kid, ISsnStore ssnStore)
        {
            CheckE2mKey(e2mKey);
            return new OscoreSecurityContext(crypto, e2mKey, null, new byte[0], SenderIdFromKid(kid), null, ssnStore,
                OscoreConstants.DefaultSsnReservationStep, OscoreConstants.DefaultMaxMessageSize, DefaultMaxOptions);
        }

        /// <summary>
        /// The device's OSCORE Sender ID for a KID: the first min(7, |KID|) octets. RFC 8613 §3.3/§5.2 limit a
        /// Sender ID to nonce length − 6 = 7 octets with AES-CCM-16-64-128, while DESIGN.md §2 defines an 8-octet
        /// KID; the e2m profile therefore sends the first 7 octets of the KID as 'kid'. An EMSE looks a
        /// received 'kid' up against this value (see README "Deviation: 7-octet kid").
        /// </summary>
        public static byte[] SenderIdFromKid(byte[] kid)
        {
            if (kid == null)
            {
                throw new ArgumentNullException("kid");
            }

            if (kid.Length == 0 || kid.Length > 8)
            {
                throw new ArgumentException("KID must be 1..8 octets (DESIGN.md §2)");
            }

            int n = kid.Length > OscoreConstants.MaxIdLength ? OscoreConstants.MaxIdLength : kid.Length;
            byte[] id = new byte[n];
            Array.Copy(kid, 0, id, 0, n);
            return id;
        }

        // ------------------------------------------------------------------------------------------
        // Derived parameters (for tools and tests; the key getters allocate copies)
        // ------------------------------------------------------------------------------------------

        /// <summary>Copy of the Sender Key (RFC 8613 §3.2.1). Allocates; for tools and tests.</summary>
        public byte[] GetSenderKey() { return Copy(_senderKey); }

        /// <summary>Copy of the Recipient Key (RFC 8613 §3.2.1). Allocates; for tools and tests.</summary>
        public byte[] GetRecipientKey() { return Copy(_recipientKey); }

        /// <summary>Copy of the Common IV (RFC 8613 §3.2.1). Allocates; for tools and tests.</summary>
        public byte[] GetCommonIv() { return Copy(_commonIv); }

        /// <summary>Copy of the Sender ID.</summary>
        public byte[] GetSenderId() { return Copy(_senderId); }

        /// <summary>Copy of the Recipient ID.</summary>
        public byte[] GetRecipientId() { return Copy(_recipientId); }

        /// <summary>Copy of the ID Context, or null when absent.</summary>
        public byte[] GetIdContext() { return _idContext == null ? null : Copy(_idContext); }

        /// <summary>True when <paramref name="kid"/>[offset..offset+length) equals the Recipient ID (server-side context lookup).</summary>
        public bool RecipientIdEquals(byte[] kid, int offset, int length)
        {
            return BytesEqual(_recipientId, 0, _recipientId.Length, kid, offset, length);
        }

        /// <summary>
        /// Whether requests carry the ID Context as 'kid context' (RFC 8613 §5.1, MAY). Default: true when an
        /// ID Context is configured (as RFC 8613 App. C.6).
        /// </summary>
        public bool IncludeKidContext
        {
            get { return _includeKidContext; }
            set
            {
                if (value && _idContext == null)
                {
                    throw new InvalidOperationException("no ID Context to send as 'kid context'");
                }

                _includeKidContext = value;
            }
        }

        /// <summary>The Sender Sequence Number the next request (or own-PIV response) uses, or -1 without a store.</summary>
        public long SenderSequenceNumber
        {
            get
            {
                lock (_sync)
                {
                    return _sequence == null ? -1 : _sequence.Peek;
                }
            }
        }

        /// <summary>Largest datagram this context handles.</summary>
        public int MaxMessageSize { get { return _maxMessageSize; } }

        /// <summary>Exports the replay window (RFC 8613 §7.4) so a server can persist it with the data it stored.</summary>
        public void GetReplayWindow(out long highest, out uint mask)
        {
            lock (_sync)
            {
                highest = _replay.Highest;
                mask = _replay.Mask;
            }
        }

        /// <summary>Restores a persisted replay window (RFC 8613 §7.5: never start with an empty window for a used context).</summary>
        public void RestoreReplayWindow(long highest, uint mask)
        {
            lock (_sync)
            {
                _replay.Restore(highest, mask);
            }
        }

        /// <summary>The AEAD nonce (RFC 8613 §5.2) for ID_PIV and Partial IV under this context's Common IV.</summary>
        public void ComputeNonce(byte[] idPiv, int idPivOffset, int idPivLength, byte[] piv, int pivOffset, int pivLength,
            byte[] nonce, int nonceOffset)
        {
            OscoreCose.ComputeNonce(_commonIv, 0, idPiv, idPivOffset, idPivLength, piv, pivOffset, pivLength, nonce, nonceOffset);
        }

        // ------------------------------------------------------------------------------------------
        // Requests (RFC 8613 §8.1, §8.2)
        // ------------------------------------------------------------------------------------------

        /// <summary>
        /// Protects a CoAP request given as a datagram (RFC 8613 §8.1) and writes the OSCORE request to
        /// <paramref name="output"/> (which must not be the input buffer). Returns its length. Fills
        /// <paramref name="exchange"/> with kid and Partial IV for verifying the response.
        /// </summary>
        public int ProtectRequest(byte[] request, int offset, int length, byte[] output, int outputOffset, OscoreExchange exchange)
        {
            CheckDistinct(request, output);
            lock (_sync)
            {
                try
                {
                    DecodeOriginal(request, offset, length);
                    return ProtectRequestCore(_original, output, outputOffset, exchange);
                }
                finally
                {
                    _original.Reset(); // drop the reference to the caller's buffer
                }
            }
        }

        /// <summary>
        /// Protects a CoAP request (RFC 8613 §8.1): consumes one Sender Sequence Number (reserving ahead in the
        /// store when needed, App. B.1.1), Partial IV = SSN, kid = Sender ID (+ 'kid context' when enabled),
        /// plaintext = Code + Class E options + payload, Outer Code = POST (§4.2), Class U options outside.
        /// Returns the length written to <paramref name="output"/>.
        /// </summary>
        public int ProtectRequest(CoapMessage request, byte[] output, int outputOffset, OscoreExchange exchange)
        {
            if (request == null)
            {
                throw new ArgumentNullException("request");
            }

            lock (_sync)
            {
                return ProtectRequestCore(request, output, outputOffset, exchange);
            }
        }

        /// <summary>
        /// Verifies an OSCORE request (RFC 8613 §8.2) and writes the decrypted CoAP request (outer header and
        /// token, Class U options, inner Code, Class E options and payload) to <paramref name="output"/>, which
        /// must not be the input buffer and needs at most <paramref name="length"/> octets. Returns its length.
        /// Fills <paramref name="exchange"/> for protecting the response.
        /// Errors: not CoAP → the codec's MalformedInputException; otherwise <see cref="OscoreException"/>
        /// (NoOscoreOption, MalformedOption, MissingCiphertext, UnknownKid, ReplayDetected, DecryptionFailed,
        /// MalformedPlaintext, WrongMessageKind, MessageTooLarge). The replay window moves only when the AEAD
        /// verified.
        /// </summary>
        public int UnprotectRequest(byte[] datagram, int offset, int length, byte[] output, int outputOffset, OscoreExchange exchange)
        {
            CheckDistinct(datagram, output);
            if (exchange == null)
            {
                throw new ArgumentNullException("exchange");
            }

            lock (_sync)
            {
                CheckOpen();
                CoapCodec.Decode(datagram, offset, length, _outer);
                if (!CoapCode.IsRequest(_outer.Code))
                {
                    throw new OscoreException(OscoreError.WrongMessageKind, offset + 1);
                }

                ReadOscoreOption(offset);

                // RFC 8613 §5: Partial IV and kid SHALL be present in requests.
                if (!_option.HasPiv || !_option.HasKid)
                {
                    throw new OscoreException(OscoreError.MalformedOption, -1);
                }

                // RFC 8613 §8.2 step 2: the Recipient Context for 'kid' (and 'kid context', if present).
                if (!_option.KidEquals(_recipientId, 0, _recipientId.Length))
                {
                    throw new OscoreException(OscoreError.UnknownKid, -1);
                }

                if (_option.HasKidContext && (_idContext == null
                    || !BytesEqual(_option.KidContext, 0, _option.KidContextLength, _idContext, 0, _idContext.Length)))
                {
                    throw new OscoreException(OscoreError.UnknownKid, -1);
                }

                int cipherLength = CheckCiphertext();

                // RFC 8613 §8.2 step 3 / §7.4: replay check before decryption ...
                long piv = _option.PivValue;
                if (!_replay.Check(piv))
                {
                    throw new OscoreException(OscoreError.ReplayDetected, -1);
                }

                // ... steps 4-6: AAD with request_kid = kid, request_piv = Partial IV; nonce from Recipient ID.
                int aadLength = OscoreCose.EncodeAad(_option.Kid, 0, _option.KidLength, _option.Piv, 0, _option.PivLength, _aad, 0);
                OscoreCose.ComputeNonce(_commonIv, 0, _recipientId, 0, _recipientId.Length, _option.Piv, 0, _option.PivLength, _nonce, 0);
                try
                {
                    int plainLength = Open(_recipientAead, aadLength, cipherLength);

                    // ... step 6: update the replay window only after successful verification.
                    _replay.Accept(piv);
                    exchange.Set(_option.Kid, 0, _option.KidLength, _option.Piv, 0, _option.PivLength);

                    DecodePlaintext(plainLength, true);
                    return EncodeResult(output, outputOffset);
                }
                finally
                {
                    Array.Clear(_plain, 0, _plain.Length);
                }
            }
        }

        /// <summary>
        /// As <see cref="UnprotectRequest(byte[], int, int, byte[], int, OscoreExchange)"/>, and decodes the result into
        /// <paramref name="into"/> (which then references <paramref name="output"/>).
        /// </summary>
        public int UnprotectRequest(byte[] datagram, int offset, int length, byte[] output, int outputOffset,
            OscoreExchange exchange, CoapMessage into)
        {
            int n = UnprotectRequest(datagram, offset, length, output, outputOffset, exchange);
            CoapCodec.Decode(output, outputOffset, n, into);
            return n;
        }

        // ------------------------------------------------------------------------------------------
        // Responses (RFC 8613 §8.3, §8.4)
        // ------------------------------------------------------------------------------------------

        /// <summary>
        /// Protects a CoAP response given as a datagram (RFC 8613 §8.3) to the request in
        /// <paramref name="exchange"/>. <paramref name="ownPiv"/> false: the request nonce is reused and the OSCORE
        /// option is empty (allowed once per exchange); true: a new Partial IV from the Sender Sequence Number.
        /// Outer Code = 2.04 Changed (§4.2). Returns the length written.
        /// </summary>
        public int ProtectResponse(byte[] response, int offset, int length, OscoreExchange exchange, bool ownPiv,
            byte[] output, int outputOffset)
        {
            CheckDistinct(response, output);
            lock (_sync)
            {
                try
                {
                    DecodeOriginal(response, offset, length);
                    return ProtectResponseCore(_original, exchange, ownPiv, output, outputOffset);
                }
                finally
                {
                    _original.Reset(); // drop the reference to the caller's buffer
                }
            }
        }

        /// <summary>As <see cref="ProtectResponse(byte[], int, int, OscoreExchange, bool, byte[], int)"/> for a message object.</summary>
        public int ProtectResponse(CoapMessage response, OscoreExchange exchange, bool ownPiv, byte[] output, int outputOffset)
        {
            if (response == null)
            {
                throw new ArgumentNullException("response");
            }

            lock (_sync)
            {
                return ProtectResponseCore(response, exchange, ownPiv, output, outputOffset);
            }
        }

        /// <summary>
        /// Verifies an OSCORE response (RFC 8613 §8.4) to the request in <paramref name="exchange"/> and writes the
        /// decrypted response to <paramref name="output"/> (at most <paramref name="length"/> octets). Nonce: the
        /// response's Partial IV with the Recipient ID when present, else the request nonce (§5.2). AAD binds the
        /// request kid and Partial IV (§7.1). Only one response per exchange is accepted (§7.4): a second one
        /// throws ReplayDetected.
        /// </summary>
        public int UnprotectResponse(byte[] datagram, int offset, int length, OscoreExchange exchange, byte[] output, int outputOffset)
        {
            CheckDistinct(datagram, output);
            CheckExchange(exchange);
            lock (_sync)
            {
                CheckOpen();
                if (exchange.ResponseVerified)
                {
                    throw new OscoreException(OscoreError.ReplayDetected, -1);
                }

                CoapCodec.Decode(datagram, offset, length, _outer);
                if (!CoapCode.IsResponse(_outer.Code))
                {
                    throw new OscoreException(OscoreError.WrongMessageKind, offset + 1);
                }

                ReadOscoreOption(offset);

                // RFC 8613 §5: 'kid context' SHOULD NOT be in responses; its use (App. B.2) is not supported here.
                if (_option.HasKidContext)
                {
                    throw new OscoreException(OscoreError.MalformedOption, -1);
                }

                if (_option.HasKid && !_option.KidEquals(_recipientId, 0, _recipientId.Length))
                {
                    throw new OscoreException(OscoreError.UnknownKid, -1);
                }

                int cipherLength = CheckCiphertext();
                int aadLength = OscoreCose.EncodeAad(exchange.RequestKid, 0, exchange.RequestKidLength,
                    exchange.RequestPiv, 0, exchange.RequestPivLength, _aad, 0);
                if (_option.HasPiv)
                {
                    // RFC 8613 §8.4 step 4: nonce from the Recipient ID and the response's Partial IV.
                    OscoreCose.ComputeNonce(_commonIv, 0, _recipientId, 0, _recipientId.Length, _option.Piv, 0, _option.PivLength, _nonce, 0);
                }
                else
                {
                    // RFC 8613 §8.4 step 4: the AEAD nonce from the request.
                    ComputeRequestNonce(exchange);
                }

                try
                {
                    int plainLength = Open(_recipientAead, aadLength, cipherLength);
                    exchange.MarkResponseVerified();
                    DecodePlaintext(plainLength, false);
                    return EncodeResult(output, outputOffset);
                }
                finally
                {
                    Array.Clear(_plain, 0, _plain.Length);
                }
            }
        }

        /// <summary>
        /// As <see cref="UnprotectResponse(byte[], int, int, OscoreExchange, byte[], int)"/>, and decodes the result into
        /// <paramref name="into"/> (which then references <paramref name="output"/>).
        /// </summary>
        public int UnprotectResponse(byte[] datagram, int offset, int length, OscoreExchange exchange, byte[] output,
            int outputOffset, CoapMessage into)
        {
            int n = UnprotectResponse(datagram, offset, length, exchange, output, outputOffset);
            CoapCodec.Decode(output, outputOffset, n, into);
            return n;
        }

        /// <summary>Zeroises keys, Common IV and scratch; the context is unusable afterwards.</summary>
        public void Dispose()
        {
            lock (_sync)
            {
                if (_disposed)
                {
                    return;
                }

                _disposed = true;
                _senderAead.Clear();
                _recipientAead.Clear();
                Array.Clear(_senderKey, 0, _senderKey.Length);
                Array.Clear(_recipientKey, 0, _recipientKey.Length);
                Array.Clear(_commonIv, 0, _commonIv.Length);
                Array.Clear(_nonce, 0, _nonce.Length);
                Array.Clear(_plain, 0, _plain.Length);
                Array.Clear(_cipher, 0, _cipher.Length);
            }
        }

        // ------------------------------------------------------------------------------------------
        // Internals
        // ------------------------------------------------------------------------------------------

        private int ProtectRequestCore(CoapMessage request, byte[] output, int outputOffset, OscoreExchange exchange)
        {
            CheckOpen();
            if (exchange == null)
            {
                throw new ArgumentNullException("exchange");
            }

            if (!CoapCode.IsRequest(request.Code))
            {
                throw new OscoreException(OscoreError.WrongMessageKind, -1);
            }

            CheckProtectable(request);
            if (_sequence == null)
            {
                throw new InvalidOperationException("this context has no SSN store and cannot protect requests");
            }

            // RFC 8613 §8.1 step 3: Partial IV = Sender Sequence Number, then increment (atomic under the lock, §7.2).
            long ssn = _sequence.Next();
            int pivLength = OscoreOptionValue.EncodePiv(ssn, _piv, 0);

            // RFC 8613 §6.1: flags, Partial IV, 'kid context' (optional), 'kid' = Sender ID.
            _option.Clear();
            _option.SetPiv(_piv, 0, pivLength);
            if (_includeKidContext)
            {
                _option.SetKidContext(_idContext, 0, _idContext.Length);
            }

            _option.SetKid(_senderId, 0, _senderId.Length);

            // RFC 8613 §5.4: request_kid = Sender ID, request_piv = Partial IV; §5.2: ID_PIV = Sender ID.
            int aadLength = OscoreCose.EncodeAad(_senderId, 0, _senderId.Length, _piv, 0, pivLength, _aad, 0);
            OscoreCose.ComputeNonce(_commonIv, 0, _senderId, 0, _senderId.Length, _piv, 0, pivLength, _nonce, 0);
            int n = Seal(request, CoapCode.Post, aadLength, output, outputOffset); // RFC 8613 §4.2: Outer Code POST
            exchange.Set(_senderId, 0, _senderId.Length, _piv, 0, pivLength);
            return n;
        }

        private int ProtectResponseCore(CoapMessage response, OscoreExchange exchange, bool ownPiv, byte[] output, int outputOffset)
        {
            CheckOpen();
            CheckExchange(exchange);
            if (!CoapCode.IsResponse(response.Code))
            {
                throw new OscoreException(OscoreError.WrongMessageKind, -1);
            }

            CheckProtectable(response);
            _option.Clear();

            // RFC 8613 §5.4: the response AAD carries the request's kid and Partial IV.
            int aadLength = OscoreCose.EncodeAad(exchange.RequestKid, 0, exchange.RequestKidLength,
                exchange.RequestPiv, 0, exchange.RequestPivLength, _aad, 0);
            if (ownPiv)
            {
                if (_sequence == null)
                {
                    throw new InvalidOperationException("this context has no SSN store: responses must reuse the request nonce");
                }

                // RFC 8613 §8.3 step 3, second form: new Partial IV from the Sender Sequence Number, ID_PIV = Sender ID.
                long ssn = _sequence.Next();
                int pivLength = OscoreOptionValue.EncodePiv(ssn, _piv, 0);
                _option.SetPiv(_piv, 0, pivLength);
                OscoreCose.ComputeNonce(_commonIv, 0, _senderId, 0, _senderId.Length, _piv, 0, pivLength, _nonce, 0);
                return Seal(response, CoapCode.Changed, aadLength, output, outputOffset); // RFC 8613 §4.2: 2.04
            }

            // RFC 8613 §8.3 step 3, first form: the request nonce, no Partial IV in the message (§8.3 step 4).
            // Using it for two different responses would reuse (key, nonce): refused.
            if (exchange.RequestNonceUsed)
            {
                throw new InvalidOperationException("the request nonce was already used for a response; protect further responses with ownPiv");
            }

            ComputeRequestNonce(exchange);
            int written = Seal(response, CoapCode.Changed, aadLength, output, outputOffset);
            exchange.MarkRequestNonceUsed();
            return written;
        }

        // RFC 8613 §5.2: the request nonce: ID_PIV = request kid (the client's Sender ID), PIV = request Partial IV.
        private void ComputeRequestNonce(OscoreExchange exchange)
        {
            if (exchange.RequestKidLength > OscoreConstants.MaxIdLength)
            {
                throw new OscoreException(OscoreError.UnknownKid, -1);
            }

            OscoreCose.ComputeNonce(_commonIv, 0, exchange.RequestKid, 0, exchange.RequestKidLength,
                exchange.RequestPiv, 0, exchange.RequestPivLength, _nonce, 0);
        }

        // Builds plaintext (RFC 8613 §5.3) and the OSCORE message (§4), encrypts with the Sender Key (§8.1 step 4,
        // §8.3 step 4) and encodes into output. _option, _nonce and _aad are already set.
        private int Seal(CoapMessage original, byte outerCode, int aadLength, byte[] output, int outputOffset)
        {
            // Plaintext = Code || Class E options (delta from the previous Class E option) || 0xFF payload.
            // Encoded as a CoAP message with TKL 0 (Ver|T|TKL, Code, MID, MID, options, payload): octets 4.. are the
            // options and payload, so putting the Code at octet 3 makes _plain[3..] the plaintext of Figure 9.
            _inner.Reset();
            _inner.Code = original.Code;
            int count = original.OptionCount;
            for (int i = 0; i < count; i++)
            {
                int number = original.GetOptionNumber(i);
                if (OscoreOptionClass.IsClassE(number))
                {
                    _inner.AddOption(number, original.GetOptionBuffer(i), original.GetOptionOffset(i), original.GetOptionLength(i));
                }
            }

            _inner.SetPayload(original.PayloadBuffer, original.PayloadOffset, original.PayloadLength);
            int encoded = CoapCodec.GetEncodedLength(_inner);
            if (encoded - 3 > _maxMessageSize)
            {
                _inner.Reset();
                throw new ArgumentException("message larger than the context's maximum message size");
            }

            int plainLength;
            try
            {
                CoapCodec.Encode(_inner, _plain, 0);
                _plain[3] = _plain[1];
                plainLength = encoded - 3;
                _senderAead.Encrypt(_nonce, 0, _aad, 0, aadLength, _plain, 3, plainLength, _cipher, 0);
            }
            finally
            {
                Array.Clear(_plain, 0, encoded);
                _inner.Reset();
            }

            // OSCORE message: the original header and token, Outer Code (§4.2), Class U options plus the OSCORE
            // option (§4.1.2), payload = ciphertext (§6.2).
            _result.Reset();
            _result.CopyHeaderFrom(original);
            _result.Code = outerCode;
            for (int i = 0; i < count; i++)
            {
                int number = original.GetOptionNumber(i);
                if (OscoreOptionClass.IsClassUOnly(number))
                {
                    _result.AddOption(number, original.GetOptionBuffer(i), original.GetOptionOffset(i), original.GetOptionLength(i));
                }
            }

            int optionLength = _option.Encode(_optionValue, 0);
            _result.AddOption(OscoreConstants.OptionNumber, _optionValue, 0, optionLength);
            _result.SetPayload(_cipher, 0, plainLength + OscoreConstants.TagLength);
            int total = CoapCodec.GetEncodedLength(_result);
            if (output == null || outputOffset < 0 || outputOffset + total > output.Length)
            {
                _result.Reset();
                throw new ArgumentException("output buffer too small for the protected message (" + total.ToString() + " octets)");
            }

            int written = CoapCodec.Encode(_result, output, outputOffset);
            _result.Reset();
            return written;
        }

        // Decrypts the payload of _outer into _plain[3..]; returns the plaintext length. RFC 8613 §8.2 step 6 / §8.4 step 5.
        private int Open(IAesCcm aead, int aadLength, int cipherLength)
        {
            int plainLength = cipherLength - OscoreConstants.TagLength;
            if (!aead.Decrypt(_nonce, 0, _aad, 0, aadLength, _outer.PayloadBuffer, _outer.PayloadOffset, cipherLength, _plain, 3))
            {
                throw new OscoreException(OscoreError.DecryptionFailed, _outer.PayloadOffset);
            }

            return plainLength;
        }

        // Parses _plain[3..3+plainLength) (Code || options || payload, RFC 8613 §5.3) into _inner by putting a
        // CoAP header (Ver 1, TKL 0, Code, MID 0) in front and running the codec.
        private void DecodePlaintext(int plainLength, bool request)
        {
            _plain[1] = _plain[3];
            _plain[0] = (byte)(CoapCodec.Version << 6);
            _plain[2] = 0;
            _plain[3] = 0;
            try
            {
                CoapCodec.Decode(_plain, 0, plainLength + 3, _inner);
            }
            catch (MalformedInputException)
            {
                throw new OscoreException(OscoreError.MalformedPlaintext, -1);
            }

            bool kindOk = request ? CoapCode.IsRequest(_inner.Code) : CoapCode.IsResponse(_inner.Code);
            if (!kindOk)
            {
                throw new OscoreException(OscoreError.MalformedPlaintext, -1);
            }

            int count = _inner.OptionCount;
            for (int i = 0; i < count; i++)
            {
                // Inner options are Class E only (RFC 8613 §4.1.1); a Class U option or a nested OSCORE option
                // (§4.1.3.7) inside the plaintext is refused.
                if (OscoreOptionClass.IsClassUOnly(_inner.GetOptionNumber(i)))
                {
                    throw new OscoreException(OscoreError.MalformedPlaintext, -1);
                }
            }
        }

        // The decrypted message (RFC 8613 §8.2 step 7, §8.4 step 6): outer header and token, decrypted Code,
        // Outer options except Class E ones (discarded, §8.2/§8.4 step 1) and the OSCORE option (removed),
        // Inner options, decrypted payload.
        private int EncodeResult(byte[] output, int outputOffset)
        {
            _result.Reset();
            _result.CopyHeaderFrom(_outer);
            _result.Code = _inner.Code;
            int outerCount = _outer.OptionCount;
            for (int i = 0; i < outerCount; i++)
            {
                int number = _outer.GetOptionNumber(i);
                if (OscoreOptionClass.IsClassUOnly(number) && number != OscoreConstants.OptionNumber)
                {
                    _result.AddOption(number, _outer.GetOptionBuffer(i), _outer.GetOptionOffset(i), _outer.GetOptionLength(i));
                }
            }

            int innerCount = _inner.OptionCount;
            for (int i = 0; i < innerCount; i++)
            {
                _result.AddOption(_inner.GetOptionNumber(i), _inner.GetOptionBuffer(i), _inner.GetOptionOffset(i), _inner.GetOptionLength(i));
            }

            _result.SetPayload(_inner.PayloadBuffer, _inner.PayloadOffset, _inner.PayloadLength);
            int total = CoapCodec.GetEncodedLength(_result);
            if (output == null || outputOffset < 0 || outputOffset + total > output.Length)
            {
                _result.Reset();
                _inner.Reset();
                throw new ArgumentException("output buffer too small for the decrypted message (" + total.ToString() + " octets)");
            }

            int written = CoapCodec.Encode(_result, output, outputOffset);
            _result.Reset();
            _inner.Reset();
            return written;
        }

        private void ReadOscoreOption(int datagramOffset)
        {
            int index = _outer.FindOption(OscoreConstants.OptionNumber);
            if (index < 0)
            {
                throw new OscoreException(OscoreError.NoOscoreOption, -1);
            }

            // RFC 8613 §2: the OSCORE option is not repeatable.
            if (_outer.FindOption(OscoreConstants.OptionNumber, index + 1) >= 0)
            {
                throw new OscoreException(OscoreError.MalformedOption, -1);
            }

            byte[] buffer = _outer.GetOptionBuffer(index);
            int valueOffset = _outer.GetOptionOffset(index);
            if (!_option.TryParse(buffer, valueOffset, _outer.GetOptionLength(index)))
            {
                throw new OscoreException(OscoreError.MalformedOption, valueOffset);
            }
        }

        // RFC 8613 §2: an OSCORE message without payload is malformed; the ciphertext holds at least the Code and the tag.
        private int CheckCiphertext()
        {
            int cipherLength = _outer.PayloadLength;
            if (cipherLength < 1 + OscoreConstants.TagLength)
            {
                throw new OscoreException(OscoreError.MissingCiphertext, -1);
            }

            if (cipherLength - OscoreConstants.TagLength > _maxMessageSize)
            {
                throw new OscoreException(OscoreError.MessageTooLarge, _outer.PayloadOffset);
            }

            return cipherLength;
        }

        private void DecodeOriginal(byte[] datagram, int offset, int length)
        {
            CheckOpen();
            CoapCodec.Decode(datagram, offset, length, _original); // not CoAP: the codec's CoapFormatException
        }

        // RFC 8613 §4.1.3.7: nested OSCORE is not supported; §4.1.3.3: Proxy-Uri decomposition not implemented;
        // §4.1.3.5 / §4.2: Observe needs an Outer Observe and the Outer Code FETCH, neither implemented (the e2m device
        // never observes): refused rather than protected wrongly.
        private static void CheckProtectable(CoapMessage message)
        {
            if (message.FindOption(OscoreConstants.OptionNumber) >= 0 || message.FindOption(35) >= 0
                || message.FindOption(CoapOption.Observe) >= 0)
            {
                throw new OscoreException(OscoreError.UnsupportedOption, -1);
            }
        }

        private static void CheckExchange(OscoreExchange exchange)
        {
            if (exchange == null)
            {
                throw new ArgumentNullException("exchange");
            }

            if (!exchange.IsSet)
            {
                throw new InvalidOperationException("the exchange holds no request (kid, Partial IV)");
            }
        }

        private static void CheckDistinct(byte[] input, byte[] output)
        {
            if (input != null && ReferenceEquals(input, output))
            {
                throw new ArgumentException("output must not be the input buffer");
            }
        }

        private void CheckOpen()
        {
            if (_disposed)
            {
                throw new InvalidOperationException("security context disposed");
            }
        }

        private static void CheckE2mKey(byte[] e2mKey)
        {
            if (e2mKey == null || e2mKey.Length != E2mKeyLength)
            {
                throw new ArgumentException("e2m_key must be 32 octets (DESIGN.md §2)");
            }
        }

        // RFC 8613 §3.2.1 with HKDF-SHA-256 (RFC 5869).
        private void Derive(ICryptoProvider crypto, byte[] masterSecret, byte[] masterSalt)
        {
            IHmacSha256 hmac = crypto.CreateHmacSha256();
            Hkdf hkdf = new Hkdf(hmac);
            byte[] prk = new byte[Hkdf.HashLength];
            byte[] info = new byte[OscoreCose.MaxInfoLength];
            try
            {
                // PRK = HMAC-SHA-256(Master Salt, Master Secret); empty salt = HashLen zeros (RFC 5869 §2.2, RFC 8613 §3.2.1).
                int saltLength = masterSalt == null ? 0 : masterSalt.Length;
                hkdf.Extract(masterSalt, 0, saltLength, masterSecret, 0, masterSecret.Length, prk, 0);
                int ctxLength = _idContext == null ? 0 : _idContext.Length;

                // Sender Key: info = [Sender ID, id_context, 10, "Key", 16]
                int n = OscoreCose.EncodeInfo(_senderId, 0, _senderId.Length, _idContext, 0, ctxLength, false, info, 0);
                hkdf.Expand(prk, 0, prk.Length, info, 0, n, _senderKey, 0, OscoreConstants.KeyLength);

                // Recipient Key: info = [Recipient ID, id_context, 10, "Key", 16]
                n = OscoreCose.EncodeInfo(_recipientId, 0, _recipientId.Length, _idContext, 0, ctxLength, false, info, 0);
                hkdf.Expand(prk, 0, prk.Length, info, 0, n, _recipientKey, 0, OscoreConstants.KeyLength);

                // Common IV: info = [h'', id_context, 10, "IV", 13]
                n = OscoreCose.EncodeInfo(new byte[0], 0, 0, _idContext, 0, ctxLength, true, info, 0);
                hkdf.Expand(prk, 0, prk.Length, info, 0, n, _commonIv, 0, OscoreConstants.NonceLength);
            }
            finally
            {
                Array.Clear(prk, 0, prk.Length);
                Array.Clear(info, 0, info.Length);
                hmac.Clear();
            }
        }

        private static byte[] Copy(byte[] source)
        {
            byte[] copy = new byte[source.Length];
            Array.Copy(source, 0, copy, 0, source.Length);
            return copy;
        }

        private static bool BytesEqual(byte[] a, int aOffset, int aLength, byte[] b, int bOffset, int bLength)
        {
            if (aLength != bLength)
            {
                return false;
            }

            for (int i = 0; i < aLength; i++)
            {
                if (a[aOffset + i] != b[bOffset + i])
                {
                    return false;
                }
            }

            return true;
        }
    }
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using E2m.Coap;
using E2m.Hal;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Emks.Bootstrap
{
    /// <summary>
    /// CoAP (RFC 7252) message layer of the bootstrap endpoint, socket-free: one datagram in, at most one datagram out.
    /// <list type="bullet">
    /// <item>&lt; 4 octets or version ≠ 1: dropped (RFC 7252 §3). ACK/RST from a client: dropped. CON Empty (ping): RST (§4.3).</item>
    /// <item>Undecodable CoAP: 4.00 (piggybacked in an ACK for CON, NON for NON), token echoed when it is readable.</item>
    /// <item>Only <c>POST /bs</c> (one Uri-Path segment "bs"); other path 4.04, other method 4.05; Content-Format other than
    /// 60 (application/cbor) 4.15; Accept other than 60 4.06; unrecognised critical option 4.02 (§5.4.1).</item>
    /// <item>Malformed CBOR or an invalid key combination: 4.00. Any unexpected fault: 5.00 — never a crash.</item>
    /// <item>Deduplication (§4.5): the response to a (source, Message ID) is replayed for EXCHANGE_LIFETIME; a duplicate
    /// arriving while the first copy is still being processed is dropped (the client retransmits).</item>
    /// </list>
    /// </summary>
    public sealed class BootstrapCoapHandler
    {
        public const string Path = "bs";
        private const int MaxDedupEntries = 50_000;

        private readonly BootstrapService _service;
        private readonly TimeProvider _time;
        private readonly TimeSpan _dedupLifetime;
        private readonly ILogger _log;
        private readonly ConcurrentDictionary<string, DedupEntry> _dedup = new(StringComparer.Ordinal);
        private int _messageId = RandomNumberGenerator.GetInt32(0, 0x10000);

        public BootstrapCoapHandler(BootstrapService service, TimeProvider time, EmksOptions options, ILogger<BootstrapCoapHandler> log)
        {
            _service = service;
            _time = time;
            _dedupLifetime = options.Bootstrap.DeduplicationLifetime;
            _log = log;
        }

        /// <summary>Returns the datagram to send back to <paramref name="remote"/>, or null to send nothing.</summary>
        public async Task<byte[]?> HandleAsync(byte[] datagram, int length, IPEndPoint remote, CancellationToken ct)
        {
            if (length < 4 || (datagram[0] >> 6) != CoapCodec.Version) return null;
            byte type = (byte)((datagram[0] >> 4) & 3);
            if (type == CoapType.Acknowledgement || type == CoapType.Reset) return null;
            int mid = (datagram[2] << 8) | datagram[3];
            var request = new CoapMessage(32, 64);
            try
            {
                CoapCodec.Decode(datagram, 0, length, request);
            }
            catch (MalformedInputException)
            {
                int tkl = datagram[0] & 0x0F;
                byte[] token = tkl <= 8 && length >= 4 + tkl ? datagram.AsSpan(4, tkl).ToArray() : Array.Empty<byte>();
                return Encode(type, mid, token, token.Length, new BootstrapReply(CoapCode.BadRequest, Diagnostic: "malformed CoAP"));
            }

            if (request.Code == CoapCode.Empty)
            {
                return type == CoapType.Confirmable ? EncodeReset(mid) : null;
            }

            if (!CoapCode.IsRequest(request.Code))
            {
                return type == CoapType.Confirmable ? EncodeReset(mid) : null;
            }

            string dedupKey = remote.ToString() + "/" + mid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            long now = _time.GetTimestamp();
            var entry = new DedupEntry { Stamp = now };
            if (!Claim(dedupKey, entry, now, out DedupEntry? seen))
            {
                return seen.Response; // null while the first copy is in progress: drop, the client retransmits
            }

            if (_dedup.Count > MaxDedupEntries) Sweep(now);

            BootstrapReply reply;
            try
            {
                reply = await DispatchAsync(request, remote, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e)
            {
                _log.LogError("bootstrap: internal error {Error}", e.GetType().Name);
                reply = new BootstrapReply(CoapCode.InternalServerError, Diagnostic: "internal error");
            }

            byte[] response = Encode(type, mid, request.Token, request.TokenLength, reply);
            entry.Response = response;
            return response;
        }

        private async Task<BootstrapReply> DispatchAsync(CoapMessage request, IPEndPoint remote, CancellationToken ct)
        {
            int segments = 0;
            bool pathOk = true;
            for (int i = 0; i < request.OptionCount; i++)
            {
                int number = request.GetOptionNumber(i);
                switch (number)
                {
                    case CoapOption.UriHost:
                    case CoapOption.UriPort:
                        break;
                    case CoapOption.UriPath:
                        segments++;
                        pathOk &= request.GetOptionLength(i) == 2
                            && request.GetOptionBuffer(i)[request.GetOptionOffset(i)] == (byte)'b'
                            && request.GetOptionBuffer(i)[request.GetOptionOffset(i) + 1] == (byte)'s';
                        break;
                    case CoapOption.ContentFormat:
                        if (request.GetOptionUInt(i, 2) != BootstrapCodes.ContentFormatCbor)
                            return new BootstrapReply(CoapCode.UnsupportedContentFormat, Diagnostic: "use application/cbor (60)");
                        break;
                    case CoapOption.Accept:
                        if (request.GetOptionUInt(i, 2) != BootstrapCodes.ContentFormatCbor)
                            return new BootstrapReply(BootstrapCodes.NotAcceptable);
                        break;
                    default:
                        if ((number & 1) == 1) return new BootstrapReply(CoapCode.BadOption, Diagnostic: "unrecognised critical option"); // RFC 7252 §5.4.1
                        break;
                }
            }

            if (segments != 1 || !pathOk) return new BootstrapReply(CoapCode.NotFound);
            if (request.Code != CoapCode.Post) return new BootstrapReply(CoapCode.MethodNotAllowed);

            BootstrapRequest bs;
            try
            {
                bs = BootstrapRequest.Decode(request.PayloadBuffer ?? Array.Empty<byte>(), request.PayloadOffset, request.PayloadLength);
            }
            catch (MalformedInputException)
            {
                return new BootstrapReply(CoapCode.BadRequest, Diagnostic: "malformed CBOR");
            }
            catch (BootstrapFormatException e)
            {
                return new BootstrapReply(CoapCode.BadRequest, Diagnostic: "bad request " + (int)e.Error);
            }

            return await _service.HandleAsync(bs, RateLimitSource(remote.Address), ct).ConfigureAwait(false);
        }

        private byte[] Encode(byte requestType, int mid, byte[] token, int tokenLength, BootstrapReply reply)
        {
            var m = new CoapMessage(4, 64);
            if (requestType == CoapType.Confirmable)
            {
                m.Type = CoapType.Acknowledgement; // piggybacked response, RFC 7252 §5.2.1
                m.MessageId = mid;
            }
            else
            {
                m.Type = CoapType.NonConfirmable; // RFC 7252 §5.2.3
                m.MessageId = Interlocked.Increment(ref _messageId) & 0xFFFF;
            }

            m.Code = reply.Code;
            m.SetToken(token, 0, tokenLength);
            byte[]? payload = reply.Payload;
            if (payload != null)
            {
                m.SetContentFormat(BootstrapCodes.ContentFormatCbor);
            }
            else if (reply.Diagnostic != null)
            {
                payload = System.Text.Encoding.UTF8.GetBytes(reply.Diagnostic); // diagnostic payload, RFC 7252 §5.5.2
            }

            if (reply.MaxAgeSeconds is uint maxAge) m.AddOptionUInt(CoapOption.MaxAge, maxAge); // RFC 8516 §4
            if (payload != null && payload.Length > 0) m.SetPayload(payload, 0, payload.Length);
            var buffer = new byte[CoapCodec.GetEncodedLength(m)];
            CoapCodec.Encode(m, buffer, 0);
            return buffer;
        }

        private static byte[] EncodeReset(int mid) =>
            new byte[] { (byte)((CoapCodec.Version << 6) | (CoapType.Reset << 4)), CoapCode.Empty, (byte)(mid >> 8), (byte)mid };

        /// <summary>
        /// Makes <paramref name="entry"/> the exchange of <paramref name="key"/> unless a live one holds it (returned in
        /// <paramref name="seen"/>). Atomic: of two copies of one request handled at once (the socket loop hands each
        /// datagram to a task of its own), exactly one is processed; the other gets the first one's response, or nothing
        /// while it is in progress (RFC 7252 §4.5).
        /// </summary>
        private bool Claim(string key, DedupEntry entry, long now, [NotNullWhen(false)] out DedupEntry? seen)
        {
            while (true)
            {
                if (_dedup.TryAdd(key, entry))
                {
                    seen = null;
                    return true;
                }

                if (!_dedup.TryGetValue(key, out seen))
                {
                    continue; // swept meanwhile
                }

                if (_time.GetElapsedTime(seen.Stamp, now) < _dedupLifetime)
                {
                    return false;
                }

                if (_dedup.TryUpdate(key, entry, seen))
                {
                    seen = null;
                    return true; // the old exchange's lifetime is over: this Message ID starts a new one
                }
            }
        }

        /// <summary>
        /// Bounds the table: drops the exchanges whose lifetime is over, then, while it is still above three quarters of
        /// <see cref="MaxDedupEntries"/> (a flood of distinct sources), answered ones (their retransmissions would be
        /// processed again: a cost, not a fault). Never an exchange still in progress (at most
        /// Bootstrap:MaxConcurrentRequests of them): a copy of it must not reach the HSS a second time. Each removal
        /// names the entry it saw, so an entry <see cref="Claim"/> has just put under the same key stays.
        /// </summary>
        private void Sweep(long now)
        {
            foreach (KeyValuePair<string, DedupEntry> kv in _dedup)
            {
                if (_time.GetElapsedTime(kv.Value.Stamp, now) >= _dedupLifetime) _dedup.TryRemove(kv);
            }

            int lowWater = MaxDedupEntries / 4 * 3;
            foreach (KeyValuePair<string, DedupEntry> kv in _dedup)
            {
                if (_dedup.Count <= lowWater) break;
                if (kv.Value.Response != null) _dedup.TryRemove(kv);
            }
        }

        /// <summary>Exchanges remembered for deduplication (tests).</summary>
        internal int DedupEntries => _dedup.Count;

        private sealed class DedupEntry
        {
            public long Stamp;
            public volatile byte[]? Response;
        }

        /// <summary>
        /// The per-source rate-limit key: an IPv4 address (also IPv4-mapped IPv6), or the /64 of an IPv6 address — one host
        /// (or one customer: RFC 6177 assigns at least a /64) has a whole /64 to send from, so per /128 it would have 2^64 buckets.
        /// </summary>
        internal static string RateLimitSource(System.Net.IPAddress address)
        {
            if (address.IsIPv4MappedToIPv6)
            {
                address = address.MapToIPv4();
            }

            if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return address.ToString();
            }

            byte[] b = address.GetAddressBytes();
            Array.Clear(b, 8, 8);
            return new System.Net.IPAddress(b).ToString() + "/64";
        }
    }
}

using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Common.Contracts;
using E2m.Server.Hss.Emks;
using E2m.Server.Hss.Subscribers;
using Microsoft.Extensions.Logging;

namespace E2m.Server.Hss.Auc
{
    /// <summary>A validated AIR.</summary>
    public sealed class AirCommand
    {
        public string Imsi { get; init; } = string.Empty;

        public int NumVectors { get; init; } = 1;

        public Rat Rat { get; init; }

        /// <summary>3-octet SN id (E-UTRAN).</summary>
        public byte[]? SnId { get; init; }

        public byte[]? ResyncRand { get; init; }

        public byte[]? ResyncAuts { get; init; }
    }

    /// <summary>Typed AIR failures (mapped to HTTP by the API).</summary>
    public enum AirFailure
    {
        UnknownSubscriber,
        ResyncMacFailure,
        SqnExhausted,
        E2mPushFailed,

        /// <summary>The next SEQ would be outside the USIM's Δ window (TS 33.102 Annex C.2.1); nothing was issued.</summary>
        SqnOutOfWindow,
    }

    /// <summary>Vectors of one AIR plus the subscription policy the serving node applies (DESIGN.md §5).</summary>
    public sealed class AirResult
    {
        public AirResult(AuthVector[] vectors, E2mProfile profile)
        {
            Vectors = vectors;
            Profile = profile;
        }

        public AuthVector[] Vectors { get; }

        /// <summary>The subscriber's e2m profile at the time of the reservation (GPRS minimum GEA, access-key separation).</summary>
        public E2mProfile Profile { get; }
    }

    public sealed class AirException : Exception
    {
        public AirException(AirFailure failure, string message, Exception? inner = null)
            : base(message, inner)
        {
            Failure = failure;
        }

        public AirFailure Failure { get; }
    }

    /// <summary>
    /// Authentication Information Request handling: SQN reservation (or resync), vector generation, and for e2m
    /// subscribers the push of e2m_int_key + KID + policy to the EMKS BEFORE the vectors are returned (DESIGN.md §3:
    /// no vector whose key the EMKS lacks; a failed push fails the AIR — the reserved SQNs are simply skipped).
    /// </summary>
    public sealed class AirService
    {
        private readonly SubscriberStore _store;
        private readonly AucEngine _auc;
        private readonly IEmksPushClient _emks;
        private readonly TimeProvider _time;
        private readonly ILogger<AirService> _log;

        public AirService(SubscriberStore store, AucEngine auc, IEmksPushClient emks, TimeProvider time, ILogger<AirService> log)
        {
            _store = store;
            _auc = auc;
            _emks = emks;
            _time = time;
            _log = log;
        }

        public async Task<AirResult> HandleAsync(AirCommand cmd, CancellationToken ct)
        {
            SqnReservation res;
            try
            {
                res = cmd.ResyncAuts == null ? _store.ReserveSqns(cmd.Imsi, cmd.NumVectors) : Resync(cmd);
            }
            catch (SubscriberNotFoundException e)
            {
                throw new AirException(AirFailure.UnknownSubscriber, e.Message, e);
            }
            catch (SqnExhaustedException e)
            {
                _log.LogWarning("AIR for {Imsi} refused: {Reason}", Redact.Imsi(cmd.Imsi), e.Message);
                throw new AirException(AirFailure.SqnExhausted, e.Message, e);
            }
            catch (SqnOutOfWindowException e)
            {
                _log.LogWarning("AIR for {Imsi} refused: {Reason}", Redact.Imsi(cmd.Imsi), e.Message);
                throw new AirException(AirFailure.SqnOutOfWindow, e.Message, e);
            }

            AuthVector[] vectors;
            using (res)
            {
                vectors = _auc.Generate(res, cmd.Rat, cmd.SnId);
                if (res.E2m.Enabled)
                {
                    try
                    {
                        await PushAsync(res, vectors, ct).ConfigureAwait(false);
                    }
                    catch (EmksPushException e)
                    {
                        foreach (AuthVector v in vectors)
                        {
                            v.Dispose();
                        }

                        _log.LogWarning("AIR for {Imsi} failed: {Reason}", Redact.Imsi(cmd.Imsi), e.Message);
                        throw new AirException(AirFailure.E2mPushFailed, e.Message, e);
                    }
                }

                _log.LogInformation(
                    "AIR {Imsi}: {Count} {Rat} vector(s), SEQ {FirstSeq}..{LastSeq} IND {Ind}{E2m}",
                    Redact.Imsi(cmd.Imsi), res.Count, cmd.Rat, res.FirstSeq, res.FirstSeq + res.Count - 1, res.Ind,
                    res.E2m.Enabled ? ", e2m keys pushed" : string.Empty);
            }

            return new AirResult(vectors, res.E2m);
        }

        private SqnReservation Resync(AirCommand cmd)
        {
            (byte[] k, byte[] opc) = _store.ReadCredentials(cmd.Imsi);
            ulong? sqnMs;
            try
            {
                sqnMs = _auc.RecoverSqnMs(k, opc, cmd.ResyncRand!, cmd.ResyncAuts!);
            }
            finally
            {
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(k);
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(opc);
            }

            if (sqnMs == null)
            {
                _log.LogWarning("resync for {Imsi} rejected: MAC-S mismatch", Redact.Imsi(cmd.Imsi));
                throw new AirException(AirFailure.ResyncMacFailure, "resync rejected: AUTS does not verify (MAC-S) for this RAND");
            }

            SqnPolicy p = _store.Sqn;
            _log.LogInformation("resync for {Imsi}: SQN_MS SEQ {SeqMs} IND {IndMs}", Redact.Imsi(cmd.Imsi), p.Seq(sqnMs.Value), p.Ind(sqnMs.Value));
            return _store.ResyncAndReserve(cmd.Imsi, p.Seq(sqnMs.Value), cmd.NumVectors); // TS 33.102 §6.3.5, Annex C.3.4
        }

        private async Task PushAsync(SqnReservation res, AuthVector[] vectors, CancellationToken ct)
        {
            long expiry = _time.GetUtcNow().ToUnixTimeSeconds() + res.E2m.KeyLifetimeSeconds;
            var request = new E2mKeyPushRequest();
            var subscriber = new E2mSubscriberRef
            {
                SubscriptionId = res.SubscriptionId,
                ExternalId = res.E2m.ExternalId,
                AllowedEmseIds = new List<string>(res.E2m.AllowedEmseIds),
                MaxMessages = res.E2m.MaxMessages,
                PolicyVersion = res.PolicyVersion,
            };
            foreach (AuthVector v in vectors)
            {
                request.Keys.Add(new E2mKeyPush
                {
                    Kid = Convert.ToHexStringLower(v.Kid!),
                    E2mIntKey = Convert.ToHexStringLower(v.E2mIntKey!),
                    Expiry = expiry,
                    Rand = Convert.ToHexStringLower(v.Rand),
                    Subscriber = subscriber,
                });
            }

            await _emks.PushAsync(request, ct).ConfigureAwait(false);
        }
    }
}

using System;
using System.Collections.Generic;
using E2m.Server.Common.Contracts;

namespace E2m.Server.Hss.Subscribers
{
    /// <summary>e2m profile of a subscription (DESIGN.md §5). Travels to the EMKS with every pushed key.</summary>
    public sealed class E2mProfile
    {
        public const long DefaultKeyLifetimeSeconds = 30L * 24 * 3600; // DESIGN.md §5: e.g. 30 days

        public bool Enabled { get; set; }

        /// <summary>EMSE_Ids allowed to obtain e2m_key (FQDNs, stored lowercase).</summary>
        public List<string> AllowedEmseIds { get; set; } = new();

        public long KeyLifetimeSeconds { get; set; } = DefaultKeyLifetimeSeconds;

        /// <summary>GPRS minimum cipher: n = GEAn (0 = no minimum), DESIGN.md §5; enforced by the (simulated) SGSN.</summary>
        public int MinGea { get; set; }

        /// <summary>Give the serving node CK'/IK' = KDF(CK||IK, 0xE3, "e2m_access") instead of CK/IK (DESIGN.md §5).</summary>
        public bool AccessKeySeparation { get; set; }

        /// <summary>External device id given to EMSEs instead of a pseudonym (optional, never the IMSI).</summary>
        public string? ExternalId { get; set; }

        /// <summary>Optional maximum OSCORE messages per key (DESIGN.md §5).</summary>
        public long? MaxMessages { get; set; }

        public E2mProfile Clone() => new()
        {
            Enabled = Enabled,
            AllowedEmseIds = new List<string>(AllowedEmseIds),
            KeyLifetimeSeconds = KeyLifetimeSeconds,
            MinGea = MinGea,
            AccessKeySeparation = AccessKeySeparation,
            ExternalId = ExternalId,
            MaxMessages = MaxMessages,
        };
    }

    /// <summary>A subscriber as shown by list/show: everything except K and OPc.</summary>
    public sealed class SubscriberInfo
    {
        public string Imsi { get; init; } = string.Empty;

        /// <summary>Stable opaque id (32 hex, random at provisioning; never derived from the IMSI).</summary>
        public string SubscriptionId { get; init; } = string.Empty;

        /// <summary>SEQ_HE: highest SEQ issued (TS 33.102 Annex C.1.1, 43 bits).</summary>
        public long Seq { get; init; }

        /// <summary>IND that the next AIR uses (TS 33.102 Annex C.3.4: allocated cyclically, 5 bits).</summary>
        public int IndNext { get; init; }

        /// <summary>Last SEQ_MS the HSS knows authentically (provisioning or a MAC-S-verified AUTS): the lower bound of the
        /// USIM's SEQ_MS used for the Δ check (TS 33.102 Annex C.2.1).</summary>
        public long SeqMs { get; init; }

        public ushort Amf { get; init; }

        public E2mProfile E2m { get; init; } = new();

        /// <summary>Version of the subscription's policy: 0 at provisioning, + 1 with every successful update (carried in
        /// every key push and every policy sync to the EMKS, which ignores anything older than what it has seen).</summary>
        public long PolicyVersion { get; init; }

        public DateTimeOffset CreatedAt { get; init; }

        public DateTimeOffset UpdatedAt { get; init; }
    }

    /// <summary>Input of <see cref="SubscriberStore.Add"/>. K and OPc are copied and encrypted; the caller zeroises its arrays.</summary>
    public sealed class NewSubscriber
    {
        public string Imsi { get; set; } = string.Empty;

        public byte[] K { get; set; } = Array.Empty<byte>();

        public byte[] Opc { get; set; } = Array.Empty<byte>();

        /// <summary>SQN_HE to start from (48 bits, SEQ || IND): the next vector uses SEQ + 1. Default 0.</summary>
        public ulong Sqn { get; set; }

        public ushort Amf { get; set; }

        public E2mProfile E2m { get; set; } = new();
    }

    /// <summary>Policy update (PATCH semantics: null = unchanged).</summary>
    public sealed class SubscriberUpdate
    {
        public bool? E2mEnabled { get; set; }

        public List<string>? AllowedEmseIds { get; set; }

        public long? KeyLifetimeSeconds { get; set; }

        public int? MinGea { get; set; }

        public bool? AccessKeySeparation { get; set; }

        /// <summary>"" clears the external id.</summary>
        public string? ExternalId { get; set; }

        /// <summary>0 clears the limit.</summary>
        public long? MaxMessages { get; set; }

        public ushort? Amf { get; set; }
    }

    /// <summary>
    /// A policy change queued for the EMKS (row of <c>hss_emks_policy_outbox</c>, written in the transaction of the change):
    /// the subscription id and the policy snapshot to <c>PUT</c>. Never the IMSI or key material.
    /// </summary>
    public sealed class QueuedPolicySync
    {
        public QueuedPolicySync(string subscriptionId, E2mSubscriptionPolicy policy)
        {
            SubscriptionId = subscriptionId;
            Policy = policy;
        }

        public string SubscriptionId { get; }

        public E2mSubscriptionPolicy Policy { get; }
    }

    /// <summary>Result of <see cref="SubscriberStore.UpdateSubscriber"/>: the subscriber as now stored, and the EMKS policy sync
    /// queued with the change (null: not an e2m subscriber before or after, or no EMKS configured).</summary>
    public sealed class SubscriberUpdateResult
    {
        public SubscriberUpdateResult(SubscriberInfo subscriber, QueuedPolicySync? queued)
        {
            Subscriber = subscriber;
            Queued = queued;
        }

        public SubscriberInfo Subscriber { get; }

        public QueuedPolicySync? Queued { get; }
    }

    /// <summary>Result of <see cref="SubscriberStore.DeleteSubscriber"/> for a subscriber that existed.</summary>
    public sealed class SubscriberDeleteResult
    {
        public SubscriberDeleteResult(string subscriptionId, QueuedPolicySync? queued)
        {
            SubscriptionId = subscriptionId;
            Queued = queued;
        }

        public string SubscriptionId { get; }

        /// <summary>The revocation (e2m off, policy version + 1) queued for the EMKS; null when e2m was off or no EMKS is configured.</summary>
        public QueuedPolicySync? Queued { get; }
    }

    /// <summary>
    /// SQNs reserved atomically for one AIR, with the decrypted credentials. SQN_i = (FirstSeq + i) || Ind for
    /// i = 0..Count-1 (TS 33.102 Annex C.1.1: SQN = SEQ || IND; C.3.4: a batch shares one IND).
    /// Dispose zeroises K and OPc.
    /// </summary>
    public sealed class SqnReservation : IDisposable
    {
        public string Imsi { get; init; } = string.Empty;

        public string SubscriptionId { get; init; } = string.Empty;

        public byte[] K { get; init; } = Array.Empty<byte>();

        public byte[] Opc { get; init; } = Array.Empty<byte>();

        public ushort Amf { get; init; }

        public E2mProfile E2m { get; init; } = new();

        /// <summary>The subscription's policy version the reservation read <see cref="E2m"/> under.</summary>
        public long PolicyVersion { get; init; }

        public long FirstSeq { get; init; }

        public int Ind { get; init; }

        public int Count { get; init; }

        /// <summary>IND length of the scheme the reservation was made under (TS 33.102 Annex C.3.2 default 5).</summary>
        public int IndBits { get; init; } = SqnPolicy.DefaultIndBits;

        public ulong Sqn(int i) => ((ulong)(FirstSeq + i) << IndBits) | (uint)Ind;

        public void Dispose()
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(K);
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(Opc);
        }
    }

    /// <summary>SQN = SEQ || IND arithmetic with the default IND length (TS 33.102 Annex C.3.2: 5 bits). See <see cref="SqnPolicy"/>.</summary>
    public static class SqnMath
    {
        /// <summary>IND length in bits (TS 33.102 Annex C.3.2 recommends 5, a = 32; osmo/UERANSIM default).</summary>
        public const int IndBits = SqnPolicy.DefaultIndBits;

        public const int IndCount = 1 << IndBits;

        /// <summary>SEQ = 48 − IND bits = 43 bits.</summary>
        public const long MaxSeq = (1L << (48 - IndBits)) - 1;

        public static ulong Compose(long seq, int ind) => ((ulong)seq << IndBits) | (uint)ind;

        public static long Seq(ulong sqn) => (long)(sqn >> IndBits);

        public static int Ind(ulong sqn) => (int)(sqn & (IndCount - 1));

        public static ulong FromBytes(byte[] sqn6)
        {
            ulong v = 0;
            for (int i = 0; i < 6; i++)
            {
                v = (v << 8) | sqn6[i];
            }

            return v;
        }

        public static void ToBytes(ulong sqn, byte[] sqn6)
        {
            for (int i = 5; i >= 0; i--)
            {
                sqn6[i] = (byte)sqn;
                sqn >>= 8;
            }
        }
    }

    /// <summary>
    /// The HE side of TS 33.102 Annex C (the "not time-based" profile, C.3.2) as the HSS applies it:
    /// <list type="bullet">
    /// <item>SQN = SEQ || IND (Annex C.1.2 array scheme), IND = <see cref="IndBits"/> bits (default 5, a = 32: C.3.2), SEQ the
    /// remaining 48 − IND bits; IND allocated cyclically per request, one IND per batch (C.3.4); SEQ_HE + 1 per vector.</item>
    /// <item>Δ (C.2.1, default 2^28 as in the C.3 profiles): the USIM accepts SEQ only if SEQ − SEQ_MS ≤ Δ. The HSS keeps
    /// <c>seq_ms</c>, the last SEQ_MS it knows authentically (provisioning, then every MAC-S-verified AUTS), a lower bound of
    /// the USIM's SEQ_MS because SEQ_MS never decreases. It never issues a SEQ with SEQ − seq_ms &gt; Δ: such a vector could be
    /// rejected by the USIM (C.2.1 "Δ shall be sufficiently large so that the MS will not receive any sequence number with
    /// SEQ − SEQ_MS &gt; Δ if the HE/AuC functions correctly").</item>
    /// <item>L (C.2.2 age limit, optional on the USIM: accept only if SEQ_MS − SEQ &lt; L): the HSS cannot see which vectors
    /// a serving node still holds; its part is that one batch never spans L SEQ values (validated against the maximum
    /// numVectors). 0 = the USIM applies no age limit.</item>
    /// <item>Wrap-around (C.2.1: SEQ_MS must never reach SEQmax): SEQ_HE never exceeds <see cref="SeqCeiling"/> (default
    /// SEQmax = 2^(48 − IND) − 1); a request or a resync that would move SEQ_HE beyond it is refused, never wrapped.</item>
    /// </list>
    /// </summary>
    public sealed class SqnPolicy
    {
        /// <summary>TS 33.102 Annex C.3.2: length of IND 5 bits (array of a = 32 in the USIM).</summary>
        public const int DefaultIndBits = 5;

        /// <summary>TS 33.102 Annex C.3 profiles: "Protection against wrap around: choose Δ = 2^28".</summary>
        public const long DefaultDelta = 1L << 28;

        public SqnPolicy(int indBits = DefaultIndBits, long delta = DefaultDelta, long ageLimit = 0, long seqCeiling = 0)
        {
            if (indBits < 1 || indBits > 10)
            {
                throw new ArgumentOutOfRangeException(nameof(indBits), "IND length: 1..10 bits (TS 33.102 Annex C.3.2 recommends 5)");
            }

            long seqMax = (1L << (48 - indBits)) - 1;
            if (delta < 1 || delta > seqMax)
            {
                throw new ArgumentOutOfRangeException(nameof(delta), "Δ: 1..SEQmax (TS 33.102 Annex C.2.1)");
            }

            if (ageLimit < 0 || ageLimit > seqMax)
            {
                throw new ArgumentOutOfRangeException(nameof(ageLimit), "L: 0 (not applied) or 1..SEQmax (TS 33.102 Annex C.2.2)");
            }

            if (seqCeiling < 0 || seqCeiling > seqMax)
            {
                throw new ArgumentOutOfRangeException(nameof(seqCeiling), "SEQ ceiling: 0 (= SEQmax) or 1..SEQmax");
            }

            IndBits = indBits;
            IndCount = 1 << indBits;
            SeqMax = seqMax;
            Delta = delta;
            AgeLimit = ageLimit;
            SeqCeiling = seqCeiling == 0 ? seqMax : seqCeiling;
        }

        /// <summary>Annex C.3.2 defaults: IND 5 bits, Δ = 2^28, no L, ceiling SEQmax = 2^43 − 1.</summary>
        public static SqnPolicy Default { get; } = new();

        public int IndBits { get; }

        /// <summary>a = 2^IND bits: size of the USIM's SEQ_MS array (C.2.2) and the IND cycle (C.3.4).</summary>
        public int IndCount { get; }

        /// <summary>SEQmax = 2^(48 − IND bits) − 1.</summary>
        public long SeqMax { get; }

        /// <summary>Δ of Annex C.2.1.</summary>
        public long Delta { get; }

        /// <summary>L of Annex C.2.2 (0 = not applied).</summary>
        public long AgeLimit { get; }

        /// <summary>Highest SEQ the HSS ever issues (≤ SEQmax).</summary>
        public long SeqCeiling { get; }

        public ulong Compose(long seq, int ind) => ((ulong)seq << IndBits) | (uint)ind;

        public long Seq(ulong sqn) => (long)(sqn >> IndBits);

        public int Ind(ulong sqn) => (int)(sqn & (ulong)(IndCount - 1));
    }

    public class SubscriberStoreException : Exception
    {
        public SubscriberStoreException(string message)
            : base(message)
        {
        }
    }

    public sealed class SubscriberNotFoundException : SubscriberStoreException
    {
        public SubscriberNotFoundException(string imsiRedacted)
            : base("unknown subscriber " + imsiRedacted)
        {
        }
    }

    public sealed class DuplicateSubscriberException : SubscriberStoreException
    {
        public DuplicateSubscriberException(string imsi)
            : base("subscriber " + imsi + " already exists")
        {
        }
    }

    /// <summary>A policy change would overwrite a revocation the EMKS has not received yet (HTTP 409; retry once it is delivered).</summary>
    public sealed class PolicySyncPendingException : SubscriberStoreException
    {
        public PolicySyncPendingException(string message)
            : base(message)
        {
        }
    }

    /// <summary>SEQ_HE would pass the SEQ ceiling (TS 33.102 Annex C.2.1: no wrap-around). The SQN is not changed.</summary>
    public sealed class SqnExhaustedException : SubscriberStoreException
    {
        public SqnExhaustedException()
            : base("SEQ space exhausted for this subscriber (TS 33.102 Annex C: 43-bit SEQ)")
        {
        }

        public SqnExhaustedException(string message)
            : base(message)
        {
        }
    }

    /// <summary>
    /// The next SEQ would be more than Δ ahead of the USIM's SEQ_MS (TS 33.102 Annex C.2.1): the USIM would reject it with a
    /// synchronisation failure. Refused instead of issued; the SQN is not changed.
    /// </summary>
    public sealed class SqnOutOfWindowException : SubscriberStoreException
    {
        public SqnOutOfWindowException(string message)
            : base(message)
        {
        }
    }

    /// <summary>Input that fails validation (bad IMSI, wrong key length, bad EMSE_Id): maps to HTTP 400 / CLI exit 2.</summary>
    public sealed class SubscriberValidationException : SubscriberStoreException
    {
        public SubscriberValidationException(string message)
            : base(message)
        {
        }
    }
}

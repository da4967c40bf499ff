using System;
using System.Collections.Generic;

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

        public ushort Amf { get; init; }

        public E2mProfile E2m { get; init; } = new();

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

        public long FirstSeq { get; init; }

        public int Ind { get; init; }

        public int Count { get; init; }

        public ulong Sqn(int i) => SqnMath.Compose(FirstSeq + i, Ind);

        public void Dispose()
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(K);
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(Opc);
        }
    }

    /// <summary>SQN = SEQ || IND arithmetic (TS 33.102 Annex C.1.1, C.3.4).</summary>
    public static class SqnMath
    {
        /// <summary>IND length in bits (TS 33.102 Annex C.3.4 recommends 5; osmo/UERANSIM default).</summary>
        public const int IndBits = 5;

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

    public sealed class SqnExhaustedException : SubscriberStoreException
    {
        public SqnExhaustedException()
            : base("SEQ space exhausted for this subscriber (TS 33.102 Annex C: 43-bit SEQ)")
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

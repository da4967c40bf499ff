using System;
using System.Threading;
using System.Threading.Tasks;
using E2m.ModemSim.Modem;

namespace E2m.ModemSim.Network
{
    /// <summary>Vector flavour the serving node asks for: UTRAN quintets (GPRS/UMTS) or E-UTRAN vectors with KASME (LTE-M/NB-IoT).</summary>
    public enum VectorDomain
    {
        Utran = 0,
        Eutran = 1,
    }

    /// <summary>GPRS encryption algorithms (TS 43.020 / TS 24.008 §10.5.5.3 ciphering algorithm), ordered by strength.</summary>
    public enum GeaAlgorithm
    {
        Gea0 = 0, // no ciphering
        Gea1 = 1,
        Gea2 = 2,
        Gea3 = 3,
        Gea4 = 4,
        Gea5 = 5, // TS 55.251 (EC-GSM-IoT); no simulated ME/SGSN supports it: a GEA5 minimum refuses the attach
    }

    /// <summary>One authentication vector as the serving node receives it (TS 33.102 §6.3.2; TS 33.401 §6.1.2 for KASME).</summary>
    public sealed class AuthVector
    {
        public byte[] Rand { get; init; } = Array.Empty<byte>();
        public byte[] Xres { get; init; } = Array.Empty<byte>();
        public byte[] Autn { get; init; } = Array.Empty<byte>();
        /// <summary>CK, or CK' when the home network applies access-key separation (DESIGN.md §5).</summary>
        public byte[] Ck { get; init; } = Array.Empty<byte>();
        /// <summary>IK, or IK' when the home network applies access-key separation (DESIGN.md §5).</summary>
        public byte[] Ik { get; init; } = Array.Empty<byte>();
        /// <summary>KASME (TS 33.401 A.2), E-UTRAN vectors only.</summary>
        public byte[]? Kasme { get; init; }
    }

    /// <summary>Subscription policy the serving node enforces (DESIGN.md §5). Defaults: no restriction.</summary>
    public sealed class SubscriptionPolicy
    {
        /// <summary>Minimum GPRS cipher (e.g. GEA3 for CIoT subscribers); the SGSN refuses an attach that would negotiate less.</summary>
        public GeaAlgorithm MinimumGea { get; init; } = GeaAlgorithm.Gea0;

        /// <summary>The home network hands out CK'/IK' instead of CK/IK (DESIGN.md §5).</summary>
        public bool AccessKeySeparation { get; init; }

        /// <summary>PS service allowed at all (a denied subscription gets GMM cause #7).</summary>
        public bool PsAllowed { get; init; } = true;

        public static SubscriptionPolicy Default { get; } = new();
    }

    /// <summary>Authentication-information request (AIR-like, issue 6 contract).</summary>
    public sealed class AuthInfoRequest
    {
        public string Imsi { get; init; } = "";
        public int NumVectors { get; init; } = 1;
        public VectorDomain Domain { get; init; }
        /// <summary>Serving PLMN, MCC+MNC digits (e.g. "00101"); the KASME input.</summary>
        public string Plmn { get; init; } = "00101";
        /// <summary>Resynchronisation (TS 33.102 §6.3.5): RAND of the failed challenge and the USIM's AUTS; both or neither.</summary>
        public byte[]? ResyncRand { get; init; }
        public byte[]? ResyncAuts { get; init; }
    }

    /// <summary>Answer of a vector source: vectors plus the subscription policy when the source knows it.</summary>
    public sealed class AuthInfo
    {
        public AuthVector[] Vectors { get; init; } = Array.Empty<AuthVector>();
        public SubscriptionPolicy? Policy { get; init; }
    }

    /// <summary>Why a vector source could not answer.</summary>
    public enum AuthInfoError
    {
        UnknownSubscriber = 1,
        /// <summary>AUTS did not verify (MAC-S), TS 33.102 §6.3.5.</summary>
        ResyncRejected = 2,
        /// <summary>Transport failure or a malformed answer from the HSS.</summary>
        Unavailable = 3,
        BadRequest = 4,
    }

    /// <summary>Typed failure of an <see cref="IAuthVectorSource"/>.</summary>
    public sealed class AuthInfoException : Exception
    {
        public AuthInfoException(AuthInfoError error, string message, Exception? inner = null) : base(message, inner)
        {
            Error = error;
        }

        public AuthInfoError Error { get; }
    }

    /// <summary>Where the serving node gets vectors: our HSS API (<see cref="HssAuthVectorSource"/>) or a local AuC (<see cref="LocalAuc"/>).</summary>
    public interface IAuthVectorSource
    {
        /// <summary>Fetches vectors (with <see cref="AuthInfoRequest.ResyncRand"/>/<see cref="AuthInfoRequest.ResyncAuts"/>: after resynchronisation).</summary>
        Task<AuthInfo> GetAuthInfoAsync(AuthInfoRequest request, CancellationToken cancellationToken = default);
    }

    /// <summary>Helpers shared by the network side.</summary>
    public static class RatInfo
    {
        /// <summary>EPS RATs (LTE-M = E-UTRAN, NB-IoT = E-UTRAN NB-S1): EPS AKA, KASME, no EF_KeysPS refresh (DESIGN.md §3).</summary>
        public static bool IsEps(SimRat rat) => rat == SimRat.LteM || rat == SimRat.NbIot;

        public static VectorDomain DomainOf(SimRat rat) => IsEps(rat) ? VectorDomain.Eutran : VectorDomain.Utran;
    }
}

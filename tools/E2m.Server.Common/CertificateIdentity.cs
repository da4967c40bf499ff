using System;
using System.Security.Cryptography.X509Certificates;

namespace E2m.Server.Common
{
    /// <summary>
    /// Who a (chain-validated) client certificate of the dev PKI belongs to. The role is the subject OU set by
    /// <see cref="DevPki"/>; the EMSE_Id is the single DNS SAN of an <c>emse</c> certificate (CN carries the same).
    /// Call only on a certificate already validated against the trust anchor (<see cref="E2mTrustAnchor"/>).
    /// </summary>
    public static class CertificateIdentity
    {
        public const string RoleHss = DevPki.Hss;
        public const string RoleEmks = DevPki.Emks;
        public const string RoleServingNode = DevPki.ServingNode;
        public const string RoleAdmin = DevPki.Admin;
        public const string RoleReader = DevPki.Reader;
        public const string RoleEmse = "emse";

        /// <summary>The OU of the subject, or null.</summary>
        public static string? GetRole(X509Certificate2? cert) => SubjectAttribute(cert, "2.5.4.11"); // id-at-organizationalUnitName (X.520)

        public static bool HasRole(X509Certificate2? cert, string role) => string.Equals(GetRole(cert), role, StringComparison.Ordinal);

        /// <summary>The subject's CN (e.g. a reader's name), or null.</summary>
        public static string? GetCommonName(X509Certificate2? cert) => SubjectAttribute(cert, "2.5.4.3"); // id-at-commonName (X.520)

        /// <summary>The value of the first single-valued RDN of the subject with attribute type <paramref name="oid"/>, or null.</summary>
        private static string? SubjectAttribute(X509Certificate2? cert, string oid)
        {
            if (cert == null)
            {
                return null;
            }

            foreach (X500RelativeDistinguishedName rdn in cert.SubjectName.EnumerateRelativeDistinguishedNames())
            {
                if (rdn.GetSingleElementType().Value == oid)
                {
                    return rdn.GetSingleElementValue();
                }
            }

            return null;
        }

        public static bool IsHss(X509Certificate2? cert) => HasRole(cert, RoleHss);

        public static bool IsEmks(X509Certificate2? cert) => HasRole(cert, RoleEmks);

        public static bool IsServingNode(X509Certificate2? cert) => HasRole(cert, RoleServingNode);

        public static bool IsAdmin(X509Certificate2? cert) => HasRole(cert, RoleAdmin);

        /// <summary>
        /// The EMSE_Id (DNS SAN) of an EMSE certificate as written; null if the certificate is not an EMSE's or has no
        /// single DNS SAN. (The EMKS derives e2m_key over its lowercase form, KeyService.BuildResponse.)
        /// </summary>
        public static string? GetEmseId(X509Certificate2? cert)
        {
            if (cert == null || !HasRole(cert, RoleEmse))
            {
                return null;
            }

            string? found = null;
            foreach (X509Extension ext in cert.Extensions)
            {
                if (ext is X509SubjectAlternativeNameExtension san)
                {
                    foreach (string dns in san.EnumerateDnsNames())
                    {
                        if (found != null)
                        {
                            return null; // ambiguous: an EMSE certificate names exactly one EMSE
                        }

                        found = dns;
                    }
                }
            }

            return found;
        }
    }
}

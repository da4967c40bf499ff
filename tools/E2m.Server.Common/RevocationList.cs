using System;
using System.Collections.Generic;
using System.Formats.Asn1;
using System.IO;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace E2m.Server.Common
{
    /// <summary>Why a certificate revocation list was refused (<see cref="CrlFormatException"/>).</summary>
    public enum CrlError
    {
        /// <summary>Not DER of RFC 5280 §5.1 CertificateList (or PEM of it), or trailing data.</summary>
        Malformed = 1,
        /// <summary>Larger than <see cref="RevocationList.MaxSize"/>.</summary>
        TooLarge = 2,
        /// <summary>RFC 5280 §5.1.2.1: version present and not v2.</summary>
        UnsupportedVersion = 3,
        /// <summary>Signature algorithm not ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512, or tbs and outer algorithms differ (§5.1.1.2).</summary>
        UnsupportedAlgorithm = 4,
        /// <summary>§5.1.2.3: the issuer is not the trust anchor's CA.</summary>
        WrongIssuer = 5,
        /// <summary>§5.1.1.3: the signature does not verify with the CA's public key.</summary>
        BadSignature = 6,
        /// <summary>§5.2, §5.3: a critical CRL or entry extension this code does not process (e.g. an indirect CRL).</summary>
        UnknownCriticalExtension = 7,
        /// <summary>A replacement CRL with a lower CRL number (§5.2.3) than the one in use, or the same number with other content.</summary>
        Rollback = 8,
    }

    /// <summary>A revocation list refused (untrusted input: a file an operator or an attacker may have written).</summary>
    public sealed class CrlFormatException : FormatException
    {
        public CrlFormatException(CrlError error, string message)
            : base("CRL: " + message)
        {
            Error = error;
        }

        public CrlError Error { get; }
    }

    /// <summary>
    /// A certificate revocation list of the trust anchor's CA (RFC 5280 §5), verified: DER (or PEM "X509 CRL"), v2,
    /// issuer = the CA's subject, signature by the CA's key (ECDSA or RSA PKCS#1 v1.5, SHA-256/384/512), no critical
    /// extension other than those of §5.2/§5.3 this code processes (none is critical in practice: CRL Number, Authority
    /// Key Identifier, reason code, invalidity date). Parsed with System.Formats.Asn1 under DER rules. A stale list
    /// (nextUpdate passed) still revokes what it names: <see cref="E2mTrustAnchor"/> reports it, it does not ignore it.
    /// </summary>
    public sealed class RevocationList
    {
        /// <summary>Files above this are refused (a dev or trial CA revokes a handful of certificates; ~30 000 entries fit).</summary>
        public const int MaxSize = 1 << 20;

        // RFC 5280 §5.2 / §5.3 extension OIDs
        private const string CrlNumberOid = "2.5.29.20";
        private const string AuthorityKeyIdentifierOid = "2.5.29.35";
        private const string ReasonCodeOid = "2.5.29.21";
        private const string InvalidityDateOid = "2.5.29.24";

        private readonly HashSet<string> _revoked;

        private RevocationList(BigInteger crlNumber, DateTimeOffset thisUpdate, DateTimeOffset? nextUpdate, HashSet<string> revoked, byte[] der)
        {
            CrlNumber = crlNumber;
            ThisUpdate = thisUpdate;
            NextUpdate = nextUpdate;
            _revoked = revoked;
            Der = der;
        }

        /// <summary>§5.2.3 CRL number; 0 when the list carries none.</summary>
        public BigInteger CrlNumber { get; }

        public DateTimeOffset ThisUpdate { get; }

        public DateTimeOffset? NextUpdate { get; }

        /// <summary>Number of revoked serial numbers.</summary>
        public int Count => _revoked.Count;

        /// <summary>The DER the list was parsed from.</summary>
        public byte[] Der { get; }

        /// <summary>True when <paramref name="cert"/>'s serial number is on the list (the caller has checked the issuer: one CA).</summary>
        public bool IsRevoked(X509Certificate2 cert) => _revoked.Contains(SerialKey(cert.SerialNumberBytes.Span));

        /// <summary>True when the serial number (big-endian octets, as in the certificate or as openssl prints it) is on the list.</summary>
        public bool IsRevoked(ReadOnlySpan<byte> serialNumber) => _revoked.Contains(SerialKey(serialNumber));

        /// <summary>
        /// A serial number compared as the unsigned number its octets spell (RFC 5280 §4.1.2.2: positive; DER puts a 0x00
        /// before a first octet ≥ 0x80, openssl prints it without): leading zero octets dropped, upper-case hex. An entry
        /// some tool wrote as a negative INTEGER still revokes the certificate with those octets (fail safe).
        /// </summary>
        public static string SerialKey(ReadOnlySpan<byte> serialNumber)
        {
            int i = 0;
            while (i < serialNumber.Length - 1 && serialNumber[i] == 0)
            {
                i++;
            }

            return Convert.ToHexString(serialNumber.Slice(i));
        }

        /// <summary>True once nextUpdate has passed (the issuer promised a newer list by then).</summary>
        public bool IsStale(DateTimeOffset now) => NextUpdate is DateTimeOffset next && now > next;

        /// <summary>Reads a PEM ("-----BEGIN X509 CRL-----") or DER file and verifies it against <paramref name="ca"/>.</summary>
        public static RevocationList Load(string path, X509Certificate2 ca)
        {
            var info = new FileInfo(path);
            if (info.Length > MaxSize)
            {
                throw new CrlFormatException(CrlError.TooLarge, $"{path} is larger than {MaxSize} octets");
            }

            try
            {
                return Parse(File.ReadAllBytes(path), ca); // Parse checks the size of what was read
            }
            catch (CrlFormatException e)
            {
                throw new CrlFormatException(e.Error, path + ": " + e.Message.Substring("CRL: ".Length));
            }
        }

        /// <summary>Parses PEM or DER and verifies it against <paramref name="ca"/>; throws <see cref="CrlFormatException"/>.</summary>
        public static RevocationList Parse(byte[] content, X509Certificate2 ca)
        {
            ArgumentNullException.ThrowIfNull(content);
            ArgumentNullException.ThrowIfNull(ca);
            if (content.Length > MaxSize)
            {
                throw new CrlFormatException(CrlError.TooLarge, $"larger than {MaxSize} octets");
            }

            byte[] der = ToDer(content);
            try
            {
                return ParseDer(der, ca);
            }
            catch (AsnContentException e)
            {
                throw new CrlFormatException(CrlError.Malformed, "not a DER CertificateList (RFC 5280 §5.1): " + e.Message);
            }
        }

        private static byte[] ToDer(byte[] content)
        {
            // PEM (RFC 7468 §5 "X509 CRL") when it starts like text; DER is a SEQUENCE (0x30).
            if (content.Length > 0 && content[0] == 0x30)
            {
                return content;
            }

            string text;
            try
            {
                text = new System.Text.UTF8Encoding(false, true).GetString(content);
            }
            catch (ArgumentException)
            {
                throw new CrlFormatException(CrlError.Malformed, "neither DER nor PEM");
            }

            if (!PemEncoding.TryFind(text, out PemFields pem) || !text.AsSpan()[pem.Label].SequenceEqual("X509 CRL")
                || text.AsSpan(pem.Location.End.Value).Trim().Length != 0 || text.AsSpan(0, pem.Location.Start.Value).Trim().Length != 0)
            {
                throw new CrlFormatException(CrlError.Malformed, "expected exactly one PEM block labelled X509 CRL");
            }

            byte[] der = new byte[pem.DecodedDataLength];
            if (!Convert.TryFromBase64Chars(text.AsSpan()[pem.Base64Data], der, out int written) || written != der.Length)
            {
                throw new CrlFormatException(CrlError.Malformed, "PEM body is not base64");
            }

            return der;
        }

        private static RevocationList ParseDer(byte[] der, X509Certificate2 ca)
        {
            var outer = new AsnReader(der, AsnEncodingRules.DER);
            AsnReader certList = outer.ReadSequence();
            outer.ThrowIfNotEmpty();

            ReadOnlyMemory<byte> tbsEncoded = certList.PeekEncodedValue();
            AsnReader tbs = certList.ReadSequence();
            string outerAlgorithm = ReadAlgorithm(certList, out ReadOnlyMemory<byte> outerAlgorithmDer);
            byte[] signature = certList.ReadBitString(out int unusedBits);
            certList.ThrowIfNotEmpty();
            if (unusedBits != 0)
            {
                throw new CrlFormatException(CrlError.Malformed, "signatureValue has unused bits");
            }

            // §5.1.2.1 version: v2 (INTEGER 1) when present
            if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
            {
                if (!tbs.TryReadInt32(out int version) || version != 1)
                {
                    throw new CrlFormatException(CrlError.UnsupportedVersion, "version is not v2");
                }
            }

            ReadAlgorithm(tbs, out ReadOnlyMemory<byte> innerAlgorithmDer);
            if (!innerAlgorithmDer.Span.SequenceEqual(outerAlgorithmDer.Span))
            {
                throw new CrlFormatException(CrlError.UnsupportedAlgorithm, "tbsCertList.signature differs from signatureAlgorithm (RFC 5280 §5.1.1.2)");
            }

            ReadOnlyMemory<byte> issuer = tbs.ReadEncodedValue();
            if (!issuer.Span.SequenceEqual(ca.SubjectName.RawData))
            {
                throw new CrlFormatException(CrlError.WrongIssuer, $"issued by another CA than '{ca.Subject}'");
            }

            // The signature before anything else of the content is believed.
            Verify(ca, outerAlgorithm, tbsEncoded.Span, signature);

            DateTimeOffset thisUpdate = ReadTime(tbs);
            DateTimeOffset? nextUpdate = null;
            if (tbs.HasData && IsTime(tbs.PeekTag()))
            {
                nextUpdate = ReadTime(tbs);
            }

            var revoked = new HashSet<string>(StringComparer.Ordinal);
            if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
            {
                AsnReader entries = tbs.ReadSequence();
                while (entries.HasData)
                {
                    AsnReader entry = entries.ReadSequence();
                    ReadOnlyMemory<byte> serial = entry.ReadIntegerBytes();
                    ReadTime(entry);
                    if (entry.HasData)
                    {
                        ReadExtensions(entry.ReadSequence(), ReasonCodeOid, InvalidityDateOid, out _);
                    }

                    entry.ThrowIfNotEmpty();
                    revoked.Add(SerialKey(serial.Span));
                }
            }

            BigInteger crlNumber = BigInteger.Zero;
            if (tbs.HasData)
            {
                AsnReader explicitExtensions = tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
                ReadExtensions(explicitExtensions.ReadSequence(), CrlNumberOid, AuthorityKeyIdentifierOid, out ReadOnlyMemory<byte>? number);
                explicitExtensions.ThrowIfNotEmpty();
                if (number is ReadOnlyMemory<byte> n)
                {
                    var r = new AsnReader(n, AsnEncodingRules.DER);
                    crlNumber = r.ReadInteger();
                    r.ThrowIfNotEmpty();
                }
            }

            tbs.ThrowIfNotEmpty();
            return new RevocationList(crlNumber, thisUpdate, nextUpdate, revoked, der);
        }

        // AlgorithmIdentifier (RFC 5280 §4.1.1.2): the OID; parameters absent or NULL.
        private static string ReadAlgorithm(AsnReader reader, out ReadOnlyMemory<byte> encoded)
        {
            encoded = reader.PeekEncodedValue();
            AsnReader alg = reader.ReadSequence();
            string oid = alg.ReadObjectIdentifier();
            if (alg.HasData)
            {
                alg.ReadNull();
            }

            alg.ThrowIfNotEmpty();
            return oid;
        }

        private static bool IsTime(Asn1Tag tag) =>
            tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

        private static DateTimeOffset ReadTime(AsnReader reader)
        {
            Asn1Tag tag = reader.PeekTag();
            if (tag.HasSameClassAndValue(Asn1Tag.UtcTime))
            {
                return reader.ReadUtcTime(2049); // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY
            }

            if (tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime))
            {
                return reader.ReadGeneralizedTime();
            }

            throw new CrlFormatException(CrlError.Malformed, "expected a Time (UTCTime or GeneralizedTime)");
        }

        // Extensions (RFC 5280 §4.1): the value of `wanted` (if present), every critical one must be known.
        private static void ReadExtensions(AsnReader extensions, string wanted, string alsoKnown, out ReadOnlyMemory<byte>? wantedValue)
        {
            wantedValue = null;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            while (extensions.HasData)
            {
                AsnReader ext = extensions.ReadSequence();
                string oid = ext.ReadObjectIdentifier();
                bool critical = false;
                if (ext.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
                {
                    critical = ext.ReadBoolean();
                }

                byte[] value = ext.ReadOctetString();
                ext.ThrowIfNotEmpty();
                if (!seen.Add(oid))
                {
                    throw new CrlFormatException(CrlError.Malformed, $"extension {oid} appears twice (RFC 5280 §4.2)");
                }

                if (oid == wanted)
                {
                    wantedValue = value;
                }
                else if (critical && oid != alsoKnown)
                {
                    throw new CrlFormatException(CrlError.UnknownCriticalExtension, $"critical extension {oid} is not processed (RFC 5280 §5.2)");
                }
            }
        }

        private static void Verify(X509Certificate2 ca, string algorithm, ReadOnlySpan<byte> tbs, byte[] signature)
        {
            (bool ecdsa, HashAlgorithmName hash) = algorithm switch
            {
                "1.2.840.10045.4.3.2" => (true, HashAlgorithmName.SHA256), // RFC 5758 §3.2 ecdsa-with-SHA256
                "1.2.840.10045.4.3.3" => (true, HashAlgorithmName.SHA384),
                "1.2.840.10045.4.3.4" => (true, HashAlgorithmName.SHA512),
                "1.2.840.113549.1.1.11" => (false, HashAlgorithmName.SHA256), // RFC 4055 §5 sha256WithRSAEncryption
                "1.2.840.113549.1.1.12" => (false, HashAlgorithmName.SHA384),
                "1.2.840.113549.1.1.13" => (false, HashAlgorithmName.SHA512),
                _ => throw new CrlFormatException(CrlError.UnsupportedAlgorithm, $"signature algorithm {algorithm} not supported"),
            };

            bool ok;
            try
            {
                if (ecdsa)
                {
                    using ECDsa? key = ca.GetECDsaPublicKey();
                    ok = key != null && key.VerifyData(tbs, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
                }
                else
                {
                    using RSA? key = ca.GetRSAPublicKey();
                    ok = key != null && key.VerifyData(tbs, signature, hash, RSASignaturePadding.Pkcs1);
                }
            }
            catch (CryptographicException)
            {
                ok = false; // a signature value that is not even well-formed
            }

            if (!ok)
            {
                throw new CrlFormatException(CrlError.BadSignature, $"signature does not verify with the key of '{ca.Subject}'");
            }
        }
    }
}

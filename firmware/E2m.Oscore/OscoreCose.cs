using System;

namespace E2m.Oscore
{
    /// <summary>
    /// The fixed CBOR structures of OSCORE, written straight into caller buffers with preferred
    /// (shortest) CBOR heads (RFC 8949 §4.2.1): the HKDF 'info' array (RFC 8613 §3.2.1), the external AAD
    /// and the COSE Enc_structure AAD (RFC 8613 §5.4, RFC 8152 §5.3), and the AEAD nonce (RFC 8613 §5.2).
    /// Pure functions, no allocation. Checked against RFC 8613 App. C and System.Formats.Cbor in the tests.
    /// </summary>
    public static class OscoreCose
    {
        // RFC 8949 §3.1 major types.
        private const int MajorUnsigned = 0;
        private const int MajorByteString = 2;
        private const int MajorTextString = 3;
        private const int MajorArray = 4;
        private const byte SimpleNull = 0xF6; // RFC 8949 §3.3: null

        /// <summary>"Encrypt0" context string of the COSE Enc_structure (RFC 8152 §5.3).</summary>
        private static readonly byte[] Encrypt0 = new byte[] { 0x45, 0x6E, 0x63, 0x72, 0x79, 0x70, 0x74, 0x30 };

        /// <summary>Largest 'info' for ids ≤ 255 and ID Context ≤ 255 octets.</summary>
        public const int MaxInfoLength = 1 + 2 + 255 + 2 + 255 + 1 + 4 + 1;

        /// <summary>Largest AAD for request_kid ≤ 255 and request_piv ≤ 5 octets, no Class I options.</summary>
        public const int MaxAadLength = 11 + 3 + (1 + 1 + 2 + 2 + 255 + 1 + 5 + 1);

        /// <summary>
        /// info = [ id : bstr, id_context : bstr / nil, alg_aead : int, type : tstr, L : uint ]
        /// (RFC 8613 §3.2.1). <paramref name="idContext"/> null = nil (no ID Context). type "Key", L = 16 when
        /// <paramref name="forIv"/> is false; type "IV", L = 13 otherwise. Returns the length written.
        /// </summary>
        public static int EncodeInfo(byte[] id, int idOffset, int idLength,
            byte[] idContext, int idContextOffset, int idContextLength, bool forIv, byte[] output, int offset)
        {
            int p = offset;
            p = WriteHead(output, p, MajorArray, 5);
            p = WriteBytes(output, p, id, idOffset, idLength);
            if (idContext == null)
            {
                output[p++] = SimpleNull;
            }
            else
            {
                p = WriteBytes(output, p, idContext, idContextOffset, idContextLength);
            }

            p = WriteHead(output, p, MajorUnsigned, OscoreConstants.AlgAead);  // alg_aead = 10 (RFC 8152 §10.2)
            if (forIv)
            {
                p = WriteHead(output, p, MajorTextString, 2);
                output[p++] = 0x49; // 'I'
                output[p++] = 0x56; // 'V'
                p = WriteHead(output, p, MajorUnsigned, OscoreConstants.NonceLength);
            }
            else
            {
                p = WriteHead(output, p, MajorTextString, 3);
                output[p++] = 0x4B; // 'K'
                output[p++] = 0x65; // 'e'
                output[p++] = 0x79; // 'y'
                p = WriteHead(output, p, MajorUnsigned, OscoreConstants.KeyLength);
            }

            return p - offset;
        }

        /// <summary>
        /// aad_array = [ oscore_version = 1, [ alg_aead = 10 ], request_kid : bstr, request_piv : bstr,
        /// options : bstr (Class I, none defined → h'') ] (RFC 8613 §5.4). Returns the length written.
        /// </summary>
        public static int EncodeAadArray(byte[] requestKid, int kidOffset, int kidLength,
            byte[] requestPiv, int pivOffset, int pivLength, byte[] output, int offset)
        {
            int p = offset;
            p = WriteHead(output, p, MajorArray, 5);
            p = WriteHead(output, p, MajorUnsigned, OscoreConstants.OscoreVersion);
            p = WriteHead(output, p, MajorArray, 1);
            p = WriteHead(output, p, MajorUnsigned, OscoreConstants.AlgAead);
            p = WriteBytes(output, p, requestKid, kidOffset, kidLength);
            p = WriteBytes(output, p, requestPiv, pivOffset, pivLength);
            p = WriteHead(output, p, MajorByteString, 0); // options: no Class I options (RFC 8613 §4.1)
            return p - offset;
        }

        /// <summary>
        /// AAD = Enc_structure = [ "Encrypt0", h'', external_aad = bstr .cbor aad_array ]
        /// (RFC 8613 §5.4, RFC 8152 §5.3). Returns the length written.
        /// </summary>
        public static int EncodeAad(byte[] requestKid, int kidOffset, int kidLength,
            byte[] requestPiv, int pivOffset, int pivLength, byte[] output, int offset)
        {
            if (kidLength < 0 || kidLength > 255 || pivLength < 0 || pivLength > OscoreConstants.MaxPivLength)
            {
                throw new ArgumentOutOfRangeException("kidLength");
            }

            int p = offset;
            p = WriteHead(output, p, MajorArray, 3);
            p = WriteHead(output, p, MajorTextString, Encrypt0.Length);
            Array.Copy(Encrypt0, 0, output, p, Encrypt0.Length);
            p += Encrypt0.Length;
            p = WriteHead(output, p, MajorByteString, 0);             // protected = h'' (RFC 8613 §5: empty)

            // aad_array length: 1 + 1 + 2 + bstr(kid) + bstr(piv) + 1
            int arrayLength = 4 + HeadLength(kidLength) + kidLength + HeadLength(pivLength) + pivLength + 1;
            p = WriteHead(output, p, MajorByteString, arrayLength);   // external_aad = bstr .cbor aad_array
            p += EncodeAadArray(requestKid, kidOffset, kidLength, requestPiv, pivOffset, pivLength, output, p);
            return p - offset;
        }

        /// <summary>
        /// AEAD nonce (RFC 8613 §5.2, Figure 8): S = |ID_PIV| || ID_PIV left-padded to 7 octets || PIV
        /// left-padded to 5 octets, XOR Common IV (13 octets). ID_PIV ≤ 7 octets, PIV ≤ 5 octets.
        /// </summary>
        public static void ComputeNonce(byte[] commonIv, int commonIvOffset, byte[] idPiv, int idPivOffset, int idPivLength,
            byte[] piv, int pivOffset, int pivLength, byte[] nonce, int nonceOffset)
        {
            if (idPivLength < 0 || idPivLength > OscoreConstants.MaxIdLength)
            {
                throw new ArgumentOutOfRangeException("idPivLength");
            }

            if (pivLength < 0 || pivLength > OscoreConstants.MaxPivLength)
            {
                throw new ArgumentOutOfRangeException("pivLength");
            }

            Array.Clear(nonce, nonceOffset, OscoreConstants.NonceLength);
            nonce[nonceOffset] = (byte)idPivLength;                                    // S
            int idEnd = nonceOffset + 1 + OscoreConstants.MaxIdLength;                 // nonce length - 6 = 7 octets
            if (idPivLength > 0)
            {
                Array.Copy(idPiv, idPivOffset, nonce, idEnd - idPivLength, idPivLength);
            }

            if (pivLength > 0)
            {
                Array.Copy(piv, pivOffset, nonce, nonceOffset + OscoreConstants.NonceLength - pivLength, pivLength);
            }

            for (int i = 0; i < OscoreConstants.NonceLength; i++)
            {
                nonce[nonceOffset + i] ^= commonIv[commonIvOffset + i];
            }
        }

        private static int HeadLength(int value)
        {
            return value < 24 ? 1 : value < 256 ? 2 : 3;
        }

        // RFC 8949 §3: initial byte (major type << 5 | additional info) + argument, shortest form.
        private static int WriteHead(byte[] output, int p, int major, int value)
        {
            if (value < 24)
            {
                output[p++] = (byte)((major << 5) | value);
            }
            else if (value < 256)
            {
                output[p++] = (byte)((major << 5) | 24);
                output[p++] = (byte)value;
            }
            else
            {
                output[p++] = (byte)((major << 5) | 25);
                output[p++] = (byte)(value >> 8);
                output[p++] = (byte)value;
            }

            return p;
        }

        private static int WriteBytes(byte[] output, int p, byte[] data, int offset, int length)
        {
            if (length < 0 || length > 0xFFFF)
            {
                throw new ArgumentOutOfRangeException("length");
            }

            p = WriteHead(output, p, MajorByteString, length);
            if (length > 0)
            {
                Array.Copy(data, offset, output, p, length);
            }

            return p + length;
        }
    }
}

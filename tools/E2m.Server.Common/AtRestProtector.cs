using System;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace E2m.Server.Common
{
    /// <summary>
    /// Encryption of secrets at rest (K, OPc, e2m_int_key, ...) with AES-256-GCM under a key-encryption key (KEK)
    /// from configuration. Blob format (version 1): <c>0x01 || nonce (12) || ciphertext || tag (16)</c>; the nonce
    /// is random per blob (CSPRNG; 2^32 blobs per KEK keeps the collision risk negligible, NIST SP 800-38D §8.3).
    /// The associated data binds the blob to its place: pass a string naming table, column and row id
    /// (e.g. "hss/subscriber/001010000000001/k"), so a blob copied to another row or column fails to open.
    /// Thread-safe (a new AesGcm per call is cheap compared with the database round trip).
    /// </summary>
    public sealed class AtRestProtector : IDisposable
    {
        public const int KekLength = 32;
        public const byte FormatVersion = 1;
        private const int NonceLength = 12, TagLength = 16;

        private readonly byte[] _kek;

        public AtRestProtector(byte[] kek)
        {
            ArgumentNullException.ThrowIfNull(kek);
            if (kek.Length != KekLength)
            {
                throw new ArgumentException($"the key-encryption key must be {KekLength} octets (got {kek.Length})", nameof(kek));
            }

            _kek = (byte[])kek.Clone();
        }

        /// <summary>
        /// Parses a KEK given as 64 hex digits or base64 of 32 octets. Throws <see cref="FormatException"/> with a clear
        /// message (never echoing the value).
        /// </summary>
        public static byte[] ParseKek(string text)
        {
            string s = (text ?? string.Empty).Trim();
            byte[]? k = null;
            if (s.Length == 2 * KekLength)
            {
                try
                {
                    k = Convert.FromHexString(s);
                }
                catch (FormatException)
                {
                    k = null;
                }
            }

            if (k == null)
            {
                try
                {
                    k = Convert.FromBase64String(s);
                }
                catch (FormatException)
                {
                    throw new FormatException($"the key-encryption key must be {2 * KekLength} hex digits or base64 of {KekLength} octets");
                }
            }

            if (k.Length != KekLength)
            {
                throw new FormatException($"the key-encryption key must be {KekLength} octets (got {k.Length})");
            }

            return k;
        }

        /// <summary>Reads a KEK file (hex or base64 text) such as the dev KEK written by <c>e2m pki init</c>.</summary>
        public static byte[] ReadKekFile(string path)
        {
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"key-encryption key file '{path}' not found (run `e2m pki init --data-dir DIR`)", path);
            }

            return ParseKek(File.ReadAllText(path));
        }

        /// <summary>Generates a fresh KEK file (CSPRNG, hex, file mode 0600 where supported). Does not overwrite.</summary>
        public static void WriteNewKekFile(string path)
        {
            byte[] k = RandomNumberGenerator.GetBytes(KekLength);
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                var opts = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    opts.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                using var fs = new FileStream(path, opts);
                byte[] text = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(k) + "\n");
                fs.Write(text);
                CryptographicOperations.ZeroMemory(text);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(k);
            }
        }

        public byte[] Protect(byte[] plaintext, string associatedData)
        {
            ArgumentNullException.ThrowIfNull(plaintext);
            byte[] ad = Encoding.UTF8.GetBytes(associatedData);
            byte[] blob = new byte[1 + NonceLength + plaintext.Length + TagLength];
            blob[0] = FormatVersion;
            RandomNumberGenerator.Fill(blob.AsSpan(1, NonceLength));
            using var gcm = new AesGcm(_kek, TagLength);
            gcm.Encrypt(
                blob.AsSpan(1, NonceLength),
                plaintext,
                blob.AsSpan(1 + NonceLength, plaintext.Length),
                blob.AsSpan(1 + NonceLength + plaintext.Length, TagLength),
                ad);
            return blob;
        }

        /// <summary>Decrypts a blob; throws <see cref="CryptographicException"/> if it was altered, moved or the KEK is wrong.</summary>
        public byte[] Unprotect(byte[] blob, string associatedData)
        {
            ArgumentNullException.ThrowIfNull(blob);
            if (blob.Length < 1 + NonceLength + TagLength || blob[0] != FormatVersion)
            {
                throw new CryptographicException("at-rest blob has an unknown format");
            }

            int n = blob.Length - 1 - NonceLength - TagLength;
            byte[] plaintext = new byte[n];
            byte[] ad = Encoding.UTF8.GetBytes(associatedData);
            using var gcm = new AesGcm(_kek, TagLength);
            try
            {
                gcm.Decrypt(
                    blob.AsSpan(1, NonceLength),
                    blob.AsSpan(1 + NonceLength, n),
                    blob.AsSpan(1 + NonceLength + n, TagLength),
                    plaintext,
                    ad);
            }
            catch (AuthenticationTagMismatchException)
            {
                throw new CryptographicException("at-rest blob failed authentication (wrong KEK, altered or moved row)");
            }

            return plaintext;
        }

        public void Dispose() => CryptographicOperations.ZeroMemory(_kek);
    }
}

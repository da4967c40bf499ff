using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;
using E2m.Crypto;
using AesNi = System.Runtime.Intrinsics.X86.Aes;
using Sse2 = System.Runtime.Intrinsics.X86.Sse2;

namespace E2m.Hal.Host
{
    /// <summary>
    /// AES-128 forward cipher (FIPS 197) for the host: the x86 AES-NI instructions through .NET hardware intrinsics
    /// when the CPU has them (one AESENC per round, round keys in registers: a few ns per block, no call into native
    /// code), else one cached ECB/no-padding <see cref="ICryptoTransform"/> of System.Security.Cryptography per key.
    /// Measured (README, tools/E2m.Bench): calling OpenSSL per 16-octet block costs far more than the cipher itself,
    /// which is why neither <c>Aes.EncryptEcb</c> (a native context per call) nor System <c>AesCcm</c> (a native
    /// context per message) is used on the per-message paths. Both paths are checked against FIPS 197 and the
    /// portable <see cref="Aes128"/> in tests/E2m.Crypto.Tests.
    /// </summary>
    public sealed class PlatformAes128 : IAes128, IDisposable
    {
        private const int BlockLength = 16;
        private readonly bool _useAesNi;
        private readonly byte[] _block = new byte[BlockLength];
        private readonly Vector128<byte>[] _roundKeys = new Vector128<byte>[11]; // Nr + 1 = 11 (FIPS 197 §5.2)
        private bool _keyed;
        private Aes? _aes;
        private ICryptoTransform? _encryptor;

        public PlatformAes128()
            : this(AesNi.IsSupported)
        {
        }

        /// <summary>For tests: <paramref name="useAesNi"/> false forces the System.Security.Cryptography path.</summary>
        public PlatformAes128(bool useAesNi)
        {
            _useAesNi = useAesNi && AesNi.IsSupported;
        }

        /// <summary>True when blocks are encrypted with AES-NI instructions.</summary>
        public bool UsesAesNi => _useAesNi;

        public void SetKey(byte[] key, int offset)
        {
            ArgumentNullException.ThrowIfNull(key);
            if (offset < 0 || offset > key.Length - 16) throw new ArgumentOutOfRangeException(nameof(offset));
            Clear();
            if (_useAesNi)
            {
                ExpandKey(Vector128.Create(key.AsSpan(offset, BlockLength)), _roundKeys);
                _keyed = true;
                return;
            }

            _aes = Aes.Create();
            _aes.Mode = CipherMode.ECB;
            _aes.Padding = PaddingMode.None;
            Array.Copy(key, offset, _block, 0, BlockLength);
            _encryptor = _aes.CreateEncryptor(_block, null); // FIPS 197 forward cipher only
            Array.Clear(_block);
            _aes.Key = _block; // drop the copy held by the Aes object; the transform keeps its own context
            _keyed = true;
        }

        public void EncryptBlock(byte[] input, int inputOffset, byte[] output, int outputOffset)
        {
            if (!_keyed) throw new InvalidOperationException("SetKey first");
            ArgumentNullException.ThrowIfNull(input);
            ArgumentNullException.ThrowIfNull(output);
            if (inputOffset < 0 || inputOffset > input.Length - BlockLength) throw new ArgumentOutOfRangeException(nameof(inputOffset));
            if (outputOffset < 0 || outputOffset > output.Length - BlockLength) throw new ArgumentOutOfRangeException(nameof(outputOffset));
            if (_useAesNi)
            {
                // FIPS 197 §5.1: AddRoundKey, 9 × (SubBytes, ShiftRows, MixColumns, AddRoundKey), final round without MixColumns.
                Vector128<byte>[] rk = _roundKeys;
                Vector128<byte> s = Vector128.Create(input.AsSpan(inputOffset, BlockLength)) ^ rk[0];
                s = AesNi.Encrypt(s, rk[1]);
                s = AesNi.Encrypt(s, rk[2]);
                s = AesNi.Encrypt(s, rk[3]);
                s = AesNi.Encrypt(s, rk[4]);
                s = AesNi.Encrypt(s, rk[5]);
                s = AesNi.Encrypt(s, rk[6]);
                s = AesNi.Encrypt(s, rk[7]);
                s = AesNi.Encrypt(s, rk[8]);
                s = AesNi.Encrypt(s, rk[9]);
                s = AesNi.EncryptLast(s, rk[10]);
                s.CopyTo(output.AsSpan(outputOffset, BlockLength));
                return;
            }

            if (ReferenceEquals(input, output) && inputOffset != outputOffset && Math.Abs(inputOffset - outputOffset) < BlockLength)
            {
                // Partial overlap: go through a buffer (exact in-place is fine for the native cipher).
                Array.Copy(input, inputOffset, _block, 0, BlockLength);
                input = _block;
                inputOffset = 0;
            }

            int written = _encryptor!.TransformBlock(input, inputOffset, BlockLength, output, outputOffset);
            if (written != BlockLength) throw new CryptographicException("AES-ECB wrote " + written);
            Array.Clear(_block);
        }

        public void Clear()
        {
            Array.Clear(_roundKeys);
            _keyed = false;
            _encryptor?.Dispose();
            _encryptor = null;
            _aes?.Dispose();
            _aes = null;
            Array.Clear(_block);
        }

        public void Dispose() => Clear();

        // FIPS 197 §5.2 KeyExpansion for Nk = 4 with AESKEYGENASSIST (RotWord/SubWord/Rcon); the immediates are literals.
        internal static void ExpandKey(Vector128<byte> key, Vector128<byte>[] rk)
        {
            rk[0] = key;
            rk[1] = key = Step(key, AesNi.KeygenAssist(key, 0x01));
            rk[2] = key = Step(key, AesNi.KeygenAssist(key, 0x02));
            rk[3] = key = Step(key, AesNi.KeygenAssist(key, 0x04));
            rk[4] = key = Step(key, AesNi.KeygenAssist(key, 0x08));
            rk[5] = key = Step(key, AesNi.KeygenAssist(key, 0x10));
            rk[6] = key = Step(key, AesNi.KeygenAssist(key, 0x20));
            rk[7] = key = Step(key, AesNi.KeygenAssist(key, 0x40));
            rk[8] = key = Step(key, AesNi.KeygenAssist(key, 0x80));
            rk[9] = key = Step(key, AesNi.KeygenAssist(key, 0x1B));
            rk[10] = Step(key, AesNi.KeygenAssist(key, 0x36));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> Step(Vector128<byte> key, Vector128<byte> assist)
        {
            // w[i] = w[i-4] ^ temp, chained over the four words: prefix-xor of the previous round key, then the
            // broadcast of SubWord(RotWord(w[i-1])) ^ Rcon (word 3 of the assist result).
            Vector128<byte> t = Sse2.Shuffle(assist.AsInt32(), 0xFF).AsByte();
            key ^= Sse2.ShiftLeftLogical128BitLane(key, 4);
            key ^= Sse2.ShiftLeftLogical128BitLane(key, 4);
            key ^= Sse2.ShiftLeftLogical128BitLane(key, 4);
            return key ^ t;
        }
    }
}

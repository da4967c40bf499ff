using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using E2m.Crypto;
using AesNi = System.Runtime.Intrinsics.X86.Aes;

namespace E2m.Hal.Host
{
    /// <summary>
    /// AES-CCM (RFC 3610) with M = 8 and L = 2, COSE AES-CCM-16-64-128 (RFC 8613 §3.2.1), on the x86 AES-NI
    /// instructions for the host: the same algorithm and contract as the portable <see cref="AesCcm"/> (in-place
    /// operation, an output starting inside the input ahead of it rejected, constant-time tag check, zeroed output on a
    /// mismatch), but whole 16-octet blocks in vector registers and the round keys in one place, instead of a byte loop
    /// and an interface call per block. The EMSE verifies and protects every datagram with it: the portable CCM over
    /// <see cref="PlatformAes128"/> was the largest single cost of an EMSE shard (issue 6 profile). Checked against the
    /// RFC 3610 packet vectors and System.Security.Cryptography.AesCcm in tests/E2m.Crypto.Tests.
    /// </summary>
    public sealed class PlatformAesCcm : IAesCcm
    {
        private const int Block = 16;

        private RoundKeys _k;
        private bool _keyed;

        /// <summary>True when this CPU has the AES-NI instructions (else use the portable CCM).</summary>
        public static bool IsSupported => AesNi.IsSupported;

        public PlatformAesCcm()
        {
            if (!AesNi.IsSupported)
            {
                throw new PlatformNotSupportedException("AES-NI");
            }
        }

        public void SetKey(byte[] key, int offset)
        {
            CryptoUtil.CheckRange(key, offset, AesCcm.KeyLength, nameof(key));
            Vector128<byte>[] rk = new Vector128<byte>[11];
            PlatformAes128.ExpandKey(Vector128.Create(key.AsSpan(offset, AesCcm.KeyLength)), rk);
            _k = new RoundKeys(rk);
            Array.Clear(rk);
            _keyed = true;
        }

        public void Clear()
        {
            _k = default;
            _keyed = false;
        }

        public void Encrypt(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength,
            byte[] input, int inputOffset, int inputLength, byte[] output, int outputOffset)
        {
            CheckCommon(nonce, nonceOffset, aad, aadOffset, aadLength);
            CryptoUtil.CheckRange(input, inputOffset, inputLength, nameof(input));
            if (inputLength > AesCcm.MaxMessageLength) throw new ArgumentException("message too long for L=2", nameof(input));
            CryptoUtil.CheckRange(output, outputOffset, inputLength + AesCcm.TagLength, nameof(output));
            CryptoUtil.CheckNotAhead(input, inputOffset, inputLength, output, outputOffset);

            Span<byte> buffer = stackalloc byte[Block];
            Vector128<byte> x = StartMac(nonce, nonceOffset, aad, aadOffset, aadLength, inputLength, buffer);
            Vector128<byte> a0 = CounterBase(nonce, nonceOffset);
            int off = 0;
            int counter = 1;
            while (off < inputLength)
            {
                int n = Math.Min(Block, inputLength - off);
                Vector128<byte> p = Load(input, inputOffset + off, n, buffer);  // read before the (maybe aliased) write
                Vector128<byte> s = E(WithCounter(a0, counter), ref _k);        // RFC 3610 §2.3: S_i = E(K, A_i)
                x = E(x ^ p, ref _k);                                          // §2.2: CBC-MAC over the message blocks
                Store(p ^ s, output, outputOffset + off, n, buffer);
                off += n;
                counter++;
            }

            // §2.3: U = first M octets of T xor S_0.
            Vector128<byte> u = x ^ E(a0, ref _k);
            BinaryPrimitives.WriteUInt64LittleEndian(output.AsSpan(outputOffset + inputLength, AesCcm.TagLength), u.AsUInt64().GetElement(0));
            buffer.Clear();
        }

        public bool Decrypt(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength,
            byte[] input, int inputOffset, int inputLength, byte[] output, int outputOffset)
        {
            CheckCommon(nonce, nonceOffset, aad, aadOffset, aadLength);
            CryptoUtil.CheckRange(input, inputOffset, inputLength, nameof(input));
            if (inputLength < AesCcm.TagLength) throw new ArgumentException("shorter than the tag", nameof(input));
            int messageLength = inputLength - AesCcm.TagLength;
            if (messageLength > AesCcm.MaxMessageLength) throw new ArgumentException("message too long for L=2", nameof(input));
            CryptoUtil.CheckRange(output, outputOffset, messageLength, nameof(output));
            CryptoUtil.CheckNotAhead(input, inputOffset, messageLength, output, outputOffset);

            // The received U, before the output (which may alias the input) is written.
            ulong received = BinaryPrimitives.ReadUInt64LittleEndian(input.AsSpan(inputOffset + messageLength, AesCcm.TagLength));

            Span<byte> buffer = stackalloc byte[Block];
            Vector128<byte> x = StartMac(nonce, nonceOffset, aad, aadOffset, aadLength, messageLength, buffer);
            Vector128<byte> a0 = CounterBase(nonce, nonceOffset);
            int off = 0;
            int counter = 1;
            while (off < messageLength)
            {
                int n = Math.Min(Block, messageLength - off);
                Vector128<byte> c = Load(input, inputOffset + off, n, buffer);
                Vector128<byte> s = E(WithCounter(a0, counter), ref _k);
                Vector128<byte> p = c ^ s;
                if (n < Block)
                {
                    p &= PrefixMask(n); // the MAC pads the last block with zeros, not with key stream
                }

                Store(p, output, outputOffset + off, n, buffer);
                x = E(x ^ p, ref _k);
                off += n;
                counter++;
            }

            ulong expected = (x ^ E(a0, ref _k)).AsUInt64().GetElement(0); // octets 0..7 as little-endian, like received
            buffer.Clear();
            bool ok = (expected ^ received) == 0; // one comparison of the whole tag: no early exit per octet
            if (!ok)
            {
                Array.Clear(output, outputOffset, messageLength);
            }

            return ok;
        }

        // RFC 3610 §2.2: X_1 = E(K, B_0), B_0 = Flags || N || l(m); then the AAD blocks: l(a) (2 octets) || a, zero-padded.
        private Vector128<byte> StartMac(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength, int messageLength, Span<byte> buffer)
        {
            buffer[0] = aadLength > 0 ? (byte)(0x40 | FlagsB0) : FlagsB0;
            nonce.AsSpan(nonceOffset, AesCcm.NonceLength).CopyTo(buffer.Slice(1));
            buffer[14] = (byte)(messageLength >> 8);
            buffer[15] = (byte)messageLength;
            Vector128<byte> x = E(Vector128.Create((ReadOnlySpan<byte>)buffer), ref _k);
            if (aadLength == 0)
            {
                return x;
            }

            buffer.Clear();
            buffer[0] = (byte)(aadLength >> 8);
            buffer[1] = (byte)aadLength;
            int pos = 2;
            int done = 0;
            while (done < aadLength)
            {
                int take = Math.Min(Block - pos, aadLength - done);
                aad.AsSpan(aadOffset + done, take).CopyTo(buffer.Slice(pos));
                pos += take;
                done += take;
                if (pos == Block)
                {
                    x = E(x ^ Vector128.Create((ReadOnlySpan<byte>)buffer), ref _k);
                    buffer.Clear();
                    pos = 0;
                }
            }

            if (pos != 0)
            {
                x = E(x ^ Vector128.Create((ReadOnlySpan<byte>)buffer), ref _k); // the rest of the block is zero
            }

            return x;
        }

        // RFC 3610 §2.2: Flags = 64*Adata + 8*M' + L', M' = (M-2)/2 = 3, L' = L-1 = 1.
        private const byte FlagsB0 = (byte)((8 * ((AesCcm.TagLength - 2) / 2)) + 1);

        // RFC 3610 §2.3: A_i = Flags (L' = 1) || N || i (2 octets, big-endian); A_0 here, i set by WithCounter.
        private static Vector128<byte> CounterBase(byte[] nonce, int nonceOffset)
        {
            Span<byte> a = stackalloc byte[Block];
            a[0] = 1;
            nonce.AsSpan(nonceOffset, AesCcm.NonceLength).CopyTo(a.Slice(1));
            return Vector128.Create((ReadOnlySpan<byte>)a);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> WithCounter(Vector128<byte> a0, int i) =>
            a0.AsUInt16().WithElement(7, (ushort)(((i & 0xFF) << 8) | ((i >> 8) & 0xFF))).AsByte(); // octets 14, 15 big-endian

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> Load(byte[] source, int offset, int n, Span<byte> buffer)
        {
            if (n == Block)
            {
                return Vector128.Create(source.AsSpan(offset, Block));
            }

            buffer.Clear();
            source.AsSpan(offset, n).CopyTo(buffer);
            return Vector128.Create((ReadOnlySpan<byte>)buffer);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Store(Vector128<byte> v, byte[] target, int offset, int n, Span<byte> buffer)
        {
            if (n == Block)
            {
                v.CopyTo(target.AsSpan(offset, Block));
                return;
            }

            v.CopyTo(buffer);
            buffer.Slice(0, n).CopyTo(target.AsSpan(offset, n));
        }

        private static Vector128<byte> PrefixMask(int n)
        {
            Span<byte> m = stackalloc byte[Block];
            m.Slice(0, n).Fill(0xFF);
            return Vector128.Create((ReadOnlySpan<byte>)m);
        }

        // FIPS 197 §5.1 forward cipher, Nr = 10.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> E(Vector128<byte> s, ref RoundKeys k)
        {
            s ^= k.K0;
            s = AesNi.Encrypt(s, k.K1);
            s = AesNi.Encrypt(s, k.K2);
            s = AesNi.Encrypt(s, k.K3);
            s = AesNi.Encrypt(s, k.K4);
            s = AesNi.Encrypt(s, k.K5);
            s = AesNi.Encrypt(s, k.K6);
            s = AesNi.Encrypt(s, k.K7);
            s = AesNi.Encrypt(s, k.K8);
            s = AesNi.Encrypt(s, k.K9);
            return AesNi.EncryptLast(s, k.K10);
        }

        private void CheckCommon(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength)
        {
            if (!_keyed) throw new InvalidOperationException("SetKey first");
            CryptoUtil.CheckRange(nonce, nonceOffset, AesCcm.NonceLength, nameof(nonce));
            if (aadLength < 0) throw new ArgumentOutOfRangeException(nameof(aadLength));
            if (aadLength > AesCcm.MaxAadLength) throw new ArgumentException("aad longer than 0xFEFF", nameof(aad));
            if (aadLength > 0) CryptoUtil.CheckRange(aad, aadOffset, aadLength, nameof(aad));
        }

        /// <summary>The 11 round keys (FIPS 197 §5.2) side by side, read by the inlined rounds without bounds checks.</summary>
        private struct RoundKeys
        {
            public Vector128<byte> K0, K1, K2, K3, K4, K5, K6, K7, K8, K9, K10;

            public RoundKeys(Vector128<byte>[] rk)
            {
                K0 = rk[0]; K1 = rk[1]; K2 = rk[2]; K3 = rk[3]; K4 = rk[4]; K5 = rk[5];
                K6 = rk[6]; K7 = rk[7]; K8 = rk[8]; K9 = rk[9]; K10 = rk[10];
            }
        }
    }
}

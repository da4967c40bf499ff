#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>
    /// AES-CCM (RFC 3610) with M = 8 (8-octet tag) and L = 2 (13-octet nonce): COSE algorithm 10
    /// AES-CCM-16-64-128 used by OSCORE (RFC 8613 §3.2.1, RFC 9053 §4.2). Message length up to 65535
    /// octets (L = 2), AAD up to 0xFEFF octets (2-octet length encoding, RFC 3610 §2.2).
    /// In-place operation (output == input at the same offset) is supported; an output that starts
    /// inside the input beyond its start is rejected. Zero allocations per operation.
    /// </summary>
    public sealed class AesCcm : IAesCcm
    {
        public const int TagLength = 8;     // M, RFC 3610 §2
        public const int NonceLength = 13;  // 15 - L, RFC 3610 §2
        public const int KeyLength = 16;    // AES-128
        public const int MaxAadLength = 0xFEFF;     // RFC 3610 §2.2: 0 < l(a) < 2^16 - 2^8 uses 2 octets
        public const int MaxMessageLength = 0xFFFF; // l(m) < 2^(8L), L = 2

        private const int L = 2;
        private const int Block = 16;

        // RFC 3610 §2.2: Flags = 64*Adata + 8*M' + L', M' = (M-2)/2, L' = L-1.
        private const byte FlagsB0 = (byte)(8 * ((TagLength - 2) / 2) + (L - 1));
        private const byte FlagsAdata = 0x40;

        // RFC 3610 §2.3: Flags of A_i = L'.
        private const byte FlagsA = (byte)(L - 1);

        private readonly IAes128 _aes;
        private readonly byte[] _x = new byte[Block];   // CBC-MAC chaining value X_i
        private readonly byte[] _a = new byte[Block];   // counter block A_i
        private readonly byte[] _s = new byte[Block];   // key stream S_i
        private readonly byte[] _tag = new byte[TagLength];

        public AesCcm(IAes128 aes)
        {
            if (aes == null) throw new ArgumentNullException("aes");
            _aes = aes;
        }

        public void SetKey(byte[] key, int offset)
        {
            CryptoUtil.CheckRange(key, offset, KeyLength, "key");
            _aes.SetKey(key, offset);
        }

        /// <summary>Zeroises the key schedule and the scratch blocks.</summary>
        public void Clear()
        {
            _aes.Clear();
            Wipe();
        }

        /// <summary>Writes inputLength + 8 octets (ciphertext || tag U), RFC 3610 §2.2–§2.4.</summary>
        public void Encrypt(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength,
            byte[] input, int inputOffset, int inputLength, byte[] output, int outputOffset)
        {
            CheckCommon(nonce, nonceOffset, aad, aadOffset, aadLength);
            CryptoUtil.CheckRange(input, inputOffset, inputLength, "input");
            if (inputLength > MaxMessageLength) throw new ArgumentException("message too long for L=2", "input");
            CryptoUtil.CheckRange(output, outputOffset, inputLength + TagLength, "output");
            CryptoUtil.CheckNotAhead(input, inputOffset, inputLength, output, outputOffset);

            // RFC 3610 §2.2: T = first M octets of the CBC-MAC over B_0 || AAD blocks || message blocks.
            ComputeMac(nonce, nonceOffset, aad, aadOffset, aadLength, input, inputOffset, inputLength);

            // RFC 3610 §2.3: C = m xor S_1 || S_2 ...; U = T xor first-M-octets(S_0).
            Ctr(nonce, nonceOffset, input, inputOffset, inputLength, output, outputOffset);
            SetCounter(nonce, nonceOffset, 0);
            _aes.EncryptBlock(_a, 0, _s, 0);
            int tagOff = outputOffset + inputLength;
            for (int i = 0; i < TagLength; i++)
            {
                output[tagOff + i] = (byte)(_x[i] ^ _s[i]);
            }

            Wipe();
        }

        /// <summary>
        /// RFC 3610 §2.5: decrypts inputLength − 8 octets to output and verifies the tag in constant
        /// time. Returns false (and zeroes the octets written) on mismatch.
        /// </summary>
        public bool Decrypt(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength,
            byte[] input, int inputOffset, int inputLength, byte[] output, int outputOffset)
        {
            CheckCommon(nonce, nonceOffset, aad, aadOffset, aadLength);
            CryptoUtil.CheckRange(input, inputOffset, inputLength, "input");
            if (inputLength < TagLength) throw new ArgumentException("shorter than the tag", "input");
            int messageLength = inputLength - TagLength;
            if (messageLength > MaxMessageLength) throw new ArgumentException("message too long for L=2", "input");
            CryptoUtil.CheckRange(output, outputOffset, messageLength, "output");
            CryptoUtil.CheckNotAhead(input, inputOffset, messageLength, output, outputOffset);

            // Keep the received U before the output (which may alias the input) is written.
            Array.Copy(input, inputOffset + messageLength, _tag, 0, TagLength);

            Ctr(nonce, nonceOffset, input, inputOffset, messageLength, output, outputOffset);
            ComputeMac(nonce, nonceOffset, aad, aadOffset, aadLength, output, outputOffset, messageLength);

            // Expected U = T xor S_0, into _s.
            SetCounter(nonce, nonceOffset, 0);
            _aes.EncryptBlock(_a, 0, _s, 0);
            for (int i = 0; i < TagLength; i++)
            {
                _s[i] ^= _x[i];
            }

            bool ok = CryptoUtil.FixedTimeEquals(_s, 0, _tag, 0, TagLength);
            if (!ok)
            {
                Array.Clear(output, outputOffset, messageLength);
            }

            Wipe();
            return ok;
        }

        private static void CheckCommon(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength)
        {
            CryptoUtil.CheckRange(nonce, nonceOffset, NonceLength, "nonce");
            if (aadLength < 0) throw new ArgumentOutOfRangeException("aadLength");
            if (aadLength > MaxAadLength) throw new ArgumentException("aad longer than 0xFEFF", "aad");
            if (aadLength > 0) CryptoUtil.CheckRange(aad, aadOffset, aadLength, "aad");
        }

        // RFC 3610 §2.2: CBC-MAC, result in _x (first M octets are T).
        private void ComputeMac(byte[] nonce, int nonceOffset, byte[] aad, int aadOffset, int aadLength,
            byte[] msg, int msgOffset, int msgLength)
        {
            // B_0 = Flags || Nonce N || l(m) (2 octets, big-endian).
            _x[0] = aadLength > 0 ? (byte)(FlagsAdata | FlagsB0) : FlagsB0;
            Array.Copy(nonce, nonceOffset, _x, 1, NonceLength);
            _x[14] = (byte)(msgLength >> 8);
            _x[15] = (byte)msgLength;
            _aes.EncryptBlock(_x, 0, _x, 0); // X_1 := E(K, B_0)

            if (aadLength > 0)
            {
                // l(a) as 2 octets, then a, zero-padded to a block boundary.
                _x[0] ^= (byte)(aadLength >> 8);
                _x[1] ^= (byte)aadLength;
                int pos = 2;
                int done = 0;
                while (done < aadLength)
                {
                    _x[pos] ^= aad[aadOffset + done];
                    done++;
                    pos++;
                    if (pos == Block)
                    {
                        _aes.EncryptBlock(_x, 0, _x, 0);
                        pos = 0;
                    }
                }

                if (pos != 0)
                {
                    _aes.EncryptBlock(_x, 0, _x, 0); // remaining octets are zero padding (xor 0)
                }
            }

            int off = 0;
            while (off < msgLength)
            {
                int n = msgLength - off;
                if (n > Block) n = Block;
                for (int i = 0; i < n; i++)
                {
                    _x[i] ^= msg[msgOffset + off + i];
                }

                _aes.EncryptBlock(_x, 0, _x, 0);
                off += n;
            }
        }

        // RFC 3610 §2.3: counter mode with A_i = Flags || Nonce || i, i starting at 1 for the message.
        private void Ctr(byte[] nonce, int nonceOffset, byte[] input, int inputOffset, int length, byte[] output, int outputOffset)
        {
            int off = 0;
            int counter = 1;
            while (off < length)
            {
                SetCounter(nonce, nonceOffset, counter);
                _aes.EncryptBlock(_a, 0, _s, 0);
                int n = length - off;
                if (n > Block) n = Block;
                for (int i = 0; i < n; i++)
                {
                    output[outputOffset + off + i] = (byte)(input[inputOffset + off + i] ^ _s[i]);
                }

                off += n;
                counter++;
            }
        }

        private void SetCounter(byte[] nonce, int nonceOffset, int i)
        {
            _a[0] = FlagsA;
            Array.Copy(nonce, nonceOffset, _a, 1, NonceLength);
            _a[14] = (byte)(i >> 8);
            _a[15] = (byte)i;
        }

        private void Wipe()
        {
            Array.Clear(_x, 0, Block);
            Array.Clear(_a, 0, Block);
            Array.Clear(_s, 0, Block);
            Array.Clear(_tag, 0, TagLength);
        }
    }
}

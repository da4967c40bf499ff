#nullable disable // portable code: nullable off (DESIGN.md §9); see README
using System;

namespace E2m.Crypto
{
    /// <summary>
    /// The MILENAGE algorithm set f1, f1*, f2, f3, f4, f5, f5* (3GPP TS 35.206 §4.1) on a pluggable
    /// AES-128 (the kernel E_K of TS 35.206 §3, Rijndael with 128-bit key and block). Arrays are exact
    /// length at offset 0; a wrong length throws ArgumentException. Zero allocations per call.
    /// </summary>
    public sealed class Milenage
    {
        public const int KLength = 16, OpLength = 16, OpcLength = 16, RandLength = 16;
        public const int SqnLength = 6, AmfLength = 2, MacLength = 8;
        public const int ResLength = 8, CkLength = 16, IkLength = 16, AkLength = 6;

        // TS 35.206 §4.1: rotation constants r1..r5 in bits (all multiples of 8, applied as octet rotations).
        private const int R1 = 64;
        private const int R2 = 0;
        private const int R3 = 32;
        private const int R4 = 64;
        private const int R5 = 96;

        // TS 35.206 §4.1: constants c1..c5 are 128-bit values that are zero except the last octet.
        private const byte C1 = 0x00;
        private const byte C2 = 0x01;
        private const byte C3 = 0x02;
        private const byte C4 = 0x04;
        private const byte C5 = 0x08;

        private const int Block = 16;

        private readonly IAes128 _aes;
        private readonly byte[] _opc = new byte[OpcLength];
        private readonly byte[] _temp = new byte[Block];
        private readonly byte[] _in = new byte[Block];
        private readonly byte[] _out = new byte[Block];
        private bool _keyed;

        /// <summary>Scratch of <see cref="MacLength"/> octets for the AKA helpers (constant-time compares).</summary>
        internal readonly byte[] MacScratch = new byte[MacLength];

        public Milenage(IAes128 aes)
        {
            if (aes == null) throw new ArgumentNullException("aes");
            _aes = aes;
        }

        /// <summary>
        /// OPc = OP xor E_K(OP) (TS 35.206 §4.1). Loads k into <paramref name="aes"/> as a side effect.
        /// opc must not be the same array as op.
        /// </summary>
        public static void ComputeOpc(IAes128 aes, byte[] k, byte[] op, byte[] opc)
        {
            if (aes == null) throw new ArgumentNullException("aes");
            CryptoUtil.CheckExact(k, KLength, "k");
            CryptoUtil.CheckExact(op, OpLength, "op");
            CryptoUtil.CheckExact(opc, OpcLength, "opc");
            if (ReferenceEquals(op, opc)) throw new ArgumentException("opc must not alias op", "opc");
            aes.SetKey(k, 0);
            aes.EncryptBlock(op, 0, opc, 0);
            for (int i = 0; i < OpcLength; i++)
            {
                opc[i] ^= op[i];
            }
        }

        /// <summary>Loads the subscriber key K and OPc (TS 35.206 §2: OPc is what the USIM stores).</summary>
        public void SetKey(byte[] k, byte[] opc)
        {
            CryptoUtil.CheckExact(k, KLength, "k");
            CryptoUtil.CheckExact(opc, OpcLength, "opc");
            _aes.SetKey(k, 0);
            Array.Copy(opc, 0, _opc, 0, OpcLength);
            _keyed = true;
        }

        /// <summary>Zeroises K (key schedule), OPc and all intermediate values.</summary>
        public void Clear()
        {
            _aes.Clear();
            Array.Clear(_opc, 0, OpcLength);
            Wipe();
            _keyed = false;
        }

        /// <summary>f1 (MAC-A) and f1* (MAC-S), TS 35.206 §4.1 OUT1; either output may be null.</summary>
        public void F1(byte[] rand, byte[] sqn, byte[] amf, byte[] macA, byte[] macS)
        {
            CryptoUtil.CheckExact(rand, RandLength, "rand");
            CryptoUtil.CheckExact(sqn, SqnLength, "sqn");
            CryptoUtil.CheckExact(amf, AmfLength, "amf");
            CryptoUtil.CheckExactOrNull(macA, MacLength, "macA");
            CryptoUtil.CheckExactOrNull(macS, MacLength, "macS");
            F1Core(rand, sqn, 0, amf, 0, macA, 0, macS, 0);
        }

        /// <summary>f2 (RES), f3 (CK), f4 (IK), f5 (AK), TS 35.206 §4.1 OUT2..OUT4; any output may be null.</summary>
        public void F2345(byte[] rand, byte[] res, byte[] ck, byte[] ik, byte[] ak)
        {
            CryptoUtil.CheckExact(rand, RandLength, "rand");
            CryptoUtil.CheckExactOrNull(res, ResLength, "res");
            CryptoUtil.CheckExactOrNull(ck, CkLength, "ck");
            CryptoUtil.CheckExactOrNull(ik, IkLength, "ik");
            CryptoUtil.CheckExactOrNull(ak, AkLength, "ak");
            CheckKeyed();
            ComputeTemp(rand);
            if (res != null || ak != null)
            {
                // OUT2 = E_K(rot(TEMP xor OPc, r2) xor c2) xor OPc; f5 = OUT2[0..47], f2 = OUT2[64..127].
                Out(R2, C2);
                if (ak != null) Array.Copy(_out, 0, ak, 0, AkLength);
                if (res != null) Array.Copy(_out, 8, res, 0, ResLength);
            }

            if (ck != null)
            {
                // OUT3 = E_K(rot(TEMP xor OPc, r3) xor c3) xor OPc; f3 = OUT3.
                Out(R3, C3);
                Array.Copy(_out, 0, ck, 0, CkLength);
            }

            if (ik != null)
            {
                // OUT4 = E_K(rot(TEMP xor OPc, r4) xor c4) xor OPc; f4 = OUT4.
                Out(R4, C4);
                Array.Copy(_out, 0, ik, 0, IkLength);
            }

            Wipe();
        }

        /// <summary>f5* (AK* for resynchronisation), TS 35.206 §4.1 OUT5[0..47].</summary>
        public void F5Star(byte[] rand, byte[] akStar)
        {
            CryptoUtil.CheckExact(rand, RandLength, "rand");
            CryptoUtil.CheckExact(akStar, AkLength, "akStar");
            F5StarCore(rand, akStar, 0);
        }

        /// <summary>f5 (AK) into output at an offset (for the AKA helpers).</summary>
        internal void F5Core(byte[] rand, byte[] output, int outputOffset)
        {
            CheckKeyed();
            ComputeTemp(rand);
            Out(R2, C2);
            Array.Copy(_out, 0, output, outputOffset, AkLength);
            Wipe();
        }

        /// <summary>f5* into output at an offset (for the AKA helpers).</summary>
        internal void F5StarCore(byte[] rand, byte[] output, int outputOffset)
        {
            CheckKeyed();
            ComputeTemp(rand);
            Out(R5, C5); // OUT5 = E_K(rot(TEMP xor OPc, r5) xor c5) xor OPc
            Array.Copy(_out, 0, output, outputOffset, AkLength);
            Wipe();
        }

        /// <summary>f1/f1* with offsets; outputs may be null.</summary>
        internal void F1Core(byte[] rand, byte[] sqn, int sqnOffset, byte[] amf, int amfOffset,
            byte[] macA, int macAOffset, byte[] macS, int macSOffset)
        {
            CheckKeyed();
            ComputeTemp(rand);

            // IN1 = SQN[0..47] || AMF[0..15] || SQN[0..47] || AMF[0..15] (TS 35.206 §4.1).
            Array.Copy(sqn, sqnOffset, _in, 0, SqnLength);
            Array.Copy(amf, amfOffset, _in, 6, AmfLength);
            Array.Copy(sqn, sqnOffset, _in, 8, SqnLength);
            Array.Copy(amf, amfOffset, _in, 14, AmfLength);

            // OUT1 = E_K(TEMP xor rot(IN1 xor OPc, r1) xor c1) xor OPc.
            int shift = R1 / 8;
            for (int i = 0; i < Block; i++)
            {
                int j = (i + shift) & 15;
                _out[i] = (byte)(_temp[i] ^ _in[j] ^ _opc[j]);
            }

            _out[15] ^= C1;
            _aes.EncryptBlock(_out, 0, _out, 0);
            for (int i = 0; i < Block; i++)
            {
                _out[i] ^= _opc[i];
            }

            // f1 = OUT1[0..63] (MAC-A), f1* = OUT1[64..127] (MAC-S).
            if (macA != null) Array.Copy(_out, 0, macA, macAOffset, MacLength);
            if (macS != null) Array.Copy(_out, 8, macS, macSOffset, MacLength);
            Wipe();
        }

        // TEMP = E_K(RAND xor OPc) (TS 35.206 §4.1).
        private void ComputeTemp(byte[] rand)
        {
            for (int i = 0; i < Block; i++)
            {
                _temp[i] = (byte)(rand[i] ^ _opc[i]);
            }

            _aes.EncryptBlock(_temp, 0, _temp, 0);
        }

        // OUTn = E_K(rot(TEMP xor OPc, r) xor c) xor OPc for n = 2..5 (TS 35.206 §4.1); rot = cyclic left by r bits.
        private void Out(int rBits, byte c)
        {
            int shift = rBits / 8;
            for (int i = 0; i < Block; i++)
            {
                int j = (i + shift) & 15;
                _out[i] = (byte)(_temp[j] ^ _opc[j]);
            }

            _out[15] ^= c;
            _aes.EncryptBlock(_out, 0, _out, 0);
            for (int i = 0; i < Block; i++)
            {
                _out[i] ^= _opc[i];
            }
        }

        private void CheckKeyed()
        {
            if (!_keyed) throw new InvalidOperationException("SetKey first");
        }

        private void Wipe()
        {
            Array.Clear(_temp, 0, Block);
            Array.Clear(_in, 0, Block);
            Array.Clear(_out, 0, Block);
        }
    }
}

using BenchmarkDotNet.Attributes;
using E2m.Crypto;
using E2m.Hal.Host;

namespace E2m.Bench
{
    /// <summary>
    /// Portable (device) vs platform (System.Security.Cryptography, AES-NI) primitives. The portable numbers on a
    /// PC are an upper bound for the interpreter on an ESP32; the point here is allocated bytes/op (target 0)
    /// and the platform figures the servers rely on.
    /// </summary>
    [MemoryDiagnoser]
    public class CryptoBenchmarks
    {
        [Params("portable", "platform")]
        public string Provider { get; set; }

        private IAes128 _aes;
        private IAesCcm _ccm;
        private IHmacSha256 _hmac;
        private Milenage _milenage;
        private readonly byte[] _block = new byte[16];
        private readonly byte[] _nonce = new byte[13];
        private readonly byte[] _aad = new byte[9];
        private readonly byte[] _plain = new byte[32];
        private readonly byte[] _sealed = new byte[40];
        private readonly byte[] _opened = new byte[32];
        private readonly byte[] _mac = new byte[32];
        private readonly byte[] _rand = new byte[16];
        private readonly byte[] _sqn = new byte[6];
        private readonly byte[] _amf = { 0x80, 0x00 };
        private readonly byte[] _macA = new byte[8];
        private readonly byte[] _res = new byte[8];
        private readonly byte[] _ck = new byte[16];
        private readonly byte[] _ik = new byte[16];
        private readonly byte[] _ak = new byte[6];
        private readonly byte[] _autn = new byte[16];

        [GlobalSetup]
        public void Setup()
        {
            ICryptoProvider p = Provider == "portable" ? new PortableCryptoProvider() : new PlatformCryptoProvider();
            byte[] key = new byte[16];
            for (int i = 0; i < 16; i++)
            {
                key[i] = (byte)i;
                _rand[i] = (byte)(0xA0 + i);
            }

            _aes = p.CreateAes128();
            _aes.SetKey(key, 0);
            _ccm = p.CreateAesCcm();
            _ccm.SetKey(key, 0);
            _ccm.Encrypt(_nonce, 0, _aad, 0, _aad.Length, _plain, 0, _plain.Length, _sealed, 0);
            _hmac = p.CreateHmacSha256();
            _hmac.Init(key, 0, 16);
            _milenage = new Milenage(p.CreateAes128());
            _milenage.SetKey(key, key);
        }

        [Benchmark(Description = "AES-128 encrypt 1 block")]
        public void Aes128Block() => _aes.EncryptBlock(_block, 0, _block, 0);

        [Benchmark(Description = "AES-CCM-16-64-128 seal 32 B")]
        public void CcmSeal32() => _ccm.Encrypt(_nonce, 0, _aad, 0, _aad.Length, _plain, 0, _plain.Length, _sealed, 0);

        [Benchmark(Description = "AES-CCM-16-64-128 open 32 B")]
        public bool CcmOpen32() => _ccm.Decrypt(_nonce, 0, _aad, 0, _aad.Length, _sealed, 0, _sealed.Length, _opened, 0);

        [Benchmark(Description = "HMAC-SHA-256 32 B")]
        public void Hmac32()
        {
            _hmac.Update(_plain, 0, _plain.Length);
            _hmac.Final(_mac, 0);
        }

        [Benchmark(Description = "Milenage vector (f1, f2345, AUTN)")]
        public void MilenageVector()
        {
            _rand[0]++;
            _milenage.F1(_rand, _sqn, _amf, _macA, null);
            _milenage.F2345(_rand, _res, _ck, _ik, _ak);
            Aka.BuildAutn(_sqn, _ak, _amf, _macA, _autn);
        }
    }
}

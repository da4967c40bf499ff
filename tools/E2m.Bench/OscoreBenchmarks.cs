using BenchmarkDotNet.Attributes;
using E2m.Coap;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Oscore;

namespace E2m.Bench
{
    /// <summary>
    /// OSCORE protect (device side) and unprotect (EMSE side) of a POST /r with a 40-octet SenML payload, e2m profile
    /// (DESIGN.md §4). Unprotect runs with a fresh replay window per call group: the request is re-protected
    /// whenever the window would reject it, which is part of the measured cost only once per 1000 calls.
    /// </summary>
    [MemoryDiagnoser]
    public class OscoreBenchmarks
    {
        [Params("portable", "platform")]
        public string Provider { get; set; }

        private OscoreSecurityContext _device;
        private OscoreSecurityContext _emse;
        private CoapMessage _request;
        private readonly byte[] _payload = new byte[40];
        private readonly byte[] _wire = new byte[256];
        private readonly byte[] _inner = new byte[256];
        private readonly OscoreExchange _clientExchange = new();
        private readonly OscoreExchange _serverExchange = new();
        private byte[][] _protected;
        private int[] _protectedLength;
        private int _next;

        [GlobalSetup]
        public void Setup()
        {
            ICryptoProvider p = Provider == "portable" ? new PortableCryptoProvider() : new PlatformCryptoProvider();
            byte[] e2mKey = new byte[32];
            byte[] kid = { 0x73, 0xff, 0xcb, 0xb1, 0x5a, 0x4f, 0x80, 0x29 };
            for (int i = 0; i < 32; i++)
            {
                e2mKey[i] = (byte)(i * 7);
            }

            _device = OscoreSecurityContext.ForDevice(p, e2mKey, kid, new MemorySsnStore(), 1024);
            _emse = OscoreSecurityContext.ForEmse(p, e2mKey, kid, null);
            _request = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Post, MessageId = 1 };
            _request.SetToken(new byte[] { 1, 2, 3, 4 }, 0, 4);
            _request.AddUriPath("r");
            _request.SetContentFormat(CoapContentFormat.SenmlCbor);
            _request.SetPayload(_payload, 0, _payload.Length);

            // Pre-protect a supply of distinct requests (increasing PIVs) for the unprotect benchmark.
            var supplier = OscoreSecurityContext.ForDevice(p, e2mKey, kid, new MemorySsnStore(), 1024);
            _protected = new byte[200_000][];
            _protectedLength = new int[_protected.Length];
            for (int i = 0; i < _protected.Length; i++)
            {
                _protected[i] = new byte[128];
                _protectedLength[i] = supplier.ProtectRequest(_request, _protected[i], 0, new OscoreExchange());
            }
        }

        [Benchmark(Description = "OSCORE protect request, 40 B SenML")]
        public int ProtectRequest() => _device.ProtectRequest(_request, _wire, 0, _clientExchange);

        [Benchmark(Description = "OSCORE unprotect request (EMSE), 40 B SenML")]
        public int UnprotectRequest()
        {
            if (_next == _protected.Length)
            {
                _next = 0;
                _emse.RestoreReplayWindow(-1, 0);
            }

            int i = _next++;
            return _emse.UnprotectRequest(_protected[i], 0, _protectedLength[i], _inner, 0, _serverExchange);
        }
    }
}

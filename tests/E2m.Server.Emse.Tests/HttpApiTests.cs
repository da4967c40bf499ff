using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Server.Emse.Storage;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>The readings API through WebApplicationFactory (TestServer), data written through the store.</summary>
    public sealed class HttpApiTests : IDisposable
    {
        private readonly TempDir _dir = new();
        private readonly EmseHost _host;

        public HttpApiTests()
        {
            _host = new EmseHost(_dir.Path, new FakeEmks(), new ManualTimeProvider(DateTimeOffset.UnixEpoch));
            using EmseStore.WriteSession c = _host.Store.OpenSession();
            var readings = new List<StoredReading>();
            for (int i = 0; i < 5; i++)
            {
                readings.Add(new StoredReading
                {
                    DeviceId = "ext-42", Kid = "00112233445566", Piv = 3, Index = i, Name = "urn:dev:x:temp", Unit = "Cel",
                    ValueKind = 2, Number = 20.5 + i, TimeMs = 1_764_316_800_000 + i * 60_000, TimeSource = i == 4 ? "arrival" : "device",
                    ReceivedMs = 1_764_317_000_000,
                });
            }

            _host.Store.CommitBatch(c, new List<ExchangeWrite>
            {
                new() { Kid = "00112233445566", Piv = 3, RequestHash = new byte[16], Response = new byte[4], DeviceId = "ext-42", Readings = readings },
            }, new List<ReplayState>(), 1_764_317_000_000);
        }

        public void Dispose()
        {
            _host.Dispose();
            _dir.Dispose();
        }

        [Fact]
        public async Task Health_IsOk()
        {
            JsonElement h = await _host.Http.GetFromJsonAsync<JsonElement>("/health");
            Assert.Equal("Healthy", h.GetProperty("status").GetString());
            Assert.Equal("emse", h.GetProperty("service").GetString());
        }

        [Fact]
        public async Task Devices_AreListed()
        {
            JsonElement d = await _host.Http.GetFromJsonAsync<JsonElement>("/v1/devices");
            JsonElement one = Assert.Single(d.GetProperty("devices").EnumerateArray());
            Assert.Equal("ext-42", one.GetProperty("deviceId").GetString());
            Assert.Equal("2025-11-28T08:03:20.000Z", one.GetProperty("lastSeen").GetString());
        }

        [Theory]
        [InlineData("", 5)]
        [InlineData("?from=2025-11-28T08:01:00Z", 4)]
        [InlineData("?from=2025-11-28T08:01:00Z&to=2025-11-28T08:03:00Z", 2)]
        [InlineData("?from=1764316860&to=1764316980", 2)]
        [InlineData("?limit=3", 3)]
        [InlineData("?from=2030-01-01T00:00:00Z", 0)]
        public async Task Readings_ByTimeRange(string query, int expected)
        {
            JsonElement r = await _host.Http.GetFromJsonAsync<JsonElement>("/v1/devices/ext-42/readings" + query);
            Assert.Equal("ext-42", r.GetProperty("deviceId").GetString());
            Assert.Equal(expected, r.GetProperty("readings").GetArrayLength());
            if (expected > 0)
            {
                JsonElement first = r.GetProperty("readings")[0];
                Assert.Equal("urn:dev:x:temp", first.GetProperty("name").GetString());
                Assert.Equal("Cel", first.GetProperty("unit").GetString());
                Assert.Equal(JsonValueKind.Number, first.GetProperty("value").ValueKind);
                Assert.Contains(first.GetProperty("timeSource").GetString(), new[] { "device", "arrival" });
            }
        }

        /// <summary>mTLS roles on the readings API (certificate validated by the EMSE exactly as behind Kestrel).</summary>
        [Theory]
        [InlineData("reader", "/v1/devices", HttpStatusCode.OK)]
        [InlineData("admin", "/v1/devices/ext-42/readings", HttpStatusCode.OK)]
        [InlineData(null, "/v1/devices", HttpStatusCode.Unauthorized)]
        [InlineData(null, "/v1/devices/ext-42/readings", HttpStatusCode.Unauthorized)]
        [InlineData(null, "/v1/devices/nobody/readings", HttpStatusCode.Unauthorized)] // no existence oracle before auth
        [InlineData("hss", "/v1/devices", HttpStatusCode.Forbidden)]
        [InlineData("serving-node", "/v1/devices/ext-42/readings", HttpStatusCode.Forbidden)]
        [InlineData("emse-emse.test.example", "/v1/devices/ext-42/readings", HttpStatusCode.Forbidden)]
        [InlineData(TestPki.Foreign, "/v1/devices/ext-42/readings", HttpStatusCode.Forbidden)] // role reader, another CA
        [InlineData(null, "/health", HttpStatusCode.OK)]
        public async Task ReadingsApi_RequiresAReaderOrAdminClientCertificate(string? certificate, string url, HttpStatusCode status)
        {
            using System.Net.Http.HttpClient client = _host.HttpAs(certificate);
            System.Net.Http.HttpResponseMessage r = await client.GetAsync(url);
            Assert.Equal(status, r.StatusCode);
            if (status != HttpStatusCode.OK)
            {
                Assert.DoesNotContain("ext-42", await r.Content.ReadAsStringAsync());
            }
        }

        [Theory]
        [InlineData("/v1/devices/nobody/readings", HttpStatusCode.NotFound)]
        [InlineData("/v1/devices/ext-42/readings?from=yesterday", HttpStatusCode.BadRequest)]
        [InlineData("/v1/devices/ext-42/readings?from=1.5", HttpStatusCode.BadRequest)] // ISO 8601 or Unix seconds only
        [InlineData("/v1/devices/ext-42/readings?from=12:30", HttpStatusCode.BadRequest)]
        [InlineData("/v1/devices/ext-42/readings?from=1/2/2024", HttpStatusCode.BadRequest)]
        [InlineData("/v1/devices/ext-42/readings?to=2025-11-28%2008:00", HttpStatusCode.BadRequest)]
        [InlineData("/v1/devices/ext-42/readings?limit=0", HttpStatusCode.BadRequest)]
        [InlineData("/v1/devices/ext-42/readings?limit=10001", HttpStatusCode.BadRequest)]
        public async Task BadQueries_AreRejected(string url, HttpStatusCode status)
        {
            Assert.Equal(status, (await _host.Http.GetAsync(url)).StatusCode);
        }
    }
}

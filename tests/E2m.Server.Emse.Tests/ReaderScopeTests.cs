using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Emse.Storage;
using Microsoft.Extensions.Options;
using Xunit;

namespace E2m.Server.Emse.Tests
{
    /// <summary>
    /// Emse:ReaderDevices: several applications reading one EMSE, each limited to its devices (readings API over
    /// WebApplicationFactory; named reader certificates issued by the dev PKI's CA, `e2m pki init --reader NAME`).
    /// </summary>
    public sealed class ReaderScopeTests : IDisposable
    {
        private static readonly string[] Devices = { "acme-1", "acme-2", "meter-9", "other-3" };
        private readonly TempDir _dir = new();
        private readonly EmseHost _host;

        public ReaderScopeTests()
        {
            TestPki.CopyTo(_dir.Path);
            DevPki.Init(_dir.Path, Array.Empty<string>(), new[] { "acme", "other", "stranger" }); // signed by the copied CA
            _host = new EmseHost(_dir.Path, new FakeEmks(), new ManualTimeProvider(DateTimeOffset.UnixEpoch), settings: s =>
            {
                s["Emse:ReaderDevices:acme:0"] = "acme-*";
                s["Emse:ReaderDevices:acme:1"] = "meter-9";
                s["Emse:ReaderDevices:other:0"] = "other-3";
            });
            using EmseStore.WriteSession c = _host.Store.OpenSession();
            var writes = new List<ExchangeWrite>();
            for (int d = 0; d < Devices.Length; d++)
            {
                string kid = "0011223344556" + d.ToString(System.Globalization.CultureInfo.InvariantCulture);
                writes.Add(new ExchangeWrite
                {
                    Kid = kid, Piv = 1, RequestHash = new byte[16], Response = new byte[4], DeviceId = Devices[d],
                    Readings = new List<StoredReading>
                    {
                        new()
                        {
                            DeviceId = Devices[d], Kid = kid, Piv = 1, Index = 0, Name = "urn:dev:x:temp", Unit = "Cel", ValueKind = 2,
                            Number = 20 + d, TimeMs = 1_764_316_800_000, TimeSource = "device", ReceivedMs = 1_764_317_000_000,
                        },
                    },
                });
            }

            _host.Store.CommitBatch(c, writes, new List<ReplayState>(), 1_764_317_000_000);
        }

        public void Dispose()
        {
            _host.Dispose();
            _dir.Dispose();
        }

        private async Task<string[]> DeviceList(string certificate)
        {
            JsonElement d = await _host.HttpAs(certificate).GetFromJsonAsync<JsonElement>("/v1/devices");
            return d.GetProperty("devices").EnumerateArray().Select(e => e.GetProperty("deviceId").GetString()!).OrderBy(x => x).ToArray();
        }

        private async Task<HttpStatusCode> Readings(string certificate, string device) =>
            (await _host.HttpAs(certificate).GetAsync("/v1/devices/" + device + "/readings")).StatusCode;

        [Fact]
        public async Task Each_reader_sees_its_devices_only_and_admin_sees_all()
        {
            Assert.Equal(new[] { "acme-1", "acme-2", "meter-9" }, await DeviceList(DevPki.ReaderFileName("acme")));
            Assert.Equal(new[] { "other-3" }, await DeviceList(DevPki.ReaderFileName("other")));
            Assert.Equal(Devices.OrderBy(x => x).ToArray(), await DeviceList(DevPki.Admin));

            Assert.Equal(HttpStatusCode.OK, await Readings(DevPki.ReaderFileName("acme"), "acme-2"));
            Assert.Equal(HttpStatusCode.OK, await Readings(DevPki.ReaderFileName("acme"), "meter-9"));
            Assert.Equal(HttpStatusCode.OK, await Readings(DevPki.ReaderFileName("other"), "other-3"));
            Assert.Equal(HttpStatusCode.OK, await Readings(DevPki.Admin, "other-3"));

            // another reader's device answers exactly like an unknown one
            var theirs = await _host.HttpAs(DevPki.ReaderFileName("other")).GetAsync("/v1/devices/acme-1/readings");
            var unknown = await _host.HttpAs(DevPki.ReaderFileName("other")).GetAsync("/v1/devices/nobody-1/readings");
            Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Equal(await unknown.Content.ReadAsStringAsync(), await theirs.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.NotFound, await Readings(DevPki.ReaderFileName("acme"), "acme"));     // a prefix is not an id
            Assert.Equal(HttpStatusCode.NotFound, await Readings(DevPki.ReaderFileName("acme"), "meter-90")); // exact ids are exact
        }

        [Fact]
        public async Task A_reader_not_named_is_refused_once_readers_are_configured()
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await _host.HttpAs(DevPki.ReaderFileName("stranger")).GetAsync("/v1/devices")).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, await Readings(DevPki.ReaderFileName("stranger"), "acme-1"));
            Assert.Equal(HttpStatusCode.Forbidden, (await _host.Http.GetAsync("/v1/devices")).StatusCode); // the generic 'reader'
            Assert.Equal(HttpStatusCode.Forbidden, (await _host.HttpAs(DevPki.Hss).GetAsync("/v1/devices")).StatusCode); // not a reader at all
        }

        [Fact]
        public void Reader_names_and_patterns_are_validated()
        {
            var v = new EmseOptionsValidator();
            var o = new EmseOptions { EmseId = "emse.test.example" };
            o.ReaderDevices["acme"] = new[] { "acme-*", "a*b" };
            o.ReaderDevices["none"] = Array.Empty<string>();
            ValidateOptionsResult r = v.Validate(null, o);
            Assert.True(r.Failed);
            string all = string.Join("\n", r.Failures!);
            Assert.Contains("Emse:ReaderDevices:acme", all, StringComparison.Ordinal);
            Assert.Contains("Emse:ReaderDevices:none", all, StringComparison.Ordinal);

            foreach (string bad in new[] { "", "Acme", "-acme", "acme-", "a_b", new string('a', 64) })
            {
                Assert.Throws<ArgumentException>(() => DevPki.ValidateReaderName(bad));
            }

            using var cert = DevPki.LoadCertificate(_dir.Path, DevPki.ReaderFileName("acme"));
            Assert.Equal((DevPki.Reader, "acme"), (CertificateIdentity.GetRole(cert), CertificateIdentity.GetCommonName(cert)));
        }
    }
}

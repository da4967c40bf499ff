using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using E2m.Cli.Config;
using E2m.NanoAnalyzers;
using E2m.NanoCheck;
using Json.Schema;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace E2m.Cli.Tests
{
    /// <summary>
    /// `e2m config check|gen|schema` (issue 7 point 2). Oracles: an independent JSON Schema 2020-12 implementation
    /// (JsonSchema.Net) on the checked-in device-config.schema.json; the Roslyn compiler against the real
    /// nanoFramework mscorlib 1.17.11 + the repository's subset analyzer + IL witness for the generated C#;
    /// System.Text.Encoding.UTF8 for the EMSE_Id octets read back by reflection from a host build of the same file.
    /// </summary>
    public sealed class ConfigCommandTests
    {
        private static readonly string Root = Meta("RepoRoot");

        private static readonly Lazy<JsonSchema> Schema = new(() =>
            JsonSchema.FromText(File.ReadAllText(Path.Combine(Root, "device-config.schema.json"))));

        public static IEnumerable<object[]> Configs() => new[]
        {
            new object[] { "device-config.json" },
            new object[] { "samples/esp32-devkitc-bg95.json" },
            new object[] { "samples/stm32-nucleo-sara-r410m.json" },
        };

        [Theory]
        [MemberData(nameof(Configs))]
        public void Shipped_configs_pass_the_checker_and_the_independent_schema_validator(string file)
        {
            string path = Path.Combine(Root, file);
            var run = Cli.Run("config", "check", path);
            Assert.True(run.ExitCode == 0, file + ": " + run.StdErr);
            Assert.Equal("config: ok", run.StdOut.Trim());
            Assert.Equal(string.Empty, run.StdErr);
            Assert.True(SchemaAccepts(File.ReadAllText(path)), file + " rejected by JsonSchema.Net");
        }

        [Fact]
        public void The_default_config_is_the_esp32_devkitc_bg95_sample()
        {
            JsonNode a = Load("device-config.json");
            JsonNode b = Load("samples/esp32-devkitc-bg95.json");
            foreach (JsonObject o in new[] { a.AsObject(), b.AsObject() })
            {
                o.Remove("$schema");
                o.Remove("$comment");
            }

            Assert.True(JsonNode.DeepEquals(a, b), "device-config.json differs from samples/esp32-devkitc-bg95.json");
            Assert.Equal("esp32-devkitc", (string?)a["board"]);
            Assert.Equal("bg95", (string?)a["modem"]!["model"]);
        }

        [Fact]
        public void The_checked_in_schema_is_exactly_what_the_validator_spec_writes()
        {
            string file = File.ReadAllText(Path.Combine(Root, "device-config.schema.json")).Replace("\r\n", "\n", StringComparison.Ordinal);
            Assert.True(file == SchemaWriter.Write(), "device-config.schema.json is stale: run `e2m config schema --out device-config.schema.json`");
            var run = Cli.Run("config", "schema");
            Assert.Equal(0, run.ExitCode);
            Assert.Equal(file, run.StdOut.Replace("\r\n", "\n", StringComparison.Ordinal));
        }

        [Fact]
        public void The_device_projects_DeviceConfig_is_generated_from_the_default_config()
        {
            string expected = DeviceConfigGenerator.Generate(File.ReadAllText(Path.Combine(Root, "device-config.json")), "device-config.json");
            string actual = File.ReadAllText(Path.Combine(Root, "firmware/E2m.Firmware.Device/Generated/DeviceConfig.g.cs")).Replace("\r\n", "\n", StringComparison.Ordinal);
            Assert.True(expected == actual, "firmware/E2m.Firmware.Device/Generated/DeviceConfig.g.cs is stale: run `e2m config gen device-config.json --out firmware/E2m.Firmware.Device/Generated`");
        }

        [Fact]
        public void Every_property_of_the_schema_is_known_to_the_validator_and_vice_versa()
        {
            using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "device-config.schema.json")));
            Assert.Equal("https://json-schema.org/draft/2020-12/schema", schema.RootElement.GetProperty("$schema").GetString());
            var fromSchema = new SortedSet<string>(StringComparer.Ordinal);
            SchemaPaths("$", schema.RootElement, fromSchema);
            var fromSpec = new SortedSet<string>(StringComparer.Ordinal);
            SpecPaths("$", DeviceConfigSpec.Root, fromSpec);
            Assert.True(fromSchema.Count > 40, "too few properties: " + fromSchema.Count);
            Assert.Equal(fromSpec, fromSchema);
        }

        public static IEnumerable<object[]> Problems()
        {
            // (label, mutations "path=json" or "path" to remove, expected line, JSON Schema alone can express it)
            object[] P(string label, string[] mutations, string line, bool schema) => new object[] { label, mutations, line, schema };
            yield return P("empty EMSE_Id", new[] { "emses[1].emseId=\"\"" }, "$.emses[1].emseId: expected a non-empty FQDN, found \"\"", true);
            yield return P("uppercase EMSE_Id", new[] { "emses[0].emseId=\"Emse.Utility.Example\"" },
                "$.emses[0].emseId: expected a lowercase FQDN (the EMSE_Id octets enter the KDF as written, DESIGN.md §2), found \"Emse.Utility.Example\"", true);
            yield return P("single-label EMSE_Id", new[] { "emses[0].emseId=\"localhost\"" },
                "$.emses[0].emseId: expected an FQDN (two or more dot-separated labels of a-z, 0-9 and '-', 1-63 characters each, 253 at most), found \"localhost\"", true);
            yield return P("duplicate EMSE_Id", new[] { "emses[1].emseId=\"emse.utility.example\"" },
                "$.emses[1].emseId: expected an EMSE_Id not already used by $.emses[0], found \"emse.utility.example\"", false);
            yield return P("duplicate EMSE endpoint", new[] { "emses[1].endpoint=\"127.0.0.1:5683\"" },
                "$.emses[1].endpoint: expected an endpoint not already used by $.emses[0] (all EMSEs see the same OSCORE kid), found \"127.0.0.1:5683\"", false);
            yield return P("endpoint without port", new[] { "emses[0].endpoint=\"192.0.2.1\"" },
                "$.emses[0].endpoint: expected address:port (a dotted IPv4 address literal, port 1-65535), found \"192.0.2.1\"", true);
            yield return P("DNS name as endpoint", new[] { "emses[0].endpoint=\"emse.example:5683\"" },
                "$.emses[0].endpoint: expected address:port (a dotted IPv4 address literal, port 1-65535), found \"emse.example:5683\"", true);
            yield return P("port 0", new[] { "emses[0].endpoint=\"192.0.2.1:0\"" }, "$.emses[0].endpoint: expected a port 1-65535, found \"192.0.2.1:0\"", false);
            yield return P("bad IPv4", new[] { "emks.endpoint=\"10.0.0.300:5683\"" }, "$.emks.endpoint: expected a dotted IPv4 address (octets 0-255), found \"10.0.0.300:5683\"", false);
            yield return P("no readings", new[] { "emses[0].readings=[]" },
                "$.emses[0].readings: expected an array of 1..4 unique items, each one of \"energy\", \"power\", \"pulses\", \"rsrp\", found an empty array", true);
            yield return P("repeated reading", new[] { "emses[0].readings=[\"energy\",\"energy\"]" },
                "$.emses[0].readings[1]: expected a value not already listed in $.emses[0].readings (unique items), found \"energy\"", true);
            yield return P("unknown reading", new[] { "emses[0].readings=[\"voltage\"]" },
                "$.emses[0].readings[0]: expected one of \"energy\", \"power\", \"pulses\", \"rsrp\", found \"voltage\"", true);
            yield return P("no EMSE", new[] { "emses=[]" },
                "$.emses: expected an array of 1..8 items, each an object (one E2M Security Endpoint), found an empty array", true);
            yield return P("modem model case", new[] { "modem.model=\"BG95\"" }, "$.modem.model: expected one of \"bg95\", \"bg96\", \"sara-r410m\", \"sara-r5\", found \"BG95\"", true);
            yield return P("baud as string", new[] { "modem.uart.baud=\"115200\"" }, "$.modem.uart.baud: expected an integer 9600..921600, found \"115200\"", true);
            yield return P("baud too low", new[] { "modem.uart.baud=300" }, "$.modem.uart.baud: expected an integer 9600..921600, found 300", true);
            yield return P("port name", new[] { "modem.uart.port=\"/dev/ttyUSB0\"" }, "$.modem.uart.port: expected a nanoFramework port name COM1..COM9, found \"/dev/ttyUSB0\"", true);
            yield return P("debug port", new[] { "modem.uart.port=\"COM1\"" },
                "$.modem.uart.port: expected \"COM2\" or \"COM3\" on esp32-devkitc (COM1 is the nanoFramework debug port), found \"COM1\"", false);
            yield return P("input-only TX", new[] { "modem.uart.txPin=35" }, "$.modem.uart.txPin: expected an output-capable GPIO (34..39 are input-only on the ESP32), found 35", false);
            yield return P("missing RX on ESP32", new[] { "modem.uart.rxPin" },
                "$.modem.uart.rxPin: expected a GPIO on esp32-devkitc (UART pins are routed by Configuration.SetPinFunction) (required), found nothing", false);
            yield return P("pin used twice", new[] { "modem.pins.reset=4" }, "$.modem.pins.reset: expected a GPIO not already used by $.modem.pins.pwrkey, found 4", false);
            yield return P("flash pin", new[] { "sampling.pulseInputPin=7" },
                "$.sampling.pulseInputPin: expected a GPIO other than 6..11 (wired to the SPI flash on ESP32-WROOM modules), found 7", false);
            yield return P("unknown property", new[] { "modem.pins.ri=23" },
                "$.modem.pins.ri: expected one of the properties pwrkey, reset, status, outputsInverted, found an unknown property", true);
            yield return P("missing object", new[] { "policy" },
                "$.policy: expected an object (minimum-security policy the firmware enforces) (required), found nothing", true);
            yield return P("bad APN", new[] { "network.apn=\"iot..example\"" },
                "$.network.apn: expected an APN (dot-separated labels of letters, digits and '-', at most 63 characters, TS 23.003 §9.1) or \"\", found \"iot..example\"", true);
            yield return P("bad PLMN", new[] { "network.plmn=\"0010\"" }, "$.network.plmn: expected MCC+MNC as 5 or 6 digits, found \"0010\"", true);
            yield return P("minimum RAT unreachable", new[] { "network.rats=[\"gprs\"]" },
                "$.policy.minimumRat: expected a RAT that $.network.rats allows (order gprs < nb-iot < lte-m), or the device could never send, found \"nb-iot\"", false);
            yield return P("home has no fallback", new[] { "keyMode=\"home\"" },
                "$.keyModeFallback: expected \"none\" when $.keyMode is \"home\" (home mode is the last resort), found \"home\"", false);
            yield return P("upload faster than sampling", new[] { "upload.intervalSeconds=30" },
                "$.upload.intervalSeconds: expected at least $.sampling.intervalSeconds (60), found 30", false);
            yield return P("meter constant not a power of ten", new[] { "sampling.pulsesPerKwh=800" },
                "$.sampling.pulsesPerKwh: expected a power of ten (1, 10, ..., 100000) when an EMSE receives \"energy\" (sent as pulses x 10^n Wh, no division on the device), found 800", false);
            yield return P("datagram above range", new[] { "upload.maxDatagram=1461" }, "$.upload.maxDatagram: expected an integer 128..1460, found 1461", true);
            yield return P("datagram above the SARA limit", new[] { "modem.model=\"sara-r5\"", "upload.maxDatagram=1200" },
                "$.upload.maxDatagram: expected at most 480 octets (the sara-r5 UDP send limit), found 1200", false);
            yield return P("ACK_TIMEOUT below RFC 7252", new[] { "coap.ackTimeoutMs=1000" }, "$.coap.ackTimeoutMs: expected an integer 2000..300000, found 1000", true);
            yield return P("fractional factor", new[] { "coap.ackRandomFactorPercent=1.5" }, "$.coap.ackRandomFactorPercent: expected an integer 100..400, found 1.5", true);
            yield return P("boolean", new[] { "psm.enabled=\"yes\"" }, "$.psm.enabled: expected true or false, found \"yes\"", true);
            yield return P("unknown board", new[] { "board=\"esp8266\"" }, "$.board: expected one of \"esp32-devkitc\", \"stm32-nucleo-f746zg\", found \"esp8266\"", true);
            yield return P("a key by name", new[] { "opc=\"secret\"" },
                "$.opc: expected no key material (keys come from AKA, never from device-config.json), found a property named like a key or secret (value not shown)", true);
            yield return P("a key by name, nested", new[] { "emses[0].e2mKey=\"x\"" },
                "$.emses[0].e2mKey: expected no key material (keys come from AKA, never from device-config.json), found a property named like a key or secret (value not shown)", true);
            yield return P("a key by value", new[] { "$comment=\"K=465b5ce8b199b49faa5f0a2ee238a6bc\"" },
                "$.$comment: expected no key material (keys come from AKA, never from device-config.json), found a string with a 32-character key-like run (value not shown)", false);
            yield return P("STM32 fixed UART pins", new[] { "board=\"stm32-nucleo-f746zg\"", "modem.uart.txPin=17", "modem.uart.rxPin=54" },
                "$.modem.uart.txPin: expected 53 (COM2 TX is fixed by the nanoCLR image) or absent, found 17", false);
        }

        [Theory]
        [MemberData(nameof(Problems))]
        public void Each_problem_gives_one_precise_line_and_exit_2(string label, string[] mutations, string line, bool schemaExpressible)
        {
            string json = Mutate(mutations);
            var run = Cli.Run("config", "check", Write(json));
            Assert.True(run.ExitCode == 2, label + ": exit " + run.ExitCode + " " + run.StdErr);
            Assert.Equal(string.Empty, run.StdOut);
            Assert.Equal(new[] { line }, Lines(run.StdErr));
            if (schemaExpressible)
            {
                Assert.False(SchemaAccepts(json), label + ": JsonSchema.Net accepted what the checker rejects");
            }
        }

        /// <summary>Review findings (session 11): values the checker used to accept that the device cannot work with.</summary>
        [Theory]
        [InlineData("a newline ending an EMSE_Id (.NET '$' matches before it)", "emses[0].emseId=\"emse.utility.example\\n\"", "$.emses[0].emseId: expected")]
        [InlineData("a newline ending the APN", "network.apn=\"iot.example\\n\"", "$.network.apn: expected")]
        [InlineData("a newline ending an endpoint", "emks.endpoint=\"127.0.0.1:99999\\n\"", "$.emks.endpoint: expected")]
        [InlineData("a port with a leading zero (a second spelling of 5683)", "emses[1].endpoint=\"127.0.0.1:05683\"", "$.emses[1].endpoint: expected a port without leading zeros")]
        [InlineData("an address octet with a leading zero (octal on some modems)", "emses[1].endpoint=\"127.000.0.1:5685\"", "$.emses[1].endpoint: expected a dotted IPv4 address without leading zeros")]
        [InlineData("an ESP32 GPIO that does not exist", "modem.pins.pwrkey=24", "$.modem.pins.pwrkey: expected an ESP32 GPIO that exists")]
        [InlineData("a pulse input without an internal pull-up", "sampling.pulseInputPin=35", "$.sampling.pulseInputPin: expected a GPIO with an internal pull-up")]
        [InlineData("a key in groups of hex digits", "$comment=\"K=465b5ce8 b199b49f aa5f0a2e e238a6bc\"", "$.$comment: expected no key material")]
        [InlineData("a key in colon notation", "$comment=\"46:5b:5c:e8:b1:99:b4:9f:aa:5f:0a:2e:e2:38:a6:bc\"", "$.$comment: expected no key material")]
        [InlineData("a key in base64", "$comment=\"K=Rltc6LGZtJ+qXwou4jimvA==\"", "$.$comment: expected no key material")]
        [InlineData("a RAT listed twice, once escaped", "network.rats=[\"lte-m\",\"lte\\u002Dm\"]", "$.network.rats[1]: expected a value not already listed")]
        public void Values_the_device_cannot_work_with_are_refused(string label, string mutation, string linePrefix)
        {
            var run = Cli.Run("config", "check", Write(Mutate(new[] { mutation })));
            Assert.True(run.ExitCode == 2, label + ": exit " + run.ExitCode + " " + run.StdErr);
            Assert.Contains(Lines(run.StdErr), l => l.StartsWith(linePrefix, StringComparison.Ordinal));
        }

        /// <summary>On the STM32 the UART pins are fixed by the image; omitted from the document, they are still taken.</summary>
        [Fact]
        public void Stm32_fixed_uart_pins_and_nonexistent_ports_are_checked_when_the_pins_are_omitted()
        {
            JsonNode sara = Load("samples/stm32-nucleo-sara-r410m.json");
            sara["modem"]!["uart"]!.AsObject().Remove("txPin"); // optional on this board: fixed by the image
            sara["modem"]!["uart"]!.AsObject().Remove("rxPin");
            sara["modem"]!["pins"]!["pwrkey"] = 53; // PD5: USART2 TX
            var run = Cli.Run("config", "check", Write(sara.ToJsonString()));
            Assert.Equal(2, run.ExitCode);
            Assert.Contains(Lines(run.StdErr), l => l.StartsWith("$.modem.pins.pwrkey: expected a GPIO not already used by $.modem.uart.port (COM2 TX)", StringComparison.Ordinal));
            sara["modem"]!["pins"]!["pwrkey"] = 175; // PK15: no port K on the LQFP144
            run = Cli.Run("config", "check", Write(sara.ToJsonString()));
            Assert.Equal(2, run.ExitCode);
            Assert.Contains(Lines(run.StdErr), l => l.StartsWith("$.modem.pins.pwrkey: expected a pin of ports A..G", StringComparison.Ordinal));
            Assert.Equal(0, Cli.Run("config", "check", Path.Combine(Root, "samples/stm32-nucleo-sara-r410m.json")).ExitCode);
        }

        [Fact]
        public void All_problems_are_reported_not_just_the_first()
        {
            string json = Mutate(new[] { "emses[1].emseId=\"\"", "modem.uart.baud=1", "coap.maxRetransmit=11", "upload.intervalSeconds=30", "psk=\"x\"" });
            var run = Cli.Run("config", "check", Write(json));
            Assert.Equal(2, run.ExitCode);
            string[] lines = Lines(run.StdErr);
            Assert.Equal(5, lines.Length);
            Assert.Contains("$.emses[1].emseId: expected a non-empty FQDN, found \"\"", lines);
            Assert.Contains("$.modem.uart.baud: expected an integer 9600..921600, found 1", lines);
            Assert.Contains("$.coap.maxRetransmit: expected an integer 0..10, found 11", lines);
            Assert.Contains("$.upload.intervalSeconds: expected at least $.sampling.intervalSeconds (60), found 30", lines);
            Assert.Contains(lines, l => l.StartsWith("$.psk: expected no key material", StringComparison.Ordinal));
        }

        [Fact]
        public void Invalid_json_repeated_properties_and_missing_files_are_exit_2()
        {
            var bad = Cli.Run("config", "check", Write("{ \"board\": "));
            Assert.Equal(2, bad.ExitCode);
            string[] lines = Lines(bad.StdErr);
            Assert.Single(lines);
            Assert.StartsWith("$: expected a JSON document, found invalid JSON at line 1", lines[0], StringComparison.Ordinal);

            string twice = File.ReadAllText(Path.Combine(Root, "device-config.json")).Replace("\"keyMode\": \"network\",", "\"keyMode\": \"network\", \"keyMode\": \"network\",", StringComparison.Ordinal);
            var repeated = Cli.Run("config", "check", Write(twice));
            Assert.Equal(2, repeated.ExitCode);
            Assert.Equal(new[] { "$.keyMode: expected each property once, found it repeated" }, Lines(repeated.StdErr));

            var missing = Cli.Run("config", "check", Path.Combine(Path.GetTempPath(), "e2m-no-such-" + Guid.NewGuid().ToString("n") + ".json"));
            Assert.Equal(2, missing.ExitCode);
            Assert.StartsWith("e2m: error: cannot read ", missing.StdErr, StringComparison.Ordinal);
        }

        [Fact]
        public void Gen_refuses_an_invalid_config_and_writes_nothing()
        {
            string dir = TempDir();
            var run = Cli.Run("config", "gen", Write(Mutate(new[] { "emses[0].emseId=\"\"" })), "--out", dir);
            Assert.Equal(2, run.ExitCode);
            Assert.Equal(new[] { "$.emses[0].emseId: expected a non-empty FQDN, found \"\"" }, Lines(run.StdErr));
            Assert.False(File.Exists(Path.Combine(dir, "DeviceConfig.g.cs")));
        }

        [Theory]
        [MemberData(nameof(Configs))]
        public async System.Threading.Tasks.Task Gen_output_is_in_the_nanoFramework_subset_and_carries_the_configured_values(string file)
        {
            string dir = TempDir();
            var run = Cli.Run("config", "gen", Path.Combine(Root, file), "--out", dir);
            Assert.True(run.ExitCode == 0, run.StdErr);
            string target = Path.Combine(dir, "DeviceConfig.g.cs");
            Assert.Equal("generated: " + target, run.StdOut.Trim());
            string source = File.ReadAllText(target);
            Assert.DoesNotContain("enum ", source, StringComparison.Ordinal);
            Assert.DoesNotContain("<", source.Replace("<auto-generated>", string.Empty, StringComparison.Ordinal).Replace("</auto-generated>", string.Empty, StringComparison.Ordinal)
                .Replace("<summary>", string.Empty, StringComparison.Ordinal).Replace("</summary>", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);

            // 1. compiles against the real nanoFramework mscorlib (NoStdLib), passes the subset analyzer and the IL witness
            var tree = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.CSharp12), "/repo/firmware/E2m.Firmware/Generated/DeviceConfig.g.cs");
            var nano = CSharpCompilation.Create("E2m.Firmware.Generated", new[] { tree },
                new[] { MetadataReference.CreateFromFile(Meta("NanoMscorlib")) },
                new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Disable));
            using var pe = new MemoryStream();
            var emitted = nano.Emit(pe);
            Assert.True(emitted.Success, string.Join(Environment.NewLine, emitted.Diagnostics));
            var analyzer = await nano.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new NanoSubsetAnalyzer()))
                .GetAnalyzerDiagnosticsAsync(CancellationToken.None);
            Assert.True(analyzer.IsEmpty, string.Join(Environment.NewLine, analyzer));
            pe.Position = 0;
            var findings = NanoIlChecker.Check(pe);
            Assert.True(findings.Count == 0, string.Join(Environment.NewLine, findings));

            // 2. the same source built for the host and read back: EMSE_Id octets are the UTF-8 of the configured ids
            var host = CSharpCompilation.Create("E2m.Firmware.Generated.Host", new[] { tree }, HostReferences(),
                new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
            using var hostPe = new MemoryStream();
            Assert.True(host.Emit(hostPe).Success);
            var alc = new AssemblyLoadContext("config-gen", isCollectible: true);
            try
            {
                hostPe.Position = 0;
                Type t = alc.LoadFromStream(hostPe).GetType("E2m.Firmware.Generated.DeviceConfig")!;
                object? F(string name) => t.GetField(name, BindingFlags.Public | BindingFlags.Static)!.GetValue(null);
                JsonNode cfg = Load(file);
                JsonArray emses = cfg["emses"]!.AsArray();
                var ids = (byte[][])F("EmseIds")!;
                Assert.Equal(emses.Count, ids.Length);
                Assert.Equal(emses.Count, (int)F("EmseCount")!);
                for (int i = 0; i < emses.Count; i++)
                {
                    byte[] expected = Encoding.UTF8.GetBytes((string)emses[i]!["emseId"]!);
                    Assert.Equal(expected, ids[i]);
                    Assert.Equal(expected, (byte[])F("Emse" + i + "Id")!);
                    string endpoint = (string)emses[i]!["endpoint"]!;
                    Assert.Equal(endpoint, ((string[])F("EmseHosts")!)[i] + ":" + ((int[])F("EmsePorts")!)[i]);
                    int mask = 0;
                    foreach (JsonNode? r in emses[i]!["readings"]!.AsArray())
                    {
                        mask |= (int)F("Reading" + DeviceConfigGenerator.Pascal((string)r!))!;
                    }

                    Assert.Equal(mask, ((int[])F("EmseReadings")!)[i]);
                }

                Assert.Equal((int)cfg["coap"]!["ackTimeoutMs"]!, (int)F("CoapAckTimeoutMs")!);
                Assert.Equal((int)cfg["modem"]!["pins"]!["pwrkey"]!, (int)F("PwrkeyPin")!);
                Assert.Equal((string)cfg["modem"]!["uart"]!["port"]!, (string)F("UartPort")!);
                Assert.Equal((int)F("Modem" + DeviceConfigGenerator.Pascal((string)cfg["modem"]!["model"]!))!, (int)F("ModemModel")!);
                Assert.Equal((int)F("Rat" + DeviceConfigGenerator.Pascal((string)cfg["policy"]!["minimumRat"]!))!, (int)F("MinimumRat")!);
                Assert.Equal(cfg["network"]!["rats"]!.AsArray().Select(r => (int)F("Rat" + DeviceConfigGenerator.Pascal((string)r!))!).ToArray(), (int[])F("Rats")!);
                // the device maps these constants with E2m.Firmware.AccessPolicy (Program.AllowedAcTMask): same values
                Assert.Equal(E2m.Firmware.AccessPolicy.RatGprs, (int)F("RatGprs")!);
                Assert.Equal(E2m.Firmware.AccessPolicy.RatNbIot, (int)F("RatNbIot")!);
                Assert.Equal(E2m.Firmware.AccessPolicy.RatLteM, (int)F("RatLteM")!);
            }
            finally
            {
                alc.Unload();
            }
        }

        // ---- helpers ----

        private static string Meta(string key) => Path.GetFullPath(typeof(ConfigCommandTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!);

        private static JsonNode Load(string file) => JsonNode.Parse(File.ReadAllText(Path.Combine(Root, file)))!;

        private static bool SchemaAccepts(string json)
        {
            using var doc = JsonDocument.Parse(json);
            return Schema.Value.Evaluate(doc.RootElement).IsValid;
        }

        private static string[] Lines(string text) => text.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        private static string TempDir()
        {
            string dir = Path.Combine(Path.GetTempPath(), "e2m-config-" + Guid.NewGuid().ToString("n"));
            Directory.CreateDirectory(dir);
            return dir;
        }

        private static string Write(string json)
        {
            string path = Path.Combine(TempDir(), "device-config.json");
            File.WriteAllText(path, json);
            return path;
        }

        /// <summary>Applies "a.b[1].c=JSON" (set) or "a.b" (remove) to the default configuration.</summary>
        private static string Mutate(string[] mutations)
        {
            JsonNode root = Load("device-config.json");
            foreach (string m in mutations)
            {
                int eq = m.IndexOf('=', StringComparison.Ordinal);
                string path = eq < 0 ? m : m.Substring(0, eq);
                var steps = new List<object>();
                foreach (string part in path.Split('.'))
                {
                    int bracket = part.IndexOf('[', StringComparison.Ordinal);
                    steps.Add(bracket < 0 ? part : part.Substring(0, bracket));
                    if (bracket >= 0)
                    {
                        steps.Add(int.Parse(part.AsSpan(bracket + 1, part.Length - bracket - 2), System.Globalization.CultureInfo.InvariantCulture));
                    }
                }

                JsonNode parent = root;
                for (int i = 0; i < steps.Count - 1; i++)
                {
                    parent = steps[i] is int n ? parent[n]! : parent[(string)steps[i]]!;
                }

                object last = steps[^1];
                if (eq < 0)
                {
                    parent.AsObject().Remove((string)last);
                }
                else if (last is int index)
                {
                    parent[index] = JsonNode.Parse(m.Substring(eq + 1));
                }
                else
                {
                    parent[(string)last] = JsonNode.Parse(m.Substring(eq + 1));
                }
            }

            return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        }

        private static void SchemaPaths(string path, JsonElement schema, ISet<string> paths)
        {
            if (schema.TryGetProperty("properties", out JsonElement props))
            {
                Assert.False(schema.GetProperty("additionalProperties").GetBoolean(), path + " allows unknown properties");
                foreach (JsonProperty p in props.EnumerateObject())
                {
                    string child = path + "." + p.Name;
                    paths.Add(child + ":" + Describe(p.Value) + (schema.GetProperty("required").EnumerateArray().Any(r => r.GetString() == p.Name) ? "!" : "?"));
                    SchemaPaths(child, p.Value, paths);
                }
            }

            if (schema.TryGetProperty("items", out JsonElement items))
            {
                paths.Add(path + "[]:" + Describe(items));
                SchemaPaths(path + "[]", items, paths);
            }
        }

        private static string Describe(JsonElement s)
        {
            string type = s.GetProperty("type").GetString()!;
            string R(string name) => s.TryGetProperty(name, out JsonElement v) ? v.GetRawText() : "-";
            return type switch
            {
                "integer" => type + " " + R("minimum") + ".." + R("maximum"),
                "string" when s.TryGetProperty("enum", out JsonElement e) => "enum " + string.Join("|", e.EnumerateArray().Select(x => x.GetString())),
                "string" => type + " " + R("minLength") + ".." + R("maxLength") + " " + (s.TryGetProperty("pattern", out JsonElement pat) ? pat.GetString() : "-"),
                "array" => type + " " + R("minItems") + ".." + R("maxItems") + (s.TryGetProperty("uniqueItems", out _) ? " unique" : string.Empty),
                _ => type,
            };
        }

        private static void SpecPaths(string path, SpecNode node, ISet<string> paths)
        {
            if (node is ObjectSpec o)
            {
                foreach (FieldSpec f in o.Fields)
                {
                    string child = path + "." + f.Name;
                    paths.Add(child + ":" + Describe(f.Node) + (f.Required ? "!" : "?"));
                    SpecPaths(child, f.Node, paths);
                }
            }
            else if (node is ArraySpec a)
            {
                paths.Add(path + "[]:" + Describe(a.Items));
                SpecPaths(path + "[]", a.Items, paths);
            }
        }

        private static string Describe(SpecNode n) => n switch
        {
            IntegerSpec i => "integer " + i.Minimum + ".." + i.Maximum,
            EnumSpec e => "enum " + string.Join("|", e.Values),
            StringSpec s => "string " + s.MinLength + ".." + s.MaxLength + " " + (s.Pattern ?? "-"),
            ArraySpec a => "array " + a.MinItems + ".." + a.MaxItems + (a.UniqueItems ? " unique" : string.Empty),
            BooleanSpec => "boolean",
            ObjectSpec => "object",
            _ => throw new InvalidOperationException(n.GetType().Name),
        };

        private static IEnumerable<MetadataReference> HostReferences() =>
            ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
                .Where(p => Path.GetFileName(p) is "System.Runtime.dll" or "System.Private.CoreLib.dll" or "netstandard.dll")
                .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p));
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Xml.Linq;
using E2m.Coap;
using E2m.Crypto;
using E2m.Hal.Host;
using E2m.Hal.Host.Traces;
using E2m.Oscore;
using E2m.TestSupport;
using Xunit;

namespace E2m.Oscore.Tests
{
    /// <summary>
    /// Independent oracle: protected request/response pairs produced by our code (e2m profile of DESIGN.md §4,
    /// device and EMSE contexts from an e2m_key and KID) are written as pcap and decrypted by tshark's OSCORE
    /// dissector with the oscore_contexts UAT (DESIGN.md §10). The decrypted Uri-Path, Content-Format, code and
    /// payload must be exactly what we protected, for every message.
    /// </summary>
    public class TsharkCaptureTests
    {
        private static readonly IPEndPoint Device = new(IPAddress.Parse("10.45.0.2"), 40123);
        private static readonly IPEndPoint Emse = new(IPAddress.Parse("10.45.0.1"), 5683);

        [SkippableFact]
        public void TsharkDecryptsEveryProtectedRequestAndResponse()
        {
            string tshark = ExternalTool.Require("tshark", "tshark");

            // e2m_key and KID of the e2m-kdf.json case 0 (TS 35.208 set 1 CK/IK, EMSE_Id emse.example.org).
            byte[] e2mKey = Hex.Decode("add14c3c84c098f6d4852901b89ffeed596ff3542da81b7f5518e8499567af40");
            byte[] kid = Hex.Decode("73ffcbb15a4f8029");
            var crypto = new PortableCryptoProvider();
            using var device = OscoreSecurityContext.ForDevice(crypto, e2mKey, kid, new MemorySsnStore(), 4);
            using var emse = OscoreSecurityContext.ForEmse(new PlatformCryptoProvider(), e2mKey, kid, null);

            string pcap = Path.Combine(Path.GetTempPath(), "e2m-oscore-" + Guid.NewGuid().ToString("N") + ".pcap");
            var expectedPayloads = new List<string>();
            var expectedResponsePayloads = new List<string>();
            const int Pairs = 6;
            try
            {
                using (var writer = PcapWriter.Create(pcap))
                {
                    var t0 = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
                    for (int i = 0; i < Pairs; i++)
                    {
                        // POST /r, Content-Format 112 (senml+cbor), CON (DESIGN.md §4).
                        byte[] senml = SenmlBatch(i);
                        var request = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCode.Post, MessageId = 0x1000 + i };
                        request.SetToken(new byte[] { 0xA0, (byte)i, 0x5E, 0x77 }, 0, 4);
                        request.AddUriPath("r");
                        request.SetContentFormat(CoapContentFormat.SenmlCbor);
                        request.SetPayload(senml, 0, senml.Length);

                        byte[] wire = new byte[600];
                        var clientExchange = new OscoreExchange();
                        int n = device.ProtectRequest(request, wire, 0, clientExchange);
                        writer.WriteUdp(t0.AddSeconds(2 * i), Device, Emse, wire.AsSpan(0, n));
                        expectedPayloads.Add(Hex.Encode(senml));

                        // The EMSE verifies and answers 2.04 (piggybacked ACK), protected with the request nonce,
                        // except every third response which uses its own Partial IV (RFC 8613 §8.3).
                        byte[] inner = new byte[600];
                        var serverExchange = new OscoreExchange();
                        int innerLength = emse.UnprotectRequest(wire, 0, n, inner, 0, serverExchange);
                        Assert.True(innerLength > 0);

                        byte[] ack = { (byte)'o', (byte)'k', (byte)('0' + i) };
                        var response = new CoapMessage { Type = CoapType.Acknowledgement, Code = CoapCode.Changed, MessageId = 0x1000 + i };
                        response.SetToken(new byte[] { 0xA0, (byte)i, 0x5E, 0x77 }, 0, 4);
                        response.SetPayload(ack, 0, ack.Length);
                        byte[] responseWire = new byte[200];
                        int m = emse.ProtectResponse(response, serverExchange, false, responseWire, 0);
                        writer.WriteUdp(t0.AddSeconds(2 * i + 1), Emse, Device, responseWire.AsSpan(0, m));
                        expectedResponsePayloads.Add(Hex.Encode(ack));

                        byte[] back = new byte[200];
                        Assert.True(device.UnprotectResponse(responseWire, 0, m, clientExchange, back, 0) > 0);
                    }
                }

                // UAT columns: client Sender ID, client Recipient ID, Master Secret, Master Salt, ID Context, algorithm.
                string senderId = Hex.Encode(OscoreSecurityContext.SenderIdFromKid(kid));
                string uat = $"uat:oscore_contexts:\"{senderId}\",\"\",\"{Hex.Encode(e2mKey)}\",\"\",\"\",\"AES-CCM-16-64-128 (CCM*)\"";
                ToolResult r = ExternalTool.Run(tshark, new[] { "-n", "-r", pcap, "-o", uat, "-T", "pdml" });
                Assert.True(r.ExitCode == 0, "tshark failed: " + r.StdErr);

                var packets = XDocument.Parse(r.StdOut).Root!.Elements("packet").ToList();
                Assert.Equal(2 * Pairs, packets.Count);
                var seenPiv = new HashSet<string>();
                for (int i = 0; i < 2 * Pairs; i++)
                {
                    var fields = packets[i].Descendants("field").ToList();
                    string? Show(string name) => fields.FirstOrDefault(f => (string?)f.Attribute("name") == name)?.Attribute("show")?.Value;
                    string? Value(string name) => fields.FirstOrDefault(f => (string?)f.Attribute("name") == name)?.Attribute("value")?.Value;

                    Assert.True(fields.Any(f => (string?)f.Attribute("name") == "oscore.code"),
                        $"packet {i + 1}: tshark did not decrypt the OSCORE message");
                    if (i % 2 == 0)
                    {
                        Assert.Equal("2", Show("oscore.code"));                   // inner POST
                        Assert.Equal("r", Show("oscore.opt.uri_path"));
                        Assert.Equal("application/senml+cbor", Show("oscore.opt.ctype"));   // Content-Format 112
                        Assert.Equal(expectedPayloads[i / 2], Value("oscore.payload"));
                        string piv = Value("coap.opt.object_security_piv") ?? Value("oscore.opt.object_security_piv") ?? "";
                        Assert.True(seenPiv.Add(piv), $"(kid, PIV) repeated: {piv}");
                        Assert.Equal(senderId, Value("coap.opt.object_security_kid") ?? Value("oscore.opt.object_security_kid"));
                    }
                    else
                    {
                        Assert.Equal("68", Show("oscore.code"));                  // inner 2.04
                        Assert.Equal(expectedResponsePayloads[i / 2], Value("oscore.payload"));
                    }
                }
            }
            finally
            {
                File.Delete(pcap);
            }
        }

        private static byte[] SenmlBatch(int i)
        {
            byte[] buffer = new byte[512];
            var writer = new SenmlBatchWriter(buffer, 0, 200);
            writer.Begin("urn:dev:kid:73ffcbb15a4f8029:", true, 1_795_000_000 + 60 * i);
            var record = new SenmlRecord();
            record.Set("energy", "Wh", 123_456 + i, 0, true, 0);
            Assert.True(writer.TryAdd(record));
            record.Set("power", "W", 2315 + i, -1, true, 30);
            Assert.True(writer.TryAdd(record));
            int n = writer.Finish();
            return buffer.AsSpan(0, n).ToArray();
        }
    }
}

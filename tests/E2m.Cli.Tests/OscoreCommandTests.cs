using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using E2m.TestSupport;
using Xunit;

namespace E2m.Cli.Tests
{
    /// <summary>`e2m oscore derive|protect|unprotect` against RFC 8613 Appendix C (C.1–C.3 contexts, C.4–C.8 messages).</summary>
    public class OscoreCommandTests
    {
        private static Dictionary<string, JsonElement> Contexts()
        {
            var doc = Vectors.Load("oscore-rfc8613-appC1-C3.json");
            return doc.RootElement.GetProperty("vectors").EnumerateArray().ToDictionary(v => v.GetProperty("id").GetString()!, v => v.Clone());
        }

        private static string[] ContextArgs(JsonElement c)
        {
            var args = new List<string>
            {
                "--secret", c.GetProperty("master_secret").GetString()!,
                "--sender-id", c.GetProperty("sender_id").GetString()!,
                "--recipient-id", c.GetProperty("recipient_id").GetString()!,
            };
            if (c.GetProperty("master_salt").ValueKind == JsonValueKind.String)
            {
                args.AddRange(new[] { "--salt", c.GetProperty("master_salt").GetString()! });
            }

            if (c.GetProperty("id_context").ValueKind == JsonValueKind.String)
            {
                args.AddRange(new[] { "--id-context", c.GetProperty("id_context").GetString()! });
            }

            return args.ToArray();
        }

        public static IEnumerable<object[]> DerivationVectors() => Contexts().Keys.Select(id => new object[] { "RFC 8613 " + id });

        public static IEnumerable<object[]> MessageVectors()
        {
            using var doc = Vectors.Load("oscore-rfc8613-appC4-C8.json");
            foreach (JsonElement v in doc.RootElement.GetProperty("vectors").EnumerateArray())
            {
                yield return new object[] { "RFC 8613 " + v.GetProperty("id").GetString(), v.GetRawText() };
            }
        }

        [Theory]
        [MemberData(nameof(DerivationVectors))]
        public void DeriveMatchesAppendixC(string source)
        {
            JsonElement c = Contexts()[source.Substring("RFC 8613 ".Length)];
            var run = Cli.Run(new[] { "oscore", "derive" }.Concat(ContextArgs(c)).ToArray());
            Assert.True(run.ExitCode == 0, source + ": " + run.StdErr);
            var f = run.Fields();
            Assert.Equal(new[] { "sender_key", "recipient_key", "common_iv" }, f.Keys.ToArray());
            Assert.Equal(c.GetProperty("sender_key").GetString(), f["sender_key"]);
            Assert.Equal(c.GetProperty("recipient_key").GetString(), f["recipient_key"]);
            Assert.Equal(c.GetProperty("common_iv").GetString(), f["common_iv"]);
        }

        [Theory]
        [MemberData(nameof(MessageVectors))]
        public void ProtectAndUnprotectMatchAppendixC(string source, string json)
        {
            using var doc = JsonDocument.Parse(json);
            JsonElement v = doc.RootElement;
            string V(string name) => v.GetProperty(name) switch
            {
                { ValueKind: JsonValueKind.String } e => e.GetString()!,
                { ValueKind: JsonValueKind.True } => "True",
                { ValueKind: JsonValueKind.False } => "False",
                var e => e.GetRawText(),
            };
            var contexts = Contexts();
            JsonElement ours = contexts[V("context")];
            bool isResponse = V("kind") == "response";

            var protectArgs = new List<string> { "oscore", "protect" };
            protectArgs.AddRange(ContextArgs(ours));
            protectArgs.AddRange(new[] { "--message", V("unprotected") });
            if (isResponse)
            {
                protectArgs.AddRange(new[] { "--response-to-piv", System.Convert.ToInt64(V("request_piv"), 16).ToString(), "--request-kid", V("request_kid") });
                if (V("own_piv") == "True")
                {
                    protectArgs.AddRange(new[] { "--own-piv", "--ssn", V("ssn") });
                }
            }
            else
            {
                protectArgs.AddRange(new[] { "--ssn", V("ssn") });
            }

            var p = Cli.Run(protectArgs.ToArray());
            Assert.True(p.ExitCode == 0, source + ": " + p.StdErr);
            Assert.Equal(V("protected"), p.Fields()["protected"]);

            // The peer (the mirror context: C.1.1 <-> C.1.2, ...) unprotects it back to the original message.
            string peerId = V("context").EndsWith("1") ? V("context")[..^1] + "2" : V("context")[..^1] + "1";
            var unprotectArgs = new List<string> { "oscore", "unprotect" };
            unprotectArgs.AddRange(ContextArgs(contexts[peerId]));
            unprotectArgs.AddRange(new[] { "--message", V("protected") });
            if (isResponse)
            {
                unprotectArgs.AddRange(new[] { "--response-to-piv", System.Convert.ToInt64(V("request_piv"), 16).ToString(), "--request-kid", V("request_kid") });
            }

            var u = Cli.Run(unprotectArgs.ToArray());
            Assert.True(u.ExitCode == 0, source + ": " + u.StdErr);
            Assert.Equal(V("unprotected"), u.Fields()["message"]);
        }

        [Fact]
        public void TamperedCiphertextIsATypedErrorWithExitCode1()
        {
            JsonElement server = Contexts()["C.1.2"];
            string c4 = "44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e";
            string tampered = c4[..^2] + "5f";
            var run = Cli.Run(new[] { "oscore", "unprotect" }.Concat(ContextArgs(server)).Concat(new[] { "--message", tampered }).ToArray());
            Assert.Equal(1, run.ExitCode);
            Assert.Equal("", run.StdOut);
            Assert.Single(run.StdErr.TrimEnd('\n').Split('\n'));
            Assert.Contains("decryption failed", run.StdErr);
        }

        [Fact]
        public void GarbageIsATypedErrorWithExitCode1()
        {
            JsonElement server = Contexts()["C.1.2"];
            var run = Cli.Run(new[] { "oscore", "unprotect" }.Concat(ContextArgs(server)).Concat(new[] { "--message", "ff" }).ToArray());
            Assert.Equal(1, run.ExitCode);
            Assert.StartsWith("e2m: error: ", run.StdErr);
        }

        /// <summary>Inputs the OSCORE core refuses by size are usage errors (exit 2, one line), never a crash.</summary>
        [Fact]
        public void OversizedInputsAreUsageErrorsNotCrashes()
        {
            string[] ctx = { "--secret", "01", "--sender-id", "01", "--recipient-id", "" };
            var longContext = Cli.Run(ctx.Concat(new[] { "--id-context", new string('a', 2 * 50), "--ssn", "1", "--message", "44015d1f00003974" }).Prepend("protect").Prepend("oscore").ToArray());
            Assert.True(longContext.ExitCode == 0, longContext.StdErr); // a 50-octet ID context fits the option
            foreach (string[] args in new[]
            {
                ctx.Concat(new[] { "--id-context", new string('a', 2 * 250), "--ssn", "1", "--message", "44015d1f00003974" }).ToArray(),
                ctx.Concat(new[] { "--ssn", "1", "--message", "44015d1f00003974ff" + new string('0', 2 * 1200) }).ToArray(),
                new[] { "--secret", "01", "--sender-id", "", "--recipient-id", "01", "--message", "64455d1f00003974", "--response-to-piv", "1", "--request-kid", new string('1', 2 * 256) },
                ctx.Concat(new[] { "--ssn", "1", "--message", "44015d1f0000397462" + "0001" }).ToArray(), // Observe (6) in the request
            })
            {
                var run = Cli.Run(new[] { "oscore", "protect" }.Concat(args).ToArray());
                Assert.True(run.ExitCode is 1 or 2, string.Join(' ', args.Take(8)) + ": exit " + run.ExitCode + " " + run.StdErr);
                Assert.Single(run.StdErr.Trim().Split('\n'));
                Assert.DoesNotContain("Unhandled", run.StdErr);
            }
        }

        [Fact]
        public void ProtectWithoutSsnIsAUsageError()
        {
            JsonElement client = Contexts()["C.1.1"];
            var run = Cli.Run(new[] { "oscore", "protect" }.Concat(ContextArgs(client)).Concat(new[] { "--message", "44015d1f00003974396c6f63616c686f737483747631" }).ToArray());
            Assert.Equal(2, run.ExitCode);
            Assert.Contains("--ssn", run.StdErr);
        }
    }
}

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using E2m.Hal;
using E2m.Hal.Host;
using E2m.Modem.At;
using Xunit;

namespace E2m.Modem.Tests.At
{
    /// <summary>
    /// Replays every annotated transcript of tests/transcripts (BG95 and SARA-R410M exchanges from
    /// shared reference facts, cited in each file) through the AT channel, with the modem output cut
    /// into seeded random fragments of 1..7 bytes, on a fake clock. Each (transcript, seed) pair is
    /// one case; a failure names both.
    /// </summary>
    public sealed class TranscriptTests
    {
        private const int SeedsPerTranscript = 24;

        public static IEnumerable<object[]> Cases()
        {
            string dir = Path.Combine(AppContext.BaseDirectory, "transcripts");
            foreach (string file in Directory.GetFiles(dir, "*.txt").OrderBy(f => f, StringComparer.Ordinal))
            {
                for (int seed = 1; seed <= SeedsPerTranscript; seed++)
                {
                    yield return new object[] { Path.GetFileName(file), seed };
                }
            }
        }

        [Theory]
        [MemberData(nameof(Cases))]
        public void Transcript_replays_in_random_fragments(string transcript, int seed)
        {
            Run(Path.Combine(AppContext.BaseDirectory, "transcripts", transcript), seed, maxFragment: 7);
        }

        [Fact]
        public void Every_transcript_also_replays_byte_by_byte_and_in_one_piece()
        {
            foreach (string file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "transcripts"), "*.txt"))
            {
                Run(file, seed: 99, maxFragment: 1);
                Run(file, seed: 99, maxFragment: 4096);
            }
        }

        [Fact]
        public void There_are_transcripts_for_both_dialects()
        {
            string[] files = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "transcripts"), "*.txt").Select(Path.GetFileName).ToArray()!;
            Assert.Contains(files, f => f.StartsWith("bg95", StringComparison.Ordinal));
            Assert.Contains(files, f => f.StartsWith("sara-r410m", StringComparison.Ordinal));
        }

        internal static void Run(string path, int seed, int maxFragment)
        {
            Transcript t = Transcript.Load(path);
            var clock = new FakeClock();
            var modem = new ScriptedModem(t, clock, seed, maxFragment);
            var log = new TextLog(null, LogLevel.Trace);
            var channel = new AtChannel(modem, clock, clock, log, AtChannel.DefaultMaxLineLength);
            var urcs = new Recorder();
            var reboots = new Recorder();
            foreach (string prefix in t.Subscriptions)
            {
                channel.RegisterUrc(prefix, urcs);
            }

            foreach (string line in t.RebootLines)
            {
                channel.AddRebootLine(line);
            }

            channel.RegisterRebootHandler(reboots);
            TranscriptItem? current = null;
            try
            {
                for (int i = 0; i < t.Items.Count; i++)
                {
                    current = t.Items[i];
                    switch (current.Kind)
                    {
                        case ">>":
                            i = ExecuteStep(t, i, channel);
                            break;
                        case "~~":
                            {
                                string[] p = current.Text.Split(' ');
                                long until = clock.NowMilliseconds + int.Parse(p[1], CultureInfo.InvariantCulture);
                                while (clock.NowMilliseconds < until)
                                {
                                    channel.Poll((int)(until - clock.NowMilliseconds));
                                }

                                break;
                            }

                        case "??":
                            CheckCounters(current, channel);
                            break;
                    }
                }

                current = null;
                Assert.True(modem.Finished, "modem script not finished at " + modem.Position);
                Assert.Equal(t.Items.Where(x => x.Kind == "<<u").Select(x => x.Text), urcs.Lines);
                Assert.Equal(t.Items.Where(x => x.Kind == "<<b").Select(x => x.Text), reboots.Lines);
            }
            catch (Exception e)
            {
                string tail = string.Join("\n", log.Lines.TakeLast(25));
                throw new Xunit.Sdk.XunitException(
                    Path.GetFileName(path) + " seed=" + seed + " maxFragment=" + maxFragment + " at " + (current?.ToString() ?? "end") +
                    ": " + e.Message + "\n--- channel log (tail) ---\n" + tail);
            }
        }

        private static int ExecuteStep(Transcript t, int i, AtChannel channel)
        {
            TranscriptItem step = t.Items[i];
            AtCommand command = BuildCommand(step);
            byte[]? payload = null;
            int j = i + 1;
            while (j < t.Items.Count && t.Items[j].Kind != "==")
            {
                if (t.Items[j].Kind == ">>>" && payload == null)
                {
                    payload = t.Items[j].Bytes;
                    if (command.PayloadTerminator >= 0)
                    {
                        payload = payload[..^1]; // the transcript shows the terminator the modem receives
                    }
                }

                if (t.Items[j].Kind == ">>")
                {
                    throw new FormatException(step + ": no \"==\" before the next command");
                }

                j++;
            }

            if (j == t.Items.Count)
            {
                throw new FormatException(step + ": no \"==\" expectation");
            }

            if (payload == null && command.Prompt != '\0')
            {
                payload = Transcript.Ascii("unsent"); // refused before the prompt: the modem script fails if it is written
            }

            var result = new AtResult();
            AtStatus status = payload == null
                ? channel.Execute(command, result)
                : channel.Execute(command, null, payload, 0, payload.Length, result);
            Check(t.Items[j], status, result);
            return j;
        }

        internal static AtCommand BuildCommand(TranscriptItem step)
        {
            Dictionary<string, string> o = step.Options;
            var c = new AtCommand(step.Text, o.TryGetValue("timeout", out string? to) ? int.Parse(to, CultureInfo.InvariantCulture) : 300);
            if (o.TryGetValue("prefix", out string? prefix))
            {
                c.ResponsePrefix = prefix;
            }

            c.RawResponse = o.ContainsKey("raw");
            c.Idempotent = o.ContainsKey("idempotent");
            c.Sensitive = o.ContainsKey("sensitive");
            if (o.TryGetValue("shape", out string? shape))
            {
                c.ResponseLeadingNumbers = int.Parse(shape, CultureInfo.InvariantCulture);
            }

            if (o.TryGetValue("max", out string? max))
            {
                c.MaxResponseLines = int.Parse(max, CultureInfo.InvariantCulture);
            }

            if (o.TryGetValue("attempts", out string? attempts))
            {
                c.Attempts = int.Parse(attempts, CultureInfo.InvariantCulture);
            }

            if (o.TryGetValue("prompt", out string? prompt))
            {
                c.Prompt = prompt[0];
            }

            if (o.TryGetValue("promptdelay", out string? pd))
            {
                c.PromptDelayMs = int.Parse(pd, CultureInfo.InvariantCulture);
            }

            if (o.ContainsKey("ctrlz"))
            {
                c.PayloadTerminator = 0x1A;
            }

            if (o.TryGetValue("binary", out string? binary))
            {
                c.BinaryPrefix = binary;
            }

            if (o.TryGetValue("success", out string? success))
            {
                c.SuccessLine = Unescaped(success);
            }

            if (o.TryGetValue("failure", out string? failure))
            {
                c.FailureLine = Unescaped(failure);
            }

            return c;
        }

        private static void Check(TranscriptItem expect, AtStatus status, AtResult result)
        {
            Dictionary<string, string> o = expect.Options;
            Assert.Equal(Enum.Parse<AtStatus>(o["_"]), status);
            Assert.Equal(status, result.Status);
            Assert.Equal(o.TryGetValue("code", out string? code) ? int.Parse(code, CultureInfo.InvariantCulture) : -1, result.ErrorCode);
            if (o.TryGetValue("text", out string? text))
            {
                Assert.Equal(Unescaped(text), result.ErrorText);
            }

            if (o.TryGetValue("lines", out string? lines))
            {
                Assert.Equal(int.Parse(lines, CultureInfo.InvariantCulture), result.LineCount);
            }

            for (int k = 0; k < 16; k++)
            {
                if (o.TryGetValue("line" + k, out string? line))
                {
                    Assert.True(k < result.LineCount, "missing response line " + k);
                    Assert.Equal(Unescaped(line), result.Lines[k]);
                }
            }

            if (o.TryGetValue("payload", out string? payload))
            {
                Assert.Equal(Transcript.Unescape(payload), result.Payload.AsSpan(0, result.PayloadLength).ToArray());
            }

            if (o.TryGetValue("attempts", out string? attempts))
            {
                Assert.Equal(int.Parse(attempts, CultureInfo.InvariantCulture), result.Attempts);
            }
        }

        private static void CheckCounters(TranscriptItem item, AtChannel channel)
        {
            foreach (var kv in item.Options)
            {
                if (kv.Key == "_")
                {
                    continue;
                }

                int actual = kv.Key switch
                {
                    "oversize" => channel.OversizeLines,
                    "stray" => channel.StrayLines,
                    "stale" => channel.StaleFinals,
                    "unhandled" => channel.UnhandledUrcs,
                    "reboots" => channel.Reboots,
                    "timeouts" => channel.Timeouts,
                    "insync" => channel.InSync ? 1 : 0,
                    _ => throw new FormatException("unknown counter " + kv.Key),
                };
                Assert.True(actual == int.Parse(kv.Value, CultureInfo.InvariantCulture), "counter " + kv.Key + " = " + actual + ", expected " + kv.Value);
            }

        }

        private static string Unescaped(string s) => Encoding.Latin1.GetString(Transcript.Unescape(s));

        private sealed class Recorder : IUrcHandler
        {
            public List<string> Lines { get; } = new();

            public void OnUrc(string line) => Lines.Add(line);
        }
    }
}

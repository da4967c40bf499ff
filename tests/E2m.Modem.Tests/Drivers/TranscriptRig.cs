using System;
using System.IO;
using E2m.Hal.Host;
using E2m.Modem.At;
using E2m.Modem.Tests.At;
using Xunit;

namespace E2m.Modem.Tests.Drivers
{
    /// <summary>
    /// Shared set-up of the driver transcript tests: a scripted modem playing tests/transcripts/drivers/FILE in seeded
    /// random fragments (at most <c>maxFragment</c> octets) on a fake clock, the firmware's AT channel on top of it, and
    /// the PWRKEY pin.
    /// </summary>
    internal sealed class TranscriptRig
    {
        public required FakeClock Clock;
        public required ScriptedModem Modem;
        public required AtChannel Channel;
        public required SimulatedPin Key;

        /// <summary>Seeds and fragment sizes every transcript runs with: 7-octet fragments, single octets, 64-octet chunks.</summary>
        public static TheoryData<int, int> Seeds()
        {
            var d = new TheoryData<int, int>();
            foreach (int seed in new[] { 1, 2, 3, 42, 1234 })
            {
                d.Add(seed, 7);
            }

            d.Add(5, 1);
            d.Add(6, 64);
            return d;
        }

        public static TranscriptRig Open(string file, int seed, int maxFragment)
        {
            return FromTranscript(Transcript.Load(Path.Combine(AppContext.BaseDirectory, "transcripts", "drivers", file)), seed, maxFragment);
        }

        private static TranscriptRig FromTranscript(Transcript t, int seed, int maxFragment)
        {
            var clock = new FakeClock();
            var modem = new ScriptedModem(t, clock, seed, maxFragment);
            var channel = new AtChannel(modem, clock, clock);
            return new TranscriptRig { Clock = clock, Modem = modem, Channel = channel, Key = new SimulatedPin("pwrkey", clock) };
        }

        /// <summary>A transcript given inline (lines in the transcript file format) instead of a file under tests/transcripts.</summary>
        public static TranscriptRig OpenInline(string[] lines, int seed, int maxFragment)
        {
            string path = Path.Combine(Path.GetTempPath(), "e2m-transcript-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N") + ".txt");
            File.WriteAllText(path, string.Join("\n", lines) + "\n");
            try
            {
                return FromTranscript(Transcript.Load(path), seed, maxFragment);
            }
            finally
            {
                File.Delete(path);
            }
        }

        /// <summary>The whole script was played (every expected command was sent).</summary>
        public void Done(int seed)
        {
            Assert.True(Modem.Finished, "seed " + seed + ": script not finished at " + Modem.Position);
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace E2m.Server.Emse.Storage
{
    /// <summary>
    /// The byte layout of one <c>emse_reading_blocks</c> row (SQLite readings file): readings of ONE device in arrival
    /// order, as a fold wrote them (README "Storage layout"). A block costs one table row and one index entry however
    /// many readings it holds, where a row per reading cost two b-tree inserts per reading. The device id is the row's
    /// column, not repeated; a reading of the same exchange as the one before it does not repeat its kid and PIV; times
    /// are deltas from the reading before. Rows are written and read only by this code, but a payload that does not
    /// decode is still rejected with <see cref="InvalidDataException"/>, never half read.
    /// <para>
    /// Version 1, per reading: flags (unit, number, integer, text, boolean, boolean value, same exchange, device time),
    /// [kid, PIV], index, name, value kind, [unit], [number], [integer], [text], time delta, [time source], received
    /// delta.
    /// </para>
    /// </summary>
    internal static class ReadingBlock
    {
        private const byte Version = 1;

        /// <summary>Readings per block at most (a fold splits a device's readings beyond this): bounds a query's decode.</summary>
        internal const int MaxReadings = 4096;

        // Flags bits 0-5: ReadingFields; 6-7 this layout's.
        private const byte SameExchange = 64;
        private const byte DeviceTime = 128;

        /// <summary>"device": SenML absolute time (RFC 8428 §4.5.3), the reading's time set by the device.</summary>
        internal const string DeviceTimeSource = "device";

        /// <summary>Encodes <paramref name="count"/> readings of <paramref name="readings"/> from <paramref name="start"/> (one device).</summary>
        public static byte[] Encode(List<StoredReading> readings, int start, int count, MemoryStream scratch)
        {
            if (count < 1 || count > MaxReadings)
            {
                throw new ArgumentOutOfRangeException(nameof(count));
            }

            scratch.SetLength(0);
            using (var w = new BinaryWriter(scratch, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Version);
                w.Write7BitEncodedInt(count);
                StoredReading? previous = null;
                long time = 0;
                long received = 0;
                for (int i = start; i < start + count; i++)
                {
                    StoredReading r = readings[i];
                    bool same = previous != null && r.Piv == previous.Piv && string.Equals(r.Kid, previous.Kid, StringComparison.Ordinal);
                    bool deviceTime = string.Equals(r.TimeSource, DeviceTimeSource, StringComparison.Ordinal);
                    byte flags = ReadingFields.Flags(r);
                    flags |= same ? SameExchange : (byte)0;
                    flags |= deviceTime ? DeviceTime : (byte)0;
                    w.Write(flags);
                    if (!same)
                    {
                        w.Write(r.Kid);
                        w.Write7BitEncodedInt64(r.Piv);
                    }

                    ReadingFields.Write(w, r);
                    w.Write7BitEncodedInt64(ZigZag(unchecked(r.TimeMs - time)));
                    if (!deviceTime)
                    {
                        w.Write(r.TimeSource);
                    }

                    w.Write7BitEncodedInt64(ZigZag(unchecked(r.ReceivedMs - received)));
                    time = r.TimeMs;
                    received = r.ReceivedMs;
                    previous = r;
                }
            }

            return scratch.ToArray();
        }

        /// <summary>The readings of one block (device <paramref name="deviceId"/>), appended to <paramref name="into"/> in arrival order.</summary>
        public static void Decode(byte[] payload, string deviceId, List<StoredReading> into)
        {
            int added = 0;
            try
            {
                using var r = new BinaryReader(new MemoryStream(payload, false), Encoding.UTF8);
                if (r.ReadByte() != Version)
                {
                    throw new InvalidDataException("emse_reading_blocks payload: unknown layout version");
                }

                int count = r.Read7BitEncodedInt();
                if (count < 1 || count > MaxReadings)
                {
                    throw new InvalidDataException("emse_reading_blocks payload: count out of range");
                }

                string kid = "";
                long piv = 0;
                long time = 0;
                long received = 0;
                for (int i = 0; i < count; i++)
                {
                    byte flags = r.ReadByte();
                    if ((flags & SameExchange) == 0)
                    {
                        kid = r.ReadString();
                        piv = r.Read7BitEncodedInt64();
                    }
                    else if (i == 0)
                    {
                        throw new InvalidDataException("emse_reading_blocks payload: first reading refers to a previous one");
                    }

                    var s = new StoredReading { DeviceId = deviceId, Kid = kid, Piv = piv };
                    ReadingFields.Read(r, flags, s);
                    time = unchecked(time + UnZigZag(r.Read7BitEncodedInt64()));
                    s.TimeMs = time;
                    s.TimeSource = (flags & DeviceTime) != 0 ? DeviceTimeSource : r.ReadString();
                    received = unchecked(received + UnZigZag(r.Read7BitEncodedInt64()));
                    s.ReceivedMs = received;
                    into.Add(s);
                    added++;
                }

                if (r.BaseStream.Position != payload.Length)
                {
                    throw new InvalidDataException("emse_reading_blocks payload: trailing bytes");
                }
            }
            catch (Exception e) when (GroupJournal.IsUndecodable(e))
            {
                into.RemoveRange(into.Count - added, added); // never half read
                throw e is InvalidDataException ? e : new InvalidDataException("emse_reading_blocks payload: " + (e is EndOfStreamException ? "truncated" : e.Message));
            }
        }

        private static long ZigZag(long v) => (v << 1) ^ (v >> 63);

        private static long UnZigZag(long v) => (long)((ulong)v >> 1) ^ -(v & 1);
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace E2m.Server.Emse.Storage
{
    /// <summary>
    /// The byte layout of one <c>emse_journal</c> row: the exchanges a group commit accepted (kid, PIV, device) with
    /// their replay state and readings, in arrival order. The group commit (SQLite) appends ONE such row and nothing
    /// else per group, so a 2.04 still means "durable"; <see cref="EmseStore.FoldJournal()"/> moves the readings into
    /// the readings file later, many groups per transaction, and the replay state goes to <c>emse_replay</c> when the
    /// row is deleted (see the README, "Storage layout"). The rows are
    /// written and read only by this code, but a row that does not decode is still rejected with
    /// <see cref="InvalidDataException"/> (the fold sets it aside whole, never half applied).
    /// <para>
    /// Version 3: per exchange kid, PIV, device id, flags, [the kid's window after the group (highest, mask), request
    /// hash, response], the readings' byte length, the readings; a reading that carries its exchange's device, kid and
    /// PIV (the usual case) does not repeat them. Version 2 (no flags, no state, no length) and version 1 (request hash
    /// and response per exchange, every field per reading) are still read.
    /// </para>
    /// </summary>
    internal static class GroupJournal
    {
        /// <summary>Layout version written (first byte); <see cref="Decode"/> reads 1 to 3 and refuses others.</summary>
        private const byte Version = 3;

        // Version 3 entry flags.
        private const byte HasState = 1;

        // A reading's flags: bits 0-5 ReadingFields (presence of optional fields), bit 6 this layout's.
        private const byte OwnExchange = 64; // v2: device, kid and PIV are the exchange's, not written

        /// <summary>Upper bounds that keep a corrupt row from allocating without limit.</summary>
        private const int MaxEntries = 1 << 20;
        private const int MaxReadings = 1 << 16;
        private const int MaxBlob = 1 << 16;

        /// <summary>
        /// The exchanges in <paramref name="entries"/> (kid, PIV, device, readings). <paramref name="withState"/>: each
        /// entry also carries its kid's replay window after the group (<see cref="ExchangeWrite.WindowHighest"/>/Mask),
        /// its request hash and its response: the group commit's replay state, applied to <c>emse_replay</c> when the
        /// row is deleted (<see cref="EmseStore"/> "ApplyJournal"). The row is written into <paramref name="scratch"/>
        /// and returned as its buffer (0 to Length): the group commit binds those octets (SQLite copies a bound blob), so
        /// no array of the row's size is allocated per group.
        /// </summary>
        public static ReadOnlySpan<byte> EncodeInto(List<ExchangeWrite> entries, MemoryStream scratch, bool withState = false)
        {
            scratch.SetLength(0);
            using (var w = new BinaryWriter(scratch, Encoding.UTF8, leaveOpen: true))
            using (var readingsBuffer = new MemoryStream())
            using (var rw = new BinaryWriter(readingsBuffer, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Version);
                w.Write7BitEncodedInt(entries.Count);
                foreach (ExchangeWrite e in entries)
                {
                    w.Write(e.Kid);
                    w.Write(e.Piv);
                    w.Write(e.DeviceId);
                    w.Write(withState ? HasState : (byte)0);
                    if (withState)
                    {
                        w.Write(e.WindowHighest);
                        w.Write(e.WindowMask);
                        WriteBlob(w, e.RequestHash);
                        WriteBlob(w, e.Response);
                    }

                    // The readings with their length first: the state alone is read without parsing them.
                    readingsBuffer.SetLength(0);
                    List<StoredReading>? readings = e.Readings;
                    rw.Write7BitEncodedInt(readings?.Count ?? 0);
                    if (readings != null)
                    {
                        foreach (StoredReading r in readings)
                        {
                            WriteReading(rw, r, e);
                        }
                    }

                    rw.Flush();
                    w.Write7BitEncodedInt((int)readingsBuffer.Length);
                    w.Write(readingsBuffer.GetBuffer(), 0, (int)readingsBuffer.Length);
                }
            }

            return scratch.GetBuffer().AsSpan(0, (int)scratch.Length);
        }

        private static void WriteBlob(BinaryWriter w, byte[] b)
        {
            w.Write7BitEncodedInt(b.Length);
            w.Write(b);
        }

        /// <summary>
        /// Only the replay state of a row (version 3 entries written with state; older rows have none: their windows
        /// went to emse_replay in their own transaction): per entry kid, PIV, window, request hash, response.
        /// </summary>
        public static void DecodeState(byte[] row, List<ExchangeWrite> into)
        {
            int added = 0;
            try
            {
                using var r = new BinaryReader(new MemoryStream(row, false), Encoding.UTF8);
                byte version = r.ReadByte();
                if (version != 1 && version != 2 && version != 3)
                {
                    throw new InvalidDataException("emse_journal row: unknown layout version");
                }

                if (version < 3)
                {
                    return;
                }

                int count = Count(r, MaxEntries);
                for (int i = 0; i < count; i++)
                {
                    var e = new ExchangeWrite { Kid = r.ReadString(), Piv = r.ReadInt64(), DeviceId = r.ReadString() };
                    bool hasState = ReadState(r, e);
                    int skip = Count(r, row.Length);
                    if (r.BaseStream.Seek(skip, SeekOrigin.Current) > row.Length)
                    {
                        throw new InvalidDataException("emse_journal row: truncated");
                    }

                    if (hasState)
                    {
                        into.Add(e);
                        added++;
                    }
                }

                if (r.BaseStream.Position != row.Length)
                {
                    throw new InvalidDataException("emse_journal row: trailing bytes");
                }
            }
            catch (Exception e) when (IsUndecodable(e))
            {
                into.RemoveRange(into.Count - added, added);
                throw e is InvalidDataException ? e : new InvalidDataException("emse_journal row: " + (e is EndOfStreamException ? "truncated" : e.Message));
            }
        }

        /// <summary>The exchanges of one row, readings included (<see cref="ExchangeWrite.Readings"/> null when none).</summary>
        public static List<ExchangeWrite> Decode(byte[] row)
        {
            try
            {
                using var r = new BinaryReader(new MemoryStream(row, false), Encoding.UTF8);
                byte version = r.ReadByte();
                if (version != 1 && version != 2 && version != 3)
                {
                    throw new InvalidDataException("emse_journal row: unknown layout version");
                }

                int count = Count(r, MaxEntries);
                var list = new List<ExchangeWrite>(count);
                for (int i = 0; i < count; i++)
                {
                    var e = new ExchangeWrite { Kid = r.ReadString(), Piv = r.ReadInt64() };
                    if (version == 1)
                    {
                        e.RequestHash = ReadBlob(r);
                        e.Response = ReadBlob(r);
                    }

                    e.DeviceId = r.ReadString();
                    long end = -1;
                    if (version == 3)
                    {
                        ReadState(r, e);
                        int length = Count(r, row.Length);
                        end = r.BaseStream.Position + length;
                    }

                    int n = Count(r, MaxReadings);
                    if (n > 0)
                    {
                        e.Readings = new List<StoredReading>(n);
                        for (int k = 0; k < n; k++)
                        {
                            e.Readings.Add(ReadReading(r, e));
                        }
                    }

                    if (end >= 0 && r.BaseStream.Position != end)
                    {
                        throw new InvalidDataException("emse_journal row: readings length mismatch");
                    }

                    list.Add(e);
                }

                if (r.BaseStream.Position != row.Length)
                {
                    throw new InvalidDataException("emse_journal row: trailing bytes");
                }

                return list;
            }
            catch (EndOfStreamException)
            {
                throw new InvalidDataException("emse_journal row: truncated");
            }
            catch (Exception e) when (IsUndecodable(e) && e is not InvalidDataException)
            {
                throw new InvalidDataException("emse_journal row: " + e.Message);
            }
        }

        /// <summary>
        /// What BinaryReader and the decoders throw on bytes that are not a row: truncation (EndOfStreamException), a bad
        /// 7-bit length (FormatException), a negative string length (a plain IOException), an out-of-range count or enum
        /// (ArgumentException, OverflowException). All of them mean "undecodable row": moved aside, never a service halt.
        /// </summary>
        internal static bool IsUndecodable(Exception e) =>
            e is IOException || e is FormatException || e is InvalidDataException || e is ArgumentException || e is OverflowException;

        private static void WriteReading(BinaryWriter w, StoredReading r, ExchangeWrite e)
        {
            bool own = r.Piv == e.Piv && string.Equals(r.DeviceId, e.DeviceId, StringComparison.Ordinal) && string.Equals(r.Kid, e.Kid, StringComparison.Ordinal);
            byte flags = ReadingFields.Flags(r);
            flags |= own ? OwnExchange : (byte)0;
            w.Write(flags);
            if (!own)
            {
                w.Write(r.DeviceId);
                w.Write(r.Kid);
                w.Write(r.Piv);
            }

            ReadingFields.Write(w, r);
            w.Write(r.TimeMs);
            w.Write(r.TimeSource);
            w.Write(r.ReceivedMs);
        }

        private static StoredReading ReadReading(BinaryReader r, ExchangeWrite e)
        {
            byte flags = r.ReadByte();
            var s = new StoredReading();
            if ((flags & OwnExchange) != 0)
            {
                s.DeviceId = e.DeviceId;
                s.Kid = e.Kid;
                s.Piv = e.Piv;
            }
            else
            {
                s.DeviceId = r.ReadString();
                s.Kid = r.ReadString();
                s.Piv = r.ReadInt64();
            }

            ReadingFields.Read(r, flags, s);
            s.TimeMs = r.ReadInt64();
            s.TimeSource = r.ReadString();
            s.ReceivedMs = r.ReadInt64();
            return s;
        }

        /// <summary>Version 3: an entry's flags and, when present, its replay state (window, request hash, response).</summary>
        private static bool ReadState(BinaryReader r, ExchangeWrite e)
        {
            byte flags = r.ReadByte();
            if ((flags & ~HasState) != 0)
            {
                throw new InvalidDataException("emse_journal row: unknown entry flags");
            }

            if ((flags & HasState) == 0)
            {
                return false;
            }

            e.WindowHighest = r.ReadInt64();
            e.WindowMask = r.ReadUInt32();
            e.RequestHash = ReadBlob(r);
            e.Response = ReadBlob(r);
            return true;
        }

        private static byte[] ReadBlob(BinaryReader r)
        {
            int n = Count(r, MaxBlob);
            byte[] b = r.ReadBytes(n);
            if (b.Length != n)
            {
                throw new InvalidDataException("emse_journal row: truncated");
            }

            return b;
        }

        private static int Count(BinaryReader r, int max)
        {
            int n = r.Read7BitEncodedInt();
            if (n < 0 || n > max)
            {
                throw new InvalidDataException("emse_journal row: count out of range");
            }

            return n;
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace E2m.Server.Emse.Storage
{
    /// <summary>
    /// The byte layout of one <c>emse_journal</c> row: the exchanges a group commit accepted, with their readings, in
    /// arrival order. The group commit (SQLite) appends ONE such row in the transaction that moves the replay windows,
    /// so a 2.04 still means "durable"; <see cref="EmseStore"/> folds journal rows into <c>emse_exchanges</c> and
    /// <c>emse_readings</c> later, many groups per transaction (see the README, "Storage layout"). The rows are written
    /// and read only by this process's code, but a row that does not decode is still rejected with
    /// <see cref="InvalidDataException"/> and left in place, never half applied.
    /// </summary>
    internal static class GroupJournal
    {
        /// <summary>Layout version (first byte); a row with another version is refused.</summary>
        private const byte Version = 1;

        // Presence flags of a reading's optional fields.
        private const byte HasUnit = 1;
        private const byte HasNumber = 2;
        private const byte HasInteger = 4;
        private const byte HasText = 8;
        private const byte HasBoolean = 16;
        private const byte BooleanTrue = 32;

        /// <summary>Upper bounds that keep a corrupt row from allocating without limit.</summary>
        private const int MaxEntries = 1 << 20;
        private const int MaxReadings = 1 << 16;
        private const int MaxBlob = 1 << 16;

        /// <summary>The exchanges in <paramref name="entries"/> (kid, PIV, request hash, response, device, readings).</summary>
        public static byte[] Encode(List<ExchangeWrite> entries, MemoryStream scratch)
        {
            scratch.SetLength(0);
            using (var w = new BinaryWriter(scratch, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Version);
                w.Write7BitEncodedInt(entries.Count);
                foreach (ExchangeWrite e in entries)
                {
                    w.Write(e.Kid);
                    w.Write(e.Piv);
                    WriteBlob(w, e.RequestHash);
                    WriteBlob(w, e.Response);
                    w.Write(e.DeviceId);
                    List<StoredReading>? readings = e.Readings;
                    w.Write7BitEncodedInt(readings?.Count ?? 0);
                    if (readings == null)
                    {
                        continue;
                    }

                    foreach (StoredReading r in readings)
                    {
                        WriteReading(w, r);
                    }
                }
            }

            return scratch.ToArray();
        }

        /// <summary>The exchanges of one row, readings included (<see cref="ExchangeWrite.Readings"/> null when none).</summary>
        public static List<ExchangeWrite> Decode(byte[] row)
        {
            try
            {
                using var r = new BinaryReader(new MemoryStream(row, false), Encoding.UTF8);
                if (r.ReadByte() != Version)
                {
                    throw new InvalidDataException("emse_journal row: unknown layout version");
                }

                int count = Count(r, MaxEntries);
                var list = new List<ExchangeWrite>(count);
                for (int i = 0; i < count; i++)
                {
                    var e = new ExchangeWrite
                    {
                        Kid = r.ReadString(),
                        Piv = r.ReadInt64(),
                        RequestHash = ReadBlob(r),
                        Response = ReadBlob(r),
                        DeviceId = r.ReadString(),
                    };
                    int n = Count(r, MaxReadings);
                    if (n > 0)
                    {
                        e.Readings = new List<StoredReading>(n);
                        for (int k = 0; k < n; k++)
                        {
                            e.Readings.Add(ReadReading(r));
                        }
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
            catch (FormatException e)
            {
                throw new InvalidDataException("emse_journal row: " + e.Message);
            }
        }

        private static void WriteReading(BinaryWriter w, StoredReading r)
        {
            byte flags = 0;
            flags |= r.Unit != null ? HasUnit : (byte)0;
            flags |= r.Number.HasValue ? HasNumber : (byte)0;
            flags |= r.Integer.HasValue ? HasInteger : (byte)0;
            flags |= r.Text != null ? HasText : (byte)0;
            flags |= r.Boolean.HasValue ? HasBoolean : (byte)0;
            flags |= r.Boolean == true ? BooleanTrue : (byte)0;
            w.Write(flags);
            w.Write(r.DeviceId);
            w.Write(r.Kid);
            w.Write(r.Piv);
            w.Write7BitEncodedInt(r.Index);
            w.Write(r.Name);
            w.Write7BitEncodedInt(r.ValueKind);
            if (r.Unit != null)
            {
                w.Write(r.Unit);
            }

            if (r.Number.HasValue)
            {
                w.Write(r.Number.Value);
            }

            if (r.Integer.HasValue)
            {
                w.Write(r.Integer.Value);
            }

            if (r.Text != null)
            {
                w.Write(r.Text);
            }

            w.Write(r.TimeMs);
            w.Write(r.TimeSource);
            w.Write(r.ReceivedMs);
        }

        private static StoredReading ReadReading(BinaryReader r)
        {
            byte flags = r.ReadByte();
            var s = new StoredReading
            {
                DeviceId = r.ReadString(),
                Kid = r.ReadString(),
                Piv = r.ReadInt64(),
                Index = r.Read7BitEncodedInt(),
                Name = r.ReadString(),
                ValueKind = r.Read7BitEncodedInt(),
            };
            s.Unit = (flags & HasUnit) != 0 ? r.ReadString() : null;
            s.Number = (flags & HasNumber) != 0 ? r.ReadDouble() : null;
            s.Integer = (flags & HasInteger) != 0 ? r.ReadInt64() : null;
            s.Text = (flags & HasText) != 0 ? r.ReadString() : null;
            s.Boolean = (flags & HasBoolean) != 0 ? (flags & BooleanTrue) != 0 : null;
            s.TimeMs = r.ReadInt64();
            s.TimeSource = r.ReadString();
            s.ReceivedMs = r.ReadInt64();
            return s;
        }

        private static void WriteBlob(BinaryWriter w, byte[] blob)
        {
            w.Write7BitEncodedInt(blob.Length);
            w.Write(blob);
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

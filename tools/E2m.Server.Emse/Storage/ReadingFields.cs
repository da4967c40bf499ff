using System.IO;

namespace E2m.Server.Emse.Storage
{
    /// <summary>
    /// The value fields of a stored reading as both binary layouts write them (<see cref="GroupJournal"/> rows and
    /// <see cref="ReadingBlock"/> payloads): presence flags (bits 0–5 of the reading's flags byte; each layout uses bits
    /// 6–7 for its own purposes), then index, name, value kind, [unit], [number], [integer], [text]; the boolean is in
    /// the flags.
    /// </summary>
    internal static class ReadingFields
    {
        private const byte HasUnit = 1;
        private const byte HasNumber = 2;
        private const byte HasInteger = 4;
        private const byte HasText = 8;
        private const byte HasBoolean = 16;
        private const byte BooleanTrue = 32;

        /// <summary>Presence flags of <paramref name="r"/>'s optional fields.</summary>
        public static byte Flags(StoredReading r)
        {
            byte flags = r.Unit != null ? HasUnit : (byte)0;
            flags |= r.Number.HasValue ? HasNumber : (byte)0;
            flags |= r.Integer.HasValue ? HasInteger : (byte)0;
            flags |= r.Text != null ? HasText : (byte)0;
            flags |= r.Boolean.HasValue ? HasBoolean : (byte)0;
            flags |= r.Boolean == true ? BooleanTrue : (byte)0;
            return flags;
        }

        public static void Write(BinaryWriter w, StoredReading r)
        {
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
        }

        public static void Read(BinaryReader r, byte flags, StoredReading s)
        {
            s.Index = r.Read7BitEncodedInt();
            s.Name = r.ReadString();
            s.ValueKind = r.Read7BitEncodedInt();
            s.Unit = (flags & HasUnit) != 0 ? r.ReadString() : null;
            s.Number = (flags & HasNumber) != 0 ? r.ReadDouble() : null;
            s.Integer = (flags & HasInteger) != 0 ? r.ReadInt64() : null;
            s.Text = (flags & HasText) != 0 ? r.ReadString() : null;
            s.Boolean = (flags & HasBoolean) != 0 ? (flags & BooleanTrue) != 0 : null;
        }
    }
}

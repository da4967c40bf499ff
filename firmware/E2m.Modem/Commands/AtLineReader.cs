using E2m.Modem.Usim;

namespace E2m.Modem.Commands
{
    /// <summary>
    /// A cursor over one information-text line of an AT response or URC (TS 27.007 §4.1, V.250 §5.7):
    /// <c>+NAME: field,field,...</c>. Fields are integers, quoted strings or empty (an omitted optional
    /// parameter). Tolerates what modems print: no space or several spaces after the colon, spaces around
    /// commas, quoted or unquoted strings. Anything that does not fit throws <see cref="UsimException"/>
    /// (the AT/SIM member of the MalformedInputException family). Pure; reads the line in place.
    /// </summary>
    public sealed class AtLineReader
    {
        private string _line;
        private int _pos;

        public AtLineReader(string line)
        {
            Reset(line);
        }

        /// <summary>Re-uses the reader for another line.</summary>
        public void Reset(string line)
        {
            if (line == null) throw new System.ArgumentNullException("line");
            _line = line;
            _pos = 0;
        }

        /// <summary>Current position (for error reports).</summary>
        public int Position { get { return _pos; } }

        /// <summary>True when <paramref name="line"/> starts with <paramref name="prefix"/> followed by ':' (e.g. "+CEREG").</summary>
        public static bool HasPrefix(string line, string prefix)
        {
            if (line == null || prefix == null) return false;
            string t = TrimStart(line);
            return t.Length > prefix.Length && t.StartsWith(prefix) && t[prefix.Length] == ':';
        }

        /// <summary>Consumes "PREFIX:" and following spaces; throws if the line does not start so.</summary>
        public void ExpectPrefix(string prefix)
        {
            SkipSpaces();
            if (!(_line.Length - _pos > prefix.Length && MatchAt(_line, _pos, prefix) && _line[_pos + prefix.Length] == ':'))
            {
                throw new UsimException(UsimError.BadAtSyntax, _pos, "expected " + prefix + ":");
            }
            _pos += prefix.Length + 1;
            SkipSpaces();
        }

        /// <summary>Consumes "PREFIX:" if present (for lines some modems print with and others without a prefix).</summary>
        public bool TryPrefix(string prefix)
        {
            int save = _pos;
            SkipSpaces();
            if (_line.Length - _pos > prefix.Length && MatchAt(_line, _pos, prefix) && _line[_pos + prefix.Length] == ':')
            {
                _pos += prefix.Length + 1;
                SkipSpaces();
                return true;
            }
            _pos = save;
            return false;
        }

        /// <summary>True when nothing but spaces remains.</summary>
        public bool AtEnd
        {
            get
            {
                int p = _pos;
                while (p < _line.Length && IsSpace(_line[p])) p++;
                return p >= _line.Length;
            }
        }

        /// <summary>True when the next field is empty (",," or end of line after a comma) or the line ended.</summary>
        public bool NextIsEmpty
        {
            get
            {
                int p = _pos;
                while (p < _line.Length && IsSpace(_line[p])) p++;
                return p >= _line.Length || _line[p] == ',';
            }
        }

        /// <summary>True when the next field starts with a double quote.</summary>
        public bool NextIsQuoted
        {
            get
            {
                int p = _pos;
                while (p < _line.Length && IsSpace(_line[p])) p++;
                return p < _line.Length && _line[p] == '"';
            }
        }

        /// <summary>Consumes the separator after a field: a comma, or nothing at end of line. Returns false at end.</summary>
        public bool NextField()
        {
            SkipSpaces();
            if (_pos >= _line.Length) return false;
            if (_line[_pos] != ',') throw new UsimException(UsimError.BadAtSyntax, _pos, "expected ','");
            _pos++;
            SkipSpaces();
            return true;
        }

        /// <summary>Throws unless the line is finished.</summary>
        public void ExpectEnd()
        {
            SkipSpaces();
            if (_pos < _line.Length) throw new UsimException(UsimError.BadAtSyntax, _pos, "unexpected text at end of line");
        }

        /// <summary>Reads a decimal integer field (optionally quoted), 0..2^31-1.</summary>
        public int ReadInt()
        {
            SkipSpaces();
            bool quoted = _pos < _line.Length && _line[_pos] == '"';
            if (quoted) _pos++;
            int start = _pos;
            long value = 0;
            while (_pos < _line.Length && _line[_pos] >= '0' && _line[_pos] <= '9')
            {
                value = value * 10 + (_line[_pos] - '0');
                if (value > int.MaxValue) throw new UsimException(UsimError.BadAtNumber, start);
                _pos++;
            }
            if (_pos == start) throw new UsimException(_pos >= _line.Length || _line[_pos] == ',' ? UsimError.MissingAtField : UsimError.BadAtNumber, start);
            if (quoted)
            {
                if (_pos >= _line.Length || _line[_pos] != '"') throw new UsimException(UsimError.BadAtSyntax, _pos, "unterminated quote");
                _pos++;
            }
            SkipSpaces();
            return (int)value;
        }

        /// <summary>Reads an integer field within [min, max].</summary>
        public int ReadInt(int min, int max)
        {
            int start = _pos;
            int v = ReadInt();
            if (v < min || v > max) throw new UsimException(UsimError.BadAtNumber, start);
            return v;
        }

        /// <summary>Reads an optional integer field: returns <paramref name="absent"/> when the field is empty.</summary>
        public int ReadOptionalInt(int absent)
        {
            if (NextIsEmpty) return absent;
            return ReadInt();
        }

        /// <summary>
        /// Reads a hexadecimal number field, quoted or not (e.g. tac "3a9b", ci "0000c33d", TS 27.007 §10.1.22),
        /// with at most <paramref name="maxDigits"/> digits; returns it as long.
        /// </summary>
        public long ReadHexNumber(int maxDigits)
        {
            SkipSpaces();
            bool quoted = _pos < _line.Length && _line[_pos] == '"';
            if (quoted) _pos++;
            int start = _pos;
            long value = 0;
            while (_pos < _line.Length && HexString.Nibble(_line[_pos]) >= 0)
            {
                if (_pos - start >= maxDigits) throw new UsimException(UsimError.BadAtNumber, start);
                value = (value << 4) | (long)HexString.Nibble(_line[_pos]);
                _pos++;
            }
            if (_pos == start) throw new UsimException(UsimError.BadAtNumber, start);
            if (quoted)
            {
                if (_pos >= _line.Length || _line[_pos] != '"') throw new UsimException(UsimError.BadAtSyntax, _pos, "unterminated quote");
                _pos++;
            }
            SkipSpaces();
            return value;
        }

        /// <summary>Optional hex number: -1 when the field is empty or an empty quoted string.</summary>
        public long ReadOptionalHexNumber(int maxDigits)
        {
            if (NextIsEmpty) return -1;
            int p = _pos;
            while (p < _line.Length && IsSpace(_line[p])) p++;
            if (p + 1 < _line.Length && _line[p] == '"' && _line[p + 1] == '"')
            {
                _pos = p + 2;
                SkipSpaces();
                return -1;
            }
            return ReadHexNumber(maxDigits);
        }

        /// <summary>
        /// Reads a string field: a quoted string (TS 27.007 §4.1: no embedded quotes) or, as some modems print,
        /// an unquoted token up to the next comma. Returns the text without quotes (may be empty).
        /// </summary>
        public string ReadString()
        {
            int start;
            int end;
            ReadStringSpan(out start, out end);
            return _line.Substring(start, end - start);
        }

        /// <summary>Like <see cref="ReadString"/> but returns the bounds in the line (no allocation).</summary>
        public void ReadStringSpan(out int start, out int end)
        {
            SkipSpaces();
            if (_pos < _line.Length && _line[_pos] == '"')
            {
                _pos++;
                start = _pos;
                while (_pos < _line.Length && _line[_pos] != '"') _pos++;
                if (_pos >= _line.Length) throw new UsimException(UsimError.BadAtSyntax, start - 1, "unterminated quote");
                end = _pos;
                _pos++;
            }
            else
            {
                start = _pos;
                while (_pos < _line.Length && _line[_pos] != ',') _pos++;
                end = _pos;
                while (end > start && IsSpace(_line[end - 1])) end--;
            }
            SkipSpaces();
        }

        /// <summary>The underlying line.</summary>
        public string Line { get { return _line; } }

        /// <summary>Reads the rest of the line verbatim (trimmed).</summary>
        public string ReadRest()
        {
            SkipSpaces();
            int end = _line.Length;
            while (end > _pos && IsSpace(_line[end - 1])) end--;
            string s = _line.Substring(_pos, end - _pos);
            _pos = _line.Length;
            return s;
        }

        /// <summary>Skips one field whatever it holds.</summary>
        public void SkipField()
        {
            int s;
            int e;
            ReadStringSpan(out s, out e);
        }

        private static bool MatchAt(string line, int pos, string text)
        {
            if (pos + text.Length > line.Length) return false;
            for (int i = 0; i < text.Length; i++)
            {
                if (line[pos + i] != text[i]) return false;
            }
            return true;
        }

        private void SkipSpaces()
        {
            while (_pos < _line.Length && IsSpace(_line[_pos])) _pos++;
        }

        private static bool IsSpace(char c)
        {
            return c == ' ' || c == '\t' || c == '\r' || c == '\n';
        }

        private static string TrimStart(string s)
        {
            int p = 0;
            while (p < s.Length && IsSpace(s[p])) p++;
            return p == 0 ? s : s.Substring(p);
        }
    }
}

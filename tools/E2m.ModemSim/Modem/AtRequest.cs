using System;
using System.Collections.Generic;
using System.Text;

namespace E2m.ModemSim.Modem
{
    /// <summary>Syntax form of an AT command (V.250 §5.3 basic, TS 27.007 §4.1 extended: exec, set "=", read "?", test "=?").</summary>
    public enum AtForm
    {
        Exec,
        Set,
        Read,
        Test,
    }

    /// <summary>One parameter of a set command: its text (quotes removed when <see cref="Quoted"/>), or empty/omitted.</summary>
    public readonly record struct AtArg(string Text, bool Quoted)
    {
        public bool IsEmpty => !Quoted && Text.Length == 0;
    }

    /// <summary>
    /// One command of a command line as the simulated DCE parsed it: name (upper case, "+CPIN", "E", "&amp;F"),
    /// form and parameters (TS 27.007 §4.1: comma separated, strings in double quotes).
    /// </summary>
    public sealed class AtRequest
    {
        public AtRequest(string name, AtForm form, string argumentText, string lineText)
        {
            Name = name;
            Form = form;
            ArgumentText = argumentText;
            LineText = lineText;
            Args = ParseArgs(argumentText);
        }

        /// <summary>Upper-case command name: "+CSIM", "+QIOPEN", "E", "I", "&amp;F".</summary>
        public string Name { get; }

        public AtForm Form { get; }

        /// <summary>Raw text after '=' (set form) or the digits of a basic command ("0" in E0).</summary>
        public string ArgumentText { get; }

        /// <summary>The whole command line as received (without CR), for logs and fault matching.</summary>
        public string LineText { get; }

        public IReadOnlyList<AtArg> Args { get; }

        public int Count => Args.Count;

        public bool Has(int i) => i < Args.Count && !Args[i].IsEmpty;

        public string Str(int i) => i < Args.Count ? Args[i].Text : string.Empty;

        /// <summary>Integer parameter <paramref name="i"/>, or throws <see cref="AtSyntaxException"/> (→ ERROR / +CME ERROR: 50).</summary>
        public int Int(int i)
        {
            if (i >= Args.Count || Args[i].Quoted || !int.TryParse(Args[i].Text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int v))
            {
                throw new AtSyntaxException("parameter " + i + " is not an integer");
            }

            return v;
        }

        public int Int(int i, int defaultValue) => Has(i) ? Int(i) : defaultValue;

        internal static List<AtArg> ParseArgs(string text)
        {
            var list = new List<AtArg>();
            if (string.IsNullOrEmpty(text))
            {
                return list;
            }

            var sb = new StringBuilder();
            bool quoted = false;
            bool inQuotes = false;
            foreach (char c in text)
            {
                if (inQuotes)
                {
                    if (c == '"')
                    {
                        inQuotes = false;
                    }
                    else
                    {
                        sb.Append(c);
                    }
                }
                else if (c == '"')
                {
                    inQuotes = true;
                    quoted = true;
                }
                else if (c == ',')
                {
                    list.Add(new AtArg(quoted ? sb.ToString() : sb.ToString().Trim(), quoted));
                    sb.Clear();
                    quoted = false;
                }
                else
                {
                    sb.Append(c);
                }
            }

            if (inQuotes)
            {
                throw new AtSyntaxException("unterminated string");
            }

            list.Add(new AtArg(quoted ? sb.ToString() : sb.ToString().Trim(), quoted));
            return list;
        }

        /// <summary>
        /// Splits a command line (after "AT") into commands: basic ones (V.250 §5.3: E0, V1, Z, &amp;F, I, Q0, X4)
        /// and extended ones ("+NAME[=..|?|=?]") concatenated with ';' (TS 27.007 §4.0).
        /// </summary>
        public static List<AtRequest> ParseLine(string line)
        {
            var result = new List<AtRequest>();
            string body = line.Substring(2);
            int i = 0;
            while (i < body.Length)
            {
                char c = body[i];
                if (c == ' ' || c == ';')
                {
                    i++;
                    continue;
                }

                if (c == '+' || c == '$' || c == '^' || c == '#')
                {
                    int end = FindCommandEnd(body, i);
                    result.Add(ParseExtended(body.Substring(i, end - i), line));
                    i = end;
                    continue;
                }

                // basic command: optional '&', one letter, optional digits
                int start = i;
                string name;
                if (c == '&' && i + 1 < body.Length)
                {
                    name = "&" + char.ToUpperInvariant(body[i + 1]);
                    i += 2;
                }
                else if (char.IsLetter(c))
                {
                    name = char.ToUpperInvariant(c).ToString();
                    i++;
                }
                else
                {
                    throw new AtSyntaxException("unexpected '" + c + "'");
                }

                int digits = i;
                while (i < body.Length && char.IsDigit(body[i]))
                {
                    i++;
                }

                AtForm form = AtForm.Exec;
                if (i < body.Length && body[i] == '?')
                {
                    form = AtForm.Read;
                    i++;
                }

                result.Add(new AtRequest(name, form, body.Substring(digits, i - digits).TrimEnd('?'), line));
                _ = start;
            }

            return result;
        }

        private static int FindCommandEnd(string s, int start)
        {
            bool q = false;
            for (int i = start; i < s.Length; i++)
            {
                if (s[i] == '"')
                {
                    q = !q;
                }
                else if (s[i] == ';' && !q)
                {
                    return i;
                }
            }

            return s.Length;
        }

        private static AtRequest ParseExtended(string cmd, string line)
        {
            int i = 1;
            while (i < cmd.Length && (char.IsLetterOrDigit(cmd[i]) || cmd[i] == '_'))
            {
                i++;
            }

            string name = cmd.Substring(0, i).ToUpperInvariant();
            string rest = cmd.Substring(i);
            if (rest.Length == 0)
            {
                return new AtRequest(name, AtForm.Exec, string.Empty, line);
            }

            if (rest == "?")
            {
                return new AtRequest(name, AtForm.Read, string.Empty, line);
            }

            if (rest == "=?")
            {
                return new AtRequest(name, AtForm.Test, string.Empty, line);
            }

            if (rest[0] == '=')
            {
                return new AtRequest(name, AtForm.Set, rest.Substring(1), line);
            }

            throw new AtSyntaxException("bad syntax after " + name);
        }
    }

    /// <summary>A command line the DCE cannot parse: answered with ERROR (V.250 §5.7.1) / +CME ERROR: 50.</summary>
    public sealed class AtSyntaxException : Exception
    {
        public AtSyntaxException(string message)
            : base(message)
        {
        }
    }

    /// <summary>A handler refusing a command with a +CME code (TS 27.007 §9.2), formatted per +CMEE.</summary>
    public sealed class CmeException : Exception
    {
        public CmeException(int code)
            : base("+CME ERROR: " + code)
        {
            Code = code;
        }

        public int Code { get; }
    }
}

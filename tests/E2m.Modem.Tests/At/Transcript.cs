using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

namespace E2m.Modem.Tests.At
{
    /// <summary>One parsed line of a transcript file (format: tests/transcripts/README.md).</summary>
    internal sealed class TranscriptItem
    {
        public required string Kind { get; init; } // ">>", ">>&", ">>>", "<<", "<<u", "<<b", "<<~", "!!", "==", "~~", "??"
        public required string Text { get; init; }
        public byte[] Bytes { get; init; } = Array.Empty<byte>();
        public Dictionary<string, string> Options { get; init; } = new();
        public int LineNumber { get; init; }

        public override string ToString() => "line " + LineNumber + ": " + Kind + " " + Text;
    }

    /// <summary>A transcript: header directives (%...) and items in order.</summary>
    internal sealed class Transcript
    {
        public string Name { get; private set; } = "";
        public List<string> Subscriptions { get; } = new();
        public List<string> RebootLines { get; } = new();
        public List<TranscriptItem> Items { get; } = new();

        public static Transcript Load(string path)
        {
            var t = new Transcript { Name = Path.GetFileName(path) };
            string[] lines = File.ReadAllLines(path);
            for (int n = 0; n < lines.Length; n++)
            {
                string raw = lines[n];
                if (raw.Length == 0 || raw[0] == '#')
                {
                    continue;
                }

                if (raw[0] == '%')
                {
                    string[] parts = raw.Substring(1).Split(' ', 2);
                    switch (parts[0])
                    {
                        case "subscribe": t.Subscriptions.Add(parts[1]); break;
                        case "reboot-line": t.RebootLines.Add(parts[1]); break;
                        case "dialect": break;
                        default: throw new FormatException(path + ":" + (n + 1) + ": unknown directive " + raw);
                    }

                    continue;
                }

                int sp = raw.IndexOf(' ');
                string kind = sp < 0 ? raw : raw.Substring(0, sp);
                string rest = sp < 0 ? "" : raw.Substring(sp + 1);
                var item = kind switch
                {
                    ">>" => Command(rest, n + 1),
                    ">>&" or "<<" or "<<u" or "<<b" => new TranscriptItem { Kind = kind, Text = rest, Bytes = Ascii(rest), LineNumber = n + 1 },
                    ">>>" or "<<~" => new TranscriptItem { Kind = kind, Text = rest, Bytes = Unescape(rest), LineNumber = n + 1 },
                    "!!" or "~~" => new TranscriptItem { Kind = kind, Text = rest, LineNumber = n + 1 },
                    "==" or "??" => new TranscriptItem { Kind = kind, Text = rest, Options = ParseOptions(rest, kind == "=="), LineNumber = n + 1 },
                    _ => throw new FormatException(path + ":" + (n + 1) + ": unknown line kind " + kind),
                };
                t.Items.Add(item);
            }

            return t;
        }

        private static TranscriptItem Command(string rest, int lineNumber)
        {
            int sep = rest.IndexOf(" ;; ", StringComparison.Ordinal);
            string text = sep < 0 ? rest : rest.Substring(0, sep);
            var options = sep < 0 ? new Dictionary<string, string>() : ParseOptions(rest.Substring(sep + 4));
            return new TranscriptItem { Kind = ">>", Text = text, Bytes = Ascii(text), Options = options, LineNumber = lineNumber };
        }

        /// <summary>key=value tokens separated by blanks; a value may be "quoted" (with \ escapes); a bare key has value "".</summary>
        public static Dictionary<string, string> ParseOptions(string s, bool firstWordIsStatus = false)
        {
            var d = new Dictionary<string, string>();
            int i = 0;
            int positional = 0;
            while (i < s.Length)
            {
                while (i < s.Length && s[i] == ' ')
                {
                    i++;
                }

                if (i >= s.Length)
                {
                    break;
                }

                int start = i;
                while (i < s.Length && s[i] != ' ' && s[i] != '=')
                {
                    i++;
                }

                string key = s.Substring(start, i - start);
                string value = "";
                if (i < s.Length && s[i] == '=')
                {
                    i++;
                    if (i < s.Length && s[i] == '"')
                    {
                        i++;
                        var sb = new StringBuilder();
                        while (i < s.Length && s[i] != '"')
                        {
                            if (s[i] == '\\' && i + 1 < s.Length)
                            {
                                sb.Append(s[i]);
                                i++;
                            }

                            sb.Append(s[i]);
                            i++;
                        }

                        i++;
                        value = sb.ToString();
                    }
                    else
                    {
                        int vs = i;
                        while (i < s.Length && s[i] != ' ')
                        {
                            i++;
                        }

                        value = s.Substring(vs, i - vs);
                    }
                }
                else if (firstWordIsStatus && positional == 0 && d.Count == 0)
                {
                    d["_"] = key; // first bare word (the status of "==")
                    positional++;
                    continue;
                }

                d[key] = value;
            }

            return d;
        }

        public static byte[] Ascii(string s) => Encoding.Latin1.GetBytes(s);

        /// <summary>\r \n \0 \t \\ \" \xNN escapes; everything else literal (Latin-1).</summary>
        public static byte[] Unescape(string s)
        {
            var bytes = new List<byte>();
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                if (c != '\\' || i + 1 >= s.Length)
                {
                    bytes.Add((byte)c);
                    continue;
                }

                char e = s[++i];
                switch (e)
                {
                    case 'r': bytes.Add(13); break;
                    case 'n': bytes.Add(10); break;
                    case '0': bytes.Add(0); break;
                    case 't': bytes.Add(9); break;
                    case 'x':
                        bytes.Add(byte.Parse(s.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 2;
                        break;
                    default: bytes.Add((byte)e); break;
                }
            }

            return bytes.ToArray();
        }
    }
}

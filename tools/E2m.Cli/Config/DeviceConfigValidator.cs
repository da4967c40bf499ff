using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace E2m.Cli.Config
{
    /// <summary>One problem: JSON path, what was expected, what was found (never a secret's value).</summary>
    internal sealed record ConfigProblem(string Path, string Expected, string Found)
    {
        public override string ToString() => Path + ": expected " + Expected + ", found " + Found;
    }

    /// <summary>
    /// Validates device-config.json against <see cref="DeviceConfigSpec"/> with System.Text.Json and reports every
    /// problem (not just the first), one per path. Also the "no keys" rules and the cross-field rules.
    /// </summary>
    internal sealed class DeviceConfigValidator
    {
        private static readonly Regex SecretName = new(
            "^(k|ki|op|opc|ck|ik|kc|res|xres|auts|psk|pin|puk|salt|token|key|secret|password|passwd|pwd)$|(key|secret|password|passwd|pwd|psk|salt|token)$",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

        // 32+ hex digits (a 128-bit key), also written in groups ("465b5ce8 b199b49f ..." or "46:5b:5c:..."), and base64 of
        // 16+ octets (22+ characters of the base64 alphabet, optional padding): keys in any of the usual spellings.
        private static readonly Regex LongHex = new("(?:[0-9A-Fa-f][\\s:_-]?){31}[0-9A-Fa-f]", RegexOptions.CultureInvariant);

        private static readonly Regex Base64Key = new("[A-Za-z0-9+/]{22,}={0,2}", RegexOptions.CultureInvariant);

        private static Match KeyLike(string s)
        {
            Match hex = LongHex.Match(s);
            if (hex.Success)
            {
                return hex;
            }

            // a run of the base64 alphabet is a key only if it mixes cases and digits (a long word or path is not)
            foreach (Match b in Base64Key.Matches(s))
            {
                string v = b.Value;
                if (v.Any(char.IsDigit) && v.Any(char.IsUpper) && v.Any(char.IsLower))
                {
                    return b;
                }
            }

            return Match.Empty;
        }

        private readonly List<ConfigProblem> _problems = new();

        private DeviceConfigValidator()
        {
        }

        /// <summary>Validates JSON text; an empty list means valid.</summary>
        public static IReadOnlyList<ConfigProblem> Validate(string json)
        {
            var v = new DeviceConfigValidator();
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
            }
            catch (JsonException e)
            {
                string where = e.LineNumber is long line ? " at line " + (line + 1) + ", byte " + ((e.BytePositionInLine ?? 0) + 1) : string.Empty;
                v.Add("$", "a JSON document", "invalid JSON" + where);
                return v._problems;
            }

            using (doc)
            {
                v.Walk("$", doc.RootElement, DeviceConfigSpec.Root);
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    v._crossField = true;
                    v.CrossField(doc.RootElement);
                }
            }

            return v._problems;
        }

        private bool _crossField;

        private void Add(string path, string expected, string found)
        {
            // cross-field rules run on whatever parts are individually valid; a path already reported keeps its first line
            if (_crossField && _problems.Any(p => p.Path == path))
            {
                return;
            }

            _problems.Add(new ConfigProblem(path, expected, found));
        }

        /// <summary>Runs one cross-field rule; a rule whose inputs are missing or of the wrong type is skipped (already reported).</summary>
        private static void Rule(Action rule)
        {
            try
            {
                rule();
            }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentNullException)
            {
            }
        }

        private void Walk(string path, JsonElement e, SpecNode node)
        {
            if (e.ValueKind == JsonValueKind.String && KeyLike(e.GetString()!) is { Success: true } m)
            {
                Add(path, "no key material (keys come from AKA, never from device-config.json)", "a string with a " + m.Length + "-character key-like run (value not shown)");
                return;
            }

            switch (node)
            {
                case ObjectSpec o:
                    WalkObject(path, e, o);
                    break;
                case ArraySpec a:
                    WalkArray(path, e, a);
                    break;
                case IntegerSpec i:
                    if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long n) || n < i.Minimum || n > i.Maximum)
                    {
                        Add(path, Expected(i), Found(e));
                    }

                    break;
                case BooleanSpec:
                    if (e.ValueKind != JsonValueKind.True && e.ValueKind != JsonValueKind.False)
                    {
                        Add(path, Expected(node), Found(e));
                    }

                    break;
                case EnumSpec en:
                    if (e.ValueKind != JsonValueKind.String || !en.Values.Contains(e.GetString()!, StringComparer.Ordinal))
                    {
                        Add(path, Expected(en), Found(e));
                    }

                    break;
                case StringSpec s:
                    WalkString(path, e, s);
                    break;
                default:
                    throw new InvalidOperationException("unknown spec node " + node.GetType().Name);
            }
        }

        private void WalkString(string path, JsonElement e, StringSpec s)
        {
            if (e.ValueKind != JsonValueKind.String)
            {
                Add(path, s.Expected, Found(e));
                return;
            }

            string value = e.GetString()!;
            if (value.Length == 0 && s.MinLength > 0)
            {
                Add(path, NonEmpty(s.Expected), Found(e));
                return;
            }

            string? extra = s.Extra?.Invoke(value);
            if (extra != null)
            {
                Add(path, extra, Found(e));
            }
            else if (!s.Matches(value) || value.Length < s.MinLength)
            {
                Add(path, s.Expected, Found(e));
            }
            else if (value.Length > s.MaxLength)
            {
                Add(path, s.Expected + " of at most " + s.MaxLength + " characters", value.Length + " characters");
            }
        }

        // "an FQDN (...)" -> "a non-empty FQDN"; "a string" -> "a non-empty string"
        private static string NonEmpty(string expected)
        {
            int paren = expected.IndexOf(" (", StringComparison.Ordinal);
            string noun = paren > 0 ? expected.Substring(0, paren) : expected;
            if (noun.StartsWith("an ", StringComparison.Ordinal))
            {
                noun = noun.Substring(3);
            }
            else if (noun.StartsWith("a ", StringComparison.Ordinal))
            {
                noun = noun.Substring(2);
            }

            return "a non-empty " + noun;
        }

        private void WalkObject(string path, JsonElement e, ObjectSpec o)
        {
            if (e.ValueKind != JsonValueKind.Object)
            {
                Add(path, "an object (" + Shorten(o.Description) + ")", Found(e));
                return;
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty p in e.EnumerateObject())
            {
                string child = Child(path, p.Name);
                if (!seen.Add(p.Name))
                {
                    Add(child, "each property once", "it repeated");
                    continue;
                }

                FieldSpec? f = o.Fields.FirstOrDefault(x => x.Name == p.Name);
                if (f != null)
                {
                    Walk(child, p.Value, f.Node);
                }
                else if (SecretName.IsMatch(p.Name))
                {
                    Add(child, "no key material (keys come from AKA, never from device-config.json)", "a property named like a key or secret (value not shown)");
                }
                else
                {
                    Add(child, "one of the properties " + string.Join(", ", o.Fields.Select(x => x.Name)), "an unknown property");
                }
            }

            foreach (FieldSpec f in o.Fields)
            {
                if (f.Required && !seen.Contains(f.Name))
                {
                    Add(Child(path, f.Name), Expected(f.Node) + " (required)", "nothing");
                }
            }
        }

        private void WalkArray(string path, JsonElement e, ArraySpec a)
        {
            if (e.ValueKind != JsonValueKind.Array)
            {
                Add(path, Expected(a), Found(e));
                return;
            }

            int count = e.GetArrayLength();
            if (count < a.MinItems || count > a.MaxItems)
            {
                Add(path, Expected(a), count == 0 ? "an empty array" : "an array of " + count + " items");
            }

            var seen = new List<string>();
            int i = 0;
            foreach (JsonElement item in e.EnumerateArray())
            {
                string child = path + "[" + i.ToString(CultureInfo.InvariantCulture) + "]";
                int before = _problems.Count;
                Walk(child, item, a.Items);
                // compared as values, not as JSON text: "lte-m" and "lte\u002Dm" are the same string (JSON Schema uniqueItems)
                string raw = item.ValueKind == JsonValueKind.String ? "s:" + item.GetString() : item.GetRawText();
                if (a.UniqueItems && _problems.Count == before && seen.Contains(raw))
                {
                    Add(child, "a value not already listed in " + path + " (unique items)", Found(item));
                }

                seen.Add(raw);
                i++;
            }
        }

        private static string Child(string path, string name) =>
            Regex.IsMatch(name, "^[A-Za-z_$][A-Za-z0-9_$]*$") ? path + "." + name : path + "[" + JsonSerializer.Serialize(name) + "]";

        internal static string Expected(SpecNode node) => node switch
        {
            IntegerSpec i => "an integer " + i.Minimum.ToString(CultureInfo.InvariantCulture) + ".." + i.Maximum.ToString(CultureInfo.InvariantCulture),
            BooleanSpec => "true or false",
            EnumSpec en => "one of " + string.Join(", ", en.Values.Select(v => "\"" + v + "\"")),
            StringSpec s => s.Expected,
            ArraySpec a => "an array of " + a.MinItems + ".." + a.MaxItems + (a.UniqueItems ? " unique" : string.Empty) + " items, each " + Expected(a.Items),
            ObjectSpec o => "an object (" + Shorten(o.Description) + ")",
            _ => node.Description,
        };

        private static string Shorten(string description)
        {
            int cut = description.IndexOfAny(new[] { ':', '(', '.' });
            return (cut > 0 ? description.Substring(0, cut) : description).Trim();
        }

        /// <summary>How a found value is shown: JSON text for scalars (long strings cut), a kind for containers.</summary>
        internal static string Found(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    return "an object";
                case JsonValueKind.Array:
                    return e.GetArrayLength() == 0 ? "an empty array" : "an array";
                case JsonValueKind.String:
                    string s = e.GetString()!;
                    string shown = s.Length > 64 ? s.Substring(0, 64) + "..." : s;
                    return JsonSerializer.Serialize(shown, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
                default:
                    return e.GetRawText();
            }
        }

        // ---- rules JSON Schema does not express (DeviceConfigSpec.CrossFieldRules); run on a schema-valid document ----

        private void CrossField(JsonElement root)
        {
            Rule(() => UniqueEmses(root));
            Rule(() => Intervals(root));
            Rule(() => PulsesPerKwh(root));
            Rule(() => MinimumRat(root));
            Rule(() => KeyModes(root));
            Rule(() => Datagram(root));
            Rule(() => CheckPins(root));
        }

        private void UniqueEmses(JsonElement root)
        {
            var emses = root.GetProperty("emses").EnumerateArray().ToArray();
            for (int i = 0; i < emses.Length; i++)
            {
                for (int j = 0; j < i; j++)
                {
                    if (emses[i].GetProperty("emseId").GetString() == emses[j].GetProperty("emseId").GetString())
                    {
                        Add("$.emses[" + i + "].emseId", "an EMSE_Id not already used by $.emses[" + j + "]", Found(emses[i].GetProperty("emseId")));
                        break;
                    }
                }

                for (int j = 0; j < i; j++)
                {
                    if (string.Equals(emses[i].GetProperty("endpoint").GetString(), emses[j].GetProperty("endpoint").GetString(), StringComparison.OrdinalIgnoreCase))
                    {
                        Add("$.emses[" + i + "].endpoint", "an endpoint not already used by $.emses[" + j + "] (all EMSEs see the same OSCORE kid)", Found(emses[i].GetProperty("endpoint")));
                        break;
                    }
                }
            }

        }

        private void Intervals(JsonElement root)
        {
            long sampling = root.GetProperty("sampling").GetProperty("intervalSeconds").GetInt64();
            JsonElement uploadInterval = root.GetProperty("upload").GetProperty("intervalSeconds");
            if (uploadInterval.GetInt64() < sampling)
            {
                Add("$.upload.intervalSeconds", "at least $.sampling.intervalSeconds (" + sampling + ")", Found(uploadInterval));
            }

        }

        private void PulsesPerKwh(JsonElement root)
        {
            bool energy = root.GetProperty("emses").EnumerateArray()
                .Any(e => e.GetProperty("readings").EnumerateArray().Any(r => r.ValueKind == JsonValueKind.String && r.GetString() == "energy"));
            JsonElement ppk = root.GetProperty("sampling").GetProperty("pulsesPerKwh");
            long n = ppk.GetInt64();
            while (n >= 10 && n % 10 == 0)
            {
                n /= 10;
            }

            if (energy && n != 1)
            {
                Add("$.sampling.pulsesPerKwh", "a power of ten (1, 10, ..., 100000) when an EMSE receives \"energy\" (sent as pulses x 10^n Wh, no division on the device)", Found(ppk));
            }
        }

        private void MinimumRat(JsonElement root)
        {
            JsonElement minimumRat = root.GetProperty("policy").GetProperty("minimumRat");
            int min = Array.IndexOf(DeviceConfigSpec.Rats, minimumRat.GetString());
            if (!root.GetProperty("network").GetProperty("rats").EnumerateArray().Any(r => Array.IndexOf(DeviceConfigSpec.Rats, r.GetString()) >= min))
            {
                Add("$.policy.minimumRat", "a RAT that $.network.rats allows (order gprs < nb-iot < lte-m), or the device could never send", Found(minimumRat));
            }

        }

        private void KeyModes(JsonElement root)
        {
            if (root.GetProperty("keyMode").GetString() == "home" && root.GetProperty("keyModeFallback").GetString() != "none")
            {
                Add("$.keyModeFallback", "\"none\" when $.keyMode is \"home\" (home mode is the last resort)", Found(root.GetProperty("keyModeFallback")));
            }

        }

        private void Datagram(JsonElement root)
        {
            string model = root.GetProperty("modem").GetProperty("model").GetString()!;
            if (Array.IndexOf(DeviceConfigSpec.Modems, model) < 0)
            {
                return; // reported by the enum
            }

            // AT+QISEND ≤ 1460; AT+USOST in HEX syntax (the driver's) within the 1024-character command line: 480 (UbloxCommands)
            int limit = model.StartsWith("bg", StringComparison.Ordinal) ? 1460 : 480;
            JsonElement maxDatagram = root.GetProperty("upload").GetProperty("maxDatagram");
            if (maxDatagram.GetInt64() > limit)
            {
                Add("$.upload.maxDatagram", "at most " + limit + " octets (the " + model + " UDP send limit)", Found(maxDatagram));
            }
        }

        private void CheckPins(JsonElement root)
        {
            string board = root.GetProperty("board").GetString()!;
            JsonElement modem = root.GetProperty("modem");
            JsonElement uart = modem.GetProperty("uart");
            JsonElement pins = modem.GetProperty("pins");
            string port = uart.GetProperty("port").GetString()!;

            // (path, element, isOutput)
            var used = new List<(string Path, JsonElement Value, bool Output)>();
            if (uart.TryGetProperty("txPin", out JsonElement tx))
            {
                used.Add(("$.modem.uart.txPin", tx, true));
            }

            if (uart.TryGetProperty("rxPin", out JsonElement rx))
            {
                used.Add(("$.modem.uart.rxPin", rx, false));
            }

            // STM32: the UART pins are fixed by the nanoCLR image; when the document omits them they are still taken.
            (int Tx, int Rx)? fixedPins = board != "stm32-nucleo-f746zg" ? null : port switch
            {
                // ST_NUCLEO144_F746ZG community image: UART2 on PD5/PD6, UART6 on PC6/PC7 (nf-Community-Targets target_system_io_ports_config.cpp)
                "COM2" => (3 * 16 + 5, 3 * 16 + 6),
                "COM6" => (2 * 16 + 6, 2 * 16 + 7),
                _ => null,
            };
            if (fixedPins != null && !uart.TryGetProperty("txPin", out _))
            {
                used.Add(("$.modem.uart.port (" + port + " TX)", JsonSerializer.SerializeToElement(fixedPins.Value.Tx), true));
            }

            if (fixedPins != null && !uart.TryGetProperty("rxPin", out _))
            {
                used.Add(("$.modem.uart.port (" + port + " RX)", JsonSerializer.SerializeToElement(fixedPins.Value.Rx), false));
            }

            used.Add(("$.modem.pins.pwrkey", pins.GetProperty("pwrkey"), true));
            used.Add(("$.modem.pins.reset", pins.GetProperty("reset"), true));
            used.Add(("$.modem.pins.status", pins.GetProperty("status"), false));
            used.Add(("$.sampling.pulseInputPin", root.GetProperty("sampling").GetProperty("pulseInputPin"), false));

            for (int i = 0; i < used.Count; i++)
            {
                for (int j = 0; j < i; j++)
                {
                    if (used[i].Value.GetInt32() == used[j].Value.GetInt32())
                    {
                        Add(used[i].Path, "a GPIO not already used by " + used[j].Path, Found(used[i].Value));
                        break;
                    }
                }
            }

            if (board == "esp32-devkitc")
            {
                if (port != "COM2" && port != "COM3")
                {
                    Add("$.modem.uart.port", "\"COM2\" or \"COM3\" on esp32-devkitc (COM1 is the nanoFramework debug port)", Found(uart.GetProperty("port")));
                }

                if (!uart.TryGetProperty("txPin", out _))
                {
                    Add("$.modem.uart.txPin", "a GPIO on esp32-devkitc (UART pins are routed by Configuration.SetPinFunction) (required)", "nothing");
                }

                if (!uart.TryGetProperty("rxPin", out _))
                {
                    Add("$.modem.uart.rxPin", "a GPIO on esp32-devkitc (UART pins are routed by Configuration.SetPinFunction) (required)", "nothing");
                }

                foreach (var (path, value, output) in used)
                {
                    int gpio = value.GetInt32();
                    if (gpio > 39)
                    {
                        Add(path, "an ESP32 GPIO 0..39", Found(value));
                    }
                    else if (gpio >= 6 && gpio <= 11)
                    {
                        Add(path, "a GPIO other than 6..11 (wired to the SPI flash on ESP32-WROOM modules)", Found(value));
                    }
                    else if (gpio == 1 || gpio == 3)
                    {
                        Add(path, "a GPIO other than 1 and 3 (COM1, the nanoFramework debug/deploy port)", Found(value));
                    }
                    else if (gpio == 20 || gpio == 24 || (gpio >= 28 && gpio <= 31))
                    {
                        Add(path, "an ESP32 GPIO that exists (20, 24 and 28..31 are not bonded out)", Found(value));
                    }
                    else if (output && gpio >= 34)
                    {
                        Add(path, "an output-capable GPIO (34..39 are input-only on the ESP32)", Found(value));
                    }
                    else if (path == "$.sampling.pulseInputPin" && gpio >= 34)
                    {
                        // the firmware opens the pulse input with InputPullUp (open-collector meter output, README wiring)
                        Add(path, "a GPIO with an internal pull-up (34..39 have none; the firmware uses InputPullUp)", Found(value));
                    }
                }
            }
            else if (board == "stm32-nucleo-f746zg")
            {
                foreach (var (path, value, _) in used)
                {
                    int pin = value.GetInt32();
                    if (pin >= 7 * 16)
                    {
                        // LQFP144 STM32F746ZG: ports A..G (PH0/PH1 carry the HSE clock), pin number = port × 16 + n
                        Add(path, "a pin of ports A..G (port × 16 + n, 0..111) on stm32-nucleo-f746zg", Found(value));
                    }
                }

                if (fixedPins == null)
                {
                    Add("$.modem.uart.port", "\"COM2\" (PD5/PD6) or \"COM6\" (PC6/PC7) on stm32-nucleo-f746zg", Found(uart.GetProperty("port")));
                }
                else
                {
                    if (uart.TryGetProperty("txPin", out JsonElement t) && t.GetInt32() != fixedPins.Value.Tx)
                    {
                        Add("$.modem.uart.txPin", fixedPins.Value.Tx + " (" + port + " TX is fixed by the nanoCLR image) or absent", Found(t));
                    }

                    if (uart.TryGetProperty("rxPin", out JsonElement r) && r.GetInt32() != fixedPins.Value.Rx)
                    {
                        Add("$.modem.uart.rxPin", fixedPins.Value.Rx + " (" + port + " RX is fixed by the nanoCLR image) or absent", Found(r));
                    }
                }
            }
        }

        /// <summary>Used by tests: the UTF-8 octets a string has on the device.</summary>
        internal static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
    }
}

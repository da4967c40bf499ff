using System;
using System.Globalization;

namespace E2m.Cli.Config
{
    /// <summary>
    /// The description of device-config.json (DESIGN.md §7: board, UART and pins, modem model, APN, PLMN, EMSEs,
    /// EMKS, key mode, intervals, batch, CoAP timers, policy). No property holds a key: keys come from AKA
    /// (DESIGN.md §2-§3); <see cref="DeviceConfigValidator"/> also rejects any property named like a secret
    /// and any long hex string. Cross-field rules that JSON Schema cannot express are listed in
    /// <see cref="CrossFieldRules"/> (written into the schema's description) and checked in code.
    /// </summary>
    internal static class DeviceConfigSpec
    {
        public const string SchemaId = "https://e2m.example/schemas/device-config.schema.json";

        public static readonly string[] Boards = { "esp32-devkitc", "stm32-nucleo-f746zg" };
        public static readonly string[] Modems = { "bg95", "bg96", "sara-r410m", "sara-r5" };

        /// <summary>RATs in the order the minimum-RAT policy compares them (gprs lowest).</summary>
        public static readonly string[] Rats = E2m.Firmware.AccessPolicy.RatNames; // ranked; the generated Rat* values are rank + 1
        public static readonly string[] KeyModes = { "network", "home" };
        public static readonly string[] KeyModeFallbacks = { "none", "home" };

        /// <summary>Readings the firmware can route; generated as bit flags (1 &lt;&lt; index).</summary>
        public static readonly string[] Readings = { "energy", "power", "pulses", "rsrp" };

        public const string FqdnPattern = "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
        public const string EndpointPattern = "^[0-9]{1,3}(\\.[0-9]{1,3}){3}:[0-9]{1,5}$";
        public const string ApnPattern = "^$|^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$";
        public const string PlmnPattern = "^[0-9]{5,6}$";
        public const string ComPortPattern = "^COM[1-9]$";

        public static readonly string[] CrossFieldRules =
        {
            "emses[*].emseId unique; emses[*].endpoint unique (all EMSE contexts share the device's OSCORE kid, so an endpoint tells them apart)",
            "upload.intervalSeconds >= sampling.intervalSeconds",
            "sampling.pulsesPerKwh is a power of ten when an EMSE receives \"energy\" (the device sends Wh as pulses x 10^n, no division)",
            "network.rats contains at least one RAT not below policy.minimumRat (order gprs < nb-iot < lte-m)",
            "keyModeFallback is \"none\" when keyMode is \"home\"",
            "upload.maxDatagram <= the modem's UDP limit (bg95/bg96 1460, sara-r410m/sara-r5 480: AT+USOST in HEX within a 1024-character command line)",
            "every GPIO (uart tx/rx, pwrkey, reset, status, pulse input) distinct; esp32-devkitc: GPIO 0..39, not 6..11 (flash) nor 1/3 (COM1 = nanoFramework debug port), outputs (txPin, pwrkey, reset) not 34..39 (input-only), uart.port COM2 or COM3, txPin/rxPin required",
            "stm32-nucleo-f746zg: pins are port*16+n (PA0 = 0, PD5 = 53); uart.port COM2 (PD5/PD6 = 53/54) or COM6 (PC6/PC7 = 38/39), fixed by the nanoCLR image: txPin/rxPin optional and, when given, must match",
            "no property named like a key or secret (k, opc, ck, ik, psk, *key, *secret, *password, ...) and no string of 32 or more hex digits anywhere: keys come from AKA, never from this file",
        };

        public static readonly ObjectSpec Root = Build();

        private static ObjectSpec Build()
        {
            var pin = new IntegerSpec("GPIO number (ESP32: GPIOn; STM32: port*16+n, PA0 = 0)", 0, 175);

            var uart = new ObjectSpec("UART to the modem's AT port (8N1)",
                new FieldSpec("port", true, new StringSpec("nanoFramework serial port name COM1..COM9", "a nanoFramework port name COM1..COM9", 4, 4, ComPortPattern), "COM2"),
                new FieldSpec("baud", true, new IntegerSpec("baud rate (BG9x and SARA-R4 default 115200)", 9600, 921600), 115200),
                new FieldSpec("txPin", false, new IntegerSpec("MCU TX GPIO (to the modem's RXD); ESP32: routed with Configuration.SetPinFunction", 0, 175), -1),
                new FieldSpec("rxPin", false, new IntegerSpec("MCU RX GPIO (from the modem's TXD)", 0, 175), -1));

            var pins = new ObjectSpec("modem control lines",
                new FieldSpec("pwrkey", true, new IntegerSpec("GPIO driving PWRKEY (output)", pin.Minimum, pin.Maximum), 4),
                new FieldSpec("reset", true, new IntegerSpec("GPIO driving RESET_N (output)", pin.Minimum, pin.Maximum), 5),
                new FieldSpec("status", true, new IntegerSpec("GPIO reading STATUS / V_INT (input)", pin.Minimum, pin.Maximum), 36),
                new FieldSpec("outputsInverted", false, new BooleanSpec("false (default): GPIO high asserts the line (the usual NPN transistor that pulls PWRKEY/RESET_N low); true: GPIO low asserts it"), false));

            var modem = new ObjectSpec("the cellular modem",
                new FieldSpec("model", true, new EnumSpec("modem model: AT dialect and timings (DESIGN.md §7)", Modems), "bg95"),
                new FieldSpec("uart", true, uart),
                new FieldSpec("pins", true, pins));

            var network = new ObjectSpec("cellular network",
                new FieldSpec("apn", true, new StringSpec("APN network identifier (TS 23.003 §9.1); \"\" = the network's default APN", "an APN (dot-separated labels of letters, digits and '-', at most 63 characters, TS 23.003 §9.1) or \"\"", 0, 63, ApnPattern), "iot.example"),
                new FieldSpec("plmn", false, new StringSpec("PLMN to select manually, MCC+MNC (TS 23.003 §2.2); absent = automatic selection", "MCC+MNC as 5 or 6 digits", 5, 6, PlmnPattern), ""),
                new FieldSpec("rats", true, new ArraySpec("radio access technologies to allow, in order of preference", new EnumSpec("RAT", Rats), 1, 3, true)));

            var emks = new ObjectSpec("E2M Key Server (home-mode bootstrap, DESIGN.md §3)",
                new FieldSpec("endpoint", true, Endpoint("CoAP/UDP endpoint of the EMKS bootstrap resource /bs, address:port")));

            var emse = new ObjectSpec("one E2M Security Endpoint: its own e2m_key and OSCORE context from the same e2m_int_key",
                new FieldSpec("emseId", true, new StringSpec("EMSE_Id, a lowercase FQDN; its UTF-8 octets enter the KDF (DESIGN.md §2)", "an FQDN (two or more dot-separated labels of a-z, 0-9 and '-', 1-63 characters each, 253 at most)", 1, 253, FqdnPattern, CheckFqdn)),
                new FieldSpec("endpoint", true, Endpoint("CoAP/UDP endpoint of this EMSE, address:port")),
                new FieldSpec("readings", true, new ArraySpec("readings routed to this EMSE", new EnumSpec("reading", Readings), 1, 4, true)));

            var sampling = new ObjectSpec("sensor sampling",
                new FieldSpec("intervalSeconds", true, new IntegerSpec("seconds between two samples", 1, 86400), 60),
                new FieldSpec("pulseInputPin", true, new IntegerSpec("GPIO of the meter's pulse output (input, counted on edges)", pin.Minimum, pin.Maximum), 27),
                new FieldSpec("pulsesPerKwh", true, new IntegerSpec("meter constant, pulses per kWh", 1, 100000), 1000));

            var upload = new ObjectSpec("store-and-forward upload",
                new FieldSpec("intervalSeconds", true, new IntegerSpec("seconds between two uploads (deep sleep in between)", 1, 604800), 900),
                new FieldSpec("maxBatchRecords", true, new IntegerSpec("most SenML records in one batch", 1, 64), 16),
                new FieldSpec("maxDatagram", true, new IntegerSpec("largest UDP datagram (CoAP + OSCORE + SenML) in octets", 128, 1460), 512));

            var coap = new ObjectSpec("CoAP reliability, RFC 7252 §4.8 (NSTART = 1)",
                new FieldSpec("ackTimeoutMs", true, new IntegerSpec("ACK_TIMEOUT in ms (NB-IoT default 15000; RFC 7252's 2000 is the floor)", 2000, 300000), 15000),
                new FieldSpec("ackRandomFactorPercent", true, new IntegerSpec("ACK_RANDOM_FACTOR x 100 (RFC 7252 default 150 = 1.5)", 100, 400), 150),
                new FieldSpec("maxRetransmit", true, new IntegerSpec("MAX_RETRANSMIT (RFC 7252 default 4)", 0, 10), 4));

            var psm = new ObjectSpec("3GPP power saving mode requested from the network (TS 24.008 T3412 ext / T3324)",
                new FieldSpec("enabled", true, new BooleanSpec("request PSM with AT+CPSMS"), true),
                new FieldSpec("periodicTauSeconds", true, new IntegerSpec("requested periodic TAU (T3412 extended)", 60, 35712000), 86400),
                new FieldSpec("activeTimeSeconds", true, new IntegerSpec("requested active time (T3324)", 0, 11160), 10));

            var policy = new ObjectSpec("minimum-security policy the firmware enforces (DESIGN.md §5)",
                new FieldSpec("minimumRat", true, new EnumSpec("refuse to send on a RAT below this one (gprs < nb-iot < lte-m)", Rats), "nb-iot"),
                new FieldSpec("minimumGea", true, new IntegerSpec("on GPRS, refuse to send below GEAn (0 = accept any, 3 recommended)", 0, 4), 3),
                new FieldSpec("rekeyBeforeExpirySeconds", true, new IntegerSpec("re-key this long before the key's expiry", 0, 2592000), 86400));

            return new ObjectSpec("e2m device configuration (no keys: they come from AKA). Turned into C# constants by `e2m config gen`; the device never parses JSON.",
                new FieldSpec("$schema", false, new StringSpec("reference to this schema", "a string", 0, 1000, null)),
                new FieldSpec("$comment", false, new StringSpec("free text", "a string", 0, 10000, null)),
                new FieldSpec("board", true, new EnumSpec("the MCU board (pin rules differ per board)", Boards), "esp32-devkitc"),
                new FieldSpec("modem", true, modem),
                new FieldSpec("network", true, network),
                new FieldSpec("keyMode", true, new EnumSpec("key establishment mode tried first (DESIGN.md §3)", KeyModes), "network"),
                new FieldSpec("keyModeFallback", true, new EnumSpec("mode used when the first one yields no key", KeyModeFallbacks), "home"),
                new FieldSpec("emks", true, emks),
                new FieldSpec("emses", true, new ArraySpec("the EMSEs this device reports to (several at once or in turn)", emse, 1, 8, false)),
                new FieldSpec("sampling", true, sampling),
                new FieldSpec("upload", true, upload),
                new FieldSpec("coap", true, coap),
                new FieldSpec("psm", false, psm),
                new FieldSpec("policy", true, policy));
        }

        private static StringSpec Endpoint(string description) =>
            new(description + " (an IPv4 literal: the modems' UDP send commands take an address and the firmware does no DNS)",
                "address:port (a dotted IPv4 address literal, port 1-65535)", 9, 21, EndpointPattern, CheckEndpoint);

        private static string? CheckFqdn(string value)
        {
            if (value.ToLowerInvariant() != value && new StringSpec("", "", 0, 0, FqdnPattern).Matches(value.ToLowerInvariant()))
            {
                return "a lowercase FQDN (the EMSE_Id octets enter the KDF as written, DESIGN.md §2)";
            }

            return null;
        }

        private static string? CheckEndpoint(string value)
        {
            int colon = value.LastIndexOf(':');
            if (colon < 0)
            {
                return null; // the pattern reports it
            }

            string host = value.Substring(0, colon);
            if (int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) && (port < 1 || port > 65535) && value.Length <= 21)
            {
                return "a port 1-65535";
            }

            // One spelling per endpoint: a leading zero would let "5683" and "05683" pass as two endpoints, and some modems
            // read "010" in an address as octal (inet_aton).
            string portText = value.Substring(colon + 1);
            if (portText.Length > 1 && portText[0] == '0')
            {
                return "a port without leading zeros";
            }

            foreach (string p in host.Split('.'))
            {
                if (p.Length > 0 && p.Length <= 3 && int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int octet) && octet > 255)
                {
                    return "a dotted IPv4 address (octets 0-255)";
                }

                if (p.Length > 1 && p[0] == '0')
                {
                    return "a dotted IPv4 address without leading zeros (some modems read them as octal)";
                }
            }

            return null;
        }
    }
}

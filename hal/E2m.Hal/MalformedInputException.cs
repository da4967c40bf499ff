using System;

namespace E2m.Hal
{
    /// <summary>
    /// Why untrusted input was rejected. Int-backed, stable numeric values (they may be logged or
    /// sent as diagnostics); portable code never relies on enum names (nanoFramework has no
    /// Enum.ToString): use <see cref="MalformedInputException.Describe"/> for fixed text.
    /// Ranges: 1xx CoAP (RFC 7252), 2xx CBOR (RFC 8949), 3xx SenML (RFC 8428), 4xx OSCORE (RFC 8613),
    /// 5xx reserved for AT/modem input. Add values inside your range; never renumber.
    /// </summary>
    public enum InputError
    {
        None = 0,

        // CoAP, RFC 7252 §3
        CoapTruncatedHeader = 100,
        CoapBadVersion = 101,
        CoapBadTokenLength = 102,
        CoapTruncatedToken = 103,
        CoapReservedOptionDelta = 104,
        CoapReservedOptionLength = 105,
        CoapTruncatedOptionExtension = 106,
        CoapTruncatedOptionValue = 107,
        CoapOptionNumberTooLarge = 108,
        CoapEmptyPayloadAfterMarker = 109,
        CoapTooManyOptions = 110,
        CoapNonEmptyEmptyMessage = 111,
        CoapBadOptionValue = 112,

        // CBOR, RFC 8949 §3
        CborTruncated = 200,
        CborReservedAdditionalInfo = 201,
        CborIndefiniteLengthUnsupported = 202,
        CborUnexpectedType = 203,
        CborValueOutOfRange = 204,
        CborNestingTooDeep = 205,
        CborTrailingBytes = 206,
        CborInvalidUtf8 = 207,
        CborNonPreferredEncoding = 208,

        // SenML, RFC 8428
        SenmlNotAnArray = 300,
        SenmlRecordNotAMap = 301,
        SenmlBadLabelType = 302,
        SenmlBadFieldType = 303,
        SenmlDuplicateLabel = 304,
        SenmlMustUnderstandLabel = 305,
        SenmlUnsupportedVersion = 306,
        SenmlInvalidName = 307,
        SenmlMultipleValues = 308,
        SenmlNoValue = 309,
        SenmlTooManyRecords = 310,
        SenmlNameTooLong = 311,
        SenmlUnsupportedField = 312,
        SenmlTimeOutOfRange = 313,

        // OSCORE, RFC 8613: 400..499, defined by E2m.Oscore
    }

    /// <summary>
    /// The one exception family for "untrusted input rejected" (datagrams, CBOR, SenML, OSCORE, AT
    /// responses). Catch this type at a trust boundary; anything else escaping a decoder is a bug.
    /// Subclasses per layer (CoapFormatException, CborFormatException, ...) add no state.
    /// </summary>
    public class MalformedInputException : Exception
    {
        private readonly InputError _error;
        private readonly int _position;

        public MalformedInputException(InputError error, int position)
            : base(Describe(error))
        {
            _error = error;
            _position = position;
        }

        public MalformedInputException(InputError error, int position, string message)
            : base(message)
        {
            _error = error;
            _position = position;
        }

        /// <summary>The typed cause.</summary>
        public InputError Error { get { return _error; } }

        /// <summary>The numeric code (same as (int)Error), for logs and diagnostics.</summary>
        public int Code { get { return (int)_error; } }

        /// <summary>Octet offset in the input where the problem was found, or -1 when unknown.</summary>
        public int Position { get { return _position; } }

        /// <summary>Fixed English text for a code (no enum reflection: nanoFramework has none).</summary>
        public static string Describe(InputError error)
        {
            switch (error)
            {
                case InputError.None: return "no error";
                case InputError.CoapTruncatedHeader: return "CoAP: datagram shorter than the 4-octet header";
                case InputError.CoapBadVersion: return "CoAP: version is not 1";
                case InputError.CoapBadTokenLength: return "CoAP: token length 9-15 is reserved";
                case InputError.CoapTruncatedToken: return "CoAP: token truncated";
                case InputError.CoapReservedOptionDelta: return "CoAP: option delta 15 is reserved";
                case InputError.CoapReservedOptionLength: return "CoAP: option length 15 is reserved";
                case InputError.CoapTruncatedOptionExtension: return "CoAP: extended option delta/length truncated";
                case InputError.CoapTruncatedOptionValue: return "CoAP: option value truncated";
                case InputError.CoapOptionNumberTooLarge: return "CoAP: option number above 65535";
                case InputError.CoapEmptyPayloadAfterMarker: return "CoAP: payload marker followed by an empty payload";
                case InputError.CoapTooManyOptions: return "CoAP: more options than the message table holds";
                case InputError.CoapNonEmptyEmptyMessage: return "CoAP: Empty message (0.00) with token, options or payload";
                case InputError.CoapBadOptionValue: return "CoAP: option value has an invalid length or format";
                case InputError.CborTruncated: return "CBOR: item truncated";
                case InputError.CborReservedAdditionalInfo: return "CBOR: reserved additional information 28-30";
                case InputError.CborIndefiniteLengthUnsupported: return "CBOR: indefinite length not supported";
                case InputError.CborUnexpectedType: return "CBOR: unexpected major type";
                case InputError.CborValueOutOfRange: return "CBOR: value out of range";
                case InputError.CborNestingTooDeep: return "CBOR: nesting too deep";
                case InputError.CborTrailingBytes: return "CBOR: trailing octets after the item";
                case InputError.CborInvalidUtf8: return "CBOR: text string is not valid UTF-8";
                case InputError.CborNonPreferredEncoding: return "CBOR: non-preferred encoding";
                case InputError.SenmlNotAnArray: return "SenML: pack is not a CBOR array";
                case InputError.SenmlRecordNotAMap: return "SenML: record is not a CBOR map";
                case InputError.SenmlBadLabelType: return "SenML: label is neither an integer nor a text string";
                case InputError.SenmlBadFieldType: return "SenML: field has the wrong CBOR type";
                case InputError.SenmlDuplicateLabel: return "SenML: label repeated in one record";
                case InputError.SenmlMustUnderstandLabel: return "SenML: unknown must-understand label";
                case InputError.SenmlUnsupportedVersion: return "SenML: base version above 10";
                case InputError.SenmlInvalidName: return "SenML: resolved name empty or has invalid characters";
                case InputError.SenmlMultipleValues: return "SenML: more than one value field in a record";
                case InputError.SenmlNoValue: return "SenML: record has neither a value nor a sum";
                case InputError.SenmlTooManyRecords: return "SenML: more records than the reader holds";
                case InputError.SenmlNameTooLong: return "SenML: resolved names exceed the reader's name buffer";
                case InputError.SenmlUnsupportedField: return "SenML: field not supported by the e2m profile";
                case InputError.SenmlTimeOutOfRange: return "SenML: time out of range";
            }
            return "malformed input";
        }
    }
}

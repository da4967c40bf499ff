using System;
using System.Collections.Generic;
using System.Globalization;
using E2m.Server.Common;
using E2m.Server.Emse.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace E2m.Server.Emse.Http
{
    /// <summary>
    /// Readings for the application (issue 6 point 3), JSON over HTTP:
    /// <c>GET /v1/devices</c> → <c>{"devices":[{"deviceId","kid","firstSeen","lastSeen"}]}</c>;
    /// <c>GET /v1/devices/{deviceId}/readings?from=&amp;to=&amp;limit=</c> (from/to: ISO 8601 or Unix seconds; to exclusive)
    /// → <c>{"deviceId","readings":[{"name","unit","value"|"stringValue"|"boolValue"|"dataValue","time","timeUnixMs","timeSource","receivedAt","kid","piv","index"}]}</c>.
    /// deviceId is the EMKS device id (external id or pseudonym), never an IMSI.
    /// </summary>
    public static class ReadingsApi
    {
        public static IEndpointRouteBuilder MapEmseReadings(this IEndpointRouteBuilder app)
        {
            // Mutual TLS (dev PKI): 401 without a client certificate, 403 for another role or a certificate that does
            // not chain to Emse:CaCertificatePath. The readings are the operator's application data: reader or admin only.
            RouteGroupBuilder api = app.MapGroup("/v1/devices").RequireClientRole(CertificateIdentity.RoleReader, CertificateIdentity.RoleAdmin);
            api.MapGet("", (HttpContext http, EmseStore store, IOptions<EmseOptions> options) =>
            {
                ReaderScope? scope = ReaderScope.Of(http, options.Value);
                if (scope == null)
                {
                    return NotAuthorised();
                }

                var list = new List<object>();
                foreach (DeviceSummary d in store.ListDevices())
                {
                    if (!scope.Allows(d.DeviceId))
                    {
                        continue;
                    }

                    list.Add(new
                    {
                        deviceId = d.DeviceId,
                        kid = d.Kid,
                        firstSeen = Iso(d.FirstSeenMs),
                        lastSeen = Iso(d.LastSeenMs),
                    });
                }

                return Results.Ok(new { devices = list });
            });

            api.MapGet("/{deviceId}/readings", (HttpContext http, string deviceId, string? from, string? to, int? limit, EmseStore store, IOptions<EmseOptions> options) =>
            {
                deviceId = DeviceIdOf(http, deviceId);
                ReaderScope? scope = ReaderScope.Of(http, options.Value);
                if (scope == null)
                {
                    return NotAuthorised();
                }

                if (!TryParseTime(from, long.MinValue, out long fromMs) || !TryParseTime(to, long.MaxValue, out long toMs))
                {
                    return Results.Problem("from/to must be ISO 8601 date-times or Unix seconds", statusCode: StatusCodes.Status400BadRequest);
                }

                int max = options.Value.MaxReadingsPerQuery;
                if (limit is < 1 || limit > max)
                {
                    return Results.Problem("limit must be 1.." + max.ToString(CultureInfo.InvariantCulture), statusCode: StatusCodes.Status400BadRequest);
                }

                if (!scope.Allows(deviceId) || !store.DeviceExists(deviceId)) // another reader's device: the same 404 as an unknown one
                {
                    return Results.Problem("unknown device", statusCode: StatusCodes.Status404NotFound);
                }

                var list = new List<Dictionary<string, object?>>();
                foreach (StoredReading r in store.QueryReadings(deviceId, fromMs, toMs, limit ?? max))
                {
                    var o = new Dictionary<string, object?>
                    {
                        ["name"] = r.Name,
                        ["unit"] = r.Unit,
                    };
                    switch (r.ValueKind)
                    {
                        case 1: o["value"] = r.Integer; break;
                        case 2: o["value"] = r.Number; break;
                        case 3: o["stringValue"] = r.Text; break;
                        case 4: o["boolValue"] = r.Boolean; break;
                        case 5: o["dataValue"] = r.Text; break;
                    }

                    o["time"] = Iso(r.TimeMs);
                    o["timeUnixMs"] = r.TimeMs;
                    o["timeSource"] = r.TimeSource;
                    o["receivedAt"] = Iso(r.ReceivedMs);
                    o["kid"] = r.Kid;
                    o["piv"] = r.Piv;
                    o["index"] = r.Index;
                    list.Add(o);
                }

                return Results.Ok(new { deviceId, readings = list });
            });
            return app;
        }

        private const string DevicesPrefix = "/v1/devices/";
        private const string ReadingsSuffix = "/readings";

        /// <summary>
        /// The device id as the client escaped it (RFC 3986 §2.1): the route value keeps "%2F" undecoded while decoding every
        /// other escape, so an id with a '/' (external ids are any 1..256 characters) would not be found, and "%252F" could
        /// not be told from "%2F". The raw request target's segment is unescaped once instead (TestServer has none: the
        /// route value is used).
        /// </summary>
        private static string DeviceIdOf(HttpContext http, string routeValue)
        {
            string? raw = http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;
            if (string.IsNullOrEmpty(raw))
            {
                return routeValue;
            }

            int query = raw.IndexOf('?', StringComparison.Ordinal);
            string path = query >= 0 ? raw.Substring(0, query) : raw;
            if (path.Length > DevicesPrefix.Length + ReadingsSuffix.Length && path.StartsWith(DevicesPrefix, StringComparison.Ordinal)
                && path.EndsWith(ReadingsSuffix, StringComparison.Ordinal))
            {
                string segment = path.Substring(DevicesPrefix.Length, path.Length - DevicesPrefix.Length - ReadingsSuffix.Length);
                if (segment.IndexOf('/', StringComparison.Ordinal) < 0)
                {
                    return Uri.UnescapeDataString(segment);
                }
            }

            return routeValue;
        }

        private static IResult NotAuthorised() =>
            Results.Problem("this reader is given no device (Emse:ReaderDevices)", statusCode: StatusCodes.Status403Forbidden);

        private static string Iso(long ms)
        {
            ms = Math.Clamp(ms, -62135596800000L, 253402300799999L);
            return DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        }

        private static readonly string[] IsoFormats =
        {
            "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mmK", "yyyy-MM-dd",
        };

        private static bool TryParseTime(string? s, long fallback, out long ms)
        {
            ms = fallback;
            if (string.IsNullOrEmpty(s))
            {
                return true;
            }

            if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long seconds)
                && seconds > -62135596800L && seconds < 253402300800L)
            {
                ms = seconds * 1000;
                return true;
            }

            // ISO 8601 / RFC 3339 only (a date, or a date-time with optional fraction and offset; no offset = UTC): the lenient
            // parser would read "1.5", "12:30" or "1/2/2024" as some date instead of refusing them.
            if (DateTimeOffset.TryParseExact(s, IsoFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset t))
            {
                ms = t.ToUnixTimeMilliseconds();
                return true;
            }

            return false;
        }
    }

    /// <summary>
    /// Which devices a readings-API client may see (<see cref="EmseOptions.ReaderDevices"/>): an <c>admin</c> every device;
    /// a <c>reader</c> every device while no reader is configured (one application per EMSE), else the device ids its
    /// certificate's name (CN) is given (exact ids, or prefixes ending in <c>*</c>); null (403) for a reader not named there.
    /// </summary>
    internal sealed class ReaderScope
    {
        private static readonly ReaderScope All = new(null);
        private readonly string[]? _patterns;

        private ReaderScope(string[]? patterns) => _patterns = patterns;

        public static ReaderScope? Of(HttpContext http, EmseOptions options)
        {
            E2mClientIdentity? client = http.GetE2mClient();
            if (client?.Role == CertificateIdentity.RoleAdmin || options.ReaderDevices.Count == 0)
            {
                return All;
            }

            string? name = CertificateIdentity.GetCommonName(client?.Certificate);
            return name != null && options.ReaderDevices.TryGetValue(name, out string[]? patterns) ? new ReaderScope(patterns) : null;
        }

        public bool Allows(string deviceId)
        {
            if (_patterns == null)
            {
                return true;
            }

            foreach (string p in _patterns)
            {
                if (p.EndsWith('*') ? deviceId.StartsWith(p.AsSpan(0, p.Length - 1), StringComparison.Ordinal) : string.Equals(p, deviceId, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }
    }
}

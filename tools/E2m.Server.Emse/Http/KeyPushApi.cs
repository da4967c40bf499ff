using System;
using System.Buffers;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using E2m.Server.Common;
using E2m.Server.Emse.Coap;
using E2m.Server.Emse.Keys;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace E2m.Server.Emse.Http
{
    /// <summary>Why a key push was refused (the <c>error</c> member of the problem body).</summary>
    public enum KeyPushError
    {
        None,
        /// <summary>Not a JSON object of the contract (syntax, type, unknown or repeated member, missing member, bad hex/length).</summary>
        Malformed,
        /// <summary>Body above <see cref="KeyPushApi.MaxBodyBytes"/>.</summary>
        TooLarge,
        /// <summary>Content-Type is not application/json.</summary>
        UnsupportedMediaType,
        /// <summary><c>expires</c> is not in the future.</summary>
        Expired,
        /// <summary><c>emse_id</c> names another EMSE.</summary>
        NotForThisEmse,
        /// <summary>Another key is pending under the same 7-octet kid.</summary>
        Conflict,
        /// <summary>Pending-key store full (bounded memory).</summary>
        Full,
        /// <summary>The push variant is not enabled on this EMSE (Emse:PushEnabled).</summary>
        Disabled,
    }

    /// <summary>A push body that passed the syntax checks (key material: zeroise <see cref="E2mKey"/>).</summary>
    public sealed class KeyPushBody
    {
        public byte[] Kid { get; init; } = Array.Empty<byte>();
        public byte[] E2mKey { get; init; } = Array.Empty<byte>();
        public long Expires { get; init; }
        public string DeviceId { get; init; } = "";
        public long? MaxMessages { get; init; }
        public string? EmseId { get; init; }

        /// <summary>No key material.</summary>
        public override string ToString() => "KeyPushBody(kid=" + Convert.ToHexStringLower(Kid) + ")";
    }

    /// <summary>
    /// EMSE side of the EMKS push variant (issue 6 point 2; Common/Contracts EmksEmsePull.cs): <c>POST /v1/keys</c> with the
    /// body the EMKS's PushDispatcher sends (<c>E2mKeyPullResponse</c>: <c>{"kid","e2m_key","expires","device_id"[,"max_messages"]}</c>,
    /// optionally <c>"emse_id"</c>), only from a client certificate of role <c>emks</c> (Common <c>Mtls.RequireClientRole</c>:
    /// 401 without, 403 other role). The key goes to <see cref="PushedKeyStore"/>, so the first datagram under its kid needs
    /// no pull. 204 stored or duplicate (deliveries are at-least-once); 400 malformed/expired; 403 <c>emse_id</c> of another
    /// EMSE; 404 push not enabled; 409 another key under the same 7-octet kid; 413 body &gt; 4 KiB; 415 not JSON; 503 store full.
    /// Key material is never logged.
    /// </summary>
    public static class KeyPushApi
    {
        public const string Path = "/v1/keys";

        /// <summary>A push body is ~200 octets; 4 KiB leaves room for long device ids (≤ 256 characters).</summary>
        public const int MaxBodyBytes = 4096;

        public const int MaxDeviceIdLength = 256;

        /// <summary>
        /// Services of the push variant. Call before EmseCoapServer is registered: it registers the CoAP server with a
        /// <see cref="PushedKeySource"/> in front of whatever <see cref="IEmksKeySource"/> is finally registered.
        /// </summary>
        public static IServiceCollection AddEmseKeyPush(this IServiceCollection services)
        {
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EmseOptions>, KeyPushOptionsValidator>());
            services.TryAddSingleton(sp => new PushedKeyStore(sp.GetRequiredService<TimeProvider>()));
            services.TryAddSingleton(sp => ActivatorUtilities.CreateInstance<EmseCoapServer>(sp,
                new PushedKeySource(sp.GetRequiredService<PushedKeyStore>(), sp.GetRequiredService<IEmksKeySource>())));
            services.TryAddSingleton<EmksPushRegistration>();
            services.AddHostedService(sp => sp.GetRequiredService<EmksPushRegistration>());
            return services;
        }

        /// <summary>Maps <c>POST /v1/keys</c> and <c>DELETE /v1/keys/{kid}</c> (both answer 404 unless Emse:PushEnabled).</summary>
        public static IEndpointRouteBuilder MapEmseKeyPush(this IEndpointRouteBuilder app)
        {
            app.MapPost(Path, AcceptAsync).RequireClientRole(CertificateIdentity.RoleEmks).WithName("EmseKeyPush");
            app.MapDelete(Path + "/{kid}", Revoke).RequireClientRole(CertificateIdentity.RoleEmks).WithName("EmseKeyRevoke");
            return app;
        }

        private static IResult Problem(int status, KeyPushError error, string title) =>
            Results.Problem(statusCode: status, title: title,
                extensions: new System.Collections.Generic.Dictionary<string, object?> { ["error"] = ToCode(error) });

        /// <summary>Stable error code of the problem body (snake case).</summary>
        public static string ToCode(KeyPushError e) => e switch
        {
            KeyPushError.Malformed => "malformed",
            KeyPushError.TooLarge => "too_large",
            KeyPushError.UnsupportedMediaType => "unsupported_media_type",
            KeyPushError.Expired => "expired",
            KeyPushError.NotForThisEmse => "not_for_this_emse",
            KeyPushError.Conflict => "conflict",
            KeyPushError.Full => "full",
            KeyPushError.Disabled => "disabled",
            _ => "none",
        };

        /// <summary>
        /// <c>DELETE /v1/keys/{kid}</c> (role <c>emks</c>): the EMKS revoked the key (the HSS removed this EMSE from the
        /// subscription or revoked it; EMKS policy sync). A pending pushed key is zeroised and a context of the kid is dropped
        /// at its next request (4.01). 204 whether or not this EMSE held the key (idempotent); 400 when kid is not 14 or 16
        /// hex digits; 404 push not enabled.
        /// </summary>
        internal static IResult Revoke(string kid, IOptions<EmseOptions> options, PushedKeyStore store, EmseCoapServer server, ILogger<PushedKeyStore> log)
        {
            if (!options.Value.PushEnabled)
            {
                return Problem(StatusCodes.Status404NotFound, KeyPushError.Disabled, "key push not enabled on this EMSE");
            }

            Span<byte> parsed = stackalloc byte[8];
            if (kid.Length is not (14 or 16) || Convert.FromHexString(kid, parsed, out _, out int written) != OperationStatus.Done)
            {
                return Problem(StatusCodes.Status400BadRequest, KeyPushError.Malformed, "kid: 14 or 16 hex digits");
            }

            byte[] bytes = parsed.Slice(0, written).ToArray();
            bool pending = store.Revoke(bytes);
            bool context = server.RevokeKid(bytes);
            log.LogInformation("kid {Kid} revoked by the EMKS (pending key dropped: {Pending}, context flagged: {Context})",
                Convert.ToHexStringLower(bytes), pending, context);
            return Results.NoContent();
        }

        internal static async Task<IResult> AcceptAsync(HttpContext http, IOptions<EmseOptions> options, PushedKeyStore store,
            TimeProvider time, ILogger<PushedKeyStore> log, CancellationToken ct)
        {
            EmseOptions o = options.Value;
            if (!o.PushEnabled)
            {
                return Problem(StatusCodes.Status404NotFound, KeyPushError.Disabled, "key push not enabled on this EMSE");
            }

            if (!IsJson(http.Request.ContentType))
            {
                return Problem(StatusCodes.Status415UnsupportedMediaType, KeyPushError.UnsupportedMediaType, "Content-Type application/json required");
            }

            if (http.Request.ContentLength > MaxBodyBytes)
            {
                return Problem(StatusCodes.Status413PayloadTooLarge, KeyPushError.TooLarge, "body above " + MaxBodyBytes.ToString(CultureInfo.InvariantCulture) + " octets");
            }

            byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxBodyBytes + 1);
            int length = 0;
            KeyPushBody? body = null;
            try
            {
                while (length <= MaxBodyBytes)
                {
                    int n = await http.Request.Body.ReadAsync(buffer.AsMemory(length, MaxBodyBytes + 1 - length), ct).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    length += n;
                }

                if (length > MaxBodyBytes)
                {
                    return Problem(StatusCodes.Status413PayloadTooLarge, KeyPushError.TooLarge, "body above " + MaxBodyBytes.ToString(CultureInfo.InvariantCulture) + " octets");
                }

                KeyPushError error = TryParse(buffer.AsSpan(0, length), out body, out string detail);
                if (error != KeyPushError.None)
                {
                    return Problem(StatusCodes.Status400BadRequest, error, detail);
                }
            }
            catch (IOException)
            {
                return Problem(StatusCodes.Status400BadRequest, KeyPushError.Malformed, "body could not be read");
            }
            finally
            {
                CryptographicOperations.ZeroMemory(buffer.AsSpan(0, Math.Min(length, buffer.Length))); // held e2m_key hex
                ArrayPool<byte>.Shared.Return(buffer);
            }

            try
            {
                string kidHex = Convert.ToHexStringLower(body!.Kid);
                if (body.EmseId != null && !string.Equals(body.EmseId, o.EmseId, StringComparison.OrdinalIgnoreCase))
                {
                    log.LogWarning("key push for kid {Kid} refused: addressed to another EMSE", kidHex);
                    return Problem(StatusCodes.Status403Forbidden, KeyPushError.NotForThisEmse, "emse_id is not this EMSE");
                }

                DateTimeOffset expires = DateTimeOffset.FromUnixTimeSeconds(body.Expires);
                PushedKeyOutcome outcome = store.Add(body.Kid, body.E2mKey, expires, body.DeviceId);
                switch (outcome)
                {
                    case PushedKeyOutcome.Added:
                        log.LogInformation("pushed key for kid {Kid} accepted (expires {Expires:O})", kidHex, expires);
                        return Results.NoContent();
                    case PushedKeyOutcome.Duplicate:
                        log.LogDebug("pushed key for kid {Kid}: duplicate delivery", kidHex);
                        return Results.NoContent();
                    case PushedKeyOutcome.Expired:
                        log.LogInformation("pushed key for kid {Kid} refused: expired at {Expires:O}", kidHex, expires);
                        return Problem(StatusCodes.Status400BadRequest, KeyPushError.Expired, "expires is not in the future");
                    case PushedKeyOutcome.Conflict:
                        log.LogWarning("pushed key for kid {Kid} refused: another key is pending under its 7-octet kid", kidHex);
                        return Problem(StatusCodes.Status409Conflict, KeyPushError.Conflict, "another key is pending under this kid");
                    default:
                        log.LogWarning("pushed key for kid {Kid} refused: pending-key store full", kidHex);
                        return Problem(StatusCodes.Status503ServiceUnavailable, KeyPushError.Full, "pending-key store full");
                }
            }
            finally
            {
                CryptographicOperations.ZeroMemory(body!.E2mKey);
            }
        }

        private static bool IsJson(string? contentType)
        {
            if (string.IsNullOrEmpty(contentType))
            {
                return false;
            }

            int semi = contentType.IndexOf(';', StringComparison.Ordinal);
            string media = (semi < 0 ? contentType : contentType.Substring(0, semi)).Trim();
            return string.Equals(media, "application/json", StringComparison.OrdinalIgnoreCase);
        }

        /// <summary>
        /// Strict parse of the push body: one JSON object with exactly the members of the contract (kid: 16 hex digits;
        /// e2m_key: 64 hex digits; expires: integer Unix seconds within DateTimeOffset's range; device_id: 1..256
        /// characters; optional max_messages: positive integer or null; optional emse_id: 1..253 characters), no unknown
        /// or repeated member, nothing after the object. On success <paramref name="body"/> holds a fresh e2m_key copy.
        /// </summary>
        public static KeyPushError TryParse(ReadOnlySpan<byte> json, out KeyPushBody? body, out string detail)
        {
            body = null;
            byte[]? kid = null, key = null;
            long? expires = null, maxMessages = null;
            string? deviceId = null, emseId = null;
            bool sawMaxMessages = false;
            try
            {
                var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 4 });
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                {
                    detail = "a JSON object is required";
                    return Fail(ref key);
                }

                while (true)
                {
                    if (!reader.Read())
                    {
                        detail = "truncated object";
                        return Fail(ref key);
                    }

                    if (reader.TokenType == JsonTokenType.EndObject)
                    {
                        break;
                    }

                    string name = reader.GetString()!;
                    if (!reader.Read())
                    {
                        detail = "truncated object";
                        return Fail(ref key);
                    }

                    switch (name)
                    {
                        case "kid":
                            if (kid != null || !TryHex(ref reader, 8, out kid))
                            {
                                detail = "kid: 16 hex digits (the 8-octet KID), once";
                                return Fail(ref key);
                            }

                            break;
                        case "e2m_key":
                            if (key != null || !TryHex(ref reader, 32, out key))
                            {
                                detail = "e2m_key: 64 hex digits, once";
                                return Fail(ref key);
                            }

                            break;
                        case "expires":
                            if (expires != null || reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long e)
                                || e < -62135596800L || e > 253402300799L)
                            {
                                detail = "expires: integer Unix seconds, once";
                                return Fail(ref key);
                            }

                            expires = e;
                            break;
                        case "device_id":
                            if (deviceId != null || reader.TokenType != JsonTokenType.String
                                || (deviceId = reader.GetString()) is not { Length: >= 1 and <= MaxDeviceIdLength })
                            {
                                detail = "device_id: 1.." + MaxDeviceIdLength.ToString(CultureInfo.InvariantCulture) + " characters, once";
                                return Fail(ref key);
                            }

                            break;
                        case "max_messages":
                            if (sawMaxMessages)
                            {
                                detail = "max_messages: once";
                                return Fail(ref key);
                            }

                            sawMaxMessages = true;
                            if (reader.TokenType == JsonTokenType.Null)
                            {
                                break;
                            }

                            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long m) || m < 1)
                            {
                                detail = "max_messages: positive integer or null";
                                return Fail(ref key);
                            }

                            maxMessages = m;
                            break;
                        case "emse_id":
                            if (emseId != null || reader.TokenType != JsonTokenType.String
                                || (emseId = reader.GetString()) is not { Length: >= 1 and <= 253 })
                            {
                                detail = "emse_id: 1..253 characters, once";
                                return Fail(ref key);
                            }

                            break;
                        default:
                            detail = "unknown member";
                            return Fail(ref key);
                    }
                }

                if (reader.Read())
                {
                    detail = "content after the object";
                    return Fail(ref key);
                }
            }
            catch (JsonException)
            {
                detail = "not valid JSON";
                return Fail(ref key);
            }
            catch (InvalidOperationException)
            {
                detail = "not valid JSON";
                return Fail(ref key);
            }

            if (kid == null || key == null || expires == null || deviceId == null)
            {
                detail = "kid, e2m_key, expires and device_id are required";
                return Fail(ref key);
            }

            body = new KeyPushBody { Kid = kid, E2mKey = key, Expires = expires.Value, DeviceId = deviceId, MaxMessages = maxMessages, EmseId = emseId };
            detail = "";
            return KeyPushError.None;
        }

        private static KeyPushError Fail(ref byte[]? key)
        {
            if (key != null)
            {
                CryptographicOperations.ZeroMemory(key);
                key = null;
            }

            return KeyPushError.Malformed;
        }

        private static bool TryHex(ref Utf8JsonReader reader, int octets, out byte[]? value)
        {
            value = null;
            if (reader.TokenType != JsonTokenType.String || reader.HasValueSequence || reader.ValueIsEscaped || reader.ValueSpan.Length != 2 * octets)
            {
                return false;
            }

            ReadOnlySpan<byte> utf8 = reader.ValueSpan;
            Span<char> digits = stackalloc char[64];
            for (int i = 0; i < utf8.Length; i++)
            {
                digits[i] = (char)utf8[i]; // non-ASCII octets are not hex digits either
            }

            var bytes = new byte[octets];
            OperationStatus status = Convert.FromHexString(digits.Slice(0, utf8.Length), bytes, out _, out int written);
            digits.Clear(); // e2m_key hex
            if (status != OperationStatus.Done || written != octets)
            {
                CryptographicOperations.ZeroMemory(bytes);
                return false;
            }

            value = bytes;
            return true;
        }
    }
}

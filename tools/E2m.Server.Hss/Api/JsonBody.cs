using System;
using System.IO;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Http;

namespace E2m.Server.Hss.Api
{
    /// <summary>
    /// Bounded, strict JSON request bodies: at most N octets (an oversized body is rejected without reading it all),
    /// Content-Type application/json, unknown members rejected, depth ≤ 8. Errors are clear sentences for a 400.
    /// </summary>
    internal static class JsonBody
    {
        public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
        {
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            MaxDepth = 8,
            AllowTrailingCommas = false,
            ReadCommentHandling = JsonCommentHandling.Disallow,
            NumberHandling = JsonNumberHandling.Strict,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        };

        public sealed class Result<T>
        {
            public T? Value { get; init; }

            public string? Error { get; init; }
        }

        public static async Task<Result<T>> ReadAsync<T>(HttpRequest request, int maxBytes, CancellationToken ct)
            where T : class
        {
            if (request.ContentType == null || !request.ContentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            {
                return new Result<T> { Error = "Content-Type must be application/json" };
            }

            if (request.ContentLength is long declared && declared > maxBytes)
            {
                return new Result<T> { Error = $"request body too large: {declared} octets (limit {maxBytes})" };
            }

            byte[] buffer = new byte[maxBytes + 1];
            int total = 0;
            while (total < buffer.Length)
            {
                int n = await request.Body.ReadAsync(buffer.AsMemory(total), ct).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                total += n;
            }

            if (total > maxBytes)
            {
                return new Result<T> { Error = $"request body too large (limit {maxBytes} octets)" };
            }

            if (total == 0)
            {
                return new Result<T> { Error = "request body is empty: a JSON object is required" };
            }

            try
            {
                T? v = JsonSerializer.Deserialize<T>(buffer.AsSpan(0, total), Options);
                return v == null ? new Result<T> { Error = "request body must be a JSON object" } : new Result<T> { Value = v };
            }
            catch (JsonException e)
            {
                // JsonException messages name the path and position, never echo values beyond the token type.
                return new Result<T> { Error = "malformed JSON: " + Describe(e) };
            }
            finally
            {
                Array.Clear(buffer, 0, total); // the body may carry K/OPc (admin add)
            }
        }

        private static string Describe(JsonException e)
        {
            string where = e.Path != null ? $" at {e.Path}" : string.Empty;
            string pos = e.LineNumber != null ? $" (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})" : string.Empty;
            string msg = e.Message;
            int cut = msg.IndexOf(" Path:", StringComparison.Ordinal);
            if (cut > 0)
            {
                msg = msg.Substring(0, cut);
            }

            return msg + where + pos;
        }
    }
}

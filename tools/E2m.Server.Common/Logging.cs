using System;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace E2m.Server.Common
{
    /// <summary>
    /// Logging for every e2m service. THE RULE: no key material in any log message or scope, at any level —
    /// never K, OPc, CK, IK, CK'/IK', KASME, XRES/RES, e2m_int_key, e2m_key, KEKs, private keys, connection strings
    /// with passwords. Allowed: KID (it names a key without revealing it), EMSE_Id, subscription id, counts,
    /// SQN/IND (not secret on the network side), RAND, and the IMSI only through <see cref="Redact.Imsi"/>.
    /// Structured (message templates with named holes); <c>E2M_LOG_FORMAT=json</c> selects the JSON console formatter.
    /// </summary>
    public static class E2mLogging
    {
        public static ILoggingBuilder AddE2mLogging(this ILoggingBuilder logging)
        {
            logging.ClearProviders();
            if (string.Equals(Environment.GetEnvironmentVariable("E2M_LOG_FORMAT"), "json", StringComparison.OrdinalIgnoreCase))
            {
                logging.AddJsonConsole(o =>
                {
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                });
            }
            else
            {
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                });
            }

            // ASP.NET Core's own request logs never carry bodies; keep them at Warning to limit noise.
            logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            return logging;
        }
    }

    /// <summary>Redaction helpers for values that may appear in logs in reduced form.</summary>
    public static class Redact
    {
        /// <summary>IMSI as MCC+MNC (5 digits) + '*'s + last 2 digits, e.g. 00101********23.</summary>
        public static string Imsi(string? imsi)
        {
            if (string.IsNullOrEmpty(imsi))
            {
                return "-";
            }

            if (imsi.Length <= 7)
            {
                return new string('*', imsi.Length);
            }

            return imsi.Substring(0, 5) + new string('*', imsi.Length - 7) + imsi.Substring(imsi.Length - 2);
        }
    }
}

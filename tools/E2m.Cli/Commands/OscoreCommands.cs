using System;
using System.CommandLine;
using E2m.Hal;
using E2m.Hal.Host;
using E2m.Oscore;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m oscore derive|protect|unprotect` (RFC 8613, AES-CCM-16-64-128 / HKDF-SHA-256). The context is given
    /// from the point of view of the party running the command: --sender-id is our Sender ID.
    /// Outputs: derive → sender_key, recipient_key, common_iv; protect → protected; unprotect → message.
    /// A rejected message is a one-line typed error on stderr and exit code 1.
    /// </summary>
    public static class OscoreCommands
    {
        private static readonly Option<string> Secret = HexArgs.Required("--secret", "Master Secret (hex, non-empty)");
        private static readonly Option<string> Salt = HexArgs.Optional("--salt", "Master Salt (hex; default empty)");
        private static readonly Option<string> SenderId = HexArgs.Required("--sender-id", "our Sender ID (hex, 0-7 octets; \"\" for empty)");
        private static readonly Option<string> RecipientId = HexArgs.Required("--recipient-id", "our Recipient ID (hex, 0-7 octets; \"\" for empty)");
        private static readonly Option<string> IdContext = HexArgs.Optional("--id-context", "ID Context (hex; default absent)");
        private static readonly Option<string> Message = HexArgs.Required("--message", "the CoAP message (hex)");
        private static readonly Option<long?> Ssn = new("--ssn") { Description = "Sender Sequence Number to use (Partial IV of a request, or of a response with --own-piv)" };
        private static readonly Option<long?> ResponseToPiv = new("--response-to-piv") { Description = "treat the message as a response to the request with this Partial IV" };
        private static readonly Option<string> RequestKid = HexArgs.Optional("--request-kid", "kid of that request (hex; \"\" for empty)");
        private static readonly Option<bool> OwnPiv = new("--own-piv") { Description = "protect the response with its own Partial IV (from --ssn) instead of reusing the request nonce" };

        public static Command Build()
        {
            var oscore = new Command("oscore", "OSCORE (RFC 8613) security context derivation and message protection");

            var derive = new Command("derive", "Derive Sender Key, Recipient Key and Common IV (RFC 8613 §3.2)");
            AddContextOptions(derive);
            derive.SetAction(RunDerive);
            oscore.Subcommands.Add(derive);

            var protect = new Command("protect", "Protect a CoAP request (§8.1), or with --response-to-piv a response (§8.3)");
            AddContextOptions(protect);
            protect.Options.Add(Message);
            protect.Options.Add(Ssn);
            protect.Options.Add(ResponseToPiv);
            protect.Options.Add(RequestKid);
            protect.Options.Add(OwnPiv);
            protect.SetAction(RunProtect);
            oscore.Subcommands.Add(protect);

            var unprotect = new Command("unprotect", "Verify and decrypt an OSCORE request (§8.2), or with --response-to-piv a response (§8.4)");
            AddContextOptions(unprotect);
            unprotect.Options.Add(Message);
            unprotect.Options.Add(ResponseToPiv);
            unprotect.Options.Add(RequestKid);
            unprotect.SetAction(RunUnprotect);
            oscore.Subcommands.Add(unprotect);
            return oscore;
        }

        private static void AddContextOptions(Command c)
        {
            c.Options.Add(Secret);
            c.Options.Add(Salt);
            c.Options.Add(SenderId);
            c.Options.Add(RecipientId);
            c.Options.Add(IdContext);
        }

        private static OscoreSecurityContext BuildContext(ParseResult parsed, ISsnStore? ssnStore)
        {
            byte[] secret = HexArgs.Parse(parsed, Secret, -1);
            if (secret.Length == 0)
            {
                throw new UsageException("--secret: the Master Secret must not be empty (RFC 8613 §3.1)");
            }

            byte[]? salt = parsed.GetValue(Salt) is string s ? HexArgs.Parse("--salt", s, -1) : null;
            byte[] senderId = HexArgs.Parse(parsed, SenderId, -1);
            byte[] recipientId = HexArgs.Parse(parsed, RecipientId, -1);
            byte[]? idContext = parsed.GetValue(IdContext) is string c ? HexArgs.Parse("--id-context", c, -1) : null;
            if (senderId.Length > 7 || recipientId.Length > 7)
            {
                throw new UsageException("--sender-id/--recipient-id: at most 7 octets with AES-CCM-16-64-128 (RFC 8613 §3.3)");
            }

            if (senderId.AsSpan().SequenceEqual(recipientId))
            {
                throw new UsageException("--sender-id and --recipient-id must differ (RFC 8613 §3.3)");
            }

            if (idContext != null && idContext.Length > 255)
            {
                throw new UsageException("--id-context: at most 255 octets (RFC 8613 §6.1)");
            }

            return new OscoreSecurityContext(new PlatformCryptoProvider(), secret, salt, senderId, recipientId, idContext,
                ssnStore, 1, AesCcmMax, OscoreSecurityContext.DefaultMaxOptions);
        }

        private const int AesCcmMax = 1152;

        private static int RunDerive(ParseResult parsed)
        {
            using OscoreSecurityContext ctx = BuildContext(parsed, null);
            return new CliOutput()
                .Hex("sender_key", ctx.GetSenderKey())
                .Hex("recipient_key", ctx.GetRecipientKey())
                .Hex("common_iv", ctx.GetCommonIv())
                .WriteTo(parsed);
        }

        private static OscoreExchange? ResponseExchange(ParseResult parsed)
        {
            long? piv = parsed.GetValue(ResponseToPiv);
            string? kidHex = parsed.GetValue(RequestKid);
            if (piv == null)
            {
                if (kidHex != null)
                {
                    throw new UsageException("--request-kid needs --response-to-piv");
                }

                return null;
            }

            if (piv < 0 || piv > 0xFF_FFFF_FFFF)
            {
                throw new UsageException("--response-to-piv: must be 0..2^40-1 (RFC 8613 §7.2.1)");
            }

            if (kidHex == null)
            {
                throw new UsageException("--response-to-piv needs --request-kid (the request's 'kid', RFC 8613 §5.4)");
            }

            byte[] kid = HexArgs.Parse("--request-kid", kidHex, -1);
            var exchange = new OscoreExchange();
            exchange.Set(kid, 0, kid.Length, piv.Value);
            return exchange;
        }

        private static int RunProtect(ParseResult parsed)
        {
            byte[] message = HexArgs.Parse(parsed, Message, -1);
            OscoreExchange? response = ResponseExchange(parsed);
            bool ownPiv = parsed.GetValue(OwnPiv);
            long? ssn = parsed.GetValue(Ssn);
            if (response == null && ownPiv)
            {
                throw new UsageException("--own-piv applies to responses (--response-to-piv)");
            }

            if ((response == null || ownPiv) && ssn == null)
            {
                throw new UsageException("--ssn is required to protect a request or a response with --own-piv");
            }

            if (ssn is < 0 or > 0xFF_FFFF_FFFF)
            {
                throw new UsageException("--ssn: must be 0..2^40-1 (RFC 8613 §7.2.1)");
            }

            ISsnStore? store = ssn == null ? null : new MemorySsnStore(ssn.Value);
            using OscoreSecurityContext ctx = BuildContext(parsed, store);
            // The protected message adds at most the OSCORE option (≤ 255 octets of value + 3 of header, RFC 8613 §6.1),
            // the tag (8) and the payload marker, and moves Class E options inside: message + 300 always holds it.
            byte[] output = new byte[message.Length + 300];
            try
            {
                int n = response == null
                    ? ctx.ProtectRequest(message, 0, message.Length, output, 0, new OscoreExchange())
                    : ctx.ProtectResponse(message, 0, message.Length, response, ownPiv, output, 0);
                return new CliOutput().Hex("protected", output.AsSpan(0, n).ToArray()).WriteTo(parsed);
            }
            catch (MalformedInputException e)
            {
                throw new VerificationFailedException("error: " + e.Message);
            }
        }

        private static int RunUnprotect(ParseResult parsed)
        {
            byte[] message = HexArgs.Parse(parsed, Message, -1);
            OscoreExchange? response = ResponseExchange(parsed);
            using OscoreSecurityContext ctx = BuildContext(parsed, null);
            byte[] output = new byte[Math.Max(message.Length, 16)];
            try
            {
                int n = response == null
                    ? ctx.UnprotectRequest(message, 0, message.Length, output, 0, new OscoreExchange())
                    : ctx.UnprotectResponse(message, 0, message.Length, response, output, 0);
                return new CliOutput().Hex("message", output.AsSpan(0, n).ToArray()).WriteTo(parsed);
            }
            catch (MalformedInputException e)
            {
                throw new VerificationFailedException("error: " + e.Message);
            }
        }
    }
}

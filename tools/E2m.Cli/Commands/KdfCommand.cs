using System.CommandLine;
using E2m.Crypto;
using E2m.Hal.Host;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m kdf`: the e2m key chain of DESIGN.md §2 (TS 33.220 Annex B KDF): e2m_int_key and KID from CK||IK,
    /// and with --emse-id the per-endpoint e2m_key.
    /// </summary>
    public static class KdfCommand
    {
        private static readonly Option<string> Ck = HexArgs.Required("--ck", "CK from the USIM (16 octets hex)");
        private static readonly Option<string> Ik = HexArgs.Required("--ik", "IK from the USIM (16 octets hex)");
        private static readonly Option<string> EmseId = new("--emse-id") { Description = "EMSE_Id (text, UTF-8), e.g. emse.example.org" };

        public static Command Build()
        {
            var kdf = new Command("kdf", "Derive e2m_int_key and kid from CK||IK, and e2m_key for an EMSE_Id (DESIGN.md §2)");
            kdf.Options.Add(Ck);
            kdf.Options.Add(Ik);
            kdf.Options.Add(EmseId);
            kdf.SetAction(Run);
            return kdf;
        }

        private static int Run(ParseResult parsed)
        {
            byte[] ck = HexArgs.Parse(parsed, Ck, 16);
            byte[] ik = HexArgs.Parse(parsed, Ik, 16);
            string? emseId = parsed.GetValue(EmseId);
            if (emseId != null && emseId.Length == 0)
            {
                throw new UsageException("--emse-id: must not be empty");
            }

            var keys = new E2mKeys(new PlatformCryptoProvider().CreateHmacSha256());
            byte[] intKey = new byte[32], kid = new byte[8];
            keys.DeriveIntKey(ck, ik, intKey);
            keys.DeriveKid(intKey, kid);
            var output = new CliOutput().Hex("e2m_int_key", intKey).Hex("kid", kid);
            if (emseId != null)
            {
                // TS 33.220 Annex B.2.1.2: a character string enters the KDF as UTF-8 after NFKC normalisation. For ASCII that
                // is the identity; this build has no Unicode tables (InvariantGlobalization), so a non-ASCII EMSE_Id — which
                // the stack never issues (FQDNs; an IDN is written as its A-label, RFC 5890) — is refused, not mis-derived.
                foreach (char c in emseId)
                {
                    if (c > 0x7E || c < 0x21)
                    {
                        throw new UsageException("--emse-id: printable ASCII only (an FQDN; an IDN as its xn-- A-label): the NFKC step of TS 33.220 B.2.1.2 is not available here");
                    }
                }

                byte[] id = System.Text.Encoding.UTF8.GetBytes(emseId);
                if (id.Length > 255)
                {
                    throw new UsageException("--emse-id: at most 255 octets of UTF-8 (E2mKeys.MaxEmseIdLength)");
                }

                byte[] key = new byte[32];
                keys.DeriveKey(intKey, id, 0, id.Length, key);
                output.Hex("e2m_key", key);
            }

            return output.WriteTo(parsed);
        }
    }
}

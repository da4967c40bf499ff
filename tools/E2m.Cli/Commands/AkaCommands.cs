using System.CommandLine;
using E2m.Crypto;
using E2m.Hal.Host;

namespace E2m.Cli.Commands
{
    /// <summary>
    /// `e2m aka`: Milenage (TS 35.206) authentication vector and `e2m aka auts`: AUTS -> SQN_MS recovery
    /// (TS 33.102 §6.3.3, §6.3.5). Field names are a contract: opc, mac_a, mac_s, res, ck, ik, ak, ak_star, autn; sqn_ms.
    /// </summary>
    public static class AkaCommands
    {
        private static readonly Option<string> K = HexArgs.Required("--k", "Subscriber key K (16 octets hex)");
        private static readonly Option<string> Opc = HexArgs.Optional("--opc", "OPc (16 octets hex); give exactly one of --opc/--op");
        private static readonly Option<string> Op = HexArgs.Optional("--op", "Operator variant OP (16 octets hex); OPc is derived (TS 35.206 §4.1)");
        private static readonly Option<string> Rand = HexArgs.Required("--rand", "RAND (16 octets hex)");
        private static readonly Option<string> Sqn = HexArgs.Required("--sqn", "SQN (6 octets hex)");
        private static readonly Option<string> Amf = HexArgs.Required("--amf", "AMF (2 octets hex)");
        private static readonly Option<string> Auts = HexArgs.Required("--auts", "AUTS from the USIM (14 octets hex)");

        public static Command Build()
        {
            var aka = new Command("aka", "Milenage f1-f5* and AUTN for K, OPc/OP, RAND, SQN, AMF (TS 35.206, TS 33.102 §6.3.2)");
            aka.Options.Add(K);
            aka.Options.Add(Opc);
            aka.Options.Add(Op);
            aka.Options.Add(Rand);
            aka.Options.Add(Sqn);
            aka.Options.Add(Amf);
            aka.SetAction(RunVector);

            var auts = new Command("auts", "Recover SQN_MS from RAND and AUTS after checking MAC-S (TS 33.102 §6.3.5); exit 1 when MAC-S fails");
            auts.Options.Add(K);
            auts.Options.Add(Opc);
            auts.Options.Add(Op);
            auts.Options.Add(Rand);
            auts.Options.Add(Auts);
            auts.SetAction(RunAuts);
            aka.Subcommands.Add(auts);
            return aka;
        }

        private static int RunVector(ParseResult parsed)
        {
            byte[] k = HexArgs.Parse(parsed, K, 16);
            byte[] rand = HexArgs.Parse(parsed, Rand, 16);
            byte[] sqn = HexArgs.Parse(parsed, Sqn, 6);
            byte[] amf = HexArgs.Parse(parsed, Amf, 2);
            IAes128 aes = new PlatformCryptoProvider().CreateAes128();
            byte[] opc = ResolveOpc(parsed, aes, k);

            var milenage = new Milenage(aes);
            milenage.SetKey(k, opc);
            byte[] macA = new byte[8], macS = new byte[8], res = new byte[8], ck = new byte[16], ik = new byte[16];
            byte[] ak = new byte[6], akStar = new byte[6], autn = new byte[16];
            milenage.F1(rand, sqn, amf, macA, macS);
            milenage.F2345(rand, res, ck, ik, ak);
            milenage.F5Star(rand, akStar);
            Aka.BuildAutn(sqn, ak, amf, macA, autn);
            milenage.Clear();

            return new CliOutput()
                .Hex("opc", opc).Hex("mac_a", macA).Hex("mac_s", macS).Hex("res", res)
                .Hex("ck", ck).Hex("ik", ik).Hex("ak", ak).Hex("ak_star", akStar).Hex("autn", autn)
                .WriteTo(parsed);
        }

        private static int RunAuts(ParseResult parsed)
        {
            byte[] k = HexArgs.Parse(parsed, K, 16);
            byte[] rand = HexArgs.Parse(parsed, Rand, 16);
            byte[] auts = HexArgs.Parse(parsed, Auts, 14);
            IAes128 aes = new PlatformCryptoProvider().CreateAes128();
            byte[] opc = ResolveOpc(parsed, aes, k);

            var milenage = new Milenage(aes);
            milenage.SetKey(k, opc);
            byte[] sqnMs = new byte[6];
            bool ok = Aka.TryRecoverSqnMs(milenage, rand, auts, sqnMs);
            milenage.Clear();
            if (!ok)
            {
                throw new VerificationFailedException("MAC-S verification failed: AUTS was not produced for this K/OPc and RAND (TS 33.102 §6.3.5)");
            }

            return new CliOutput().Hex("sqn_ms", sqnMs).WriteTo(parsed);
        }

        private static byte[] ResolveOpc(ParseResult parsed, IAes128 aes, byte[] k)
        {
            string? opcHex = parsed.GetValue(Opc);
            string? opHex = parsed.GetValue(Op);
            if ((opcHex == null) == (opHex == null))
            {
                throw new UsageException("give exactly one of --opc and --op");
            }

            if (opcHex != null)
            {
                return HexArgs.Parse("--opc", opcHex, 16);
            }

            byte[] op = HexArgs.Parse("--op", opHex, 16);
            byte[] opc = new byte[16];
            Milenage.ComputeOpc(aes, k, op, opc);
            return opc;
        }
    }
}

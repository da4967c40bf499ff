using BenchmarkDotNet.Running;

namespace E2m.Bench
{
    public static class Program
    {
        public static int Main(string[] args)
        {
            if (args.Length > 0 && args[0] == "--emse-load")
            {
                return EmseLoad.Run(args); // console load test, see EmseLoad.cs
            }

            if (args.Length > 0 && args[0] == "--serve")
            {
                return EmseLoad.Serve(args); // the echo or EMSE side of --emse-load in a process of its own
            }

            if (args.Length > 0 && args[0] == "--emks-load")
            {
                return EmksLoad.Run(args); // EMKS key pulls/s and p50/p99 over mTLS keep-alive, see EmksLoad.cs
            }

            if (args.Length > 0 && args[0] == "--disk-sync")
            {
                return DiskSync.Run(args); // durable writes/s of this machine's disk (the floor under a durable 2.04), see DiskSync.cs
            }

            if (args.Length > 0 && args[0] == "--hss-load")
            {
                return HssLoad.Run(args); // HSS AIR vectors/s (core, HTTPS keep-alive, new connection), see HssLoad.cs
            }

            BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
            return 0;
        }
    }
}

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

            BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
            return 0;
        }
    }
}

using System;

namespace E2m.Cli
{
    public static class Program
    {
        public static int Main(string[] args) => CliApp.Run(args, Console.Out, Console.Error);
    }
}

using System;
using E2m.Hal;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// <see cref="ILog"/> on the nanoFramework debug output (Console.WriteLine: the same native channel as
    /// Debug.WriteLine but kept in Release builds; visible in Visual Studio's output window or on COM1 / the USB
    /// port). Callers never pass key material (hal/README.md).
    /// </summary>
    public sealed class ConsoleLog : ILog
    {
        private readonly int _level;

        public ConsoleLog(int level)
        {
            _level = level;
        }

        public bool IsEnabled(int level)
        {
            return level <= _level;
        }

        public void Write(int level, string source, string message)
        {
            if (level <= _level)
            {
#pragma warning disable NF0009 // the one legitimate Console user: the device logger behind E2m.Hal.ILog
                Console.WriteLine(source + ": " + message);
#pragma warning restore NF0009
            }
        }
    }
}

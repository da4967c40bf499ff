using System;
using System.Collections.Generic;
using System.IO;
using E2m.Hal;

namespace E2m.Hal.Host
{
    /// <summary>ILog to a TextWriter (stderr, a file) and/or memory (tests read <see cref="Lines"/>).</summary>
    public sealed class TextLog : ILog
    {
        private readonly TextWriter? _writer;
        private readonly List<string> _lines = new();
        private readonly object _gate = new();

        /// <param name="writer">null = memory only.</param>
        /// <param name="level">highest level written (LogLevel.Error .. LogLevel.Trace).</param>
        public TextLog(TextWriter? writer, int level)
        {
            _writer = writer;
            Level = level;
        }

        public int Level { get; set; }

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_gate)
                {
                    return _lines.ToArray();
                }
            }
        }

        public bool IsEnabled(int level) => level <= Level;

        public void Write(int level, string source, string message)
        {
            if (!IsEnabled(level))
            {
                return;
            }

            string line = level switch
            {
                LogLevel.Error => "E",
                LogLevel.Warning => "W",
                LogLevel.Info => "I",
                LogLevel.Debug => "D",
                _ => "T",
            } + " " + source + ": " + message;
            lock (_gate)
            {
                _lines.Add(line);
                _writer?.WriteLine(line);
            }
        }
    }
}

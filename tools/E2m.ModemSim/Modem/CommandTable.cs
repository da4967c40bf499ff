using System;
using System.Collections.Generic;

namespace E2m.ModemSim.Modem
{
    /// <summary>Handles one command of a command line; must end the exchange (Ok/Error/Cme/Final), possibly later.</summary>
    public delegate void AtHandler(AtExchange x);

    /// <summary>One command of the catalogue: a handler per form and the response delay the DCE takes.</summary>
    public sealed class CommandSpec
    {
        public CommandSpec(string name)
        {
            Name = name;
        }

        public string Name { get; }

        public AtHandler? Exec { get; set; }

        public AtHandler? Set { get; set; }

        public AtHandler? Read { get; set; }

        public AtHandler? Test { get; set; }

        /// <summary>Time from the command's CR to its response (simulated processing time, from the injected clock).</summary>
        public int DelayMs { get; set; }

        public AtHandler? For(AtForm form) => form switch
        {
            AtForm.Exec => Exec,
            AtForm.Set => Set,
            AtForm.Read => Read,
            _ => Test,
        };
    }

    /// <summary>
    /// The command catalogue of a simulated modem: data (name → handlers + delay). The TS 27.007 core fills it
    /// first; a <see cref="ModemDialect"/> then applies its delta (vendor commands, changed answers, delays).
    /// </summary>
    public sealed class CommandTable
    {
        private readonly Dictionary<string, CommandSpec> _specs = new(StringComparer.Ordinal);

        public IEnumerable<string> Names => _specs.Keys;

        public CommandSpec Get(string name)
        {
            if (!_specs.TryGetValue(name, out CommandSpec? s))
            {
                s = new CommandSpec(name);
                _specs[name] = s;
            }

            return s;
        }

        public bool TryGet(string name, out CommandSpec spec) => _specs.TryGetValue(name, out spec!);

        /// <summary>Sets (or replaces) the handler of <paramref name="name"/> in <paramref name="form"/>.</summary>
        public CommandTable On(string name, AtForm form, AtHandler handler)
        {
            CommandSpec s = Get(name);
            switch (form)
            {
                case AtForm.Exec: s.Exec = handler; break;
                case AtForm.Set: s.Set = handler; break;
                case AtForm.Read: s.Read = handler; break;
                default: s.Test = handler; break;
            }

            return this;
        }

        /// <summary>Test form answering a fixed line then OK (TS 27.007 §4.1 "=?").</summary>
        public CommandTable TestLine(string name, string line) => On(name, AtForm.Test, x =>
        {
            x.Line(line);
            x.Ok();
        });

        public CommandTable Delay(string name, int ms)
        {
            Get(name).DelayMs = ms;
            return this;
        }

        /// <summary>Removes a command: the dialect does not implement it (answered ERROR).</summary>
        public CommandTable Remove(string name)
        {
            _specs.Remove(name);
            return this;
        }
    }
}

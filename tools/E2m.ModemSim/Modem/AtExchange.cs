using System;

namespace E2m.ModemSim.Modem
{
    /// <summary>
    /// The DCE side of one command being executed: information responses, one final result (possibly later, on
    /// the simulator's clock), a data prompt. Every response is framed by the modem (V.250 §5.7.1 verbose:
    /// CR LF text CR LF).
    /// </summary>
    public sealed class AtExchange
    {
        private readonly Action<AtExchange, string?, bool> _complete;
        private readonly int _generation;

        internal AtExchange(SimulatedModem modem, AtRequest request, int generation, Action<AtExchange, string?, bool> complete)
        {
            Modem = modem;
            Request = request;
            _generation = generation;
            _complete = complete;
        }

        public SimulatedModem Modem { get; }

        public AtRequest Request { get; }

        public bool Finished { get; private set; }

        /// <summary>True while the modem has not rebooted since the command arrived.</summary>
        public bool Alive => !Finished && Modem.Generation == _generation;

        /// <summary>Information response line (CR LF line CR LF).</summary>
        public void Line(string text)
        {
            if (Alive)
            {
                Modem.EmitLine(text);
            }
        }

        /// <summary>Raw bytes (binary payload after a +QIRD header).</summary>
        public void Raw(byte[] data, int offset, int count)
        {
            if (Alive)
            {
                Modem.EmitRaw(data, offset, count);
            }
        }

        public void Ok() => Finish(null, true);

        /// <summary>Plain ERROR (V.250 §5.7.1; Quectel QI* failures, unknown commands).</summary>
        public void Error() => Finish("ERROR", false);

        /// <summary>+CME ERROR per +CMEE: 0 → ERROR, 1 → numeric, 2 → verbose (TS 27.007 §9.1, §9.2).</summary>
        public void Cme(int code) => Finish(Modem.FormatCme(code), false);

        /// <summary>A command-specific final line ("SEND OK", "SEND FAIL").</summary>
        public void Final(string text, bool success) => Finish(text, success);

        /// <summary>Runs <paramref name="continuation"/> after <paramref name="ms"/> on the modem clock; the command stays in flight.</summary>
        public void Later(int ms, Action continuation)
        {
            Modem.ScheduleInGeneration(ms, () =>
            {
                if (Alive)
                {
                    Modem.RunGuarded(this, continuation);
                }
            });
        }

        /// <summary>
        /// Sends the data prompt (e.g. "\r\n> " on BG9x, "@" on SARA-R4) and collects exactly <paramref name="count"/>
        /// octets, or up to Ctrl-Z when <paramref name="count"/> is negative (ESC cancels), then calls <paramref name="onData"/>.
        /// </summary>
        public void Prompt(string prompt, int count, Action<byte[]> onData)
        {
            if (!Alive)
            {
                return;
            }

            Modem.EnterDataMode(this, prompt, count, onData);
        }

        private void Finish(string? text, bool success)
        {
            if (!Alive)
            {
                return;
            }

            Finished = true;
            _complete(this, text, success);
        }
    }
}

namespace E2m.Modem.At
{
    /// <summary>
    /// Receives unsolicited result codes (URCs) whose line starts with the prefix it was
    /// registered for (<see cref="AtChannel.RegisterUrc"/>), and boot lines when registered with
    /// <see cref="AtChannel.RegisterRebootHandler"/>. Called synchronously on the thread that pumps
    /// the channel (inside Execute or Poll): keep it short (parse, set a flag, signal an event) and
    /// never call Execute/Poll from it (that returns <see cref="AtStatus.Busy"/> / false).
    /// </summary>
    public interface IUrcHandler
    {
        void OnUrc(string line);
    }
}

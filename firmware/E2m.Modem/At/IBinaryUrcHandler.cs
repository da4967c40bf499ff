namespace E2m.Modem.At
{
    /// <summary>
    /// A URC whose line is followed by raw bytes (BG95/BG96 direct-push receive:
    /// <c>+QIURC: "recv",&lt;id&gt;,&lt;len&gt;&lt;CR&gt;&lt;LF&gt;&lt;data&gt;</c>, Quectel BG96 TCP/IP AN p34–35 as cited in
    /// modems.md §1.5). Registered with <see cref="AtChannel.RegisterBinaryUrc"/>. Only the driver knows whether a
    /// line announces raw bytes (a BG95 in buffer mode prints the same shape with the pending length and no data),
    /// so the channel asks <see cref="PayloadLength"/> for every matching line. Called on the pumping thread; same
    /// rules as <see cref="IUrcHandler"/>.
    /// </summary>
    public interface IBinaryUrcHandler
    {
        /// <summary>Number of raw bytes that follow <paramref name="line"/>, or -1 when none follow (a plain URC).</summary>
        int PayloadLength(string line);

        /// <summary>
        /// The raw bytes after <paramref name="line"/>: <paramref name="count"/> bytes in <paramref name="data"/> from
        /// <paramref name="offset"/>; <paramref name="count"/> &lt; <paramref name="declared"/> when the payload did not fit
        /// the channel's buffer (the excess was read and dropped). The buffer is reused: copy what you keep.
        /// </summary>
        void OnPayload(string line, byte[] data, int offset, int count, int declared);
    }
}

using System;

namespace E2m.Hal
{
    /// <summary>
    /// A byte pipe to the modem's AT port (UART on the device; USB serial, TCP or a pseudo-terminal on
    /// the host). The smallest seam the AT channel needs (compare Zephyr include/zephyr/modem/pipe.h:
    /// transmit / receive / RECEIVE_READY). Firmware never sees a concrete SerialPort.
    /// Contract: one reader thread at a time (the AT channel owns reads); writes may come from the
    /// same thread. Bytes are delivered in order, in fragments of any size.
    /// </summary>
    public interface ISerialTransport
    {
        /// <summary>Writes all <paramref name="count"/> bytes (blocks until handed to the driver).</summary>
        /// <exception cref="System.IO.IOException">the port is closed or broken.</exception>
        void Write(byte[] data, int offset, int count);

        /// <summary>
        /// Copies up to <paramref name="count"/> received bytes into <paramref name="buffer"/>. Returns as
        /// soon as at least one byte is available, or after <paramref name="timeoutMs"/> milliseconds with 0.
        /// <paramref name="timeoutMs"/> = 0 polls without blocking. A timeout is not an error: never throws
        /// TimeoutException. Implementations driven by a fake clock advance that clock instead of waiting.
        /// </summary>
        int Read(byte[] buffer, int offset, int count, int timeoutMs);

        /// <summary>
        /// Raised (on a driver or reader thread) when new bytes arrived. A hint for callers that wait
        /// on it and then pump the AT channel; it carries no data. Handlers must be short.
        /// </summary>
        event EventHandler DataAvailable;

        /// <summary>Drops every byte received and not yet read (used by AT resynchronisation).</summary>
        void DiscardInput();
    }
}

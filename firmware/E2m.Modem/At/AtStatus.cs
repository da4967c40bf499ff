namespace E2m.Modem.At
{
    /// <summary>
    /// Typed outcome of one AT command (int-backed; never printed by name on the device, see
    /// <see cref="AtResult.Describe"/>). Final result codes per ITU-T V.250 §5.7.1 and
    /// TS 27.007 §9.2 (+CME ERROR) / TS 27.005 §3.2.5 (+CMS ERROR).
    /// </summary>
    public enum AtStatus
    {
        /// <summary>Final result "OK" (V.250 result code 0), or the command's own success line (e.g. "SEND OK").</summary>
        Ok = 0,
        /// <summary>Final result "ERROR" (V.250 result code 4).</summary>
        Error = 1,
        /// <summary>"+CME ERROR: &lt;err&gt;" (27.007 §9.2); code in <see cref="AtResult.ErrorCode"/>.</summary>
        CmeError = 2,
        /// <summary>"+CMS ERROR: &lt;err&gt;" (27.005 §3.2.5); code in <see cref="AtResult.ErrorCode"/>.</summary>
        CmsError = 3,
        /// <summary>No final result within the command's timeout (after all allowed attempts).</summary>
        Timeout = 4,
        /// <summary>The modem printed a boot line (RDY, APP RDY, ...) while the command was in flight.</summary>
        Rebooted = 5,
        /// <summary>Another command is in flight (or the caller is a URC handler running inside the channel).</summary>
        Busy = 6,
        /// <summary>Final result "NO CARRIER" (V.250 result code 3).</summary>
        NoCarrier = 7,
        /// <summary>Final result "CONNECT [text]" (V.250 result code 1): the port is now in data mode.</summary>
        Connect = 8,
        /// <summary>The command's own failure line (e.g. "SEND FAIL" for AT+QISEND); text in <see cref="AtResult.ErrorText"/>.</summary>
        CommandFailed = 9,
        /// <summary>"BUSY", "NO ANSWER" or "NO DIALTONE" (V.250 result codes 7, 8, 6); text in ErrorText.</summary>
        CallFailed = 10,
    }
}

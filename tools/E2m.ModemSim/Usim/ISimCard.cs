namespace E2m.ModemSim.Usim
{
    /// <summary>
    /// The seam between the simulated modem (M2) and the simulated UICC (M1): what the ME's card reader sees.
    /// One C-APDU in (CLA carries the logical channel, ETSI TS 102 221 §10.1.1), one R-APDU out (data || SW1 SW2).
    /// </summary>
    public interface ISimCard
    {
        /// <summary>Sends one command APDU and returns the response APDU (response data followed by SW1 SW2).</summary>
        byte[] Transmit(byte[] commandApdu);

        /// <summary>Power cycle: logical channels closed, PIN verification state reset, basic channel back at the MF.</summary>
        void Reset();

        /// <summary>False when the card is removed (fault injection); Transmit then throws <see cref="SimNotPresentException"/>.</summary>
        bool Present { get; }
    }
}

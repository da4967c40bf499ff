#nullable disable // portable code: nullable off (DESIGN.md §9)
namespace E2m.Firmware
{
    /// <summary>
    /// Why a step or a cycle failed (typed; int-backed, stable values; <see cref="FirmwareErrors.Describe"/> for text).
    /// Modem details are in <see cref="E2mApplication.LastModemError"/>.
    /// </summary>
    public enum FirmwareError
    {
        None = 0,
        PowerOnFailed = 1,
        ModemInitFailed = 2,
        SimNotReady = 3,
        ImsiUnavailable = 4,
        RegistrationFailed = 5,
        RegistrationDenied = 6,
        /// <summary>Registered on a RAT the minimum-security policy forbids (DESIGN.md §5): nothing is sent.</summary>
        PolicyForbidsRat = 7,
        PdpFailed = 8,
        // key establishment (DESIGN.md §3)
        NoNetworkKey = 20,
        StaleNetworkKey = 21,
        BootstrapTimeout = 22,
        BootstrapRejected = 23,
        BootstrapMalformed = 24,
        /// <summary>USIM answered 98 62: AUTN not from our home network (TS 31.102 §7.3).</summary>
        AuthMacFailure = 25,
        /// <summary>Still out of sync after the allowed AUTS resynchronisations.</summary>
        AuthSyncFailure = 26,
        /// <summary>The modem refused to pass AUTHENTICATE to the USIM (e.g. +CME ERROR: 3).</summary>
        AuthModemRefused = 27,
        AuthNoAccessPath = 28,
        /// <summary>The USIM refused AUTHENTICATE with another status word (e.g. 69 82).</summary>
        AuthUsimRefused = 29,
        /// <summary>Derived KID differs from the one the EMKS offered: not a key (DESIGN.md §3).</summary>
        KidMismatch = 30,
        // upload
        UploadTimeout = 40,
        /// <summary>The EMSE answered 4.01 again right after a re-key.</summary>
        EmseUnauthorized = 41,
        EmseRejected = 42,
        EmseServerError = 43,
        BadResponse = 44,
        SocketFailed = 45,
        SendFailed = 46,
        ModemRebooted = 47,
        ModemTimeout = 48,
        StepOverrun = 49,
        StorageFailed = 50,
        /// <summary>
        /// The EMSE answered 4.01 "Replay detected" (RFC 8613 §7.4) to a batch sent again with a fresh sequence number: this
        /// device's SSN is behind the EMSE's replay window (never a refusal of the key).
        /// </summary>
        EmseReplay = 51,
    }

    public static class FirmwareErrors
    {
        public static string Describe(FirmwareError e)
        {
            switch (e)
            {
                case FirmwareError.None: return "ok";
                case FirmwareError.PowerOnFailed: return "modem power-on failed";
                case FirmwareError.ModemInitFailed: return "modem init failed";
                case FirmwareError.SimNotReady: return "SIM not ready";
                case FirmwareError.ImsiUnavailable: return "IMSI unavailable";
                case FirmwareError.RegistrationFailed: return "not registered";
                case FirmwareError.RegistrationDenied: return "registration denied";
                case FirmwareError.PolicyForbidsRat: return "policy forbids this radio access technology";
                case FirmwareError.PdpFailed: return "PDP activation failed";
                case FirmwareError.NoNetworkKey: return "no key in EF_KeysPS";
                case FirmwareError.StaleNetworkKey: return "EF_KeysPS key already used (stale)";
                case FirmwareError.BootstrapTimeout: return "EMKS bootstrap timed out";
                case FirmwareError.BootstrapRejected: return "EMKS refused the bootstrap";
                case FirmwareError.BootstrapMalformed: return "malformed EMKS answer";
                case FirmwareError.AuthMacFailure: return "AUTHENTICATE: MAC failure";
                case FirmwareError.AuthSyncFailure: return "AUTHENTICATE: still out of sync";
                case FirmwareError.AuthModemRefused: return "AUTHENTICATE refused by the modem";
                case FirmwareError.AuthNoAccessPath: return "no SIM access path for AUTHENTICATE";
                case FirmwareError.AuthUsimRefused: return "AUTHENTICATE refused by the USIM";
                case FirmwareError.KidMismatch: return "derived KID differs from the offered KID";
                case FirmwareError.UploadTimeout: return "no response from the EMSE";
                case FirmwareError.EmseUnauthorized: return "EMSE answered 4.01 after re-key";
                case FirmwareError.EmseRejected: return "EMSE rejected the batch";
                case FirmwareError.EmseServerError: return "EMSE server error";
                case FirmwareError.BadResponse: return "response failed OSCORE/CoAP checks";
                case FirmwareError.SocketFailed: return "UDP socket failed";
                case FirmwareError.SendFailed: return "send failed";
                case FirmwareError.ModemRebooted: return "modem rebooted";
                case FirmwareError.ModemTimeout: return "modem timeout";
                case FirmwareError.StepOverrun: return "step exceeded its time budget";
                case FirmwareError.StorageFailed: return "persistent storage failed";
                case FirmwareError.EmseReplay: return "EMSE answered 4.01 Replay detected to a fresh sequence number";
            }
            return "firmware error";
        }
    }
}

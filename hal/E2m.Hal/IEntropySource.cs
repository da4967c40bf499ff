namespace E2m.Hal
{
    /// <summary>
    /// Cryptographically strong random octets (host: RandomNumberGenerator; ESP32: esp_random()
    /// hardware RNG; STM32: TRNG where the part has one). Used for CoAP tokens, message ids and
    /// nothing that needs to be secret beyond that; keys never come from here (they come from AKA).
    /// </summary>
    public interface IEntropySource
    {
        void Fill(byte[] buffer, int offset, int count);
    }
}

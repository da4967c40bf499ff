using System;
using E2m.Hal;
using nanoFramework.Hardware.Esp32;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// ESP32 UART pin routing (nanoFramework.Hardware.Esp32.Configuration.SetPinFunction). COM1 (GPIO1/GPIO3) is the
    /// nanoFramework debug/deploy port; COM2 and COM3 have no pins until routed, which must happen before the
    /// SerialPort for that COM port is created.
    /// </summary>
    public static class Esp32UartPins
    {
        public static void Route(string portName, int txPin, int rxPin)
        {
            if (portName == "COM2")
            {
                Configuration.SetPinFunction(txPin, DeviceFunction.COM2_TX);
                Configuration.SetPinFunction(rxPin, DeviceFunction.COM2_RX);
            }
            else if (portName == "COM3")
            {
                Configuration.SetPinFunction(txPin, DeviceFunction.COM3_TX);
                Configuration.SetPinFunction(rxPin, DeviceFunction.COM3_RX);
            }
            else
            {
                throw new ArgumentException("ESP32 modem UART must be COM2 or COM3");
            }
        }
    }

    /// <summary>
    /// <see cref="ISleep"/> as ESP32 deep sleep: Sleep.EnableWakeupByTimer then Sleep.StartDeepSleep, which never returns
    /// (the wake-up is a reset; RAM is lost, LittleFS records on I:\ and the modem's PSM state survive).
    /// </summary>
    public sealed class Esp32DeepSleep : ISleep
    {
        public void DeepSleep(int seconds)
        {
            if (seconds <= 0)
            {
                throw new ArgumentOutOfRangeException("seconds");
            }

            EspNativeError error = Sleep.EnableWakeupByTimer(new TimeSpan(0, 0, seconds));
            if (error != EspNativeError.OK)
            {
                throw new InvalidOperationException("EnableWakeupByTimer failed: " + ((int)error).ToString());
            }

            Sleep.StartDeepSleep();
            throw new InvalidOperationException("StartDeepSleep returned");
        }
    }
}

// Compile-only stub of nanoFramework.Hardware.Esp32 1.6.37 (Configuration.cs, DeviceTypePins.cs, Sleep.cs, Errors.cs):
// the members E2m.Hal.NanoFramework calls, with the upstream signatures and enum values. Never deployed; bodies throw.
using System;

namespace nanoFramework.Hardware.Esp32
{
    /// <summary>Upstream: DeviceTypes.SERIAL (3 x 0x10000) + COM index x 0x100 + function.</summary>
    public enum DeviceFunction
    {
        COM2_TX = 0x30200,
        COM2_RX = 0x30201,
        COM3_TX = 0x30300,
        COM3_RX = 0x30301,
    }

    public class Configuration
    {
        public static void SetPinFunction(int pin, DeviceFunction value)
        {
            throw new NotImplementedException();
        }

        public static int GetFunctionPin(DeviceFunction function)
        {
            throw new NotImplementedException();
        }
    }

    public enum EspNativeError : Int32
    {
        OK = 0,
        FAIL = -1,
        INVALID_ARG = 0x102,
    }

    public class Sleep
    {
        public static EspNativeError EnableWakeupByTimer(TimeSpan time)
        {
            throw new NotImplementedException();
        }

        public static void StartDeepSleep()
        {
            throw new NotImplementedException();
        }
    }
}

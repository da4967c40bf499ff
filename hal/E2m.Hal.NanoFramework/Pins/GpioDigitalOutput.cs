using System;
using System.Device.Gpio;
using E2m.Hal;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// <see cref="IDigitalOutput"/> over System.Device.Gpio (PWRKEY, RESET_N, a load switch). Board polarity lives
    /// here: <c>inverted = false</c> means GPIO high asserts the line (the usual NPN transistor that pulls the modem's
    /// PWRKEY/RESET_N low). The pin starts released.
    /// </summary>
    public sealed class GpioDigitalOutput : IDigitalOutput, IDisposable
    {
        private readonly GpioPin _pin;
        private readonly bool _inverted;

        public GpioDigitalOutput(GpioController controller, int pinNumber, bool inverted)
        {
            _inverted = inverted;
            _pin = controller.OpenPin(pinNumber, PinMode.Output);
            Write(false);
        }

        public void Write(bool level)
        {
            _pin.Write(level != _inverted ? PinValue.High : PinValue.Low);
        }

        public void Dispose()
        {
            _pin.Dispose();
        }
    }
}

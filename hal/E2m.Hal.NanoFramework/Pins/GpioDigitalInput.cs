using System;
using System.Device.Gpio;
using E2m.Hal;

namespace E2m.Hal.NanoFramework
{
    /// <summary>
    /// <see cref="IDigitalInput"/> over System.Device.Gpio: level reads and edges from GpioPin.ValueChanged (the
    /// nanoFramework GPIO interrupt, debounced by GpioPin.DebounceTimeout). With <c>inverted</c> the logical level is
    /// the opposite of the electrical one and Rising/Falling swap accordingly.
    /// </summary>
    public sealed class GpioDigitalInput : IDigitalInput, IDisposable
    {
        private readonly GpioPin _pin;
        private readonly bool _inverted;

        /// <param name="mode">PinMode.Input, InputPullUp (open-collector meter outputs) or InputPullDown.</param>
        /// <param name="debounceMs">0 = no debouncing (STATUS line); a few ms for mechanical/S0 pulse outputs.</param>
        public GpioDigitalInput(GpioController controller, int pinNumber, PinMode mode, bool inverted, int debounceMs)
        {
            _inverted = inverted;
            _pin = controller.OpenPin(pinNumber, mode);
            if (debounceMs > 0)
            {
                _pin.DebounceTimeout = new TimeSpan(debounceMs * TimeSpan.TicksPerMillisecond);
            }

            _pin.ValueChanged += OnValueChanged;
        }

        public event PinEdgeHandler Edge;

        public bool Read()
        {
            return (_pin.Read() == PinValue.High) != _inverted;
        }

        public void Dispose()
        {
            _pin.ValueChanged -= OnValueChanged;
            _pin.Dispose();
        }

        private void OnValueChanged(object sender, PinValueChangedEventArgs e)
        {
            PinEdgeHandler handler = Edge;
            if (handler == null)
            {
                return;
            }

            bool rising = e.ChangeType == PinEventTypes.Rising;
            if (e.ChangeType != PinEventTypes.Rising && e.ChangeType != PinEventTypes.Falling)
            {
                return;
            }

            handler(this, rising != _inverted ? PinEdge.Rising : PinEdge.Falling);
        }
    }
}

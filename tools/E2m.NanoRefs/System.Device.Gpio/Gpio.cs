// Compile-only stub of nanoFramework.System.Device.Gpio 1.1.57 (System.Device.Gpio/*.cs): the members
// E2m.Hal.NanoFramework calls, with the upstream signatures. Never deployed; bodies throw.
using System;
using nanoFramework.Runtime.Events;

namespace System.Device.Gpio
{
    public enum PinMode
    {
        Input,
        InputPullDown,
        InputPullUp,
        Output,
        OutputOpenDrain,
        OutputOpenDrainPullUp,
        OutputOpenSource,
        OutputOpenSourcePullDown,
    }

    [Flags]
    public enum PinEventTypes
    {
        None = 0,
        Rising = 1,
        Falling = 2,
    }

    public readonly struct PinValue
    {
        public static PinValue High
        {
            get { throw new NotImplementedException(); }
        }

        public static PinValue Low
        {
            get { throw new NotImplementedException(); }
        }

        public static implicit operator PinValue(bool value)
        {
            throw new NotImplementedException();
        }

        public static explicit operator bool(PinValue value)
        {
            throw new NotImplementedException();
        }

        public static bool operator ==(PinValue a, PinValue b)
        {
            throw new NotImplementedException();
        }

        public static bool operator !=(PinValue a, PinValue b)
        {
            throw new NotImplementedException();
        }

        public override bool Equals(object obj)
        {
            throw new NotImplementedException();
        }

        public override int GetHashCode()
        {
            throw new NotImplementedException();
        }
    }

    public class PinValueChangedEventArgs : BaseEvent
    {
        public PinValueChangedEventArgs(PinEventTypes changeType, int pinNumber)
        {
            throw new NotImplementedException();
        }

        public PinEventTypes ChangeType
        {
            get { throw new NotImplementedException(); }
        }

        public int PinNumber
        {
            get { throw new NotImplementedException(); }
        }
    }

    public delegate void PinValueChangedEventHandler(object sender, PinValueChangedEventArgs pinValueChangedEventArgs);

    public sealed class GpioPin : IDisposable
    {
        internal GpioPin()
        {
        }

        public event PinValueChangedEventHandler ValueChanged
        {
            add { throw new NotImplementedException(); }
            remove { throw new NotImplementedException(); }
        }

        public TimeSpan DebounceTimeout
        {
            get { throw new NotImplementedException(); }
            set { throw new NotImplementedException(); }
        }

        public int PinNumber
        {
            get { throw new NotImplementedException(); }
        }

        public PinValue Read()
        {
            throw new NotImplementedException();
        }

        public void Write(PinValue value)
        {
            throw new NotImplementedException();
        }

        public void Dispose()
        {
            throw new NotImplementedException();
        }
    }

    public class GpioController : IDisposable
    {
        public GpioController()
        {
            throw new NotImplementedException();
        }

        public GpioPin OpenPin(int pinNumber, PinMode mode)
        {
            throw new NotImplementedException();
        }

        public void ClosePin(int pinNumber)
        {
            throw new NotImplementedException();
        }

        public void Dispose()
        {
            throw new NotImplementedException();
        }
    }
}

// Compile-only stub of nanoFramework.Runtime.Events 1.11.37 (BaseEvent, the base of PinValueChangedEventArgs).
namespace nanoFramework.Runtime.Events
{
    public class BaseEvent
    {
    }
}

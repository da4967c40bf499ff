// Compile-only stub of nanoFramework.TestFramework 3.0.80 (source/TestFramework: attributes, Assert, OutputHelper):
// the members tests/E2m.Device.Tests uses, with the upstream signatures. Never deployed; bodies throw.
using System;
using System.Runtime.CompilerServices;

namespace nanoFramework.TestFramework
{
    [AttributeUsage(AttributeTargets.Class)]
    public class TestClassAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Method)]
    public class TestMethodAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Method)]
    public class SetupAttribute : Attribute
    {
    }

    public static class Assert
    {
        public static void AreEqual(string expected, string actual, [CallerArgumentExpression("actual")] string message = "")
        {
            throw new NotImplementedException();
        }

        public static void AreEqual(int expected, int actual, [CallerArgumentExpression("actual")] string message = "")
        {
            throw new NotImplementedException();
        }

        public static void IsTrue(bool condition, [CallerArgumentExpression("condition")] string message = "")
        {
            throw new NotImplementedException();
        }
    }

    public static class OutputHelper
    {
        public static void WriteLine(string message)
        {
            throw new NotImplementedException();
        }
    }
}

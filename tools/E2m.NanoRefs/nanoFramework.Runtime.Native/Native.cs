// Compile-only stub of nanoFramework.Runtime.Native (System/Environment.cs: TickCount64; Power.cs: RebootDevice).
// Version mirrored: see README.md. Never deployed; bodies throw.
using System;

namespace System
{
    public static partial class Environment
    {
        /// <summary>Milliseconds since the system started (upstream: extern, InternalCall).</summary>
        public static long TickCount64
        {
            get { throw new NotImplementedException(); }
        }
    }
}

namespace nanoFramework.Runtime.Native
{
    public class Power
    {
        public static void RebootDevice()
        {
            throw new NotImplementedException();
        }
    }
}

// Compile-only stub of nanoFramework.System.IO.Streams 1.1.96 (System.IO.Stream is not in mscorlib 1.17.11):
// the members FileStream overrides and E2m.Hal.NanoFramework calls. Never deployed; bodies throw.
using System;

namespace System.IO
{
    public abstract class Stream : IDisposable
    {
        public abstract long Length { get; }

        public abstract int Read(byte[] buffer, int offset, int count);

        public abstract void Write(byte[] buffer, int offset, int count);

        public abstract void Flush();

        public virtual void Close()
        {
            throw new NotImplementedException();
        }

        public void Dispose()
        {
            throw new NotImplementedException();
        }

        protected virtual void Dispose(bool disposing)
        {
            throw new NotImplementedException();
        }
    }
}

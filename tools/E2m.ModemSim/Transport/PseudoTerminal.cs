using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using E2m.ModemSim.Modem;

namespace E2m.ModemSim.Transport
{
    /// <summary>
    /// A Linux pseudo-terminal (posix_openpt / grantpt / unlockpt / ptsname_r from libc) whose slave side
    /// (<see cref="SlavePath"/>, e.g. /dev/pts/7) behaves like a USB modem's tty for the firmware host runner, picocom
    /// or minicom. The line discipline is put in raw mode (cfmakeraw + tcsetattr: no echo, no CR/LF translation).
    /// The simulator keeps a slave descriptor open itself so that the master does not see EIO/hang-up between
    /// clients.
    /// </summary>
    public sealed class PseudoTerminal : IDisposable
    {
        private const int ORdwr = 2;
        private const int ONoctty = 0x100; // Linux O_NOCTTY (0400)
        private const int TcsaNow = 0;

        private readonly int _slaveKeepAlive;
        private bool _disposed;

        private PseudoTerminal(int master, string slavePath, int slaveKeepAlive)
        {
            SlavePath = slavePath;
            _slaveKeepAlive = slaveKeepAlive;
            Master = new FileStream(new SafeFileHandle((IntPtr)master, ownsHandle: true), FileAccess.ReadWrite, 1);
        }

        /// <summary>Path of the slave device to give to picocom / the firmware host runner.</summary>
        public string SlavePath { get; }

        /// <summary>The master side: what the simulator reads (DTE → modem) and writes (modem → DTE).</summary>
        public FileStream Master { get; }

        public static bool IsSupported => OperatingSystem.IsLinux();

        public static PseudoTerminal Open()
        {
            if (!IsSupported)
            {
                throw new PlatformNotSupportedException("pseudo-terminals are implemented for Linux only");
            }

            int master = posix_openpt(ORdwr | ONoctty);
            if (master < 0)
            {
                throw new IOException("posix_openpt failed, errno " + Marshal.GetLastPInvokeError());
            }

            if (grantpt(master) != 0 || unlockpt(master) != 0)
            {
                close(master);
                throw new IOException("grantpt/unlockpt failed, errno " + Marshal.GetLastPInvokeError());
            }

            byte[] name = new byte[256];
            if (ptsname_r(master, name, (UIntPtr)name.Length) != 0)
            {
                close(master);
                throw new IOException("ptsname_r failed");
            }

            string path = Encoding.ASCII.GetString(name, 0, Array.IndexOf(name, (byte)0));
            int slave = open(path, ORdwr | ONoctty);
            if (slave < 0)
            {
                close(master);
                throw new IOException("open " + path + " failed, errno " + Marshal.GetLastPInvokeError());
            }

            // raw mode on the (shared) line discipline: termios is 60 bytes on Linux; 256 leaves room on any ABI
            byte[] termios = new byte[256];
            if (tcgetattr(slave, termios) != 0)
            {
                close(slave);
                close(master);
                throw new IOException("tcgetattr failed");
            }

            cfmakeraw(termios);
            if (tcsetattr(slave, TcsaNow, termios) != 0)
            {
                close(slave);
                close(master);
                throw new IOException("tcsetattr failed");
            }

            return new PseudoTerminal(master, path, slave);
        }

        /// <summary>Serves <paramref name="modem"/> on this terminal (one session for the terminal's lifetime).</summary>
        public StreamSession Serve(SimulatedModem modem) => new(modem, Master, "pty " + SlavePath);

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            close(_slaveKeepAlive);
            Master.Dispose();
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int posix_openpt(int flags);

        [DllImport("libc", SetLastError = true)]
        private static extern int grantpt(int fd);

        [DllImport("libc", SetLastError = true)]
        private static extern int unlockpt(int fd);

        [DllImport("libc", SetLastError = true)]
        private static extern int ptsname_r(int fd, byte[] buf, UIntPtr buflen);

        [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi)]
        private static extern int open([MarshalAs(UnmanagedType.LPStr)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        private static extern int close(int fd);

        [DllImport("libc", SetLastError = true)]
        private static extern int tcgetattr(int fd, byte[] termios);

        [DllImport("libc", SetLastError = true)]
        private static extern int tcsetattr(int fd, int optionalActions, byte[] termios);

        [DllImport("libc")]
        private static extern void cfmakeraw(byte[] termios);
    }
}

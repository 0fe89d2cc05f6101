using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace CloudHypervisor.EventMonitor.Tests;

/// <summary>A kernel pipe whose write end a sink can own, as an inherited <c>--event-monitor fd=N</c>.</summary>
internal sealed partial class Pipe : IDisposable
{
    private Pipe(SafeFileHandle read, int writeFd)
    {
        Read = read;
        WriteFd = writeFd;
    }

    public SafeFileHandle Read { get; }

    /// <summary>The write end; whoever takes it (a sink) closes it.</summary>
    public int WriteFd { get; }

    public static Pipe Create()
    {
        var fds = new int[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
        {
            throw new IOException($"pipe2 failed: {Marshal.GetLastPInvokeError()}");
        }

        return new Pipe(new SafeFileHandle(fds[0], ownsHandle: true), fds[1]);
    }

    /// <summary>Reads until the write end is closed.</summary>
    public string ReadToEnd()
    {
        using var stream = new FileStream(Read, FileAccess.Read, 1);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public void Dispose() => Read.Dispose();

    private const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    private static partial int pipe2([Out] int[] fds, int flags);
}

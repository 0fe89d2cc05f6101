using System.Runtime.InteropServices;

namespace CloudHypervisor.Interop;

/// <summary>
/// A non-interactive shell starts a background job (<c>cloud-hypervisor … &amp;</c>) with SIGINT
/// ignored, and the .NET runtime leaves an ignored SIGINT ignored, so <c>kill -INT</c> did nothing.
/// Upstream handles SIGINT however it was started; so do we, by restoring the default first.
/// </summary>
internal static partial class Sigint
{
    private const int SIGINT = 2;
    private const nint SIG_DFL = 0;
    private const nint SIG_IGN = 1;

    // glibc's x86-64 struct sigaction is 152 bytes; the handler comes first.
    private const int SigactionSize = 256;

    public static unsafe void StopIgnoring()
    {
        var current = stackalloc byte[SigactionSize];
        // SAFETY: the kernel writes at most sizeof(struct sigaction) (152 bytes) into the 256 on
        // this frame, and the handler read back is its first field.
        if (sigaction(SIGINT, null, current) == 0 && *(nint*)current == SIG_IGN)
        {
            signal(SIGINT, SIG_DFL);
        }
    }

    [LibraryImport("libc", EntryPoint = "sigaction")]
    private static unsafe partial int sigaction(int signum, byte* act, byte* oldact);

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint signal(int signum, nint handler);
}

using System.Runtime.InteropServices;

namespace CloudHypervisor.ChRemote.Interop;

// ch-remote's native calls (DESIGN.md rule 5): sendmsg through the shared ScmRights.cs, and
// fcntl here, to check that each descriptor to pass was inherited from the shell.
internal static partial class Libc
{
    public const int EINTR = 4;
    public const int F_GETFD = 1;
    public const int FD_CLOEXEC = 1;

    // fcntl(2) is variadic in C; F_GETFD takes no third argument.
    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int command);
}

using System.Runtime.InteropServices;

namespace CloudHypervisor.Interop;

// The event file's own calls, added to the shared Libc (src/Interop/Libc.cs): O_APPEND, so
// records follow the file's end after a copytruncate, and ftruncate, so a record that did
// not fit on a full disk is cut away again.
// SAFETY: as in src/Interop/Libc.cs; the fstat wrapper passes a struct stat on its frame.
internal static unsafe partial class Libc
{
    public const int O_APPEND = 0x400;
    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int ftruncate(SafeHandle fd, long length);

    /// <summary>Sets O_NONBLOCK and O_APPEND on <paramref name="fd"/>, or throws the OS error.</summary>
    public static void SetNonBlockingAppend(SafeHandle fd)
    {
        var flags = fcntl(fd, F_GETFL, 0);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK | O_APPEND) < 0)
        {
            throw new IOException(Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        }
    }

    /// <summary>The size of <paramref name="fd"/> when it is a regular file, else null (a pipe, a socket, a tty).</summary>
    public static long? RegularFileSize(SafeHandle fd)
    {
        stat_t st;
        // SAFETY: st lives on this frame and is as large as the kernel's struct stat; the
        // SafeHandle marshaller keeps the descriptor open for the call.
        return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? st.st_size : null;
    }
}

using System.Runtime.InteropServices;
using CloudHypervisor.Vmm.Boot;

namespace CloudHypervisor.Vmm.Kvm.Interop;

/// <summary>
/// Reads a boot payload file (kernel, initramfs, firmware) with the checks a path from an API
/// client needs. It is opened with O_NONBLOCK, so a FIFO without a writer cannot block the open,
/// and refused unless fstat says it is a regular file: a FIFO, socket or character device has no
/// size and may never end (<c>/dev/zero</c>), a directory is not an image. Its size is bounded by
/// the caller before anything is read, and the read checks the cancellation token between chunks,
/// so vm.delete and vmm.shutdown can stop a boot that reads a large file.
/// </summary>
// SAFETY: fstat writes into a struct stat on this frame; read gets a pointer into the pinned
// array at `done` and at most the bytes left in it.
internal static unsafe class PayloadFile
{
    /// <summary>Bytes read between two looks at the cancellation token.</summary>
    private const int ChunkSize = 1 << 20;

    /// <summary>
    /// The whole file at <paramref name="path"/>. Throws <see cref="BootImageException"/> with a
    /// message naming <paramref name="what"/> and the path when the file cannot be opened, is not a
    /// regular file or is larger than <paramref name="maxBytes"/>; <see cref="OperationCanceledException"/>
    /// when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public static byte[] Read(string what, string path, ulong maxBytes, string limitReason, CancellationToken cancellationToken)
    {
        var fd = Libc.open(path, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw new BootImageException($"cannot open {what} {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        using var handle = new FdHandle(fd);
        Libc.stat_t st;
        if (Libc.fstat(fd, &st) != 0)
        {
            throw new BootImageException($"cannot stat {what} {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        if ((st.st_mode & Libc.S_IFMT) != Libc.S_IFREG)
        {
            throw new BootImageException($"{what} {path} is not a regular file ({TypeName(st.st_mode)})");
        }

        var size = (ulong)st.st_size;
        if (size > maxBytes || size > (ulong)Array.MaxLength)
        {
            throw new BootImageException($"{what} {path} is {size} bytes, larger than {limitReason} ({maxBytes} bytes)");
        }

        var bytes = new byte[size];
        var done = 0;
        while (done < bytes.Length)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var want = Math.Min(ChunkSize, bytes.Length - done);
            nint got;
            fixed (byte* p = &bytes[done])
            {
                got = Libc.read(fd, p, (nuint)want);
            }

            if (got < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EINTR)
                {
                    continue;
                }

                throw new BootImageException($"cannot read {what} {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
            }

            if (got == 0)
            {
                // The file shrank while it was read: what is left is all there is.
                Array.Resize(ref bytes, done);
                break;
            }

            done += (int)got;
        }

        return bytes;
    }

    private static string TypeName(uint mode) => (mode & Libc.S_IFMT) switch
    {
        Libc.S_IFDIR => "a directory",
        Libc.S_IFCHR => "a character device",
        Libc.S_IFBLK => "a block device",
        Libc.S_IFIFO => "a FIFO",
        Libc.S_IFSOCK => "a socket",
        _ => "an unknown file type",
    };
}

using System.Runtime.InteropServices;
using CloudHypervisor.Vmm.Kvm.Interop;
using Microsoft.Win32.SafeHandles;

namespace CloudHypervisor.Vmm.Host;

/// <summary>Why a disk image could not be opened for a device; the message is the user's cause.</summary>
public sealed class HostFileException(string message, bool locked = false) : Exception(message)
{
    public HostFileException()
        : this("host file error")
    {
    }

    public HostFileException(string message, Exception innerException)
        : this(message + ": " + innerException?.Message)
    {
    }

    /// <summary>Another open file description (another VMM) holds a conflicting lock.</summary>
    public bool Locked { get; } = locked;
}

/// <summary>
/// A disk image on the host: opened read-only or read-write (optionally O_DIRECT), locked with an
/// open-file-description lock as upstream (block/src/fcntl.rs: a read lock when read-only, a
/// write lock otherwise; the whole file, or bytes [0, size) for lock_granularity=byte-range),
/// and the few calls RandomAccess lacks (hole punching, zero ranges, fdatasync).
/// </summary>
// SAFETY: the struct flock passed to fcntl lives on the caller's frame for the call.
public sealed unsafe class HostFile : IDisposable
{
    private HostFile(SafeFileHandle handle, bool direct)
    {
        Handle = handle;
        Direct = direct;
    }

    public SafeFileHandle Handle { get; }

    public bool Direct { get; }

    public long Length => RandomAccess.GetLength(Handle);

    public static HostFile Open(string path, bool readOnly, bool direct)
    {
        var flags = (readOnly ? Libc.O_RDONLY : Libc.O_RDWR) | Libc.O_CLOEXEC | (direct ? Libc.O_DIRECT : 0);
        var fd = Libc.open(path, flags);
        if (fd < 0)
        {
            throw new HostFileException($"Cannot open disk image {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        return new HostFile(new SafeFileHandle(fd, ownsHandle: true), direct);
    }

    /// <summary>
    /// An unnamed file of <paramref name="size"/> bytes in <paramref name="directory"/>
    /// (O_TMPFILE): a pmem backed by a directory, as upstream; it vanishes when closed.
    /// </summary>
    public static FileStream OpenTemporary(string directory, long size)
    {
        var fd = Libc.open(directory, Libc.O_TMPFILE | Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw new IOException($"Cannot create a temporary file in {directory}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Libc.ftruncate(fd, size) != 0)
        {
            var error = Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
            handle.Dispose();
            throw new IOException($"Cannot size a temporary file in {directory} to {size} bytes: {error}");
        }

        return new FileStream(handle, FileAccess.ReadWrite, bufferSize: 0);
    }

    /// <summary>Takes the OFD lock; a conflicting holder gives <see cref="HostFileException.Locked"/>.</summary>
    public void Lock(string path, bool write, bool wholeFile)
    {
        var l = new Libc.flock
        {
            l_type = write ? Libc.F_WRLCK : Libc.F_RDLCK,
            l_whence = 0,
            l_start = 0,
            l_len = wholeFile ? 0 : Length,
        };
        if (Libc.fcntl(Fd, Libc.F_OFD_SETLK, &l) == 0)
        {
            return;
        }

        var errno = Marshal.GetLastPInvokeError();
        throw errno is Libc.EAGAIN or Libc.EACCES
            ? new HostFileException($"The file is already locked: {path} is in use by another process ({(write ? "a writer needs it alone" : "a writer holds it")})", locked: true)
            : new HostFileException($"Cannot lock disk image {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    private int Fd => (int)Handle.DangerousGetHandle();

    /// <summary>Frees the range (it reads back as zeros) and keeps the size; false when the file system cannot.</summary>
    public bool PunchHole(long offset, long length) =>
        Libc.fallocate(Fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length) == 0;

    /// <summary>Zeroes the range in place, allocated; false when the file system cannot.</summary>
    public bool ZeroRange(long offset, long length) =>
        Libc.fallocate(Fd, Libc.FALLOC_FL_ZERO_RANGE | Libc.FALLOC_FL_KEEP_SIZE, offset, length) == 0;

    public void Sync()
    {
        if (Libc.fdatasync(Fd) != 0)
        {
            throw new IOException($"fdatasync: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
    }

    public void SetLength(long length) => RandomAccess.SetLength(Handle, length);

    public void Dispose() => Handle.Dispose();
}

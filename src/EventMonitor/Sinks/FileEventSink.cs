using System.Runtime.InteropServices;
using System.Text;
using CloudHypervisor.Interop;
using Microsoft.Win32.SafeHandles;

namespace CloudHypervisor.EventMonitor.Sinks;

/// <summary>
/// The <c>--event-monitor path=P|fd=N</c> sink (contract §5.1, §5.2): each record is written as
/// <see cref="EventFormat.Pretty"/> followed by a blank line. The descriptor is O_NONBLOCK, as
/// upstream's, so a reader that stops reading (a full pipe) stalls only this sink's pump: its
/// bounded queue fills and the monitor drops and counts events; the VMM never waits.
/// </summary>
public sealed class FileEventSink : IEventSink, IDisposable
{
    // A full pipe is polled rather than waited on so that cancellation (monitor disposal) is prompt.
    private static readonly TimeSpan FullRetryDelay = TimeSpan.FromMilliseconds(5);

    private readonly SafeFileHandle _handle;

    private FileEventSink(SafeFileHandle handle, string name)
    {
        _handle = handle;
        Name = name;
    }

    public string Name { get; }

    /// <summary>Opens <paramref name="path"/> write-only, creating it and truncating it.</summary>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be opened for writing.</exception>
    public static FileEventSink OpenPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // FileShare.ReadWrite: no advisory lock, a tail -f or a test may read while we write.
        var handle = File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite);
        try
        {
            Libc.SetNonBlocking(handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        return new FileEventSink(handle, $"file {path}");
    }

    /// <summary>Takes ownership of the inherited descriptor <paramref name="fd"/>.</summary>
    /// <exception cref="IOException">The descriptor is not open.</exception>
    public static FileEventSink FromFd(int fd)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            Libc.SetNonBlocking(handle);
        }
        catch
        {
            handle.SetHandleAsInvalid();
            throw;
        }

        return new FileEventSink(handle, $"fd {fd}");
    }

    public async ValueTask WriteAsync(EventRecord record, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(EventFormat.Pretty(record) + "\n\n");
        var offset = 0;
        while (offset < bytes.Length)
        {
            var written = WriteSome(bytes, offset, out var errno);
            if (written > 0)
            {
                offset += written;
            }
            else if (errno == Libc.EAGAIN)
            {
                await Task.Delay(FullRetryDelay, cancellationToken);
            }
            else if (errno != Libc.EINTR)
            {
                throw new IOException($"Cannot write event to {Name}: {Marshal.GetPInvokeErrorMessage(errno)}");
            }
        }
    }

    public void Dispose() => _handle.Dispose();

    private int WriteSome(byte[] bytes, int offset, out int errno) =>
        (int)Math.Max(Libc.Write(_handle, bytes.AsSpan(offset), out errno), 0);
}

using System.Runtime.InteropServices;
using System.Text;
using CloudHypervisor.Interop;
using Microsoft.Win32.SafeHandles;
using Serilog;

namespace CloudHypervisor.EventMonitor.Sinks;

/// <summary>
/// The <c>--event-monitor path=P|fd=N</c> sink (contract §5.1, §5.2): each record is written as
/// <see cref="EventFormat.Pretty"/> followed by a blank line. The descriptor is O_NONBLOCK, as
/// upstream's, so a reader that stops reading (a full pipe) stalls only this sink's pump: its
/// bounded queue fills and the monitor drops and counts events; the VMM never waits.
/// A file is opened O_APPEND, so after a copytruncate (logrotate) records start at the new end
/// instead of after a run of NUL bytes. A record lands whole or not at all: when a write fails
/// part way (ENOSPC on a full disk), the part written is truncated away again. Lost records are
/// counted; the first loss of a run is logged, and so is the count once writing works again.
/// </summary>
public sealed class FileEventSink : IEventSink, IDisposable
{
    // A full pipe is polled rather than waited on so that cancellation (monitor disposal) is prompt.
    private static readonly TimeSpan FullRetryDelay = TimeSpan.FromMilliseconds(5);

    private readonly SafeFileHandle _handle;
    private readonly ILogger? _logger;
    private readonly Lock _lossLock = new();
    private long _lost;
    private long _firstLostSeq;
    private long _lastLostSeq;

    private FileEventSink(SafeFileHandle handle, string name, ILogger? logger)
    {
        _handle = handle;
        Name = name;
        _logger = logger;
    }

    public string Name { get; }

    /// <summary>Records that could not be written since the last one that could (0 while writing works).</summary>
    public long LostSinceLastWrite
    {
        get
        {
            lock (_lossLock)
            {
                return _lost;
            }
        }
    }

    /// <summary>Opens <paramref name="path"/> write-only, creating it and truncating it.</summary>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be opened for writing.</exception>
    public static FileEventSink OpenPath(string path, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // FileShare.ReadWrite: no advisory lock, a tail -f or a test may read while we write.
        var handle = File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite);
        try
        {
            Libc.SetNonBlockingAppend(handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        return new FileEventSink(handle, $"file {path}", logger);
    }

    /// <summary>Takes ownership of the inherited descriptor <paramref name="fd"/>.</summary>
    /// <exception cref="IOException">The descriptor is not open.</exception>
    public static FileEventSink FromFd(int fd, ILogger? logger = null)
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

        return new FileEventSink(handle, $"fd {fd}", logger);
    }

    public async ValueTask WriteAsync(EventRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
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
                // No space, over quota, file too large, reader gone: this record is lost.
                TakeBack(offset);
                Lost(record, errno == 0 ? "write wrote nothing" : Marshal.GetPInvokeErrorMessage(errno));
                return;
            }
        }

        Written();
    }

    public void Dispose()
    {
        lock (_lossLock)
        {
            if (_lost > 0)
            {
                _logger?.Warning("Event {Sink:l}: {Count} events (seq {First} to {Last}) were lost and never written", Name, _lost, _firstLostSeq, _lastLostSeq);
            }
        }

        _handle.Dispose();
    }

    /// <summary>
    /// Truncates away the <paramref name="written"/> bytes of a record that did not fit, so the file
    /// holds whole records only. With O_APPEND they are the file's last bytes, wherever a
    /// copytruncate moved its end. A pipe or socket cannot take bytes back; only a file is cut.
    /// </summary>
    private void TakeBack(int written)
    {
        if (written == 0 || Libc.RegularFileSize(_handle) is not { } size || size < written)
        {
            return;
        }

        if (Libc.ftruncate(_handle, size - written) != 0)
        {
            _logger?.Warning("Event {Sink:l}: cannot remove a partly written record: {Error}", Name, Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        }
    }

    private void Lost(EventRecord record, string error)
    {
        lock (_lossLock)
        {
            if (_lost++ == 0)
            {
                _firstLostSeq = record.Seq;
                _logger?.Warning(
                    "Event {Sink:l}: cannot write event {Seq} ({EventSource:l}/{EventName:l}): {Error}; events are counted until writing works again",
                    Name, record.Seq, record.Source, record.Event, error);
            }

            _lastLostSeq = record.Seq;
        }
    }

    private void Written()
    {
        lock (_lossLock)
        {
            if (_lost == 0)
            {
                return;
            }

            _logger?.Warning("Event {Sink:l}: writing again; {Count} events (seq {First} to {Last}) were lost", Name, _lost, _firstLostSeq, _lastLostSeq);
            _lost = 0;
        }
    }

    private int WriteSome(byte[] bytes, int offset, out int errno) =>
        (int)Math.Max(Libc.Write(_handle, bytes.AsSpan(offset), out errno), 0);
}

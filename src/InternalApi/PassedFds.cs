using Microsoft.Win32.SafeHandles;

namespace CloudHypervisor.InternalApi;

/// <summary>
/// File descriptors that came with a request as SCM_RIGHTS ancillary data (contract §1.6), each a
/// <see cref="SafeFileHandle"/> this set owns. <see cref="ApiAction.Parse(ReadOnlyMemory{byte}, PassedFds)"/>
/// writes their numbers into the request body and hands the set to the command; the VMM takes the
/// ones its config keeps with <see cref="Release"/>; <see cref="Dispose"/> closes whatever is left.
/// Thread-safe, so a frontend giving up on a request and the VMM keeping its descriptors cannot
/// both own one.
/// </summary>
public sealed class PassedFds : IDisposable
{
    private readonly Lock _lock = new();
    private List<SafeFileHandle> _handles;

    public PassedFds(IEnumerable<SafeFileHandle> handles)
    {
        ArgumentNullException.ThrowIfNull(handles);
        _handles = [.. handles];
    }

    /// <summary>No descriptors (every D-Bus call, and REST requests that carried none).</summary>
    public static PassedFds None { get; } = new([]);

    /// <summary>Takes ownership of descriptors this process just received.</summary>
    public static PassedFds Adopt(IEnumerable<int> fds) =>
        new(fds.Select(static fd => new SafeFileHandle(fd, ownsHandle: true)));

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _handles.Count;
            }
        }
    }

    /// <summary>The descriptor numbers in the order they arrived.</summary>
    public IReadOnlyList<int> Numbers
    {
        get
        {
            lock (_lock)
            {
                return [.. _handles.Select(static h => (int)h.DangerousGetHandle())];
            }
        }
    }

    /// <summary>Moves every descriptor out: the caller owns them now and this set is empty.</summary>
    public IReadOnlyList<SafeFileHandle> Release()
    {
        lock (_lock)
        {
            var released = _handles;
            _handles = [];
            return released;
        }
    }

    /// <summary>Closes the descriptors nobody took.</summary>
    public void Dispose()
    {
        foreach (var handle in Release())
        {
            handle.Dispose();
        }
    }

    public override string ToString() => $"{Count} file descriptor(s)";
}

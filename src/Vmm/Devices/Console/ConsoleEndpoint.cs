namespace CloudHypervisor.Vmm.Devices.Console;

/// <summary>
/// A console backend as the VMM keeps it for the life of a config: created at vm.create (a PTY's
/// path must be known then), reused by every VM built from that config (so a reboot keeps the
/// same PTY, socket or file), with input routed to whichever device is current.
/// </summary>
public sealed class ConsoleEndpoint(string role, string mode, string? path, IConsoleBackend backend) : IDisposable
{
    private Action<byte[]>? _target;
    private bool _inputStarted;

    /// <summary>serial, console or debug_console.</summary>
    public string Role { get; } = role;

    /// <summary>Upstream's mode name (Null, Tty, File, Pty, Socket).</summary>
    public string Mode { get; } = mode;

    /// <summary>The file, PTY or socket path, if the mode has one.</summary>
    public string? Path { get; } = path;

    public IConsoleBackend Backend { get; } = backend;

    /// <summary>True when this endpoint serves a config entry with this mode and path.</summary>
    public bool Matches(string mode, string? path) => Mode == mode && Path == path;

    /// <summary>Routes input to <paramref name="target"/> (null: input is dropped, e.g. between VMs).</summary>
    public void RouteInput(Action<byte[]>? target)
    {
        Volatile.Write(ref _target, target);
        if (!_inputStarted && target is not null)
        {
            _inputStarted = true;
            Backend.StartInput(bytes => Volatile.Read(ref _target)?.Invoke(bytes));
        }
    }

    public void Dispose() => Backend.Dispose();
}

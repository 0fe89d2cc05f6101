using CloudHypervisor.Vmm.Kvm.Interop;

namespace CloudHypervisor.Vmm.Devices.Console;

/// <summary>Mode Tty: output to the VMM's stdout, input from its stdin (raw mode while a terminal).</summary>
public sealed class TtyConsole : IConsoleBackend
{
    private readonly ConsoleFd _fd = ConsoleFd.OpenStdio();

    public string Mode => "Tty";

    public void Write(ReadOnlySpan<byte> data) => _fd.Write(data);

    public void StartInput(Action<byte[]> input) => _fd.StartInput(input, "console-tty-input");

    public void Dispose() => _fd.Dispose();
}

/// <summary>
/// Mode Pty: a PTY pair allocated at vm.create; the slave's path is reported in the config's
/// <c>file</c>, the master stays with the VMM for the life of the config (across reboots).
/// </summary>
public sealed class PtyConsole : IConsoleBackend
{
    private readonly ConsoleFd _fd;

    public PtyConsole()
    {
        _fd = ConsoleFd.OpenPty(out var path);
        Path = path;
    }

    public string Mode => "Pty";

    /// <summary>The slave device, e.g. /dev/pts/3.</summary>
    public string Path { get; }

    public void Write(ReadOnlySpan<byte> data) => _fd.Write(data);

    public void StartInput(Action<byte[]> input) => _fd.StartInput(input, "console-pty-input");

    public void Dispose() => _fd.Dispose();
}

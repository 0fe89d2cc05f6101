namespace CloudHypervisor.Vmm.Devices.Console;

/// <summary>
/// Where a console device's bytes go and where its input comes from (upstream's console modes:
/// Null, Tty, File, Pty, Socket). Writes come from vCPU threads and never block for long: a backend
/// whose reader is not keeping up drops bytes rather than stalling the guest.
/// </summary>
public interface IConsoleBackend : IDisposable
{
    /// <summary>The mode as upstream spells it (Null, Tty, File, Pty, Socket).</summary>
    string Mode { get; }

    void Write(ReadOnlySpan<byte> data);

    /// <summary>Starts delivering input to <paramref name="input"/> on a thread of the backend (no-op for output-only modes).</summary>
    void StartInput(Action<byte[]> input);
}

/// <summary>Mode Null: the device exists, output is discarded, there is no input.</summary>
public sealed class NullConsole : IConsoleBackend
{
    public string Mode => "Null";

    public void Write(ReadOnlySpan<byte> data)
    {
    }

    public void StartInput(Action<byte[]> input)
    {
    }

    public void Dispose()
    {
    }
}

/// <summary>Mode File: output appended to a file created at vm.create (truncated, as upstream).</summary>
public sealed class FileConsole(string path) : IConsoleBackend
{
    // Unbuffered so a reader of the file sees every byte as soon as the guest writes it.
    private readonly FileStream _file = new(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
    private readonly Lock _lock = new();

    public string Mode => "File";

    public void Write(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            _file.Write(data);
        }
    }

    public void StartInput(Action<byte[]> input)
    {
    }

    public void Dispose() => _file.Dispose();
}

using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Devices.Console;

namespace CloudHypervisor.Vmm.Kvm;

/// <summary>
/// The console endpoints of the current config, one per role (serial, console, debug_console), as
/// upstream prepares them at vm.create: a File is created (truncated), a PTY is allocated and its
/// path written into the config's <c>file</c>, a serial Socket starts listening, Tty takes the
/// VMM's stdin/stdout (one role at a time gets stdin). An endpoint is kept while later configs ask
/// for the same thing, so reboots and re-boots after a shutdown keep their PTY and file.
/// </summary>
internal sealed class ConsoleSet : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ConsoleEndpoint> _endpoints = [];

    public ConsoleEndpoint? Serial => Get("serial");

    public ConsoleEndpoint? DebugConsole => Get("debug_console");

    public ConsoleEndpoint? Console => Get("console");

    private ConsoleEndpoint? Get(string role)
    {
        lock (_lock)
        {
            return _endpoints.GetValueOrDefault(role);
        }
    }

    public void Prepare(VmConfig config)
    {
        lock (_lock)
        {
            var serial = Ensure("serial", config.Serial.Mode, config.Serial.Mode == ConsoleMode.Socket ? config.Serial.Socket : config.Serial.File);
            if (serial?.Mode == "Pty")
            {
                config.Serial.File = serial.Path;
            }

            // Socket works for the virtio console too (upstream refuses it): hvc0 on a Unix socket, like the serial port's.
            var console = Ensure("console", config.Console.Mode, config.Console.Mode == ConsoleMode.Socket ? config.Console.Socket : config.Console.File);
            if (console?.Mode == "Pty")
            {
                config.Console.File = console.Path;
            }

            if (config.DebugConsole.Mode == ConsoleMode.Socket)
            {
                throw new ArgumentException("debug_console: mode Socket is not supported (as upstream)");
            }

            var debug = Ensure("debug_console", config.DebugConsole.Mode, config.DebugConsole.File);
            if (debug?.Mode == "Pty")
            {
                config.DebugConsole.File = debug.Path;
            }
        }
    }

    private ConsoleEndpoint? Ensure(string role, ConsoleMode mode, string? path)
    {
        var modeName = mode.ToString();
        if (_endpoints.TryGetValue(role, out var existing))
        {
            // A PTY is matched by the path we reported; a config without a path wants a new one.
            if (mode != ConsoleMode.Off && existing.Matches(modeName, path))
            {
                return existing;
            }

            _endpoints.Remove(role);
            existing.Dispose();
        }

        if (mode == ConsoleMode.Off)
        {
            return null;
        }

        var endpoint = mode switch
        {
            ConsoleMode.Null => new ConsoleEndpoint(role, modeName, path, new NullConsole()),
            ConsoleMode.File => new ConsoleEndpoint(role, modeName, path,
                new FileConsole(path ?? throw new ArgumentException($"{role}: mode File needs a file path"))),
            ConsoleMode.Tty => new ConsoleEndpoint(role, modeName, path, TtyBackend(role)),
            ConsoleMode.Socket => new ConsoleEndpoint(role, modeName, path,
                new SocketConsole(path ?? throw new ArgumentException($"{role}: mode Socket needs a socket path"))),
            ConsoleMode.Pty => NewPty(role),
            _ => throw new ArgumentException($"{role}: unknown mode {mode}"),
        };
        _endpoints[role] = endpoint;
        return endpoint;
    }

    private static ConsoleEndpoint NewPty(string role)
    {
        var pty = new PtyConsole();
        return new ConsoleEndpoint(role, "Pty", pty.Path, pty);
    }

    /// <summary>stdin can feed only one device: the first Tty role owns it, later ones get stdout only.</summary>
    private IConsoleBackend TtyBackend(string role)
    {
        foreach (var endpoint in _endpoints.Values)
        {
            if (endpoint.Mode == "Tty" && endpoint.Role != role)
            {
                return new OutputOnly(endpoint.Backend);
            }
        }

        return new TtyConsole();
    }

    private sealed class OutputOnly(IConsoleBackend inner) : IConsoleBackend
    {
        public string Mode => inner.Mode;

        public void Write(ReadOnlySpan<byte> data) => inner.Write(data);

        public void StartInput(Action<byte[]> input)
        {
        }

        public void Dispose()
        {
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var endpoint in _endpoints.Values)
            {
                endpoint.Dispose();
            }

            _endpoints.Clear();
        }
    }
}

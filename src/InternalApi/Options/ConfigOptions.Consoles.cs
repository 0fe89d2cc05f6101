using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Options;

public static partial class ConfigOptions
{
    /// <summary>Upstream's middle message when the console mode part of --serial/--console is wrong.</summary>
    public const string CommonConsoleFailed = "Failed to parse common console configuration";

    /// <summary>Upstream's middle message for a bad <c>--debug-console</c>.</summary>
    public const string DebugConsoleFailed = "Failed to parse debug console configuration";

    private static readonly string[] ConsoleModeWords = ["off", "pty", "tty", "null"];

    /// <summary><c>--serial off|null|pty|tty|file=&lt;p&gt;|socket=&lt;p&gt;</c> (upstream default <c>null</c>).</summary>
    public static OptionResult<SerialConfig> Serial(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("file", "socket").AddValueless(ConsoleModeWords);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within("Failed to parse serial configuration");
        }

        var common = CommonConsole(parser);
        if (!common.TryGet(out var mode, out var error))
        {
            return error;
        }

        return new SerialConfig { Mode = mode.Mode, File = mode.File, Socket = mode.Socket };
    }

    /// <summary>
    /// <c>--console off|null|pty|tty|file=&lt;p&gt;[,iommu=,id=,pci_segment=,pci_device_id=]</c> (upstream
    /// default <c>tty</c>). <c>socket=</c> parses, as upstream; the VMM refuses it when it creates the device.
    /// </summary>
    public static OptionResult<ConsoleConfig> Console(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("file", "socket").AddValueless(ConsoleModeWords).Add(PciKeys);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within("Failed to parse console configuration");
        }

        var common = CommonConsole(parser);
        if (!common.TryGet(out var mode, out var error))
        {
            return error;
        }

        var console = new ConsoleConfig { Mode = mode.Mode, File = mode.File, Socket = mode.Socket };
        return ApplyPciCommon(input, console) is { } pci ? pci : console;
    }

    /// <summary>
    /// <c>--debug-console off|null|pty|tty|file=&lt;p&gt;[,iobase=0x&lt;hex&gt;]</c> (x86 port 0xE9 device;
    /// upstream default <c>off,iobase=0xe9</c>). Without <c>iobase</c> the port stays absent, as
    /// upstream; the <c>0x</c> prefix is required.
    /// </summary>
    public static OptionResult<DebugConsoleConfig> DebugConsole(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("file", "iobase").AddValueless(ConsoleModeWords);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(DebugConsoleFailed);
        }

        var config = new DebugConsoleConfig { Mode = ConsoleMode.Off };
        if (parser.IsSet("off"))
        {
            config.Mode = ConsoleMode.Off;
        }
        else if (parser.IsSet("pty"))
        {
            config.Mode = ConsoleMode.Pty;
        }
        else if (parser.IsSet("tty"))
        {
            config.Mode = ConsoleMode.Tty;
        }
        else if (parser.IsSet("null"))
        {
            config.Mode = ConsoleMode.Null;
        }
        else if (parser.IsSet("file"))
        {
            config.Mode = ConsoleMode.File;
            config.File = parser.Get("file");
            if (config.File is null)
            {
                return OptionError.Of("Debug console file path is missing");
            }
        }
        else
        {
            return OptionError.Of("Debug console output mode is missing or invalid");
        }

        if (parser.Get("iobase") is { } iobase)
        {
            if (!OptionSyntax.TryParseHex(iobase, out ushort port))
            {
                return OptionError.Of($"Invalid debug console I/O port: {iobase}");
            }

            config.Iobase = port;
        }

        return config;
    }

    /// <summary>
    /// Upstream's mode precedence for --serial and --console: off, pty, tty, null, file, socket; a
    /// file or socket mode needs its path.
    /// </summary>
    private static OptionResult<ConsoleChoice> CommonConsole(OptionParser parser)
    {
        foreach (var (word, mode) in new[] { ("off", ConsoleMode.Off), ("pty", ConsoleMode.Pty), ("tty", ConsoleMode.Tty), ("null", ConsoleMode.Null) })
        {
            if (parser.IsSet(word))
            {
                return new ConsoleChoice(mode, null, null);
            }
        }

        if (parser.IsSet("file"))
        {
            return parser.Get("file") is { } file
                ? new ConsoleChoice(ConsoleMode.File, file, null)
                : OptionError.Of(CommonConsoleFailed, "Path missing when using file console mode");
        }

        if (parser.IsSet("socket"))
        {
            return parser.Get("socket") is { } socket
                ? new ConsoleChoice(ConsoleMode.Socket, null, socket)
                : OptionError.Of(CommonConsoleFailed, "Path missing when using socket console mode");
        }

        // Upstream's wording names --console even for --serial.
        return OptionError.Of(CommonConsoleFailed, "Error parsing --console: invalid console mode given");
    }

    private sealed record ConsoleChoice(ConsoleMode Mode, string? File, string? Socket);
}

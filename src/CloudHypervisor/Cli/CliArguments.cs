namespace CloudHypervisor.Cli;

/// <summary>The parsed command line, option strings still raw.</summary>
public sealed record CliArguments
{
    public bool Version { get; init; }
    public int Verbosity { get; init; }
    public string? ApiSocket { get; init; }
    public string? EventMonitor { get; init; }
    public bool NoShutdown { get; init; }
    public string? Restore { get; init; }
    public string Seccomp { get; init; } = "true";
    public bool Landlock { get; init; }
    public IReadOnlyList<string> LandlockRules { get; init; } = [];
    public string? LogFile { get; init; }
    public string? LogFormat { get; init; }

    /// <summary>The journald socket when <c>--log-journald</c> was given, else null.</summary>
    public string? LogJournald { get; init; }
    public string? DBusServiceName { get; init; }
    public string? DBusObjectPath { get; init; }
    public bool DBusSystemBus { get; init; }

    /// <summary>
    /// The VM flags given, by flag name (<c>--disk</c>) in command-line order; a switch
    /// (<c>--watchdog</c>) has no values, <c>--rtc</c> without a value has one empty string.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> VmFlags { get; init; } =
        new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>True when a payload flag asks the CLI to create and boot a VM.</summary>
    public bool HasPayload => VmFlags.ContainsKey("--kernel") || VmFlags.ContainsKey("--firmware");
}

/// <summary>The outcome of parsing the command line.</summary>
public abstract record CliParse
{
    private CliParse()
    {
    }

    /// <summary>Print help: exit 2 on stderr for no arguments (clap's arg_required_else_help), 0 on stdout for --help.</summary>
    public sealed record Help(int ExitCode) : CliParse;

    /// <summary>A usage error: clap prints <c>error: ...</c> and exits 2.</summary>
    public sealed record UsageError(string Message) : CliParse;

    public sealed record Run(CliArguments Arguments) : CliParse;
}

using CloudHypervisor.Cli;
using CloudHypervisor.Logging;
using Serilog;

namespace CloudHypervisor;

/// <summary>
/// The <c>cloud-hypervisor</c> executable: parse the command line, set up logging, run the
/// <see cref="VmmHost"/>. Exit codes as upstream: 0 after vmm.shutdown or a signal, 1 for a fatal
/// error (printed as upstream's error chain), 2 for a usage error (clap's code). Nothing goes to
/// stdout except help and version text.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        // Before anything touches the console: the runtime decides then whether it handles SIGINT.
        Interop.Sigint.StopIgnoring();
        var stdout = Console.Out;
        var stderr = Console.Error;
        switch (new CommandLine().Parse(args))
        {
            case CliParse.Help help:
                (help.ExitCode == 0 ? stdout : stderr).Write(new CommandLine().HelpText());
                return help.ExitCode;
            case CliParse.UsageError usage:
                stderr.Write($"error: {usage.Message}\n\nUsage: cloud-hypervisor [OPTIONS]\n\nFor more information, try '--help'.\n");
                return 2;
            case CliParse.Run { Arguments.Version: true } run:
                stdout.Write(BuildInfo.VersionText(run.Arguments.Verbosity > 0));
                return 0;
            case CliParse.Run run:
                return await RunAsync(run.Arguments, stderr);
            default:
                throw new InvalidOperationException("unreachable");
        }
    }

    private static async Task<int> RunAsync(CliArguments arguments, TextWriter stderr)
    {
        Serilog.Core.Logger logger;
        try
        {
            // Under systemd (JOURNAL_STREAM set) log natively to the journal: fields survive.
            var journald = arguments.LogJournald
                ?? (Environment.GetEnvironmentVariable("JOURNAL_STREAM") is { Length: > 0 } ? JournaldSink.DefaultSocketPath : null);
            logger = LoggingSetup.Create(new LoggingOptions(arguments.Verbosity, arguments.LogFile, arguments.LogFormat, journald), stderr);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.Write(FatalErrorException.Render(["Error creating log file", .. FatalErrorException.ChainOf(e)]));
            return 1;
        }

        try
        {
            await using var host = new VmmHost(arguments, logger);
            return await host.RunAsync();
        }
        catch (FatalErrorException e)
        {
            return Fail(logger, stderr, e.Chain);
        }
#pragma warning disable CA1031 // Whatever escapes is reported in upstream's format, not as a .NET crash dump.
        catch (Exception e)
#pragma warning restore CA1031
        {
            logger.Error(e, "Unexpected error");
            return Fail(logger, stderr, FatalErrorException.ChainOf(e));
        }
        finally
        {
            await logger.DisposeAsync();
        }
    }

    private static int Fail(ILogger logger, TextWriter stderr, IReadOnlyList<string> chain)
    {
        logger.Error("Fatal error: {Error:l}", string.Join(": ", chain));
        stderr.Write(FatalErrorException.Render(chain));
        return 1;
    }
}

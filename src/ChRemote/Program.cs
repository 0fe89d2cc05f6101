namespace CloudHypervisor.ChRemote;

/// <summary>
/// ch-remote: scripts every VMM action over REST (--api-socket) or D-Bus (--dbus-service-name and
/// --dbus-object-path, in the D-Bus build). It shares the action catalog and the option-string
/// parsers with the VMM, so both always agree on names, verbs and JSON.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var parse = ChRemoteCli.Build().Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is System.CommandLine.Invocation.ParseErrorAction)
        {
            foreach (var error in parse.Errors)
            {
                await Console.Error.WriteLineAsync(error.Message);
            }

            return ExitCodes.Usage;
        }

        return await parse.InvokeAsync();
    }
}

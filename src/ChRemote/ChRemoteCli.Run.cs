using System.CommandLine;
using CloudHypervisor.ChRemote.Transport;
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.ChRemote;

internal static partial class ChRemoteCli
{
    private const string ChainHeading = "Error: ch-remote exited with the following chain of errors:";

    /// <summary>Sends one action and prints the answer the way upstream ch-remote does.</summary>
    private static async Task<int> RunAsync(ParseResult result, ApiAction action, BodyOrError? body, CancellationToken ct)
    {
        if (body is { Error: { } usage })
        {
            return Fail(ExitCodes.Usage, usage);
        }

        return await WithTransportAsync(result, async (transport, token) =>
        {
            var answer = await transport.CallAsync(action, body?.Body, body?.Fds ?? [], token);
            if (!answer.Success)
            {
                return Fail(ExitCodes.For(answer.Kind ?? ApiErrorKind.Internal), [transport.ErrorHeading, .. answer.Chain]);
            }

            // Upstream prints a body whenever the answer had one (even empty: shutdown-vmm prints a blank line).
            if (answer.Body is not null)
            {
                await Console.Out.WriteLineAsync(answer.Body);
            }

            return ExitCodes.Success;
        }, transport => Fail(ExitCodes.Timeout, [transport.ErrorHeading, $"No answer from the VMM within {result.GetValue(Timeout)} s"]), ct);
    }

    /// <summary>
    /// The shell of every subcommand that talks to the VMM: selects the transport, gives
    /// <paramref name="body"/> a token that --timeout cancels, turns transport failures into their
    /// exit codes and the timeout into <paramref name="onTimeout"/>.
    /// </summary>
    private static async Task<int> WithTransportAsync(ParseResult result,
        Func<IChTransport, CancellationToken, Task<int>> body, Func<IChTransport, int> onTimeout, CancellationToken ct)
    {
        var transport = SelectTransport(result, out var selectError);
        if (transport is null)
        {
            return Fail(ExitCodes.Internal, [selectError!]);
        }

        await using (transport)
        {
            using var timeout = TimeoutSource(result, ct);
            try
            {
                return await body(transport, timeout.Token);
            }
            catch (TransportException e)
            {
                return Fail(e.ExitCode, e.Chain);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return onTimeout(transport);
            }
        }
    }

    private static CancellationTokenSource TimeoutSource(ParseResult result, CancellationToken ct)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (result.GetValue(Timeout) is { } seconds)
        {
            source.CancelAfter(TimeSpan.FromSeconds(seconds));
        }

        return source;
    }

    /// <summary>Upstream's rules (contract §7.1): the API socket alone, or a D-Bus name and path together.</summary>
#pragma warning disable CA1859 // In the minimal build REST is the only transport; the interface is the point.
    private static IChTransport? SelectTransport(ParseResult result, out string? error)
    {
        error = null;
        var socket = result.GetValue(ApiSocket);
#if DBUS_API
        var name = result.GetValue(DBusServiceName);
        var path = result.GetValue(DBusObjectPath);
        if (socket is not null && (name is not null || path is not null))
        {
            error = "`api-socket` and (dbus-service-name or dbus-object-path) are mutually exclusive";
            return null;
        }

        if (name is not null && path is not null)
        {
            return new DBusTransport(name, path, result.GetValue(DBusSystemBus),
                result.GetValue(Timeout) is { } seconds ? TimeSpan.FromSeconds(seconds) : null);
        }
#endif
        if (socket is not null)
        {
            return new RestTransport(socket);
        }

        error = "Please either provide the api-socket option or dbus-service-name and dbus-object-path options";
        return null;
    }
#pragma warning restore CA1859

    private static int Fail(int exitCode, IReadOnlyList<string> chain)
    {
        var error = Console.Error;
        if (chain.Count == 1)
        {
            error.WriteLine("Error: ch-remote exited with the following error:");
            error.WriteLine($"  {chain[0]}");
        }
        else
        {
            error.WriteLine(ChainHeading);
            for (var i = 0; i < chain.Count; i++)
            {
                error.WriteLine($"  {i}: {chain[i]}");
            }
        }

        return exitCode;
    }
}

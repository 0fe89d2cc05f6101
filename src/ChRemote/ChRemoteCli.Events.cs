using System.CommandLine;
using System.Text.Json;

namespace CloudHypervisor.ChRemote;

internal static partial class ChRemoteCli
{
    /// <summary><c>events [--follow] [--since N]</c>: event records as JSON lines (NDJSON), for jq.</summary>
    private static Command Events()
    {
        var command = new Command("events", "Print the VMM's lifecycle events, one JSON object a line");
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new events until interrupted" };
        var since = new Option<long?>("--since") { Description = "Start at this event sequence number (REST only)" };
        command.Options.Add(follow);
        command.Options.Add(since);
        command.SetAction((result, ct) => WithTransportAsync(result, async (transport, token) =>
        {
            try
            {
                await foreach (var line in transport.EventsAsync(result.GetValue(since), result.GetValue(follow), token))
                {
                    await Console.Out.WriteLineAsync(line);
                    await Console.Out.FlushAsync(token);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Ctrl-C ends a follow normally.
            }

            return ExitCodes.Success;
        }, _ => result.GetValue(follow) ? ExitCodes.Success : ExitCodes.Timeout, ct)); // --timeout ends a follow normally.
        return command;
    }

    /// <summary>
    /// <c>wait-for SOURCE/EVENT [--since N]</c>: returns 0 when that event arrives (printing its
    /// record), 11 when --timeout passes first. Without --since it waits for a new event.
    /// </summary>
    private static Command WaitFor()
    {
        var command = new Command("wait-for", "Wait until an event such as vm/booted or vmm/shutdown arrives");
        var what = new Argument<string>("source/event");
        var since = new Option<long?>("--since") { Description = "Also accept events from this sequence number on (REST only)" };
        command.Arguments.Add(what);
        command.Options.Add(since);
        command.SetAction(async (result, ct) =>
        {
            var wanted = result.GetValue(what)!;
            var slash = wanted.IndexOf('/');
            if (slash <= 0 || slash == wanted.Length - 1)
            {
                return Fail(ExitCodes.Usage, [$"Expected SOURCE/EVENT, e.g. vm/booted, not \"{wanted}\""]);
            }

            var (source, @event) = (wanted[..slash], wanted[(slash + 1)..]);
            return await WithTransportAsync(result, async (transport, token) =>
            {
                await foreach (var line in transport.EventsAsync(result.GetValue(since), follow: true, token))
                {
                    using var record = JsonDocument.Parse(line);
                    if (record.RootElement.GetProperty("source").GetString() == source
                        && record.RootElement.GetProperty("event").GetString() == @event)
                    {
                        await Console.Out.WriteLineAsync(line);
                        return ExitCodes.Success;
                    }
                }

                return Fail(ExitCodes.Unreachable, [transport.ErrorHeading, $"The event stream ended before {wanted}"]);
            }, _ => Fail(ExitCodes.Timeout, [$"{wanted} did not arrive within {result.GetValue(Timeout)} s"]), ct);
        });
        return command;
    }
}

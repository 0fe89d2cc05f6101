using System.Text;
using Microsoft.AspNetCore.Http;
using EventMonitorHub = CloudHypervisor.EventMonitor.EventMonitor;

namespace CloudHypervisor.Frontends.Rest;

/// <summary>
/// <c>GET /api/v1/events[?since=N][&amp;follow=false]</c> (ours; DESIGN.md): one compact event record per line
/// (NDJSON), flushed per event, from seq N on (replayed from the monitor's buffer) or from now
/// on. With <c>follow=false</c> it ends after the events buffered when it was asked for (a
/// one-shot read, e.g. <c>ch-remote events --since 0</c>). Otherwise the stream stays open until the client leaves, the server stops, or the client falls so
/// far behind that its queue overflows: its connection is then closed (it reconnects with
/// <c>since</c> = last seq + 1).
/// </summary>
internal static class EventStream
{
    private static readonly byte[] NewLine = "\n"u8.ToArray();

    public static async Task ServeAsync(HttpContext context, EventMonitorHub events, long? since, bool follow, Serilog.ILogger log, CancellationToken stopping)
    {
        var response = context.Response;
        using var subscription = events.Subscribe(since);
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping, subscription.CutOff);
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = RestResponses.NdjsonContentType;
        response.Headers.CacheControl = "no-store";
        try
        {
            // Headers go out at once, so a client knows it is subscribed before any event.
            await response.StartAsync(ended.Token);
            var writer = response.BodyWriter;
            await writer.FlushAsync(ended.Token);
            var reader = subscription.Reader;
            // The buffered events are already queued; without follow, stop at the first empty read.
            while (follow ? await reader.WaitToReadAsync(ended.Token) : reader.Count > 0)
            {
                while (reader.TryRead(out var record))
                {
                    var line = EventMonitor.EventFormat.Compact(record);
                    var length = Encoding.UTF8.GetByteCount(line);
                    var span = writer.GetSpan(length + 1);
                    Encoding.UTF8.GetBytes(line, span);
                    span[length] = NewLine[0];
                    writer.Advance(length + 1);
                    var flushed = await writer.FlushAsync(ended.Token);
                    if (flushed.IsCompleted || flushed.IsCanceled)
                    {
                        return;
                    }
                }
            }

        }
        catch (OperationCanceledException) when (ended.IsCancellationRequested)
        {
            // Client gone, server stopping or reader cut off: end the chunked body cleanly if we still can.
        }

        if (subscription.Overflowed)
        {
            // Its queue overflowed, so the client has stopped reading or reads too slowly: nothing
            // more can be written to it, not even the end of the chunked body. Close the connection
            // (what it has received stays readable); it reconnects with since = last seq + 1.
            log.Warning("REST event stream reader fell behind and was disconnected");
            context.Abort();
        }
    }
}

using System.Buffers;
using CloudHypervisor.Frontends.Rest.Transport;
using CloudHypervisor.InternalApi;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Abstractions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using EventMonitorHub = CloudHypervisor.EventMonitor.EventMonitor;

namespace CloudHypervisor.Frontends.Rest;

/// <summary>
/// The one terminal request delegate Kestrel runs for every request: route on the raw target
/// (<see cref="RestRoutes"/>), read at most the body limit, parse with the catalog, send to the
/// control loop, write the answer (<see cref="RestResponses"/>).
/// </summary>
internal sealed class RestApplication(IApiSender api, EventMonitorHub events, RestServerOptions options, Serilog.ILogger log)
    : IHttpApplication<HttpContext>, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    public HttpContext CreateContext(IFeatureCollection contextFeatures)
    {
        // Kestrel keeps one context per connection when asked to; keep-alive clients then
        // allocate no HttpContext per request.
        if (contextFeatures is IHostContextContainer<HttpContext> container)
        {
            if (container.HostContext is DefaultHttpContext reused)
            {
                reused.Initialize(contextFeatures);
                return reused;
            }

            var created = new DefaultHttpContext(contextFeatures);
            container.HostContext = created;
            return created;
        }

        return new DefaultHttpContext(contextFeatures);
    }

    public void DisposeContext(HttpContext context, Exception? exception)
    {
        if (context is DefaultHttpContext pooled && context.Features is IHostContextContainer<HttpContext>)
        {
            pooled.Uninitialize();
        }
    }

    public Task ProcessRequestAsync(HttpContext context)
    {
        var requestFeature = context.Features.GetRequiredFeature<IHttpRequestFeature>();
        var response = context.Response;
        response.Headers.Server = RestResponses.ServerHeader;
        var route = RestRoutes.Match(requestFeature.Method, requestFeature.RawTarget);
        if (log.IsEnabled(Serilog.Events.LogEventLevel.Debug))
        {
            log.Debug("REST {Method} {Target} routed to {Route}", requestFeature.Method, requestFeature.RawTarget, route.Kind);
        }

        if (route.Kind != RouteKind.Action)
        {
            // Only actions take descriptors; any that came with this request are closed, so
            // none is left over for a later request on the connection.
            TakePassedFds(context).Dispose();
        }

        switch (route.Kind)
        {
            case RouteKind.Action:
                return HandleActionAsync(context, route.Action!);
            case RouteKind.Events:
                return EventStream.ServeAsync(context, events, route.Since, route.Follow, log, _stopping.Token);
            case RouteKind.MethodNotAllowed:
                response.Headers.Allow = route.Allow;
                RestResponses.WriteChain(response, StatusCodes.Status405MethodNotAllowed,
                    ["Method Not Allowed", $"{route.Action?.Path ?? RestRoutes.EventsPath} accepts {route.Allow} only"]);
                return Task.CompletedTask;
            case RouteKind.BadQuery:
                RestResponses.WriteChain(response, StatusCodes.Status400BadRequest,
                    ["Bad Request", "the queries of /api/v1/events are since=<seq> (a non-negative integer) and follow=true|false"]);
                return Task.CompletedTask;
            case RouteKind.NotFound:
            default:
                RestResponses.WriteChain(response, StatusCodes.Status404NotFound, RestResponses.NotFoundChain);
                return Task.CompletedTask;
        }
    }

    /// <summary>Makes event streams end so <see cref="RestServer.StopAsync"/> does not wait for them.</summary>
    public void BeginStop() => _stopping.Cancel();

    public void Dispose() => _stopping.Dispose();

    private async Task HandleActionAsync(HttpContext context, ApiAction action)
    {
        var request = context.Request;
        var response = context.Response;
        ApiCommandOrError parsed;
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false })
        {
            parsed = action.Parse(ReadOnlyMemory<byte>.Empty, TakePassedFds(context));
        }
        else if (request.ContentLength is { } declared && declared > options.MaxRequestBodySize)
        {
            // Answer without reading: Kestrel drains or closes the connection after the response.
            parsed = new ApiCommandOrError(TooLarge(declared));
            LargeInputs.Handled(declared);
        }
        else
        {
            parsed = await ReadAndParseAsync(context, action);
        }

        // Parse took the descriptors that came with the request; a refused one leaves none behind.
        TakePassedFds(context).Dispose();

        if (parsed.Error is { } invalid)
        {
            RestResponses.WriteError(response, invalid, options.RetryAfterSeconds);
            return;
        }

        ApiResult result;
        try
        {
            result = await api.SendAsync(parsed.Command!, ApiOrigin.Rest, context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return; // The client went away; the command still runs, nobody is left to answer.
        }
#pragma warning disable CA1031 // A frontend fault answers 500 with its chain; Kestrel keeps serving.
        catch (Exception e)
#pragma warning restore CA1031
        {
            log.Error(e, "REST {Action} failed in the frontend", action.Name);
            result = ApiError.For(action, ApiErrorKind.Internal, e.Message);
        }

        if (result.Error is { } error)
        {
            RestResponses.WriteError(response, error, options.RetryAfterSeconds);
        }
        else if (result.Json is { } json)
        {
            RestResponses.WriteJson(response, json);
            LargeInputs.Handled(json.Length * (long)sizeof(char));
        }
        else if (action.Reply == ApiReplyKind.EmptyOk)
        {
            // vmm.shutdown: 200, empty JSON body (contract §1.5). Flush now: the process exits soon.
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = RestResponses.JsonContentType;
            response.ContentLength = 0;
            await response.CompleteAsync();
        }
        else
        {
            response.StatusCode = StatusCodes.Status204NoContent;
        }
    }

    /// <summary>
    /// The descriptors passed (SCM_RIGHTS) on this request's connection and not taken yet: a client
    /// sends them with the request's first bytes, so once its body is read they are here.
    /// </summary>
    private static PassedFds TakePassedFds(HttpContext context) =>
        context.Features.Get<IPassedFdsFeature>()?.Take() ?? PassedFds.None;

    private async Task<ApiCommandOrError> ReadAndParseAsync(HttpContext context, ApiAction action)
    {
        var reader = context.Request.BodyReader;
        long seen = 0;
        try
        {
            while (true)
            {
                var read = await reader.ReadAsync(context.RequestAborted);
                var buffer = read.Buffer;
                seen = buffer.Length;
                if (buffer.Length > options.MaxRequestBodySize)
                {
                    // Only a chunked body gets here (a declared length is refused unread): read the
                    // rest without keeping it, so the answer states the real size and the connection
                    // stays usable for the next request.
                    var size = buffer.Length;
                    var ended = read.IsCompleted;
                    reader.AdvanceTo(buffer.End);
                    while (!ended)
                    {
                        read = await reader.ReadAsync(context.RequestAborted);
                        size += read.Buffer.Length;
                        ended = read.IsCompleted;
                        reader.AdvanceTo(read.Buffer.End);
                    }

                    seen = size;
                    return new ApiCommandOrError(TooLarge(size));
                }

                if (read.IsCompleted)
                {
                    // Parse while Kestrel still owns the bytes: no copy for a single-segment body.
                    var body = buffer.IsSingleSegment ? buffer.First : buffer.ToArray();
                    var parsed = action.Parse(body, TakePassedFds(context));
                    reader.AdvanceTo(buffer.End);
                    return parsed;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (IOException e) when (!context.RequestAborted.IsCancellationRequested)
        {
            // Kestrel's body decoding failed (a malformed or overflowing chunk size, a body shorter
            // than its Content-Length): the framing is lost, so answer and close the connection.
            context.Response.Headers.Connection = "close";
            return new ApiCommandOrError(ApiError.BadRequest(e.Message));
        }
        finally
        {
            // Also for a body the client abandoned halfway: its buffers are garbage now.
            LargeInputs.Handled(seen);
        }
    }

    private ApiError TooLarge(long size) =>
        ApiError.Request(
            ApiErrorKind.PayloadTooLarge,
            "Payload Too Large",
            $"Request payload with size {size} is larger than the limit of {options.MaxRequestBodySize} allowed by server.");
}

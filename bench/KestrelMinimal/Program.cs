using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

// The least a Kestrel app can do for `GET /api/v1/vmm.ping` on a Unix socket: a fixed body of
// the same size as the VMM's answer, no routing, no JSON, no logging, no control loop. ch-bench
// starts it as it starts the VMM (`--api-socket path=SOCK`) and times it with the same C client,
// so the gap between this row and the VMM's is our code, and this row's gap to the floor is
// Kestrel's. `PUT /api/v1/vmm.shutdown` stops it.
var socket = args.Length == 2 && args[0] == "--api-socket" && args[1].StartsWith("path=", StringComparison.Ordinal)
    ? args[1]["path=".Length..]
    : throw new ArgumentException("usage: kestrel-minimal --api-socket path=SOCKET");

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(socket));
var app = builder.Build();
var ping = Encoding.UTF8.GetBytes("{\"build_version\":\"v54.0.0\",\"version\":\"54.0.0\",\"pid\":" + Environment.ProcessId + ",\"features\":[\"dbus_api\",\"kvm\"]}");
app.Run(context =>
{
    var path = context.Request.Path.Value;
    if (path == "/api/v1/vmm.ping" && HttpMethods.IsGet(context.Request.Method))
    {
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = ping.Length;
        return context.Response.Body.WriteAsync(ping).AsTask();
    }

    if (path == "/api/v1/vmm.shutdown" && HttpMethods.IsPut(context.Request.Method))
    {
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        app.Lifetime.StopApplication();
        return Task.CompletedTask;
    }

    context.Response.StatusCode = StatusCodes.Status404NotFound;
    return Task.CompletedTask;
});
app.Run();

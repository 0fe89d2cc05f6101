using System.Runtime.InteropServices;
using System.Text;
using CloudHypervisor.Frontends.DBus.Interop;
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.DBus;

// Method calls: one handler for every method, switching on the member name through the catalog.
public sealed partial class DBusServer
{
    /// <summary>Calls waiting for the control loop's answer; bus thread only. Each holds a message reference.</summary>
    private readonly HashSet<PendingCall> _pending = [];

    /// <summary>
    /// sd-bus's method handler for every method of the vtable. Runs on the bus thread inside
    /// sd_bus_process. sd-bus has already checked the signature (InvalidArgs otherwise) and the
    /// member (UnknownMethod). Returning 1 without a reply is how sd-bus lets us answer later.
    /// </summary>
    [UnmanagedCallersOnly]
    private static int OnMethodCall(IntPtr message, IntPtr userdata, IntPtr error)
    {
        // An exception escaping an UnmanagedCallersOnly method ends the process.
        try
        {
            if (GCHandle.FromIntPtr(userdata).Target is DBusServer server)
            {
                server.HandleCall(message);
            }
        }
#pragma warning disable CA1031
        catch (Exception)
#pragma warning restore CA1031
        {
            // The call stays unanswered; the caller gets its timeout. Nothing safe is left to do here.
        }

        return 1;
    }

    private void HandleCall(IntPtr message)
    {
        var member = Messages.Member(message);
        var action = ApiCatalog.FindByDBusMethod(member);
        if (action is null)
        {
            // Unreachable while the vtable is built from the catalog; answered anyway, never dropped.
            Messages.ReplyError(message, "org.freedesktop.DBus.Error.UnknownMethod", $"Unknown method '{member}'");
            return;
        }

        var call = new PendingCall(SdBus.MessageRef(message), action);
        _pending.Add(call);
        try
        {
            var body = action.TakesBody ? Encoding.UTF8.GetBytes(Messages.ReadString(message)) : [];
            var parsed = action.Parse(body);
            if (parsed.Error is { } parseError)
            {
                Complete(call, ApiResult.Fail(parseError));
                return;
            }

            var reply = _api.SendAsync(parsed.Command!, ApiOrigin.DBus);
            if (reply.IsCompleted)
            {
                Complete(call, Outcome(reply, action));
            }
            else
            {
                reply.ContinueWith(
                    static (t, state) =>
                    {
                        var (server, call) = ((DBusServer, PendingCall))state!;
                        server.PostReply(call, Outcome(t, call.Action));
                    },
                    (this, call),
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }
        }
#pragma warning disable CA1031 // Every call gets exactly one answer, even when something unexpected failed.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Complete(call, ApiResult.Fail(ApiError.For(action, ApiErrorKind.Internal, e.Message)));
        }
    }

    /// <summary>Once stopped, the call was already dropped by ReleasePendingCalls.</summary>
    private void PostReply(PendingCall call, ApiResult result) => Post(() => Complete(call, result), answer: true);

    /// <summary>
    /// Bus thread, while stopping: the host stops the server right after the control loop ended,
    /// and the loop's last answers (vmm.shutdown's own reply) reach us from the thread pool just
    /// then. Deliver them, for at most <see cref="StopAnswerGrace"/>, before the connection closes.
    /// </summary>
    private void DeliverLastAnswers()
    {
        var deadline = Environment.TickCount64 + (long)StopAnswerGrace.TotalMilliseconds;
        RunPostedWork();
        while (_pending.Count > 0 && _session is not null)
        {
            var left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                break;
            }

            BusConnection.WaitWake(_wake, (int)left);
            _wake.Drain();
            RunPostedWork();
        }
    }

    private static ApiResult Outcome(Task<ApiResult> reply, ApiAction action) =>
        reply.IsCompletedSuccessfully
            ? reply.Result
            : ApiResult.Fail(ApiError.For(action, ApiErrorKind.Internal, reply.Exception?.GetBaseException().Message ?? "the request was cancelled"));

    /// <summary>Answers <paramref name="call"/> and drops its message reference (bus thread).</summary>
    private void Complete(PendingCall call, ApiResult result)
    {
        if (!_pending.Remove(call))
        {
            return;
        }

        try
        {
            if (result.Error is { } error)
            {
                Messages.ReplyError(call.Message, DBusErrors.NameOf(error.Kind), DBusErrors.MessageOf(error));
            }
            else
            {
                Messages.ReplyString(call.Message, call.Action.Reply switch
                {
                    ApiReplyKind.Json or ApiReplyKind.OptionalJson => result.Json ?? string.Empty,
                    ApiReplyKind.NoContent or ApiReplyKind.EmptyOk => null,
                });
            }
        }
        catch (BusException e)
        {
            // The connection the call came in on is gone (bus restarted); the caller went with it.
            _log.Debug("D-Bus reply to {Method} not sent: {Reason}", call.Action.DBusMethod, e.Message);
        }
        finally
        {
            SdBus.MessageUnref(call.Message);
        }
    }

    private void ReleasePendingCalls()
    {
        foreach (var call in _pending)
        {
            SdBus.MessageUnref(call.Message);
        }

        _pending.Clear();
    }

    private sealed record PendingCall(IntPtr Message, ApiAction Action);
}

using CloudHypervisor.InternalApi;
using Tmds.DBus.Protocol;

namespace CloudHypervisor.Frontends.DBus;

// Method calls on our object: one handler that switches on (interface, member, signature).
public sealed partial class DBusServer
{
    private const string IntrospectableInterface = "org.freedesktop.DBus.Introspectable";
    private const string PropertiesInterface = "org.freedesktop.DBus.Properties";
    private const string PeerInterface = "org.freedesktop.DBus.Peer";

    /// <summary>
    /// Runs on the library's read loop, which reads nothing else until this returns: it parses
    /// and posts, never waits. Every call gets exactly one answer; an exception escaping here
    /// would make the library drop the whole connection, so none does.
    /// </summary>
    private void Dispatch(MethodContext context)
    {
        var request = context.Request;
        var iface = request.InterfaceIsSet ? request.InterfaceAsString : null;
        var member = request.MemberAsString ?? string.Empty;
        var signature = request.SignatureAsString ?? string.Empty;
        try
        {
            switch (iface)
            {
                // A call without an interface names a member of ours (the specification lets the
                // receiver pick; ours is the only interface with members of those names).
                case DBusInterface.Name or null when ApiCatalog.FindByDBusMethod(member) is { } action:
                    CallApi(context, action, signature);
                    break;
                case DBusInterface.Name or null:
                    context.ReplyError("org.freedesktop.DBus.Error.UnknownMethod", $"Unknown method '{member}'");
                    break;
                case IntrospectableInterface when member == "Introspect":
                    if (CheckSignature(context, signature, string.Empty))
                    {
                        // The library adds the Introspectable and Peer interfaces (it answers Peer itself).
                        context.ReplyIntrospectXml([DBusIntrospection.Interface, IntrospectionXml.DBusProperties]);
                    }

                    break;
                case IntrospectableInterface:
                    context.ReplyError("org.freedesktop.DBus.Error.UnknownMethod", $"Unknown method '{member}'");
                    break;
                case PropertiesInterface:
                    Properties(context, member, signature);
                    break;
                default:
                    context.ReplyError("org.freedesktop.DBus.Error.UnknownInterface", $"Unknown interface '{iface}'");
                    break;
            }
        }
#pragma warning disable CA1031 // Answered, never dropped: the caller gets Failed, the connection stays.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _log.Warning(e, "D-Bus call {Interface}.{Member} failed in the frontend", iface, member);
            if (!context.DisposesAsynchronously)
            {
                context.ReplyError(DBusErrors.Failed, e.Message);
            }
            else if (_handler.Untrack(context))
            {
                context.ReplyError(DBusErrors.Failed, e.Message);
                Release(context);
            }
        }
    }

    private void CallApi(MethodContext context, ApiAction action, string signature)
    {
        var method = DBusInterface.ByName[action.DBusMethod];
        if (!CheckSignature(context, signature, method.InSignature))
        {
            return;
        }

        byte[] body = [];
        if (action.TakesBody)
        {
            // The UTF-8 bytes as they came, straight to the JSON parser (no UTF-16 string between).
            body = context.Request.GetBodyReader().ReadStringAsSpan().ToArray();
            LargeInputs.Handled(body.Length);
        }

        var parsed = action.Parse(body);
        if (parsed.Error is { } parseError)
        {
            Answer(context, action, ApiResult.Fail(parseError));
            return;
        }

        context.DisposesAsynchronously = true;
        _handler.Track(context);
        var reply = _api.SendAsync(parsed.Command!, ApiOrigin.DBus);
        if (reply.IsCompleted)
        {
            Complete(context, action, reply);
            return;
        }

        reply.ContinueWith(
            static (t, state) =>
            {
                var (server, context, action) = ((DBusServer, MethodContext, ApiAction))state!;
                server.Complete(context, action, t);
            },
            (this, context, action),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Answers a call that waited for the control loop, on the thread that completed it, then releases it.</summary>
    private void Complete(MethodContext context, ApiAction action, Task<ApiResult> reply)
    {
        if (!_handler.Untrack(context))
        {
            return; // abandoned by a stop that could not wait any longer
        }

        try
        {
            Answer(context, action, reply.IsCompletedSuccessfully
                ? reply.Result
                : ApiResult.Fail(ApiError.For(action, ApiErrorKind.Internal, reply.Exception?.GetBaseException().Message ?? "the request was cancelled")));
        }
#pragma warning disable CA1031 // The connection the call came in on is gone (bus restarted); its caller went with it.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _log.Debug("D-Bus reply to {Method} not sent: {Reason}", action.DBusMethod, e.Message);
        }
        finally
        {
            Release(context);
        }
    }

    /// <summary>
    /// The reply: the JSON string, nothing, or our error. A JSON answer too large for one
    /// message is refused with a PayloadTooLarge error before anything is built: sent, it would
    /// make the daemon drop the VMM's connection, and every client's calls with it.
    /// </summary>
    private void Answer(MethodContext context, ApiAction action, ApiResult result)
    {
        if (result.Error is { } error)
        {
            context.ReplyError(DBusErrors.NameOf(error.Kind), DBusErrors.MessageOf(error));
            return;
        }

        if (action.Reply is ApiReplyKind.NoContent or ApiReplyKind.EmptyOk)
        {
            using var empty = context.CreateReplyWriter(null);
            context.Reply(empty.CreateMessage());
            return;
        }

        var json = result.Json ?? string.Empty;
        if (!FitsInMessage(json, out var bytes))
        {
            var tooLarge = ApiError.For(action, ApiErrorKind.PayloadTooLarge,
                $"The answer is {bytes} bytes, more than one D-Bus message can carry ({_options.MaxMessageSize} bytes with its header); the REST API returns it");
            context.ReplyError(DBusErrors.NameOf(tooLarge.Kind), DBusErrors.MessageOf(tooLarge));
            return;
        }

        LargeInputs.Handled(bytes);
        using var writer = context.CreateReplyWriter("s");
        writer.WriteString(json);
        context.Reply(writer.CreateMessage());
    }

    /// <summary>org.freedesktop.DBus.Properties on an object that has no properties, as sd-bus and zbus answer it.</summary>
    private static void Properties(MethodContext context, string member, string signature)
    {
        var expected = member switch
        {
            "Get" => "ss",
            "GetAll" => "s",
            "Set" => "ssv",
            _ => null,
        };
        if (expected is null)
        {
            context.ReplyError("org.freedesktop.DBus.Error.UnknownMethod", $"Unknown method '{member}'");
            return;
        }

        if (!CheckSignature(context, signature, expected))
        {
            return;
        }

        var reader = context.Request.GetBodyReader();
        var iface = reader.ReadString();
        // "" asks about every interface (GetAll only, by the specification; harmless for the others).
        if (iface is not ("" or DBusInterface.Name or IntrospectableInterface or PropertiesInterface or PeerInterface))
        {
            context.ReplyError("org.freedesktop.DBus.Error.UnknownInterface", $"Unknown interface '{iface}'");
            return;
        }

        if (member == "GetAll")
        {
            using var writer = context.CreateReplyWriter("a{sv}");
            writer.WriteDictionaryEnd(writer.WriteDictionaryStart());
            context.Reply(writer.CreateMessage());
            return;
        }

        context.ReplyError("org.freedesktop.DBus.Error.UnknownProperty", $"Unknown property '{reader.ReadString()}'");
    }

    /// <summary>False, with the standard InvalidArgs answer, when the call's signature is not the method's.</summary>
    private static bool CheckSignature(MethodContext context, string signature, string expected)
    {
        if (signature == expected)
        {
            return true;
        }

        var request = context.Request;
        context.ReplyError("org.freedesktop.DBus.Error.InvalidArgs",
            $"Invalid arguments '{signature}' to call {request.InterfaceAsString}.{request.MemberAsString}(), expecting '{expected}'");
        return false;
    }

    /// <summary>Returns the request to the library's pool (a call answered asynchronously must be disposed by us).</summary>
    private void Release(MethodContext context)
    {
        try
        {
            context.Dispose();
        }
#pragma warning disable CA1031 // A context on a closed connection cannot send its fallback answer; nothing else is lost.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _log.Debug("D-Bus call context not released cleanly: {Reason}", e.Message);
        }
    }

    /// <summary>The handler registered at our object path on every connection.</summary>
    private sealed class ObjectHandler(DBusServer server) : IPathMethodHandler
    {
        private readonly Lock _gate = new();
        private readonly HashSet<MethodContext> _pending = [];
        private TaskCompletionSource? _drained;

        public string Path => server._options.ObjectPath;

        public bool HandlesChildPaths => false;

        public ValueTask HandleMethodAsync(MethodContext context)
        {
            server.Dispatch(context);
            return ValueTask.CompletedTask;
        }

        /// <summary>A call now waits for the control loop.</summary>
        public void Track(MethodContext context)
        {
            lock (_gate)
            {
                _pending.Add(context);
            }
        }

        /// <summary>False when the call was abandoned (and so must not be answered or released again).</summary>
        public bool Untrack(MethodContext context)
        {
            lock (_gate)
            {
                if (!_pending.Remove(context))
                {
                    return false;
                }

                if (_pending.Count == 0)
                {
                    _drained?.TrySetResult();
                    _drained = null;
                }

                return true;
            }
        }

        public Task WhenNonePending()
        {
            lock (_gate)
            {
                return _pending.Count == 0
                    ? Task.CompletedTask
                    : (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
        }

        /// <summary>After the stop's grace: calls the VMM never answered are released unanswered (their connection is closed).</summary>
        public void AbandonPending()
        {
            MethodContext[] abandoned;
            lock (_gate)
            {
                abandoned = [.. _pending];
                _pending.Clear();
            }

            foreach (var context in abandoned)
            {
                server.Release(context);
            }
        }
    }
}

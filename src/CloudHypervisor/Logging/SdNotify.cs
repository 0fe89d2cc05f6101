using System.Net.Sockets;
using System.Text;
using Serilog;

namespace CloudHypervisor.Logging;

/// <summary>
/// sd_notify(3) without libsystemd: when systemd (Type=notify) starts us it sets NOTIFY_SOCKET to
/// a Unix datagram socket, a path or an abstract name written with a leading '@'. We send
/// <c>READY=1</c> once the API servers accept requests and <c>STOPPING=1</c> when shutting down.
/// Without NOTIFY_SOCKET every call does nothing.
/// </summary>
public sealed class SdNotify(string? notifySocket, ILogger logger)
{
    public const string Ready = "READY=1";
    public const string Stopping = "STOPPING=1";

    /// <summary>The notifier for this process's environment.</summary>
    public static SdNotify FromEnvironment(ILogger logger) => new(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"), logger);

    public bool Enabled => !string.IsNullOrEmpty(notifySocket);

    /// <summary>Sends <paramref name="state"/> (e.g. <see cref="Ready"/>); failures are logged, never thrown.</summary>
    public void Notify(string state)
    {
        if (string.IsNullOrEmpty(notifySocket))
        {
            return;
        }

        if (notifySocket[0] is not ('/' or '@'))
        {
            logger.Warning("NOTIFY_SOCKET {NotifySocket:l} is neither a path nor an abstract socket; not notifying", notifySocket);
            return;
        }

        // An abstract socket's name starts with a NUL byte; systemd writes it as '@'.
        var address = notifySocket[0] == '@' ? "\0" + notifySocket[1..] : notifySocket;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.SendTo(Encoding.UTF8.GetBytes(state), new UnixDomainSocketEndPoint(address));
            logger.Debug("sd_notify {NotifyState:l} sent to {NotifySocket:l}", state, notifySocket);
        }
        catch (SocketException e)
        {
            logger.Warning("sd_notify {NotifyState:l} to {NotifySocket:l} failed: {ErrorMessage:l}", state, notifySocket, e.Message);
        }
    }
}

namespace CloudHypervisor.Frontends.Rest;

/// <summary>Another live instance holds the socket's lock file (contract §6.1); the CLI exits 1 with the message.</summary>
public sealed class ApiSocketInUseException : Exception
{
    public ApiSocketInUseException(string socketPath)
        : base($"API socket \"{socketPath}\" is already in use by another running instance")
    {
        SocketPath = socketPath;
    }

    public ApiSocketInUseException()
        : this(string.Empty)
    {
    }

    public ApiSocketInUseException(string message, Exception innerException)
        : base(message, innerException)
    {
        SocketPath = string.Empty;
    }

    public string SocketPath { get; }
}

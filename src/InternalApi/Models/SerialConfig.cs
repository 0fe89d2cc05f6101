using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>SerialConfig</c>: the legacy 8250 serial port; default <c>{"mode":"Null"}</c>.</summary>
public sealed class SerialConfig
{
    /// <summary>The output file (mode File), or the PTY path the VMM writes back (mode Pty).</summary>
    public string? File { get; set; }

    public required ConsoleMode Mode { get; set; }

    /// <summary>The Unix socket path (mode Socket).</summary>
    public string? Socket { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal SerialConfig Copy() => (SerialConfig)MemberwiseClone();
}

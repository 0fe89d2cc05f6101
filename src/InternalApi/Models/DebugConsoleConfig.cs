using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>DebugConsoleConfig</c>: the x86 debug port. The VmConfig default is <c>{"mode":"Off","iobase":233}</c>, but iobase stays absent when a client sends the object without it (contract §3.2).</summary>
public sealed class DebugConsoleConfig
{
    public string? File { get; set; }

    public required ConsoleMode Mode { get; set; }

    /// <summary>The I/O port; 0xE9 (233) in the VmConfig default.</summary>
    public ushort? Iobase { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal DebugConsoleConfig Copy() => (DebugConsoleConfig)MemberwiseClone();
}

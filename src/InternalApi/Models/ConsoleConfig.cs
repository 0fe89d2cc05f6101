using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>ConsoleConfig</c>: the virtio-console. Upstream flattens the console fields first and the PCI fields after them, so the default is <c>{"mode":"Tty","pci_segment":0}</c>.</summary>
public sealed class ConsoleConfig : IPciDeviceConfig
{
    /// <summary>The output file (mode File), or the PTY path the VMM writes back (mode Pty).</summary>
    public string? File { get; set; }

    public required ConsoleMode Mode { get; set; }

    /// <summary>The Unix socket path (mode Socket).</summary>
    public string? Socket { get; set; }

    /// <inheritdoc/>
    public string? Id { get; set; }

    /// <inheritdoc/>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Iommu { get; set; }

    /// <inheritdoc/>
    public ushort PciSegment { get; set; }

    /// <inheritdoc/>
    public byte? PciDeviceId { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal ConsoleConfig Copy() => (ConsoleConfig)MemberwiseClone();
}

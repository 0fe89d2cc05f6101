using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VirtQueueAffinity</c>: pins one disk queue to host CPUs.</summary>
public sealed class VirtQueueAffinity
{
    public required ushort QueueIndex { get; set; }

    public required List<ulong> HostCpus { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal VirtQueueAffinity Copy()
    {
        var copy = (VirtQueueAffinity)MemberwiseClone();
        copy.HostCpus = [.. HostCpus];
        return copy;
    }
}

using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Validation;

/// <summary>Guest RAM arithmetic shared by validation and vm.info.</summary>
public static class MemorySize
{
    /// <summary>
    /// <c>memory.size</c> plus every zone's size: the RAM a config asks for at boot, and vm.info's
    /// <c>memory_actual_size</c> while no VM object exists (contract §1.7). Hotplugged sizes are not counted.
    /// </summary>
    public static ulong Configured(VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Configured(config.Memory);
    }

    /// <summary>The same sum for a memory config; saturates at <see cref="ulong.MaxValue"/> instead of wrapping to a small size.</summary>
    public static ulong Configured(MemoryConfig memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var total = memory.Size;
        foreach (var zone in memory.Zones ?? [])
        {
            total = zone.Size > ulong.MaxValue - total ? ulong.MaxValue : total + zone.Size;
        }

        return total;
    }
}

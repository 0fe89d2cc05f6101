using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>PayloadConfig</c>: what to boot. Bootable means a kernel or a firmware, not both (checked by validation, not by vm.create).</summary>
public sealed class PayloadConfig
{
    public string? Firmware { get; set; }

    public string? Kernel { get; set; }

    public string? Cmdline { get; set; }

    public string? Initramfs { get; set; }

    /// <summary>An IGVM file (upstream feature igvm; refused by validation in this build).</summary>
    public string? Igvm { get; set; }

    /// <summary>SEV-SNP host data (upstream feature sev_snp; refused by validation in this build).</summary>
    public string? HostData { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal PayloadConfig Copy() => (PayloadConfig)MemberwiseClone();
}

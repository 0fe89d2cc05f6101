using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>PlatformConfig</c>. Defaults: num_pci_segments 1, iommu_address_width_bits 64, iommufd false, vfio_p2p_dma true.</summary>
public sealed class PlatformConfig
{
    public ushort NumPciSegments { get; set; } = 1;

    public List<ushort>? IommuSegments { get; set; }

    public byte IommuAddressWidthBits { get; set; } = 64;

    public string? SystemSerialNumber { get; set; }

    /// <summary>Deprecated spelling of system_serial_number: accepted on input, never written.</summary>
    public string? SerialNumber
    {
        get => null;
        set => SystemSerialNumber ??= value;
    }

    public string? SystemUuid { get; set; }

    /// <summary>Deprecated spelling of system_uuid: accepted on input, never written.</summary>
    public string? Uuid
    {
        get => null;
        set => SystemUuid ??= value;
    }

    public List<string>? OemStrings { get; set; }

    public string? SystemManufacturer { get; set; }

    public string? SystemProductName { get; set; }

    public string? SystemVersion { get; set; }

    public string? SystemFamily { get; set; }

    public string? SystemSkuNumber { get; set; }

    public string? ChassisAssetTag { get; set; }

    /// <summary>Upstream feature tdx (not in this build); written only when true, refused by validation.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Tdx { get; set; }

    /// <summary>Upstream feature sev_snp (not in this build); written only when true, refused by validation.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool SevSnp { get; set; }

    public bool Iommufd { get; set; }

    /// <summary>The iommufd descriptor (not in the OpenAPI); a number in JSON is never trusted.</summary>
    [JsonConverter(typeof(UntrustedFdConverter))]
    public int? IommufdFd { get; set; }

    public bool VfioP2pDma { get; set; } = true;

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal PlatformConfig Copy()
    {
        var copy = (PlatformConfig)MemberwiseClone();
        copy.IommuSegments = IommuSegments is null ? null : [.. IommuSegments];
        copy.OemStrings = OemStrings is null ? null : [.. OemStrings];
        return copy;
    }
}

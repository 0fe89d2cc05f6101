namespace CloudHypervisor.InternalApi.Models;

/// <summary>
/// Upstream's <c>PciDeviceCommonConfig</c>, flattened into every PCI device object. Each model
/// declares these four properties itself, first (contract §3.2): <c>id</c> omitted when null,
/// <c>iommu</c> omitted when false, <c>pci_segment</c> always written, <c>pci_device_id</c> omitted
/// when null. This interface lets validation and id assignment treat the devices alike.
/// </summary>
public interface IPciDeviceConfig
{
    /// <summary>The device id; null until the VMM assigns one at boot (contract §1.5).</summary>
    string? Id { get; set; }

    /// <summary>Place the device behind the virtual IOMMU.</summary>
    bool Iommu { get; set; }

    /// <summary>The PCI segment (domain) of the device; default 0.</summary>
    ushort PciSegment { get; set; }

    /// <summary>The requested PCI device (slot) number, or null for the next free one.</summary>
    byte? PciDeviceId { get; set; }
}

namespace CloudHypervisor.Vmm.Acpi;

/// <summary>One ACPI structure (the RSDP or a system description table) and the guest-physical address it belongs at.</summary>
public sealed record AcpiBlob(ulong GuestAddress, byte[] Bytes);

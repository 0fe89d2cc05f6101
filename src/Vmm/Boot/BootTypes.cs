namespace CloudHypervisor.Vmm.Boot;

/// <summary>How the boot vCPU enters the kernel.</summary>
public enum BootProtocol
{
    /// <summary>PVH: 32-bit protected mode, paging off, flat segments, EBX = hvm_start_info.</summary>
    Pvh,

    /// <summary>Linux 64-bit boot protocol: long mode, identity-mapped page tables, RSI = boot_params.</summary>
    Linux64,
}

/// <summary>Where and how the boot vCPU starts, and what the loader placed in guest memory.</summary>
public sealed record BootEntry(BootProtocol Protocol, ulong EntryPoint, ulong KernelEnd, string Format);

/// <summary>A kernel image the loaders refuse: the message names the file and the reason.</summary>
public sealed class BootImageException : Exception
{
    public BootImageException()
    {
    }

    public BootImageException(string message)
        : base(message)
    {
    }

    public BootImageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>E820 / hvm_memmap entry types.</summary>
public enum MemoryType : uint
{
    Ram = 1,
    Reserved = 2,
    Acpi = 3,
}

/// <summary>One entry of the memory map given to the guest (e820 or the PVH memmap).</summary>
public sealed record MemoryMapEntry(ulong Address, ulong Size, MemoryType Type);

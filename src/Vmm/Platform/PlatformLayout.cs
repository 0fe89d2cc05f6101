namespace CloudHypervisor.Vmm.Platform;

/// <summary>
/// The x86-64 platform every VM gets: guest-physical addresses, I/O ports and interrupt lines.
/// One table shared by the KVM backend (device models, boot loaders), the ACPI tables that
/// describe it to the guest, and the bundled guests in <c>guests/</c>, which hard-code the same
/// numbers (guests/platform.inc mirrors this file; a test compares the two).
/// </summary>
public static class PlatformLayout
{
    // ---- Guest-physical memory map ----

    /// <summary>RAM starts at 0. RAM above this address is placed above 4 GiB instead (32-bit MMIO hole).</summary>
    public const ulong MemoryHoleStart = 0xC000_0000;

    /// <summary>RAM that does not fit below the hole continues here.</summary>
    public const ulong HighRamStart = 0x1_0000_0000;

    /// <summary>Boot GDT (flat code/data segments for PVH's 32-bit entry and the 64-bit boot protocol).</summary>
    public const ulong BootGdtStart = 0x500;

    /// <summary>PVH <c>hvm_start_info</c>; its address is passed in EBX at the PVH entry point.</summary>
    public const ulong PvhInfoStart = 0x6000;

    /// <summary>PVH memory map entries (<c>hvm_memmap_table_entry</c>) follow the start info.</summary>
    public const ulong PvhMemmapStart = 0x6100;

    /// <summary>Linux boot protocol zero page (<c>boot_params</c>).</summary>
    public const ulong ZeroPageStart = 0x7000;

    /// <summary>Identity page tables for the 64-bit boot protocol (PML4, PDPT, PD).</summary>
    public const ulong PageTablesStart = 0x9000;

    /// <summary>Kernel command line (NUL terminated, at most <see cref="CmdlineMaxSize"/> bytes).</summary>
    public const ulong CmdlineStart = 0x2_0000;

    public const int CmdlineMaxSize = 0x1_0000;

    /// <summary>Where the ACPI RSDP is placed (inside the BIOS area that Linux scans, 0xE0000-0xFFFFF).</summary>
    public const ulong RsdpStart = 0xE_0000;

    /// <summary>The rest of the ACPI tables (XSDT, FADT, DSDT, MADT) follow here.</summary>
    public const ulong AcpiTablesStart = 0xE_1000;

    /// <summary>The highest address of the low, legacy area; the kernel is loaded at 1 MiB.</summary>
    public const ulong KernelStart = 0x10_0000;

    // ---- MMIO (inside the hole) ----

    /// <summary>IOAPIC registers (in-kernel irqchip), 24 pins.</summary>
    public const ulong IoApicStart = 0xFEC0_0000;

    public const int IoApicPins = 24;

    /// <summary>Local APIC registers (in-kernel), as seen by every vCPU.</summary>
    public const ulong LocalApicStart = 0xFEE0_0000;

    /// <summary>
    /// ACPI Generic Event Device: one 32-bit register at offset 0. Reading it returns the pending
    /// event bits and clears them. Bit <see cref="GedEventPowerButton"/> is the power button.
    /// </summary>
    public const ulong GedStart = 0xFEB0_0000;

    public const ulong GedSize = 0x1000;

    /// <summary>GED event bit for the power button.</summary>
    public const uint GedEventPowerButton = 1 << 0;

    /// <summary>The GED interrupt: legacy IRQ (GSI) 5, edge triggered, active high.</summary>
    public const int GedIrq = 5;

    /// <summary>GED event bit for PCI hot-plug (upstream's AcpiNotificationFlags::PCI_DEVICES_CHANGED): the DSDT runs \_SB_.PHPR.PSCN.</summary>
    public const uint GedEventPciHotplug = 1 << 2;

    /// <summary>
    /// The ACPI PCI hot-plug controller (upstream's \_SB_.PHPR), 32-bit registers: 0 PCIU (slots
    /// added, cleared on read), 4 PCID (slots to eject, cleared on read), 8 B0EJ (write: eject
    /// these slots), 12 PSEG (the segment the others refer to).
    /// </summary>
    public const ulong PciHotplugStart = 0xFEB0_1000;

    public const ulong PciHotplugSize = 0x10;

    // ---- PCI (upstream's x86-64 layout: 32-bit devices from 3 GiB, then the ECAM area) ----

    /// <summary>The 32-bit PCI BAR window, split between the PCI segments.</summary>
    public const ulong PciMmio32Start = 0xC000_0000;

    public const ulong PciMmio32Size = 0x2800_0000;

    /// <summary>PCI Express ECAM (MMCONFIG): 1 MiB per segment (bus 0 only), up to 256 segments.</summary>
    public const ulong PciEcamStart = 0xE800_0000;

    public const ulong PciEcamSize = 0x1000_0000;

    /// <summary>The 64-bit PCI BAR window starts at the first 1 GiB boundary above RAM (at least 4 GiB) and spans this much.</summary>
    public const ulong PciMmio64Alignment = 0x4000_0000;

    public const ulong PciMmio64Size = 0x10_0000_0000;

    /// <summary>PCI configuration mechanism #1: address port 0xCF8, data ports 0xCFC-0xCFF.</summary>
    public const ushort PciConfigAddressPort = 0xCF8;

    // ---- I/O ports ----

    /// <summary>
    /// ACPI hardware-reduced sleep control register (FADT SLEEP_CONTROL_REG, 1 byte). Writing
    /// <see cref="SleepControlS5"/> (SLP_TYPx = 5, SLP_EN) powers the VM off.
    /// </summary>
    public const ushort SleepControlPort = 0x600;

    /// <summary>ACPI sleep status register (FADT SLEEP_STATUS_REG, 1 byte).</summary>
    public const ushort SleepStatusPort = 0x601;

    /// <summary>ACPI reset register (FADT RESET_REG, 1 byte): writing <see cref="ResetValue"/> resets the VM.</summary>
    public const ushort ResetPort = 0x602;

    public const byte ResetValue = 0x01;

    /// <summary>SLP_TYPx = 5 in bits 2-4, SLP_EN in bit 5.</summary>
    public const byte SleepControlS5 = (5 << 2) | (1 << 5);

    /// <summary>8250 UART COM1.</summary>
    public const ushort Com1Port = 0x3F8;

    public const int Com1Irq = 4;

    /// <summary>Default debug console port (upstream <c>debug_console.iobase</c>, 233).</summary>
    public const ushort DebugConsolePort = 0xE9;

    /// <summary>i8042 command port: writing 0xFE pulses the CPU reset line.</summary>
    public const ushort I8042CommandPort = 0x64;

    public const byte I8042ResetCommand = 0xFE;

    /// <summary>CMOS/RTC index and data ports.</summary>
    public const ushort CmosIndexPort = 0x70;

    public const ushort CmosDataPort = 0x71;

    /// <summary>PIT (in-kernel, KVM_CREATE_PIT2) channel 0 drives IRQ 0.</summary>
    public const int PitIrq = 0;
}

using System.Buffers.Binary;
using System.Text;
using CloudHypervisor.InternalApi.Validation;
using CloudHypervisor.Vmm.Acpi;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Boot;

/// <summary>What to boot, from vm.create's <c>payload</c>.</summary>
public sealed record BootPayload(string? Kernel, string? Cmdline, string? Initramfs, string? Firmware);

/// <summary>
/// Puts a payload into guest memory: the kernel (PVH ELF, plain ELF vmlinux or bzImage), the
/// command line, the initramfs, the memory map, the boot GDT, the PVH start info or the zero page
/// with identity page tables, and the ACPI tables.
/// </summary>
public static class PayloadLoader
{
    /// <summary>The EBDA and BIOS area below 1 MiB is reserved; the ACPI tables live there.</summary>
    public const ulong LowRamEnd = 0x9_FC00;

    /// <summary>
    /// Loads <paramref name="payload"/>. The kernel and initramfs must be regular files no larger
    /// than guest RAM (<see cref="PayloadFile"/>); <paramref name="cancellationToken"/> stops the
    /// read of a large one (vm.delete or vmm.shutdown during the boot).
    /// </summary>
    public static BootEntry Load(GuestMemory memory, BootPayload payload, IReadOnlyList<AcpiBlob> acpiTables, CancellationToken cancellationToken = default)
    {
        if (payload.Firmware is not null)
        {
            throw new BootImageException(
                $"firmware payloads are not supported (firmware={payload.Firmware}): boot a PVH ELF, vmlinux or bzImage with --kernel");
        }

        if (payload.Kernel is null)
        {
            throw new BootImageException("no kernel in the payload");
        }

        var image = PayloadFile.Read("kernel", payload.Kernel, memory.Size, "the guest RAM", cancellationToken);

        var memoryMap = MemoryMap(memory);
        var bzImage = BzImageLoader.IsBzImage(image);
        BootEntry entry;
        try
        {
            entry = ElfLoader.IsElf(image) ? ElfLoader.Load(memory, image)
                : bzImage ? BzImageLoader.Load(memory, image)
                : throw new BootImageException("is neither an ELF (PVH or vmlinux) nor a bzImage");
        }
        catch (BootImageException e)
        {
            throw new BootImageException($"kernel {payload.Kernel}: {e.Message}", e);
        }

        var cmdline = Encoding.UTF8.GetBytes(payload.Cmdline ?? string.Empty);
        var cmdlineLimit = PlatformLayout.CmdlineMaxSize - 1;
        if (bzImage)
        {
            cmdlineLimit = Math.Min(cmdlineLimit, (int)BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(0x238)));
        }

        if (cmdline.Length > cmdlineLimit)
        {
            throw new BootImageException($"the command line is {cmdline.Length} bytes, the limit is {cmdlineLimit}");
        }

        memory.Write(PlatformLayout.CmdlineStart, cmdline);
        memory.Write(PlatformLayout.CmdlineStart + (ulong)cmdline.Length, [0]);

        var (initrdAddress, initrdSize) = payload.Initramfs is { } initramfs
            ? LoadInitramfs(memory, initramfs, entry.KernelEnd, cancellationToken)
            : (0UL, 0UL);

        memory.Write(PlatformLayout.BootGdtStart, BootGdt.Bytes());
        if (entry.Protocol == BootProtocol.Pvh)
        {
            memory.Write(PlatformLayout.PvhInfoStart,
                PvhStartInfo.Build(PlatformLayout.CmdlineStart, initrdAddress, initrdSize, memoryMap.Count));
            memory.Write(PlatformLayout.PvhMemmapStart, PvhStartInfo.BuildMemmap(memoryMap));
        }
        else
        {
            var header = bzImage ? BzImageLoader.SetupHeader(image) : [];
            memory.Write(PlatformLayout.ZeroPageStart,
                ZeroPage.Build(header, PlatformLayout.CmdlineStart, cmdline.Length, initrdAddress, initrdSize, memoryMap));
            WriteIdentityPageTables(memory);
        }

        foreach (var blob in acpiTables)
        {
            memory.Write(blob.GuestAddress, blob.Bytes);
        }

        return entry;
    }

    /// <summary>What the loader writes below 1 MiB besides the kernel: the boot GDT, PVH start info,
    /// zero page, page tables and command line, and the ACPI area.</summary>
    private static readonly (ulong Start, ulong End, string What)[] BootData =
    [
        (PlatformLayout.BootGdtStart, PlatformLayout.BootGdtStart + 0x100, "boot GDT"),
        (PlatformLayout.PvhInfoStart, PlatformLayout.ZeroPageStart, "PVH start info"),
        (PlatformLayout.ZeroPageStart, PlatformLayout.ZeroPageStart + ZeroPage.Size, "zero page"),
        (PlatformLayout.PageTablesStart, PlatformLayout.PageTablesStart + 0x3000, "boot page tables"),
        (PlatformLayout.CmdlineStart, PlatformLayout.CmdlineStart + PlatformLayout.CmdlineMaxSize, "command line"),
        (PlatformLayout.RsdpStart, PlatformLayout.AcpiTablesStart + 0x1_0000, "ACPI tables"),
    ];

    /// <summary>Names the boot structure that [address, address+size) would overwrite, if any.</summary>
    public static string? OverlapsBootData(ulong address, ulong size)
    {
        foreach (var (start, end, what) in BootData)
        {
            if (address < end && start < address + size)
            {
                return what;
            }
        }

        return null;
    }

    /// <summary>RAM below the EBDA, the reserved BIOS area, RAM from 1 MiB to the hole, RAM above 4 GiB.</summary>
    public static IReadOnlyList<MemoryMapEntry> MemoryMap(GuestMemory memory)
    {
        var low = memory.Regions[0];
        if (low.End < VmConfigValidator.MinimumMemorySize)
        {
            throw new BootImageException($"guest RAM of {memory.Size} bytes is smaller than the minimum of {VmConfigValidator.MinimumMemorySize} bytes (2 MiB)");
        }

        var map = new List<MemoryMapEntry>
        {
            new(0, LowRamEnd, MemoryType.Ram),
            new(LowRamEnd, PlatformLayout.KernelStart - LowRamEnd, MemoryType.Reserved),
            new(PlatformLayout.KernelStart, low.End - PlatformLayout.KernelStart, MemoryType.Ram),
        };
        for (var i = 1; i < memory.Regions.Count; i++)
        {
            map.Add(new(memory.Regions[i].GuestAddress, memory.Regions[i].Size, MemoryType.Ram));
        }

        return map;
    }

    /// <summary>The initramfs goes page-aligned at the top of RAM below the hole, above the kernel.</summary>
    private static (ulong Address, ulong Size) LoadInitramfs(GuestMemory memory, string path, ulong kernelEnd, CancellationToken cancellationToken)
    {
        var lowEnd = memory.Regions[0].End;
        var bytes = PayloadFile.Read("initramfs", path, lowEnd, "the guest RAM below the 32-bit hole", cancellationToken);

        var size = (ulong)bytes.Length;
        if (size >= lowEnd)
        {
            throw new BootImageException($"initramfs {path} ({size} bytes) does not fit in guest RAM");
        }

        var address = (lowEnd - size) & ~0xFFFUL;
        if (address < kernelEnd)
        {
            throw new BootImageException($"initramfs {path} ({size} bytes) does not fit in guest RAM above the kernel");
        }

        memory.Write(address, bytes);
        return (address, size);
    }

    /// <summary>PML4 → PDPT → PD with 512 2-MiB pages: the first 1 GiB identity-mapped, as the boot protocol needs.</summary>
    public static void WriteIdentityPageTables(GuestMemory memory)
    {
        const ulong pml4 = PlatformLayout.PageTablesStart;
        const ulong pdpt = pml4 + 0x1000;
        const ulong pd = pdpt + 0x1000;
        const ulong presentWritable = 0x3;
        const ulong hugePage = 0x80;
        memory.Fill(pml4, 0x3000, 0);
        memory.WriteValue(pml4, pdpt | presentWritable);
        memory.WriteValue(pdpt, pd | presentWritable);
        for (ulong i = 0; i < 512; i++)
        {
            memory.WriteValue(pd + (i * 8), (i << 21) | presentWritable | hugePage);
        }
    }
}

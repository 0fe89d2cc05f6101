using System.Buffers.Binary;
using CloudHypervisor.Vmm.Boot;
using CloudHypervisor.Vmm.Kvm;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Tests.Kvm;

/// <summary>The payload loaders against hand-made ELF and bzImage headers, in real guest memory (no KVM needed).</summary>
public sealed class LoaderTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly GuestMemory _memory = GuestMemory.Create(32UL << 20, shared: false, hugepages: false);

    /// <summary>An ELF64 with one PT_LOAD of <paramref name="code"/> at 2 MiB and, optionally, a PVH note.</summary>
    private static byte[] Elf64(byte[] code, uint? pvhEntry, ulong entry = 0x20_0000)
    {
        var notes = pvhEntry is { } e ? Note("Xen\0"u8.ToArray(), 18, BitConverter.GetBytes(e)) : [];
        var phnum = notes.Length > 0 ? 2 : 1;
        var dataOffset = 64 + (56 * phnum);
        var image = new byte[dataOffset + notes.Length + code.Length];
        var s = image.AsSpan();
        new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }.CopyTo(s);
        s[4] = 2; // ELFCLASS64
        s[5] = 1; // little-endian
        s[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], 2); // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], 62); // EM_X86_64
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], entry);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], 64); // phoff
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], 56);
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], (ushort)phnum);
        var codeOffset = dataOffset + notes.Length;
        ProgramHeader(s[64..], 1, (ulong)codeOffset, 0x20_0000, (ulong)code.Length, (ulong)code.Length + 0x100);
        if (notes.Length > 0)
        {
            ProgramHeader(s[120..], 4, (ulong)dataOffset, 0, (ulong)notes.Length, (ulong)notes.Length);
            notes.CopyTo(s[dataOffset..]);
        }

        code.CopyTo(s[codeOffset..]);
        return image;
    }

    private static void ProgramHeader(Span<byte> ph, uint type, ulong offset, ulong paddr, ulong filesz, ulong memsz)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(ph, type);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], paddr);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], paddr);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], filesz);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], memsz);
    }

    private static byte[] Note(byte[] name, uint type, byte[] desc)
    {
        var note = new byte[12 + ((name.Length + 3) & ~3) + ((desc.Length + 3) & ~3)];
        BinaryPrimitives.WriteUInt32LittleEndian(note, (uint)name.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(4), (uint)desc.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(8), type);
        name.CopyTo(note, 12);
        desc.CopyTo(note, 12 + ((name.Length + 3) & ~3));
        return note;
    }

    private string Write(string name, byte[] bytes)
    {
        var path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void An_ELF_with_the_PVH_note_boots_through_PVH_with_start_info_cmdline_and_initramfs()
    {
        var kernel = Write("pvh.elf", Elf64([0xF4, 0xF4, 0xF4], pvhEntry: 0x20_0001));
        var initramfs = Write("initrd", [1, 2, 3, 4, 5]);

        var entry = PayloadLoader.Load(_memory, new BootPayload(kernel, "console=ttyS0", initramfs, null), []);

        Assert.Equal(BootProtocol.Pvh, entry.Protocol);
        Assert.Equal(0x20_0001UL, entry.EntryPoint);
        Assert.Equal(0xF4, _memory.ReadValue<byte>(0x20_0002));
        Assert.Equal(0, _memory.ReadValue<byte>(0x20_00FF)); // memsz beyond filesz is zeroed
        Assert.Equal(PvhStartInfo.Magic, _memory.ReadValue<uint>(PlatformLayout.PvhInfoStart));
        Assert.Equal(PlatformLayout.CmdlineStart, _memory.ReadValue<ulong>(PlatformLayout.PvhInfoStart + 24));
        Assert.Equal(PlatformLayout.RsdpStart, _memory.ReadValue<ulong>(PlatformLayout.PvhInfoStart + 32));
        Assert.Equal(1U, _memory.ReadValue<uint>(PlatformLayout.PvhInfoStart + 12)); // one module
        var module = _memory.ReadValue<ulong>(PvhStartInfo.ModlistAddress);
        Assert.Equal(5UL, _memory.ReadValue<ulong>(PvhStartInfo.ModlistAddress + 8));
        Assert.Equal(3, _memory.ReadValue<byte>(module + 2));
        Assert.Equal(0UL, module & 0xFFF);
        var cmdline = new byte[14];
        _memory.Read(PlatformLayout.CmdlineStart, cmdline);
        Assert.Equal("console=ttyS0\0"u8.ToArray(), cmdline);
        var entries = _memory.ReadValue<uint>(PlatformLayout.PvhInfoStart + 48);
        Assert.Equal(3U, entries);
        Assert.Equal(32UL << 20, _memory.ReadValue<ulong>(PlatformLayout.PvhMemmapStart + 48) + _memory.ReadValue<ulong>(PlatformLayout.PvhMemmapStart + 56));
    }

    [Fact]
    public void An_ELF_without_the_PVH_note_boots_through_the_64_bit_protocol_at_its_entry()
    {
        var kernel = Write("vmlinux", Elf64([0x90], pvhEntry: null, entry: 0x20_0000));

        var entry = PayloadLoader.Load(_memory, new BootPayload(kernel, null, null, null), []);

        Assert.Equal(BootProtocol.Linux64, entry.Protocol);
        Assert.Equal(0x20_0000UL, entry.EntryPoint);
        Assert.Equal(BzImageLoader.HdrSMagic, _memory.ReadValue<uint>(PlatformLayout.ZeroPageStart + 0x202));
        Assert.Equal(0x9000UL + 0x1000 + 0x3, _memory.ReadValue<ulong>(PlatformLayout.PageTablesStart));
    }

    [Fact]
    public void A_bzImage_is_loaded_at_1_MiB_with_its_setup_header_and_e820_in_the_zero_page()
    {
        var image = new byte[(2 * 512) + 64];
        var s = image.AsSpan();
        s[0x1F1] = 1; // setup_sects: the kernel starts at (1 + 1) * 512
        s[0x201] = 0x66; // the header ends at 0x202 + 0x66
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1FE..], 0xAA55);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x202..], BzImageLoader.HdrSMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x206..], 0x020F);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x236..], 1); // XLF_KERNEL_64
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x238..], 2048); // cmdline_size
        s[1024] = 0xAB;
        var kernel = Write("bzImage", image);
        var initramfs = Write("initrd", new byte[4096]);

        var entry = PayloadLoader.Load(_memory, new BootPayload(kernel, "quiet", initramfs, null), []);

        Assert.Equal(BootProtocol.Linux64, entry.Protocol);
        Assert.Equal(0x10_0200UL, entry.EntryPoint);
        Assert.Equal(0xAB, _memory.ReadValue<byte>(0x10_0000));
        var zp = PlatformLayout.ZeroPageStart;
        Assert.Equal(0x020F, _memory.ReadValue<ushort>(zp + 0x206));
        Assert.Equal(0xFF, _memory.ReadValue<byte>(zp + 0x210));
        Assert.Equal((uint)PlatformLayout.CmdlineStart, _memory.ReadValue<uint>(zp + 0x228));
        Assert.Equal(4096U, _memory.ReadValue<uint>(zp + 0x21C));
        Assert.Equal(3, _memory.ReadValue<byte>(zp + 0x1E8));
        Assert.Equal(0x10_0000UL, _memory.ReadValue<ulong>(zp + 0x2D0 + 40)); // third e820 entry: RAM from 1 MiB
        Assert.Equal(1U, _memory.ReadValue<uint>(zp + 0x2D0 + 56));
    }

    [Fact]
    public void A_firmware_payload_is_refused_with_a_clear_error()
    {
        var e = Assert.Throws<BootImageException>(() => PayloadLoader.Load(_memory, new BootPayload(null, null, null, "/fw/hypervisor-fw"), []));
        Assert.Contains("firmware payloads are not supported", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_neither_ELF_nor_bzImage_is_refused_naming_it()
    {
        var kernel = Write("garbage", new byte[4096]);
        var e = Assert.Throws<BootImageException>(() => PayloadLoader.Load(_memory, new BootPayload(kernel, null, null, null), []));
        Assert.Contains(kernel, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Guest_memory_rejects_accesses_outside_RAM_and_splits_around_the_hole()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _memory.Write((32UL << 20) - 2, [1, 2, 3]));
        var regions = GuestMemory.Layout(4UL << 30);
        Assert.Equal(2, regions.Count);
        Assert.Equal(PlatformLayout.MemoryHoleStart, regions[0].Size);
        Assert.Equal(PlatformLayout.HighRamStart, regions[1].GuestAddress);
        Assert.Equal((4UL << 30) - PlatformLayout.MemoryHoleStart, regions[1].Size);
    }

    [Fact]
    public void Shared_guest_memory_is_backed_by_a_memfd()
    {
        using var shared = GuestMemory.Create(4UL << 20, shared: true, hugepages: false);
        shared.WriteValue(0x1000, 0xDEADBEEFU);
        Assert.Equal(0xDEADBEEFU, shared.ReadValue<uint>(0x1000));
        var maps = File.ReadAllText("/proc/self/maps");
        Assert.Contains("memfd:ch-guest-ram", maps, StringComparison.Ordinal);
    }

    [Fact]
    public void Hugepages_are_honoured_or_refused_with_a_clear_error()
    {
        var free = int.Parse(File.ReadAllText("/proc/sys/vm/nr_hugepages").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        if (free >= 2)
        {
            using var huge = GuestMemory.Create(4UL << 20, shared: false, hugepages: true);
            huge.WriteValue(0, 1UL);
            Assert.Equal(1UL, huge.ReadValue<ulong>(0));
            return;
        }

        var e = Assert.Throws<CloudHypervisor.Vmm.Kvm.Interop.KvmException>(() => GuestMemory.Create(4UL << 20, shared: false, hugepages: true));
        Assert.Contains("hugepages=on needs 2 free huge pages of 2048 KiB", e.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _memory.Dispose();
        _dir.Dispose();
    }
}

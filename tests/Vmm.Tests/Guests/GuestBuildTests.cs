using System.Buffers.Binary;
using System.Diagnostics;
using CloudHypervisor.Vmm.Platform;
using Xunit;

namespace CloudHypervisor.Vmm.Tests.Guests;

/// <summary>Builds the bundled guests once (guests/build.sh: binutils, and gcc for the kit guests) into a temp dir for the tests below.</summary>
public sealed class BuiltGuests : IDisposable
{
    public static readonly string[] Names =
    [
        "banner", "echo", "ticks", "poweroff", "reset", "powerbutton", "smp", "nmi", "triplefault", "hotplug",
        "pci-list", "cpl3", "virtio-blk", "virtio-rng", "virtio-console", "virtio-net", "virtio-vsock", "virtio-pmem", "virtio-balloon", "virtio-hostile", "pci-hotplug", "memfill",
    ];

    public BuiltGuests()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("guests-").FullName;
        var start = new ProcessStartInfo("bash", [Path.Combine(RepoPaths.Guests, "build.sh"), Directory])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("bash did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        ExitCode = process.ExitCode;
        Output = stdout.Result + stderr;
    }

    public string Directory { get; }

    public int ExitCode { get; }

    public string Output { get; }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

public sealed class GuestBuildTests(BuiltGuests built) : IClassFixture<BuiltGuests>
{
    /// <summary>XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h).</summary>
    private const uint XenElfnotePhys32Entry = 18;

    public static TheoryData<string> Names => new(BuiltGuests.Names);

    [Fact]
    public void Build_sh_builds_every_guest_without_warnings()
    {
        Assert.True(built.ExitCode == 0, built.Output);
        Assert.DoesNotContain("warning", built.Output, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(BuiltGuests.Names.Order(), System.IO.Directory.GetFiles(built.Directory).Select(Path.GetFileName).Order());
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Each_guest_is_an_x86_64_elf_with_a_pvh_entry_inside_its_executable_load_segment(string name)
    {
        Assert.True(built.ExitCode == 0, built.Output);
        var elf = ElfImage.Parse(File.ReadAllBytes(Path.Combine(built.Directory, name)));

        Assert.Equal(ElfImage.EM_X86_64, elf.Machine);
        var note = Assert.Single(elf.Notes, n => n.Name == "Xen" && n.Type == XenElfnotePhys32Entry);
        Assert.Equal(4, note.Desc.Length);
        var entry = BinaryPrimitives.ReadUInt32LittleEndian(note.Desc);

        var load = Assert.Single(elf.Segments, s => s.Type == ElfImage.PT_LOAD);
        Assert.Equal(PlatformLayout.KernelStart, load.PhysicalAddress);
        Assert.True((load.Flags & ElfImage.PF_X) != 0, "the load segment is executable");
        Assert.InRange(entry, load.PhysicalAddress, load.PhysicalAddress + load.FileSize - 1);
        Assert.Equal(elf.Entry, entry);
        // The whole image, .bss included, stays below the MMIO hole and clear of the low area.
        Assert.True(load.PhysicalAddress + load.MemorySize < PlatformLayout.MemoryHoleStart);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Each_guest_carries_the_line_tests_wait_for(string name)
    {
        var image = File.ReadAllBytes(Path.Combine(built.Directory, name));

        Assert.True(image.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(GuestOutput.FirstLine(name))) >= 0, $"{name} lacks its first line");
    }
}

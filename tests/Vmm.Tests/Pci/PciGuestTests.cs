using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Kvm;
using CloudHypervisor.Vmm.Tests.Kvm;
using Serilog;

namespace CloudHypervisor.Vmm.Tests.Pci;

/// <summary>
/// Real VMs on /dev/kvm whose tiny guest (32-bit, paging off) finds the PCI devices through
/// ports 0xCF8/0xCFC and through ECAM, then drives virtio-rng as a virtio 1.x driver would:
/// reset, features (VERSION_1), one queue, DRIVER_OK, one buffer, the doorbell (an ioeventfd),
/// and it polls the used ring for the answer.
/// </summary>
public sealed class PciGuestTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly KvmHypervisor _hypervisor = new(new LoggerConfiguration().CreateLogger());

    // Helpers: print the NUL-terminated string at %esi, print %eax as 8 hex digits, on COM1.
    private const string Helpers = """
        puts:
            push %edx
            mov $0x3f8, %dx
        1:  lodsb
            test %al, %al
            jz 2f
            out %al, %dx
            jmp 1b
        2:  pop %edx
            ret
        puthex:
            push %ecx
            push %edx
            push %ebx
            mov %eax, %ebx
            mov $8, %ecx
            mov $0x3f8, %dx
        3:  rol $4, %ebx
            mov %ebx, %eax
            and $0xf, %eax
            cmp $10, %eax
            jb 4f
            add $('a' - 10 - '0'), %eax
        4:  add $'0', %eax
            out %al, %dx
            loop 3b
            mov $'\n', %al
            out %al, %dx
            pop %ebx
            pop %edx
            pop %ecx
            ret
        """;

    private const string Probe = """
            mov $0x80000, %esp
            xor %edi, %edi
        next_slot:
            mov $s_slot, %esi
            call puts
            mov %edi, %eax
            add $'0', %eax
            mov $0x3f8, %dx
            out %al, %dx
            mov $' ', %al
            out %al, %dx
            mov %edi, %eax
            shl $11, %eax
            or $0x80000000, %eax
            mov $0xcf8, %dx
            out %eax, %dx
            mov $0xcfc, %dx
            in %dx, %eax
            call puthex
            inc %edi
            cmp $3, %edi
            jb next_slot

            mov $s_ecam, %esi
            call puts
            mov 0xe8008000, %eax
            call puthex

            # virtio-rng at 00:01.0: BAR 0 (64-bit, placed below 4 GiB), common cfg at its start.
            mov 0xe8008010, %ebx
            and $0xfffffff0, %ebx
            movb $0, 0x14(%ebx)
            movb $3, 0x14(%ebx)
            movl $1, 0x08(%ebx)
            movl $1, 0x0c(%ebx)
            movl $0, 0x08(%ebx)
            movl $0, 0x0c(%ebx)
            movb $0xb, 0x14(%ebx)
            mov $s_status, %esi
            call puts
            movzbl 0x14(%ebx), %eax
            call puthex
            movw $0, 0x16(%ebx)
            movw $8, 0x18(%ebx)
            movl $0x10000, 0x20(%ebx)
            movl $0, 0x24(%ebx)
            movl $0x10100, 0x28(%ebx)
            movl $0, 0x2c(%ebx)
            movl $0x10200, 0x30(%ebx)
            movl $0, 0x34(%ebx)
            movw $1, 0x1c(%ebx)
            movb $0xf, 0x14(%ebx)
            # One 16-byte device-writable buffer at 0x11000, offered as avail ring entry 0.
            movl $0x11000, 0x10000
            movl $0, 0x10004
            movl $16, 0x10008
            movw $2, 0x1000c
            movw $0, 0x1000e
            movw $0, 0x10104
            movw $0, 0x10100
            movw $1, 0x10102
            movw $0, 0x3000(%ebx)
            mov $20000000, %ecx
        wait_used:
            cmpw $1, 0x10202
            je used
            loop wait_used
        used:
            mov $s_rng, %esi
            call puts
            mov 0x10208, %eax
            call puthex
            mov 0x11000, %eax
            or 0x11004, %eax
            or 0x11008, %eax
            or 0x1100c, %eax
            mov $s_nonzero, %esi
            test %eax, %eax
            jnz 5f
            mov $s_zero, %esi
        5:  call puts
            mov $0x600, %dx
            mov $0x34, %al
            out %al, %dx
            hlt
        s_slot: .asciz "slot "
        s_ecam: .asciz "ecam "
        s_status: .asciz "status "
        s_rng: .asciz "rng used "
        s_nonzero: .asciz "rng bytes nonzero\n"
        s_zero: .asciz "rng bytes zero\n"
        """;

    private static VmConfig Config(string kernel, string serial) => new()
    {
        Cpus = new CpusConfig { BootVcpus = 1, MaxVcpus = 1 },
        Memory = new MemoryConfig { Size = 64UL << 20 },
        Payload = new PayloadConfig { Kernel = kernel },
        Serial = new SerialConfig { Mode = ConsoleMode.File, File = serial },
        Console = new ConsoleConfig { Mode = ConsoleMode.Off },
    };

    [Fact]
    public async Task A_guest_finds_the_host_bridge_and_virtio_rng_by_CF8_and_ECAM_and_reads_random_bytes()
    {
        KvmRequirement.Check();
        var kernel = TinyGuest.Build(_dir.Path, "pci", Probe + "\n" + Helpers);
        var serial = _dir.File("serial.log");
        var events = new RecordingEvents();
        var config = Config(kernel, serial);
        _hypervisor.PrepareConsoles(config);
        using var vm = _hypervisor.CreateVm(config, events);
        vm.Boot();

        var exit = await events.Exit.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(GuestExitKind.Poweroff, exit.Kind);
        Assert.Equal(
            "slot 0 0d578086\nslot 1 10441af4\nslot 2 ffffffff\necam 10441af4\nstatus 0000000b\nrng used 00000010\nrng bytes nonzero\n",
            Wait.ReadShared(serial));
        Assert.Equal(16UL, vm.Counters()["__rng"]["bytes"]);
        Assert.True(vm.Counters()["_virtio-pci-__rng"]["notifications"] >= 1);
        var tree = vm.DeviceTree;
        Assert.Equal("0000:00:01.0", tree["_virtio-pci-__rng"].PciBdf);
        Assert.Equal(["__rng"], tree["_virtio-pci-__rng"].Children);
        Assert.Equal("_virtio-pci-__rng", tree["__rng"].Parent);
        vm.Shutdown();
    }

    [Fact]
    public void A_config_entry_the_VMM_cannot_build_is_refused_by_name_with_InvalidArgument()
    {
        KvmRequirement.Check();
        var config = Config(TinyGuest.Build(_dir.Path, "idle", "hlt"), _dir.File("serial.log"));
        config.Fs = [new FsConfig { Id = "fs7", Tag = "myfs", Socket = "/nonexistent/virtiofsd.sock" }];
        _hypervisor.PrepareConsoles(config);

        var e = Assert.Throws<HypervisorException>(() => _hypervisor.CreateVm(config, new RecordingEvents()));

        Assert.Equal(ApiErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("Cannot build device fs7", e.Message);
        Assert.Contains("virtio-fs (vhost-user) is not supported", e.Causes[0], StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_image_and_an_image_another_writer_holds_are_typed_errors_naming_the_disk()
    {
        KvmRequirement.Check();
        var config = Config(TinyGuest.Build(_dir.Path, "idle", "hlt"), _dir.File("serial.log"));
        config.Disks = [new DiskConfig { Id = "_disk0", Path = _dir.File("absent.img") }];
        _hypervisor.PrepareConsoles(config);

        var missing = Assert.Throws<HypervisorException>(() => _hypervisor.CreateVm(config, new RecordingEvents()));
        Assert.Equal(ApiErrorKind.InvalidArgument, missing.Kind);
        Assert.Equal("Cannot create virtio-blk device _disk0", missing.Message);
        Assert.Contains("No such file or directory", missing.Causes[0], StringComparison.Ordinal);

        var image = _dir.File("held.img");
        File.WriteAllBytes(image, new byte[1 << 20]);
        config.Disks = [new DiskConfig { Id = "_disk0", Path = image }];
        using (var first = _hypervisor.CreateVm(config, new RecordingEvents()))
        {
            var locked = Assert.Throws<HypervisorException>(() => _hypervisor.CreateVm(config, new RecordingEvents()));
            Assert.Equal(ApiErrorKind.InvalidState, locked.Kind);
            Assert.Contains("already locked", locked.Causes[0], StringComparison.Ordinal);
        }

        // The first VM released its lock with its devices: the image opens again.
        using var again = _hypervisor.CreateVm(config, new RecordingEvents());
        Assert.Equal("0000:00:01.0", again.DeviceTree["_virtio-pci-_disk0"].PciBdf);
        Assert.Equal("0000:00:02.0", again.DeviceTree["_virtio-pci-__rng"].PciBdf);
    }

    [Fact]
    public void A_qcow2_image_is_refused_as_not_supported()
    {
        KvmRequirement.Check();
        var config = Config(TinyGuest.Build(_dir.Path, "idle", "hlt"), _dir.File("serial.log"));
        var image = _dir.File("disk.qcow2");
        var bytes = new byte[4096];
        bytes[0] = 0x51;
        bytes[1] = 0x46;
        bytes[2] = 0x49;
        bytes[3] = 0xFB;
        File.WriteAllBytes(image, bytes);
        config.Disks = [new DiskConfig { Id = "_disk0", Path = image }];
        _hypervisor.PrepareConsoles(config);

        var e = Assert.Throws<HypervisorException>(() => _hypervisor.CreateVm(config, new RecordingEvents()));

        Assert.Equal(ApiErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("image type Qcow2 is not supported", e.Causes[0], StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _hypervisor.Dispose();
        _dir.Dispose();
    }
}

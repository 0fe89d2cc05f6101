using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Kvm;
using Serilog;

namespace CloudHypervisor.Vmm.Tests.Kvm;

/// <summary>Real VMs on /dev/kvm with tiny guests assembled by the test.</summary>
public sealed class KvmBootTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly KvmHypervisor _hypervisor = new(new LoggerConfiguration().CreateLogger());

    private static VmConfig Config(string kernel, string serialFile, uint vcpus = 1) => new()
    {
        Cpus = new CpusConfig { BootVcpus = vcpus, MaxVcpus = vcpus },
        Memory = new MemoryConfig { Size = 64UL << 20 },
        Payload = new PayloadConfig { Kernel = kernel },
        Serial = new SerialConfig { Mode = ConsoleMode.File, File = serialFile },
        Console = new ConsoleConfig { Mode = ConsoleMode.Off },
    };

    /// <summary>Builds a VM; a build failure fails the test with the whole error chain.</summary>
    private IGuestVm Create(VmConfig config, IGuestEvents events)
    {
        try
        {
            _hypervisor.PrepareConsoles(config);
            return _hypervisor.CreateVm(config, events);
        }
        catch (HypervisorException e)
        {
            Assert.Fail($"{e.Message}: {string.Join(": ", e.Causes)}");
            throw;
        }
    }

    private const string Print = """
            mov $0x3f8, %dx
            mov $msg, %esi
        1:  lodsb
            test %al, %al
            jz 2f
            out %al, %dx
            jmp 1b
        2:
        """;

    [Fact]
    public async Task A_guest_that_prints_and_writes_S5_shows_its_output_and_powers_off()
    {
        KvmRequirement.Check();
        var kernel = TinyGuest.Build(_dir.Path, "hello", Print + """
                mov $0x600, %dx
                mov $0x34, %al
                out %al, %dx
                hlt
            msg: .asciz "hello from kvm\n"
            """);
        var serial = _dir.File("serial.log");
        var events = new RecordingEvents();
        var config = Config(kernel, serial);
        using var vm = Create(config, events);
        vm.Boot();

        var exit = await events.Exit.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(GuestExitKind.Poweroff, exit.Kind);
        Assert.Equal("hello from kvm\n", Wait.ReadShared(serial));
        Assert.Equal(15UL, vm.Counters()["__serial"]["tx_bytes"]);
        vm.Shutdown();
    }

    private const string Forever = """
            mov $0x3f8, %dx
        1:  mov $'.', %al
            out %al, %dx
            jmp 1b
        """;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Pause_stops_the_guest_output_and_resume_restarts_it(uint vcpus)
    {
        KvmRequirement.Check();
        var kernel = TinyGuest.Build(_dir.Path, "forever", Forever);
        var serial = _dir.File("serial.log");
        using var vm = Create(Config(kernel, serial, vcpus), new RecordingEvents());
        vm.Boot();
        Assert.True(Wait.Until(() => new FileInfo(serial).Length > 100, TimeSpan.FromSeconds(20)), "the guest printed nothing");

        vm.Pause();
        var paused = new FileInfo(serial).Length;
        Thread.Sleep(300);
        Assert.Equal(paused, new FileInfo(serial).Length);

        vm.Resume();
        Assert.True(Wait.Until(() => new FileInfo(serial).Length > paused + 100, TimeSpan.FromSeconds(20)), "output did not resume");
        vm.Shutdown();
    }

    [Theory]
    [InlineData("reset register", "mov $0x602, %dx\n mov $1, %al\n out %al, %dx")]
    [InlineData("i8042", "mov $0x64, %dx\n mov $0xfe, %al\n out %al, %dx")]
    [InlineData("triple fault", "lidt zero\n xor %ecx, %ecx\n div %ecx\n zero: .word 0\n .long 0")]
    public async Task A_guest_reset_ends_the_run_with_a_Reset_exit(string how, string code)
    {
        KvmRequirement.Check();
        var kernel = TinyGuest.Build(_dir.Path, "reset", code.Replace("\\n", "\n", StringComparison.Ordinal) + "\n hlt");
        var events = new RecordingEvents();
        using var vm = Create(Config(kernel, _dir.File("serial.log")), events);
        vm.Boot();

        var exit = await events.Exit.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.True(exit.Kind == GuestExitKind.Reset, $"{how}: {exit.Kind} {exit.Reason}");
        vm.Shutdown();
        Assert.Equal(1, events.ExitCount);
    }

    [Fact]
    public void An_NMI_reaches_the_guest_handler()
    {
        KvmRequirement.Check();
        var kernel = TinyGuest.Build(_dir.Path, "nmi", """
                mov $0x80000, %esp
                mov $nmi, %eax
                mov %ax, idt+16
                movw $0x08, idt+18
                movw $0x8E00, idt+20
                shr $16, %eax
                mov %ax, idt+22
                lidt idtr
                mov $0x3f8, %dx
                mov $'R', %al
                out %al, %dx
            1:  hlt
                jmp 1b
            nmi:
                mov $0x3f8, %dx
                mov $'N', %al
                out %al, %dx
                iret
            .balign 8
            idt: .fill 6, 8, 0
            idtr: .word 47
                .long idt
            """);
        var serial = _dir.File("serial.log");
        using var vm = Create(Config(kernel, serial), new RecordingEvents());
        vm.Boot();
        Assert.True(Wait.Until(() => Wait.ReadShared(serial) == "R", TimeSpan.FromSeconds(20)), "the guest did not start");

        vm.Nmi();

        Assert.True(Wait.Until(() => Wait.ReadShared(serial) == "RN", TimeSpan.FromSeconds(20)), $"serial: {Wait.ReadShared(serial)}, vcpu0: {string.Join(", ", vm.Counters()["vcpu0"])}");
        vm.Shutdown();
    }

    [Fact]
    public async Task The_power_button_sets_the_GED_event_the_guest_reads()
    {
        KvmRequirement.Check();
        var kernel = TinyGuest.Build(_dir.Path, "ged", """
            1:  mov 0xfeb00000, %eax
                test $1, %eax
                jz 1b
                mov $0x3f8, %dx
                mov $'P', %al
                out %al, %dx
                mov $0x600, %dx
                mov $0x34, %al
                out %al, %dx
                hlt
            """);
        var serial = _dir.File("serial.log");
        var events = new RecordingEvents();
        using var vm = Create(Config(kernel, serial), events);
        vm.Boot();
        Assert.True(Wait.Until(() => vm.Counters()["__ged"]["exits"] > 3, TimeSpan.FromSeconds(20)), "the guest never read the GED");

        vm.PowerButton();

        var exit = await events.Exit.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(GuestExitKind.Poweroff, exit.Kind);
        Assert.Equal("P", Wait.ReadShared(serial));
        Assert.Equal(1UL, vm.Counters()["__ged"]["events"]);
    }

    public void Dispose()
    {
        _hypervisor.Dispose();
        _dir.Dispose();
    }
}

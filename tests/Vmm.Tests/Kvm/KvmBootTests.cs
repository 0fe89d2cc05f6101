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

    public void Dispose()
    {
        _hypervisor.Dispose();
        _dir.Dispose();
    }
}

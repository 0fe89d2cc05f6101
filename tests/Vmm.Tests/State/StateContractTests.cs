using System.Reflection;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Kvm;
using CloudHypervisor.Vmm.Pci;
using CloudHypervisor.Vmm.State;
using CloudHypervisor.Vmm.Tests.Kvm;
using CloudHypervisor.Vmm.Virtio;
using Serilog;

namespace CloudHypervisor.Vmm.Tests.State;

/// <summary>
/// DESIGN.md "Device model", State: every component saves and restores its own state, and a
/// device added without it fails here, by its type and as a registered device of a real VM.
/// </summary>
public sealed class StateContractTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Every_device_type_saves_its_own_state_or_says_why_it_has_none()
    {
        var devices = typeof(VmmControlLoop).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false })
            .Where(t => typeof(IBusDevice).IsAssignableFrom(t) || typeof(IVirtioDevice).IsAssignableFrom(t) || typeof(PciFunction).IsAssignableFrom(t))
            .ToList();
        var missing = devices
            .Where(t => !typeof(IStateful).IsAssignableFrom(t) && t.GetCustomAttribute<NoOwnStateAttribute>() is null)
            .Select(t => t.FullName)
            .ToList();

        Assert.Contains(typeof(Serial8250), devices);
        Assert.Contains(typeof(VirtioBlock), devices);
        Assert.True(missing.Count == 0, $"device types without state support (implement IStateful or say [NoOwnState(why)]): {string.Join(", ", missing)}");
        Assert.All(devices.Where(t => t.GetCustomAttribute<NoOwnStateAttribute>() is { } a && string.IsNullOrWhiteSpace(a.Reason)), t => Assert.Fail($"{t} has no reason"));
    }

    [Fact]
    public void Every_device_a_VM_registers_has_state_that_round_trips_while_paused()
    {
        KvmRequirement.Check();
        var disk = _dir.File("disk.img");
        using (var image = File.Create(disk))
        {
            image.SetLength(1 << 20);
        }

        var pmem = _dir.File("pmem.img");
        using (var image = File.Create(pmem))
        {
            image.SetLength(2 << 20);
        }

        var serial = _dir.File("serial.log");
        var config = new VmConfig
        {
            Memory = new MemoryConfig { Size = 32UL << 20 },
            Payload = new PayloadConfig { Kernel = BundledGuestTests.GuestPath("ticks") },
            Serial = new SerialConfig { Mode = ConsoleMode.File, File = serial },
            Console = new ConsoleConfig { Mode = ConsoleMode.Null },
            Disks = [new DiskConfig { Path = disk, Id = "_disk0" }],
            Pmem = [new PmemConfig { File = pmem, Id = "_pmem1" }],
            Balloon = new BalloonConfig { Size = 1 << 20, Id = "__balloon" },
        };
        using var hypervisor = new KvmHypervisor(new LoggerConfiguration().CreateLogger());
        using var vm = (KvmGuestVm)hypervisor.CreateVm(config, new RecordingEvents());
        vm.Boot();
        Assert.True(Wait.Until(() => Wait.ReadShared(serial).Contains("ticks: 1", StringComparison.Ordinal), TimeSpan.FromSeconds(30)), "ticks never ran");
        vm.Pause();

        var registered = vm.Registry.Devices;
        Assert.Contains(registered, d => d.Id == "_virtio-pci-_disk0");
        Assert.Contains(registered, d => d.Id == "__rng");
        Assert.Contains(registered, d => d.Id == "__console");
        Assert.Contains(registered, d => d.Id == "_pmem1");
        Assert.Contains(registered, d => d.Id == "__balloon");
        var without = registered.Where(d => d.State is null).Select(d => d.Id).ToList();
        Assert.True(without.Count == 0, $"registered devices without state: {string.Join(", ", without)}");
        foreach (var device in registered)
        {
            var saved = device.State!.SaveState();
            device.State.RestoreState(saved);
            Assert.Equal(saved, device.State.SaveState());
        }

        var tree = vm.SaveState();
        Assert.Equal(["cpu-manager", "device-manager", "memory-manager"], tree.Snapshots.Keys.Order());
        Assert.Equal(registered.Select(d => d.Id).Order(), tree.Child("device-manager").Snapshots.Keys.Order());
        Assert.StartsWith("{\"Kvm\":{", tree.Child("cpu-manager").Child("0").State(), StringComparison.Ordinal);

        // Restoring in place left a VM that still runs.
        var before = Wait.ReadShared(serial).Length;
        vm.Resume();
        Assert.True(Wait.Until(() => Wait.ReadShared(serial).Length > before, TimeSpan.FromSeconds(30)), "ticks stopped after the states were restored");
    }

    [Fact]
    public void A_state_of_another_device_or_of_another_size_is_refused_naming_the_field()
    {
        var serialState = new Serial8250(new NoIrq(), new Devices.Console.NullConsole()).SaveState();
        var cmos = new Cmos(32UL << 20, 0);
        var error = Assert.Throws<StateFormatException>(() => cmos.RestoreState(serialState));
        Assert.Contains("unknown field", error.Message, StringComparison.Ordinal);
        var shortNvram = Assert.Throws<StateFormatException>(() => cmos.RestoreState("""{"index":1,"nvram":"AAAA"}"""));
        Assert.Equal("nvram", shortNvram.Field);
        Assert.Equal("is 3 bytes, expected 128", shortNvram.Message);
    }

    private sealed class NoIrq : IIrqLine
    {
        public void Pulse()
        {
        }
    }
}

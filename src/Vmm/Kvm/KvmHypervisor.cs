using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Acpi;
using CloudHypervisor.Vmm.Boot;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;
using Serilog;

namespace CloudHypervisor.Vmm.Kvm;

/// <summary>
/// The KVM backend (feature name "kvm"). Each <see cref="CreateVm(VmConfig, IGuestEvents, CancellationToken)"/> opens <c>/dev/kvm</c>, so a
/// VMM starts and answers vmm.ping on a host without KVM; only building a VM fails, with an error
/// that names the device. Console endpoints (PTY, socket, file, tty) belong to the hypervisor for
/// the life of a config, so a reboot keeps them (see <see cref="ConsoleSet"/>).
/// </summary>
public sealed class KvmHypervisor : IHypervisor, IDisposable
{
    private readonly ILogger _logger;
    private readonly string _devicePath;
    private readonly ConsoleSet _consoles;

    /// <param name="logger">Where the backend logs (guest exits, payload loading).</param>
    /// <param name="devicePath">The KVM device; tests point it elsewhere to check the error.</param>
    public KvmHypervisor(ILogger logger, string devicePath = KvmSystem.DevicePath)
    {
        _logger = logger;
        _devicePath = devicePath;
        _consoles = new ConsoleSet();
    }

    public string Name => "kvm";

    public void PrepareConsoles(VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        try
        {
            _consoles.Prepare(config);
        }
        catch (Exception e) when (e is KvmException or IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException or ArgumentException)
        {
            throw new HypervisorException("Error creating console devices", [e.Message]);
        }
    }

    public IGuestVm CreateVm(VmConfig config, IGuestEvents events) => CreateVm(config, events, CancellationToken.None);

    public IGuestVm CreateVm(VmConfig config, IGuestEvents events, CancellationToken cancellationToken) =>
        Create(config, events, null, cancellationToken);

    public IGuestVm RestoreVm(SnapshotImage image, IGuestEvents events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Create(image.Config, events, image, cancellationToken);
    }

    private KvmGuestVm Create(VmConfig config, IGuestEvents events, SnapshotImage? image, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(events);

        KvmSystem system;
        try
        {
            system = KvmSystem.Open(_devicePath);
        }
        catch (KvmException e)
        {
            throw new HypervisorException($"Cannot open {_devicePath} (is KVM available?)", [e.Message]);
        }

        try
        {
            PrepareConsoles(config);
            return KvmVmBuilder.Build(system, config, events, _consoles, _logger, image, cancellationToken);
        }
        catch (StateFormatException e) when (image is not null)
        {
            system.Dispose();
            throw new HypervisorException(InternalApi.ApiErrorKind.InvalidArgument, "Cannot restore VM", [SnapshotFiles.StateError(e)]);
        }
        catch (Exception e) when (image is not null && e is IOException or UnauthorizedAccessException)
        {
            system.Dispose();
            throw new HypervisorException(InternalApi.ApiErrorKind.InvalidArgument, "Cannot restore VM", [$"{SnapshotFiles.MemoryFile}: {e.Message}"]);
        }
        catch (Exception e) when (e is KvmException or BootImageException or ArgumentException)
        {
            system.Dispose();
            throw new HypervisorException(image is null ? "Error building the VM" : "Cannot restore VM", [e.Message]);
        }
        catch
        {
            system.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Closes the console endpoints (PTYs, sockets, files) kept for the config; call it at
    /// vm.delete so the next vm.create gets fresh ones (a new PTY, a truncated file).
    /// </summary>
    public void ReleaseConsoles() => _consoles.Dispose();

    public void Dispose() => _consoles.Dispose();
}

/// <summary>Builds a <see cref="KvmGuestVm"/> from a config: VM fd, irqchip, PIT, memory, payload, devices, vCPUs.</summary>
internal static class KvmVmBuilder
{
    /// <summary>
    /// Builds the VM of <paramref name="config"/>. With <paramref name="image"/> (vm.restore) the
    /// payload is not loaded: RAM comes from memory-ranges, every component's state from
    /// state.json, and the vCPU threads start parked; otherwise the boot vCPU is set up to run.
    /// </summary>
    public static KvmGuestVm Build(KvmSystem system, VmConfig config, IGuestEvents events, ConsoleSet consoles, ILogger logger, SnapshotImage? image, CancellationToken cancellationToken)
    {
        // Validation bounds max_vcpus by the MADT's 254; the host's KVM may allow fewer.
        var limit = Math.Min(system.MaxVcpus, AcpiTables.MaxVcpus);
        if (config.Cpus.BootVcpus < 1 || config.Cpus.BootVcpus > (uint)limit)
        {
            throw new ArgumentException($"cpus: boot_vcpus {config.Cpus.BootVcpus} is outside 1..{limit}, the vCPUs this host's KVM and the MADT allow");
        }

        var vcpuCount = (int)config.Cpus.BootVcpus;

        if (config.Memory.Zones is { Count: > 0 })
        {
            throw new ArgumentException("memory zones are not supported by the KVM backend yet");
        }

        var payload = config.Payload ?? (image is null ? throw new BootImageException("no payload: give a kernel") : new PayloadConfig());
        var vm = system.CreateVm();
        GuestMemory? memory = null;
        KvmGuestVm? guest = null;
        UserfaultfdServer? onDemand = null;
        try
        {
            // Intel VMX needs these pages for real-mode emulation; other implementations ignore them.
            vm.SetTssAddress(KvmVmFd.TssAddress);
            vm.SetIdentityMapAddress(KvmVmFd.IdentityMapAddress);
            vm.CreateIrqChip();
            vm.CreatePit2();

            memory = image?.FilledMemory ?? GuestMemory.Create(config.Memory.Size, config.Memory.Shared, config.Memory.Hugepages, config.Memory.HugepageSize);
            for (var slot = 0; slot < memory.Regions.Count; slot++)
            {
                var region = memory.Regions[slot];
                vm.SetUserMemoryRegion((uint)slot, region.GuestAddress, region.Size, memory.HostAddress + (nint)region.HostOffset);
            }

            // Upstream's prefault (MAP_POPULATE): every page of RAM is faulted in before the guest runs.
            if (config.Memory.Prefault && image is null)
            {
                memory.Populate();
            }

            var pci = PciSegmentLayout.For(config, memory.Regions.Max(r => r.End));
            BootEntry? entry = null;
            if (image is null)
            {
                entry = PayloadLoader.Load(
                    memory,
                    new BootPayload(payload.Kernel, payload.Cmdline, payload.Initramfs, payload.Firmware),
                    AcpiTables.Build(vcpuCount, pci),
                    cancellationToken);
                logger.Information("Loaded {Kernel} as {Format}, entry 0x{Entry:X}", payload.Kernel ?? "", entry.Format, entry.EntryPoint);
            }
            else if (image.FilledMemory is null)
            {
                onDemand = KvmRestore.FillMemory(memory, image, logger, cancellationToken);
            }
            else
            {
                KvmRestore.CheckLayout(memory, image);
            }

            KvmGuestVm? self = null;
            var interrupts = new KvmInterrupts(vm);
            var registry = new DeviceRegistry();
            var devices = new KvmPlatformDevices(
                interrupts,
                registry,
                memory,
                consoles.Serial,
                consoles.DebugConsole,
                config.DebugConsole.Iobase ?? VmConfig.DefaultDebugConsoleIobase,
                new KvmIoApicState(vm),
                powerOff: () => self?.ReportExit(new GuestExit(GuestExitKind.Poweroff, "ACPI sleep control: S5")),
                reset: () => self?.ReportExit(new GuestExit(GuestExitKind.Reset, "reset requested by the guest")));
            guest = self = new KvmGuestVm(system, vm, memory, vcpuCount, events, logger, devices) { MemoryServer = onDemand };
            guest.DeviceManager = new DeviceManager(config, memory, interrupts, interrupts, devices.Pio, devices.Mmio, registry, events, logger, consoles.Console,
                new KvmMemorySlots(vm, memory.Regions.Count));
            guest.DeviceManager.NotifyGuest = devices.Ged.PciHotplug;

            var supported = system.GetSupportedCpuid();
            var mmapSize = system.VcpuMmapSize;
            for (var id = 0; id < vcpuCount; id++)
            {
                var fd = vm.CreateVcpu(id, mmapSize);
                guest.AddVcpu(fd);
                if (entry is null)
                {
                    continue;
                }

                fd.SetCpuid(CpuidTopology.ForVcpu(supported, id, vcpuCount));
                fd.SetMsrs(BootCpu.BootMsrs());
                BootCpu.SetupLapic(fd, bootVcpu: id == 0);
                if (id == 0)
                {
                    BootCpu.SetupBootVcpu(fd, entry);
                }

                // The other vCPUs stay in KVM's wait-for-SIPI state until the guest starts them.
            }

            if (image is not null)
            {
                KvmRestore.Restore(guest, image.State, supported, logger);
                guest.StartPaused();
            }

            return guest;
        }
        catch
        {
            if (guest is not null)
            {
                guest.Dispose();
            }
            else
            {
                onDemand?.Dispose();
                memory?.Dispose();
                vm.Dispose();
            }

            throw;
        }
    }
}

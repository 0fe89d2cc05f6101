using System.Text.Json;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Devices.Console;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.Platform;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Kvm;

/// <summary>
/// The legacy platform devices of one VM on their <see cref="PlatformLayout"/> ports and
/// addresses, with the device tree and counters vm.info and vm.counters report. Device ids follow
/// upstream's naming for built-in devices (<c>__serial</c>, <c>__debug_console</c>, <c>__ioapic</c>).
/// </summary>
internal sealed class KvmPlatformDevices : IDisposable
{
    public const string SerialId = "__serial";
    public const string DebugConsoleId = "__debug_console";
    public const string IoApicId = "__ioapic";
    public const string I8042Id = "__i8042";
    public const string CmosId = "__cmos";
    public const string AcpiPmId = "__acpi_pm";
    public const string GedId = "__ged";

    private readonly ConsoleEndpoint? _serialEndpoint;
    private readonly IStateful _ioApic;
    private Cmos? _cmos;

    public KvmPlatformDevices(
        IInterruptController interrupts,
        DeviceRegistry registry,
        GuestMemory memory,
        ConsoleEndpoint? serial,
        ConsoleEndpoint? debugConsole,
        ushort debugConsolePort,
        IStateful ioApic,
        Action powerOff,
        Action reset)
    {
        Registry = registry;
        _ioApic = ioApic;
        AddNode(IoApicId, MmioRange(PlatformLayout.IoApicStart, 0x1000));

        if (serial is not null)
        {
            Serial = new Serial8250(interrupts.Line(PlatformLayout.Com1Irq), serial.Backend);
            Pio.Register(PlatformLayout.Com1Port, 8, SerialId, Serial);
            AddNode(SerialId, PioRange(PlatformLayout.Com1Port, 8), LegacyIrq(PlatformLayout.Com1Irq));
            _serialEndpoint = serial;
        }

        if (debugConsole is not null)
        {
            DebugPort = new DebugPort(debugConsole.Backend);
            Pio.Register(debugConsolePort, 1, DebugConsoleId, DebugPort);
            AddNode(DebugConsoleId, PioRange(debugConsolePort, 1));
        }

        Pio.Register(PlatformLayout.I8042CommandPort, 1, I8042Id, new I8042(reset));
        AddNode(I8042Id, PioRange(PlatformLayout.I8042CommandPort, 1));

        var low = memory.Regions[0].Size;
        var high = memory.Size - low;
        _cmos = new Cmos(low, high);
        Pio.Register(PlatformLayout.CmosIndexPort, 2, CmosId, _cmos);
        AddNode(CmosId, PioRange(PlatformLayout.CmosIndexPort, 2));

        Pio.Register(PlatformLayout.SleepControlPort, 3, AcpiPmId, new AcpiPmRegisters(powerOff, reset));
        AddNode(AcpiPmId, PioRange(PlatformLayout.SleepControlPort, 3));

        Ged = new GedDevice(interrupts.Line(PlatformLayout.GedIrq));
        Mmio.Register(PlatformLayout.GedStart, PlatformLayout.GedSize, GedId, Ged);
        AddNode(GedId, MmioRange(PlatformLayout.GedStart, PlatformLayout.GedSize), LegacyIrq(PlatformLayout.GedIrq));
    }

    public IoBus Pio { get; } = new();

    public IoBus Mmio { get; } = new();

    public Serial8250? Serial { get; }

    public DebugPort? DebugPort { get; }

    public GedDevice Ged { get; }

    public DeviceRegistry Registry { get; }

    /// <summary>Routes the serial console's input to this VM's UART.</summary>
    public void ConnectInput() => _serialEndpoint?.RouteInput(bytes => Serial?.Enqueue(bytes));

    public void DisconnectInput()
    {
        _serialEndpoint?.RouteInput(null);
        Serial?.CloseInput();
    }

    private void AddNode(string id, params JsonElement[] resources) =>
        Registry.Add(new RegisteredDevice(id)
        {
            Resources = () => resources,
            Counters = id switch
            {
                SerialId => () => new Dictionary<string, ulong> { ["tx_bytes"] = Serial!.TxBytes, ["rx_bytes"] = Serial.RxBytes },
                DebugConsoleId => () => new Dictionary<string, ulong> { ["tx_bytes"] = DebugPort!.TxBytes },
                GedId => () => new Dictionary<string, ulong> { ["events"] = Ged.Events },
                _ => null,
            },
            State = id switch
            {
                SerialId => Serial,
                IoApicId => _ioApic,
                CmosId => _cmos,
                GedId => Ged,
                _ => NoState.Instance,
            },
            Pausable = id == SerialId ? Serial : null,
        });

    private static JsonElement PioRange(ulong @base, ulong size) => DeviceResources.Pio(@base, size);

    private static JsonElement MmioRange(ulong @base, ulong size) => DeviceResources.Mmio(@base, size);

    private static JsonElement LegacyIrq(int irq) => DeviceResources.LegacyIrq(irq);

    public void Dispose() => DisconnectInput();
}

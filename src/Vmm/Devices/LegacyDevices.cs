using CloudHypervisor.Vmm.Devices.Console;
using CloudHypervisor.Vmm.Platform;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Devices;

/// <summary>The GED's pending event bits, not yet read by the guest.</summary>
public sealed record GedState
{
    public uint Pending { get; init; }
}

/// <summary>The debug console port (Bochs/QEMU 0xE9 convention): bytes written go to the console; reads return 0xE9.</summary>
[NoOwnState("write-only: bytes go straight to the console")]
public sealed class DebugPort(IConsoleBackend output) : IBusDevice
{
    private long _txBytes;

    public ulong TxBytes => (ulong)Interlocked.Read(ref _txBytes);

    public void Read(ulong offset, Span<byte> data) => data.Fill(0xE9);

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        output.Write(data);
        Interlocked.Add(ref _txBytes, data.Length);
    }
}

/// <summary>
/// The part of the i8042 keyboard controller guests use to reboot: command 0xFE on port 0x64
/// pulses the CPU reset line. No keyboard: the status register says nothing is pending.
/// </summary>
[NoOwnState("only the reset command is modelled; it keeps nothing")]
public sealed class I8042(Action reset) : IBusDevice
{
    public void Read(ulong offset, Span<byte> data) => data.Clear();

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        // Registered at the command port; offset 0 is 0x64.
        if (offset == 0 && data.Length == 1 && data[0] == PlatformLayout.I8042ResetCommand)
        {
            reset();
        }
    }
}

/// <summary>
/// ACPI hardware-reduced sleep control, sleep status and reset registers (FADT SLEEP_CONTROL_REG,
/// SLEEP_STATUS_REG, RESET_REG) on three consecutive ports from <see cref="PlatformLayout.SleepControlPort"/>.
/// Writing SLP_EN with SLP_TYP 5 (S5) powers off; writing the reset value resets.
/// </summary>
[NoOwnState("the registers act on write and read as zero")]
public sealed class AcpiPmRegisters(Action powerOff, Action reset) : IBusDevice
{
    private const byte SLP_EN = 1 << 5;

    public void Read(ulong offset, Span<byte> data) => data.Clear();

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length != 1)
        {
            return;
        }

        var port = PlatformLayout.SleepControlPort + offset;
        if (port == PlatformLayout.SleepControlPort && (data[0] & SLP_EN) != 0 && ((data[0] >> 2) & 0x7) == 5)
        {
            powerOff();
        }
        else if (port == PlatformLayout.ResetPort && data[0] == PlatformLayout.ResetValue)
        {
            reset();
        }
    }
}

/// <summary>
/// The ACPI Generic Event Device register (see <see cref="PlatformLayout.GedStart"/>): a 32-bit
/// register of pending event bits, cleared when read. The DSDT's GED _EVT method reads it on
/// GED IRQ and notifies the power button.
/// </summary>
public sealed class GedDevice(IIrqLine irq) : IBusDevice, IStateful
{
    private uint _pending;
    private long _events;

    public ulong Events => (ulong)Interlocked.Read(ref _events);

    public void PowerButton()
    {
        Interlocked.Or(ref _pending, PlatformLayout.GedEventPowerButton);
        Interlocked.Increment(ref _events);
        irq.Pulse();
    }

    /// <summary>PCI devices were added or are to be removed: the DSDT's _EVT runs \_SB_.PHPR.PSCN.</summary>
    public void PciHotplug()
    {
        Interlocked.Or(ref _pending, PlatformLayout.GedEventPciHotplug);
        Interlocked.Increment(ref _events);
        irq.Pulse();
    }

    public string SaveState() =>
        StateJson.Write(new GedState { Pending = Volatile.Read(ref _pending) }, StateJsonContext.Default.GedState);

    public void RestoreState(string state) =>
        Volatile.Write(ref _pending, StateJson.Read(state, StateJsonContext.Default.GedState).Pending);

    public void Read(ulong offset, Span<byte> data)
    {
        var value = offset == 0 ? Interlocked.Exchange(ref _pending, 0) : 0;
        Span<byte> bytes = stackalloc byte[4];
        BitConverter.TryWriteBytes(bytes, value);
        data.Clear();
        bytes[..Math.Min(4, data.Length)].CopyTo(data);
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
    }
}

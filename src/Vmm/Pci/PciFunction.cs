using System.Buffers.Binary;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Pci;

/// <summary>A function's saved configuration space (upstream's <c>pci_configuration</c>): the 4 KiB and each BAR's address.</summary>
public sealed record PciFunctionState
{
    public required byte[] Config { get; init; }

    /// <summary>The address programmed in BAR 0..5 (0 where the function has none).</summary>
    public required ulong[] Bars { get; init; }
}

/// <summary>A memory BAR of a PCI function: its size (a power of two), width and where it is mapped.</summary>
public sealed class PciBar(int index, ulong size, bool is64Bit, bool prefetchable, IBusDevice handler)
{
    public int Index { get; } = index;

    public ulong Size { get; } = size;

    public bool Is64Bit { get; } = is64Bit;

    public bool Prefetchable { get; } = prefetchable;

    public IBusDevice Handler { get; } = handler;

    /// <summary>The address programmed in the BAR register(s); what the guest sees.</summary>
    public ulong Address { get; internal set; }

    /// <summary>Where the BAR is on the MMIO bus now; null while memory decoding is off or the address is unusable.</summary>
    public ulong? MappedAt { get; internal set; }
}

/// <summary>
/// One PCI function with a type-0 header in a 4 KiB (ECAM-sized) configuration space. Registers
/// keep a write mask, so read-only fields stay as built; BAR registers are decoded here (sizing
/// by writing all ones, 64-bit BARs as register pairs), and changes to a BAR or to the command
/// register's memory-space bit are passed to the segment, which moves the BAR on the MMIO bus.
/// Config accesses come from vCPU threads and are serialized per function.
/// </summary>
public abstract class PciFunction
{
    public const int ConfigSize = 4096;
    public const int CommandRegister = 0x04;
    public const ushort CommandMemorySpace = 0x2;
    public const ushort CommandBusMaster = 0x4;
    private const int BarRegister0 = 0x10;
    private const int CapabilitiesPointer = 0x34;
    private const ushort StatusCapabilitiesList = 0x10;

    private readonly byte[] _config = new byte[ConfigSize];
    private readonly byte[] _writable = new byte[ConfigSize];
    private readonly PciBar?[] _bars = new PciBar?[6];
    private readonly Lock _lock = new();
    private int _lastCapability;

    protected PciFunction(ushort vendorId, ushort deviceId, byte classCode, byte subclass, byte revision, ushort subsystemVendorId, ushort subsystemId)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x00), vendorId);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x02), deviceId);
        _config[0x08] = revision;
        _config[0x0A] = subclass;
        _config[0x0B] = classCode;
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x2C), subsystemVendorId);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x2E), subsystemId);
        // Command: I/O, memory, bus master, INTx disable are writable; interrupt line is scratch.
        BinaryPrimitives.WriteUInt16LittleEndian(_writable.AsSpan(CommandRegister), 0x0407);
        _writable[0x3C] = 0xFF;
        VendorId = vendorId;
        DeviceId = deviceId;
    }

    public ushort VendorId { get; }

    public ushort DeviceId { get; }

    /// <summary>Set by the segment when the function is placed: told about BAR and command changes.</summary>
    internal Action<PciFunction>? DecodingChanged { get; set; }

    public IEnumerable<PciBar> Bars => _bars.OfType<PciBar>();

    public ushort Command => BinaryPrimitives.ReadUInt16LittleEndian(_config.AsSpan(CommandRegister));

    /// <summary>Declares a memory BAR; sizes below 4 KiB are rounded up so a BAR never shares a page.</summary>
    protected PciBar AddBar(int index, ulong size, bool is64Bit, bool prefetchable, IBusDevice handler)
    {
        size = Math.Max(size, 0x1000);
        if (!ulong.IsPow2(size))
        {
            throw new ArgumentException($"BAR size 0x{size:X} is not a power of two", nameof(size));
        }

        var bar = new PciBar(index, size, is64Bit, prefetchable, handler);
        _bars[index] = bar;
        if (is64Bit)
        {
            _bars[index + 1] = null;
        }

        return bar;
    }

    /// <summary>Adds a capability (id, next, then <paramref name="body"/>) and returns its offset; <paramref name="writableBody"/> masks the body.</summary>
    protected int AddCapability(byte id, ReadOnlySpan<byte> body, ReadOnlySpan<byte> writableBody = default)
    {
        var offset = _lastCapability == 0 ? 0x40 : Align4(_lastCapability + 2 + CapabilityLength(_lastCapability));
        if (offset + 2 + body.Length > 0x100)
        {
            throw new InvalidOperationException("PCI capabilities do not fit in the 256-byte header");
        }

        _config[offset] = id;
        _config[offset + 1] = 0;
        body.CopyTo(_config.AsSpan(offset + 2));
        writableBody.CopyTo(_writable.AsSpan(offset + 2));
        _capabilityLengths[offset] = body.Length;
        if (_lastCapability == 0)
        {
            _config[CapabilitiesPointer] = (byte)offset;
            BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x06), StatusCapabilitiesList);
        }
        else
        {
            _config[_lastCapability + 1] = (byte)offset;
        }

        _lastCapability = offset;
        return offset;
    }

    private readonly Dictionary<int, int> _capabilityLengths = [];

    private int CapabilityLength(int offset) => _capabilityLengths[offset];

    private static int Align4(int value) => (value + 3) & ~3;

    /// <summary>Reads configuration space; accesses beyond it read as all ones.</summary>
    public void ReadConfig(int offset, Span<byte> data)
    {
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                var at = offset + i;
                data[i] = at < ConfigSize ? ReadByte(at) : (byte)0xFF;
            }
        }
    }

    private byte ReadByte(int at)
    {
        if (at is >= BarRegister0 and < BarRegister0 + 24)
        {
            var register = (at - BarRegister0) / 4;
            var value = BarRegisterValue(register);
            return (byte)(value >> (8 * ((at - BarRegister0) % 4)));
        }

        return _config[at];
    }

    private uint BarRegisterValue(int register)
    {
        if (_bars[register] is { } bar)
        {
            var flags = (bar.Is64Bit ? 0x4u : 0) | (bar.Prefetchable ? 0x8u : 0);
            return ((uint)bar.Address & ~0xFu) | flags;
        }

        if (register > 0 && _bars[register - 1] is { Is64Bit: true } low)
        {
            return (uint)(low.Address >> 32);
        }

        return 0;
    }

    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        var decodingChanged = false;
        lock (_lock)
        {
            var oldCommand = Command;
            for (var i = 0; i < data.Length; i++)
            {
                var at = offset + i;
                if (at >= ConfigSize)
                {
                    break;
                }

                if (at is >= BarRegister0 and < BarRegister0 + 24)
                {
                    decodingChanged |= WriteBarByte(at, data[i]);
                    continue;
                }

                _config[at] = (byte)((_config[at] & ~_writable[at]) | (data[i] & _writable[at]));
            }

            decodingChanged |= (oldCommand ^ Command) != 0;
        }

        OnConfigWritten(offset, data.Length);
        if (decodingChanged)
        {
            DecodingChanged?.Invoke(this);
        }
    }

    private bool WriteBarByte(int at, byte value)
    {
        var register = (at - BarRegister0) / 4;
        var shift = 8 * ((at - BarRegister0) % 4);
        if (_bars[register] is { } bar)
        {
            // Low register: the bits below the size are hard-wired to zero (so all ones reads back the size).
            var low = (uint)bar.Address;
            low = (low & ~(0xFFu << shift)) | ((uint)value << shift);
            low &= ~(uint)(bar.Size - 1) & ~0xFu;
            var address = (bar.Address & 0xFFFF_FFFF_0000_0000) | low;
            var changed = address != bar.Address;
            bar.Address = bar.Is64Bit ? address : (uint)address;
            return changed;
        }

        if (register > 0 && _bars[register - 1] is { Is64Bit: true } pair)
        {
            var high = (uint)(pair.Address >> 32);
            high = (high & ~(0xFFu << shift)) | ((uint)value << shift);
            if (pair.Size > 0x1_0000_0000)
            {
                high &= ~(uint)((pair.Size - 1) >> 32);
            }

            var address = ((ulong)high << 32) | (uint)pair.Address;
            var changed = address != pair.Address;
            pair.Address = address;
            return changed;
        }

        return false;
    }

    /// <summary>Places a BAR at <paramref name="address"/> as firmware would before the guest runs.</summary>
    internal void ProgramBar(PciBar bar, ulong address)
    {
        lock (_lock)
        {
            bar.Address = address;
        }
    }

    /// <summary>Enables memory decoding and bus mastering as firmware leaves a device it configured.</summary>
    internal void EnableDecoding()
    {
        lock (_lock)
        {
            var command = (ushort)(Command | CommandMemorySpace | CommandBusMaster);
            BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(CommandRegister), command);
        }
    }

    /// <summary>Raw access for capabilities the function implements itself (e.g. the MSI-X control word).</summary>
    protected ushort ReadConfigWord(int offset)
    {
        lock (_lock)
        {
            return BinaryPrimitives.ReadUInt16LittleEndian(_config.AsSpan(offset));
        }
    }

    /// <summary>Configuration space and BAR addresses as they are now (the VM is paused).</summary>
    public PciFunctionState SaveConfigState()
    {
        lock (_lock)
        {
            return new PciFunctionState { Config = [.. _config], Bars = [.. _bars.Select(b => b?.Address ?? 0)] };
        }
    }

    /// <summary>
    /// Puts back a saved configuration space and BAR addresses, then lets the segment map the BARs
    /// where they were. The saved function must be the same device (vendor and device id).
    /// </summary>
    public void RestoreConfigState(PciFunctionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Config is not { Length: ConfigSize })
        {
            throw new StateFormatException("config", $"is {state.Config?.Length ?? 0} bytes, expected {ConfigSize}");
        }

        if (state.Bars is not { Length: 6 })
        {
            throw new StateFormatException("bars", $"has {state.Bars?.Length ?? 0} entries, expected 6");
        }

        var vendor = BinaryPrimitives.ReadUInt16LittleEndian(state.Config);
        var device = BinaryPrimitives.ReadUInt16LittleEndian(state.Config.AsSpan(2));
        if (vendor != VendorId || device != DeviceId)
        {
            throw new StateFormatException("config", $"is of PCI device {vendor:x4}:{device:x4}, this one is {VendorId:x4}:{DeviceId:x4}");
        }

        lock (_lock)
        {
            state.Config.CopyTo(_config, 0);
            for (var i = 0; i < _bars.Length; i++)
            {
                if (_bars[i] is { } bar)
                {
                    bar.Address = state.Bars[i];
                }
            }
        }

        OnConfigRestored();
        DecodingChanged?.Invoke(this);
    }

    /// <summary>Called after <see cref="RestoreConfigState"/> copied the config space, before the BARs are mapped.</summary>
    protected virtual void OnConfigRestored()
    {
    }

    /// <summary>Called after every config write, outside the function's lock.</summary>
    protected virtual void OnConfigWritten(int offset, int length)
    {
    }

    /// <summary>Called when a BAR was mapped, moved or unmapped on the MMIO bus (e.g. to move ioeventfds).</summary>
    protected internal virtual void OnBarMapped(PciBar bar, ulong? oldAddress, ulong? newAddress)
    {
    }
}

using System.Buffers.Binary;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Pci;

/// <summary>The PCI host bridge every segment has at 00:00.0 (Intel 8086:0d57, class bridge/host, as upstream).</summary>
[NoOwnState("its configuration space is saved with its segment in the device manager's state")]
public sealed class PciHostBridge() : PciFunction(0x8086, 0x0D57, classCode: 0x06, subclass: 0x00, revision: 0, 0, 0);

/// <summary>A guest-physical address window BARs are placed in, allocated upwards with natural alignment.</summary>
public sealed class PciWindow(ulong start, ulong size)
{
    private ulong _next = start;

    public ulong Start { get; } = start;

    public ulong Size { get; } = size;

    public ulong End => Start + Size;

    /// <summary>The next free, size-aligned address for a BAR of <paramref name="size"/>, or null when the window is full.</summary>
    public ulong? Allocate(ulong size) => Allocate(size, size);

    /// <summary>The next free address aligned to <paramref name="alignment"/> (a power of two) for <paramref name="size"/> bytes, or null when the window is full.</summary>
    public ulong? Allocate(ulong size, ulong alignment)
    {
        var address = (_next + alignment - 1) & ~(alignment - 1);
        if (address < _next || address + size > End)
        {
            return null;
        }

        _next = address + size;
        return address;
    }

    public bool Contains(ulong address, ulong size) => address >= Start && size <= Size && address - Start <= Size - size;
}

/// <summary>
/// One PCI segment (domain): bus 0 with 32 device slots of one function each, its ECAM region,
/// and the 32- and 64-bit windows its BARs live in. Slot 0 is the host bridge. A function's BARs
/// are mapped on the MMIO bus while its command register enables memory decoding and the BAR
/// lies inside one of the windows; the guest may move them, and the bus follows (copy-on-write,
/// so vCPUs never take a lock to dispatch).
/// </summary>
public sealed class PciSegment
{
    public const int Slots = 32;

    private readonly PciFunction?[] _slots = new PciFunction?[Slots];
    private readonly IoBus _mmio;
    private readonly Lock _mapping = new();

    public PciSegment(ushort id, ulong ecamBase, PciWindow mmio32, PciWindow mmio64, IoBus mmio)
    {
        Id = id;
        EcamBase = ecamBase;
        Mmio32 = mmio32;
        Mmio64 = mmio64;
        _mmio = mmio;
        Place(new PciHostBridge(), 0);
    }

    public ushort Id { get; }

    /// <summary>Guest-physical base of this segment's ECAM region (bus 0 only: 1 MiB).</summary>
    public ulong EcamBase { get; }

    public PciWindow Mmio32 { get; }

    public PciWindow Mmio64 { get; }

    public PciFunction? this[int slot] => Volatile.Read(ref _slots[slot]);

    /// <summary>The host bridge in slot 0.</summary>
    public PciFunction HostBridge => this[0]!;

    /// <summary>"SSSS:BB:DD.F" as upstream prints a BDF (pci/src/lib.rs).</summary>
    public string Bdf(int slot) => $"{Id:x4}:00:{slot:x2}.0";

    /// <summary>
    /// Puts <paramref name="function"/> in <paramref name="requestedSlot"/> (or the first free slot),
    /// assigns its BARs in the 32-bit window (the 64-bit one when that is full) and enables
    /// decoding, as firmware would. Returns the slot; throws <see cref="ArgumentException"/> for a
    /// taken or invalid slot and <see cref="InvalidOperationException"/> when the windows are full.
    /// </summary>
    public int Add(PciFunction function, int? requestedSlot)
    {
        ArgumentNullException.ThrowIfNull(function);
        int slot;
        if (requestedSlot is { } wanted)
        {
            if (wanted is < 1 or >= Slots)
            {
                throw new ArgumentException($"PCI device id {wanted} is outside 1..{Slots - 1} (slot 0 is the host bridge)");
            }

            if (this[wanted] is not null)
            {
                throw new ArgumentException($"PCI slot {Bdf(wanted)} is already in use");
            }

            slot = wanted;
        }
        else
        {
            slot = Array.FindIndex(_slots, 1, s => s is null);
            if (slot < 0)
            {
                throw new InvalidOperationException($"PCI segment {Id} has no free slot");
            }
        }

        foreach (var bar in function.Bars)
        {
            var address = Mmio32.Allocate(bar.Size) ?? (bar.Is64Bit ? Mmio64.Allocate(bar.Size) : null)
                ?? throw new InvalidOperationException($"PCI segment {Id}: no room for a BAR of 0x{bar.Size:X} bytes");
            function.ProgramBar(bar, address);
        }

        function.EnableDecoding();
        Place(function, slot);
        return slot;
    }

    private void Place(PciFunction function, int slot)
    {
        function.DecodingChanged = UpdateMappings;
        Volatile.Write(ref _slots[slot], function);
        UpdateMappings(function);
    }

    /// <summary>Removes the function in <paramref name="slot"/> and unmaps its BARs.</summary>
    public PciFunction? Remove(int slot)
    {
        var function = Interlocked.Exchange(ref _slots[slot], null);
        if (function is null)
        {
            return null;
        }

        lock (_mapping)
        {
            foreach (var bar in function.Bars)
            {
                if (bar.MappedAt is { } at)
                {
                    _mmio.Unregister(at);
                    bar.MappedAt = null;
                    function.OnBarMapped(bar, at, null);
                }
            }
        }

        function.DecodingChanged = null;
        return function;
    }

    private void UpdateMappings(PciFunction function)
    {
        lock (_mapping)
        {
            var decoding = (function.Command & PciFunction.CommandMemorySpace) != 0;
            foreach (var bar in function.Bars)
            {
                var wanted = decoding && (Mmio32.Contains(bar.Address, bar.Size) || Mmio64.Contains(bar.Address, bar.Size))
                    ? bar.Address
                    : (ulong?)null;
                var current = bar.MappedAt;
                if (wanted == current)
                {
                    continue;
                }

                // The guest moves its own BAR: accesses while it does so are undefined on real hardware too.
                if (current is { } old)
                {
                    _mmio.Unregister(old);
                }

                if (wanted is { } fresh)
                {
                    if (_mmio.IsFree(fresh, bar.Size))
                    {
                        _mmio.Register(fresh, bar.Size, BarName(function, bar), bar.Handler);
                    }
                    else
                    {
                        wanted = null;
                    }
                }

                bar.MappedAt = wanted;
                if (wanted != current)
                {
                    function.OnBarMapped(bar, current, wanted);
                }
            }
        }
    }

    private string BarName(PciFunction function, PciBar bar) =>
        _names.TryGetValue(function, out var name) ? name : $"pci-{Id:x4}-{function.VendorId:x4}:{function.DeviceId:x4}-bar{bar.Index}";

    private readonly Dictionary<PciFunction, string> _names = [];

    /// <summary>The name a function's BARs are counted under on the MMIO bus (its device_tree id).</summary>
    public void Name(PciFunction function, string name)
    {
        lock (_mapping)
        {
            _names[function] = name;
        }
    }

    /// <summary>Configuration read of bus 0; absent devices and functions other than 0 read as all ones.</summary>
    public void ReadConfig(int bus, int device, int function, int register, Span<byte> data)
    {
        if (bus != 0 || function != 0 || this[device] is not { } f)
        {
            data.Fill(0xFF);
            return;
        }

        f.ReadConfig(register, data);
    }

    public void WriteConfig(int bus, int device, int function, int register, ReadOnlySpan<byte> data)
    {
        if (bus == 0 && function == 0 && this[device] is { } f)
        {
            f.WriteConfig(register, data);
        }
    }
}

/// <summary>
/// PCI configuration mechanism #1 on ports 0xCF8-0xCFF for segment 0: a 32-bit address register
/// (bit 31 enable, bus 23-16, device 15-11, function 10-8, register 7-2) and a data window whose
/// byte offset adds to the register.
/// </summary>
[NoOwnState("its address latch is saved with segment 0 in the device manager's state")]
public sealed class PciConfigIo(PciSegment segment) : IBusDevice
{
    public const ushort Port = Platform.PlatformLayout.PciConfigAddressPort;
    public const int Size = 8;

    private uint _address;

    /// <summary>The address register (0xCF8) as the guest last wrote it.</summary>
    public uint Address
    {
        get => Volatile.Read(ref _address);
        set => Volatile.Write(ref _address, value);
    }

    public void Read(ulong offset, Span<byte> data)
    {
        if (offset == 0 && data.Length == 4)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(data, Volatile.Read(ref _address));
            return;
        }

        var address = Volatile.Read(ref _address);
        if (offset < 4 || (address & 0x8000_0000) == 0)
        {
            data.Fill(0xFF);
            return;
        }

        segment.ReadConfig((int)(address >> 16) & 0xFF, (int)(address >> 11) & 0x1F, (int)(address >> 8) & 0x7, (int)(address & 0xFC) + (int)(offset - 4), data);
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset == 0 && data.Length == 4)
        {
            Volatile.Write(ref _address, BinaryPrimitives.ReadUInt32LittleEndian(data));
            return;
        }

        var address = Volatile.Read(ref _address);
        if (offset >= 4 && (address & 0x8000_0000) != 0)
        {
            segment.WriteConfig((int)(address >> 16) & 0xFF, (int)(address >> 11) & 0x1F, (int)(address >> 8) & 0x7, (int)(address & 0xFC) + (int)(offset - 4), data);
        }
    }
}

/// <summary>PCI Express enhanced configuration access (ECAM) for one segment: bus 20-27, device 15-19, function 12-14, register 0-11.</summary>
[NoOwnState("a window onto the segment's functions, which hold the state")]
public sealed class PciEcam(PciSegment segment) : IBusDevice
{
    /// <summary>Bus 0 only: 32 devices × 8 functions × 4 KiB.</summary>
    public const ulong Size = 1 << 20;

    public void Read(ulong offset, Span<byte> data) =>
        segment.ReadConfig((int)(offset >> 20), (int)(offset >> 15) & 0x1F, (int)(offset >> 12) & 0x7, (int)(offset & 0xFFF), data);

    public void Write(ulong offset, ReadOnlySpan<byte> data) =>
        segment.WriteConfig((int)(offset >> 20), (int)(offset >> 15) & 0x1F, (int)(offset >> 12) & 0x7, (int)(offset & 0xFFF), data);
}

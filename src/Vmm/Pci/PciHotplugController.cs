using System.Buffers.Binary;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Pci;

/// <summary>
/// The ACPI PCI hot-plug controller upstream puts at \_SB_.PHPR (the DSDT's PCNT methods read it
/// when the GED signals a PCI change): per segment a bitmap of slots added (PCIU) and of slots
/// whose removal was asked (PCID), both cleared when read, and B0EJ, where the guest's _EJ0
/// writes the slots it has let go of. Only 32-bit accesses mean anything (as upstream); PSEG
/// selects the segment. vCPU threads access it; <see cref="Added"/> and <see cref="RemovalRequested"/>
/// come from the control loop.
/// </summary>
public sealed class PciHotplugController(int segments, Action<ushort, uint> eject) : IBusDevice, IStateful
{
    private readonly Lock _lock = new();
    private readonly uint[] _up = new uint[segments];
    private readonly uint[] _down = new uint[segments];
    private uint _segment;

    /// <summary>Slots added and removals asked that the guest has not read yet, and the selected segment.</summary>
    public string SaveState()
    {
        lock (_lock)
        {
            return StateJson.Write(new PciHotplugState { Pciu = [.. _up], Pcid = [.. _down], Pseg = _segment }, StateJsonContext.Default.PciHotplugState);
        }
    }

    public void RestoreState(string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.PciHotplugState);
        if (s.Pciu.Length != _up.Length || s.Pcid.Length != _down.Length)
        {
            throw new StateFormatException("pciu", $"has {s.Pciu.Length} segments, this VM has {_up.Length}");
        }

        lock (_lock)
        {
            s.Pciu.CopyTo(_up, 0);
            s.Pcid.CopyTo(_down, 0);
            _segment = s.Pseg;
        }
    }

    public void Added(ushort segment, int slot)
    {
        lock (_lock)
        {
            _up[segment] |= 1u << slot;
        }
    }

    public void RemovalRequested(ushort segment, int slot)
    {
        lock (_lock)
        {
            _down[segment] |= 1u << slot;
        }
    }

    public void Read(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (data.Length != 4)
        {
            return;
        }

        uint value;
        lock (_lock)
        {
            var s = (int)_segment;
            value = offset switch
            {
                0 when s < _up.Length => Take(ref _up[s]),
                4 when s < _down.Length => Take(ref _down[s]),
                12 => _segment,
                _ => 0,
            };
        }

        BinaryPrimitives.WriteUInt32LittleEndian(data, value);
    }

    private static uint Take(ref uint bits)
    {
        var value = bits;
        bits = 0;
        return value;
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length != 4)
        {
            return;
        }

        var value = BinaryPrimitives.ReadUInt32LittleEndian(data);
        ushort segment;
        lock (_lock)
        {
            if (offset == 12)
            {
                _segment = value;
                return;
            }

            if (offset != 8 || _segment >= (uint)_up.Length)
            {
                return;
            }

            segment = (ushort)_segment;
        }

        eject(segment, value & ~1u); // slot 0 is the host bridge
    }
}

/// <summary>The PHPR registers the guest has not read yet (PCIU, PCID per segment) and PSEG.</summary>
public sealed record PciHotplugState
{
    public required uint[] Pciu { get; init; }

    public required uint[] Pcid { get; init; }

    public uint Pseg { get; init; }
}

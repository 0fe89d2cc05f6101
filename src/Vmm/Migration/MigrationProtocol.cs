using System.Buffers.Binary;

namespace CloudHypervisor.Vmm.Migration;

/// <summary>Upstream's migration <c>Command</c> codes (vm-migration protocol.rs), a u16 on the wire.</summary>
public enum MigrationCommand : ushort
{
    Invalid = 0,
    Start = 1,
    Config = 2,
    State = 3,
    Memory = 4,
    Complete = 5,
    Abandon = 6,
    MemoryFd = 7,
    CompletePaused = 8,
    PageFault = 9,
}

/// <summary>Upstream's <c>Status</c> of a Response.</summary>
public enum MigrationStatus : ushort
{
    Invalid = 0,
    Ok = 1,
    Error = 2,
}

/// <summary>A 16-byte Request: command, six header bytes (Start's carry the version), payload length.</summary>
public readonly record struct MigrationRequest(MigrationCommand Command, ushort Version, ulong Length);

/// <summary>
/// The wire format of upstream's migration protocol: little-endian 16-byte Requests
/// (<c>command u16 | headers [u8;6] | length u64</c>, length counting payload bytes only) and
/// 16-byte Responses (<c>status u16 | pad [u8;6] | length u64</c>), and the 16-byte
/// <c>MemoryRange {gpa, length}</c> of a Memory table.
/// </summary>
public static class MigrationProtocol
{
    public const int HeaderSize = 16;
    public const int MemoryRangeSize = 16;

    /// <summary>The version our sender sends in Start; a receiver takes it and the one before it.</summary>
    public const ushort CurrentVersion = 0;

    public static void WriteRequest(Span<byte> into, MigrationCommand command, ulong length, ushort version = CurrentVersion)
    {
        into[..HeaderSize].Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(into, (ushort)command);
        if (command == MigrationCommand.Start)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(into[2..], version);
        }

        BinaryPrimitives.WriteUInt64LittleEndian(into[8..], length);
    }

    public static MigrationRequest ReadRequest(ReadOnlySpan<byte> from) =>
        new((MigrationCommand)BinaryPrimitives.ReadUInt16LittleEndian(from),
            BinaryPrimitives.ReadUInt16LittleEndian(from[2..]),
            BinaryPrimitives.ReadUInt64LittleEndian(from[8..]));

    public static void WriteResponse(Span<byte> into, MigrationStatus status, ulong length = 0)
    {
        into[..HeaderSize].Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(into, (ushort)status);
        BinaryPrimitives.WriteUInt64LittleEndian(into[8..], length);
    }

    public static (MigrationStatus Status, ulong Length) ReadResponse(ReadOnlySpan<byte> from) =>
        ((MigrationStatus)BinaryPrimitives.ReadUInt16LittleEndian(from), BinaryPrimitives.ReadUInt64LittleEndian(from[8..]));

    public static bool AcceptsVersion(int version) => version == CurrentVersion || version == CurrentVersion - 1;
}

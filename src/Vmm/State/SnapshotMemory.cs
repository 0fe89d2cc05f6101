using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Memory;
using Microsoft.Win32.SafeHandles;

namespace CloudHypervisor.Vmm.State;

/// <summary>
/// The memory-ranges file: guest RAM ranges packed back to back in table order, no header
/// (upstream's layout). Pages that hold only zeros are not written, so the file is sparse where
/// the guest never wrote; restore reads only the file's data extents (SEEK_DATA/SEEK_HOLE) into
/// fresh, zeroed RAM, so untouched guest memory is not touched on either side.
/// </summary>
public static class SnapshotMemory
{
    public const int PageSize = 4096;

    // Runs of non-zero pages are written in pieces of at most this many bytes.
    private const int MaxWrite = 8 << 20;

    public static MemoryRangeTable Ranges(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return new MemoryRangeTable { Data = [.. memory.Regions.Select(r => new MemoryRange { Gpa = r.GuestAddress, Length = r.Size })] };
    }

    /// <summary>The memory-manager node's data for <paramref name="memory"/>.</summary>
    public static MemoryManagerSnapshotData ManagerState(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return new MemoryManagerSnapshotData
        {
            MemoryRanges = Ranges(memory),
            GuestRamMappings = [.. memory.Regions.Select((r, slot) => new GuestRamMapping
            {
                Slot = (uint)slot,
                Gpa = r.GuestAddress,
                Size = r.Size,
                ZoneId = "mem0",
                FileOffset = r.HostOffset,
            })],
            StartOfDeviceArea = memory.Regions.Max(r => r.End),
            BootRam = memory.Size,
            CurrentRam = memory.Size,
            NextMemorySlot = (uint)memory.Regions.Count,
        };
    }

    /// <summary>
    /// Writes every range of <paramref name="memory"/> into <paramref name="file"/> from
    /// <paramref name="baseOffset"/> on (the file is sized first, so zero pages stay holes; a core
    /// file puts its headers before the ranges). Returns the bytes actually written.
    /// </summary>
    public static ulong Write(GuestMemory memory, SafeFileHandle file, long baseOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var table = Ranges(memory);
        RandomAccess.SetLength(file, baseOffset + (long)table.TotalLength);
        ulong fileOffset = (ulong)baseOffset, written = 0;
        foreach (var range in table.Data)
        {
            ulong run = 0, runLength = 0;
            for (ulong page = 0; page < range.Length; page += PageSize)
            {
                var length = (int)Math.Min(PageSize, range.Length - page);
                var zero = memory.GetReadOnlySpan(range.Gpa + page, length).IndexOfAnyExcept((byte)0) < 0;
                if (!zero)
                {
                    if (runLength == 0)
                    {
                        run = page;
                    }

                    runLength += (ulong)length;
                }

                if (runLength > 0 && (zero || runLength >= MaxWrite || page + (ulong)length >= range.Length))
                {
                    RandomAccess.Write(file, memory.GetReadOnlySpan(range.Gpa + run, (int)runLength), (long)(fileOffset + run));
                    written += runLength;
                    runLength = 0;
                }
            }

            fileOffset += range.Length;
        }

        return written;
    }

    /// <summary>
    /// Copies the ranges of <paramref name="table"/> from <paramref name="file"/> into
    /// <paramref name="memory"/>, whose RAM must be fresh (zero); holes are skipped.
    /// </summary>
    public static void Fill(GuestMemory memory, SafeFileHandle file, MemoryRangeTable table, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(table);
        var fd = (int)file.DangerousGetHandle();
        long fileOffset = 0;
        foreach (var range in table.Data)
        {
            var end = fileOffset + (long)range.Length;
            var at = fileOffset;
            while (at < end)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var data = Libc.lseek(fd, at, Libc.SEEK_DATA);
                if (data < 0 || data >= end)
                {
                    // ENXIO: no data after this point; the rest of the range is zeros.
                    break;
                }

                var hole = Libc.lseek(fd, data, Libc.SEEK_HOLE);
                var extentEnd = hole < 0 ? end : Math.Min(hole, end);
                for (var pos = data; pos < extentEnd;)
                {
                    var chunk = (int)Math.Min(extentEnd - pos, MaxWrite * 8L);
                    var target = memory.GetSpan(range.Gpa + (ulong)(pos - fileOffset), chunk);
                    var done = 0;
                    while (done < chunk)
                    {
                        var n = RandomAccess.Read(file, target[done..], pos + done);
                        if (n == 0)
                        {
                            throw new HypervisorException(InternalApi.ApiErrorKind.InvalidArgument, "Cannot restore VM",
                                [$"{SnapshotFiles.MemoryFile}: ends at byte {pos + done}, before the {table.TotalLength} bytes memory_ranges names"]);
                        }

                        done += n;
                    }

                    pos += chunk;
                }

                at = extentEnd;
            }

            fileOffset = end;
        }

        GC.KeepAlive(file);
    }
}

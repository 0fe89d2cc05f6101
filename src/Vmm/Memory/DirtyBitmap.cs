using System.Numerics;

namespace CloudHypervisor.Vmm.Memory;

/// <summary>A guest-physical range of RAM: what one entry of a migration's Memory table names.</summary>
public readonly record struct MemoryRangeSpan(ulong Gpa, ulong Length);

/// <summary>
/// One bit per 4 KiB page of a guest RAM mapping (by host offset, so KVM's per-slot logs and the
/// VMM's own log land in one map): the pages a pre-copy iteration sends.
/// </summary>
public sealed class DirtyBitmap(ulong pages)
{
    public ulong Pages { get; } = pages;

    internal ulong[] Words { get; } = new ulong[(pages + 63) / 64];

    public void Set(ulong page) => Words[page >> 6] |= 1UL << (int)(page & 63);

    public bool IsSet(ulong page) => (Words[page >> 6] & (1UL << (int)(page & 63))) != 0;

    /// <summary>ORs a KVM slot log (bit i is page <paramref name="firstPage"/> + i) into this map.</summary>
    public void OrSlot(ReadOnlySpan<ulong> slot, ulong firstPage, ulong slotPages)
    {
        for (var w = 0; w < slot.Length; w++)
        {
            var word = slot[w];
            while (word != 0)
            {
                var bit = (ulong)BitOperations.TrailingZeroCount(word);
                word &= word - 1;
                var index = ((ulong)w * 64) + bit;
                if (index < slotPages)
                {
                    Set(firstPage + index);
                }
            }
        }
    }

    public void Or(DirtyBitmap other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (var i = 0; i < Words.Length; i++)
        {
            Words[i] |= other.Words[i];
        }
    }

    public ulong Count() => Words.Aggregate(0UL, (sum, w) => sum + (ulong)BitOperations.PopCount(w));

    /// <summary>The first set page in [<paramref name="from"/>, <paramref name="end"/>), or <paramref name="end"/>.</summary>
    public ulong NextSet(ulong from, ulong end)
    {
        while (from < end)
        {
            var word = Words[from >> 6] >> (int)(from & 63);
            if (word != 0)
            {
                return Math.Min(end, from + (ulong)BitOperations.TrailingZeroCount(word));
            }

            from = (from | 63) + 1;
        }

        return end;
    }

    /// <summary>The first clear page in [<paramref name="from"/>, <paramref name="end"/>), or <paramref name="end"/>.</summary>
    public ulong NextClear(ulong from, ulong end)
    {
        while (from < end)
        {
            var word = ~Words[from >> 6] >> (int)(from & 63);
            if (word != 0)
            {
                return Math.Min(end, from + (ulong)BitOperations.TrailingZeroCount(word));
            }

            from = (from | 63) + 1;
        }

        return end;
    }
}

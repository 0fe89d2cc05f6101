using System.Buffers.Binary;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;
using Serilog;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>
/// virtio-balloon (virtio 1.x §5.5) as upstream has it: the inflate and deflate queues and, with
/// <c>free_page_reporting</c>, the reporting queue (VIRTIO_BALLOON_F_REPORTING, bit 5) as queue 2;
/// <c>deflate_on_oom</c> offers VIRTIO_BALLOON_F_DEFLATE_ON_OOM (bit 2); no statistics queue
/// (upstream has none). The config is <c>num_pages</c> (the host's target, set by
/// <see cref="Resize"/> with a config-change interrupt) and <c>actual</c> (written by the
/// driver). Inflated PFNs and reported ranges are given back to the host at once
/// (<see cref="GuestMemory.Discard"/>: MADV_DONTNEED, or MADV_REMOVE for shared RAM); deflated
/// pages need nothing, a touch faults them in again as zeros. A PFN or range outside guest RAM,
/// or a buffer the protocol says to read that is device-writable, breaks the ring (NEEDS_RESET).
/// </summary>
public sealed class VirtioBalloon(string id, ulong size, bool deflateOnOom, bool freePageReporting, ILogger logger) : IVirtioDevice, IStateful
{
    public const int FeatureDeflateOnOom = 2;
    public const int FeatureReporting = 5;
    public const int PfnShift = 12;
    private const int InflateQueue = 0;
    private const int DeflateQueue = 1;
    private const int ReportingQueue = 2;

    private readonly Lock _lock = new();
    private GuestMemory? _memory;
    private uint _numPages = (uint)(size >> PfnShift);
    private uint _actual;
    private bool _activated;
    private long _inflated;
    private long _deflated;
    private long _reported;
    private int _discardFailureLogged;

    public string Id { get; } = id;

    public ushort DeviceType => VirtioIds.Balloon;

    public (byte Class, byte Subclass) PciClass => (0xFF, 0x00);

    public int QueueCount => freePageReporting ? 3 : 2;

    public ushort MaxQueueSize => 128;

    public ulong Features => (deflateOnOom ? 1UL << FeatureDeflateOnOom : 0) | (freePageReporting ? 1UL << FeatureReporting : 0);

    public Action? ConfigChanged { private get; set; }

    public Action<int>? Wake { private get; set; }

    /// <summary>Bytes the driver says are in the balloon (<c>actual</c> pages), which vm.info subtracts from RAM.</summary>
    public ulong ActualBytes
    {
        get
        {
            lock (_lock)
            {
                return (ulong)_actual << PfnShift;
            }
        }
    }

    /// <summary>vm.resize desired_balloon: the new target, then a config-change interrupt once the driver is there.</summary>
    public void Resize(ulong bytes)
    {
        bool activated;
        lock (_lock)
        {
            _numPages = (uint)(bytes >> PfnShift);
            activated = _activated;
        }

        if (activated)
        {
            ConfigChanged?.Invoke();
        }
    }

    public void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> c = stackalloc byte[8];
        lock (_lock)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(c, _numPages);
            BinaryPrimitives.WriteUInt32LittleEndian(c[4..], _actual);
        }

        data.Clear();
        if (offset >= 0 && offset < c.Length)
        {
            c[offset..Math.Min(c.Length, offset + data.Length)].CopyTo(data);
        }
    }

    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        // Only actual is writable, and only as a whole le32, as upstream.
        if (offset != 4 || data.Length != 4)
        {
            return;
        }

        lock (_lock)
        {
            _actual = BinaryPrimitives.ReadUInt32LittleEndian(data);
        }
    }

    public void Activate(GuestMemory memory, ulong features)
    {
        lock (_lock)
        {
            _memory = memory;
            _activated = true;
        }
    }

    public void Reset()
    {
        // A driver that resets holds no pages any more: every page is the guest's again.
        lock (_lock)
        {
            _activated = false;
            _actual = 0;
        }
    }

    public bool Process(int index, VirtQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var interrupt = false;
        while (queue.Pop() is { } chain)
        {
            switch (index)
            {
                case InflateQueue or DeflateQueue:
                    Pfns(chain, index == InflateQueue);
                    break;
                case ReportingQueue:
                    Report(chain);
                    break;
                default:
                    throw new VirtioQueueException($"queue {index} does not exist");
            }

            interrupt |= queue.Push(chain, 0);
        }

        return interrupt;
    }

    /// <summary>An inflate or deflate request: readable buffers of le32 PFNs (4 KiB pages, §5.5.6).</summary>
    private void Pfns(VirtioChain chain, bool inflate)
    {
        var memory = _memory!;
        foreach (var b in chain.Buffers)
        {
            if (b.Writable || b.Length % 4 != 0)
            {
                throw new VirtioQueueException($"a PFN buffer of {b.Length} bytes is {(b.Writable ? "device-writable" : "not whole le32s")}");
            }

            var pfns = memory.GetSpan(b.Address, (int)b.Length);
            // Runs of consecutive PFNs are given back with one call each.
            ulong runStart = 0, runPages = 0;
            for (var i = 0; i < pfns.Length; i += 4)
            {
                var gpa = (ulong)BinaryPrimitives.ReadUInt32LittleEndian(pfns[i..]) << PfnShift;
                if (!memory.Contains(gpa, 1UL << PfnShift))
                {
                    throw new VirtioQueueException($"PFN 0x{gpa >> PfnShift:X} is outside guest RAM");
                }

                if (runPages > 0 && gpa == runStart + (runPages << PfnShift) && memory.Contains(runStart, (runPages + 1) << PfnShift))
                {
                    runPages++;
                    continue;
                }

                if (inflate && runPages > 0)
                {
                    Discard(memory, runStart, runPages << PfnShift);
                }

                runStart = gpa;
                runPages = 1;
            }

            if (inflate && runPages > 0)
            {
                Discard(memory, runStart, runPages << PfnShift);
            }

            Interlocked.Add(ref inflate ? ref _inflated : ref _deflated, b.Length / 4);
        }
    }

    /// <summary>A free page report: each buffer is a free range of guest RAM (§5.5.6.5).</summary>
    private void Report(VirtioChain chain)
    {
        var memory = _memory!;
        foreach (var b in chain.Buffers)
        {
            if (b.Address % (1UL << PfnShift) != 0 || b.Length % (1U << PfnShift) != 0)
            {
                throw new VirtioQueueException($"a reported range 0x{b.Address:X}+0x{b.Length:X} is not whole pages");
            }

            Discard(memory, b.Address, b.Length);
            Interlocked.Add(ref _reported, b.Length);
        }
    }

    private void Discard(GuestMemory memory, ulong gpa, ulong length)
    {
        if (!memory.Discard(gpa, length) && Interlocked.Exchange(ref _discardFailureLogged, 1) == 0)
        {
            logger.Warning("virtio-balloon {Id}: the host did not take back 0x{Length:X} bytes at 0x{Address:X} (huge pages?); the pages stay allocated", Id, length, gpa);
        }
    }

    /// <summary>The config the driver sees (upstream's VirtioBalloonConfig): the target and what the driver holds.</summary>
    public string SaveState()
    {
        lock (_lock)
        {
            return StateJson.Write(new VirtioBalloonState { NumPages = _numPages, Actual = _actual }, StateJsonContext.Default.VirtioBalloonState);
        }
    }

    public void RestoreState(string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.VirtioBalloonState);
        lock (_lock)
        {
            _numPages = s.NumPages;
            _actual = s.Actual;
        }
    }

    public IReadOnlyDictionary<string, ulong> Counters() => new Dictionary<string, ulong>
    {
        ["inflated_pages"] = (ulong)Interlocked.Read(ref _inflated),
        ["deflated_pages"] = (ulong)Interlocked.Read(ref _deflated),
        ["reported_bytes"] = (ulong)Interlocked.Read(ref _reported),
    };

    public void Dispose()
    {
    }
}

/// <summary>virtio-balloon's state: upstream's VirtioBalloonConfig (num_pages, actual).</summary>
public sealed record VirtioBalloonState
{
    public required uint NumPages { get; init; }

    public required uint Actual { get; init; }
}

using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>virtio-rng (virtio 1.x §5.4): one queue; every device-writable buffer is filled from the source file (upstream's <c>src</c>, /dev/urandom by default).</summary>
public sealed class VirtioRng(string id, FileStream source) : IVirtioDevice, IStateful
{
    private GuestMemory? _memory;
    private long _bytes;

    public string Id { get; } = id;

    public ushort DeviceType => VirtioIds.Rng;

    public (byte Class, byte Subclass) PciClass => (0xFF, 0x00);

    public int QueueCount => 1;

    public ushort MaxQueueSize => 256;

    public ulong Features => 0;

    public Action? ConfigChanged { private get; set; }

    public Action<int>? Wake { private get; set; }

    public void ReadConfig(int offset, Span<byte> data) => data.Clear();

    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
    }

    public void Activate(GuestMemory memory, ulong features) => _memory = memory;

    public void Reset()
    {
    }

    public bool Process(int index, VirtQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var interrupt = false;
        while (queue.Pop() is { } chain)
        {
            uint written = 0;
            foreach (var b in chain.Writable)
            {
                // At most 64 KiB per buffer: a driver asking for more gets a short answer, as the spec allows.
                var span = _memory!.GetSpan(b.Address, (int)Math.Min(b.Length, 1 << 16));
                var n = source.Read(span);
                written += (uint)n;
                if (n < span.Length)
                {
                    break;
                }
            }

            Interlocked.Add(ref _bytes, written);
            interrupt |= queue.Push(chain, written);
        }

        return interrupt;
    }

    // Nothing is kept between requests: the transport's queues are the whole state.
    public string SaveState() => NoState.Instance.SaveState();

    public void RestoreState(string state) => NoState.Instance.RestoreState(state);

    public IReadOnlyDictionary<string, ulong> Counters() => new Dictionary<string, ulong>
    {
        ["bytes"] = (ulong)Interlocked.Read(ref _bytes),
    };

    public void Dispose() => source.Dispose();
}

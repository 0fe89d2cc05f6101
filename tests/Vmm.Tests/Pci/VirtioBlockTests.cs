using System.Buffers.Binary;
using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Host;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.Pci;
using CloudHypervisor.Vmm.Tests.Kvm;
using CloudHypervisor.Vmm.Virtio;
using Serilog;

namespace CloudHypervisor.Vmm.Tests.Pci;

/// <summary>
/// virtio-blk behind the virtio-pci transport on real guest memory, driven through BAR 0 as a
/// guest driver would (config space by ECAM, common cfg, MSI-X table, doorbell), with the host
/// image checked byte for byte. Interrupts and doorbells are counted instead of going to KVM.
/// </summary>
public sealed class VirtioBlockTests : IDisposable
{
    private const ulong Desc = 0x10000, Avail = 0x11000, Used = 0x12000, Data = 0x20000, Header = 0x30000, StatusByte = 0x30100;

    private readonly TempDir _dir = new();
    private readonly GuestMemory _memory = GuestMemory.Create(16UL << 20, shared: false, hugepages: false);
    private readonly IoBus _mmio = new();
    private readonly CountingInterrupts _interrupts = new();
    private readonly Events _events = new();

    private sealed class CountingInterrupts : IInterruptController, IIoEventRegistry
    {
        public List<Vector> Vectors { get; } = [];

        public Dictionary<ulong, EventFd> Doorbells { get; } = [];

        public IIrqLine Line(uint gsi) => throw new NotSupportedException();

        public IMsiVector AllocateMsi()
        {
            var v = new Vector();
            Vectors.Add(v);
            return v;
        }

        public void Register(ulong address, int length, EventFd notifier) => Doorbells[address] = notifier;

        public void Unregister(ulong address, int length, EventFd notifier) => Doorbells.Remove(address);

        public sealed class Vector : IMsiVector
        {
            public int Triggers;
            public ulong Address;

            public void SetRoute(ulong address, uint data) => Address = address;

            public void Trigger() => Interlocked.Increment(ref Triggers);

            public void Dispose()
            {
            }
        }
    }

    private sealed class Events : IGuestEvents
    {
        public List<string> Seen { get; } = [];

        public void GuestExited(GuestExit exit)
        {
        }

        public void DeviceEvent(EventKind kind, IReadOnlyDictionary<string, string>? properties = null)
        {
            lock (Seen)
            {
                Seen.Add($"{kind.Source}/{kind.Name} {properties?["id"]}");
            }
        }
    }

    private (VirtioPciDevice Device, ulong Bar, PciSegment Segment) Build(string image, bool readOnly = false)
    {
        var disk = new DiskConfig { Id = "_disk0", Path = image, Readonly = readOnly, Serial = "serial-0" };
        var block = new VirtioBlock("_disk0", DiskImages.Open("_disk0", disk), readOnly, sparse: true, queues: 1, queueSize: 128, disk.Serial);
        var device = new VirtioPciDevice(block, _memory, _interrupts, _interrupts, _events, new LoggerConfiguration().CreateLogger());
        var segment = new PciSegment(0, 0xE800_0000, new PciWindow(0xC000_0000, 0x1000_0000), new PciWindow(0x10_0000_0000, 0x1_0000_0000), _mmio);
        segment.Add(device, null);
        return (device, device.Bar.MappedAt!.Value, segment);
    }

    private void W8(ulong a, byte v) => _mmio.Write(a, [v]);

    private void W16(ulong a, ushort v) => _mmio.Write(a, BitConverter.GetBytes(v));

    private void W32(ulong a, uint v) => _mmio.Write(a, BitConverter.GetBytes(v));

    private byte R8(ulong a)
    {
        var b = new byte[1];
        _mmio.Read(a, b);
        return b[0];
    }

    private uint R32(ulong a)
    {
        var b = new byte[4];
        _mmio.Read(a, b);
        return BitConverter.ToUInt32(b);
    }

    /// <summary>Negotiates VERSION_1 (+ EVENT_IDX off), sets up queue 0 of 8 entries with MSI-X vector 1, DRIVER_OK.</summary>
    private void Activate(ulong bar, PciSegment segment, int slot)
    {
        // MSI-X enable in the capability's control word (the capability after the four virtio ones).
        var config = new byte[256];
        segment.ReadConfig(0, slot, 0, 0, config);
        var cap = (int)config[0x34];
        while (config[cap] != 0x11)
        {
            cap = config[cap + 1];
        }

        segment.WriteConfig(0, slot, 0, cap + 3, [0x80]);
        W32(bar + VirtioPciDevice.MsixTableOffset + 16, 0xFEE0_0000); // vector 1 address
        W32(bar + VirtioPciDevice.MsixTableOffset + 16 + 12, 0); // unmask
        W32(bar + VirtioPciDevice.MsixTableOffset + 12, 0); // vector 0 (config changes) unmasked
        W8(bar + 0x14, 0);
        W8(bar + 0x14, 3);
        W32(bar + 0x08, 1);
        W32(bar + 0x0C, 1); // VERSION_1
        W8(bar + 0x14, 0xB);
        Assert.Equal(0xB, R8(bar + 0x14));
        W16(bar + 0x10, 0);
        W16(bar + 0x16, 0);
        W16(bar + 0x18, 8);
        W16(bar + 0x1A, 1);
        W32(bar + 0x20, (uint)Desc);
        W32(bar + 0x28, (uint)Avail);
        W32(bar + 0x30, (uint)Used);
        W16(bar + 0x1C, 1);
        W8(bar + 0x14, 0xF);
    }

    private void Descriptor(int index, ulong address, uint length, ushort flags, ushort next)
    {
        var d = _memory.GetSpan(Desc + (ulong)(16 * index), 16);
        BinaryPrimitives.WriteUInt64LittleEndian(d, address);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], length);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    /// <summary>Offers a header + data + status chain as avail entry <paramref name="n"/> and rings the doorbell.</summary>
    private void Request(ulong bar, ushort n, uint type, ulong sector, uint dataLength, bool deviceWritesData)
    {
        var h = _memory.GetSpan(Header, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(h, type);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], sector);
        _memory.Write(StatusByte, [0xFF]);
        Descriptor(0, Header, 16, VirtQueue.DescriptorFlagNext, 1);
        if (dataLength > 0)
        {
            Descriptor(1, Data, dataLength, (ushort)(VirtQueue.DescriptorFlagNext | (deviceWritesData ? VirtQueue.DescriptorFlagWrite : 0)), 2);
            Descriptor(2, StatusByte, 1, VirtQueue.DescriptorFlagWrite, 0);
        }
        else
        {
            Descriptor(1, StatusByte, 1, VirtQueue.DescriptorFlagWrite, 0);
        }

        BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(Avail + 4 + (2UL * (ushort)(n % 8)), 2), 0);
        BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(Avail + 2, 2), (ushort)(n + 1));
        _interrupts.Doorbells[bar + VirtioPciDevice.NotifyOffset].Signal();
        Assert.True(Wait.Until(() => BinaryPrimitives.ReadUInt16LittleEndian(_memory.GetSpan(Used + 2, 2)) == (ushort)(n + 1), TimeSpan.FromSeconds(30)), "the device did not answer");
    }

    [Fact]
    public void A_written_pattern_lands_in_the_image_reads_back_and_counts_as_upstream_names_it()
    {
        var image = _dir.File("disk.img");
        File.WriteAllBytes(image, new byte[1 << 20]);
        var (device, bar, segment) = Build(image);
        using (device)
        {
            Assert.Equal(0x1042u << 16 | 0x1AF4, Config32(segment, 1, 0));
            Activate(bar, segment, 1);
            Assert.Contains("virtio-device/activated _disk0", _events.Seen);
            var capacity = new byte[8];
            _mmio.Read(bar + VirtioPciDevice.DeviceConfigOffset, capacity);
            Assert.Equal(2048UL, BitConverter.ToUInt64(capacity));

            var pattern = Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray();
            _memory.Write(Data, pattern);
            Request(bar, 0, type: 1, sector: 8, 4096, deviceWritesData: false);
            Assert.Equal(0, _memory.GetSpan(StatusByte, 1)[0]);
            Request(bar, 1, type: 4, sector: 0, 0, deviceWritesData: false); // flush
            Assert.Equal(0, _memory.GetSpan(StatusByte, 1)[0]);
            Assert.Equal(pattern, File.ReadAllBytes(image).AsSpan(8 * 512, 4096).ToArray());

            _memory.Fill(Data, 4096, 0);
            Request(bar, 2, type: 0, sector: 8, 4096, deviceWritesData: true);
            Assert.Equal(pattern, _memory.GetSpan(Data, 4096).ToArray());

            Request(bar, 3, type: 8, sector: 0, 20, deviceWritesData: true); // GET_ID
            Assert.Equal("serial-0"u8.ToArray(), _memory.GetSpan(Data, 8).ToArray());

            Request(bar, 4, type: 0, sector: 4096, 512, deviceWritesData: true); // beyond the end
            Assert.Equal(1, _memory.GetSpan(StatusByte, 1)[0]);

            var counters = device.Device.Counters();
            Assert.Equal(4096UL, counters["write_bytes"]);
            Assert.Equal(4096UL, counters["read_bytes"]);
            Assert.Equal(1UL, counters["write_ops"]);
            Assert.Equal(1UL, counters["read_ops"]);
            Assert.Contains("read_latency_avg", counters.Keys);
            Assert.True(_interrupts.Vectors[1].Triggers >= 5, $"queue vector raised {_interrupts.Vectors[1].Triggers} times");

            W8(bar + 0x14, 0);
            Assert.Contains("virtio-device/reset _disk0", _events.Seen);
        }
    }

    [Fact]
    public void A_paused_disk_resumes_on_its_rings_and_a_new_device_restored_from_its_state_serves_the_same_queue()
    {
        var image = _dir.File("disk.img");
        File.WriteAllBytes(image, new byte[1 << 20]);
        var pattern = Enumerable.Range(0, 4096).Select(i => (byte)(i * 13)).ToArray();
        var (first, bar, segment) = Build(image);
        string saved;
        try
        {
            Activate(bar, segment, 1);
            _memory.Write(Data, pattern);
            Request(bar, 0, type: 1, sector: 8, 4096, deviceWritesData: false);
            first.Pause();
            first.Resume();
            Request(bar, 1, type: 4, sector: 0, 0, deviceWritesData: false); // served after the resume
            first.Pause();
            saved = first.SaveState();
        }
        finally
        {
            segment.Remove(1);
            first.Dispose();
        }

        var (second, _, _) = Build(image);
        using (second)
        {
            // Nothing but the saved state tells the new device that a driver set it up.
            second.RestoreState(saved);
            Assert.Equal(bar, second.Bar.MappedAt);
            Assert.Equal(saved, second.SaveState());
            second.Resume();
            _memory.Fill(Data, 4096, 0);
            Request(bar, 2, type: 0, sector: 8, 4096, deviceWritesData: true);
            Assert.Equal(0, _memory.GetSpan(StatusByte, 1)[0]);
            Assert.Equal(pattern, _memory.GetSpan(Data, 4096).ToArray());
        }
    }

    [Fact]
    public void A_readonly_disk_refuses_writes_and_a_discard_punches_a_hole_that_reads_as_zeros()
    {
        var image = _dir.File("ro.img");
        File.WriteAllBytes(image, Enumerable.Repeat((byte)0xAB, 1 << 20).ToArray());
        var (device, bar, segment) = Build(image, readOnly: true);
        using (device)
        {
            Activate(bar, segment, 1);
            Request(bar, 0, type: 1, sector: 0, 512, deviceWritesData: false);
            Assert.Equal(1, _memory.GetSpan(StatusByte, 1)[0]);
            Assert.All(File.ReadAllBytes(image), b => Assert.Equal(0xAB, b));
        }

        var rw = _dir.File("rw.img");
        File.WriteAllBytes(rw, Enumerable.Repeat((byte)0xAB, 1 << 20).ToArray());
        _mmio.Unregister(bar);
        BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(Avail + 2, 2), 0);
        BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(Used + 2, 2), 0);
        var (device2, bar2, segment2) = Build(rw);
        using (device2)
        {
            Activate(bar2, segment2, 1);
            var segmentBytes = new byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(segmentBytes, 16);
            BinaryPrimitives.WriteUInt32LittleEndian(segmentBytes.AsSpan(8), 16);
            _memory.Write(Data, segmentBytes);
            Request(bar2, 0, type: 11, sector: 0, 16, deviceWritesData: false);
            Assert.Equal(0, _memory.GetSpan(StatusByte, 1)[0]);
            var bytes = File.ReadAllBytes(rw);
            Assert.All(bytes.AsSpan(16 * 512, 16 * 512).ToArray(), b => Assert.Equal(0, b));
            Assert.Equal(0xAB, bytes[(32 * 512) + 1]);
        }
    }

    [Fact]
    public void A_ring_outside_guest_memory_sets_NEEDS_RESET_and_a_reset_recovers_the_device()
    {
        var image = _dir.File("bad.img");
        File.WriteAllBytes(image, new byte[1 << 20]);
        var (device, bar, segment) = Build(image);
        using (device)
        {
            Activate(bar, segment, 1);
            // A chain whose buffer lies far outside RAM.
            var h = _memory.GetSpan(Header, 16);
            h.Clear();
            Descriptor(0, Header, 16, VirtQueue.DescriptorFlagNext, 1);
            Descriptor(1, 0x7_0000_0000, 4096, VirtQueue.DescriptorFlagWrite, 0);
            BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(Avail + 4, 2), 0);
            BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(Avail + 2, 2), 1);
            _interrupts.Doorbells[bar + VirtioPciDevice.NotifyOffset].Signal();
            Assert.True(Wait.Until(() => (R8(bar + 0x14) & 0x40) != 0, TimeSpan.FromSeconds(30)), "NEEDS_RESET was not set");

            // The driver resets, rebuilds its rings and starts again; the device serves requests once more.
            W8(bar + 0x14, 0);
            Assert.Equal(0, R8(bar + 0x14));
            BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(Avail + 2, 2), 0);
            BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(Used + 2, 2), 0);
            Activate(bar, segment, 1);
            Request(bar, 0, type: 4, sector: 0, 0, deviceWritesData: false);
            Assert.Equal(0, _memory.GetSpan(StatusByte, 1)[0]);
        }
    }

    [Fact]
    public void Resizing_grows_the_image_updates_the_capacity_and_raises_the_config_vector()
    {
        var image = _dir.File("grow.img");
        File.WriteAllBytes(image, new byte[1 << 20]);
        var (device, bar, segment) = Build(image);
        using (device)
        {
            Activate(bar, segment, 1);
            var before = _interrupts.Vectors[0].Triggers;
            var generation = R8(bar + 0x15);

            ((VirtioBlock)device.Device).Resize(2 << 20);

            Assert.Equal(2L << 20, new FileInfo(image).Length);
            var capacity = new byte[8];
            _mmio.Read(bar + VirtioPciDevice.DeviceConfigOffset, capacity);
            Assert.Equal(4096UL, BitConverter.ToUInt64(capacity));
            Assert.Equal(before + 1, _interrupts.Vectors[0].Triggers);
            Assert.NotEqual(generation, R8(bar + 0x15));
        }
    }

    private static uint Config32(PciSegment segment, int slot, int register)
    {
        var b = new byte[4];
        segment.ReadConfig(0, slot, 0, register, b);
        return BitConverter.ToUInt32(b);
    }

    public void Dispose()
    {
        _memory.Dispose();
        _dir.Dispose();
    }
}

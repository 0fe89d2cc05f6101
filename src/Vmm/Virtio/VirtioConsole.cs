using System.Buffers.Binary;
using CloudHypervisor.Vmm.Devices.Console;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>
/// virtio-console (virtio 1.x §5.3) with one port, hvc0 in a Linux guest: MULTIPORT is not
/// offered, so queue 0 receives (host to guest) and queue 1 transmits. EMERG_WRITE is offered, as
/// upstream does: a 32-bit write to emerg_wr (config offset 8) outputs its low byte at once.
/// Output goes to the console backend of the config's mode (Null, Tty, File, Pty, Socket); input
/// from the backend's thread is kept (at most <see cref="MaxPendingInput"/> bytes, the rest is
/// dropped as a UART would overrun) until the driver offers receive buffers.
/// </summary>
public sealed class VirtioConsole(string id, IConsoleBackend backend) : IVirtioDevice, IStateful
{
    public const int MaxPendingInput = 64 << 10;
    private const int FeatureEmergWrite = 2;

    private readonly Lock _inputLock = new();
    private readonly Queue<byte> _input = new();
    private GuestMemory? _memory;
    private long _txBytes;
    private long _rxBytes;
    private long _droppedInput;

    public string Id { get; } = id;

    public ushort DeviceType => VirtioIds.Console;

    public (byte Class, byte Subclass) PciClass => (0xFF, 0x00);

    public int QueueCount => 2;

    public ushort MaxQueueSize => 256;

    public ulong Features => 1UL << FeatureEmergWrite;

    public Action? ConfigChanged { private get; set; }

    public Action<int>? Wake { private get; set; }

    public void ReadConfig(int offset, Span<byte> data)
    {
        // struct virtio_console_config: cols, rows (F_SIZE not offered: 0), max_nr_ports (1), emerg_wr (reads 0).
        Span<byte> c = stackalloc byte[12];
        c.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(c[4..], 1);
        data.Clear();
        if (offset >= 0 && offset < c.Length)
        {
            c[offset..Math.Min(c.Length, offset + data.Length)].CopyTo(data);
        }
    }

    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        if (offset == 8 && data.Length >= 1)
        {
            backend.Write(data[..1]);
            Interlocked.Increment(ref _txBytes);
        }
    }

    /// <summary>Bytes typed on the backend (its input thread); the driver gets them in its receive buffers.</summary>
    public void Input(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        lock (_inputLock)
        {
            foreach (var b in bytes)
            {
                if (_input.Count >= MaxPendingInput)
                {
                    Interlocked.Increment(ref _droppedInput);
                    continue;
                }

                _input.Enqueue(b);
            }
        }

        Wake?.Invoke(0);
    }

    public void Activate(GuestMemory memory, ulong features) => _memory = memory;

    public void Reset()
    {
    }

    public bool Process(int index, VirtQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return index == 0 ? Receive(queue) : Transmit(queue);
    }

    private bool Transmit(VirtQueue queue)
    {
        var interrupt = false;
        while (queue.Pop() is { } chain)
        {
            foreach (var b in chain.Readable)
            {
                backend.Write(_memory!.GetSpan(b.Address, (int)b.Length));
                Interlocked.Add(ref _txBytes, b.Length);
            }

            interrupt |= queue.Push(chain, 0);
        }

        return interrupt;
    }

    private bool Receive(VirtQueue queue)
    {
        var interrupt = false;
        while (true)
        {
            lock (_inputLock)
            {
                if (_input.Count == 0)
                {
                    return interrupt;
                }
            }

            if (queue.Pop() is not { } chain)
            {
                // The driver's next receive buffer notifies this queue, and the rest goes then.
                return interrupt;
            }

            uint written = 0;
            lock (_inputLock)
            {
                foreach (var b in chain.Writable)
                {
                    var span = _memory!.GetSpan(b.Address, (int)Math.Min(b.Length, (uint)_input.Count));
                    for (var i = 0; i < span.Length; i++)
                    {
                        span[i] = _input.Dequeue();
                    }

                    written += (uint)span.Length;
                    if (_input.Count == 0)
                    {
                        break;
                    }
                }
            }

            Interlocked.Add(ref _rxBytes, written);
            interrupt |= queue.Push(chain, written);
        }
    }

    /// <summary>Typed bytes the driver has not taken yet: they reach the guest after a restore too.</summary>
    public string SaveState()
    {
        lock (_inputLock)
        {
            return StateJson.Write(new VirtioConsoleState { Input = [.. _input] }, StateJsonContext.Default.VirtioConsoleState);
        }
    }

    public void RestoreState(string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.VirtioConsoleState);
        if (s.Input.Length > MaxPendingInput)
        {
            throw new StateFormatException("input", $"holds {s.Input.Length} bytes, more than the {MaxPendingInput} a console keeps");
        }

        lock (_inputLock)
        {
            _input.Clear();
            foreach (var b in s.Input)
            {
                _input.Enqueue(b);
            }
        }
    }

    public IReadOnlyDictionary<string, ulong> Counters() => new Dictionary<string, ulong>
    {
        ["tx_bytes"] = (ulong)Interlocked.Read(ref _txBytes),
        ["rx_bytes"] = (ulong)Interlocked.Read(ref _rxBytes),
        ["rx_dropped"] = (ulong)Interlocked.Read(ref _droppedInput),
    };

    // The backend belongs to the config's console endpoint, which outlives this VM (reboots keep it).
    public void Dispose()
    {
    }
}

/// <summary>A virtio-console's input not yet delivered to the driver.</summary>
public sealed record VirtioConsoleState
{
    public required byte[] Input { get; init; }
}

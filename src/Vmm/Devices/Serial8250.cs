using CloudHypervisor.Vmm.Devices.Console;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Devices;

/// <summary>The UART's registers and the bytes waiting in its receive FIFO.</summary>
public sealed record SerialState
{
    public byte Ier { get; init; }

    public byte Lcr { get; init; }

    public byte Mcr { get; init; }

    public byte Scr { get; init; }

    public byte Dll { get; init; }

    public byte Dlm { get; init; }

    public bool ThrInterrupt { get; init; }

    public required byte[] Input { get; init; }
}

/// <summary>
/// A 16550-compatible UART (the 8250 family Linux drives as ttyS0) on 8 ports. Transmitted bytes go
/// straight to the console backend, so the transmitter is always empty: THR-empty interrupts fire
/// after every write and when they are enabled (Linux's serial core waits for them before it sends
/// more). Received bytes wait in a FIFO and raise the RX interrupt. Loopback mode (MCR bit 4) is
/// modelled because the Linux driver probes the port with it. Input applies backpressure: a
/// backend thread that offers more than the FIFO holds waits in <see cref="Enqueue"/> until the
/// guest reads (or the VM stops), so it stops reading its socket or PTY instead of dropping bytes.
/// While the VM is paused input is held the same way: nothing reaches the FIFO until resume.
/// </summary>
public sealed class Serial8250 : IBusDevice, IStateful, IPausable
{
    private const byte IER_RDI = 0x01;  // received data available
    private const byte IER_THRI = 0x02; // transmitter holding register empty

    private const byte IIR_NONE = 0x01;
    private const byte IIR_THRI = 0x02;
    private const byte IIR_RDI = 0x04;
    private const byte IIR_FIFO = 0xC0;

    private const byte LCR_DLAB = 0x80;
    private const byte LSR_DR = 0x01;
    private const byte LSR_THRE = 0x20;
    private const byte LSR_TEMT = 0x40;
    private const byte MCR_LOOP = 0x10;

    // DCD, DSR and CTS: a modem that is always there.
    private const byte MSR_DEFAULT = 0xB0;

    /// <summary>The receive FIFO: a backend offering more waits until the guest has read some.</summary>
    public const int InputCapacity = 4096;

    private readonly IIrqLine _irq;
    private readonly IConsoleBackend _output;
    // A monitor rather than a Lock: Enqueue waits on it for room in the FIFO.
    private readonly object _lock = new();
    private readonly Queue<byte> _input = new();
    private int _waitingForRoom;
    private bool _inputClosed;
    private bool _inputHeld;
    private byte _ier;
    private byte _lcr = 0x03; // 8N1
    private byte _mcr = 0x08; // OUT2
    private byte _scr;
    private byte _dll = 0x0C; // 9600 baud
    private byte _dlm;
    private bool _thrInterrupt;
    private long _txBytes;
    private long _rxBytes;

    public Serial8250(IIrqLine irq, IConsoleBackend output)
    {
        _irq = irq;
        _output = output;
    }

    public ulong TxBytes => (ulong)Interlocked.Read(ref _txBytes);

    public ulong RxBytes => (ulong)Interlocked.Read(ref _rxBytes);

    /// <summary>
    /// Bytes typed by the user (a console backend's input thread): queued for the guest with the RX
    /// interrupt raised. When the FIFO is full this waits until the guest reads, so every byte
    /// arrives; it returns early, dropping the rest, only in loopback (the port is disconnected
    /// from the outside) or once <see cref="CloseInput"/> was called.
    /// </summary>
    public void Enqueue(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            while (_inputHeld && !_inputClosed)
            {
                Monitor.Wait(_lock);
            }

            while (!bytes.IsEmpty && !_inputClosed && (_mcr & MCR_LOOP) == 0)
            {
                var room = InputCapacity - _input.Count;
                var take = Math.Min(room, bytes.Length);
                foreach (var b in bytes[..take])
                {
                    _input.Enqueue(b);
                }

                Interlocked.Add(ref _rxBytes, take);
                bytes = bytes[take..];
                if ((_ier & IER_RDI) != 0 && _input.Count > 0)
                {
                    _irq.Pulse();
                }

                if (!bytes.IsEmpty)
                {
                    _waitingForRoom++;
                    try
                    {
                        Monitor.Wait(_lock);
                    }
                    finally
                    {
                        _waitingForRoom--;
                    }
                }
            }
        }
    }

    /// <summary>The VM stops: an input thread waiting for room gives up, and later input is dropped.</summary>
    public void CloseInput()
    {
        lock (_lock)
        {
            _inputClosed = true;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Holds console input (the VM is pausing): a backend offering bytes waits, the FIFO stays as it is.</summary>
    public void Pause()
    {
        lock (_lock)
        {
            _inputHeld = true;
        }
    }

    public void Resume()
    {
        lock (_lock)
        {
            _inputHeld = false;
            Monitor.PulseAll(_lock);
        }
    }

    public string SaveState()
    {
        lock (_lock)
        {
            return StateJson.Write(new SerialState
            {
                Ier = _ier,
                Lcr = _lcr,
                Mcr = _mcr,
                Scr = _scr,
                Dll = _dll,
                Dlm = _dlm,
                ThrInterrupt = _thrInterrupt,
                Input = [.. _input],
            }, StateJsonContext.Default.SerialState);
        }
    }

    public void RestoreState(string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.SerialState);
        if (s.Input.Length > InputCapacity)
        {
            throw new StateFormatException("input", $"holds {s.Input.Length} bytes, the FIFO {InputCapacity}");
        }

        lock (_lock)
        {
            _ier = (byte)(s.Ier & 0x0F);
            _lcr = s.Lcr;
            _mcr = (byte)(s.Mcr & 0x1F);
            _scr = s.Scr;
            _dll = s.Dll;
            _dlm = s.Dlm;
            _thrInterrupt = s.ThrInterrupt;
            _input.Clear();
            foreach (var b in s.Input)
            {
                _input.Enqueue(b);
            }
        }
    }

    /// <summary>Wakes an input thread waiting in <see cref="Enqueue"/>; called with the lock held.</summary>
    private void RoomMade()
    {
        if (_waitingForRoom > 0)
        {
            Monitor.PulseAll(_lock);
        }
    }

    public void Read(ulong offset, Span<byte> data)
    {
        if (data.Length != 1)
        {
            data.Clear();
            return;
        }

        bool raise = false;
        lock (_lock)
        {
            var dlab = (_lcr & LCR_DLAB) != 0;
            switch (offset)
            {
                case 0 when dlab:
                    data[0] = _dll;
                    break;
                case 0:
                    data[0] = _input.Count > 0 ? _input.Dequeue() : (byte)0;
                    raise = (_ier & IER_RDI) != 0 && _input.Count > 0;
                    RoomMade();
                    break;
                case 1 when dlab:
                    data[0] = _dlm;
                    break;
                case 1:
                    data[0] = _ier;
                    break;
                case 2:
                    data[0] = InterruptIdentification();
                    break;
                case 3:
                    data[0] = _lcr;
                    break;
                case 4:
                    data[0] = _mcr;
                    break;
                case 5:
                    data[0] = (byte)(LSR_THRE | LSR_TEMT | (_input.Count > 0 ? LSR_DR : 0));
                    break;
                case 6:
                    data[0] = (_mcr & MCR_LOOP) != 0 ? LoopbackModemStatus(_mcr) : MSR_DEFAULT;
                    break;
                default:
                    data[0] = _scr;
                    break;
            }
        }

        if (raise)
        {
            _irq.Pulse();
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length != 1)
        {
            return;
        }

        var value = data[0];
        var raise = false;
        var transmit = false;
        lock (_lock)
        {
            var dlab = (_lcr & LCR_DLAB) != 0;
            switch (offset)
            {
                case 0 when dlab:
                    _dll = value;
                    break;
                case 0:
                    if ((_mcr & MCR_LOOP) != 0)
                    {
                        if (_input.Count < InputCapacity)
                        {
                            _input.Enqueue(value);
                        }

                        raise = (_ier & IER_RDI) != 0;
                    }
                    else
                    {
                        transmit = true;
                    }

                    _thrInterrupt = true;
                    raise |= (_ier & IER_THRI) != 0;
                    break;
                case 1 when dlab:
                    _dlm = value;
                    break;
                case 1:
                    var enabling = (value & IER_THRI) != 0 && (_ier & IER_THRI) == 0;
                    _ier = (byte)(value & 0x0F);
                    if (enabling)
                    {
                        // The holding register is empty, so enabling its interrupt raises it at once.
                        _thrInterrupt = true;
                    }

                    raise = ((_ier & IER_THRI) != 0 && _thrInterrupt) || ((_ier & IER_RDI) != 0 && _input.Count > 0);
                    break;
                case 2:
                    if ((value & 0x02) != 0)
                    {
                        _input.Clear(); // FCR: clear the receive FIFO
                        RoomMade();
                    }

                    break;
                case 3:
                    _lcr = value;
                    break;
                case 4:
                    _mcr = (byte)(value & 0x1F);
                    RoomMade(); // leaving loopback or entering it: a waiting input thread re-checks
                    break;
                case 7:
                    _scr = value;
                    break;
                default:
                    break; // LSR and MSR are read-only
            }
        }

        if (transmit)
        {
            _output.Write([value]);
            Interlocked.Increment(ref _txBytes);
        }

        if (raise)
        {
            _irq.Pulse();
        }
    }

    /// <summary>IIR: received data first, then THR empty (cleared by this read), else none.</summary>
    private byte InterruptIdentification()
    {
        if ((_ier & IER_RDI) != 0 && _input.Count > 0)
        {
            return IIR_RDI | IIR_FIFO;
        }

        if ((_ier & IER_THRI) != 0 && _thrInterrupt)
        {
            _thrInterrupt = false;
            return IIR_THRI | IIR_FIFO;
        }

        return IIR_NONE | IIR_FIFO;
    }

    /// <summary>In loopback, DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD.</summary>
    private static byte LoopbackModemStatus(byte mcr) =>
        (byte)(((mcr & 0x01) << 5) | ((mcr & 0x02) << 3) | ((mcr & 0x04) << 4) | ((mcr & 0x08) << 4));
}

using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Devices;

/// <summary>The CMOS index register and its 128 bytes of NVRAM (the clock is the host's, read live).</summary>
public sealed record CmosState
{
    public byte Index { get; init; }

    public required byte[] Nvram { get; init; }
}

/// <summary>
/// A minimal MC146818 CMOS/RTC on ports 0x70 (index) and 0x71 (data): the wall clock in BCD,
/// 24-hour mode, never "update in progress", plus 128 bytes of NVRAM with the RAM sizes a
/// BIOS-era guest looks for (0x34/0x35: RAM above 16 MiB in 64 KiB units; 0x5B-0x5D: above 4 GiB).
/// </summary>
public sealed class Cmos : IBusDevice, IStateful
{
    private const byte RegisterA = 0x0A;
    private const byte RegisterB = 0x0B;
    private const byte RegisterC = 0x0C;
    private const byte RegisterD = 0x0D;

    private readonly byte[] _nvram = new byte[128];
    private readonly Func<DateTime> _clock;
    private readonly Lock _lock = new();
    private byte _index;

    public Cmos(ulong memoryBelow4G, ulong memoryAbove4G, Func<DateTime>? clock = null)
    {
        _clock = clock ?? (() => DateTime.UtcNow);
        _nvram[RegisterA] = 0x26; // 32.768 kHz time base, 1024 Hz rate, UIP clear
        _nvram[RegisterB] = 0x02; // 24-hour mode, BCD
        _nvram[RegisterD] = 0x80; // valid RAM and time

        var above16M = memoryBelow4G > (16 << 20) ? (memoryBelow4G - (16 << 20)) >> 16 : 0;
        above16M = Math.Min(above16M, 0xFFFF);
        _nvram[0x34] = (byte)above16M;
        _nvram[0x35] = (byte)(above16M >> 8);
        var high = memoryAbove4G >> 16;
        _nvram[0x5B] = (byte)high;
        _nvram[0x5C] = (byte)(high >> 8);
        _nvram[0x5D] = (byte)(high >> 16);
    }

    public void Read(ulong offset, Span<byte> data)
    {
        if (data.Length != 1)
        {
            data.Clear();
            return;
        }

        lock (_lock)
        {
            data[0] = offset == 0 ? _index : ReadRegister(_index);
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length != 1)
        {
            return;
        }

        lock (_lock)
        {
            if (offset == 0)
            {
                _index = (byte)(data[0] & 0x7F); // bit 7 is the NMI mask, not part of the index
            }
            else if (_index is not (RegisterC or RegisterD) && _index >= 0x0A)
            {
                _nvram[_index] = data[0];
            }
        }
    }

    private byte ReadRegister(byte index)
    {
        var now = _clock();
        return index switch
        {
            0x00 => Bcd(now.Second),
            0x02 => Bcd(now.Minute),
            0x04 => Bcd(now.Hour),
            0x06 => Bcd(((int)now.DayOfWeek) + 1),
            0x07 => Bcd(now.Day),
            0x08 => Bcd(now.Month),
            0x09 => Bcd(now.Year % 100),
            0x32 => Bcd(now.Year / 100),
            RegisterC => 0, // no pending RTC interrupts
            _ => _nvram[index],
        };
    }

    public string SaveState()
    {
        lock (_lock)
        {
            return StateJson.Write(new CmosState { Index = _index, Nvram = [.. _nvram] }, StateJsonContext.Default.CmosState);
        }
    }

    public void RestoreState(string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.CmosState);
        if (s.Nvram.Length != _nvram.Length)
        {
            throw new StateFormatException("nvram", $"is {s.Nvram.Length} bytes, expected {_nvram.Length}");
        }

        lock (_lock)
        {
            _index = (byte)(s.Index & 0x7F);
            s.Nvram.CopyTo(_nvram, 0);
        }
    }

    private static byte Bcd(int value) => (byte)(((value / 10) << 4) | (value % 10));
}

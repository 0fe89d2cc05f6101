using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Devices.Console;

namespace CloudHypervisor.Vmm.Tests.Kvm;

/// <summary>The device models driven as a guest driver would, without KVM.</summary>
public sealed class DeviceTests
{
    private sealed class CountingIrq : IIrqLine
    {
        public int Pulses;

        public void Pulse() => Interlocked.Increment(ref Pulses);
    }

    private sealed class CapturingConsole : IConsoleBackend
    {
        public List<byte> Output { get; } = [];

        public string Mode => "Test";

        public void Write(ReadOnlySpan<byte> data) => Output.AddRange(data.ToArray());

        public void StartInput(Action<byte[]> input)
        {
        }

        public void Dispose()
        {
        }
    }

    private static byte In(IBusDevice device, ulong offset)
    {
        var b = new byte[1];
        device.Read(offset, b);
        return b[0];
    }

    private static void Out(IBusDevice device, ulong offset, byte value) => device.Write(offset, [value]);

    [Fact]
    public void Serial_output_reaches_the_console_and_raises_THR_empty_when_enabled()
    {
        var irq = new CountingIrq();
        var console = new CapturingConsole();
        var uart = new Serial8250(irq, console);

        Out(uart, 0, (byte)'A');
        Assert.Equal(0, irq.Pulses); // interrupts disabled
        Out(uart, 1, 0x02); // IER: THR empty
        Assert.Equal(1, irq.Pulses); // enabling it with an empty THR raises it at once
        Assert.Equal(0xC2, In(uart, 2)); // IIR: THR empty (FIFO bits set), cleared by this read
        Assert.Equal(0xC1, In(uart, 2)); // IIR: nothing pending
        Out(uart, 0, (byte)'B');
        Assert.Equal(2, irq.Pulses);
        Assert.Equal("AB"u8.ToArray(), console.Output);
        Assert.Equal(2UL, uart.TxBytes);
        Assert.Equal(0x60, In(uart, 5)); // LSR: THRE | TEMT, no data
    }

    [Fact]
    public void Serial_input_is_queued_signalled_and_read_in_order()
    {
        var irq = new CountingIrq();
        var uart = new Serial8250(irq, new CapturingConsole());
        Out(uart, 1, 0x01); // IER: received data

        uart.Enqueue("hi"u8);

        Assert.Equal(1, irq.Pulses);
        Assert.Equal(0x61, In(uart, 5)); // LSR: data ready
        Assert.Equal(0xC4, In(uart, 2)); // IIR: received data
        Assert.Equal((byte)'h', In(uart, 0));
        Assert.Equal((byte)'i', In(uart, 0));
        Assert.Equal(0x60, In(uart, 5));
        Assert.Equal(2UL, uart.RxBytes);
    }

    [Fact]
    public void Serial_loopback_returns_written_bytes_and_mirrors_the_modem_lines()
    {
        var console = new CapturingConsole();
        var uart = new Serial8250(new CountingIrq(), console);
        Out(uart, 4, 0x1F); // MCR: loopback, OUT2, OUT1, RTS, DTR

        Out(uart, 0, 0x5A);

        Assert.Empty(console.Output);
        Assert.Equal(0x5A, In(uart, 0));
        Assert.Equal(0xF0, In(uart, 6)); // DCD, RI, DSR, CTS from OUT2, OUT1, DTR, RTS
    }

    [Fact]
    public void Serial_divisor_latch_is_separate_from_data_and_IER()
    {
        var uart = new Serial8250(new CountingIrq(), new CapturingConsole());
        Out(uart, 3, 0x80); // DLAB
        Out(uart, 0, 0x01);
        Out(uart, 1, 0x00);
        Assert.Equal(0x01, In(uart, 0));
        Out(uart, 3, 0x03);
        Assert.Equal(0x00, In(uart, 1)); // IER untouched
    }

    [Fact]
    public void Writing_S5_to_the_sleep_control_register_powers_off_and_the_reset_register_resets()
    {
        var poweroffs = 0;
        var resets = 0;
        var pm = new AcpiPmRegisters(() => poweroffs++, () => resets++);

        Out(pm, 0, 0x14); // SLP_TYP 5 without SLP_EN: nothing
        Out(pm, 0, 0x34);
        Out(pm, 2, 0x01);

        Assert.Equal(1, poweroffs);
        Assert.Equal(1, resets);
    }

    [Fact]
    public void The_i8042_reset_command_resets()
    {
        var resets = 0;
        var i8042 = new I8042(() => resets++);
        Out(i8042, 0, 0xAA);
        Out(i8042, 0, 0xFE);
        Assert.Equal(1, resets);
    }

    [Fact]
    public void The_GED_register_reports_the_power_button_once_and_raises_its_IRQ()
    {
        var irq = new CountingIrq();
        var ged = new GedDevice(irq);

        ged.PowerButton();

        var value = new byte[4];
        ged.Read(0, value);
        Assert.Equal(1U, BitConverter.ToUInt32(value));
        ged.Read(0, value);
        Assert.Equal(0U, BitConverter.ToUInt32(value));
        Assert.Equal(1, irq.Pulses);
    }

    [Fact]
    public void The_CMOS_clock_reads_the_time_in_BCD()
    {
        var cmos = new Cmos(512UL << 20, 0, () => new DateTime(2026, 11, 22, 13, 45, 59, DateTimeKind.Utc));

        byte Register(byte index)
        {
            Out(cmos, 0, index);
            return In(cmos, 1);
        }

        Assert.Equal(0x59, Register(0x00));
        Assert.Equal(0x45, Register(0x02));
        Assert.Equal(0x13, Register(0x04));
        Assert.Equal(0x22, Register(0x07));
        Assert.Equal(0x11, Register(0x08));
        Assert.Equal(0x26, Register(0x09));
        Assert.Equal(0x20, Register(0x32));
        Assert.Equal(0, Register(0x0A) & 0x80); // never "update in progress"
        Assert.Equal((496 * 16) & 0xFF, Register(0x34)); // 496 MiB above 16 MiB in 64 KiB units
    }

    [Fact]
    public void The_IO_bus_dispatches_by_range_counts_accesses_and_refuses_overlaps()
    {
        var bus = new IoBus();
        var uart = new Serial8250(new CountingIrq(), new CapturingConsole());
        bus.Register(0x3F8, 8, "__serial", uart);

        Assert.Throws<InvalidOperationException>(() => bus.Register(0x3FF, 1, "other", uart));
        var data = new byte[1];
        Assert.True(bus.Read(0x3FD, data));
        Assert.Equal(0x60, data[0]);
        Assert.False(bus.Read(0x2F8, data));
        Assert.Equal(0xFF, data[0]); // nothing there: all ones
        Assert.Equal(1UL, bus.AccessCounts()["__serial"]);
    }
}

using System.Diagnostics;
using System.Runtime.CompilerServices;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Kvm;
using CloudHypervisor.Vmm.Tests.Guests;
using Serilog;
using Xunit.Abstractions;

namespace CloudHypervisor.Vmm.Tests.Kvm;

/// <summary>
/// The bundled guests (guests/, built by ./build.sh into out/guests/) on the real /dev/kvm through
/// the backend, output read from serial file=. When out/guests is missing they are built into a
/// temporary folder with guests/build.sh.
/// </summary>
public sealed class BundledGuestTests(ITestOutputHelper output) : IDisposable
{
    private static readonly Lazy<string> GuestDir = new(LocateOrBuildGuests);

    /// <summary>The ELF of a bundled guest, built on first use when out/guests is missing.</summary>
    internal static string GuestPath(string guest) => Path.Combine(GuestDir.Value, guest);
    private readonly TempDir _dir = new();
    private readonly KvmHypervisor _hypervisor = new(new LoggerConfiguration().CreateLogger());

    private static string RepoRoot([CallerFilePath] string path = "")
    {
        var dir = Path.GetDirectoryName(path);
        while (dir is not null && !File.Exists(Path.Combine(dir, "CloudHypervisor.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("cannot find the repository root");
    }

    private static string LocateOrBuildGuests()
    {
        var root = RepoRoot();
        var built = Path.Combine(root, "out", "guests");
        if (File.Exists(Path.Combine(built, "banner")))
        {
            return built;
        }

        var target = Directory.CreateTempSubdirectory("kvm-guests-").FullName;
        using var process = Process.Start(new ProcessStartInfo("bash", [Path.Combine(root, "guests", "build.sh"), target])
        {
            RedirectStandardError = true,
        })!;
        var errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"guests/build.sh failed: {errors}");
        return target;
    }

    private (IGuestVm Vm, RecordingEvents Events, string Serial) Boot(string guest, uint vcpus = 1, string? cmdline = null)
    {
        KvmRequirement.Check();
        var serial = _dir.File(guest + ".serial");
        var config = new VmConfig
        {
            Cpus = new CpusConfig { BootVcpus = vcpus, MaxVcpus = vcpus },
            Memory = new MemoryConfig { Size = 64UL << 20 },
            Payload = new PayloadConfig { Kernel = Path.Combine(GuestDir.Value, guest), Cmdline = cmdline },
            Serial = new SerialConfig { Mode = ConsoleMode.File, File = serial },
            Console = new ConsoleConfig { Mode = ConsoleMode.Off },
        };
        var events = new RecordingEvents();
        IGuestVm vm;
        try
        {
            _hypervisor.PrepareConsoles(config);
            vm = _hypervisor.CreateVm(config, events);
        }
        catch (HypervisorException e)
        {
            Assert.Fail($"{e.Message}: {string.Join(": ", e.Causes)}");
            throw;
        }

        vm.Boot();
        return (vm, events, serial);
    }

    private static void WaitFor(string serial, string text, int seconds = 30) =>
        Assert.True(Wait.Until(() => Wait.ReadShared(serial).Contains(text, StringComparison.Ordinal), TimeSpan.FromSeconds(seconds)),
            $"no \"{text}\" on the serial port; it shows: {Wait.ReadShared(serial)}");

    [Fact]
    public void Banner_prints_on_the_debug_console_port_to_a_file()
    {
        KvmRequirement.Check();
        var debug = _dir.File("debug.log");
        var config = new VmConfig
        {
            Memory = new MemoryConfig { Size = 64UL << 20 },
            Payload = new PayloadConfig { Kernel = Path.Combine(GuestDir.Value, "banner") },
            Serial = new SerialConfig { Mode = ConsoleMode.Null },
            Console = new ConsoleConfig { Mode = ConsoleMode.Off },
            DebugConsole = new DebugConsoleConfig { Mode = ConsoleMode.File, File = debug, Iobase = 0xE9 },
        };
        _hypervisor.PrepareConsoles(config);
        using var vm = _hypervisor.CreateVm(config, new RecordingEvents());
        vm.Boot();
        WaitFor(debug, "banner");
        Assert.True(vm.Counters()["__debug_console"]["tx_bytes"] > 0);
    }

    [Fact]
    public void Banner_prints_its_first_line_on_COM1_and_the_counters_move()
    {
        var (vm, _, serial) = Boot("banner");
        using (vm)
        {
            WaitFor(serial, GuestOutput.FirstLine("banner"));
            var counters = vm.Counters();
            Assert.True(counters["__serial"]["tx_bytes"] > 10);
            Assert.True(counters["vcpu0"]["io_exits"] > 10);
            Assert.Contains("__serial", vm.DeviceTree.Keys);
        }
    }

    [Fact]
    public void Create_to_first_serial_byte_is_measured()
    {
        KvmRequirement.Check();
        var serial = _dir.File("first.serial");
        var config = new VmConfig
        {
            Memory = new MemoryConfig { Size = 64UL << 20 },
            Payload = new PayloadConfig { Kernel = Path.Combine(GuestDir.Value, "banner") },
            Serial = new SerialConfig { Mode = ConsoleMode.File, File = serial },
            Console = new ConsoleConfig { Mode = ConsoleMode.Off },
        };
        var watch = Stopwatch.StartNew();
        _hypervisor.PrepareConsoles(config);
        using var vm = _hypervisor.CreateVm(config, new RecordingEvents());
        var created = watch.Elapsed;
        vm.Boot();
        Assert.True(Wait.Until(() => new FileInfo(serial).Length > 0, TimeSpan.FromSeconds(30)), "no serial output");
        output.WriteLine($"create {created.TotalMilliseconds:F1} ms, create to first serial byte {watch.Elapsed.TotalMilliseconds:F1} ms");
    }

    [Fact]
    public void Smp_brings_up_every_vcpu()
    {
        var (vm, _, serial) = Boot("smp", vcpus: 3);
        using (vm)
        {
            WaitFor(serial, "cpu 1 up");
            WaitFor(serial, "cpu 2 up");
        }
    }

    [Fact]
    public void Nmi_reaches_the_guest_handler_each_time()
    {
        var (vm, _, serial) = Boot("nmi");
        using (vm)
        {
            WaitFor(serial, GuestOutput.FirstLine("nmi"));
            var before = Wait.ReadShared(serial).Length;
            vm.Nmi();
            Assert.True(Wait.Until(() => Wait.ReadShared(serial).Length > before, TimeSpan.FromSeconds(10)), "no output after the first NMI");
            var after = Wait.ReadShared(serial).Length;
            vm.Nmi();
            Assert.True(Wait.Until(() => Wait.ReadShared(serial).Length > after, TimeSpan.FromSeconds(10)), "no output after the second NMI");
        }
    }

    [Fact]
    public async Task Poweroff_ends_with_a_Poweroff_exit()
    {
        var (vm, events, serial) = Boot("poweroff");
        using (vm)
        {
            var exit = await events.Exit.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(GuestExitKind.Poweroff, exit.Kind);
            WaitFor(serial, GuestOutput.FirstLine("poweroff"), 1);
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData("i8042")]
    public async Task Reset_ends_with_a_Reset_exit(string? cmdline)
    {
        var (vm, events, serial) = Boot("reset", cmdline: cmdline);
        using (vm)
        {
            var exit = await events.Exit.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(GuestExitKind.Reset, exit.Kind);
            WaitFor(serial, GuestOutput.FirstLine("reset"), 1);
        }
    }

    [Fact]
    public async Task Triplefault_ends_with_a_Reset_exit()
    {
        var (vm, events, _) = Boot("triplefault");
        using (vm)
        {
            var exit = await events.Exit.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(GuestExitKind.Reset, exit.Kind);
        }
    }

    [Fact]
    public async Task The_power_button_reaches_the_guest_through_the_GED_interrupt()
    {
        var (vm, events, serial) = Boot("powerbutton");
        using (vm)
        {
            WaitFor(serial, GuestOutput.FirstLine("powerbutton"));
            vm.PowerButton();
            var exit = await events.Exit.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(GuestExitKind.Poweroff, exit.Kind);
        }
    }

    [Fact]
    public void Ticks_stop_while_paused_and_restart_on_resume()
    {
        var (vm, _, serial) = Boot("ticks");
        using (vm)
        {
            WaitFor(serial, "ticks: 2");
            var watch = Stopwatch.StartNew();
            vm.Pause();
            var pause = watch.Elapsed;
            var paused = Wait.ReadShared(serial);
            Thread.Sleep(1000); // four ticks' worth
            Assert.Equal(paused, Wait.ReadShared(serial));
            watch.Restart();
            vm.Resume();
            var resume = watch.Elapsed;
            Assert.True(Wait.Until(() => Wait.ReadShared(serial).Length > paused.Length, TimeSpan.FromSeconds(10)), "ticks did not restart");
            output.WriteLine($"pause {pause.TotalMilliseconds:F3} ms, resume {resume.TotalMilliseconds:F3} ms");
        }
    }

    [Fact]
    public void Echo_returns_what_is_typed_on_a_serial_socket()
    {
        KvmRequirement.Check();
        var socket = _dir.File("serial.sock");
        var config = new VmConfig
        {
            Memory = new MemoryConfig { Size = 64UL << 20 },
            Payload = new PayloadConfig { Kernel = Path.Combine(GuestDir.Value, "echo") },
            Serial = new SerialConfig { Mode = ConsoleMode.Socket, Socket = socket },
            Console = new ConsoleConfig { Mode = ConsoleMode.Off },
        };
        _hypervisor.PrepareConsoles(config);
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        client.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(socket));
        client.ReceiveTimeout = 30_000;
        using var vm = _hypervisor.CreateVm(config, new RecordingEvents());
        vm.Boot();

        var received = new System.Text.StringBuilder();
        var buffer = new byte[256];
        void ReadUntil(string text)
        {
            while (!received.ToString().Contains(text, StringComparison.Ordinal))
            {
                var n = client.Receive(buffer);
                Assert.True(n > 0, $"socket closed; got: {received}");
                received.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, n));
            }
        }

        ReadUntil(GuestOutput.FirstLine("echo"));
        client.Send("hello\r"u8);
        ReadUntil("echo: hello");
        Assert.Equal(6UL, vm.Counters()["__serial"]["rx_bytes"]);
    }

    [Fact]
    public void A_serial_pty_is_allocated_at_create_and_carries_the_guest_output()
    {
        KvmRequirement.Check();
        var config = new VmConfig
        {
            Memory = new MemoryConfig { Size = 64UL << 20 },
            Payload = new PayloadConfig { Kernel = Path.Combine(GuestDir.Value, "banner") },
            Serial = new SerialConfig { Mode = ConsoleMode.Pty },
            Console = new ConsoleConfig { Mode = ConsoleMode.Off },
        };
        _hypervisor.PrepareConsoles(config);
        Assert.StartsWith("/dev/pts/", config.Serial.File, StringComparison.Ordinal);
        using var pty = new FileStream(config.Serial.File!, FileMode.Open, FileAccess.Read);
        using var vm = _hypervisor.CreateVm(config, new RecordingEvents());
        vm.Boot();

        var text = new System.Text.StringBuilder();
        var buffer = new byte[256];
        var first = GuestOutput.FirstLine("banner");
        var watch = Stopwatch.StartNew();
        while (!text.ToString().Contains(first, StringComparison.Ordinal) && watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            var n = pty.Read(buffer);
            text.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        }

        Assert.Contains(first, text.ToString(), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _hypervisor.Dispose();
        _dir.Dispose();
    }
}

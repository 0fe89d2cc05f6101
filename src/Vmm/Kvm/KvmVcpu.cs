using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Kvm.Interop;
using Serilog;

namespace CloudHypervisor.Vmm.Kvm;

// SAFETY: HandleMmio takes the 8-byte data array of kvm_run.mmio by `fixed` and never reads
// beyond min(len, 8); the kvm_run mapping outlives the thread that uses it (see KvmVcpuFd).
/// <summary>
/// One vCPU and its thread: KVM_RUN in a loop, port I/O and MMIO exits dispatched to the buses,
/// guest-ending exits reported once through <see cref="KvmGuestVm"/>.
/// </summary>
internal sealed class KvmVcpu : IDisposable
{
    private readonly VcpuControl _control;
    private readonly IoBus _pio;
    private readonly IoBus _mmio;
    private readonly Action<GuestExit> _exit;
    private readonly ILogger _logger;
    private readonly ManualResetEventSlim _started = new();
    private Thread? _thread;
    private nuint _pthread;
    private long _exits;
    private long _ioExits;
    private long _mmioExits;
    private long _interrupted;
    private int _nmiPending;

    public KvmVcpu(KvmVcpuFd fd, VcpuControl control, IoBus pio, IoBus mmio, Action<GuestExit> exit, ILogger logger)
    {
        Fd = fd;
        _control = control;
        _pio = pio;
        _mmio = mmio;
        _exit = exit;
        _logger = logger;
    }

    public KvmVcpuFd Fd { get; }

    public int Id => Fd.Id;

    public IReadOnlyDictionary<string, ulong> Counters() => new Dictionary<string, ulong>
    {
        ["exits"] = (ulong)Interlocked.Read(ref _exits),
        ["io_exits"] = (ulong)Interlocked.Read(ref _ioExits),
        ["mmio_exits"] = (ulong)Interlocked.Read(ref _mmioExits),
        ["interrupted"] = (ulong)Interlocked.Read(ref _interrupted),
    };

    public void Start()
    {
        _ = VcpuKick.Signal; // install the kick handler before any thread can be kicked
        _thread = new Thread(Loop) { IsBackground = true, Name = $"vcpu{Id}" };
        _thread.Start();
        _started.Wait();
    }

    /// <summary>Forces the thread out of KVM_RUN: immediate_exit for the next entry, a signal for the current one.</summary>
    public void Kick()
    {
        Fd.ImmediateExit = true;
        if (_started.IsSet && _thread is { IsAlive: true })
        {
            VcpuKick.Kick(_pthread);
        }
    }

    public void Join() => _thread?.Join();

    /// <summary>Queues an NMI for the vCPU thread to inject and kicks it out of KVM_RUN to do so.</summary>
    public void RequestNmi()
    {
        Interlocked.Exchange(ref _nmiPending, 1);
        Kick();
    }

    private void Loop()
    {
        _pthread = VcpuKick.CurrentThread();
        _started.Set();
        try
        {
            while (_control.WaitUntilRunnable(Fd))
            {
                // vCPU ioctls wait for KVM_RUN to return (they share the vCPU mutex), so an NMI
                // is injected here, by the vCPU's own thread, between two runs.
                if (Interlocked.Exchange(ref _nmiPending, 0) != 0)
                {
                    Fd.Nmi();
                }

                if (!Fd.RunOnce())
                {
                    Interlocked.Increment(ref _interrupted);
                    continue;
                }

                Interlocked.Increment(ref _exits);
                HandleExit();
            }
        }
        catch (Exception e)
        {
            _logger.Error(e, "vCPU {Vcpu} failed", Id);
            _exit(new GuestExit(GuestExitKind.Fatal, $"vCPU {Id}: {e.Message}"));
        }
        finally
        {
            _control.ThreadEnded();
        }
    }

    private void HandleExit()
    {
        switch (Fd.ExitReason)
        {
            case KvmConstants.KVM_EXIT_IO:
                Interlocked.Increment(ref _ioExits);
                HandleIo();
                break;
            case KvmConstants.KVM_EXIT_MMIO:
                Interlocked.Increment(ref _mmioExits);
                HandleMmio();
                break;
            case KvmConstants.KVM_EXIT_INTR:
                Interlocked.Increment(ref _interrupted);
                break;
            case KvmConstants.KVM_EXIT_HLT:
                // Only seen without an in-kernel LAPIC, which we always create; nothing to do.
                break;
            case KvmConstants.KVM_EXIT_SHUTDOWN:
                // A triple fault: the CPU resets, as real hardware does.
                _exit(new GuestExit(GuestExitKind.Reset, $"vCPU {Id}: triple fault (KVM_EXIT_SHUTDOWN)"));
                break;
            case KvmConstants.KVM_EXIT_SYSTEM_EVENT:
                HandleSystemEvent();
                break;
            case KvmConstants.KVM_EXIT_INTERNAL_ERROR:
                _exit(new GuestExit(GuestExitKind.Fatal, DescribeInternalError()));
                break;
            case KvmConstants.KVM_EXIT_FAIL_ENTRY:
                _exit(new GuestExit(GuestExitKind.Fatal,
                    $"vCPU {Id}: KVM_EXIT_FAIL_ENTRY, hardware reason 0x{Fd.FailEntryExit.hardware_entry_failure_reason:X}"));
                break;
            default:
                _exit(new GuestExit(GuestExitKind.Fatal, $"vCPU {Id}: unexpected KVM exit reason {Fd.ExitReason}"));
                break;
        }
    }

    private void HandleIo()
    {
        ref var io = ref Fd.IoExit;
        var data = Fd.IoData;
        var size = io.size;
        for (var i = 0; i < io.count; i++)
        {
            var slice = data.Slice(i * size, size);
            if (io.direction == KvmConstants.KVM_EXIT_IO_OUT)
            {
                _pio.Write(io.port, slice);
            }
            else
            {
                _pio.Read(io.port, slice);
            }
        }
    }

    private unsafe void HandleMmio()
    {
        ref var mmio = ref Fd.MmioExit;
        var length = (int)Math.Min(mmio.len, 8);
        // SAFETY: mmio.data is the 8-byte buffer inside the vCPU's kvm_run mapping, which lives as
        // long as this vCPU, and length is clamped to 8.
        fixed (byte* p = mmio.data)
        {
            var data = new Span<byte>(p, length);
            if (mmio.is_write != 0)
            {
                _mmio.Write(mmio.phys_addr, data);
            }
            else
            {
                _mmio.Read(mmio.phys_addr, data);
            }
        }
    }

    private void HandleSystemEvent()
    {
        var type = Fd.SystemEventExit.type;
        var exit = type switch
        {
            KvmConstants.KVM_SYSTEM_EVENT_SHUTDOWN => new GuestExit(GuestExitKind.Poweroff, $"vCPU {Id}: KVM system event shutdown"),
            KvmConstants.KVM_SYSTEM_EVENT_RESET => new GuestExit(GuestExitKind.Reset, $"vCPU {Id}: KVM system event reset"),
            _ => new GuestExit(GuestExitKind.Fatal, $"vCPU {Id}: KVM system event {type}"),
        };
        _exit(exit);
    }

    private string DescribeInternalError()
    {
        ref var error = ref Fd.InternalExit;
        var kind = error.suberror switch
        {
            KvmConstants.KVM_INTERNAL_ERROR_EMULATION => "emulation failure",
            KvmConstants.KVM_INTERNAL_ERROR_SIMUL_EX => "exception while delivering an exception",
            KvmConstants.KVM_INTERNAL_ERROR_DELIVERY_EV => "event delivery failed",
            _ => $"suberror {error.suberror}",
        };
        var rip = "unknown";
        try
        {
            rip = $"0x{Fd.GetRegs().rip:X}";
        }
        catch (KvmException)
        {
            // The registers are only context for the message.
        }

        return $"vCPU {Id}: KVM internal error: {kind} at rip {rip}";
    }

    public void Dispose()
    {
        Fd.Dispose();
        _started.Dispose();
    }
}

using System.Runtime.InteropServices;

namespace CloudHypervisor.Vmm.Kvm.Interop;

// SAFETY: ioctl arguments point to locals or pinned structs of exactly the size encoded in the
// request number (checked by KvmAbiTests); kvm_run views stay inside the mapping (IoData checks
// data_offset + size * count against its length).
/// <summary>
/// A vCPU file descriptor, its mmap'ed <c>kvm_run</c>, and every vCPU ioctl (the state getters and
/// setters are what the snapshot issue saves and restores).
/// </summary>
internal sealed unsafe class KvmVcpuFd : IDisposable
{
    private readonly FdHandle _fd;
    private readonly MmapHandle _run;

    public KvmVcpuFd(FdHandle fd, MmapHandle run, int id)
    {
        _fd = fd;
        _run = run;
        Id = id;
    }

    public int Id { get; }

    // SAFETY: the kvm_run mapping lives as long as this object; it is unmapped only in Dispose,
    // which the owner calls after the vCPU thread has ended.
    private kvm_run_header* Run => (kvm_run_header*)_run.Address;

    /// <summary>kvm_run.immediate_exit: when set, KVM_RUN returns EINTR at once instead of entering the guest.</summary>
    public bool ImmediateExit
    {
        get => Volatile.Read(ref Run->immediate_exit) != 0;
        set => Volatile.Write(ref Run->immediate_exit, value ? (byte)1 : (byte)0);
    }

    public uint ExitReason => Run->exit_reason;

    public ref kvm_run_io IoExit => ref *(kvm_run_io*)((byte*)_run.Address + 32);

    public ref kvm_run_mmio MmioExit => ref *(kvm_run_mmio*)((byte*)_run.Address + 32);

    public ref kvm_run_internal InternalExit => ref *(kvm_run_internal*)((byte*)_run.Address + 32);

    public ref kvm_run_system_event SystemEventExit => ref *(kvm_run_system_event*)((byte*)_run.Address + 32);

    public ref kvm_run_fail_entry FailEntryExit => ref *(kvm_run_fail_entry*)((byte*)_run.Address + 32);

    /// <summary>The data bytes of a KVM_EXIT_IO, inside the kvm_run page.</summary>
    public Span<byte> IoData
    {
        get
        {
            ref var io = ref IoExit;
            var length = checked((int)(io.size * io.count));
            if (io.data_offset + (ulong)length > _run.Length)
            {
                throw new KvmException($"KVM_EXIT_IO data at {io.data_offset} + {length} is outside kvm_run");
            }

            return new Span<byte>((byte*)_run.Address + (nint)io.data_offset, length);
        }
    }

    /// <summary>KVM_RUN. Returns false when interrupted (EINTR: a kick or immediate_exit), true on a guest exit.</summary>
    public bool RunOnce()
    {
        if (_fd.RawIoctl(KvmIoctls.KVM_RUN, 0) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno is Libc.EINTR or Libc.EAGAIN ? false : throw new KvmException("KVM_RUN", errno);
    }

    public void Nmi() => _fd.Ioctl(KvmIoctls.KVM_NMI, 0, "KVM_NMI");

    public kvm_regs GetRegs() => Get<kvm_regs>(KvmIoctls.KVM_GET_REGS, "KVM_GET_REGS");

    public void SetRegs(in kvm_regs value) => Set(KvmIoctls.KVM_SET_REGS, value, "KVM_SET_REGS");

    public kvm_sregs GetSregs() => Get<kvm_sregs>(KvmIoctls.KVM_GET_SREGS, "KVM_GET_SREGS");

    public void SetSregs(in kvm_sregs value) => Set(KvmIoctls.KVM_SET_SREGS, value, "KVM_SET_SREGS");

    public kvm_fpu GetFpu() => Get<kvm_fpu>(KvmIoctls.KVM_GET_FPU, "KVM_GET_FPU");

    public void SetFpu(in kvm_fpu value) => Set(KvmIoctls.KVM_SET_FPU, value, "KVM_SET_FPU");

    public kvm_lapic_state GetLapic() => Get<kvm_lapic_state>(KvmIoctls.KVM_GET_LAPIC, "KVM_GET_LAPIC");

    public void SetLapic(in kvm_lapic_state value) => Set(KvmIoctls.KVM_SET_LAPIC, value, "KVM_SET_LAPIC");

    public kvm_mp_state GetMpState() => Get<kvm_mp_state>(KvmIoctls.KVM_GET_MP_STATE, "KVM_GET_MP_STATE");

    public void SetMpState(in kvm_mp_state value) => Set(KvmIoctls.KVM_SET_MP_STATE, value, "KVM_SET_MP_STATE");

    public kvm_vcpu_events GetVcpuEvents() => Get<kvm_vcpu_events>(KvmIoctls.KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS");

    public void SetVcpuEvents(in kvm_vcpu_events value) => Set(KvmIoctls.KVM_SET_VCPU_EVENTS, value, "KVM_SET_VCPU_EVENTS");

    public kvm_xcrs GetXcrs() => Get<kvm_xcrs>(KvmIoctls.KVM_GET_XCRS, "KVM_GET_XCRS");

    public void SetXcrs(in kvm_xcrs value) => Set(KvmIoctls.KVM_SET_XCRS, value, "KVM_SET_XCRS");

    public kvm_xsave GetXsave() => Get<kvm_xsave>(KvmIoctls.KVM_GET_XSAVE, "KVM_GET_XSAVE");

    public void SetXsave(in kvm_xsave value) => Set(KvmIoctls.KVM_SET_XSAVE, value, "KVM_SET_XSAVE");

    /// <summary>KVM_GET_TSC_KHZ: the guest TSC frequency.</summary>
    public uint GetTscKhz() => (uint)_fd.Ioctl(KvmIoctls.KVM_GET_TSC_KHZ, 0, "KVM_GET_TSC_KHZ");

    public void SetTscKhz(uint khz) => _fd.Ioctl(KvmIoctls.KVM_SET_TSC_KHZ, (nint)khz, "KVM_SET_TSC_KHZ");

    /// <summary>The CPUID entries last given to <see cref="SetCpuid"/>, saved with the vCPU.</summary>
    public kvm_cpuid_entry2[] Cpuid { get; private set; } = [];

    public void SetCpuid(ReadOnlySpan<kvm_cpuid_entry2> entries)
    {
        var size = sizeof(kvm_cpuid2) + (entries.Length * sizeof(kvm_cpuid_entry2));
        var buffer = (byte*)NativeMemory.AllocZeroed((nuint)size);
        try
        {
            ((kvm_cpuid2*)buffer)->nent = (uint)entries.Length;
            entries.CopyTo(new Span<kvm_cpuid_entry2>(buffer + sizeof(kvm_cpuid2), entries.Length));
            _fd.Ioctl(KvmIoctls.KVM_SET_CPUID2, (nint)buffer, "KVM_SET_CPUID2");
            Cpuid = entries.ToArray();
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    /// <summary>KVM_GET_MSRS for <paramref name="indices"/>; returns the entries KVM could read.</summary>
    public kvm_msr_entry[] GetMsrs(ReadOnlySpan<uint> indices)
    {
        var entries = new kvm_msr_entry[indices.Length];
        for (var i = 0; i < indices.Length; i++)
        {
            entries[i].index = indices[i];
        }

        var read = MsrIoctl(KvmIoctls.KVM_GET_MSRS, entries, "KVM_GET_MSRS");
        return entries[..read];
    }

    /// <summary>KVM_SET_MSRS; throws naming the first MSR that KVM refused.</summary>
    public void SetMsrs(kvm_msr_entry[] entries)
    {
        var written = MsrIoctl(KvmIoctls.KVM_SET_MSRS, entries, "KVM_SET_MSRS");
        if (written != entries.Length)
        {
            throw new KvmException($"KVM_SET_MSRS refused MSR 0x{entries[written].index:X}");
        }
    }

    /// <summary>
    /// KVM_GET_MSRS for every index KVM can read: an MSR it refuses is left out and the rest
    /// are still read (KVM stops at the first refusal).
    /// </summary>
    public kvm_msr_entry[] GetReadableMsrs(ReadOnlySpan<uint> indices)
    {
        var read = new List<kvm_msr_entry>(indices.Length);
        var rest = indices.ToArray();
        while (rest.Length > 0)
        {
            var entries = rest.Select(i => new kvm_msr_entry { index = i }).ToArray();
            var count = MsrIoctl(KvmIoctls.KVM_GET_MSRS, entries, "KVM_GET_MSRS");
            read.AddRange(entries[..count]);
            rest = rest[Math.Min(rest.Length, count + 1)..];
        }

        return [.. read];
    }

    /// <summary>KVM_SET_MSRS that goes on past a refused MSR; returns the indices KVM refused.</summary>
    public List<uint> SetMsrsSkippingRefused(kvm_msr_entry[] entries)
    {
        var refused = new List<uint>();
        var rest = entries;
        while (rest.Length > 0)
        {
            var count = MsrIoctl(KvmIoctls.KVM_SET_MSRS, [.. rest], "KVM_SET_MSRS");
            if (count < rest.Length)
            {
                refused.Add(rest[count].index);
            }

            rest = rest[Math.Min(rest.Length, count + 1)..];
        }

        return refused;
    }

    private int MsrIoctl(ulong request, kvm_msr_entry[] entries, string name)
    {
        var size = sizeof(kvm_msrs) + (entries.Length * sizeof(kvm_msr_entry));
        var buffer = (byte*)NativeMemory.AllocZeroed((nuint)size);
        try
        {
            ((kvm_msrs*)buffer)->nmsrs = (uint)entries.Length;
            var span = new Span<kvm_msr_entry>(buffer + sizeof(kvm_msrs), entries.Length);
            entries.CopyTo(span);
            var count = _fd.Ioctl(request, (nint)buffer, name);
            span.CopyTo(entries);
            return count;
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    private T Get<T>(ulong request, string name)
        where T : unmanaged
    {
        T value;
        _fd.Ioctl(request, (nint)(&value), name);
        return value;
    }

    private void Set<T>(ulong request, in T value, string name)
        where T : unmanaged
    {
        fixed (T* p = &value)
        {
            _fd.Ioctl(request, (nint)p, name);
        }
    }

    public void Dispose()
    {
        _run.Dispose();
        _fd.Dispose();
    }
}

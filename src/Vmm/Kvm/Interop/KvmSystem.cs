using System.Runtime.InteropServices;

namespace CloudHypervisor.Vmm.Kvm.Interop;

// SAFETY: variable-length kvm_cpuid2/kvm_msr_list buffers are allocated with room for the count
// written in their header, which is what the kernel may fill; they are freed in finally blocks.
/// <summary>The /dev/kvm file descriptor and the system ioctls on it.</summary>
internal sealed unsafe class KvmSystem : IDisposable
{
    public const string DevicePath = "/dev/kvm";

    private readonly FdHandle _fd;

    private KvmSystem(FdHandle fd)
    {
        _fd = fd;
    }

    /// <summary>Opens /dev/kvm and checks the API version and the capabilities we depend on.</summary>
    public static KvmSystem Open(string path = DevicePath)
    {
        var fd = FdHandle.Check(Libc.open(path, Libc.O_RDWR | Libc.O_CLOEXEC), $"open {path}");
        var system = new KvmSystem(fd);
        try
        {
            var version = system.Ioctl(KvmIoctls.KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION");
            if (version != KvmConstants.KVM_API_VERSION)
            {
                throw new KvmException($"{path} speaks KVM API version {version}, we need {KvmConstants.KVM_API_VERSION}");
            }

            foreach (var (cap, name) in RequiredCapabilities)
            {
                if (system.CheckExtension(cap) <= 0)
                {
                    throw new KvmException($"{path} lacks the {name} capability");
                }
            }

            return system;
        }
        catch
        {
            system.Dispose();
            throw;
        }
    }

    private static readonly (int Cap, string Name)[] RequiredCapabilities =
    [
        (KvmConstants.KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"),
        (KvmConstants.KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"),
        (KvmConstants.KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"),
        (KvmConstants.KVM_CAP_PIT2, "KVM_CAP_PIT2"),
        (KvmConstants.KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"),
        (KvmConstants.KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"),
        (KvmConstants.KVM_CAP_IRQFD, "KVM_CAP_IRQFD"),
        (KvmConstants.KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"),
        (KvmConstants.KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"),
        (KvmConstants.KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"),
    ];

    public int CheckExtension(int capability) =>
        Ioctl(KvmIoctls.KVM_CHECK_EXTENSION, capability, "KVM_CHECK_EXTENSION");

    public int VcpuMmapSize => Ioctl(KvmIoctls.KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");

    /// <summary>The most vCPUs one VM may have (KVM_CAP_MAX_VCPUS).</summary>
    public int MaxVcpus => CheckExtension(KvmConstants.KVM_CAP_MAX_VCPUS);

    public KvmVmFd CreateVm()
    {
        var fd = Ioctl(KvmIoctls.KVM_CREATE_VM, 0, "KVM_CREATE_VM");
        return new KvmVmFd(new FdHandle(fd));
    }

    /// <summary>KVM_GET_SUPPORTED_CPUID, growing the buffer while the kernel answers E2BIG.</summary>
    public kvm_cpuid_entry2[] GetSupportedCpuid()
    {
        for (var capacity = 64; ; capacity *= 2)
        {
            var size = sizeof(kvm_cpuid2) + (capacity * sizeof(kvm_cpuid_entry2));
            var buffer = (byte*)NativeMemory.AllocZeroed((nuint)size);
            try
            {
                ((kvm_cpuid2*)buffer)->nent = (uint)capacity;
                var result = RawIoctl(KvmIoctls.KVM_GET_SUPPORTED_CPUID, (nint)buffer);
                if (result < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == 7 /* E2BIG */ && capacity < 4096)
                    {
                        continue;
                    }

                    throw new KvmException("KVM_GET_SUPPORTED_CPUID", errno);
                }

                var count = (int)((kvm_cpuid2*)buffer)->nent;
                return new ReadOnlySpan<kvm_cpuid_entry2>(buffer + sizeof(kvm_cpuid2), count).ToArray();
            }
            finally
            {
                NativeMemory.Free(buffer);
            }
        }
    }

    /// <summary>KVM_GET_MSR_INDEX_LIST: the MSRs KVM can save and restore (for snapshots).</summary>
    public uint[] GetMsrIndexList()
    {
        for (var capacity = 256; ; capacity *= 2)
        {
            var buffer = (byte*)NativeMemory.AllocZeroed((nuint)(sizeof(kvm_msr_list) + (capacity * sizeof(uint))));
            try
            {
                ((kvm_msr_list*)buffer)->nmsrs = (uint)capacity;
                if (RawIoctl(KvmIoctls.KVM_GET_MSR_INDEX_LIST, (nint)buffer) < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == 7 /* E2BIG */ && capacity < 65536)
                    {
                        continue;
                    }

                    throw new KvmException("KVM_GET_MSR_INDEX_LIST", errno);
                }

                var count = (int)((kvm_msr_list*)buffer)->nmsrs;
                return new ReadOnlySpan<uint>(buffer + sizeof(kvm_msr_list), count).ToArray();
            }
            finally
            {
                NativeMemory.Free(buffer);
            }
        }
    }

    private int RawIoctl(ulong request, nint arg) => _fd.RawIoctl(request, arg);

    private int Ioctl(ulong request, nint arg, string name) => _fd.Ioctl(request, arg, name);

    public void Dispose() => _fd.Dispose();
}

namespace CloudHypervisor.Vmm.Kvm.Interop;

/// <summary>
/// KVM ioctl request numbers, computed with the kernel's _IO/_IOR/_IOW/_IOWR encoding from the
/// struct sizes, so a wrong struct size shows up as a wrong request number in the tests.
/// </summary>
// SAFETY: no pointers; unsafe only for sizeof of the blittable KVM structs.
internal static unsafe class KvmIoctls
{
    private const uint KVMIO = 0xAE;

    private static ulong IO(uint nr) => (KVMIO << 8) | nr;

    private static ulong IOR(uint nr, int size) => (2UL << 30) | ((ulong)size << 16) | (KVMIO << 8) | nr;

    private static ulong IOW(uint nr, int size) => (1UL << 30) | ((ulong)size << 16) | (KVMIO << 8) | nr;

    private static ulong IOWR(uint nr, int size) => (3UL << 30) | ((ulong)size << 16) | (KVMIO << 8) | nr;

    // System ioctls (on the /dev/kvm fd).
    public static readonly ulong KVM_GET_API_VERSION = IO(0x00);
    public static readonly ulong KVM_CREATE_VM = IO(0x01);
    public static readonly ulong KVM_GET_MSR_INDEX_LIST = IOWR(0x02, sizeof(kvm_msr_list));
    public static readonly ulong KVM_CHECK_EXTENSION = IO(0x03);
    public static readonly ulong KVM_GET_VCPU_MMAP_SIZE = IO(0x04);
    public static readonly ulong KVM_GET_SUPPORTED_CPUID = IOWR(0x05, sizeof(kvm_cpuid2));

    // VM ioctls.
    public static readonly ulong KVM_CREATE_VCPU = IO(0x41);
    public static readonly ulong KVM_SET_USER_MEMORY_REGION = IOW(0x46, sizeof(kvm_userspace_memory_region));
    public static readonly ulong KVM_GET_DIRTY_LOG = IOW(0x42, sizeof(kvm_dirty_log));
    public static readonly ulong KVM_SET_TSS_ADDR = IO(0x47);
    public static readonly ulong KVM_SET_IDENTITY_MAP_ADDR = IOW(0x48, sizeof(ulong));
    public static readonly ulong KVM_CREATE_IRQCHIP = IO(0x60);
    public static readonly ulong KVM_IRQ_LINE = IOW(0x61, sizeof(kvm_irq_level));
    public static readonly ulong KVM_GET_IRQCHIP = IOWR(0x62, sizeof(kvm_irqchip));

    // The kernel declares KVM_SET_IRQCHIP with _IOR although it reads the struct: keep its number.
    public static readonly ulong KVM_SET_IRQCHIP = IOR(0x63, sizeof(kvm_irqchip));
    public static readonly ulong KVM_SET_GSI_ROUTING = IOW(0x6a, sizeof(kvm_irq_routing));
    public static readonly ulong KVM_IRQFD = IOW(0x76, sizeof(kvm_irqfd));
    public static readonly ulong KVM_IOEVENTFD = IOW(0x79, sizeof(kvm_ioeventfd));
    public static readonly ulong KVM_CREATE_PIT2 = IOW(0x77, sizeof(kvm_pit_config));
    public static readonly ulong KVM_SET_CLOCK = IOW(0x7b, sizeof(kvm_clock_data));
    public static readonly ulong KVM_GET_CLOCK = IOR(0x7c, sizeof(kvm_clock_data));
    public static readonly ulong KVM_GET_PIT2 = IOR(0x9f, sizeof(kvm_pit_state2));
    public static readonly ulong KVM_SET_PIT2 = IOW(0xa0, sizeof(kvm_pit_state2));

    // vCPU ioctls.
    public static readonly ulong KVM_RUN = IO(0x80);
    public static readonly ulong KVM_GET_REGS = IOR(0x81, sizeof(kvm_regs));
    public static readonly ulong KVM_SET_REGS = IOW(0x82, sizeof(kvm_regs));
    public static readonly ulong KVM_GET_SREGS = IOR(0x83, sizeof(kvm_sregs));
    public static readonly ulong KVM_SET_SREGS = IOW(0x84, sizeof(kvm_sregs));
    public static readonly ulong KVM_GET_MSRS = IOWR(0x88, sizeof(kvm_msrs));
    public static readonly ulong KVM_SET_MSRS = IOW(0x89, sizeof(kvm_msrs));
    public static readonly ulong KVM_GET_FPU = IOR(0x8c, sizeof(kvm_fpu));
    public static readonly ulong KVM_SET_FPU = IOW(0x8d, sizeof(kvm_fpu));
    public static readonly ulong KVM_GET_LAPIC = IOR(0x8e, sizeof(kvm_lapic_state));
    public static readonly ulong KVM_SET_LAPIC = IOW(0x8f, sizeof(kvm_lapic_state));
    public static readonly ulong KVM_SET_CPUID2 = IOW(0x90, sizeof(kvm_cpuid2));
    public static readonly ulong KVM_GET_CPUID2 = IOWR(0x91, sizeof(kvm_cpuid2));
    public static readonly ulong KVM_GET_MP_STATE = IOR(0x98, sizeof(kvm_mp_state));
    public static readonly ulong KVM_SET_MP_STATE = IOW(0x99, sizeof(kvm_mp_state));
    public static readonly ulong KVM_NMI = IO(0x9a);
    public static readonly ulong KVM_GET_VCPU_EVENTS = IOR(0x9f, sizeof(kvm_vcpu_events));
    public static readonly ulong KVM_SET_VCPU_EVENTS = IOW(0xa0, sizeof(kvm_vcpu_events));
    public static readonly ulong KVM_GET_XSAVE = IOR(0xa4, sizeof(kvm_xsave));
    public static readonly ulong KVM_SET_XSAVE = IOW(0xa5, sizeof(kvm_xsave));
    public static readonly ulong KVM_GET_XCRS = IOR(0xa6, sizeof(kvm_xcrs));
    public static readonly ulong KVM_SET_TSC_KHZ = IO(0xa2);
    public static readonly ulong KVM_GET_TSC_KHZ = IO(0xa3);
    public static readonly ulong KVM_SET_XCRS = IOW(0xa7, sizeof(kvm_xcrs));
}

/// <summary>Constants from &lt;linux/kvm.h&gt; that are not ioctl numbers.</summary>
internal static class KvmConstants
{
    public const int KVM_API_VERSION = 12;

    // KVM_CHECK_EXTENSION capabilities we require.
    public const int KVM_CAP_IRQCHIP = 0x00;
    public const int KVM_CAP_USER_MEMORY = 0x03;
    public const int KVM_CAP_SET_TSS_ADDR = 0x04;
    public const int KVM_CAP_EXT_CPUID = 0x07;
    public const int KVM_CAP_MP_STATE = 0x0E;
    public const int KVM_CAP_PIT2 = 0x21;
    public const int KVM_CAP_VCPU_EVENTS = 0x29;
    public const int KVM_CAP_XCRS = 0x38;
    public const int KVM_CAP_MAX_VCPUS = 0x42;
    public const int KVM_CAP_IMMEDIATE_EXIT = 0x88;
    public const int KVM_CAP_IRQ_ROUTING = 25;
    public const int KVM_CAP_IRQFD = 32;
    public const int KVM_CAP_IOEVENTFD = 36;

    // kvm_irq_routing_entry.type and irqchip ids.
    public const uint KVM_IRQ_ROUTING_IRQCHIP = 1;
    public const uint KVM_IRQ_ROUTING_MSI = 2;
    public const uint KVM_IRQCHIP_PIC_MASTER = 0;
    public const uint KVM_IRQCHIP_PIC_SLAVE = 1;
    public const uint KVM_IRQCHIP_IOAPIC = 2;

    public const uint KVM_IRQFD_FLAG_DEASSIGN = 1;
    public const uint KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
    public const uint KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
    public const uint KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;

    // kvm_run.exit_reason.
    public const uint KVM_EXIT_UNKNOWN = 0;
    public const uint KVM_EXIT_EXCEPTION = 1;
    public const uint KVM_EXIT_IO = 2;
    public const uint KVM_EXIT_HLT = 5;
    public const uint KVM_EXIT_MMIO = 6;
    public const uint KVM_EXIT_SHUTDOWN = 8;
    public const uint KVM_EXIT_FAIL_ENTRY = 9;
    public const uint KVM_EXIT_INTR = 10;
    public const uint KVM_EXIT_INTERNAL_ERROR = 17;
    public const uint KVM_EXIT_SYSTEM_EVENT = 24;

    public const byte KVM_EXIT_IO_IN = 0;
    public const byte KVM_EXIT_IO_OUT = 1;

    // kvm_run.system_event.type.
    public const uint KVM_SYSTEM_EVENT_SHUTDOWN = 1;
    public const uint KVM_SYSTEM_EVENT_RESET = 2;
    public const uint KVM_SYSTEM_EVENT_CRASH = 3;

    // kvm_run.internal.suberror.
    public const uint KVM_INTERNAL_ERROR_EMULATION = 1;
    public const uint KVM_INTERNAL_ERROR_SIMUL_EX = 2;
    public const uint KVM_INTERNAL_ERROR_DELIVERY_EV = 3;

    public const uint KVM_PIT_SPEAKER_DUMMY = 1;

    public const uint KVM_MP_STATE_RUNNABLE = 0;
    public const uint KVM_MP_STATE_UNINITIALIZED = 1;
    public const uint KVM_MP_STATE_HALTED = 3;

    public const uint KVM_MEM_LOG_DIRTY_PAGES = 1;
}
